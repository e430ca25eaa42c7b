#!/bin/sh
# Every shell script of the project parses (sh -n), and passes shellcheck when
# it is installed (it is not a required package; the run says when it was skipped).
set -eu
root=$1
# Every file of these folders that starts with a #!/bin/sh line: a new script
# is checked without being listed here.
scripts=$(find "$root/scripts" "$root/bench" "$root/man" "$root/tests/artifacts" "$root/fuzz" "$root/.ci" \
    -type f 2>/dev/null | sort | while read -r f; do
        case $(head -c 64 "$f" | head -n 1) in '#!/bin/sh'*) echo "$f" ;; esac
    done; echo "$root/scripts/lib/setup.sh")
[ -n "$scripts" ] || { echo "no scripts found under $root" >&2; exit 1; }
for s in $scripts; do
    sh -n "$s"
done
if command -v shellcheck >/dev/null 2>&1; then
    # shellcheck disable=SC2086 # the list is meant to split
    (cd "$root" && shellcheck -x $scripts)
    echo "ok: sh -n and shellcheck"
else
    echo "ok: sh -n (shellcheck not installed)"
fi
