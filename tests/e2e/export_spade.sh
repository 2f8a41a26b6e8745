#!/usr/bin/env bash
# A mask-to-image (spade) run on the device: a tiny run trained here in a few steps, exported
# to .lkm (fp32 and int8, with its palette) and to ONNX, lkrt drawing a painted map PNG
# (--mask) with the latent latentkit draws for --seed 0 (from export --vectors) and matching
# `latentkit generate --mask` pixel for pixel, other styles and maps, and the errors a
# painted map can have. $2 is the lkrt binary.
source "$(dirname "$0")/lib.sh"
L="$LATENTKIT"
LKRT="$2"
tiny=(--threads 1 --seed 2)

"$L" train --model spade --data shapes-scenes:64 --size 16 --width 4 --latent-dim 16 --batch 8 --epochs 1 --max-steps 2 \
  "${tiny[@]}" --out "$WORK/spade" 2> "$WORK/train.log" || fail "train --model spade exited $?: $(tail -3 "$WORK/train.log")"
"$L" data preview --data shapes-scenes --split test --size 16 --as map --n 1 --seed 1 --out "$WORK/map.png" --threads 1 2> /dev/null ||
  fail "data preview --as map exited $?"
"$L" data preview --data shapes-scenes --split test --size 16 --as map --n 1 --seed 5 --out "$WORK/map2.png" --threads 1 2> /dev/null ||
  fail "data preview --as map exited $?"

# Export: lkrt checks the file before it is written; the palette travels in it.
"$L" export --run "$WORK/spade" --format lkm --out "$WORK/spade.lkm" --vectors "$WORK/v.json" --vector-count 1 --threads 1 \
  2> "$WORK/export.log" || fail "export of a spade run exited $?: $(cat "$WORK/export.log")"
grep -q "wrote $WORK/spade.lkm: spade, fp32 weights" "$WORK/export.log" || fail "export says: $(cat "$WORK/export.log")"
grep -q "lkrt matches it to" "$WORK/export.log" || fail "export does not report lkrt's check: $(cat "$WORK/export.log")"
"$L" export --run "$WORK/spade" --format lkm --weights int8 --out "$WORK/spade8.lkm" --threads 1 2> /dev/null ||
  fail "export --weights int8 of a spade run exited $?"
"$L" export --run "$WORK/spade" --format onnx --out "$WORK/spade.onnx" --threads 1 2> /dev/null || fail "export --format onnx of a spade run exited $?"
is_png "$WORK/map.png" && [ -s "$WORK/spade.onnx" ] || fail "no map or no ONNX file"
"$LKRT" "$WORK/spade.lkm" --info > "$WORK/info.txt" || fail "lkrt --info exited $?"
grep -q "kind         mask generator" "$WORK/info.txt" || fail "lkrt --info: $(head -3 "$WORK/info.txt")"
grep -q "palette      scenes: 0 background #000000, 1 square #ff0000, 2 circle #00ff00, 3 triangle #0000ff" "$WORK/info.txt" ||
  fail "lkrt --info does not show the palette: $(head -6 "$WORK/info.txt")"

# The same map and latent in both: latentkit generate --seed 0 draws z as export --vectors does.
python3 -c 'import json, sys; json.dump({"z": json.load(open(sys.argv[1]))["z"][0]}, open(sys.argv[2], "w"))' "$WORK/v.json" "$WORK/z.json" ||
  fail "no z in the vectors"
"$L" generate --run "$WORK/spade" --mask "$WORK/map.png" --seed 0 --n 1 --out "$WORK/latentkit.png" --threads 1 2> /dev/null ||
  fail "generate --mask exited $?"
"$LKRT" "$WORK/spade.lkm" --mask "$WORK/map.png" --z "$WORK/z.json" --out "$WORK/lkrt.png" --raw "$WORK/lkrt.raw" ||
  fail "lkrt --mask exited $?"
