#!/usr/bin/env bash
# `latentkit generate` as a user runs it (the whole process: start, load, sample, write the
# PNG) against bench_diffusion speed's timing of the sampler alone, in one run: 64 images of
# models/fashion-ddpm by DDIM 50 steps on 2 threads. The CLI should be within 10% of it (the
# process set-up of every command holds OpenBLAS to one thread beside LibTorch's OpenMP).
# Usage: bench/generate_speed.sh [RUN=models/fashion-ddpm]      (run it alone)
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-models/fashion-ddpm}
scripts/build latentkit bench_diffusion >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# The best of 3 of each, alternating (a 2-core machine's timings wander by 10%).
sampler=1e9 cli=1e9
for _ in 1 2 3; do
  s=$(build/bench_diffusion speed "$run" | sed -n 's/^DDIM 50 steps (64 images) *\([0-9.]*\) s.*/\1/p')
  start=$(date +%s.%N)
  build/latentkit generate --run "$run" --n 64 --sample-steps 50 --threads 2 --out "$out/grid.png" 2>/dev/null
  c=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
  sampler=$(awk -v a="$sampler" -v b="$s" 'BEGIN { print (b < a ? b : a) }')
  cli=$(awk -v a="$cli" -v b="$c" 'BEGIN { print (b < a ? b : a) }')
done
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
printf "bench_diffusion speed (the sampler alone, best of 3):      %6.2f s\n" "$sampler"
printf "latentkit generate --n 64 (the whole command, best of 3):  %6.2f s   (%.2fx the sampler; goal <= 1.10x)\n" "$cli" \
  "$(awk -v a="$cli" -v b="$sampler" 'BEGIN { print a / b }')"
