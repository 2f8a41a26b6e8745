#!/usr/bin/env bash
# Data-parallel training throughput on this machine, and the gradient all-reduce behind it.
#   bench/distributed.sh [BUILD_DIR] [STEPS]        (default build, 40 steps)
# For each family, on Fashion-MNIST with the family's default network and batch:
#   1 x 2   one process, 2 threads                      (the peer)
#   2 x 1   --nproc 2: two processes on loopback, 1 thread each
#   2 ns    two "hosts": each rank in its own network namespace, joined by a veth pair,
#           rank 1 reaching rank 0 at 10.77.0.1 (needs root and `ip netns`)
# img/s is the mean of train.jsonl's windows after the first (start-up and warm-up left out).
# Then build/bench_distributed times the all-reduce of the shipped models' gradients on
# loopback and over the veth pair, and estimates 8 and 64 hosts.
set -u
BUILD=${1:-build}
STEPS=${2:-40}
LK="$BUILD/latentkit"
WORK=$(mktemp -d /tmp/bench_distributed.XXXXXX)
NS=(lkbench0 lkbench1)

cleanup() {
  for ns in "${NS[@]}"; do ip netns del "$ns" 2> /dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

have_netns=0
if [ "$(id -u)" = 0 ] && ip netns add "${NS[0]}" 2> /dev/null && ip netns add "${NS[1]}" &&
   ip link add lkbveth0 type veth peer name lkbveth1 &&
   ip link set lkbveth0 netns "${NS[0]}" && ip link set lkbveth1 netns "${NS[1]}" &&
   ip -n "${NS[0]}" addr add 10.77.0.1/24 dev lkbveth0 && ip -n "${NS[1]}" addr add 10.77.0.2/24 dev lkbveth1 &&
   ip -n "${NS[0]}" link set lkbveth0 up && ip -n "${NS[1]}" link set lkbveth1 up &&
   ip -n "${NS[0]}" link set lo up && ip -n "${NS[1]}" link set lo up; then
  have_netns=1
fi

# mean img/s of a run's log windows after the first
rate() {
  grep -o '"img_per_s":[0-9.e+-]*' "$1/train.jsonl" | tail -n +2 | cut -d: -f2 |
    awk '{ s += $1; n += 1 } END { if (n) printf "%.1f", s / n; else print "nan" }'
}

compute=()
common=(--data fashion-mnist --seed 1 --max-steps "$STEPS" --log-every 5 --checkpoint-every 100000)
families=("dcgan" "vae" "ddpm" "pix2pix --task all")
echo "data-parallel throughput, Fashion-MNIST, $STEPS steps per run, $(nproc) cores ($(uname -n))"
echo "| family | 1 x 2 threads img/s | 2 x 1 (loopback) img/s | ratio | 2 namespaces (veth) img/s | ratio |"
echo "|---|---|---|---|---|---|"
for family in "${families[@]}"; do
  name=${family%% *}
  # shellcheck disable=SC2086
  "$LK" train --model $family "${common[@]}" --threads 2 --out "$WORK/$name-1x2" 2> "$WORK/$name-1x2.log" ||
    { echo "$name 1x2 failed: $(tail -2 "$WORK/$name-1x2.log")"; continue; }
  # shellcheck disable=SC2086
  "$LK" train --model $family "${common[@]}" --nproc 2 --threads 1 --out "$WORK/$name-2x1" 2> "$WORK/$name-2x1.log" ||
    { echo "$name 2x1 failed: $(tail -2 "$WORK/$name-2x1.log")"; continue; }
  one=$(rate "$WORK/$name-1x2")
  two=$(rate "$WORK/$name-2x1")
  ns="skipped (needs root and ip netns)"
  ns_ratio="-"
  if [ "$have_netns" = 1 ]; then
    master=10.77.0.1:$((20000 + RANDOM % 20000))
    # shellcheck disable=SC2086
    ip netns exec "${NS[0]}" "$LK" train --model $family "${common[@]}" --threads 1 --rank 0 --world-size 2 \
      --master "$master" --out "$WORK/$name-ns" 2> "$WORK/$name-ns0.log" &
    rank0=$!
    # shellcheck disable=SC2086
    ip netns exec "${NS[1]}" "$LK" train --model $family "${common[@]}" --threads 1 --rank 1 --world-size 2 \
      --master "$master" --out "$WORK/$name-ns" 2> "$WORK/$name-ns1.log"
    if wait "$rank0"; then
      ns=$(rate "$WORK/$name-ns")
      ns_ratio=$(awk -v a="$ns" -v b="$one" 'BEGIN { printf "%.2fx", a / b }')
    else
      ns="failed: $(tail -1 "$WORK/$name-ns0.log")"
    fi
  fi
  ratio=$(awk -v a="$two" -v b="$one" 'BEGIN { printf "%.2fx", a / b }')
  echo "| $name | $one | $two | $ratio | $ns | $ns_ratio |"
  grep -A2 "^throughput:" "$WORK/$name-2x1.log" | sed 's/^/    2 x 1: /'
  # rank 0's compute time per step (share / its rate without collectives), for the estimates
  share=$(sed -n 's/^throughput: .*(2 ranks x \([0-9.]*\) images per step.*/\1/p' "$WORK/$name-2x1.log")
  alone=$(sed -n 's/^  rank 0: .*, \([0-9.]*\) img\/s without$/\1/p' "$WORK/$name-2x1.log")
  [ -n "$share" ] && [ -n "$alone" ] &&
    compute+=("$name=$(awk -v s="$share" -v r="$alone" 'BEGIN { printf "%.1f", 1000 * s / r }'):$share")
  [ "$have_netns" = 1 ] && grep -A2 "^throughput:" "$WORK/$name-ns0.log" | sed 's/^/    2 ns:  /'
done

echo
runs=()
for run in models/fashion-dcgan models/fashion-cgan models/fashion-vae models/fashion-ddpm models/fashion-enhance; do
  [ -f "$run/config.json" ] && runs+=("$run")
done
compute_list=$(IFS=,; echo "${compute[*]}")
if [ "$have_netns" = 1 ]; then
  "$BUILD/bench_distributed" --netns "${NS[0]},${NS[1]}" --address 10.77.0.1 --compute "$compute_list" "${runs[@]}"
else
  "$BUILD/bench_distributed" --compute "$compute_list" "${runs[@]}"
fi
