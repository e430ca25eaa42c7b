# Shared by scripts/demo and scripts/test: install the Debian packages the
# build and tests need (only when missing), then configure and build build/.
# Sourced, not run: expects $root (the repository) to be set.
# shellcheck shell=sh disable=SC2154

portshim_packages='g++ cmake make libfmt-dev catch2 iproute2 util-linux binutils'

portshim_install_deps() {
    missing=''
    for pkg in $portshim_packages; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing="$missing $pkg"
        fi
    done
    [ -n "$missing" ] || return 0
    echo "portshim: installing$missing" >&2
    sudo=''
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || {
            echo "portshim: missing packages:$missing (run as root or install sudo)" >&2
            return 1
        }
        sudo=sudo
    fi
    # shellcheck disable=SC2086 # the package list is meant to split
    if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null; then
        $sudo apt-get update -q >/dev/null
        # shellcheck disable=SC2086
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
    fi
}

portshim_build() {
    portshim_build_dir "$root/build" '' all
}

# portshim_build_dir DIR CMAKE-OPTION TARGET
portshim_build_dir() {
    mkdir -p "$1"
    log="$1/build.log"
    # Quiet when all is well; the whole compiler output when something fails.
    if ! { cmake -S "$root" -B "$1" -DPORTSHIM_WERROR=ON ${2:+"$2"} &&
           cmake --build "$1" -j2 --target "$3"; } >"$log" 2>&1; then
        cat "$log" >&2
        echo "portshim: build failed (log: $log)" >&2
        return 1
    fi
}
