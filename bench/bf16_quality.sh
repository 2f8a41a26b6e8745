#!/usr/bin/env bash
# Does bf16 training (--precision bf16) cost quality? A seeded 28 px DCGAN and a small DDPM on
# Fashion-MNIST, each trained for the same steps in fp32 and in bf16 (same seed, data order and
# latents), then scored by FID (models/fashion-classifier features, n images against the test
# split, seed 0). Prints each FID and the relative difference (the check: within 5%).
# Usage: bench/bf16_quality.sh [OUT_DIR=runs/bf16-quality] [THREADS=2] [N=5000]
# About 30 minutes on 2 cores. Runs already in OUT_DIR are scored again, not retrained.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/bf16-quality}
threads=${2:-2}
n=${3:-5000}
scripts/build latentkit >/dev/null
mkdir -p "$out"
dcgan=(--model dcgan --data fashion-mnist --epochs 2 --batch 64 --seed 1)
ddpm=(--model ddpm --data fashion-mnist --width 16 --mults 1,2,2 --batch 64 --max-steps 2000 --sample-steps 20 --seed 1)
for family in dcgan ddpm; do
  for precision in fp32 bf16; do
    run="$out/$family-$precision"
    if [ ! -f "$run/model.pt" ]; then
      rm -rf "$run"
      args=("${dcgan[@]}")
      [ "$family" = ddpm ] && args=("${ddpm[@]}")
      start=$(date +%s)
      build/latentkit train "${args[@]}" --precision "$precision" --threads "$threads" --out "$run" 2> "$run.log"
      echo "$family $precision: trained in $(($(date +%s) - start)) s ($(tr '\r' '\n' < "$run.log" | grep -o '[0-9.]* img/s' | tail -1))"
    fi
    build/latentkit eval --run "$run" --n "$n" --metrics fid --no-floor --threads "$threads" --json "$run/fid.json" \
      > /dev/null 2> "$run.eval.log"
  done
done
/usr/bin/python3 - "$out" "$n" <<'PY'
import json, sys
out, n = sys.argv[1], sys.argv[2]
for family in ("dcgan", "ddpm"):
    fid = {p: json.load(open(f"{out}/{family}-{p}/fid.json"))["scores"]["fid"] for p in ("fp32", "bf16")}
    diff = (fid["bf16"] - fid["fp32"]) / fid["fp32"]
    print(f"{family}: FID fp32 {fid['fp32']:.2f}, bf16 {fid['bf16']:.2f} ({100 * diff:+.1f}%; n = {n}, "
          f"seed 1, classifier features){'' if abs(diff) <= 0.05 else '  NOT within 5%'}")
PY
