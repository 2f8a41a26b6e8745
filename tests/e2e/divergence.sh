#!/usr/bin/env bash
# Every family on the training loop: a learning rate that blows up ends the run with exit 1
# and a message that names the last good checkpoint; --resume with a lower --lr continues
# from it to the end.
source "$(dirname "$0")/lib.sh"

small=(--data shapes:320 --size 28 --batch 16 --epochs 1 --seed 5 --threads 1 --checkpoint-every 2 --log-every 2)
declare -A runs=(
  [dcgan]="train --model dcgan ${small[*]} --width 8 --latent-dim 16"
  [vae]="train --model vae ${small[*]} --width 8 --latent-dim 8"
  [ddpm]="train --model ddpm ${small[*]} --width 8 --mults 1,2 --timesteps 50 --sample-steps 2"
  [pix2pix]="train --model pix2pix --task denoise ${small[*]} --width 8"
  [classifier]="classifier train ${small[*]} --width 8 --feature-dim 16 --test-limit 32"
)
declare -A sane=([dcgan]=2e-4 [vae]=1e-3 [ddpm]=4e-4 [pix2pix]=2e-4 [classifier]=1e-3)

for name in dcgan vae ddpm pix2pix classifier; do
  run="$WORK/$name"
  resume=(train --resume --out "$run")
  [ "$name" = classifier ] && resume=(classifier train --resume --out "$run")
  # Six good steps, then a learning rate of 1e9 from step 7: the loss is not finite within a
  # step or two. (1e15 is refused: config.json keeps numbers below 2^31.)
  # shellcheck disable=SC2086
  "$LATENTKIT" ${runs[$name]} --max-steps 6 --out "$run" 2> "$run.log" || fail "$name: the first 6 steps exited $?"
  "$LATENTKIT" "${resume[@]}" --max-steps 20 --lr 1e15 2> "$run-refused.log"
  rc=$?
  [ "$rc" = 2 ] && grep -q "must be below 2147483648" "$run-refused.log" ||
    fail "$name: --lr 1e15 exits 2 with the limit, got $rc: $(tail -1 "$run-refused.log")"
  # DCGAN's BatchNorm rescales what 1e9 does to its weights: its losses grow to about 1e20 but
  # stay finite, so no rate the CLI accepts makes it diverge; pix2pix covers the GAN losses.
  [ "$name" = dcgan ] && continue
  "$LATENTKIT" "${resume[@]}" --max-steps 20 --lr 1e9 2> "$run-diverged.log"
  rc=$?
  msg=$(grep "^error:" "$run-diverged.log")
  [ "$rc" = 1 ] || fail "$name: a diverged run exits 1, got $rc: $msg"
  grep -q "training diverged at step" <<<"$msg" || fail "$name: no divergence message: $msg"
  good=$(sed -n 's/.*the last good checkpoint is \([^ ]*\) .*/\1/p' <<<"$msg")
  [ -f "$good" ] || fail "$name: the message names no checkpoint on disk: $msg"
  grep -qF -- "${resume[*]} --lr" <<<"$msg" || fail "$name: the message does not say how to continue: $msg"
  [ "$(cat "$run/checkpoints/latest")" = "$(basename "$good")" ] || fail "$name: checkpoints/latest does not name $good"
  echo "ok: $name: $msg"
  # The advice works: from the good checkpoint with a sane rate, the run ends.
  "$LATENTKIT" "${resume[@]}" --lr "${sane[$name]}" 2> "$run-resumed.log" ||
    fail "$name: resuming with --lr ${sane[$name]} exited $?: $(tail -2 "$run-resumed.log")"
  grep -q "from $good" "$run-resumed.log" || fail "$name: the resume did not start from $good"
  [ -f "$run/checkpoints/step-0000020.pt" ] || fail "$name: the resumed run did not reach step 20"
done
finish
