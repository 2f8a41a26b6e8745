#!/usr/bin/env bash
# Wallpapers of the day (issue 25): (a) the feature distance between day d and d + k (k = 1..14)
# against two random days (goal: random / day-to-day >= 3 at k = 1), (b) the seam error of
# --tileable and plain images across the wrap against neighbours inside, (c) each mood's
# effect on hue, L*, chroma, warmth and colorfulness against none, and how close --palette
# brings the mean color. bench/wallpaper.cpp says how.
# Usage: bench/wallpaper.sh [RUN=models/wallpaper] [CLASSIFIER=models/wallpaper-classifier, else
#                           models/emoji-classifier] [STARTS=20] [THREADS=2] [SIDE=256] [MOOD_DAYS=50]
# (LATENTKIT_BENCH_BIN=path runs that binary instead of building build/bench_wallpaper.)
# (c) needs RUN/moods.json: latentkit wallpaper moods --run RUN.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${LATENTKIT_BENCH_BIN:-}
if [ -z "$bin" ]; then
  scripts/build bench_wallpaper >/dev/null
  bin=build/bench_wallpaper
fi
classifier=${2:-}
if [ -z "$classifier" ]; then
  classifier=models/wallpaper-classifier
  [ -d "$classifier" ] || classifier=models/emoji-classifier
fi
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, threads ${4:-2}; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" "${1:-models/wallpaper}" "$classifier" "${3:-20}" "${4:-2}" "${5:-256}" "${6:-50}"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
