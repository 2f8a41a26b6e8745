#!/usr/bin/env bash
# Every family on the training loop (and the DCGAN in bf16 too): a run killed with SIGKILL
# mid-way and resumed ends bitwise identical to one that was never interrupted (1 thread):
# model.pt, the last checkpoint and train.jsonl (but for the measured speed).
source "$(dirname "$0")/lib.sh"

small=(--data shapes:320 --size 28 --batch 16 --epochs 2 --seed 5 --threads 1 --checkpoint-every 7 --log-every 4)
declare -A runs=(
  [dcgan]="train --model dcgan ${small[*]} --width 8 --latent-dim 16"
  [dcgan-bf16]="train --model dcgan --precision bf16 ${small[*]} --width 8 --latent-dim 16"
  [vae]="train --model vae ${small[*]} --width 8 --latent-dim 8"
  [ddpm]="train --model ddpm --tasks inpaint ${small[*]} --width 8 --mults 1,2 --timesteps 50 --sample-steps 2"
  [pix2pix]="train --model pix2pix --task denoise ${small[*]} --width 8"
  [classifier]="classifier train ${small[*]} --width 8 --feature-dim 16 --test-limit 32"
)
no_speed() { sed 's/"img_per_s":[^,}]*[,]\{0,1\}//' "$1"; }

# check NAME STRAIGHT KILLED: the same bytes after the kill and the resume.
check() {
  local name="$1" straight="$2" killed="$3"
  cmp -s "$straight/model.pt" "$killed/model.pt" || fail "$name: model.pt differs after kill and resume"
  cmp -s "$straight/checkpoints/step-0000040.pt" "$killed/checkpoints/step-0000040.pt" ||
    fail "$name: final checkpoint (weights, optimiser, RNG) differs after kill and resume"
  cmp -s <(no_speed "$straight/train.jsonl") <(no_speed "$killed/train.jsonl") || fail "$name: train.jsonl differs after kill and resume"
  ls "$killed/checkpoints" | grep -q tmp && fail "$name: a temp file was left in checkpoints/"
  echo "ok: $name resumed bitwise identical"
}

for name in dcgan dcgan-bf16 vae ddpm pix2pix classifier; do
  # shellcheck disable=SC2086
  "$LATENTKIT" ${runs[$name]} --out "$WORK/$name" 2> "$WORK/$name.log" || fail "$name: uninterrupted run exited $?"
  # SIGKILL after step 17: the newest checkpoint is step 14, so the resume replays 15-17.
  # shellcheck disable=SC2086
  LATENTKIT_TEST_KILL_AT_STEP=17 "$LATENTKIT" ${runs[$name]} --out "$WORK/$name-killed" 2> "$WORK/$name-killed.log"
  rc=$?
  [ "$rc" = 137 ] || fail "$name: the run was to die of SIGKILL (exit 137), exited $rc"
  [ "$(cat "$WORK/$name-killed/checkpoints/latest")" = "step-0000014.pt" ] || fail "$name: latest checkpoint should be step 14"
  resume=(train --resume --out "$WORK/$name-killed")
  [ "$name" = classifier ] && resume=(classifier train --resume --out "$WORK/$name-killed")
  "$LATENTKIT" "${resume[@]}" 2> "$WORK/$name-resume.log" || fail "$name: resume exited $?: $(tail -3 "$WORK/$name-resume.log")"
  grep -q "resumed" "$WORK/$name-resume.log" || fail "$name: resume does not say where it resumed from"
  check "$name" "$WORK/$name" "$WORK/$name-killed"
done

# The encoder trains in RUN/encoder of a generator run: 40 steps of its own draws.
cp -r "$WORK/dcgan" "$WORK/dcgan-copy"
enc=(encoder train --data shapes:320 --size 28 --steps 40 --batch 16 --width 8 --seed 5 --threads 1 --checkpoint-every 7 --log-every 4)
"$LATENTKIT" "${enc[@]}" --run "$WORK/dcgan" 2> "$WORK/enc.log" || fail "encoder: uninterrupted run exited $?"
LATENTKIT_TEST_KILL_AT_STEP=17 "$LATENTKIT" "${enc[@]}" --run "$WORK/dcgan-copy" 2> "$WORK/enc-killed.log"
[ $? = 137 ] || fail "encoder: the run was to die of SIGKILL (exit 137)"
"$LATENTKIT" encoder train --resume --run "$WORK/dcgan-copy" 2> "$WORK/enc-resume.log" ||
  fail "encoder: resume exited $?: $(tail -3 "$WORK/enc-resume.log")"
check encoder "$WORK/dcgan/encoder" "$WORK/dcgan-copy/encoder"

# --resume takes the run's own options: the data, --batch and --seed cannot change.
expect_error 2 "--batch cannot change on --resume" -- "$LATENTKIT" train --resume --out "$WORK/vae" --batch 8
finish