[ "$(png_size "$WORK/lkrt.png")" = "16 16" ] || fail "lkrt drew $(png_size "$WORK/lkrt.png"), not 16x16"
[ "$(stat -c %s "$WORK/lkrt.raw")" = $((3 * 16 * 16 * 4)) ] || fail "--raw holds $(stat -c %s "$WORK/lkrt.raw") bytes"
read -r max mean <<< "$(png_diff "$WORK/latentkit.png" "$WORK/lkrt.png")"
[ "${max:-9}" -le 1 ] || fail "lkrt (fp32) and latentkit generate differ by up to $max levels (mean $mean)"
echo "ok: lkrt --mask (fp32) vs latentkit generate --mask: max difference $max levels, mean $mean"
"$LKRT" "$WORK/spade8.lkm" --mask "$WORK/map.png" --z "$WORK/z.json" --out "$WORK/lkrt8.png" || fail "lkrt int8 --mask exited $?"
read -r max8 mean8 <<< "$(png_diff "$WORK/latentkit.png" "$WORK/lkrt8.png")"
python3 -c "import sys; sys.exit(0 if float('$mean8') < 2 else 1)" || fail "int8 weights differ from latentkit by a mean of $mean8 levels"
echo "ok: lkrt --mask (int8) vs latentkit generate --mask: max difference $max8 levels, mean $mean8"

# Other styles and maps draw other images; the same ones the same.
"$LKRT" "$WORK/spade.lkm" --mask "$WORK/map.png" --seed 3 --out "$WORK/s3.png" || fail "lkrt --seed 3 exited $?"
"$LKRT" "$WORK/spade.lkm" --mask "$WORK/map.png" --seed 3 --out "$WORK/s3b.png" || fail "lkrt --seed 3 exited $?"
"$LKRT" "$WORK/spade.lkm" --mask "$WORK/map.png" --seed 4 --out "$WORK/s4.png" || fail "lkrt --seed 4 exited $?"
"$LKRT" "$WORK/spade.lkm" --mask "$WORK/map2.png" --seed 3 --out "$WORK/m3.png" || fail "lkrt on another map exited $?"
cmp -s "$WORK/s3.png" "$WORK/s3b.png" || fail "the same map and seed drew two different images"
cmp -s "$WORK/s3.png" "$WORK/s4.png" && fail "seeds 3 and 4 drew the same image"
cmp -s "$WORK/s3.png" "$WORK/m3.png" && fail "two maps drew the same image"

# A painted map with a color outside the palette, a wrong size, and options that do not apply.
"$L" data preview --data shapes-scenes --size 16 --n 1 --out "$WORK/photo.png" --threads 1 2> /dev/null
"$L" data preview --data shapes-scenes --size 24 --as map --n 1 --out "$WORK/big.png" --threads 1 2> /dev/null
expect_error 2 "not a color of the scenes palette; the valid colors are: 0 background #000000" -- \
  "$LKRT" "$WORK/spade.lkm" --mask "$WORK/photo.png" --out "$WORK/x.png"
# The pixel and color latentkit names for the same file.
pixel=$("$L" generate --run "$WORK/spade" --mask "$WORK/photo.png" --out "$WORK/x.png" --threads 1 2>&1 | grep -o 'pixel ([0-9]*, [0-9]*) is #[0-9a-f]*')
[ -n "$pixel" ] || fail "latentkit generate does not name the bad pixel of photo.png"
expect_error 2 "photo.png: $pixel, not a color" -- "$LKRT" "$WORK/spade.lkm" --mask "$WORK/photo.png" --out "$WORK/x.png"
expect_error 2 "big.png is 24x24 but the model draws 16x16: give a map of that size" -- \
  "$LKRT" "$WORK/spade.lkm" --mask "$WORK/big.png" --out "$WORK/x.png"
expect_error 2 "give --mask MAP.png" -- "$LKRT" "$WORK/spade.lkm" --seed 1 --out "$WORK/x.png"
expect_error 2 "--label does not apply to a mask generator" -- "$LKRT" "$WORK/spade.lkm" --mask "$WORK/map.png" --label 1 --out "$WORK/x.png"
expect_error 2 "--steps / --sampler" -- "$LKRT" "$WORK/spade.lkm" --mask "$WORK/map.png" --steps 4 --out "$WORK/x.png"
finish
