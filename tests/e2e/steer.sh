#!/usr/bin/env bash
# axes fit (GLM and PCA) -> axes show -> edit (moves, locks, sweep) -> axes report -> serve
# and its JSON API, through the real binary on the shipped Fashion-MNIST models.
source "$(dirname "$0")/lib.sh"
L="$LATENTKIT"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUN="$ROOT/models/fashion-dcgan"
CLS="$ROOT/models/fashion-classifier"

"$L" axes fit --run "$RUN" --features "$CLS" --n 400 --threads 1 --cache-dir "$WORK/cache" --out "$WORK/axes.json" \
  > "$WORK/fit.txt" 2> "$WORK/fit.log" || fail "axes fit exited $?: $(tail -3 "$WORK/fit.log")"
grep -q '"format": "latentkit-axes"' "$WORK/axes.json" || fail "axes fit wrote no axes file"
grep -Eq '^sandal +logistic +class +accuracy' "$WORK/fit.txt" || fail "axes fit prints no sandal row: $(cat "$WORK/fit.txt")"
grep -Eq '^brightness +ridge +attribute +r2' "$WORK/fit.txt" || fail "axes fit prints no brightness row"
# A second fit with the same pairs reads them from the cache.
"$L" axes fit --run "$RUN" --no-attributes --features "$CLS" --n 400 --threads 1 --cache-dir "$WORK/cache" \
  --lock bag --out "$WORK/locked.json" > /dev/null 2> "$WORK/fit2.log" || fail "second axes fit exited $?"
grep -q "cached latent/image pairs" "$WORK/fit2.log" || fail "the second fit did not re-use the cached pairs"
grep -q '"locked"' "$WORK/locked.json" || fail "--lock is not recorded in the axes file"
"$L" axes fit --run "$RUN" --method pca --components 4 --n 400 --threads 1 --cache-dir "$WORK/cache" \
  --out "$WORK/pca.json" > "$WORK/pca.txt" 2> /dev/null || fail "axes fit --method pca exited $?"
grep -Eq '^pc1 +pca +pca +explained_variance' "$WORK/pca.txt" || fail "pca axes table: $(cat "$WORK/pca.txt")"

"$L" axes show "$WORK/axes.json" | grep -q '^ankle-boot' || fail "axes show lists no ankle-boot"

"$L" edit --run "$RUN" --axes "$WORK/axes.json" --seed 3 --move sandal=+2,brightness=-1 --lock bag \
  --out "$WORK/edit.png" 2> /dev/null || fail "edit --move exited $?"
[ "$(png_size "$WORK/edit.png")" = "62 32" ] || fail "edit.png should hold 2 images of 28 px: $(png_size "$WORK/edit.png")"
"$L" edit --run "$RUN" --axes "$WORK/axes.json" --seed 3 --sweep "Ankle boot" --from -3 --to 3 --steps 5 --zoom 2 \
  --out "$WORK/sweep.png" 2> /dev/null || fail "edit --sweep exited $?"
[ "$(png_size "$WORK/sweep.png")" = "292 60" ] || fail "sweep.png should hold 5 images of 56 px: $(png_size "$WORK/sweep.png")"
if cmp -s <(od -An -tx1 -j100 "$WORK/edit.png") <(od -An -tx1 -j100 "$WORK/sweep.png"); then fail "edits look alike"; fi
# --follow: the same move along sandal's gradient, bag held along the path by its own.
"$L" edit --run "$RUN" --axes "$WORK/axes.json" --seed 3 --move sandal=+2,brightness=-1 --lock bag --follow 3 \
  --out "$WORK/follow.png" 2> /dev/null || fail "edit --follow exited $?"
[ "$(png_size "$WORK/follow.png")" = "62 32" ] || fail "follow.png should hold 2 images: $(png_size "$WORK/follow.png")"
if cmp -s "$WORK/edit.png" "$WORK/follow.png"; then fail "--follow drew the straight-line edit"; fi

"$L" axes report --run "$RUN" --axes "$WORK/axes.json" --only sandal,sneaker,brightness --n 16 --threads 1 \
  --out "$WORK/report" > "$WORK/report.txt" 2> /dev/null || fail "axes report exited $?"
for f in edit-matrix.json edit-matrix.png edit-matrix-disentangled.png; do
  [ -s "$WORK/report/$f" ] || fail "axes report wrote no $f"
done
grep -q '"disentangled"' "$WORK/report/edit-matrix.json" || fail "edit-matrix.json has no disentangled matrix"
grep -Eq '^sneaker +[+-][0-9.]+ sd +[0-9]+%' "$WORK/report.txt" || fail "report table: $(cat "$WORK/report.txt")"
"$L" axes report --run "$RUN" --axes "$WORK/axes.json" --only sandal,brightness --n 8 --follow 2 --threads 1 \
  --out "$WORK/report-follow" > /dev/null 2>&1 || fail "axes report --follow exited $?"
