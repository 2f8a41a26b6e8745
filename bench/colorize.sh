#!/usr/bin/env bash
# Colorization (issue 24): the gray input, a plain L1 U-Net, pix2pix and the diffusion model
# on the emoji test split in one run, against the originals: feature distance and FID in the
# emoji classifier's features, its accuracy, colorfulness (Hasler & Suesstrunk) and its gap to
# the originals', CIE76 delta E, ms per image; then the goal (diffusion's feature distance
# <= 0.9 x the L1 U-Net's, colorfulness within 5 of the originals'). bench/colorize.cpp says how.
# Usage: bench/colorize.sh [N=0: all 696] [THREADS=2] [PICTURE.png|-] [DDPM=runs/emoji-colorize]
#                          [L1=runs/emoji-l1] [PIX2PIX=models/emoji-enhance] [CLASSIFIER=models/emoji-classifier]
# (LATENTKIT_BENCH_BIN=path runs that binary instead of building build/bench_colorize.) The
# diffusion model samples every image (DDIM at its sample_steps): minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${LATENTKIT_BENCH_BIN:-}
if [ -z "$bin" ]; then
  scripts/build bench_colorize >/dev/null
  bin=build/bench_colorize
fi
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, threads ${2:-2}; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" "${1:-0}" "${2:-2}" "${3:--}" "${4:-runs/emoji-colorize}" "${5:-runs/emoji-l1}" "${6:-models/emoji-enhance}" \
  "${7:-models/emoji-classifier}"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
