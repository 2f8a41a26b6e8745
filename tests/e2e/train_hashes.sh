#!/usr/bin/env bash
# Behaviour of every trainer, pinned: a short seeded run per family (about 20 steps, one
# thread) must write the same bytes as when tests/data/golden/train_hashes.txt was recorded:
# SHA-256 of model.pt and of the last checkpoint. A change to a trainer's maths, its random
# draws or its checkpoint layout shows here. Record again only with a reason in the commit:
#   bash tests/e2e/train_hashes.sh build/latentkit --record
source "$(dirname "$0")/lib.sh"
# The bytes were recorded with OpenBLAS's AVX-512 kernels (its SkylakeX core type, which it
# picked on the machine that recorded them). On a Zen 5 EPYC (CPU family 26), OpenBLAS 0.3.21
# takes its Haswell kernels instead, which sum in another order, and every family writes
# other bytes (with SkylakeX forced they match). Pin the core type wherever the CPU has AVX-512.
if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then export OPENBLAS_CORETYPE=SkylakeX; fi
GOLDEN="$(dirname "$0")/../data/golden/train_hashes.txt"
RECORD="${2:-}"

small=(--data shapes:320 --size 28 --batch 16 --epochs 1 --seed 5 --threads 1 --checkpoint-every 7 --log-every 4 --precision fp32)
declare -A runs=(
  [dcgan]="train --model dcgan ${small[*]} --width 8 --latent-dim 16"
  [cgan]="train --model cgan --cond acgan --loss hinge --n-critic 2 ${small[*]} --width 8 --latent-dim 16"
  [wgan]="train --model dcgan --loss wgan-gp ${small[*]} --width 8 --latent-dim 16"
  [vae]="train --model vae ${small[*]} --width 8 --latent-dim 8"
  [cvae]="train --model cvae --recon mse ${small[*]} --width 8 --latent-dim 8"
  [ddpm]="train --model ddpm --tasks inpaint,restore ${small[*]} --width 8 --mults 1,2 --timesteps 50 --sample-steps 3"
  [cddpm]="train --model cddpm --prediction v --schedule cosine ${small[*]} --width 8 --mults 1,2 --timesteps 50 --sample-steps 3"
  [pix2pix]="train --model pix2pix --task deblur,denoise ${small[*]} --width 8"
  [classifier]="classifier train --data shapes:320 --size 28 --batch 16 --epochs 1 --seed 5 --threads 1 --precision fp32 --width 8 --feature-dim 16 --test-limit 64"
)
order=(dcgan cgan wgan vae cvae ddpm cddpm pix2pix classifier encoder)

hashes() {  # RUN_DIR: "sha(model.pt) sha(last checkpoint)"
  local latest
  latest=$(cat "$1/checkpoints/latest" 2>/dev/null)
  echo "$(sha256sum "$1/model.pt" | cut -c1-16) $( [ -n "$latest" ] && sha256sum "$1/checkpoints/$latest" | cut -c1-16 || echo -)"
}

out="$WORK/hashes.txt"
for name in "${order[@]}"; do
  if [ "$name" = encoder ]; then
    # The encoder trains inside a GAN run folder, on the dcgan run above.
    "$LATENTKIT" encoder train --run "$WORK/dcgan" --data shapes:320 --size 28 --steps 20 --batch 16 --width 8 \
      --seed 5 --threads 1 --precision fp32 2> "$WORK/encoder.log" || fail "encoder: exited $?: $(tail -2 "$WORK/encoder.log")"
    echo "encoder $(hashes "$WORK/dcgan/encoder")" >> "$out"
    continue
  fi
  # shellcheck disable=SC2086
  "$LATENTKIT" ${runs[$name]} --out "$WORK/$name" 2> "$WORK/$name.log" ||
    fail "$name: exited $?: $(tail -2 "$WORK/$name.log")"
  echo "$name $(hashes "$WORK/$name")" >> "$out"
done
cat "$out"

if [ "$RECORD" = "--record" ]; then
  cp "$out" "$GOLDEN"
  echo "recorded $GOLDEN"
else
  while read -r name model ckpt; do
    want=$(grep "^$name " "$GOLDEN") || { fail "$name has no recorded hashes in $GOLDEN"; continue; }
    [ "$want" = "$name $model $ckpt" ] || fail "$name wrote other bytes: got '$model $ckpt', recorded '${want#* }'"
  done < "$out"
fi
finish
