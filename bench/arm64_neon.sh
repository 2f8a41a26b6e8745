#!/usr/bin/env bash
# lkrt's NEON kernels against its scalar loops (-DLKRT_SIMD=OFF) on arm64, both builds
# cross-compiled with Debian's aarch64 toolchain and run under qemu-aarch64 (user mode) on
# this machine: one network call of each model, batch 1, one thread. By default the models
# are the DCGAN shape of models/fashion-dcgan (random weights from lkrt_make_model dcgan
# --width 64) in each weight type; given .lkm files (any kind: lkrt --bench times one
# network call of a generator, an enhancer or a denoiser), those instead, e.g. the U-Net of
#   build/latentkit export --run models/fashion-ddpm --format lkm --out /tmp/ddpm.lkm
# With --base REV, a third build: the NEON kernels of lkrt at git revision REV (the commit
# before a kernel change, say), so a change is measured against the code it replaces.
# Two figures per build: the arm64 instructions one call executes (counted from qemu's
# own logs: each translated block's length times its executions), and the wall time under
# qemu (the builds alternate, 3 rounds, the best round counts).
# qemu translates every arm64 instruction into host code, so neither figure is a phone's
# time: the count says how much work each build asks of the CPU, the qemu time how long
# the emulator takes for it (a NEON FMA costs qemu far more than a phone). Measure on a
# device for that. Counting is slow: about 2.5 minutes per 700 M instructions counted
# (fashion-ddpm: ~6 minutes per NEON build, ~20 for the scalar one, on a busy 2-core EPYC).
# Usage: bench/arm64_neon.sh [--base REV] [ITERATIONS=100] [BUILD_DIR=build-arm64-bench] [MODEL.lkm...]
set -euo pipefail
cd "$(dirname "$0")/.."
base=""
if [ "${1:-}" = "--base" ]; then
  base=$(git rev-parse --verify "${2:?--base needs a git revision}^{commit}")
  shift 2
fi
iterations=${1:-100}
build="$(realpath -m "${2:-build-arm64-bench}")"
dcgan=1
models=("$build/dcgan_fp32.lkm" "$build/dcgan_fp16.lkm" "$build/dcgan_int8.lkm")
if [ $# -gt 2 ]; then
  shift 2
  dcgan=0
  models=()
  for model in "$@"; do models+=("$(realpath "$model")"); done
fi
jobs=$(nproc 2>/dev/null || echo 2)
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

# Builds: neon (this tree), scalar (this tree, -DLKRT_SIMD=OFF), base (REV's tree, NEON).
builds=(neon scalar)
configure() {  # NAME SOURCE SIMD TARGET...
  cmake -S "$2" -B "$build/$1" -DCMAKE_TOOLCHAIN_FILE="$PWD/runtime/cmake/aarch64-linux-gnu.cmake" \
    -DCMAKE_BUILD_TYPE=Release -DLKRT_SIMD=$3 -DLKRT_BUILD_TESTS=OFF "${launcher[@]}" >/dev/null
  cmake --build "$build/$1" -j "$jobs" --target "${@:4}" >/dev/null
}
configure neon runtime ON lkrt_cli lkrt_make_model
configure scalar runtime OFF lkrt_cli
if [ -n "$base" ]; then
  rm -rf "$build/base-src"
  mkdir -p "$build/base-src"
  git archive "$base" runtime | tar -x -C "$build/base-src"
  configure base "$build/base-src/runtime" ON lkrt_cli
  builds+=(base)
fi
qemu=(qemu-aarch64 -L /usr/aarch64-linux-gnu)
if [ $dcgan = 1 ]; then
  for type in fp32 fp16 int8; do
    "${qemu[@]}" "$build/neon/lkrt_make_model" dcgan "$build/dcgan_$type.lkm" --width 64 --type $type
  done
fi

# arm64 instructions executed by a --bench run of $3 calls (after its warm-up calls, 2 for
# up to 100 calls, so 2 calls minus 1 call is one call):
# the length of each block qemu translated (-d in_asm) times its executions (-d exec,nochain),
# summed by awk from a pipe, as the log runs to gigabytes.
insns() {  # BUILD MODEL CALLS
  local fifo
  fifo=$(mktemp -u)
  mkfifo "$fifo"
  awk '/^IN:/ { inblock = 1; start = ""; n = 0; next }
       inblock && /^0x[0-9a-f]+:/ { if (start == "") start = substr($1, 3, length($1) - 3); n++; next }
       inblock && /^$/ { if (start != "") len[start] = n; inblock = 0; next }
       /^Trace/ { split($4, f, "/"); pc = f[2]; sub(/^0+/, "", pc); total += len[pc] }
       END { printf "%d\n", total }' "$fifo" &
  "${qemu[@]}" -d in_asm,exec,nochain -D "$fifo" "$build/$1/lkrt" "$2" --bench --iterations "$3" --threads 1 >/dev/null
  wait $!
  rm -f "$fifo"
}

# ms per call of one --bench run ("...: 27.9023 ms each, ..."; it warms up first).
ms() {  # BUILD MODEL
  "${qemu[@]}" "$build/$1/lkrt" "$2" --bench --iterations "$iterations" --threads 1 |
    sed -n 's/.*: \([0-9.]*\) ms each.*/\1/p'
}

name() { basename "$1" .lkm; }
ratio() { echo "$1 $2" | awk '{printf "%.2f", $1 / $2}'; }
header() {  # the unit of the columns
  printf '%-14s%-14s%-14s' model "neon $1" "scalar $1"
  if [ -n "$base" ]; then printf '%-14s%-16s%s\n' "base $1" "scalar / neon" "base / neon"; else echo "scalar / neon"; fi
}
row() {  # MODEL NEON SCALAR [BASE]
  printf '%-14s%-14s%-14s' "$1" "$2" "$3"
  if [ -n "$base" ]; then printf '%-14s%-16s%s\n' "$4" "$(ratio "$3" "$2")" "$(ratio "$4" "$2")"; else ratio "$3" "$2"; echo; fi
}

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(qemu-aarch64 --version | head -1);" \
     "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "builds: neon and scalar (-DLKRT_SIMD=OFF) of this tree ($(git describe --always --dirty))${base:+, base: neon at $(git describe --always "$base")}"
for model in "${models[@]}"; do
  echo "$(name "$model"): $("${qemu[@]}" "$build/neon/lkrt" "$model" --info |
    sed -n -e 's/^kind *//p' -e 's/^image *//p' -e 's/^output *//p' -e 's/^work *//p' | paste -sd ';' | sed 's/;/; /g')"
done
echo "batch 1, 1 thread, under qemu-aarch64"
echo "arm64 instructions per call (a run of 2 calls minus a run of 1)"
header insns
for model in "${models[@]}"; do
  counts=()
  for b in "${builds[@]}"; do counts+=($(($(insns "$b" "$model" 2) - $(insns "$b" "$model" 1)))); done
  row "$(name "$model")" "${counts[@]}"
done
echo "qemu time: ms per call, $iterations calls per run, best of 3 rounds"
header ms
for model in "${models[@]}"; do
  best=()
  for round in 1 2 3; do
    for i in "${!builds[@]}"; do
      t=$(ms "${builds[$i]}" "$model")
      best[$i]=$(echo "$t ${best[$i]:-$t}" | awk '{print ($1 < $2) ? $1 : $2}')
    done
  done
  row "$(name "$model")" "${best[@]}"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
