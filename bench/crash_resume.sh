#!/usr/bin/env bash
# Nothing lost, measured: COUNT random SIGKILLs per training family (every third inside a
# checkpoint save, half of the resumes killed again), each resumed to the end and compared
# byte for byte with the uninterrupted run (tests/e2e/crash_resume.sh does the work; ctest
# runs it with COUNT 3). Prints per family: trials, kills inside a checkpoint save, how many
# ended identical, and the seconds taken; exits nonzero on any difference. One thread per
# run; about 2 minutes per family at COUNT 20 on 2 cores.
# Usage: bench/crash_resume.sh [COUNT=20] [FAMILY...]   (CRASH_SEED=S replays a seed)
# (LATENTKIT=path runs that binary instead of build/latentkit.)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-20}
shift $(($# > 0 ? 1 : 0))
bin=${LATENTKIT:-build/latentkit}
[ -n "${LATENTKIT:-}" ] || scripts/build latentkit >/dev/null
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, --threads 1; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
bash tests/e2e/crash_resume.sh "$bin" "$count" "$@" > "$log" 2>&1 || status=$?
grep -E '^(crash_resume: seed|FAIL)' "$log" || true
sed -n '/^family /,$p' "$log"
exit "$status"
