#!/bin/sh
# Interleaved latency runs (inside `unshare -n`): bind+listen loop and start of /bin/true,
# plain and supervised. The machine is shared: read medians over ROUNDS.
# usage: bench_latency.sh DIR [ROUNDS]
set -eu
d=$1
rounds=${2:-5}
ip link set lo up
for r in $(seq "$rounds"); do
    echo "round $r"
    echo "  plain:              $("$d/bindloop" 1000)"
    echo "  perform, sync wake: $("$d/supervisor_proto" --quiet -- "$d/bindloop" 1000)"
    echo "  perform, no sync:   $("$d/supervisor_proto" --quiet --no-sync -- "$d/bindloop" 1000)"
    echo "  continue, sync:     $("$d/supervisor_proto" --quiet --continue -- "$d/bindloop" 1000)"
    echo "  start plain:        $("$d/startloop" 200 /bin/true)"
    echo "  start supervised:   $("$d/startloop" 200 "$d/supervisor_proto" --quiet -- /bin/true)"
done
