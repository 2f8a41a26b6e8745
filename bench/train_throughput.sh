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
# latentkit as it trains; PyTorch as it comes; and both with the other's thread set-up, so
# the ratio shows what the thread set-up is worth and what the C++ frontend is worth.
ours=$(build/bench_train_throughput "$threads" "$steps" dcgan)
ours_stock=$(LATENTKIT_BENCH_STOCK_THREADS=1 build/bench_train_throughput "$threads" "$steps" dcgan)
theirs=$(/usr/bin/python3 bench/train_throughput.py "$threads" "$steps")
theirs_tuned=$(OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/train_throughput.py "$threads" "$steps")
echo "latentkit:                          $ours"
echo "latentkit, stock LibTorch threads:  $ours_stock"
echo "pytorch:                            $theirs"
echo "pytorch, OPENBLAS_NUM_THREADS=1:    $theirs_tuned"
/usr/bin/python3 - "$ours" "$ours_stock" "$theirs" "$theirs_tuned" <<'PY'
import json, sys
a, a0, b, b1 = (json.loads(x) for x in sys.argv[1:5])
print("latentkit %.1f img/s vs PyTorch %s %.1f img/s: %.2fx (goal >= 1.3x)"
      % (a["img_per_s"], b["version"], b["img_per_s"], a["img_per_s"] / b["img_per_s"]))
print("same thread set-up on both sides: latentkit %.1f vs PyTorch %.1f img/s: %.2fx (the C++ frontend alone)"
      % (a["img_per_s"], b1["img_per_s"], a["img_per_s"] / b1["img_per_s"]))
print("stock threads on both sides:      latentkit %.1f vs PyTorch %.1f img/s: %.2fx"
      % (a0["img_per_s"], b["img_per_s"], a0["img_per_s"] / b["img_per_s"]))
print("latentkit %.1f GFLOP/s of %.2f GFLOP per step; SGEMM peak %.1f GFLOP/s: %.0f%% of peak"
      % (a["gflops"], a["step_gflop"], a["sgemm_peak_gflops"], 100 * a["gflops"] / a["sgemm_peak_gflops"]))
PY
