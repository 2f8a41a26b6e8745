#!/usr/bin/env bash
# Batch-1 generation latency on one thread for a generator (default models/fashion-dcgan):
# latentkit's runtime lkrt (fp32, fp16, int8) against LibTorch and ONNX Runtime, measured in
# the same run; the file sizes; and the FID of each runtime's images of the same latents.
# Usage: bench/runtime_latency.sh [RUN=models/fashion-dcgan] [ITERATIONS=2000] [FID_N=10000]
# Needs a built bench_runtime_latency (LATENTKIT_BENCH_BIN=path runs that binary) and
# node_modules/onnxruntime-node (scripts/setup installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-models/fashion-dcgan}
iterations=${2:-2000}
fid_n=${3:-10000}
bin=${LATENTKIT_BENCH_BIN:-}
if [ -z "$bin" ]; then
  scripts/setup
  scripts/build bench_runtime_latency >/dev/null
  bin=build/bench_runtime_latency
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# The load average says whether something else shared the cores during the run.
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; 1 thread; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
ours=$("$bin" "$run" models/fashion-classifier "$dir" "$iterations" "$fid_n")
latent=$(node -e "console.log(JSON.parse(require('fs').readFileSync('$dir/vectors.json')).latent_dim)")
classes=$(node -e "console.log(JSON.parse(require('fs').readFileSync('$dir/vectors.json')).classes)")
theirs=$(node bench/runtime_latency_ort.mjs "$dir/gen.onnx" "$latent" "$classes" "$iterations")
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
node - "$ours" "$theirs" <<'JS'
const ours = JSON.parse(process.argv[2]);
const ort = JSON.parse(process.argv[3]);
const ms = { ...ours.ms, onnxruntime: ort.ms };
const pad = (s, n) => String(s).padEnd(n);
console.log(`${ours.run}: ${ours.parameters} parameters, batch 1, 1 thread, ${ours.iterations} calls`);
console.log(`${pad('runtime', 14)}${pad('ms/image', 11)}${pad('vs ORT', 9)}${pad('vs LibTorch', 13)}${pad('file bytes', 12)}FID`);
const bytes = { libtorch: null, onnxruntime: ours.bytes.onnx, lkrt_fp32: ours.bytes.lkm_fp32,
                lkrt_fp16: ours.bytes.lkm_fp16, lkrt_int8: ours.bytes.lkm_int8 };
for (const name of ['libtorch', 'onnxruntime', 'lkrt_fp32', 'lkrt_fp16', 'lkrt_int8']) {
  const fid = ours.fid?.[name] ?? (name === 'onnxruntime' ? ours.fid?.libtorch : undefined);
  console.log(`${pad(name, 14)}${pad(ms[name].toFixed(4), 11)}${pad((ms[name] / ms.onnxruntime).toFixed(2), 9)}` +
              `${pad((ms[name] / ms.libtorch).toFixed(2), 13)}${pad(bytes[name] ?? '-', 12)}${fid === undefined ? '-' : fid.toFixed(3)}`);
}
console.log(`int8 file / fp32 file: ${(ours.bytes.lkm_int8 / ours.bytes.lkm_fp32).toFixed(3)}`);
if (ours.fid) {
  console.log(`FID change int8 vs fp32: ${(100 * (ours.fid.lkrt_int8 / ours.fid.lkrt_fp32 - 1)).toFixed(2)}%; ` +
              `normalised error vs LibTorch: fp32 ${ours.normalised_error.lkrt_fp32.toExponential(2)}, ` +
              `fp16 ${ours.normalised_error.lkrt_fp16.toExponential(2)}, int8 ${ours.normalised_error.lkrt_int8.toExponential(2)}`);
  console.log('(ONNX Runtime runs the same fp32 graph as LibTorch: the onnx_parity test checks it; its FID is LibTorch\'s)');
}
JS
