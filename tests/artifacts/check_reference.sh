#!/bin/sh
# The reference tables (man/reference.hpp, rendered by man/portshim-reference) are
# the one source of what the man pages, docs/*.md and --help say:
#   variables ROOT GEN FILE...  every PORTSHIM_* name the sources under shim/ and
#                               tools/ and the strings of the built FILEs hold is a
#                               variable or journal field of the tables
#   current ROOT GEN           the generated blocks of docs/*.md are current
#   render PAGE...             groff renders each man page without a warning
#   help GEN PORTSHIM RUN      both --help texts name what the tables say they do,
#                              and portshim-run accepts each option of the table
# Prints each problem and exits 1 if there is one; 77 (skipped) without groff.
set -eu
mode=$1
shift
bad=0
complain() { echo "reference: $*"; bad=1; }

# Names that are neither variables nor fields, each with its reason.
# PORTSHIM_TEST_SUPERVISOR_DEATHS: the launcher's fault hook (tools/launch.cpp),
# compiled only into builds with tests (PORTSHIM_FAULT_HOOKS), never documented.
not_documented='PORTSHIM_TEST_SUPERVISOR_DEATHS'

case $mode in
variables)
    root=$1 gen=$2
    shift 2
    known=$("$gen" list variables; "$gen" list fields; for n in $not_documented; do echo "$n"; done)
    names=$(
        grep -rhoE '"PORTSHIM_[A-Z0-9_]*[A-Z0-9]' "$root/shim" "$root/tools" | tr -d '"'
        for f in "$@"; do
            [ -r "$f" ] || { echo "MISSING:$f"; continue; }
            strings -a "$f" | grep -oE 'PORTSHIM_[A-Z0-9_]*[A-Z0-9]' || true
        done
    )
    checked=0
    for n in $(echo "$names" | sort -u); do
        case $n in MISSING:*) complain "cannot read ${n#MISSING:}"; continue ;; esac
        checked=$((checked + 1))
        echo "$known" | grep -qx -- "$n" || complain "$n is read but not in man/reference.hpp (variables or journal_fields)"
    done
    [ "$checked" -gt 0 ] || complain "found no PORTSHIM_* name at all: the scan is broken"
    [ "$bad" = 0 ] && echo "ok: $checked PORTSHIM_* names, each in man/reference.hpp or excluded with a reason"
    ;;
current)
    root=$1 gen=$2
    "$gen" markdown "$root/tests/unit/data/golden/event-keys.txt" --check \
        "$root/docs/configuration.md" "$root/docs/causes.md" "$root/docs/events.md" || bad=1
    [ "$bad" = 0 ] && echo "ok: the generated blocks of docs/*.md are current"
    ;;
render)
    if ! command -v groff >/dev/null 2>&1; then
        echo "SKIPPED: groff is not installed (groff-base)"
        exit 77
    fi
    for page in "$@"; do
        [ -s "$page" ] || { complain "$page is missing or empty"; continue; }
        out=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$page" 2>&1) || complain "$page: groff failed"
        [ -z "$out" ] || complain "$page: $out"
    done
    [ "$bad" = 0 ] && echo "ok: groff -man -ww renders $# pages without a warning"
    ;;
help)
    gen=$1 portshim=$2 run=$3
    portshim_help=$("$portshim" --help)
    run_help=$("$run" --help)
    for n in $("$gen" list variables) $("$gen" list causes); do
        echo "$portshim_help" | grep -qF -- "$n" || complain "portshim --help does not name $n"
    done
    for o in $("$gen" list run-options | sed 's/ .*//'); do
        echo "$run_help" | grep -qE -- "^  $o( |$)" || complain "portshim-run --help does not list $o"
    done
    # Each option of the table is one portshim-run accepts: it runs true with it.
    "$gen" list run-options >"${TMPDIR:-/tmp}/reference-options.$$"
    while read -r o arg; do
        case $arg in SECONDS) value=0 ;; PATH) value=stderr ;; *) value= ;; esac
        # shellcheck disable=SC2086 # $value is empty or one word
        "$run" "$o" $value -- true || complain "portshim-run refuses $o $value, which man/reference.hpp lists"
    done <"${TMPDIR:-/tmp}/reference-options.$$"
    rm -f "${TMPDIR:-/tmp}/reference-options.$$"
    for n in $("$gen" list run-variables); do
        echo "$run_help" | grep -qF -- "$n" || complain "portshim-run --help does not name $n"
    done
    [ "$bad" = 0 ] && echo "ok: both --help texts name every variable, cause and option the tables give them"
    ;;
*)
    echo "usage: check_reference.sh variables|current|render|help ..." >&2
    exit 2
    ;;
esac
exit "$bad"
