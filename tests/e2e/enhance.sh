#!/usr/bin/env bash
# pix2pix through the real binary on a tiny U-Net: train on synthetic pairs, resume, enhance
# images of any size (padded, tiled, enlarged, converted), train on aligned folders and on
# side-by-side pairs, and the errors a user meets.
source "$(dirname "$0")/lib.sh"
L="$LATENTKIT"
MODELS="$(cd "$(dirname "$0")/../.." && pwd)/models"
tiny=(--width 4 --threads 1 --seed 2)

"$L" train --model pix2pix --task deblur,superres --data fashion-mnist --limit 32 --epochs 2 --max-steps 6 \
  --checkpoint-every 3 --batch 8 "${tiny[@]}" --out "$WORK/p2p" 2> "$WORK/train.log" ||
  fail "train --model pix2pix exited $?: $(tail -3 "$WORK/train.log")"
grep -q "training pix2pix (U-Net 4 levels, width 4" "$WORK/train.log" || fail "train does not say it trains pix2pix: $(head -2 "$WORK/train.log")"
grep -q '"family": "pix2pix"' "$WORK/p2p/config.json" || fail "config.json is not a pix2pix run"
grep -q '"psnr_input"' "$WORK/p2p/train.jsonl" || fail "train.jsonl logs no PSNR"
is_png "$WORK/p2p/samples/epoch-001.png" || fail "no sample grid after the first epoch"
[ "$(png_size "$WORK/p2p/samples/epoch-001.png")" = "242 92" ] || fail "samples are 8 inputs, outputs, targets: $(png_size "$WORK/p2p/samples/epoch-001.png")"
"$L" train --resume --max-steps 8 --out "$WORK/p2p" 2> "$WORK/resume.log" || fail "train --resume exited $?"
grep -q "resumed .* (step 6)" "$WORK/resume.log" || fail "resume did not start at step 6: $(head -2 "$WORK/resume.log")"

# Images: one item (28 x 28), a strip of 5 (152 x 32, not a multiple of anything), RGB shapes.
"$L" data preview --data fashion-mnist --split test --n 1 --out "$WORK/item.png" 2> /dev/null || fail "data preview exited $?"
"$L" generate --run "$MODELS/fashion-dcgan" --interpolate 3,8 --steps 5 --out "$WORK/wide.png" 2> /dev/null || fail "generate exited $?"
"$L" data preview --data shapes:8 --n 1 --out "$WORK/rgb.png" 2> /dev/null || fail "data preview exited $?"

"$L" enhance --run "$WORK/p2p" --image "$WORK/item.png" --out "$WORK/e.png" 2> "$WORK/e.log" || fail "enhance exited $?: $(cat "$WORK/e.log")"
[ "$(png_size "$WORK/e.png")" = "28 28" ] || fail "enhance keeps the size: $(png_size "$WORK/e.png")"
"$L" enhance --run "$WORK/p2p" --image "$WORK/item.png" --degrade deblur --seed 3 --out "$WORK/d.png" --sheet "$WORK/sheet.png" \
  2> "$WORK/d.log" || fail "enhance --degrade exited $?"
[ "$(png_size "$WORK/sheet.png")" = "92 32" ] || fail "the sheet is original, degraded, enhanced: $(png_size "$WORK/sheet.png")"
grep -q "original, degraded, enhanced" "$WORK/d.log" || fail "enhance does not say what the sheet holds"
"$L" enhance --run "$WORK/p2p" --image "$WORK/wide.png" --out "$WORK/w.png" 2> /dev/null || fail "enhance on 152 x 32 exited $?"
[ "$(png_size "$WORK/w.png")" = "152 32" ] || fail "any size comes back the same size: $(png_size "$WORK/w.png")"
"$L" enhance --run "$WORK/p2p" --image "$WORK/wide.png" --tile 40 --out "$WORK/t.png" 2> "$WORK/t.log" || fail "enhance --tile exited $?"
grep -q "tiled" "$WORK/t.log" || fail "a 152 px image in 40 px tiles is tiled: $(cat "$WORK/t.log")"
[ "$(png_size "$WORK/t.png")" = "152 32" ] || fail "tiles come back to the image's size: $(png_size "$WORK/t.png")"
"$L" enhance --run "$WORK/p2p" --image "$WORK/item.png" --scale 3 --out "$WORK/big.png" 2> /dev/null || fail "enhance --scale exited $?"
[ "$(png_size "$WORK/big.png")" = "84 84" ] || fail "--scale 3 enlarges 28 to 84: $(png_size "$WORK/big.png")"
"$L" enhance --run "$WORK/p2p" --image "$WORK/rgb.png" --out "$WORK/g.png" 2> "$WORK/g.log" || fail "enhance on RGB exited $?"
grep -q "converted to gray" "$WORK/g.log" || fail "an RGB image for a gray model is converted, and says so: $(cat "$WORK/g.log")"

