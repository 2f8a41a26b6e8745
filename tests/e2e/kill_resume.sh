#!/usr/bin/env bash
# A run killed with SIGKILL mid-way and resumed ends bitwise identical to one that was
# never interrupted (1 thread).
source "$(dirname "$0")/lib.sh"

args=(train --model dcgan --data shapes:320 --size 28 --batch 16 --epochs 2 --width 8 --latent-dim 16
      --seed 5 --threads 1 --checkpoint-every 7 --log-every 4)

"$LATENTKIT" "${args[@]}" --out "$WORK/straight" 2> "$WORK/straight.log" || fail "uninterrupted run exited $?"

# SIGKILL after step 17: the newest checkpoint is step 14, so the resume replays 15-17.
LATENTKIT_TEST_KILL_AT_STEP=17 "$LATENTKIT" "${args[@]}" --out "$WORK/killed" 2> "$WORK/killed.log"
rc=$?
[ "$rc" = 137 ] || fail "the run was to die of SIGKILL (exit 137), exited $rc"
[ "$(cat "$WORK/killed/checkpoints/latest")" = "step-0000014.pt" ] || fail "latest checkpoint should be step 14"
ls "$WORK/killed/checkpoints" | grep -q tmp && fail "a temp file was left in checkpoints/"

"$LATENTKIT" train --resume --out "$WORK/killed" 2> "$WORK/resume.log" || fail "resume exited $?: $(tail -3 "$WORK/resume.log")"
grep -q "resumed" "$WORK/resume.log" || fail "resume does not say where it resumed from"
cmp "$WORK/straight/model.pt" "$WORK/killed/model.pt" || fail "model.pt differs after kill and resume"
cmp "$WORK/straight/checkpoints/step-0000040.pt" "$WORK/killed/checkpoints/step-0000040.pt" ||
  fail "final checkpoint (weights, optimiser, RNG) differs after kill and resume"
# The log is the same too, but for the measured speed.
cmp <(sed 's/"img_per_s":[^,]*,//' "$WORK/straight/train.jsonl") <(sed 's/"img_per_s":[^,]*,//' "$WORK/killed/train.jsonl") ||
  fail "train.jsonl differs after kill and resume"
finish
