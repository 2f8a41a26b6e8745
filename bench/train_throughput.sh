#!/usr/bin/env bash
# Training throughput of `latentkit train` (the command users run, timed by its own train.jsonl)
# against the same networks and step in PyTorch, all measured in one run on this machine: a
# 64 px RGB DCGAN (PyTorch's DCGAN example) and latentkit's diffusion U-Net at 32 px. Each in
# latentkit fp32 and bf16, PyTorch fp32 as installed and tuned (OPENBLAS_NUM_THREADS=1, the
# thread set-up latentkit applies), and PyTorch bf16 (autocast, channels-last, tuned).
# Usage: bench/train_throughput.sh [THREADS=2] [STEPS=30]     (run it alone: it uses every core)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
steps=${2:-30}
scripts/setup --bench
scripts/build latentkit >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ours MODEL SIZE PRECISION: images per second of `latentkit train` over its log windows after
# the first (the warm-up); the epoch's outputs come after the last window and are not timed.
ours() {
  local model=$1 size=$2 precision=$3 out="$work/$1-$2-$3" extra=()
  [ "$model" = ddpm ] && extra=(--width 32 --mults 1,2,2 --sample-steps 1)
  build/latentkit train --model "$model" --data "shapes:$(((steps + 5) * 64))" --size "$size" --batch 64 \
    --max-steps $((steps + 5)) --log-every 5 --checkpoint-every 100000 --threads "$threads" \
    --precision "$precision" "${extra[@]}" --out "$out" 2>"$out.log"
  /usr/bin/python3 -c '
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])][1:]
images = sum(5 * 64 for r in rows)
print(images / sum(5 * 64 / r["img_per_s"] for r in rows))' "$out/train.jsonl"
}
# theirs MODEL SIZE PRECISION [tuned]
theirs() {
  if [ "${4:-}" = tuned ]; then
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/train_throughput.py "$1" "$2" 3 64 "$threads" "$steps" "$3"
  else
    /usr/bin/python3 bench/train_throughput.py "$1" "$2" 3 64 "$threads" "$steps" "$3"
  fi | /usr/bin/python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["img_per_s"])'
}

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(grep -o -m1 avx512_bf16 /proc/cpuinfo || echo 'no avx512_bf16');"
echo "$threads threads, batch 64, $steps timed steps; PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'), LibTorch the same (Debian)"
for case in "dcgan 64" "unet 32"; do
  set -- $case
  model=$1 size=$2 lk_model=$1
  [ "$model" = unet ] && lk_model=ddpm
  lk32=$(ours "$lk_model" "$size" fp32)
  lk16=$(ours "$lk_model" "$size" bf16)
  pt32=$(theirs "$model" "$size" fp32)
  pt32t=$(theirs "$model" "$size" fp32 tuned)
  pt16=$(theirs "$model" "$size" bf16 tuned)
  /usr/bin/python3 - "$model" "$size" "$lk32" "$lk16" "$pt32" "$pt32t" "$pt16" <<'PY'
import sys
model, size = sys.argv[1], sys.argv[2]
lk32, lk16, pt32, pt32t, pt16 = map(float, sys.argv[3:8])
print(f"\n{model}, {size} px RGB (img/s):")
print(f"  latentkit fp32          {lk32:7.1f}")
print(f"  latentkit bf16          {lk16:7.1f}   {lk16 / lk32:.2f}x latentkit fp32")
print(f"  PyTorch fp32            {pt32:7.1f}")
print(f"  PyTorch fp32, tuned     {pt32t:7.1f}")
print(f"  PyTorch bf16, tuned     {pt16:7.1f}   {pt16 / pt32t:.2f}x PyTorch fp32 tuned")
print(f"  latentkit bf16 / PyTorch fp32 tuned: {lk16 / pt32t:.2f}x" + ("   (goal >= 1.3x)" if model == "dcgan" else ""))
print(f"  latentkit fp32 / PyTorch fp32 tuned: {lk32 / pt32t:.2f}x;  latentkit bf16 / PyTorch bf16: {lk16 / pt16:.2f}x")
PY
done
