#!/usr/bin/env bash
# Diffusion through the real binary on a tiny U-Net: train (with the Palette tasks), resume,
# generate with every sampler, inpaint / uncrop / restore by every method, and the errors a
# user meets.
source "$(dirname "$0")/lib.sh"
L="$LATENTKIT"
DATA="$(cd "$(dirname "$0")/../data" && pwd)"
MODELS="$(cd "$(dirname "$0")/../.." && pwd)/models"
tiny=(--data fashion-mnist --limit 64 --batch 16 --width 8 --mults 1,2 --timesteps 50 --sample-steps 4 --threads 1 --seed 2)

"$L" train --model ddpm --tasks inpaint,restore --max-steps 6 --checkpoint-every 3 "${tiny[@]}" \
  --out "$WORK/ddpm" 2> "$WORK/train.log" || fail "train --model ddpm exited $?: $(tail -3 "$WORK/train.log")"
grep -q "training ddpm (U-Net width 8" "$WORK/train.log" || fail "train does not say it trains a ddpm: $(head -2 "$WORK/train.log")"
grep -q '"tasks": \[' "$WORK/ddpm/config.json" || fail "config.json has no tasks"
grep -q '"loss"' "$WORK/ddpm/train.jsonl" || fail "train.jsonl logs no loss"
is_png "$WORK/ddpm/samples/epoch-002.png" || fail "no sample grid after the second epoch"
"$L" train --resume --max-steps 8 --out "$WORK/ddpm" 2> "$WORK/resume.log" || fail "train --resume exited $?"
grep -q "resumed .* (step 6)" "$WORK/resume.log" || fail "resume did not start at step 6: $(head -2 "$WORK/resume.log")"

"$L" generate --run "$WORK/ddpm" --n 4 --seed 1 --out "$WORK/a.png" 2> /dev/null || fail "generate exited $?"
"$L" generate --run "$WORK/ddpm" --n 4 --seed 1 --out "$WORK/b.png" 2> /dev/null || fail "generate exited $?"
cmp -s "$WORK/a.png" "$WORK/b.png" || fail "DDIM with eta 0 from the same seed should be identical"
[ "$(png_size "$WORK/a.png")" = "62 62" ] || fail "4 images of 28 px in a 2 x 2 grid: $(png_size "$WORK/a.png")"
"$L" generate --run "$WORK/ddpm" --n 2 --sampler ddpm --out "$WORK/ddpm.png" 2> "$WORK/anc.log" || fail "--sampler ddpm exited $?"
grep -q "ddpm done 50/50" "$WORK/anc.log" || fail "the ancestral sampler runs all 50 steps: $(tail -1 "$WORK/anc.log")"
"$L" generate --run "$WORK/ddpm" --n 2 --eta 1 --sample-steps 3 --out "$WORK/eta.png" 2> /dev/null || fail "--eta 1 exited $?"
"$L" generate --run "$WORK/ddpm" --n 2 --sampler dpmpp --sample-steps 5 --threads 1 --out "$WORK/dpmpp.png" 2> "$WORK/dpm.log" ||
  fail "--sampler dpmpp exited $?: $(tail -2 "$WORK/dpm.log")"
grep -q "dpmpp done 5/5" "$WORK/dpm.log" || fail "dpmpp runs --sample-steps 5 steps: $(tail -1 "$WORK/dpm.log")"
expect_error 2 "dpmpp is deterministic" -- "$L" generate --run "$WORK/ddpm" --sampler dpmpp --eta 0.5 --threads 1 --out "$WORK/x.png"
expect_error 2 "expected ddim, ddpm or dpmpp" -- "$L" generate --run "$WORK/ddpm" --sampler euler --threads 1 --out "$WORK/x.png"
expect_error 2 "is for diffusion models" -- "$L" generate --run "$MODELS/fashion-dcgan" --eta 0.5 --out "$WORK/x.png"

"$L" generate --run "$WORK/ddpm" --n 1 --seed 4 --each "$WORK/img" 2> /dev/null || fail "generate --each exited $?"
IMG="$WORK/img/00000.png"
for method in palette repaint; do
  "$L" inpaint --run "$WORK/ddpm" --image "$IMG" --mask "$DATA/mask_28_box.png" --method $method --steps 3 \
    --resample 2 --out "$WORK/in-$method.png" --sheet "$WORK/sheet-$method.png" 2> "$WORK/in.log" ||
    fail "inpaint --method $method exited $?: $(tail -2 "$WORK/in.log")"
  [ "$(png_size "$WORK/in-$method.png")" = "28 28" ] || fail "inpaint writes one 28 px image: $(png_size "$WORK/in-$method.png")"
  [ "$(png_size "$WORK/sheet-$method.png")" = "62 32" ] || fail "the sheet is input + result: $(png_size "$WORK/sheet-$method.png")"
