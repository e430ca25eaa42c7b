# Shared by scripts/demo and scripts/test: install the Debian packages the
# build and tests need (only when missing), then configure and build build/.
# Sourced, not run: expects $root (the repository) to be set.
# shellcheck shell=sh disable=SC2154

portshim_packages='g++ cmake make libfmt-dev catch2 iproute2 util-linux binutils'

# For scripts/test only, and optional: clang with libFuzzer's runtime (the
# fuzz targets; Debian 12 names), jemalloc (the co-existence scenarios),
# groff-base (the man pages render without warnings), Debian's packaging tools
# and lintian (package.cpp builds the .deb with scripts/package) and systemd for
# systemd-analyze verify (systemd_unit.cpp; installed, it starts nothing in a
# container whose init is not systemd).
# shellcheck disable=SC2034 # used by scripts/test
portshim_test_packages='clang libclang-rt-14-dev libjemalloc2 groff-base dpkg-dev debhelper lintian systemd'

portshim_install_deps() {
    # shellcheck disable=SC2086 # the package list is meant to split
    portshim_install_missing $portshim_packages
}

# Test-only as well: real daemons and runtimes that the scenarios run under the
# preload, each a private copy on a free loopback port (scripts/demo needs none):
# daemons.cpp, haproxy.cpp and the runtimes_*.cpp files (Java, Python, Node, sshd);
# golang-go for supervisor.cpp, which builds a Go HTTP server.
# shellcheck disable=SC2034 # used by scripts/test
portshim_daemon_packages='nginx-light redis-server lighttpd memcached socat busybox python3
    openjdk-17-jdk-headless nodejs haproxy openssh-server golang-go'

# portshim_missing PACKAGE...: sets $missing to those not installed yet.
portshim_missing() {
    missing=''
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing="$missing $pkg"
        fi
    done
}

# portshim_install_missing PACKAGE...: apt-get install those not installed yet.
portshim_install_missing() {
    portshim_missing "$@"
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

# portshim_install_daemons: installs the missing daemons without starting their
# services: while apt-get runs, /usr/sbin/policy-rc.d answers 101, "action
# forbidden" (invoke-rc.d(8); deb-systemd-invoke asks it too), unless the
# machine already has a policy of its own.
portshim_install_daemons() {
    # shellcheck disable=SC2086 # the package list is meant to split
    portshim_missing $portshim_daemon_packages
    [ -n "$missing" ] || return 0
    policy=/usr/sbin/policy-rc.d
    as_root=''
    [ "$(id -u)" -eq 0 ] || as_root=sudo
    placed=''
    # shellcheck disable=SC2016 # $1 is expanded by the inner sh
    if [ ! -e "$policy" ] && $as_root sh -c 'printf "#!/bin/sh\nexit 101\n" >"$1" && chmod 755 "$1"' sh "$policy" 2>/dev/null; then
        placed=1
    fi
    installed=0
    # shellcheck disable=SC2086
    portshim_install_missing $missing || installed=$?
    [ -z "$placed" ] || $as_root rm -f "$policy"
    return "$installed"
}

portshim_build() {
    portshim_build_dir "$root/build" all
}

# portshim_build_dir DIR TARGETS [CMAKE-OPTION...]; TARGETS separated by spaces.
portshim_build_dir() {
    dir=$1
    targets=$2
    shift 2
    mkdir -p "$dir"
    log="$dir/build.log"
    # Quiet when all is well; the whole compiler output when something fails.
    # shellcheck disable=SC2086 # the target list is meant to split
    if ! { cmake -S "$root" -B "$dir" -DPORTSHIM_WERROR=ON "$@" &&
           cmake --build "$dir" -j2 --target $targets; } >"$log" 2>&1; then
        cat "$log" >&2
        echo "portshim: build failed (log: $log)" >&2
        return 1
    fi
}
