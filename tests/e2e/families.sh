#!/usr/bin/env bash
# The model families and losses beyond DCGAN, through the real binary on tiny models:
# cgan (concat and AC-GAN, hinge and WGAN-GP) with generate --class / --per-class, the VAE
# with reconstruct, encode, resume and eval's posterior KL, and the conditional VAE.
source "$(dirname "$0")/lib.sh"
L="$LATENTKIT"
ROOT_MODELS="$(cd "$(dirname "$0")/../.." && pwd)/models"
tiny=(--batch 16 --width 8 --latent-dim 8 --threads 1 --seed 3)

"$L" train --model cgan --loss hinge --data fashion-mnist --limit 160 --max-steps 30 "${tiny[@]}" \
  --out "$WORK/cgan" 2> "$WORK/cgan.log" || fail "train --model cgan exited $?: $(tail -3 "$WORK/cgan.log")"
grep -q '"family": "cgan"' "$WORK/cgan/config.json" || fail "a cgan run's config.json names another family"
grep -q "cgan (concat, 10 classes)" "$WORK/cgan.log" || fail "train does not say it trains a cgan"
"$L" generate --run "$WORK/cgan" --class sandal --n 4 --out "$WORK/sandals.png" 2> /dev/null || fail "generate --class exited $?"
"$L" generate --run "$WORK/cgan" --class 7 --n 4 --out "$WORK/seven.png" 2> /dev/null || fail "generate --class 7 exited $?"
"$L" generate --run "$WORK/cgan" --per-class 3 --out "$WORK/classes.png" 2> /dev/null || fail "generate --per-class exited $?"
[ "$(png_size "$WORK/classes.png")" = "92 302" ] || fail "--per-class 3 should be 3 x 10 images: $(png_size "$WORK/classes.png")"
expect_error 2 "the classes are: 0 t-shirt" -- "$L" generate --run "$WORK/cgan" --class boot --out "$WORK/x.png"
expect_error 2 "not a conditional model" -- "$L" generate --run "$ROOT_MODELS/fashion-dcgan" --class 1 --out "$WORK/x.png"

"$L" train --model cgan --cond acgan --loss wgan-gp --data shapes:64 --condition-on hue --epochs 10 --max-steps 30 "${tiny[@]}" \
  --out "$WORK/acgan" 2> "$WORK/acgan.log" || fail "train --cond acgan --loss wgan-gp exited $?: $(tail -3 "$WORK/acgan.log")"
grep -q '"n_critic": 5' "$WORK/acgan/config.json" || fail "wgan-gp should default to 5 critic steps"
grep -q '"critic_norm": "none"' "$WORK/acgan/config.json" || fail "a WGAN-GP critic should have no BatchNorm"
"$L" generate --run "$WORK/acgan" --class blue --n 2 --out "$WORK/blue.png" 2> /dev/null || fail "generate --class blue exited $?"
expect_error 2 "hue factor" -- "$L" train --model cgan --data fashion-mnist --limit 32 --condition-on hue --max-steps 1 \
  "${tiny[@]}" --out "$WORK/nohue"

"$L" train --model vae --data fashion-mnist --limit 160 --max-steps 6 --checkpoint-every 3 --batch 16 --threads 1 \
  --out "$WORK/vae" 2> "$WORK/vae.log" || fail "train --model vae exited $?: $(tail -3 "$WORK/vae.log")"
grep -q '"family": "vae"' "$WORK/vae/config.json" || fail "a vae run's config.json names another family"
grep -q '"latent_dim": 16' "$WORK/vae/config.json" || fail "the vae's default latent size is 16"
grep -q '"elbo"' "$WORK/vae/train.jsonl" || fail "train.jsonl of a vae logs no ELBO"
"$L" train --resume --epochs 1 --max-steps 8 --out "$WORK/vae" 2> /dev/null || fail "train --resume of a vae exited $?"
"$L" reconstruct --run "$WORK/vae" --data fashion-mnist --n 6 --out "$WORK/recon.png" 2> "$WORK/recon.log" ||
  fail "reconstruct exited $?: $(cat "$WORK/recon.log")"
[ "$(png_size "$WORK/recon.png")" = "182 62" ] || fail "6 inputs above 6 reconstructions: $(png_size "$WORK/recon.png")"
"$L" generate --run "$WORK/vae" --n 4 --each "$WORK/vae-images" 2> /dev/null || fail "generate from a vae exited $?"
"$L" encode --run "$WORK/vae" "$WORK/vae-images/00000.png" > "$WORK/z.json" 2> /dev/null || fail "encode exited $?"
grep -q '"log_var"' "$WORK/z.json" || fail "encode prints no log_var: $(head -c 200 "$WORK/z.json")"
"$L" generate --run "$WORK/vae" --interpolate 1,2 --steps 4 --out "$WORK/vae-strip.png" 2> /dev/null ||
  fail "generate --interpolate on a vae exited $?"
"$L" eval --run "$WORK/vae" --n 64 --metrics fid --no-floor --features "$ROOT_MODELS/fashion-classifier" \
  --cache-dir "$WORK/cache" --threads 1 \
  > /dev/null 2> "$WORK/eval.log" || fail "eval of a vae exited $?: $(tail -3 "$WORK/eval.log")"
grep -q "posterior KL" "$WORK/eval.log" || fail "eval of a vae reports no posterior KL: $(tail -5 "$WORK/eval.log")"
expect_error 2 "has no encoder" -- "$L" encode --run "$WORK/cgan" "$WORK/vae-images/00000.png"
expect_error 2 "is 70x36; the model encodes 28x28" -- "$L" encode --run "$WORK/vae" "$WORK/blue.png"

"$L" train --model cvae --data fashion-mnist --limit 160 --max-steps 30 --batch 16 --threads 1 \
  --out "$WORK/cvae" 2> "$WORK/cvae.log" || fail "train --model cvae exited $?: $(tail -3 "$WORK/cvae.log")"
grep -q '"family": "cvae"' "$WORK/cvae/config.json" || fail "a cvae run's config.json names another family"
"$L" generate --run "$WORK/cvae" --class sneaker --n 2 --each "$WORK/cvae-images" 2> /dev/null ||
  fail "generate --class from a cvae exited $?"
"$L" encode --run "$WORK/cvae" --class sneaker "$WORK/cvae-images/00000.png" > "$WORK/cz.json" 2> /dev/null ||
  fail "encode --class exited $?"
grep -q '"class":7' "$WORK/cz.json" || fail "encode of a cvae prints no class: $(head -c 200 "$WORK/cz.json")"
expect_error 2 "give the image's class with --class" -- "$L" encode --run "$WORK/cvae" "$WORK/cvae-images/00000.png"
expect_error 2 "not a conditional model" -- "$L" encode --run "$WORK/vae" --class 1 "$WORK/vae-images/00000.png"
"$L" reconstruct --run "$WORK/cvae" --data fashion-mnist --n 4 --out "$WORK/crecon.png" 2> /dev/null ||
  fail "reconstruct of a cvae exited $?"
"$L" eval --run "$WORK/cvae" --n 64 --metrics fid --no-floor --features "$ROOT_MODELS/fashion-classifier" \
  --cache-dir "$WORK/cache" --threads 1 > /dev/null 2> "$WORK/ceval.log" || fail "eval of a cvae exited $?: $(tail -3 "$WORK/ceval.log")"
grep -q "class accuracy" "$WORK/ceval.log" || fail "eval of a cvae reports no class accuracy: $(tail -5 "$WORK/ceval.log")"
grep -q "posterior KL" "$WORK/ceval.log" || fail "eval of a cvae reports no posterior KL"
finish
