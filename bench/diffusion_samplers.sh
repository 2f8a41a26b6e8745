#!/usr/bin/env bash
# The 10-step sampler against DDIM (issue 21): FID and KID of N samples of a diffusion run
# (default models/fashion-ddpm, N = 5,000) for ddim and dpmpp at 10, 20 and 50 steps, every
# configuration from the same x_T (seed 0) and scored as `latentkit eval --run RUN --n N`
# scores it (models/fashion-classifier's features, the test split's cached reference), with
# each FID's ratio to DDIM-50's and each configuration's wall time, on 2 threads. Goal: dpmpp
# at 10-20 steps within 5% of DDIM-50's FID. About an hour on 2 cores at N = 5,000: run it alone.
# Usage: bench/diffusion_samplers.sh [RUN=models/fashion-ddpm] [N=5000] [SAMPLER:STEPS,...]
# (LATENTKIT_BENCH_BIN=path runs that binary instead of building build/bench_diffusion.)
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-models/fashion-ddpm}
n=${2:-5000}
configurations=${3:-ddim:50,dpmpp:10,dpmpp:20,ddim:10,ddim:20,dpmpp:50}
bin=${LATENTKIT_BENCH_BIN:-}
if [ -z "$bin" ]; then
  scripts/build bench_diffusion >/dev/null
  bin=build/bench_diffusion
fi
# The load average says whether something else shared the cores during the run.
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
"$bin" samplers "$run" models/fashion-classifier "$n" "$configurations"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); $(( ($(date +%s) - start) / 60 )) minutes in all"
