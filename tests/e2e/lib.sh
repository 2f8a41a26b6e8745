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

# png_diff A B: prints "MAX MEAN", the largest and the mean absolute difference of two 8-bit
# PNGs' samples (same size and channels, else it exits 1 saying so); python3's zlib decodes them.
png_diff() {
  python3 - "$1" "$2" <<'PY'
import struct, sys, zlib
def read_png(path):
    data = open(path, 'rb').read()
    if data[:8] != b'\x89PNG\r\n\x1a\n': sys.exit(path + ': not a PNG')
    at, idat = 8, b''
    while at < len(data):
        n, kind = struct.unpack('>I4s', data[at:at + 8])
        body = data[at + 8:at + 8 + n]
        if kind == b'IHDR':
            w, h, depth, color, _, _, interlace = struct.unpack('>IIBBBBB', body)
            if depth != 8 or interlace or color not in (0, 2, 4, 6): sys.exit(path + ': not an 8-bit, non-interlaced gray or RGB(A) PNG')
            channels = {0: 1, 2: 3, 4: 2, 6: 4}[color]
        elif kind == b'IDAT':
            idat += body
        at += 12 + n
    raw, stride, out, prev = zlib.decompress(idat), w * channels, bytearray(), bytearray(w * channels)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], (prev[i - channels] if i >= channels else 0)
            p = a + b - c
            paeth = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) else c
            line[i] = (line[i] + (0, a, b, (a + b) // 2, paeth)[f]) & 255
        out += line
        prev = line
    return (w, h, channels), out
(sa, a), (sb, b) = read_png(sys.argv[1]), read_png(sys.argv[2])
if sa != sb: sys.exit('%s is %s, %s is %s (width, height, channels)' % (sys.argv[1], sa, sys.argv[2], sb))
d = [abs(x - y) for x, y in zip(a, b)]
print(max(d), '%.4f' % (sum(d) / len(d)))
PY
}
