#!/usr/bin/env bash
# Wallpapers on the device (issue 25; goal: 1080x2400 in under 2 s on one core): lkrt's time
# to draw a 1080x2400 wallpaper (lkrt_wallpaper: noise, waves, the network in tiles, the
# upscale and the bytes) on one thread at --scale 1, 2 and 4, fp32 and int8 weights, each
# against scale 1 measured in the same run. Two figures per case: "first", the lkrt command's
# own time for its one wallpaper (buffers planned and zeroed for the size: what a phone pays
# once a day), and "warm", the best of R means of lkrt --bench (after a warm-up). The model:
# RUN exported with latentkit export when RUN/model.pt exists, else latentkit's psgan shape
# with random weights (lkrt_make_model wallpaper: the same layers and work).
# Usage: bench/wallpaper_latency.sh [--repeat R=3] [--iterations N=3] [--size WxH=1080x2400] [RUN=models/wallpaper]
# LKRT_BIN, LKRT_MAKE_MODEL and LATENTKIT_BIN run those binaries instead of building build/.
set -euo pipefail
cd "$(dirname "$0")/.."
repeat=3
iterations=3
size=1080x2400
run=models/wallpaper
while [ $# -gt 0 ]; do
  case "$1" in
    --repeat) repeat=$2; shift 2 ;;
    --iterations) iterations=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    -*) echo "usage: bench/wallpaper_latency.sh [--repeat R] [--iterations N] [--size WxH] [RUN]" >&2; exit 2 ;;
    *) run=$1; shift ;;
  esac
done
lkrt=${LKRT_BIN:-}
make_model=${LKRT_MAKE_MODEL:-}
if [ -z "$lkrt" ] || [ -z "$make_model" ]; then
  scripts/build lkrt_cli lkrt_make_model >/dev/null
  lkrt=${lkrt:-build/runtime/lkrt}
  make_model=${make_model:-build/runtime/lkrt_make_model}
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
if [ -f "$run/model.pt" ]; then
  latentkit=${LATENTKIT_BIN:-}
  if [ -z "$latentkit" ]; then
    scripts/build latentkit >/dev/null
    latentkit=build/latentkit
  fi
  for type in fp32 int8; do
    "$latentkit" export --run "$run" --format lkm --weights "$type" --out "$dir/$type.lkm" --threads 1 2> /dev/null
  done
  model="$run (exported)"
else
  for type in fp32 int8; do "$make_model" wallpaper "$dir/$type.lkm" --type "$type"; done
  model="latentkit's psgan shape with random weights (no $run/model.pt)"
fi
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; lkrt on 1 thread"
echo "command: bench/wallpaper_latency.sh --repeat $repeat --iterations $iterations --size $size $run"
echo "model: $model; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A first warm
for type in fp32 int8; do
  for scale in 1 2 4; do
    best_first=""
    best_warm=""
    for ((i = 1; i <= repeat; ++i)); do
      # "lkrt: a 1080x2400 wallpaper at scale 4 in 0.27 s (1 thread)"
      f=$("$lkrt" "$dir/$type.lkm" --size "$size" --date 2026-12-06 --scale "$scale" --out "$dir/w.png" 2>&1 |
        sed -n 's/.* in \([0-9.]*\) s .*/\1/p')
      # "...: 3 wallpapers of 1080x2400 at scale 4, 1 thread: 135.2052 ms each, ..."
      w=$("$lkrt" "$dir/$type.lkm" --size "$size" --date 2026-12-06 --scale "$scale" --bench --iterations "$iterations" |
        sed -n 's/.*: \([0-9.]*\) ms each.*/\1/p')
      f=$(awk -v s="$f" 'BEGIN { printf "%.1f", s * 1000 }')
      best_first=$(awk -v a="$best_first" -v b="$f" 'BEGIN { print (a == "" || b < a) ? b : a }')
      best_warm=$(awk -v a="$best_warm" -v b="$w" 'BEGIN { print (a == "" || b < a) ? b : a }')
    done
    first[$type,$scale]=$best_first
    warm[$type,$scale]=$best_warm
  done
done
echo
printf '%-8s%-7s%-12s%-16s%-12s%-16s%s\n' weights scale "first ms" "vs scale 1" "warm ms" "vs scale 1" "goal (< 2000 ms first)"
for type in fp32 int8; do
  for scale in 1 2 4; do
    awk -v t="$type" -v s="$scale" -v f="${first[$type,$scale]}" -v w="${warm[$type,$scale]}" \
      -v f1="${first[$type,1]}" -v w1="${warm[$type,1]}" 'BEGIN {
        printf "%-8s%-7s%-12.0f%-16s%-12.0f%-16s%s\n", t, s, f, sprintf("%.3fx", f / f1), w, sprintf("%.3fx", w / w1),
               f < 2000 ? "met" : "not met" }'
  done
done
echo "(first: the best of $repeat one-wallpaper commands; warm: the best of $repeat means of $iterations draws after a warm-up)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
