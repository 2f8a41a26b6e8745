#!/usr/bin/env bash
# Color through the real binary: the emoji set, RGBA PNGs in and out (straight alpha in the
# files, a checkerboard under grids), --background, a folder with alpha, a tiny conditional
# GAN with DiffAugment that generates RGBA, its export to .lkm and ONNX, and lkrt writing
# RGBA. $2 is the lkrt binary.
source "$(dirname "$0")/lib.sh"
L="$LATENTKIT"
LKRT="$2"

# The PNG color type (IHDR byte 25): 2 RGB, 6 RGBA.
png_color_type() { od -An -tu1 -j25 -N1 "$1" | tr -d ' '; }

"$L" data info --data emoji:google --split test --threads 1 > "$WORK/info.txt" 2>&1 || fail "data info exited $?: $(cat "$WORK/info.txt")"
grep -q "images    348 of 4x64x64" "$WORK/info.txt" || fail "emoji:google test is not 348 RGBA images: $(head -3 "$WORK/info.txt")"
grep -q "labels    category (9), subcategory (98), vendor (2), skin-tone (6)" "$WORK/info.txt" || fail "labels missing: $(cat "$WORK/info.txt")"

"$L" data preview --data emoji --n 1 --seed 4 --out "$WORK/one.png" --threads 1 2> /dev/null || fail "preview --n 1 exited $?"
[ "$(png_color_type "$WORK/one.png")" = 6 ] || fail "one emoji is not written as RGBA"
[ "$(png_size "$WORK/one.png")" = "64 64" ] || fail "one emoji is $(png_size "$WORK/one.png"), not 64x64"
"$L" data preview --data emoji --n 9 --out "$WORK/grid.png" --threads 1 2> /dev/null || fail "preview grid exited $?"
[ "$(png_color_type "$WORK/grid.png")" = 2 ] || fail "a grid of RGBA images is not RGB on a checkerboard"
"$L" data preview --data emoji --size 32 --background white --n 1 --out "$WORK/white.png" --threads 1 2> /dev/null ||
  fail "preview --background exited $?"
[ "$(png_color_type "$WORK/white.png")" = 2 ] || fail "--background white does not give RGB"
[ "$(png_size "$WORK/white.png")" = "32 32" ] || fail "--size 32 gave $(png_size "$WORK/white.png")"

# A folder with an RGBA file is read as RGBA.
mkdir -p "$WORK/icons"
cp "$WORK/one.png" "$WORK/icons/a.png"
cp "$WORK/white.png" "$WORK/icons/b.png"
"$L" data info --data "folder:$WORK/icons" --size 32 --threads 1 2>&1 | grep -q "images    2 of 4x32x32" ||
  fail "a folder with an RGBA file is not read as RGBA"

# A tiny vendor-conditional GAN with DiffAugment on 32 px RGBA.
"$L" train --model cgan --data emoji --size 32 --limit 128 --condition-on vendor --augment diffaug --width 8 \
  --batch 16 --max-steps 4 --threads 1 --out "$WORK/cgan" > "$WORK/train.log" 2>&1 || fail "train exited $?: $(tail -3 "$WORK/train.log")"
grep -q '"augment": "diffaug:color,translation,cutout"' "$WORK/cgan/config.json" || fail "config.json lacks the augment policy"
grep -q '"condition_on": "vendor"' "$WORK/cgan/config.json" || fail "config.json lacks condition_on vendor"
"$L" generate --run "$WORK/cgan" --n 1 --class twitter --seed 2 --out "$WORK/gen.png" --threads 1 2> /dev/null || fail "generate exited $?"
[ "$(png_color_type "$WORK/gen.png")" = 6 ] || fail "generate --n 1 of an RGBA model is not RGBA"

# Steering it: attribute axes (coverage, hue) on RGBA; a sweep keeps one class throughout.
"$L" axes fit --run "$WORK/cgan" --n 64 --no-cache --threads 1 --out "$WORK/axes.json" > "$WORK/axes.log" 2>&1 ||
  fail "axes fit exited $?: $(tail -3 "$WORK/axes.log")"
grep -q '"name": "coverage"' "$WORK/axes.json" || fail "no coverage axis for an RGBA model"
"$L" edit --run "$WORK/cgan" --axes "$WORK/axes.json" --class twitter --sweep coverage --steps 3 --out "$WORK/sweep.png" \
  --threads 1 2> /dev/null || fail "edit --class twitter exited $?"
