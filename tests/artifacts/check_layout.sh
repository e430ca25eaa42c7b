#!/bin/sh
# The tree keeps the architecture visible (docs/architecture.md):
#  1. every source file under shim/ is named in exactly one target list, its
#     own folder's CMakeLists.txt, and no other CMakeLists.txt names its path;
#  2. a folder includes only the folders below it:
#       preload -> common;  engine -> diag -> common;  tools -> diag -> common;
#  3. in diag/, the probes (what reads sockets and /proc) include no rule and no
#     renderer: what both need (facts, identity, address, types) is below both.
# Prints every violation and exits 1 if there is one.
set -eu
root=$1
bad=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
complain() { echo "layout: $*"; bad=1; }

lists=$(find "$root" -name CMakeLists.txt -not -path "$root/build*" -not -path "$root/.git/*")
for src in $(cd "$root/shim" && find . -name '*.cpp' | sed 's|^\./||' | sort); do
    folder=${src%%/*}
    name=${src#*/}
    own="$root/shim/$folder/CMakeLists.txt"
    [ -f "$own" ] || { complain "shim/$folder has no CMakeLists.txt"; continue; }
    # Whole words only: "sink.cpp" must not match "own_sink.cpp".
    n=$(grep -cw -- "$name" "$own" || true)
    [ "$n" = 1 ] || complain "shim/$src is named $n times in shim/$folder/CMakeLists.txt (want 1)"
    for l in $lists; do
        [ "$l" = "$own" ] && continue
        if grep -q -- "$folder/$name" "$l"; then
            complain "shim/$src is named in ${l#"$root"/} too: link shim/$folder's target instead"
        fi
    done
done

# allowed FOLDER: the folders FOLDER's files may include from (besides their own).
allowed() {
    case $1 in
        common) echo "" ;;
        preload) echo "common" ;;
        diag) echo "common" ;;
        engine) echo "diag common" ;;
        tools) echo "diag common" ;;
    esac
}
check_includes() { # folder dir
    ok=$(allowed "$1")
    for f in $(find "$2" -maxdepth 1 \( -name '*.cpp' -o -name '*.hpp' \) | sort); do
        sed -n 's/^#include "\([a-z_]*\)\/[^"]*".*/\1/p' "$f" | sort -u >"$work/includes"
        while read -r inc; do
            case " $ok " in
                *" $inc "*) ;;
                *) complain "${f#"$root"/} includes $inc/: $1 may include only ${ok:-itself}" ;;
            esac
        done <"$work/includes"
    done
}
for folder in common preload diag engine; do
    check_includes "$folder" "$root/shim/$folder"
done
check_includes tools "$root/tools"

# diag/'s rules and renderers, by name; every other file there is a probe or below both.
upper='causes causes_common causes_inherited causes_unix sharing report'
for f in "$root"/shim/diag/*.cpp "$root"/shim/diag/*.hpp; do
    base=$(basename "$f"); base=${base%.*}
    case " $upper " in *" $base "*) continue ;; esac
    sed -n 's/^#include "\([a-z_]*\)\.hpp".*/\1/p' "$f" >"$work/includes"
    while read -r inc; do
        case " $upper " in
            *" $inc "*) complain "shim/diag/$(basename "$f") includes $inc.hpp: probes stay below the rules" ;;
        esac
    done <"$work/includes"
done

if [ "$bad" = 0 ]; then echo "ok: one target list per source, includes follow the layers, probes below rules"; fi
exit "$bad"