grep -q '"follow": 2' "$WORK/report-follow/edit-matrix.json" || fail "edit-matrix.json does not record --follow"

expect_error 2 "unknown axis 'shoe'" -- "$L" edit --run "$RUN" --axes "$WORK/axes.json" --move shoe=1 --out "$WORK/x.png"
expect_error 2 "not a number" -- "$L" edit --run "$RUN" --axes "$WORK/axes.json" --move sandal=lots --out "$WORK/x.png"
expect_error 2 "at most 100" -- "$L" edit --run "$RUN" --axes "$WORK/axes.json" --move sandal=1e9 --out "$WORK/x.png"
expect_error 2 "nothing to do" -- "$L" edit --run "$RUN" --axes "$WORK/axes.json" --out "$WORK/x.png"
echo '{"format": "something else"}' > "$WORK/foreign.json"
expect_error 2 "not an axes file" -- "$L" edit --run "$RUN" --axes "$WORK/foreign.json" --move a=1 --out "$WORK/x.png"
expect_error 2 "unknown axis 'boots'" -- "$L" edit --run "$RUN" --axes "$WORK/axes.json" --move sandal=1 \
  --lock bag,boots --out "$WORK/x.png"

# serve on a free port; the address is printed on stderr.
"$L" serve --run "$RUN" --axes "$WORK/axes.json" --port 0 2> "$WORK/serve.log" &
server=$!
url=""
for _ in $(seq 100); do
  url=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/serve.log" | head -1)
  [ -n "$url" ] && break
  sleep 0.1
done
if [ -z "$url" ]; then
  fail "serve printed no address: $(cat "$WORK/serve.log")"
else
  api() { curl -s -o "$WORK/reply" -w '%{http_code}' "$@"; }
  [ "$(api "$url/api/v1/model")" = 200 ] && grep -q '"latent_dim":100' "$WORK/reply" || fail "GET /api/v1/model: $(cat "$WORK/reply")"
  [ "$(api "$url/api/v1/axes")" = 200 ] && grep -q '"name":"sandal"' "$WORK/reply" || fail "GET /api/v1/axes"
  [ "$(api -X POST -d '{"seed": 3, "moves": {"sandal": 2}, "locks": ["bag"]}' "$url/api/v1/generate")" = 200 ] &&
    grep -q '"image":"data:image/png;base64,' "$WORK/reply" || fail "POST /api/v1/generate: $(head -c 300 "$WORK/reply")"
  [ "$(api "$url/")" = 200 ] && grep -q '<html' "$WORK/reply" || fail "GET / serves no page"
  check_400() {
    local body="$1" text="$2" code
    code=$(api -X POST --data-binary "$body" "$url/api/v1/generate")
    if [ "$code" != 400 ] || ! grep -qF "$text" "$WORK/reply"; then
      fail "POST $body: expected 400 with '$text', got $code $(head -c 200 "$WORK/reply")"
    fi
  }
  check_400 '{"seed": 3' "malformed JSON"
  check_400 '{"seed": 3, "moves": {"shoe": 1}}' "unknown axis 'shoe'"
  check_400 '{"seed": 3, "moves": {"sandal": 1e308}}' "out of range"
  check_400 '{"seed": 3, "moves": {"sandal": "x"}}' "must be a number"
  check_400 '{"z": [1, 2, 3]}' "100 numbers"
  check_400 '{"seed": 1, "z": []}' "exactly one"
  # Too large: as JSON over the 64 KiB limit, and as a form (curl's default) over httplib's 8 KiB.
  code=$(api -X POST -H 'Content-Type: application/json' --data-binary "$(head -c 70000 /dev/zero | tr '\0' 'x')" \
    "$url/api/v1/generate")
  { [ "$code" = 400 ] && grep -qF "over 65536 bytes" "$WORK/reply"; } ||
    fail "a 70000-byte JSON body: expected 400 with 'over 65536 bytes', got $code $(head -c 200 "$WORK/reply")"
  check_400 "$(head -c 9000 /dev/zero | tr '\0' 'x')" "a form-encoded body over 8192 bytes"
  [ "$(api "$url/api/v1/nope")" = 404 ] || fail "an unknown API path is not 404"
  # Still alive after all that.
  [ "$(api "$url/api/v1/model")" = 200 ] || fail "the server died on bad requests"
fi
kill -INT "$server" 2> /dev/null
wait "$server" || fail "serve did not exit 0 on SIGINT"
finish
