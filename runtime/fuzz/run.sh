#!/bin/sh
# Builds the libFuzzer target with clang and fuzzes the .lkm loader for N seconds.
#   runtime/fuzz/run.sh [SECONDS] [BUILD_DIR]       (defaults: 60, build-fuzz)
# Crashes are written to BUILD_DIR/crashes/; reproduce one with
#   BUILD_DIR/lkrt_fuzz_load BUILD_DIR/crashes/crash-...
set -eu
seconds=${1:-60}
build=${2:-build-fuzz}
here=$(cd "$(dirname "$0")/.." && pwd)
jobs=${LKRT_JOBS:-2}
CXX=${CXX_FUZZ:-clang++}
cmake -S "$here" -B "$build" -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLKRT_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target lkrt_fuzz_load lkrt_make_model
mkdir -p "$build/corpus" "$build/crashes"
"$build/lkrt_make_model" seeds "$build/corpus"
"$build/lkrt_fuzz_load" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix="$build/crashes/" -print_final_stats=1 "$build/corpus"
