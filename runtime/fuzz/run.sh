#!/bin/sh
# Builds the libFuzzer targets with clang, fuzzes the .lkm loader for N seconds and the
# placeholder-code decoder for 15 (or N if less).
#   runtime/fuzz/run.sh [SECONDS] [BUILD_DIR]       (defaults: 60, build-fuzz)
# Crashes are written to BUILD_DIR/crashes/; reproduce one with
#   BUILD_DIR/lkrt_fuzz_load BUILD_DIR/crashes/crash-...   (or lkrt_fuzz_code)
set -eu
seconds=${1:-60}
build=${2:-build-fuzz}
here=$(cd "$(dirname "$0")/.." && pwd)
jobs=${LKRT_JOBS:-2}
CXX=${CXX_FUZZ:-clang++}
launcher=
command -v ccache >/dev/null 2>&1 && launcher=-DCMAKE_CXX_COMPILER_LAUNCHER=ccache
cmake -S "$here" -B "$build" -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLKRT_BUILD_TESTS=OFF $launcher >/dev/null
cmake --build "$build" -j"$jobs" --target lkrt_fuzz_load lkrt_fuzz_code lkrt_make_model
mkdir -p "$build/corpus" "$build/corpus-code" "$build/crashes"
"$build/lkrt_make_model" seeds "$build/corpus"
"$build/lkrt_fuzz_load" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix="$build/crashes/" -print_final_stats=1 "$build/corpus"
code_seconds=$(( seconds < 15 ? seconds : 15 ))
"$build/lkrt_fuzz_code" -max_total_time="$code_seconds" -max_len=256 -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix="$build/crashes/" -print_final_stats=1 "$build/corpus-code"
