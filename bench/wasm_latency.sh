#!/usr/bin/env bash
# lkrt in WebAssembly against ONNX Runtime Web (npm onnxruntime-web, its wasm backend), in
# one headless Chromium run, both on one thread with SIMD: batch-1 latency of the same
# exported models (models/fashion-dcgan; models/emoji-cgan with a label; models/emoji-vae32's
# decoder; models/fashion-enhance on a 28 px and a 256 px image; models/emoji-enhance at
# 64 px), lkrt fp32 and int8 against ORT fp32, with the outputs' normalised error so both
# compute the same thing; file sizes and the .wasm sizes (raw and gzip). Then placeholder
# decode and draw (putImageData on a canvas per image): lkrt's decodeCode (24-byte codes from
# `latentkit placeholder encode`: models/emoji-vae32 on emoji test images,
# models/fashion-cgan24 on Fashion-MNIST test images) against ThumbHash's and BlurHash's JS
# decoders on the same images (the hashes made by their npm packages).
# Usage: bench/wasm_latency.sh [--seconds S=2] [--repeat R=3] [--images N=24] [--profile]
#   S: about how long each runtime is timed per case and round (20 calls at least);
#   R: rounds, each timing every runtime in turn; a runtime's figure is the median of its
#   round with the lowest median, p10 and p90 of the same round (load from other processes
#   only ever adds time); N: test images of each set for the placeholder decode.
#   --profile: instead of the tables, where each runtime spends its time per case (Chrome's
#   CPU profiler, S s of calls each); for lkrt's function names, build with --profiling-funcs
#   and point LKRT_PKG at that package folder.
# Needs scripts/build wasm, build/latentkit, node_modules (scripts/setup) and /usr/bin/chromium
# (CHROMIUM=path overrides). LATENTKIT_BIN=path runs that latentkit.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=2
repeat=3
images=24
mode=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --images) images=$2; shift 2 ;;
    --profile) mode=--profile; shift ;;
    *) echo "usage: bench/wasm_latency.sh [--seconds S] [--repeat R] [--images N] [--profile]" >&2; exit 2 ;;
  esac
done
bin=${LATENTKIT_BIN:-}
if [ -z "$bin" ]; then
  scripts/setup
  scripts/build latentkit >/dev/null
  bin=build/latentkit
fi
[ -f build/wasm/pkg/lkrt-wasm.wasm ] || scripts/build wasm >/dev/null
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# A step's output only when it fails.
quiet() { "$@" >"$dir/step.log" 2>&1 || { cat "$dir/step.log" >&2; exit 1; }; }

# The models, exported as a user exports them.
for run in fashion-dcgan emoji-cgan emoji-vae32 fashion-enhance emoji-enhance; do
  quiet "$bin" export --run "models/$run" --format onnx --out "$dir/$run.onnx" --threads 1
  for w in fp32 int8; do
    quiet "$bin" export --run "models/$run" --format lkm --weights "$w" --out "$dir/$run-$w.lkm" --threads 1
  done
done

# The enhancers' inputs (a Fashion-MNIST test image, at 28 px and scaled to 256 px; an emoji
# test image; the node side damages them with seeded noise) and the placeholder images.
quiet "$bin" data preview --data fashion-mnist --split test --n 1 --seed 3 --out "$dir/fashion-28.png" --threads 1
quiet "$bin" data preview --data fashion-mnist --split test --n 1 --seed 3 --size 256 --out "$dir/fashion-256.png" --threads 1
# Placeholders: 24-byte codes of emoji test images for models/emoji-vae32 (its posterior) and
# of Fashion-MNIST test images for models/fashion-cgan24 (hybrid inversion), as
# docs/placeholders.md makes them.
for w in fp32 int8; do
  quiet "$bin" export --run models/fashion-cgan24 --format lkm --weights "$w" --out "$dir/fashion-cgan24-$w.lkm" --threads 1
done
mkdir "$dir/emoji" "$dir/fashion"
for ((i = 0; i < images; ++i)); do
  quiet "$bin" data preview --data emoji --split test --n 1 --seed "$i" --out "$dir/emoji/$i.png" --threads 1
  quiet "$bin" data preview --data fashion-mnist --split test --n 1 --seed "$i" --out "$dir/fashion/$i.png" --threads 1
done
"$bin" placeholder encode --run models/emoji-vae32 --bytes 24 --threads 1 "$dir"/emoji/*.png \
  >"$dir/emoji/codes.txt" 2>"$dir/step.log" || { cat "$dir/step.log" >&2; exit 1; }
"$bin" placeholder encode --run models/fashion-cgan24 --features models/fashion-classifier --bytes 24 --threads 1 \
  "$dir"/fashion/*.png >"$dir/fashion/codes.txt" 2>"$dir/step.log" || { cat "$dir/step.log" >&2; exit 1; }

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $("${CHROMIUM:-/usr/bin/chromium}" --version 2>/dev/null | head -1)"
echo "command: bench/wasm_latency.sh --seconds $seconds --repeat $repeat --images $images $mode"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
node bench/web/wasm_latency.mjs "$dir" "$seconds" "$repeat" $mode
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
