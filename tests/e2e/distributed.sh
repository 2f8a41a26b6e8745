#!/usr/bin/env bash
# Data-parallel training on c10d / Gloo with the real program: every family as two ranks
# (--nproc 2), rank 0 alone writing the run folder; a rank that dies or hangs ends the job
# with a message within the timeout and leaves the last checkpoint intact; --resume then
# continues the whole job exactly; Ctrl-C stops every rank at one checkpoint; and two ranks
# in two network namespaces train over a veth pair (when root may make namespaces).
source "$(dirname "$0")/lib.sh"

tiny=(--data shapes:96 --size 28 --batch 8 --seed 4 --threads 1 --log-every 5)

# 1. Every family trains as two ranks (dcgan's at a --master given to --nproc).
for family in "dcgan --width 8 --latent-dim 8" "vae --width 8 --latent-dim 4" \
              "ddpm --width 8 --mults 1,2 --timesteps 50 --sample-steps 2" "pix2pix --task deblur,denoise --width 8"; do
  name=${family%% *}
  master=()
  [ "$name" = dcgan ] && master=(--master "127.0.0.1:$((20000 + RANDOM % 20000))")
  # shellcheck disable=SC2086
  "$LATENTKIT" train --model $family "${tiny[@]}" --max-steps 10 --checkpoint-every 5 --nproc 2 "${master[@]}" \
    --out "$WORK/$name" 2> "$WORK/$name.log" || fail "$name --nproc 2 exited $?: $(tail -3 "$WORK/$name.log")"
  [ "$name" = dcgan ] && ! grep -q "master ${master[1]}" "$WORK/$name.log" && fail "--nproc did not use --master"
  grep -q "throughput: .* img/s for the job (2 ranks x 4 images per step; " "$WORK/$name.log" ||
    fail "$name: no throughput for the job: $(tail -4 "$WORK/$name.log")"
  grep -q "^  rank 1: .* img/s; .* in collectives" "$WORK/$name.log" || fail "$name: no throughput for rank 1"
  [ -s "$WORK/$name/model.pt" ] || fail "$name: no model.pt"
  [ "$(cat "$WORK/$name/checkpoints/latest")" = "step-0000010.pt" ] || fail "$name: no checkpoint at step 10"
  [ "$(grep -c '"ranks":2' "$WORK/$name/train.jsonl")" = 2 ] ||
    fail "$name: train.jsonl should hold 2 rows, written by rank 0 alone: $(cat "$WORK/$name/train.jsonl")"
done

# The classifier runs on the same loop: two ranks as well.
"$LATENTKIT" classifier train --width 8 --feature-dim 16 --test-limit 32 "${tiny[@]}" --max-steps 12 --checkpoint-every 5 \
  --nproc 2 --out "$WORK/classifier" 2> "$WORK/classifier.log" || fail "classifier --nproc 2 exited $?: $(tail -3 "$WORK/classifier.log")"
grep -q "throughput: .* img/s for the job (2 ranks x 4 images per step; " "$WORK/classifier.log" ||
  fail "classifier: no throughput for the job: $(tail -4 "$WORK/classifier.log")"
[ -s "$WORK/classifier/model.pt" ] && [ -s "$WORK/classifier/metrics.json" ] || fail "classifier: no model.pt or metrics.json"

# 2. A rank that dies: rank 1 SIGKILLs itself after step 14; rank 0 ends at once with a
# message, the checkpoint of step 12 (the end of the first epoch) is intact, and --resume (now with --nproc 2) ends
# bit for bit where a job that was never interrupted ends.
ddpm=(--model ddpm --width 8 --mults 1,2 --timesteps 50 --sample-steps 2 "${tiny[@]}" --max-steps 30 --checkpoint-every 10)
"$LATENTKIT" train "${ddpm[@]}" --nproc 2 --out "$WORK/straight" 2> "$WORK/straight.log" ||
  fail "uninterrupted job exited $?: $(tail -3 "$WORK/straight.log")"
