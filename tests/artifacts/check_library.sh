#!/bin/sh
# Checks a built library against DESIGN.md's rule 2: it exports only what it
# must (the wrapped C functions; the engine's two entry points), at run time it
# needs libc (and the loader) alone, and the engine is loaded only when needed.
# Usage: check_library.sh exports LIBRARY 'SYMBOL...' | needed LIBRARY | lazy LIBRARY
set -eu
what=$1
lib=$2

case "$what" in
exports)
    exported=$(nm -D --defined-only "$lib" | awk '{print $NF}' | sort | tr '\n' ' ')
    expected="$3 "
    if [ "$exported" != "$expected" ]; then
        echo "exports: got [$exported], want [$expected]" >&2
        exit 1
    fi
    # No unwinder or C++ runtime symbol may reach the host's global scope.
    if nm -D --defined-only "$lib" | grep -E '_Unwind_|_ZN|_ZS|__cxa|__gxx|fmt' >&2; then
        exit 1
    fi
    ;;
needed)
    needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
    case "$needed" in
    'libc.so.6 ' | 'ld-linux-x86-64.so.2 libc.so.6 ') ;;
    *)
        echo "needed: got [$needed], want only libc.so.6" >&2
        exit 1
        ;;
    esac
    ;;
lazy)
    # A preloaded process that never fails a bind must not map the engine.
    maps=$(LD_PRELOAD="$lib" cat /proc/self/maps)
    case "$maps" in
    *libportshim.so*) ;;
    *) echo "lazy: the preload did not load at all" >&2; exit 1 ;;
    esac
    case "$maps" in
    *libportshim-engine.so*) echo "lazy: the engine was loaded without a failure" >&2; exit 1 ;;
    esac
    ;;
*)
    echo "usage: check_library.sh exports LIBRARY SYMBOLS | needed LIBRARY | lazy LIBRARY" >&2
    exit 2
    ;;
esac
echo "ok: $what"
