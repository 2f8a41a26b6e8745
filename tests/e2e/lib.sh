# Helpers for the end-to-end tests: each test script gets the latentkit binary as $1.
set -u
LATENTKIT="$1"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/latentkit_e2e.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# png_size FILE: prints "WIDTH HEIGHT" read from the IHDR chunk.
png_size() {
  local w h
  w=$(od -An -tu1 -j16 -N4 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4}')
  h=$(od -An -tu1 -j20 -N4 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4}')
  echo "$w $h"
}

is_png() { [ "$(od -An -tx1 -N8 "$1" 2>/dev/null | tr -d ' \n')" = "89504e470d0a1a0a" ]; }

# expect_error CODE SUBSTRING -- COMMAND...: runs the command, checks the exit code and
# that stderr holds the substring on one line.
expect_error() {
  local code="$1" text="$2"
  shift 3
  local err rc
  err=$("$@" 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" != "$code" ]; then
    fail "expected exit $code, got $rc: $* -> $err"
  elif ! grep -qF -- "$text" <<<"$err"; then
    fail "expected '$text' in the message of: $* -> $err"
  else
    echo "ok: exit $rc, $(head -c 160 <<<"$err" | head -n 1)"
  fi
}

# wait_for_file FILE [SECONDS]: waits until FILE exists and is not empty (default 60 s).
wait_for_file() {
  local tenths=$((${2:-60} * 10))
  for _ in $(seq 1 "$tenths"); do
    [ -s "$1" ] && return 0
    sleep 0.1
  done
  return 1
}

finish() {
  if [ "$failures" -gt 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
  fi
  echo "all checks passed"
}
