#!/usr/bin/env bash
# latentkit placeholder codes (16, 24, 32, 48 bytes) against BlurHash (every component count
# up to 28 characters, npm's encoder and a port of the C reference) and ThumbHash, on the
# first N test images of DATA: PSNR, SSIM, (RGBA) alpha MAE, classifier-feature distance,
# class agreement; the ways of finding latents on the first INVERT_N; decode time on 1 thread.
# Usage: bench/placeholder_vs_hashes.sh [RUN] [N=1000] [INVERT_N=100] [VAE_RUN=models/fashion-cvae|none]
#                                       [DATA=fashion-mnist] [CLASSIFIER=models/fashion-classifier]
# Color: bench/placeholder_vs_hashes.sh models/emoji-vae32 696 100 none emoji models/emoji-classifier
# Needs a built bench_placeholder_vs_hashes (LATENTKIT_BENCH_BIN=path runs that binary) and
# node_modules/{blurhash,thumbhash} (scripts/setup installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-models/fashion-cgan24}
n=${2:-1000}
invert_n=${3:-100}
vae=${4:-models/fashion-cvae}
[ "$vae" = none ] && vae=""
data=${5:-fashion-mnist}
classifier=${6:-models/fashion-classifier}
bin=${LATENTKIT_BENCH_BIN:-}
if [ -z "$bin" ]; then
  scripts/setup
  scripts/build bench_placeholder_vs_hashes >/dev/null
  bin=build/bench_placeholder_vs_hashes
fi
dir=${PLACEHOLDER_BENCH_DIR:-$(mktemp -d)}
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" prepare "$dir" "$n" "$data"
node bench/placeholder/hashes.mjs --in "$dir/originals.npy" --out "$dir/hashes" --max-chars 28 2> /dev/null
"$bin" measure "$dir" "$run" "$classifier" "$vae" "$invert_n" "${PLACEHOLDER_PICTURE:-$dir/placeholders.png}"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); results in $dir"
