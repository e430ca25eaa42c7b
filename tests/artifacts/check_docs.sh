#!/bin/sh
# The README stays a front door (at most 250 lines) and every relative link in
# it and in docs/*.md leads to a file of the tree (a moved or renamed page
# breaks this test, not the reader).
set -eu
root=$1
status=0
list=$(mktemp)
trap 'rm -f "$list"' EXIT
lines=$(wc -l <"$root/README.md")
if [ "$lines" -gt 250 ]; then
    echo "README.md has $lines lines; the front door keeps at most 250 (move detail to docs/)" >&2
    status=1
fi
for page in "$root/README.md" "$root"/docs/*.md "$root/tests/README.md"; do
    dir=$(dirname "$page")
    # Markdown links [text](target): relative targets only, without #anchor.
    grep -o '\]([^)]*)' "$page" | sed -e 's/^](//' -e 's/)$//' -e 's/#.*//' |
        grep -v -e '^[a-z]*://' -e '^mailto:' -e '^$' | sort -u >"$list"
    while read -r target; do
        if [ ! -e "$dir/$target" ]; then
            echo "${page#"$root"/}: link to $target: no such file" >&2
            status=1
        fi
    done <"$list"
done
[ "$status" -ne 0 ] || echo "ok: README.md is $lines lines; every relative link in README.md and docs/ resolves"
exit "$status"
