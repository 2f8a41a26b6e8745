#!/usr/bin/env bash
# Mask to image (issue 24), measured as GauGAN measures it: a SPADE run and its pix2pix
# baseline (the same maps, the same epochs and batch) each draw one image from each of N
# test-split maps, through `latentkit eval` as a user runs it. A segmenter trained here on
# real image/map pairs labels the drawn images; its mIoU against the maps they were drawn
# from stands beside its mIoU on the real test images of the same maps (the floor column).
# FID against the test split by a classifier's features. Ratios: generated over real mIoU
# (goal >= 0.80) and SPADE over pix2pix.
# Usage: bench/masks.sh [SPADE=runs/shapes-spade] [PIX2PIX=runs/shapes-p2p] [SEGMENTER=models/shapes-segmenter]
#                       [FEATURES=models/shapes-classifier] [N=2000] [THREADS=2]
# (LATENTKIT=path runs that binary instead of build/latentkit.) A few minutes on 2 cores: run it alone.
set -euo pipefail
cd "$(dirname "$0")/.."
spade=${1:-runs/shapes-spade}
p2p=${2:-runs/shapes-p2p}
segmenter=${3:-models/shapes-segmenter}
features=${4:-models/shapes-classifier}
n=${5:-2000}
threads=${6:-2}
bin=${LATENTKIT:-build/latentkit}
[ -n "${LATENTKIT:-}" ] || scripts/build latentkit >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, --threads $threads; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
common=(--metrics fid,miou --n "$n" --features "$features" --segmenter "$segmenter" --threads "$threads")
for name in spade p2p; do
  src=$spade
  [ "$name" = p2p ] && src=$p2p
  cp -r "$src" "$out/$name"  # eval writes RUN/eval.json: score copies, never the shipped folders
  t0=$(date +%s)
  "$bin" eval --run "$out/$name" "${common[@]}" --json "$out/$name.json" > /dev/null 2> "$out/$name.log" ||
    { tail -5 "$out/$name.log"; exit 1; }
  echo $(( $(date +%s) - t0 )) > "$out/$name.seconds"
done
real=$(jq '.floor.segmentation.miou' "$out/spade.json")
spade_miou=$(jq '.scores.segmentation.miou' "$out/spade.json")
printf '\n%d test maps (%s); segmenter %s; FID features %s\n' "$n" "$(jq -r '.settings.maps' "$out/spade.json")" "$segmenter" "$features"
printf '%-10s %8s %8s %10s %9s %8s %8s\n' model mIoU /real pixel-acc /pix2pix FID seconds
row() {  # name json seconds
  printf '%-10s %8.4f %8.3f %10.4f %9.3f %8.2f %8s\n' "$1" "$(jq .scores.segmentation.miou "$2")" \
    "$(jq ".scores.segmentation.miou / $real" "$2")" "$(jq .scores.segmentation.pixel_accuracy "$2")" \
    "$(jq ".scores.segmentation.miou / $(jq .scores.segmentation.miou "$out/p2p.json")" "$2")" \
    "$(jq .scores.fid "$2")" "$3"
}
printf '%-10s %8.4f %8.3f %10.4f %9s %8.2f %8s\n' real "$real" 1 "$(jq .floor.segmentation.pixel_accuracy "$out/spade.json")" \
  - "$(jq .floor.fid "$out/spade.json")" -
row spade "$out/spade.json" "$(cat "$out/spade.seconds")"
row pix2pix "$out/p2p.json" "$(cat "$out/p2p.seconds")"
echo "(real: the segmenter on the real test images of the same maps; its FID is the train-vs-test floor)"
echo "per-class IoU, spade: $(jq -c '.scores.segmentation.class_iou' "$out/spade.json")"
echo "per-class IoU, pix2pix: $(jq -c '.scores.segmentation.class_iou' "$out/p2p.json")"
echo "per-class IoU, real: $(jq -c '.floor.segmentation.class_iou' "$out/spade.json")"
awk -v s="$spade_miou" -v r="$real" 'BEGIN { printf "goal: generated mIoU >= 0.80 x real: %.3f x (%s)\n", s / r, (s / r >= 0.8 ? "met" : "missed") }'