[ "$(png_size "$WORK/sweep.png")" = "$((3 * 32 + 4 * 2)) $((32 + 2 * 2))" ] || fail "the sweep is $(png_size "$WORK/sweep.png")"
# A latent file from the editor carries its class: the strip is drawn in it unless --class says otherwise.
z=$(printf '0.1,%.0s' $(seq 99))0.1
echo "{\"z\": [$z], \"class\": 1}" > "$WORK/latent.json"
for c in "" "--class 1" "--class 0"; do
  # shellcheck disable=SC2086
  "$L" edit --run "$WORK/cgan" --axes "$WORK/axes.json" --z "$WORK/latent.json" $c --sweep coverage --steps 2 \
    --out "$WORK/z${c// /}.png" --threads 1 2> /dev/null || fail "edit --z $c exited $?"
done
cmp -s "$WORK/z.png" "$WORK/z--class1.png" || fail "edit --z did not draw the latent file's class"
cmp -s "$WORK/z.png" "$WORK/z--class0.png" && fail "edit --z --class 0 drew the same images as class 1"
# --follow holds a locked feature along the path in the same class.
"$L" edit --run "$WORK/cgan" --axes "$WORK/axes.json" --z "$WORK/latent.json" --follow 2 --move brightness=1 \
  --lock saturation --out "$WORK/follow.png" --threads 1 2> "$WORK/follow.log" ||
  fail "edit --follow on a conditional model exited $?: $(tail -2 "$WORK/follow.log")"
expect_error 2 "unknown class 'apple'" -- "$L" edit --run "$WORK/cgan" --axes "$WORK/axes.json" --class apple \
  --sweep coverage --out "$WORK/bad.png"

"$L" export --run "$WORK/cgan" --format lkm --out "$WORK/cgan.lkm" --threads 1 2> "$WORK/export.log" ||
  fail "export exited $?: $(cat "$WORK/export.log")"
grep -q "folded graph matches the model" "$WORK/export.log" || fail "export does not report its self-check"
"$L" export --run "$WORK/cgan" --format onnx --out "$WORK/cgan.onnx" --threads 1 2> /dev/null || fail "onnx export exited $?"
"$LKRT" "$WORK/cgan.lkm" --label 1 --seed 3 --out "$WORK/lkrt.png" 2> /dev/null || fail "lkrt exited $?"
[ "$(png_color_type "$WORK/lkrt.png")" = 6 ] || fail "lkrt does not write an RGBA model as RGBA"
[ "$(png_size "$WORK/lkrt.png")" = "32 32" ] || fail "lkrt wrote $(png_size "$WORK/lkrt.png")"

# Diffusion on RGBA: inpaint and restore take an RGBA image as it is and write RGBA.
"$L" train --model ddpm --tasks inpaint,restore --data emoji:google --size 16 --limit 32 --width 8 --batch 8 \
  --max-steps 2 --threads 1 --out "$WORK/ddpm" > "$WORK/ddpm.log" 2>&1 || fail "ddpm train exited $?: $(tail -3 "$WORK/ddpm.log")"
for tool in "inpaint --mask center" "restore --degrade jpeg"; do
  # shellcheck disable=SC2086
  "$L" $tool --run "$WORK/ddpm" --image "$WORK/one.png" --steps 2 --seed 1 --out "$WORK/diffused.png" --threads 1 \
    2> "$WORK/diffused.log" || fail "$tool on an RGBA model exited $?: $(tail -2 "$WORK/diffused.log")"
  [ "$(png_color_type "$WORK/diffused.png")" = 6 ] || fail "$tool of an RGBA model does not write RGBA"
done

# colorize: pix2pix learns gray to color on RGBA; enhance keeps the input's alpha.
"$L" train --model pix2pix --task colorize,deblur --data emoji:google --size 32 --limit 64 --width 4 --batch 16 \
  --max-steps 2 --threads 1 --out "$WORK/p2p" > "$WORK/p2p.log" 2>&1 || fail "pix2pix colorize exited $?: $(tail -3 "$WORK/p2p.log")"
"$L" enhance --run "$WORK/p2p" --image "$WORK/one.png" --degrade colorize --out "$WORK/colored.png" --threads 1 2> /dev/null ||
  fail "enhance --degrade colorize exited $?"
[ "$(png_color_type "$WORK/colored.png")" = 6 ] || fail "enhance of an RGBA model does not write RGBA"
expect_error 2 "--task colorize needs color data" -- "$L" train --model pix2pix --task colorize --data shapes:32 --channels 1 \
  --batch 16 --max-steps 1 --out "$WORK/p2p-gray"
finish
