#!/usr/bin/env bash
# Text to image on the device: a tiny t2i run (16 px, a few seconds of training) exported
# to .lkm with its text encoder and vocabulary, lkrt sampling from prompts (unknown words
# warned about, guidance, both samplers), and the errors a user meets. The numbers (lkrt
# against LibTorch) are checked by export's own self-check, which this reads, and by
# ExportLkm.TextToImageInTheRuntime. $2 is the lkrt binary.
source "$(dirname "$0")/lib.sh"
L="$LATENTKIT"
LKRT="$2"
MODELS="$(cd "$(dirname "$0")/../.." && pwd)/models"

"$L" train --model t2i --data emoji --size 16 --limit 32 --epochs 1 --batch 16 --width 8 --text-width 16 --text-layers 1 \
  --threads 1 --out "$WORK/run" > /dev/null 2> "$WORK/train.log" || fail "train --model t2i exited $?: $(tail -3 "$WORK/train.log")"

"$L" export --run "$WORK/run" --format lkm --out "$WORK/t2i.lkm" --vectors "$WORK/v.json" --threads 1 2> "$WORK/export.log" ||
  fail "export of a t2i run exited $?: $(cat "$WORK/export.log")"
# The self-check: the network and the text encoder through lkrt against LibTorch, each
# under the bound for fp32 (1e-8), as "lkrt matches it to X, its text encoder to Y".
text_error=$(sed -n 's/.*its text encoder to \([0-9.e+-]*\),.*/\1/p' "$WORK/export.log")
[ -n "$text_error" ] || fail "export does not report the text encoder's check: $(cat "$WORK/export.log")"
awk -v e="$text_error" 'BEGIN { exit !(e < 1e-10) }' || fail "lkrt's text encoder misses LibTorch's by $text_error"
grep -q '"prompts"' "$WORK/v.json" && grep -q '"text"' "$WORK/v.json" || fail "--vectors has no prompts and text embeddings"
"$L" export --run "$WORK/run" --format lkm --weights int8 --out "$WORK/t2i8.lkm" --threads 1 2> /dev/null ||
  fail "int8 export of a t2i run exited $?"
"$L" export --run "$WORK/run" --format onnx --out "$WORK/t2i.onnx" --threads 1 2> /dev/null || fail "onnx export of a t2i run exited $?"
grep -qa "text" "$WORK/t2i.onnx" || fail "the ONNX file has no text input"

"$LKRT" "$WORK/t2i.lkm" --info > "$WORK/info.txt" || fail "lkrt --info exited $?"
grep -q "text         encoder of width 16, prompts of up to 24 words" "$WORK/info.txt" ||
  fail "lkrt --info does not describe the text encoder: $(head -8 "$WORK/info.txt")"

# "an emoji of", "skin tone", "in style" and the vendors are in every vocabulary (the templates).
P="an emoji in google style"
"$LKRT" "$WORK/t2i.lkm" --prompt "$P" --guidance 3 --steps 10 --sampler dpmpp --seed 1 --out "$WORK/a.png" \
  --raw "$WORK/a.raw" 2> "$WORK/a.log" || fail "lkrt --prompt exited $?: $(cat "$WORK/a.log")"
[ "$(png_size "$WORK/a.png")" = "16 16" ] || fail "lkrt --prompt wrote a $(png_size "$WORK/a.png") image, not 16x16"
grep -q 'prompt "an emoji in google style", guidance 3' "$WORK/a.log" || fail "lkrt does not say what it sampled: $(cat "$WORK/a.log")"
grep -q "warning" "$WORK/a.log" && fail "known words were warned about: $(cat "$WORK/a.log")"
"$LKRT" "$WORK/t2i.lkm" --prompt "AN EMOJI, in Google-style!" --guidance 3 --steps 10 --sampler dpmpp --seed 1 \
  --out "$WORK/b.png" --raw "$WORK/b.raw" 2> /dev/null || fail "lkrt --prompt (other spelling) exited $?"
cmp -s "$WORK/a.raw" "$WORK/b.raw" || fail "the same words in other case and punctuation gave another image"
"$LKRT" "$WORK/t2i.lkm" --prompt "$P" --steps 10 --sampler dpmpp --seed 1 --out "$WORK/c.png" --raw "$WORK/c.raw" 2> /dev/null ||
  fail "lkrt --prompt without guidance exited $?"
cmp -s "$WORK/a.raw" "$WORK/c.raw" && fail "guidance 3 and 1 gave the same image"
"$LKRT" "$WORK/t2i.lkm" --steps 10 --seed 1 --out "$WORK/none.png" 2> "$WORK/none.log" || fail "lkrt without a prompt exited $?"
grep -q "no prompt" "$WORK/none.log" || fail "lkrt without a prompt: $(cat "$WORK/none.log")"
"$LKRT" "$WORK/t2i8.lkm" --prompt "$P" --steps 4 --out "$WORK/d.png" 2> /dev/null || fail "lkrt on the int8 export exited $?"
is_png "$WORK/d.png" || fail "lkrt on the int8 export wrote no PNG"

# Unknown words: a warning each, with the nearest known words; the image is still made.
"$LKRT" "$WORK/t2i.lkm" --prompt "zzyzx emoj" --steps 4 --out "$WORK/u.png" 2> "$WORK/u.log" || fail "lkrt on unknown words exited $?"
grep -q "warning: unknown word 'zzyzx' (nearest known: " "$WORK/u.log" || fail "no warning for zzyzx: $(cat "$WORK/u.log")"
grep -q "warning: unknown word 'emoj' (nearest known: emoji" "$WORK/u.log" || fail "emoj is not near emoji: $(cat "$WORK/u.log")"
is_png "$WORK/u.png" || fail "lkrt wrote no image for a prompt of unknown words"

expect_error 2 "the prompt is empty" -- "$LKRT" "$WORK/t2i.lkm" --prompt " -- " --out "$WORK/x.png"
expect_error 2 "the prompt has 25 words; this model reads at most 24" -- "$LKRT" "$WORK/t2i.lkm" \
  --prompt "$(printf 'emoji %.0s' $(seq 25))" --out "$WORK/x.png"
expect_error 2 "give --prompt TEXT" -- "$LKRT" "$WORK/t2i.lkm" --guidance 3 --out "$WORK/x.png"
expect_error 2 "conditioned on text" -- "$LKRT" "$WORK/t2i.lkm" --label 1 --out "$WORK/x.png"
"$L" export --run "$MODELS/fashion-ddpm" --format lkm --out "$WORK/ddpm.lkm" --threads 1 2> /dev/null || fail "export of fashion-ddpm exited $?"
expect_error 2 "this model has no text encoder" -- "$LKRT" "$WORK/ddpm.lkm" --prompt "a shoe" --out "$WORK/x.png"
"$L" export --run "$MODELS/fashion-dcgan" --format lkm --out "$WORK/gen.lkm" --threads 1 2> /dev/null || fail "export of fashion-dcgan exited $?"
expect_error 2 "does not apply to a generator" -- "$LKRT" "$WORK/gen.lkm" --prompt "a shoe" --out "$WORK/x.png"
finish
