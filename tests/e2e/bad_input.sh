#!/usr/bin/env bash
# Every bad input gets one clear message and exit code 2, never a crash.
source "$(dirname "$0")/lib.sh"
L="$LATENTKIT"

# IDX data: missing, truncated, wrong magic, corrupt gzip, mismatched counts.
mkdir -p "$WORK/idx_trunc" "$WORK/idx_magic" "$WORK/idx_gz" "$WORK/empty" "$WORK/badimg/a"
printf '\x00\x00\x08\x03\x00\x00\x00\x0a\x00\x00\x00\x1c\x00\x00\x00\x1c' > "$WORK/idx_trunc/train-images-idx3-ubyte"
head -c 100 /dev/zero >> "$WORK/idx_trunc/train-images-idx3-ubyte"
printf '\x00\x00\x08\x01\x00\x00\x00\x0a' > "$WORK/idx_trunc/train-labels-idx1-ubyte"
head -c 10 /dev/zero >> "$WORK/idx_trunc/train-labels-idx1-ubyte"
printf 'GIF89a this is no idx file at all' > "$WORK/idx_magic/train-images-idx3-ubyte"
cp "$WORK/idx_trunc/train-labels-idx1-ubyte" "$WORK/idx_magic/"
printf '\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage-that-is-not-deflate' > "$WORK/idx_gz/train-images-idx3-ubyte.gz"
cp "$WORK/idx_trunc/train-labels-idx1-ubyte" "$WORK/idx_gz/"
echo "not a picture" > "$WORK/badimg/a/broken.png"

expect_error 2 "Feature axes in latent space" -- "$L" axes
expect_error 2 "export" -- "$L"
expect_error 2 "not found" -- "$L" data info --data "idx:$WORK/nope"
expect_error 2 "truncated" -- "$L" data info --data "idx:$WORK/idx_trunc"
expect_error 2 "train-images-idx3-ubyte" -- "$L" data info --data "idx:$WORK/idx_magic"
expect_error 2 "train-images-idx3-ubyte.gz" -- "$L" data info --data "idx:$WORK/idx_gz"
expect_error 2 "contains no" -- "$L" data info --data "folder:$WORK/empty" --size 32
expect_error 2 "broken.png" -- "$L" data info --data "folder:$WORK/badimg" --size 32
expect_error 2 "--size" -- "$L" data info --data "folder:$WORK/badimg"
expect_error 2 "shapes" -- "$L" data info --data "imagenet"
expect_error 2 "fashion-mnist" -- env LATENTKIT_FASHION_MNIST="$WORK/nope" "$L" data info
# The emoji packages: missing, or an unknown vendor, label, augment policy or background.
expect_error 2 "emoji-datasource-google not found in $WORK/nope (from LATENTKIT_EMOJI_DIR); install it with scripts/setup" -- \
  env LATENTKIT_EMOJI_DIR="$WORK/nope" "$L" data info --data emoji
expect_error 2 "unknown emoji vendor 'apple' (expected emoji, emoji:google or emoji:twitter" -- "$L" data info --data emoji:apple
expect_error 2 "--condition-on: unknown 'colour' (expected class, hue, category, subcategory, vendor or skin-tone)" -- \
  "$L" train --model cgan --data emoji --condition-on colour --out "$WORK/r0"
expect_error 2 "--condition-on vendor needs data with vendor labels" -- \
  "$L" train --model cgan --data shapes:64 --condition-on vendor --batch 16 --max-steps 1 --out "$WORK/r0"
expect_error 2 "--augment: unknown transform 'blur'" -- "$L" train --data emoji --augment diffaug:blur --out "$WORK/r0"
expect_error 2 "--background: 'pink' is not a color (expected white, black or #rrggbb" -- \
  "$L" data info --data emoji --background pink

# Command line: unknown model, bad numbers, missing options.
expect_error 2 "--model" -- "$L" train --model stylegan9 --out "$WORK/r1"
expect_error 2 "--out" -- "$L" train --data shapes:64
expect_error 2 "--batch" -- "$L" train --data shapes:64 --batch 1 --out "$WORK/r2"
expect_error 2 "larger than the dataset" -- "$L" train --data shapes:64 --batch 128 --out "$WORK/r3"
expect_error 2 "not supported" -- "$L" train --data shapes:64 --size 48 --batch 16 --out "$WORK/r4"
expect_error 2 "no config.json" -- "$L" train --resume --out "$WORK/nothing"
expect_error 2 "" -- "$L" frobnicate
# Ranges and names say what is wrong in words (never CLI11's "0.000000 to 1797693134862...").
expect_error 2 "--epochs: must be >= 1, got -3" -- "$L" train --epochs -3 --out "$WORK/r5"
expect_error 2 "--lr: must be > 0, got 0" -- "$L" train --lr 0 --out "$WORK/r5"
expect_error 2 "--max-steps: must be >= 0" -- "$L" classifier train --max-steps -1 --out "$WORK/r5"
expect_error 2 "unknown 'lsgan' (expected bce, hinge or wgan-gp)" -- "$L" train --loss lsgan --out "$WORK/r5"
expect_error 2 "unknown 'fp64' (expected fp32, bf16 or auto)" -- "$L" train --precision fp64 --out "$WORK/r5"
expect_error 2 "unknown 'shape' (expected class, hue, category, subcategory, vendor or skin-tone)" -- "$L" train --model cgan --condition-on shape --out "$WORK/r5"

# Run folders: missing, not a run, foreign weights.
expect_error 2 "not found" -- "$L" generate --run "$WORK/nope" --out "$WORK/g.png"
expect_error 2 "no config.json" -- "$L" generate --run "$WORK/empty" --out "$WORK/g.png"
"$L" train --data shapes:64 --size 28 --batch 16 --max-steps 4 --width 8 --threads 1 --out "$WORK/run" 2>/dev/null ||
  fail "tiny train failed"
expect_error 2 "already holds a run" -- "$L" train --data shapes:64 --size 28 --batch 16 --out "$WORK/run"
expect_error 2 "nothing to write" -- "$L" generate --run "$WORK/run"
echo "garbage" > "$WORK/run/model.pt"
expect_error 2 "model.pt" -- "$L" generate --run "$WORK/run" --out "$WORK/g.png"
finish