# Aligned folders (the same names in A and B) and side-by-side pairs.
mkdir -p "$WORK/a" "$WORK/b" "$WORK/ab"
for i in 1 2 3 4; do
  "$L" data preview --data fashion-mnist --n 1 --seed $i --out "$WORK/a/$i.png" 2> /dev/null
  "$L" data preview --data fashion-mnist --n 1 --seed $((i + 10)) --out "$WORK/b/$i.png" 2> /dev/null
  "$L" data preview --data fashion-mnist --n 2 --seed $i --out "$WORK/ab/$i.png" 2> /dev/null
done
"$L" train --model pix2pix --data "folder:$WORK/a,$WORK/b" --size 16 --channels 1 --epochs 1 "${tiny[@]}" --batch 2 \
  --out "$WORK/aligned" 2> "$WORK/aligned.log" || fail "train on aligned folders exited $?: $(tail -2 "$WORK/aligned.log")"
grep -q "paired data) on folder:" "$WORK/aligned.log" || fail "train does not say it trains on pairs: $(head -1 "$WORK/aligned.log")"
"$L" train --model pix2pix --data "pairs:$WORK/ab" --size 16 --epochs 1 "${tiny[@]}" --batch 2 \
  --out "$WORK/sbs" 2> "$WORK/sbs.log" || fail "train on side-by-side pairs exited $?: $(tail -2 "$WORK/sbs.log")"
grep -q "(4 images 3x16x16)" "$WORK/sbs.log" || fail "4 RGB pairs of 16 px: $(head -1 "$WORK/sbs.log")"

"$L" data preview --data fashion-mnist --n 1 --seed 9 --out "$WORK/a/extra.png" 2> /dev/null
expect_error 2 "extra.png has no partner" -- "$L" train --model pix2pix --data "folder:$WORK/a,$WORK/b" --size 16 --out "$WORK/x1"
expect_error 2 "needs --task" -- "$L" train --model pix2pix --data fashion-mnist --out "$WORK/x2"
expect_error 2 "needs no --task" -- "$L" train --model pix2pix --task denoise --data "pairs:$WORK/ab" --size 16 --out "$WORK/x3"
expect_error 2 "is for --model pix2pix" -- "$L" train --model dcgan --task denoise --out "$WORK/x4"
expect_error 2 "enhance needs a pix2pix model" -- "$L" enhance --run "$MODELS/fashion-dcgan" --image "$WORK/item.png" --out "$WORK/x.png"
expect_error 2 "use it with latentkit enhance" -- "$L" generate --run "$WORK/p2p" --out "$WORK/x.png"
# A pix2pix run exports as an enhancer, checked through lkrt before it is written.
"$L" export --run "$WORK/p2p" --format lkm --out "$WORK/p2p.lkm" 2> "$WORK/export.log" ||
  fail "export of a pix2pix run exited $?: $(cat "$WORK/export.log")"
grep -q "pix2pix, fp32 weights" "$WORK/export.log" || fail "export of a pix2pix run: $(cat "$WORK/export.log")"
expect_error 2 "paired data" -- "$L" data preview --data "folder:$WORK/a,$WORK/b" --size 16 --out "$WORK/x.png"
expect_error 2 "cannot read" -- "$L" enhance --run "$WORK/p2p" --image "$WORK/none.png" --out "$WORK/x.png"
finish
