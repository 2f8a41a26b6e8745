#!/usr/bin/env bash
# Batch-1 latency on one thread of latentkit's runtime lkrt (fp32, fp16, int8) against
# LibTorch and ONNX Runtime, measured in the same run, per model: a generator
# (models/fashion-dcgan: one image), the enhancer (models/fashion-enhance: a 28 px image,
# which lkrt pads to 32 while the others get the padded 32 px image, and a 256 px one), a
# diffusion denoiser (models/fashion-ddpm: one U-Net call) and a mask generator
# (models/shapes-spade: one image of a 64 px test map). Also the file sizes, lkrt's planned
# activation memory, and what each runtime's outputs are worth: the FID of the generator's
# images, the enhancer's PSNR on damaged test images, the denoiser's and the mask
# generator's error against LibTorch.
# Usage: bench/runtime_latency.sh [--seconds S=3] [--repeat R=3] [--quality-n N=10000] [RUN...]
#   S: about how long each runtime is timed per case; R: times the timing runs, lkrt and
#   LibTorch in one process, then ONNX Runtime in another, in turn; each runtime's figure
#   is its best median (load from other processes only ever adds time), the range of its
#   medians beside it; N: images for FID and PSNR (measured once).
# Needs a built bench_runtime_latency (LATENTKIT_BENCH_BIN=path runs that binary) and
# node_modules/onnxruntime-node (scripts/setup installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=3
repeat=3
quality_n=10000
runs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --quality-n) quality_n=$2; shift 2 ;;
    -*) echo "usage: bench/runtime_latency.sh [--seconds S] [--repeat R] [--quality-n N] [RUN...]" >&2; exit 2 ;;
    *) runs+=("$1"); shift ;;
  esac
