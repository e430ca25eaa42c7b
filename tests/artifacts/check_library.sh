#!/bin/sh
# Checks the built libportshim.so against DESIGN.md's rule 2: it exports only the
# wrapped C functions, and at run time it needs libc (and the loader) alone.
# Usage: check_library.sh exports|needed LIBRARY
set -eu
what=$1
lib=$2

case "$what" in
exports)
    exported=$(nm -D --defined-only "$lib" | awk '{print $NF}' | sort | tr '\n' ' ')
    expected='bind listen setsockopt '
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
*)
    echo "usage: check_library.sh exports|needed LIBRARY" >&2
    exit 2
    ;;
esac
echo "ok: $what"
