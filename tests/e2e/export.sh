#!/usr/bin/env bash
# Export through the real binary and the runtime's command on the result: a conditional
# GAN and a VAE to .lkm (fp32 and int8) and ONNX, lkrt generating from them, the enhancer
# and the diffusion model (sampling, inpainting) on the device, and the errors a user meets.
# $2 is the lkrt binary.
source "$(dirname "$0")/lib.sh"
L="$LATENTKIT"
LKRT="$2"
MODELS="$(cd "$(dirname "$0")/../.." && pwd)/models"
DATA="$(cd "$(dirname "$0")/../data" && pwd)"

"$L" export --run "$MODELS/fashion-cgan" --format lkm --weights int8 --out "$WORK/cgan.lkm" 2> "$WORK/export.log" ||
  fail "export --format lkm exited $?: $(cat "$WORK/export.log")"
grep -q "folded graph matches the model" "$WORK/export.log" || fail "export does not report its self-check"
"$L" export --run "$MODELS/fashion-cgan" --format lkm --out "$WORK/cgan32.lkm" 2> /dev/null || fail "export fp32 exited $?"
fp32=$(stat -c %s "$WORK/cgan32.lkm")
int8=$(stat -c %s "$WORK/cgan.lkm")
[ $((int8 * 100 / fp32)) -lt 30 ] || fail "the int8 file is $int8 bytes, not under 30% of fp32's $fp32"
"$LKRT" "$WORK/cgan.lkm" --info > "$WORK/info.txt" || fail "lkrt --info exited $?"
grep -q "num_classes  10" "$WORK/info.txt" || fail "lkrt --info does not show 10 classes: $(head -5 "$WORK/info.txt")"
"$LKRT" "$WORK/cgan.lkm" --label 7 --seed 3 --out "$WORK/sneaker.png" 2> /dev/null || fail "lkrt --label 7 exited $?"
[ "$(png_size "$WORK/sneaker.png")" = "28 28" ] || fail "lkrt wrote a $(png_size "$WORK/sneaker.png") image, not 28x28"

# A VAE posterior from latentkit, decoded by the runtime.
"$L" export --run "$MODELS/fashion-vae" --format lkm --out "$WORK/vae.lkm" 2> /dev/null || fail "export of a vae exited $?"
"$L" encode --run "$MODELS/fashion-vae" "$WORK/sneaker.png" > "$WORK/z.json" 2> /dev/null || fail "encode exited $?"
"$LKRT" "$WORK/vae.lkm" --z "$WORK/z.json" --out "$WORK/vae.png" 2> /dev/null || fail "lkrt --z exited $?"
is_png "$WORK/vae.png" || fail "lkrt --z wrote no PNG"

"$L" export --run "$MODELS/fashion-dcgan" --format onnx --out "$WORK/gen.onnx" --vectors "$WORK/v.json" 2> /dev/null ||
  fail "export --format onnx exited $?"
[ "$(stat -c %s "$WORK/gen.onnx")" -gt 3000000 ] || fail "the ONNX file cannot hold fashion-dcgan's 759,489 fp32 weights"
grep -q '"outputs"' "$WORK/v.json" || fail "--vectors wrote no outputs"

# The enhancer (pix2pix) and the diffusion denoiser, each checked through lkrt before it is written.
"$L" export --run "$MODELS/fashion-enhance" --format lkm --weights int8 --out "$WORK/enhance.lkm" 2> "$WORK/export.log" ||
  fail "export of an enhancer exited $?: $(cat "$WORK/export.log")"
grep -q "lkrt matches it" "$WORK/export.log" || fail "export does not report lkrt's check: $(cat "$WORK/export.log")"
"$LKRT" "$WORK/enhance.lkm" --image "$WORK/sneaker.png" --out "$WORK/enhanced.png" || fail "lkrt --image exited $?"
[ "$(png_size "$WORK/enhanced.png")" = "28 28" ] || fail "lkrt enhanced to $(png_size "$WORK/enhanced.png"), not 28x28"
"$LKRT" "$WORK/enhance.lkm" --image "$DATA/mask_20_box.png" --out "$WORK/enhanced20.png" || fail "lkrt --image 20x20 exited $?"
[ "$(png_size "$WORK/enhanced20.png")" = "20 20" ] || fail "lkrt does not keep a 20x20 image's size"
"$L" export --run "$MODELS/fashion-ddpm" --format lkm --out "$WORK/ddpm.lkm" 2> /dev/null || fail "export of a ddpm exited $?"
"$LKRT" "$WORK/ddpm.lkm" --info > "$WORK/ddpm-info.txt" || fail "lkrt --info on a denoiser exited $?"
grep -q "trained for inpainting and restoring" "$WORK/ddpm-info.txt" || fail "lkrt --info: $(head -4 "$WORK/ddpm-info.txt")"
"$LKRT" "$WORK/ddpm.lkm" --seed 3 --steps 10 --sampler dpmpp --out "$WORK/ddpm.png" 2> /dev/null || fail "lkrt dpmpp exited $?"
[ "$(png_size "$WORK/ddpm.png")" = "28 28" ] || fail "lkrt sampled a $(png_size "$WORK/ddpm.png") image"
"$LKRT" "$WORK/ddpm.lkm" --inpaint "$WORK/sneaker.png" --mask "$DATA/mask_28_box.png" --steps 5 --out "$WORK/filled.png" \
  2> /dev/null || fail "lkrt --inpaint exited $?"
is_png "$WORK/filled.png" || fail "lkrt --inpaint wrote no PNG"
expect_error 2 "nothing to fill" -- "$LKRT" "$WORK/ddpm.lkm" --inpaint "$WORK/sneaker.png" --mask "$DATA/mask_28_empty.png" --out "$WORK/x.png"
expect_error 2 "the model works on 28x28" -- "$LKRT" "$WORK/ddpm.lkm" --restore "$DATA/mask_20_box.png" --out "$WORK/x.png"
expect_error 2 "does not apply to an enhancer" -- "$LKRT" "$WORK/enhance.lkm" --steps 4 --image "$WORK/sneaker.png" --out "$WORK/x.png"
expect_error 2 "needs --image" -- "$LKRT" "$WORK/enhance.lkm" --out "$WORK/x.png"

expect_error 2 "int4 not in" -- "$L" export --run "$MODELS/fashion-dcgan" --format lkm --weights int4 --out "$WORK/x.lkm"
expect_error 2 "ONNX export writes fp32" -- "$L" export --run "$MODELS/fashion-dcgan" --format onnx --weights int8 --out "$WORK/x.onnx"
expect_error 2 "not found" -- "$L" export --run "$WORK/none" --format lkm --out "$WORK/x.lkm"
expect_error 2 "out of range" -- "$LKRT" "$WORK/cgan.lkm" --label 10 --out "$WORK/x.png"
head -c 1000 "$WORK/cgan.lkm" > "$WORK/cut.lkm"
expect_error 1 "cut.lkm" -- "$LKRT" "$WORK/cut.lkm" --out "$WORK/x.png"
finish
