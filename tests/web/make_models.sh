#!/usr/bin/env bash
# The browser tests' models: shipped models exported to .lkm, one per kind and weight type,
# and a placeholder code for the VAE. Usage: tests/web/make_models.sh LATENTKIT OUT_DIR
# Writes OUT_DIR/{fashion-dcgan,emoji-cgan,fashion-enhance,fashion-ddpm,emoji-vae32}.lkm,
# OUT_DIR/emoji-vae32.code (the code of Google's grinning face, 1f600), and a tiny
# text-to-image model trained here in a few seconds (16 px, a 1-layer text encoder):
# OUT_DIR/tiny-t2i-run (its run folder, for the editor), OUT_DIR/tiny-t2i.lkm and
# OUT_DIR/tiny-t2i.vectors.json (prompts, their token ids and LibTorch's embeddings of them,
# from latentkit export --vectors); the mask generator OUT_DIR/shapes-spade.lkm and a test
# map for it, OUT_DIR/shapes-spade.map.png.
set -euo pipefail
latentkit=$1
out=$2
root="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$out"
export_model() {  # NAME WEIGHTS
  "$latentkit" export --run "$root/models/$1" --format lkm --weights "$2" --out "$out/$1.lkm" --threads 1 >/dev/null
}
export_model fashion-dcgan fp32
export_model emoji-cgan int8
export_model fashion-enhance fp32
export_model fashion-ddpm fp32
export_model emoji-vae32 fp16
export_model shapes-spade fp32
"$latentkit" data preview --data shapes-scenes --split test --size 64 --as map --n 1 --seed 3 --out "$out/shapes-spade.map.png" \
  --threads 1 2>/dev/null
"$latentkit" placeholder encode --run "$root/models/emoji-vae32" --threads 1 \
  "$root/node_modules/emoji-datasource-google/img/google/64/1f600.png" 2>/dev/null | tail -1 > "$out/emoji-vae32.code"
rm -rf "$out/tiny-t2i-run"
"$latentkit" train --model t2i --data emoji --size 16 --limit 32 --epochs 1 --batch 16 --width 8 --text-width 16 \
  --text-layers 1 --threads 1 --out "$out/tiny-t2i-run" >/dev/null 2>&1
"$latentkit" export --run "$out/tiny-t2i-run" --format lkm --out "$out/tiny-t2i.lkm" --vectors "$out/tiny-t2i.vectors.json" \
  --threads 1 2>/dev/null
echo "wrote $(ls "$out" | wc -l) files into $out"
