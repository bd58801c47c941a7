#!/usr/bin/env bash
# tests/model/run_spin.sh MODEL.pml [--expect-fail] [-DNAME=VALUE ...]
#
# Generates spin's verifier for MODEL (with the -D defines), compiles it for
# an exhaustive safety search (assertions and invalid end states; states
# stored collapsed, capped at 2 GiB) and runs it.  Prints the verifier's
# summary (state-space size, depth, time).  Exit 0 when the search completed
# with no error (or, with --expect-fail, when it found one: the mutants that
# prove a model can fail), 1 otherwise, 77 (meson's "skipped") when spin or
# a C compiler is missing.
set -euo pipefail
model=$(realpath "$1"); shift
expect_fail=0
if [ "${1:-}" = "--expect-fail" ]; then expect_fail=1; shift; fi
command -v spin >/dev/null || { echo "SKIP: spin is not installed (apt-get install spin)"; exit 77; }
cc=${CC:-cc}
command -v "$cc" >/dev/null || { echo "SKIP: no C compiler ($cc) for spin's verifier"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
cp "$model" model.pml
spin -a "$@" model.pml >spin.log 2>&1 || { cat spin.log; exit 1; }
"$cc" -O2 -w -DSAFETY -DCOLLAPSE -DMEMLIM=2048 -o pan pan.c
./pan -m100000 -n >pan.log 2>&1 || true
grep -E "violated|errors:|State-vector|states, stored|transitions|elapsed time|out of memory|Search not completed|max search depth" pan.log || cat pan.log
errors=$(awk '/errors:/ {print $NF}' pan.log | tail -1)
if grep -qE "Search not completed|out of memory|max search depth too small" pan.log && [ "${errors:-1}" = 0 ]; then
    echo "FAIL: the search did not complete"; exit 1
fi
if [ "$expect_fail" = 1 ]; then
    [ "${errors:-0}" != 0 ] && { echo "ok: the mutant ($*) was rejected"; exit 0; }
    echo "FAIL: the mutant ($*) was NOT rejected: the model cannot see that bug"; exit 1
fi
[ "${errors:-1}" = 0 ] && { echo "ok: no errors ($*)"; exit 0; }
echo "FAIL: spin found an error; replay with: spin -a $* $(basename "$model") && cc -DSAFETY -o pan pan.c && ./pan && spin -t -p -g $(basename "$model")"
exit 1