join=(--world-size 2 --master "127.0.0.1:$((20000 + RANDOM % 20000))" --dist-timeout 10)
"$LATENTKIT" train "${ddpm[@]}" --rank 0 "${join[@]}" --out "$WORK/killed" 2> "$WORK/rank0.log" &
rank0=$!
LATENTKIT_TEST_KILL_AT_STEP=14 "$LATENTKIT" train "${ddpm[@]}" --rank 1 "${join[@]}" --out "$WORK/killed" 2> "$WORK/rank1.log"
rc1=$?
start=$(date +%s%N)
wait "$rank0"
rc0=$?
waited_ms=$((($(date +%s%N) - start) / 1000000))
[ "$rc1" = 137 ] || fail "rank 1 was to die of SIGKILL (137), exited $rc1: $(tail -3 "$WORK/rank1.log")"
[ "$rc0" != 0 ] || fail "rank 0 went on without rank 1"
grep -q "error: rank 0: .* failed: a rank of the job died or stopped answering" "$WORK/rank0.log" ||
  fail "rank 0 does not say why it stopped: $(tail -3 "$WORK/rank0.log")"
[ "$waited_ms" -lt 10000 ] || fail "rank 0 took $waited_ms ms to end after rank 1 died (timeout 10 s)"
[ "$(cat "$WORK/killed/checkpoints/latest")" = "step-0000012.pt" ] || fail "the latest checkpoint should be step 12"
"$LATENTKIT" train --resume --nproc 2 --out "$WORK/killed" 2> "$WORK/resume.log" ||
  fail "resume exited $?: $(tail -3 "$WORK/resume.log")"
grep -q "resumed .* (step 12) on 2 ranks" "$WORK/resume.log" || fail "resume does not say where it resumed from"
cmp "$WORK/straight/model.pt" "$WORK/killed/model.pt" || fail "model.pt differs after a dead rank and resume"
cmp "$WORK/straight/checkpoints/step-0000030.pt" "$WORK/killed/checkpoints/step-0000030.pt" ||
  fail "the final checkpoint differs after a dead rank and resume"

# 3. A rank that hangs (SIGSTOP): rank 0 gives up after --dist-timeout 3, not never.
join=(--world-size 2 --master "127.0.0.1:$((20000 + RANDOM % 20000))" --dist-timeout 3)
long=(--model ddpm --width 8 --mults 1,2 --timesteps 50 --sample-steps 2 "${tiny[@]}" --epochs 10000 --checkpoint-every 10)
"$LATENTKIT" train "${long[@]}" --rank 0 "${join[@]}" --out "$WORK/hang" 2> "$WORK/hang0.log" &
rank0=$!
"$LATENTKIT" train "${long[@]}" --rank 1 "${join[@]}" --out "$WORK/hang" 2> "$WORK/hang1.log" &
rank1=$!
wait_for_file "$WORK/hang/train.jsonl" 30
kill -STOP "$rank1"
start=$(date +%s%N)
wait "$rank0"
rc0=$?
waited_ms=$((($(date +%s%N) - start) / 1000000))
kill -KILL "$rank1"
wait "$rank1" 2> /dev/null
[ "$rc0" != 0 ] || fail "rank 0 should fail when rank 1 hangs"
grep -q "a rank of the job died or stopped answering (timeout 3 s)" "$WORK/hang0.log" ||
  fail "rank 0 does not say that a rank stopped answering: $(tail -3 "$WORK/hang0.log")"
[ "$waited_ms" -lt 9000 ] || fail "rank 0 took $waited_ms ms to give up on a hung rank (timeout 3 s)"
[ "$waited_ms" -gt 2000 ] || fail "rank 0 gave up after $waited_ms ms, before the 3 s timeout"

# 4. --nproc: a rank killed from outside ends the job; the launcher says which and fails.
"$LATENTKIT" train "${long[@]}" --nproc 2 --dist-timeout 10 --out "$WORK/launch" 2> "$WORK/launch.log" &
launcher=$!
wait_for_file "$WORK/launch/train.jsonl" 30
kill -KILL "$(pgrep -P "$launcher" -f -- "--rank 1 ")"
wait "$launcher"
rc=$?
[ "$rc" = 1 ] || fail "the launcher should exit 1 when a rank is killed, got $rc"
grep -q "rank 1 exited with code 137" "$WORK/launch.log" || fail "the launcher does not say which rank died"
grep -q "error: rank 0: .* failed: a rank of the job died" "$WORK/launch.log" || fail "rank 0 does not say why it ended"

