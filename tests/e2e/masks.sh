#!/usr/bin/env bash
# Label maps, SPADE, the pix2pix maps baseline and Palette colorization through the real
# binary on tiny models: maps written and read back, a spade run drawing a user's map, the
# errors a painted map can have, and colorize / lineart from a gray image and a drawing.
source "$(dirname "$0")/lib.sh"
L="$LATENTKIT"
MODELS="$(cd "$(dirname "$0")/../.." && pwd)/models"
tiny=(--threads 1 --seed 2)

# Maps: shapes-scenes' own and emoji region maps, as a grid and as one map PNG.
"$L" data preview --data shapes-scenes:16 --size 16 --as map --n 1 --seed 1 --out "$WORK/map.png" 2> "$WORK/map.log" ||
  fail "data preview --as map exited $?: $(cat "$WORK/map.log")"
[ "$(png_size "$WORK/map.png")" = "16 16" ] || fail "one map is the map itself: $(png_size "$WORK/map.png")"
grep -q "1 square #ff0000" "$WORK/map.log" || fail "preview --as map lists the classes: $(cat "$WORK/map.log")"
"$L" data preview --data emoji --limit 40 --size 16 --as map --n 4 --out "$WORK/regions.png" 2> "$WORK/regions.log" ||
  fail "emoji region maps exited $?: $(cat "$WORK/regions.log")"
grep -q "regions maps of emoji" "$WORK/regions.log" || fail "emoji maps are region maps: $(cat "$WORK/regions.log")"
"$L" data preview --data emoji --limit 8 --size 16 --as lineart --n 1 --out "$WORK/sketch.png" 2> /dev/null || fail "--as lineart exited $?"
"$L" data preview --data emoji --limit 8 --size 16 --as gray --n 1 --out "$WORK/gray.png" 2> /dev/null || fail "--as gray exited $?"

# SPADE: train, resume, draw a map with several styles and along a style strip.
"$L" train --model spade --data shapes-scenes:32 --size 16 --width 4 --latent-dim 8 --batch 8 --epochs 1 --max-steps 3 \
  --checkpoint-every 2 "${tiny[@]}" --out "$WORK/spade" 2> "$WORK/train.log" || fail "train --model spade exited $?: $(tail -3 "$WORK/train.log")"
grep -q "training spade (width 4, z 8" "$WORK/train.log" || fail "train does not say it trains spade: $(head -2 "$WORK/train.log")"
grep -q "with scenes maps (4 classes)" "$WORK/train.log" || fail "train does not name the maps: $(head -2 "$WORK/train.log")"
"$L" train --resume --max-steps 4 --out "$WORK/spade" 2> "$WORK/resume.log" || fail "spade --resume exited $?"
grep -q "resumed .* (step 3)" "$WORK/resume.log" || fail "resume did not start at step 3: $(head -2 "$WORK/resume.log")"
"$L" generate --run "$WORK/spade" --mask "$WORK/map.png" --n 4 --out "$WORK/drawn.png" --threads 1 2> "$WORK/g.log" ||
  fail "generate --mask exited $?: $(cat "$WORK/g.log")"
[ "$(png_size "$WORK/drawn.png")" = "38 38" ] || fail "4 images of a 16 px map make a 2x2 grid: $(png_size "$WORK/drawn.png")"
"$L" generate --run "$WORK/spade" --mask "$WORK/map.png" --interpolate 1,2 --steps 3 --out "$WORK/strip.png" --threads 1 2> /dev/null ||
  fail "generate --mask --interpolate exited $?"
[ "$(png_size "$WORK/strip.png")" = "56 20" ] || fail "a style strip of 3: $(png_size "$WORK/strip.png")"

# A painted map with a wrong size or a color outside the palette, and --mask where it does not apply.
"$L" data preview --data shapes-scenes:4 --size 24 --as map --n 1 --out "$WORK/big.png" 2> /dev/null
expect_error 2 "is 24x24 but the model draws 16x16" -- "$L" generate --run "$WORK/spade" --mask "$WORK/big.png" --out "$WORK/x.png"
expect_error 2 "not a color of the scenes palette" -- "$L" generate --run "$WORK/spade" --mask "$WORK/gray.png" --out "$WORK/x.png"
expect_error 2 "pixel (0, 0)" -- "$L" generate --run "$WORK/spade" --mask "$WORK/gray.png" --out "$WORK/x.png"
expect_error 2 "give --mask map.png" -- "$L" generate --run "$WORK/spade" --out "$WORK/x.png"
expect_error 2 "is for diffusion models" -- "$L" generate --run "$WORK/spade" --mask "$WORK/map.png" --sample-steps 4 --out "$WORK/x.png"
"$L" eval --run "$WORK/spade" --metrics fid --n 8 --no-floor --features "$MODELS/shapes-classifier" --threads 1 > /dev/null 2> "$WORK/eval.log" ||
  fail "eval of a spade run exited $?: $(tail -3 "$WORK/eval.log")"