done
"$L" inpaint --run "$WORK/ddpm" --image "$IMG" --mask strokes --n 4 --steps 2 --out "$WORK/fills.png" 2> /dev/null ||
  fail "inpaint --mask strokes --n 4 exited $?"
[ "$(png_size "$WORK/fills.png")" = "62 62" ] || fail "--n 4 writes a grid of 4: $(png_size "$WORK/fills.png")"
"$L" uncrop --run "$WORK/ddpm" --image "$IMG" --side left --amount 0.3 --steps 2 --out "$WORK/uncrop.png" 2> /dev/null ||
  fail "uncrop exited $?"
for method in palette sdedit; do
  "$L" restore --run "$WORK/ddpm" --image "$IMG" --degrade jpeg --method $method --steps 4 --out "$WORK/re-$method.png" \
    2> "$WORK/re.log" || fail "restore --method $method exited $?: $(tail -2 "$WORK/re.log")"
  grep -q "wrote .*($method" "$WORK/re.log" || fail "restore does not say it used $method: $(tail -1 "$WORK/re.log")"
done

"$L" restore --run "$WORK/ddpm" --image "$IMG" --degrade noise --sampler dpmpp --steps 4 --threads 1 --out "$WORK/re-dpmpp.png" \
  2> "$WORK/re.log" || fail "restore --sampler dpmpp exited $?: $(tail -2 "$WORK/re.log")"
grep -q "palette done 4/4" "$WORK/re.log" || fail "restore --sampler dpmpp runs 4 steps: $(tail -1 "$WORK/re.log")"
expect_error 2 "repaint takes its own steps" -- "$L" inpaint --run "$WORK/ddpm" --image "$IMG" --method repaint --sampler dpmpp --threads 1 --out "$WORK/x.png"

expect_error 2 "must be the same size" -- "$L" inpaint --run "$WORK/ddpm" --image "$IMG" --mask "$DATA/mask_20_box.png" --out "$WORK/x.png"
expect_error 2 "nothing to fill" -- "$L" inpaint --run "$WORK/ddpm" --image "$IMG" --mask "$DATA/mask_28_empty.png" --out "$WORK/x.png"
expect_error 2 "has 3 channel(s); the model works on 1" -- "$L" inpaint --run "$WORK/ddpm" --image "$DATA/folder_orange_12x10.jpg" --out "$WORK/x.png"
expect_error 2 "needs a diffusion model" -- "$L" restore --run "$MODELS/fashion-dcgan" --image "$IMG" --out "$WORK/x.png"
expect_error 2 "--mask must be center, box, strokes or a PNG" -- "$L" inpaint --run "$WORK/ddpm" --image "$IMG" --mask nope.png --out "$WORK/x.png"

"$L" train --model cddpm --max-steps 2 "${tiny[@]}" --out "$WORK/cddpm" 2> "$WORK/c.log" || fail "train --model cddpm exited $?: $(tail -2 "$WORK/c.log")"
grep -q '"family": "cddpm"' "$WORK/cddpm/config.json" || fail "a cddpm run's config names another family"
"$L" generate --run "$WORK/cddpm" --class sneaker --guidance 3 --n 2 --out "$WORK/g.png" 2> /dev/null || fail "generate --guidance exited $?"
expect_error 2 "not trained for inpaint" -- "$L" inpaint --run "$WORK/cddpm" --image "$IMG" --method palette --out "$WORK/x.png"
"$L" inpaint --run "$WORK/cddpm" --image "$IMG" --class sneaker --steps 2 --resample 1 --out "$WORK/c-in.png" 2> "$WORK/ci.log" ||
  fail "repaint on a cddpm with --class exited $?"
grep -q "(repaint" "$WORK/ci.log" || fail "a model without tasks inpaints by RePaint: $(tail -1 "$WORK/ci.log")"
expect_error 2 "--schedule: unknown 'quadratic' (expected linear or cosine)" -- "$L" train --model ddpm --schedule quadratic --out "$WORK/x"
expect_error 2 "divisible by 4" -- "$L" train --model ddpm --data fashion-mnist --limit 16 --size 30 --out "$WORK/y"
finish
