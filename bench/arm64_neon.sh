#!/usr/bin/env bash
# lkrt's NEON kernels against its scalar loops (-DLKRT_SIMD=OFF) on arm64, both builds
# cross-compiled with Debian's aarch64 toolchain and run under qemu-aarch64 (user mode) on
# this machine: one generator call of the DCGAN shape of models/fashion-dcgan (random
# weights from lkrt_make_model dcgan --width 64), batch 1, one thread, per weight type.
# Two figures per build: the arm64 instructions one call executes (counted from qemu's
# own logs: each translated block's length times its executions), and the wall time under
# qemu (the builds alternate, 3 rounds, the best round counts).
# qemu translates every arm64 instruction into host code, so neither figure is a phone's
# time: the count says how much work each build asks of the CPU, the qemu time how long
# the emulator takes for it (a NEON FMA costs qemu far more than a phone). Measure on a
# device for that.
# Usage: bench/arm64_neon.sh [ITERATIONS=100] [BUILD_DIR=build-arm64-bench]
set -euo pipefail
cd "$(dirname "$0")/.."
iterations=${1:-100}
build="$(realpath -m "${2:-build-arm64-bench}")"
jobs=$(nproc 2>/dev/null || echo 2)
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
for simd in ON OFF; do
  cmake -S runtime -B "$build/simd-$simd" -DCMAKE_TOOLCHAIN_FILE="$PWD/runtime/cmake/aarch64-linux-gnu.cmake" \
    -DCMAKE_BUILD_TYPE=Release -DLKRT_SIMD=$simd -DLKRT_BUILD_TESTS=OFF "${launcher[@]}" >/dev/null
  cmake --build "$build/simd-$simd" -j "$jobs" --target lkrt_cli lkrt_make_model >/dev/null
done
qemu=(qemu-aarch64 -L /usr/aarch64-linux-gnu)
for type in fp32 fp16 int8; do
  "${qemu[@]}" "$build/simd-ON/lkrt_make_model" dcgan "$build/dcgan_$type.lkm" --width 64 --type $type
done

# arm64 instructions executed by a --bench run of $3 calls (after its warm-up calls, 2 for
# up to 100 calls, so 2 calls minus 1 call is one call):
# the length of each block qemu translated (-d in_asm) times its executions (-d exec,nochain),
# summed by awk from a pipe, as the log runs to gigabytes.
insns() {
  local fifo
  fifo=$(mktemp -u)
  mkfifo "$fifo"
  awk '/^IN:/ { inblock = 1; start = ""; n = 0; next }
       inblock && /^0x[0-9a-f]+:/ { if (start == "") start = substr($1, 3, length($1) - 3); n++; next }
       inblock && /^$/ { if (start != "") len[start] = n; inblock = 0; next }
       /^Trace/ { split($4, f, "/"); pc = f[2]; sub(/^0+/, "", pc); total += len[pc] }
       END { printf "%d\n", total }' "$fifo" &
  "${qemu[@]}" -d in_asm,exec,nochain -D "$fifo" "$build/simd-$1/lkrt" "$build/dcgan_$2.lkm" --bench --iterations "$3" \
    --threads 1 >/dev/null
  wait $!
  rm -f "$fifo"
}

# ms per call of one --bench run ("...: 27.9023 ms each, ..."; it warms up first).
ms() {
  "${qemu[@]}" "$build/simd-$1/lkrt" "$build/dcgan_$2.lkm" --bench --iterations "$iterations" --threads 1 |
    sed -n 's/.*: \([0-9.]*\) ms each.*/\1/p'
}

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(qemu-aarch64 --version | head -1);" \
     "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "dcgan --width 64 (28x28x1), batch 1, 1 thread, under qemu-aarch64"
echo "arm64 instructions per call (a run of 2 calls minus a run of 1)"
printf '%-8s%-14s%-16s%s\n' weights neon scalar "scalar / neon"
for type in fp32 fp16 int8; do
  neon=$(($(insns ON $type 2) - $(insns ON $type 1)))
  scalar=$(($(insns OFF $type 2) - $(insns OFF $type 1)))
  printf '%-8s%-14s%-16s%.2f\n' $type $neon $scalar "$(echo "$scalar $neon" | awk '{print $1 / $2}')"
done
echo "qemu time: ms per call, $iterations calls per run, best of 3 rounds"
printf '%-8s%-14s%-16s%s\n' weights "neon ms" "scalar ms" "scalar / neon"
for type in fp32 fp16 int8; do
  best_neon="" best_scalar=""
  for round in 1 2 3; do
    n=$(ms ON $type)
    s=$(ms OFF $type)
    best_neon=$(echo "$n ${best_neon:-$n}" | awk '{print ($1 < $2) ? $1 : $2}')
    best_scalar=$(echo "$s ${best_scalar:-$s}" | awk '{print ($1 < $2) ? $1 : $2}')
  done
  printf '%-8s%-14s%-16s%.2f\n' $type "$best_neon" "$best_scalar" "$(echo "$best_scalar $best_neon" | awk '{print $1 / $2}')"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
