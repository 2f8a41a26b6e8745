#!/usr/bin/env bash
# latentkit train for 30 steps on shapes, then generate, through the real binary.
source "$(dirname "$0")/lib.sh"

"$LATENTKIT" train --model dcgan --data shapes:480 --size 32 --batch 16 --max-steps 30 --width 8 \
  --latent-dim 16 --seed 1 --threads 1 --checkpoint-every 10 --log-every 5 --out "$WORK/run" \
  2> "$WORK/train.log" || fail "train exited $?: $(tail -5 "$WORK/train.log")"
grep -q "1 thread" "$WORK/train.log" || fail "train does not say how many threads it used"
for f in config.json model.pt train.jsonl losses.png samples/epoch-001.png checkpoints/latest; do
  [ -s "$WORK/run/$f" ] || fail "run folder lacks $f"
done
[ "$(wc -l < "$WORK/run/train.jsonl")" = 6 ] || fail "train.jsonl should have 6 lines (every 5 of 30 steps)"
is_png "$WORK/run/losses.png" || fail "losses.png is not a PNG"

"$LATENTKIT" generate --run "$WORK/run" --n 16 --seed 7 --out "$WORK/grid.png" || fail "generate exited $?"
is_png "$WORK/grid.png" || fail "grid.png is not a PNG"
# 16 images of 32x32 in a 4x4 grid with 2-pixel padding: 4*32 + 5*2 = 138.
[ "$(png_size "$WORK/grid.png")" = "138 138" ] || fail "grid.png is $(png_size "$WORK/grid.png"), expected 138 138"

"$LATENTKIT" generate --run "$WORK/run" --n 3 --seed 7 --each "$WORK/each" || fail "generate --each exited $?"
[ "$(ls "$WORK/each" | wc -l)" = 3 ] || fail "--each should write 3 PNGs"
[ "$(png_size "$WORK/each/00000.png")" = "32 32" ] || fail "single PNGs should be 32x32"

"$LATENTKIT" generate --run "$WORK/run" --interpolate 3,8 --steps 6 --out "$WORK/strip.png" || fail "interpolate exited $?"
# 6 images in one row: 6*32 + 7*2 = 206 wide, 32 + 2*2 = 36 high.
[ "$(png_size "$WORK/strip.png")" = "206 36" ] || fail "strip.png is $(png_size "$WORK/strip.png"), expected 206 36"

# Same seed, same grid; another seed, another grid.
"$LATENTKIT" generate --run "$WORK/run" --n 16 --seed 7 --out "$WORK/grid2.png"
"$LATENTKIT" generate --run "$WORK/run" --n 16 --seed 8 --out "$WORK/grid3.png"
cmp -s "$WORK/grid.png" "$WORK/grid2.png" || fail "generate is not deterministic for a seed"
cmp -s "$WORK/grid.png" "$WORK/grid3.png" && fail "different seeds gave the same grid"

"$LATENTKIT" data preview --data shapes:50 --n 9 --out "$WORK/preview.png" || fail "data preview exited $?"
[ "$(png_size "$WORK/preview.png")" = "104 104" ] || fail "preview.png is $(png_size "$WORK/preview.png")"
"$LATENTKIT" data info --data shapes:50 --json > "$WORK/info.json" || fail "data info exited $?"
grep -q '"count": 50' "$WORK/info.json" || fail "data info --json lacks the count"
finish
