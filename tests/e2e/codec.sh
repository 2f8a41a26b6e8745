#!/usr/bin/env bash
# invert -> placeholder encode -> placeholder decode, the same code decoded on the device
# runtime (lkrt --code) from an exported .lkm, and the errors a user meets. $2 is lkrt.
source "$(dirname "$0")/lib.sh"
L="$LATENTKIT"
LKRT="$2"
MODELS="$(cd "$(dirname "$0")/../.." && pwd)/models"
RUN="$MODELS/fashion-cgan"
CLS="$MODELS/fashion-classifier"

"$L" generate --run "$RUN" --n 1 --seed 3 --out "$WORK/item.png" 2> /dev/null || fail "generate exited $?"
[ "$(png_size "$WORK/item.png")" = "28 28" ] || fail "generate --n 1 writes the bare image, got $(png_size "$WORK/item.png")"
"$L" generate --run "$RUN" --n 1 --seed 3 --grid --out "$WORK/item-grid.png" 2> /dev/null || fail "generate --grid exited $?"
[ "$(png_size "$WORK/item-grid.png")" = "32 32" ] || fail "generate --n 1 --grid writes a grid, got $(png_size "$WORK/item-grid.png")"
"$L" invert --run "$RUN" --features "$CLS" --image "$WORK/item.png" --steps 30 --restarts 2 --threads 1 \
  --out "$WORK/z.json" --png "$WORK/recon.png" > "$WORK/invert.txt" 2> /dev/null || fail "invert exited $?"
grep -q '"z": \[' "$WORK/z.json" || fail "invert wrote no latent: $(head -c 300 "$WORK/z.json")"
grep -q '"method": "optimise"' "$WORK/z.json" || fail "invert without an encoder should optimise"
grep -Eq 'PSNR [0-9.]+ dB, SSIM [0-9.-]+' "$WORK/invert.txt" || fail "invert prints no quality: $(cat "$WORK/invert.txt")"
[ "$(png_size "$WORK/recon.png")" = "62 32" ] || fail "recon.png should hold 2 images: $(png_size "$WORK/recon.png")"

CODE=$("$L" placeholder encode --run "$RUN" --features "$CLS" --bytes 32 --steps 20 --restarts 1 --threads 1 \
  "$WORK/item.png" 2> "$WORK/encode.log") || fail "placeholder encode exited $?: $(cat "$WORK/encode.log")"
[[ "$CODE" =~ ^[A-Za-z0-9_-]{43}$ ]] || fail "a 32-byte code is 43 base64url characters, got '$CODE'"
"$L" placeholder decode --run "$RUN" "$CODE" --size 112 --out "$WORK/placeholder.png" 2> /dev/null ||
  fail "placeholder decode exited $?"
[ "$(png_size "$WORK/placeholder.png")" = "112 112" ] || fail "decode --size 112: $(png_size "$WORK/placeholder.png")"

"$L" export --run "$RUN" --format lkm --out "$WORK/cgan.lkm" 2> /dev/null || fail "export exited $?"
"$LKRT" "$WORK/cgan.lkm" --code "$CODE" --out "$WORK/device.png" 2> /dev/null || fail "lkrt --code exited $?"
[ "$(png_size "$WORK/device.png")" = "28 28" ] || fail "lkrt --code wrote $(png_size "$WORK/device.png")"
"$L" placeholder decode --run "$RUN" "$CODE" --out "$WORK/library.png" 2> /dev/null || fail "decode at 28 exited $?"

# The shipped placeholder model: its encoder makes the default method hybrid; 24 bytes.
CODE24=$("$L" placeholder encode --run "$MODELS/fashion-cgan24" --features "$CLS" --hybrid-steps 5 --threads 1 \
  "$WORK/item.png" 2> "$WORK/encode24.log") || fail "encode with fashion-cgan24 exited $?: $(cat "$WORK/encode24.log")"
[[ "$CODE24" =~ ^[A-Za-z0-9_-]{32}$ ]] || fail "a 24-byte code is 32 base64url characters, got '$CODE24'"
grep -q "hybrid" "$WORK/encode24.log" || fail "fashion-cgan24 has an encoder: auto should be hybrid: $(cat "$WORK/encode24.log")"

expect_error 2 "placeholder code is for model tag" -- "$L" placeholder decode --run "$MODELS/fashion-dcgan" "$CODE" \
  --out "$WORK/x.png"
BAD="${CODE:0:10}$([ "${CODE:10:1}" = A ] && echo B || echo A)${CODE:11}"
expect_error 2 "checksum" -- "$L" placeholder decode --run "$RUN" "$BAD" --out "$WORK/x.png"
expect_error 2 "is not base64url" -- "$L" placeholder decode --run "$RUN" 'abc$def' --out "$WORK/x.png"
expect_error 2 "--class K or --features" -- "$L" placeholder encode --run "$RUN" --steps 1 "$WORK/item.png"
expect_error 2 "too few" -- "$L" placeholder encode --run "$RUN" --class 1 --bytes 8 --steps 1 "$WORK/item.png"
expect_error 2 "has no encoder" -- "$L" placeholder encode --run "$RUN" --class 1 --method hybrid "$WORK/item.png"

exit $((failures > 0))