done
[ ${#runs[@]} -gt 0 ] || runs=(models/fashion-dcgan models/fashion-enhance models/fashion-ddpm models/shapes-spade)
bin=${LATENTKIT_BENCH_BIN:-}
if [ -z "$bin" ]; then
  scripts/setup
  scripts/build bench_runtime_latency >/dev/null
  bin=build/bench_runtime_latency
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# The load average says whether something else shared the cores during the run.
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; every runtime on 1 thread, batch 1"
echo "command: bench/runtime_latency.sh --seconds $seconds --repeat $repeat --quality-n $quality_n ${runs[*]}"
for run in "${runs[@]}"; do
  out="$dir/$(basename "$run")"
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  ours="[" theirs="["
  for ((i = 1; i <= repeat; ++i)); do
    # The quality figures once, with the first timing.
    ours+=$("$bin" "$run" models/fashion-classifier "$out" "$seconds" "$([ "$i" = 1 ] && echo "$quality_n" || echo 0)")
    theirs+=$(node bench/runtime_latency_ort.mjs "$out/cases.json")
    [ "$i" = "$repeat" ] || { ours+=,; theirs+=,; }
  done
  load_after=$(cut -d' ' -f1-3 /proc/loadavg)
  node - "$ours]" "$theirs]" "$load_before" "$load_after" <<'JS'
const repeats = JSON.parse(process.argv[2]);
const orts = JSON.parse(process.argv[3]);
const ours = repeats[0];
const ort = orts[0];
// Per case and runtime: every repeat's median; the figure is the best of them.
const medians = ours.cases.map((c, i) => Object.fromEntries(
  ['libtorch', 'onnxruntime', 'lkrt_fp32', 'lkrt_fp16', 'lkrt_int8'].map((name) => [name, repeats.map((r, k) =>
    name === 'onnxruntime' ? orts[k].ms[i] : r.cases[i].ms[name])])));
ours.cases.forEach((c, i) => { for (const name of Object.keys(medians[i])) c.ms[name] = Math.min(...medians[i][name]); });
ort.ms = ours.cases.map((c) => c.ms.onnxruntime);
const pad = (s, n) => String(s).padEnd(n);
const kib = (b) => (b / 1024).toFixed(1);
const names = ['libtorch', 'onnxruntime', 'lkrt_fp32', 'lkrt_fp16', 'lkrt_int8'];
const bytes = { onnxruntime: ours.bytes.onnx, lkrt_fp32: ours.bytes.lkm_fp32, lkrt_fp16: ours.bytes.lkm_fp16,
                lkrt_int8: ours.bytes.lkm_int8 };
console.log(`\n## ${ours.run} (${ours.kind}): ${ours.parameters} parameters; ONNX Runtime ${ort.version}; ` +
            `load average ${process.argv[4]} before, ${process.argv[5]} after`);
ours.cases.forEach((c, i) => {
  const ms = { ...c.ms, onnxruntime: ort.ms[i] };
  console.log(`\n${c.name}: ${(c.flops / 1e6).toFixed(1)} MFLOP; the best of ${repeats.length} medians of ` +
              `${c.calls} calls (after ${c.warmup} warm-up)`);
  console.log(`${pad('runtime', 13)}${pad('ms/call', 10)}${pad('vs ORT', 8)}${pad('vs LibTorch', 13)}${pad('GFLOP/s', 9)}` +
              `${pad('file bytes', 12)}${pad('activations KiB (+ scratch)', 29)}medians ms`);
  for (const name of names) {
    const act = c.activation_bytes[name];
    const range = `${Math.min(...medians[i][name]).toFixed(3)}-${Math.max(...medians[i][name]).toFixed(3)}`;
    console.log(`${pad(name, 13)}${pad(ms[name].toFixed(4), 10)}${pad((ms[name] / ms.onnxruntime).toFixed(2), 8)}` +
                `${pad((ms[name] / ms.libtorch).toFixed(2), 13)}${pad((c.flops / ms[name] / 1e6).toFixed(1), 9)}` +
                `${pad(bytes[name] ?? '-', 12)}${pad(act === undefined ? '-' : `${kib(act)} (+ ${kib(c.scratch_bytes[name])})`, 29)}` +
                range);
  }
});
console.log(`int8 file / fp32 file: ${(ours.bytes.lkm_int8 / ours.bytes.lkm_fp32).toFixed(3)}`);
const q = ours.quality;
if (!q) process.exit(0);
const err = (name) => q.normalised_error[name].toExponential(2);
const lkrt = ['lkrt_fp32', 'lkrt_fp16', 'lkrt_int8'];
if (ours.kind === 'generator') {
  console.log(`\nFID (${q.n} images of the same latents vs as many test images): ` +
              ['libtorch', ...lkrt].map((n) => `${n} ${q.fid[n].toFixed(3)}`).join(', '));
  console.log(`FID change int8 vs fp32: ${(100 * (q.fid.lkrt_int8 / q.fid.lkrt_fp32 - 1)).toFixed(2)}%; ` +
              `normalised error vs LibTorch: ${lkrt.map((n) => `${n} ${err(n)}`).join(', ')}`);
  console.log('(ONNX Runtime runs the same fp32 graph as LibTorch: the onnx_parity test checks it)');
} else if (ours.kind === 'enhancer') {
  console.log(`\nrestoration of the first ${q.n} test images, each damaged for one of the run's tasks ` +
              `(${q.tasks.join(', ')}) at random, seeded; against the clean images:`);
  console.log(`${pad('', 13)}${pad('PSNR dB', 9)}${pad('SSIM', 7)}${pad('class agreement', 17)}normalised error vs LibTorch`);
  for (const name of ['degraded', 'libtorch', ...lkrt]) {
    console.log(`${pad(name === 'degraded' ? 'input' : name, 13)}${pad(q.psnr_db[name].toFixed(3), 9)}` +
                `${pad(q.ssim[name].toFixed(4), 7)}${pad(q.agreement[name].toFixed(4), 17)}` +
                `${q.normalised_error[name] === undefined ? '-' : err(name)}`);
  }
  const d = q.psnr_db.lkrt_int8 - q.psnr_db.lkrt_fp32;
  console.log(`PSNR int8 - fp32: ${d >= 0 ? '+' : ''}${d.toFixed(3)} dB (goal: within 0.5 dB)`);
} else if (ours.kind === 'mask generator') {
  console.log(`\nnormalised error of the images vs LibTorch over ${q.n} test maps: ` + lkrt.map((n) => `${n} ${err(n)}`).join(', '));
} else {
  console.log(`\nnormalised error of the prediction vs LibTorch over ${q.n} calls (t spread over [0, T)): ` +
              lkrt.map((n) => `${n} ${err(n)}`).join(', '));
}
const goal = ['enhancer', 'denoiser'].includes(ours.kind) ? ' (goal for the U-Nets: lkrt <= 0.7x ONNX Runtime)' : '';
console.log(`lkrt fp32 / ONNX Runtime: ${ours.cases.map((c, i) => (c.ms.lkrt_fp32 / ort.ms[i]).toFixed(2)).join(', ')}${goal}`);
JS
done
