#!/usr/bin/env bash
# DCGAN training throughput, latentkit vs PyTorch, measured in the same run on this machine.
# Usage: bench/train_throughput.sh [THREADS=2] [STEPS=30]
# Needs python3-torch (scripts/setup --bench installs it) and a built bench_train_throughput.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
steps=${2:-30}
scripts/setup --bench
scripts/build bench_train_throughput >/dev/null

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $threads threads, batch 64, 28x28x1, $steps timed steps"
ours=$(build/bench_train_throughput "$threads" "$steps" dcgan)
theirs=$(/usr/bin/python3 bench/train_throughput.py "$threads" "$steps")
echo "latentkit: $ours"
echo "pytorch:   $theirs"
/usr/bin/python3 - "$ours" "$theirs" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("latentkit %.1f img/s, PyTorch %s %.1f img/s: ratio %.2fx (goal >= 1.3x)"
      % (a["img_per_s"], b["version"], b["img_per_s"], a["img_per_s"] / b["img_per_s"]))
print("latentkit %.1f GFLOP/s of %.2f GFLOP per step; SGEMM peak %.1f GFLOP/s: %.0f%% of peak"
      % (a["gflops"], a["step_gflop"], a["sgemm_peak_gflops"], 100 * a["gflops"] / a["sgemm_peak_gflops"]))
PY
