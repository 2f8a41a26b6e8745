#!/usr/bin/env bash
# Text to image (issue 23): how well a t2i run draws held-out prompts, against the evaluator's
# ceiling and a baseline at the same data. For each guidance weight w, `latentkit eval` as a
# user runs it: N images, image i prompted with the canonical caption of test-split emoji
# i mod 696 (names the model never trained on), DPM-Solver++ at 10 steps, scored by
# models/emoji-classifier (FID against the test split; category accuracy through its
# subcategories) and by the CLIP evaluator (R-precision with 99 captions of other emoji,
# CLIP score, skin-tone accuracy). The baseline is the category-conditional model of
# issue 12 (models/emoji-cgan) drawing each caption's category. Ratios: R-precision over the
# real images' own (goal >= 0.60) and over the baseline's (goal > 1).
# Usage: bench/text_to_image.sh [RUN=models/emoji-t2i] [N=696] [WEIGHTS=1,2,3,5] [THREADS=2]
# (LATENTKIT=path runs that binary instead of build/latentkit.) About 3 minutes per weight
# at N = 696 on 2 cores: run it alone.
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-models/emoji-t2i}
n=${2:-696}
weights=${3:-1,2,3,5}
threads=${4:-2}
clip=${CLIP:-models/emoji-clip}
baseline=${BASELINE:-models/emoji-cgan}
bin=${LATENTKIT:-build/latentkit}
[ -n "${LATENTKIT:-}" ] || scripts/build latentkit >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, --threads $threads; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# eval writes RUN/eval.json: score copies, never the shipped folders.
cp -r "$baseline" "$out/baseline"
cp -r "$run" "$out/run"
common=(--metrics fid,rprec,clipscore --n "$n" --features models/emoji-classifier --clip "$clip" --threads "$threads")
start=$(date +%s)
"$bin" eval --run "$out/baseline" "${common[@]}" --json "$out/base.json" > /dev/null 2> "$out/base.log" ||
  { tail -5 "$out/base.log"; exit 1; }
for w in ${weights//,/ }; do
  t0=$(date +%s)
  "$bin" eval --run "$out/run" "${common[@]}" --sampler dpmpp --sample-steps 10 --guidance "$w" \
    --json "$out/w$w.json" > /dev/null 2> "$out/w$w.log" || { tail -5 "$out/w$w.log"; exit 1; }
  echo $(( $(date +%s) - t0 )) > "$out/w$w.seconds"
done
real_rp=$(jq '.floor.text_match.r_precision' "$out/base.json")
base_rp=$(jq '.scores.text_match.r_precision' "$out/base.json")
printf '\nreal test images: R-precision %.4f (chance %.2f), CLIP score %.2f, skin-tone accuracy %.4f\n' "$real_rp" \
  "$(jq '1 / .floor.text_match.candidates' "$out/base.json")" "$(jq '.floor.text_match.clip_score' "$out/base.json")" \
  "$(jq '.floor.text_match.skin_tone.accuracy' "$out/base.json")"
printf '%-22s %8s %8s %8s %8s %9s %9s %9s %7s\n' model FID R-prec /real /base CLIP-sc category skin-tone seconds
row() {  # name json seconds
  local f=$2
  printf '%-22s %8.2f %8.4f %8.3f %8.3f %9.2f %9.4f %9.4f %7s\n' "$1" "$(jq .scores.fid "$f")" \
    "$(jq .scores.text_match.r_precision "$f")" "$(jq ".scores.text_match.r_precision / $real_rp" "$f")" \
    "$(jq "if $base_rp > 0 then .scores.text_match.r_precision / $base_rp else 0 end" "$f")" \
    "$(jq .scores.text_match.clip_score "$f")" "$(jq '.scores.class_accuracy.accuracy // -1' "$f")" \
    "$(jq .scores.text_match.skin_tone.accuracy "$f")" "$3"
}
row "$(basename "$baseline") (category)" "$out/base.json" "-"
for w in ${weights//,/ }; do row "$(basename "$run") w=$w" "$out/w$w.json" "$(cat "$out/w$w.seconds")"; done
first=${weights%%,*}
echo "FID floor (train vs test): $(jq .floor.fid "$out/w$first.json") at the run's size, $(jq .floor.fid "$out/base.json") at the baseline's"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); $(( ($(date +%s) - start) / 60 )) minutes in all"
