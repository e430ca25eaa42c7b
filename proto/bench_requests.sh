#!/bin/sh
# Go server plain vs supervised under a request loop (new connection per request).
# usage: bench_requests.sh DIR [ROUNDS]   (inside `unshare -n`)
set -eu
d=$1
ip link set lo up
for r in $(seq "${2:-3}"); do
    for mode in plain supervised; do
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        if [ "$mode" = plain ]; then
            timeout 60 "$d/goserver-static" "127.0.0.1:$port" 2>/dev/null &
        else
            timeout 60 "$d/supervisor_proto" --quiet -- "$d/goserver-static" "127.0.0.1:$port" 2>/dev/null &
        fi
        t=$!
        sleep 0.5
        echo "round $r $mode: $(timeout 60 "$d/goclient" "http://127.0.0.1:$port/" 3000)"
        kill "$(pgrep -P "$t")" 2>/dev/null || true
        wait "$t" 2>/dev/null || true
    done
done
