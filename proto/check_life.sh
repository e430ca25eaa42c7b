#!/bin/sh
# A supervised Go server that succeeds: pid kept, no extra child, serves a request,
# strace attaches, SIGTERM reaches it, the supervisor leaves with it; supervisor RSS;
# a supervisor killed on purpose makes later binds fail with ENOSYS.
# usage: check_life.sh DIR   (inside `unshare -n`)
set -eu
d=$1
ip link set lo up
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
supervisor_of() { # the newest live supervisor_proto process that is not $1 (zombies have no exe)
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/exe" 2>/dev/null)" = "$d/supervisor_proto" ] && [ "${p#/proc/}" != "$1" ] &&
            echo "${p#/proc/}"
    done | sort -n | tail -1
}
state_of() { awk '{print $3}' "/proc/$1/stat" 2>/dev/null || echo gone; }
timeout 60 "$d/supervisor_proto" -- "$d/goserver-static" "127.0.0.1:$port" 2>"$d/life.err" &
launcher=$!
for _ in $(seq 50); do grep -q listen "$d/life.err" 2>/dev/null && break; sleep 0.1; done
sleep 0.2
pid=$(pgrep -P "$launcher" -x goserver-static || true)   # timeout(1) is $!'s parent: $! is the launcher
echo "launcher pid (\$! of timeout's child): $(pgrep -P "$launcher" || true) / timeout pid $launcher"
echo "program pid: $pid, exe $(readlink "/proc/$pid/exe")"
echo "program's children: [$(cat /proc/"$pid"/task/*/children | tr -s ' ')]"
sup=$(supervisor_of "$pid")
echo "supervisor pid $sup: ppid $(awk '{print $4}' "/proc/$sup/stat"), sid $(awk '{print $6}' "/proc/$sup/stat"), program sid $(awk '{print $6}' "/proc/$pid/stat")"
grep -E 'VmRSS|VmHWM|RssAnon|RssFile' "/proc/$sup/status" | tr -s '\t ' ' '
grep -E '^(Seccomp|Seccomp_filters|NoNewPrivs)' "/proc/$pid/status" | tr -s '\t ' ' '
cat "$d/life.err"
echo "request: $(python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$port/', timeout=5).read().decode().strip())")"
timeout 2 strace -p "$pid" -f -o "$d/strace.out" || true
echo "strace: $(head -1 "$d/strace.out" | cut -c1-60) ... $(wc -l <"$d/strace.out") lines"
kill -TERM "$pid"
set +e; wait "$launcher"; rc=$?; set -e
echo "after SIGTERM: launcher/program exit status $rc (143 = killed by SIGTERM)"
sleep 0.2
echo "supervisor $sup state after the program's exit: $(state_of "$sup") (Z: exited, not yet reaped by pid 1)"

echo "--- supervisor killed on purpose before the program's bind"
timeout 20 "$d/supervisor_proto" -- sh -c "sleep 3; exec '$d/cserver-static' 0" 2>"$d/kill.err" &
launcher=$!
sleep 0.3
sh_pid=$(pgrep -P "$launcher" || true)
sup=$(supervisor_of "$sh_pid")
echo "killing supervisor $sup"
kill -KILL "$sup"; sleep 0.1; echo "supervisor state after SIGKILL: $(state_of "$sup")"
set +e; wait "$launcher"; rc=$?; set -e
echo "exit $rc: $(cat "$d/kill.err")"