grep -q '"maps": "the scenes maps of the test split' "$WORK/spade/eval.json" || fail "eval.json does not say which maps it drew"
expect_error 2 "segmenter run $WORK/none not found" -- "$L" eval --run "$WORK/spade" --metrics miou --n 8 --segmenter "$WORK/none" --features "$MODELS/shapes-classifier"

# The pix2pix baseline on the same maps: map colors in, image out.
"$L" train --model pix2pix --task maps --data shapes-scenes:16 --size 16 --width 4 --batch 8 --epochs 1 "${tiny[@]}" \
  --out "$WORK/p2p" 2> "$WORK/p2p.log" || fail "pix2pix --task maps exited $?: $(tail -3 "$WORK/p2p.log")"
grep -q "tanh; PatchGAN" "$WORK/p2p.log" || fail "the maps baseline is not residual: $(head -1 "$WORK/p2p.log")"
"$L" eval --run "$WORK/p2p" --metrics fid --n 8 --no-floor --features "$MODELS/shapes-classifier" --threads 1 > /dev/null 2> "$WORK/eval-p2p.log" ||
  fail "eval of a pix2pix maps run exited $?: $(tail -3 "$WORK/eval-p2p.log")"
"$L" enhance --run "$WORK/p2p" --image "$WORK/map.png" --out "$WORK/p2p.png" 2> /dev/null || fail "enhance on a map exited $?"
[ "$(png_size "$WORK/p2p.png")" = "16 16" ] || fail "the baseline draws the map's size: $(png_size "$WORK/p2p.png")"

# Palette colorization: colorize and lineart.
"$L" train --model ddpm --tasks colorize,lineart --data emoji --limit 16 --size 16 --width 8 --mults 1,2 --batch 8 --epochs 1 \
  "${tiny[@]}" --out "$WORK/colorize" 2> "$WORK/c.log" || fail "ddpm --tasks colorize,lineart exited $?: $(tail -3 "$WORK/c.log")"
grep -q "tasks colorize+lineart" "$WORK/c.log" || fail "train does not name the tasks: $(head -1 "$WORK/c.log")"
"$L" colorize --run "$WORK/colorize" --image "$WORK/gray.png" --n 2 --steps 3 --out "$WORK/col.png" --sheet "$WORK/col-sheet.png" \
  --threads 1 2> "$WORK/col.log" || fail "colorize exited $?: $(cat "$WORK/col.log")"
[ "$(png_size "$WORK/col-sheet.png")" = "56 20" ] || fail "the sheet is the gray input and 2 results: $(png_size "$WORK/col-sheet.png")"
"$L" colorize --run "$WORK/colorize" --task lineart --image "$WORK/sketch.png" --steps 3 --out "$WORK/line.png" --threads 1 2> /dev/null ||
  fail "colorize --task lineart exited $?"
[ "$(png_size "$WORK/line.png")" = "16 16" ] || fail "one result is the image: $(png_size "$WORK/line.png")"
"$L" colorize --run "$WORK/colorize" --task lineart --extract --image "$WORK/gray.png" --steps 2 --out "$WORK/x.png" --threads 1 2> /dev/null ||
  fail "colorize --extract exited $?"
expect_error 2 "is for --task lineart" -- "$L" colorize --run "$WORK/colorize" --extract --image "$WORK/gray.png" --out "$WORK/x.png"
expect_error 2 "miou measures mask-to-image runs" -- "$L" eval --run "$WORK/colorize" --metrics miou --n 8 --features "$MODELS/shapes-classifier"
expect_error 2 "draws images from label maps" -- "$L" colorize --run "$WORK/spade" --image "$WORK/gray.png" --out "$WORK/x.png"
"$L" train --model ddpm --tasks inpaint --data emoji --limit 8 --size 16 --width 8 --mults 1,2 --batch 8 --epochs 1 --max-steps 1 \
  "${tiny[@]}" --out "$WORK/inpaint" 2> /dev/null || fail "ddpm --tasks inpaint exited $?"
expect_error 2 "not trained for colorize (train one with --tasks colorize)" -- \
  "$L" colorize --run "$WORK/inpaint" --image "$WORK/gray.png" --out "$WORK/x.png"
expect_error 2 "needs color data" -- "$L" train --model ddpm --tasks colorize --data fashion-mnist --limit 8 --out "$WORK/y"

finish
