#!/usr/bin/env bash
# Every run folder in models/ (written before the one training loop) still reads as a run:
# --resume parses its config.json into the family's options and gets as far as looking for a
# checkpoint (models/ ship none), and its generator still generates.
source "$(dirname "$0")/lib.sh"
MODELS="$(cd "$(dirname "$0")/../.." && pwd)/models"

for model in fashion-dcgan fashion-cgan fashion-cgan24 fashion-vae fashion-cvae fashion-ddpm fashion-enhance \
             shapes-dcgan fashion-classifier shapes-classifier; do
  copy="$WORK/$model"
  mkdir -p "$copy"
  cp "$MODELS/$model/config.json" "$MODELS/$model/model.pt" "$copy/"
  resume=(train --resume --out "$copy")
  case "$model" in *classifier) resume=(classifier train --resume --out "$copy") ;; esac
  expect_error 2 "has no checkpoint yet" -- "$LATENTKIT" "${resume[@]}" --threads 1
  case "$model" in
    *classifier | fashion-enhance) ;;
    *)
      steps=()
      [ "$model" = fashion-ddpm ] && steps=(--sample-steps 3)
      "$LATENTKIT" generate --run "$copy" --n 1 "${steps[@]}" --threads 1 --out "$WORK/$model.png" 2> "$WORK/$model.log" ||
        fail "$model: generate exited $?: $(tail -2 "$WORK/$model.log")"
      size=$(grep -o '"image_size": *[0-9]*' "$copy/config.json" | head -1 | grep -o '[0-9]*$')
      [ "$(png_size "$WORK/$model.png")" = "$size $size" ] || fail "$model: generate wrote no ${size}x$size PNG"
      ;;
  esac
done
# The encoder of fashion-cgan24 predates the loop (encoder.json, no config.json): it still loads.
cp -r "$MODELS/fashion-cgan24/encoder" "$WORK/fashion-cgan24/"
"$LATENTKIT" invert --run "$WORK/fashion-cgan24" --method encoder --class 0 --image "$WORK/fashion-cgan24.png" --threads 1 \
  --out "$WORK/z.json" > /dev/null 2> "$WORK/invert.log" || fail "the old encoder does not load: $(tail -2 "$WORK/invert.log")"
finish
