#!/bin/sh
# Each program fails with EADDRINUSE against a holder, plain and supervised; compares
# the program's own error line and exit status. Run inside `unshare -n` (lo is brought up).
# usage: check_inuse.sh DIR   (DIR holds supervisor_proto and the built test programs)
set -eu
d=$1
ip link set lo up
"$d/cserver-dyn" 0 >"$d/holder.port" &
holder=$!
trap 'kill "$holder" 2>/dev/null || true' EXIT
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "$d/holder.port" ] && break; sleep 0.1; done
port=$(cat "$d/holder.port")
echo "holder pid $holder listens on 127.0.0.1:$port"
run() { # label, then the command
    label=$1; shift
    set +e
    timeout 20 "$@" >"$d/out" 2>"$d/err"; rc=$?
    set -e
    echo "--- $label: exit $rc"
    sed 's/^[0-9/]* [0-9:]* //' "$d/err"   # drop Go log's timestamp
}
for prog in goserver-default goserver-static; do
    run "$prog plain" "$d/$prog" "127.0.0.1:$port"
    run "$prog supervised" "$d/supervisor_proto" -- "$d/$prog" "127.0.0.1:$port"
done
run "cserver-static plain" "$d/cserver-static" "$port"
run "cserver-static supervised" "$d/supervisor_proto" -- "$d/cserver-static" "$port"
run "cserver-dyn raw syscall plain" "$d/cserver-dyn" "$port" raw
run "cserver-dyn raw syscall supervised" "$d/supervisor_proto" --supervise -- "$d/cserver-dyn" "$port" raw