# 5. Ctrl-C (SIGINT to the launcher): every rank stops after the same step, rank 0 saves a
# checkpoint, all exit 0; --resume finishes the job.
"$LATENTKIT" train "${long[@]}" --nproc 2 --out "$WORK/sigint" 2> "$WORK/sigint.log" &
launcher=$!
wait_for_file "$WORK/sigint/train.jsonl" 30
kill -INT "$launcher"
wait "$launcher"
rc=$?
[ "$rc" = 0 ] || fail "SIGINT should stop the job cleanly (exit 0), got $rc: $(tail -3 "$WORK/sigint.log")"
grep -q "interrupted, checkpoint saved" "$WORK/sigint.log" || fail "rank 0 does not report the stop"
step=$(sed 's/step-0*\([0-9]*\).pt/\1/' "$WORK/sigint/checkpoints/latest")
# Resume to the end of the next epoch (96 / 8 = 12 steps each).
"$LATENTKIT" train --resume --epochs $((step / 12 + 2)) --nproc 2 --out "$WORK/sigint" 2> "$WORK/sigint-resume.log" ||
  fail "resume after SIGINT exited $?: $(tail -3 "$WORK/sigint-resume.log")"
grep -q "(step $step) on 2 ranks" "$WORK/sigint-resume.log" || fail "resume after SIGINT did not start at step $step"

# 6. Mistakes are clear errors.
expect_error 2 "--batch 9 does not divide by the 2 ranks" -- \
  "$LATENTKIT" train --model vae --data shapes:96 --size 28 --batch 9 --nproc 2 --out "$WORK/odd"
expect_error 2 "--nproc starts the ranks on this host itself" -- \
  "$LATENTKIT" train "${ddpm[@]}" --nproc 2 --rank 1 --world-size 2 --out "$WORK/both"
expect_error 2 "--rank 2 needs a --world-size above it" -- \
  "$LATENTKIT" train "${ddpm[@]}" --rank 2 --world-size 2 --out "$WORK/rank2"
expect_error 2 "--master must be HOST:PORT" -- \
  "$LATENTKIT" train "${ddpm[@]}" --rank 0 --world-size 2 --master localhost --out "$WORK/master"
expect_error 2 "rank 1 could not join the job at 127.0.0.1:9" -- \
  "$LATENTKIT" train "${ddpm[@]}" --rank 1 --world-size 2 --master 127.0.0.1:9 --dist-timeout 1 --out "$WORK/alone"
grep -q "Logging before InitGoogleLogging" <("$LATENTKIT" train "${ddpm[@]}" --rank 1 --world-size 2 \
  --master 127.0.0.1:9 --dist-timeout 1 --out "$WORK/alone" 2>&1) && fail "LibTorch's own log lines reach the user"
# 7. Two "hosts": each rank in its own network namespace, joined by a veth pair, rank 1
# reaching rank 0 at 10.78.0.1 over a real network interface. Needs root and ip netns.
ns0=lke2e$$a
ns1=lke2e$$b
trap 'ip netns del "$ns0" 2> /dev/null; ip netns del "$ns1" 2> /dev/null; rm -rf "$WORK"' EXIT
if [ "$(id -u)" = 0 ] && ip netns add "$ns0" 2> /dev/null && ip netns add "$ns1" &&
   ip link add "v$$a" type veth peer name "v$$b" && ip link set "v$$a" netns "$ns0" && ip link set "v$$b" netns "$ns1" &&
   ip -n "$ns0" addr add 10.78.0.1/24 dev "v$$a" && ip -n "$ns1" addr add 10.78.0.2/24 dev "v$$b" &&
   ip -n "$ns0" link set "v$$a" up && ip -n "$ns1" link set "v$$b" up &&
   ip -n "$ns0" link set lo up && ip -n "$ns1" link set lo up; then
  before=$failures
  hosts=(--model vae --width 8 --latent-dim 4 "${tiny[@]}" --max-steps 10 --checkpoint-every 5 --world-size 2
         --master 10.78.0.1:29517 --dist-timeout 20 --out "$WORK/hosts")
  ip netns exec "$ns0" "$LATENTKIT" train "${hosts[@]}" --rank 0 2> "$WORK/host0.log" &
  rank0=$!
  ip netns exec "$ns1" "$LATENTKIT" train "${hosts[@]}" --rank 1 2> "$WORK/host1.log" ||
    fail "rank 1 in its namespace exited $?: $(tail -2 "$WORK/host1.log")"
  wait "$rank0" || fail "rank 0 in its namespace exited $?: $(tail -2 "$WORK/host0.log")"
  [ "$(grep -c '"ranks":2' "$WORK/hosts/train.jsonl")" = 2 ] || fail "the two-namespace job wrote no log"
  grep -q "rank 1 of 2 joined the job at 10.78.0.1:29517" "$WORK/host1.log" || fail "rank 1 did not join over the veth pair"
  [ "$failures" = "$before" ] && echo "ok: two ranks in two network namespaces over a veth pair"
else
  echo "skipped: two namespaces (needs root and ip netns)"
fi
finish
