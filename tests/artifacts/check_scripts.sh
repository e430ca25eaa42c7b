#!/bin/sh
# Every shell script of the project parses (sh -n), and passes shellcheck when
# it is installed (it is not a required package; the run says when it was skipped).
set -eu
root=$1
scripts="$root/scripts/demo $root/scripts/test $root/scripts/lib/setup.sh $root/.ci/run
$root/scripts/gallery $root/bench/run $root/bench/supervise $root/tests/artifacts/check_library.sh $root/tests/artifacts/check_scripts.sh $root/tests/artifacts/check_layout.sh
$root/fuzz/run $root/scripts/package"
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
