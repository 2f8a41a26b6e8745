#!/usr/bin/env bash
# Evaluation statistics in latentkit (10k x 2048 features a side: Gaussian statistics + FID,
# KID 100 x 1000; IS on 10k x 10; precision/recall on 10k x 128), and the same FID with
# NumPy and SciPy as pytorch-fid computes it, on the same features, in the same run.
# Usage: bench/eval_stats.sh [THREADS=2]
# Needs python3-numpy and python3-scipy and a built bench_eval_stats
# (LATENTKIT_BENCH_BIN=path runs that binary instead of building build/bench_eval_stats).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
bin=${LATENTKIT_BENCH_BIN:-}
if [ -z "$bin" ]; then
  scripts/setup --bench
  scripts/build bench_eval_stats >/dev/null
  bin=build/bench_eval_stats
fi
if ! /usr/bin/python3 -c "import numpy, scipy" 2>/dev/null; then
  echo "eval_stats: the SciPy peer needs NumPy and SciPy: apt-get install python3-numpy python3-scipy" >&2
  exit 1
fi

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# The load average says whether something else shared the cores during the run.
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $threads threads; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
ours=$("$bin" "$threads" "$dir")
theirs=$(OPENBLAS_NUM_THREADS=$threads /usr/bin/python3 bench/eval_stats_scipy.py "$dir")
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$ours" "$theirs" <<'PY'
import json, sys
a, b = (json.loads(x) for x in sys.argv[1:3])
print("latentkit, %d x %d features a side:" % (a["n"], a["dim"]))
print("  gaussian_stats x2 + frechet_distance  %6.2f s  (stats %.2f s, FID %.2f s; %.2f s of CPU time; goal < 2 s on 2 cores)"
      % (a["stats_fid_s"], a["stats_s"], a["fid_s"], a["stats_fid_cpu_s"]))
print("  KID, 100 subsets of 1000               %6.2f s  (%.6g +- %.3g)" % (a["kid_s"], a["kid_mean"], a["kid_std"]))
print("  Inception Score, 10k x 10, 10 splits   %6.2f s  (%.4f +- %.4f)" % (a["is_s"], a["is_mean"], a["is_std"]))
print("  precision/recall, 10k x 128, k = 3     %6.2f s  (precision %.4f, recall %.4f)"
      % (a["pr_s"], a["precision"], a["recall"]))
print("pytorch-fid way (%s): stats %.2f s, FID %.2f s, total %.2f s"
      % (b["impl"], b["stats_s"], b["fid_s"], b["stats_fid_s"]))
print("stats + FID: latentkit %.2f s vs NumPy/SciPy %.2f s: %.1fx faster"
      % (a["stats_fid_s"], b["stats_fid_s"], b["stats_fid_s"] / a["stats_fid_s"]))
print("FID: latentkit %.10g vs SciPy %.10g: |difference| %.3g (relative %.2g)"
      % (a["fid"], b["fid"], abs(a["fid"] - b["fid"]), abs(a["fid"] - b["fid"]) / abs(b["fid"])))
print("     with float64 means on the SciPy side: %.10g: |difference| %.3g (relative %.2g)"
      % (b["fid_mu64"], abs(a["fid"] - b["fid_mu64"]), abs(a["fid"] - b["fid_mu64"]) / abs(b["fid_mu64"])))
PY
