#!/usr/bin/env bash
# Text to image through the real binary on a tiny model: train --model t2i on emoji
# captions, resume (the vocabulary stays the run's), generate from prompts and between two,
# the prompt errors a user meets, and eval's R-precision and CLIP score with a tiny evaluator.
source "$(dirname "$0")/lib.sh"
L="$LATENTKIT"
MODELS="$(cd "$(dirname "$0")/../.." && pwd)/models"
tiny=(--data emoji --size 16 --limit 64 --batch 16 --width 8 --mults 1,2 --text-width 16 --text-layers 1
      --timesteps 50 --sample-steps 4 --threads 1 --seed 2)

"$L" train --model t2i --max-steps 4 --checkpoint-every 2 "${tiny[@]}" --out "$WORK/t2i" 2> "$WORK/train.log" ||
  fail "train --model t2i exited $?: $(tail -3 "$WORK/train.log")"
grep -q "training t2i, [0-9]* words, (U-Net width 8" "$WORK/train.log" || fail "train does not say it trains a t2i model: $(head -2 "$WORK/train.log")"
grep -q '"family": "t2i"' "$WORK/t2i/config.json" || fail "config.json's family is not t2i"
grep -q '"<unk>"' "$WORK/t2i/config.json" || fail "config.json holds no vocabulary"
is_png "$WORK/t2i/samples/epoch-001.png" || fail "no sample grid after the first epoch"
cp "$WORK/t2i/config.json" "$WORK/config-before.json"
"$L" train --resume --max-steps 6 --out "$WORK/t2i" 2> "$WORK/resume.log" || fail "train --resume exited $?: $(tail -2 "$WORK/resume.log")"
grep -q "resumed .* (step 4)" "$WORK/resume.log" || fail "resume did not start at step 4: $(head -2 "$WORK/resume.log")"
cmp -s <(grep -o '"vocab": \[[^]]*\]' "$WORK/config-before.json") <(grep -o '"vocab": \[[^]]*\]' "$WORK/t2i/config.json") ||
  fail "the vocabulary changed on resume"

# One row of --n images per prompt; the same seed gives the same images.
"$L" generate --run "$WORK/t2i" --prompt "smiling face" --prompt "an emoji of a kat" --n 3 --guidance 3 --sampler dpmpp \
  --sample-steps 3 --threads 1 --out "$WORK/a.png" 2> "$WORK/gen.log" || fail "generate --prompt exited $?: $(tail -2 "$WORK/gen.log")"
[ "$(png_size "$WORK/a.png")" = "56 38" ] || fail "2 prompts x 3 images of 16 px: a 3 x 2 grid, got $(png_size "$WORK/a.png")"
"$L" generate --run "$WORK/t2i" --prompt "smiling face" --prompt "an emoji of a kat" --n 3 --guidance 3 --sampler dpmpp \
  --sample-steps 3 --threads 1 --out "$WORK/b.png" 2> /dev/null || fail "generate --prompt exited $?"
cmp -s "$WORK/a.png" "$WORK/b.png" || fail "the same prompts and seed should give the same images"
"$L" generate --run "$WORK/t2i" --prompt "smiling face" --n 3 --guidance 1 --sampler dpmpp \
  --sample-steps 3 --threads 1 --out "$WORK/c.png" 2> /dev/null || fail "generate --prompt exited $?"
cmp -s "$WORK/a.png" "$WORK/c.png" && fail "guidance 3 and 1 should differ"
grep -q "warning: unknown word 'kat' (nearest known:" "$WORK/gen.log" || fail "an unknown word is not warned about: $(cat "$WORK/gen.log")"
"$L" generate --run "$WORK/t2i" --interpolate-prompts "smiling face" "cat" --steps 4 --sample-steps 3 --threads 1 \
  --out "$WORK/strip.png" 2> /dev/null || fail "generate --interpolate-prompts exited $?"
[ "$(png_size "$WORK/strip.png")" = "74 20" ] || fail "a strip of 4 images of 16 px: $(png_size "$WORK/strip.png")"
"$L" generate --run "$WORK/t2i" --n 2 --sample-steps 2 --threads 1 --out "$WORK/none.png" 2> /dev/null ||
  fail "generate with no prompt (unconditional) exited $?"

expect_error 2 "the prompt is empty" -- "$L" generate --run "$WORK/t2i" --prompt " ,. " --threads 1 --out "$WORK/x.png"
expect_error 2 "words; this model reads at most 24" -- "$L" generate --run "$WORK/t2i" --threads 1 --out "$WORK/x.png" \
  --prompt "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty twenty-one twenty-two twenty-three"
expect_error 2 "need a text-to-image one" -- "$L" generate --run "$MODELS/fashion-ddpm" --prompt "a shoe" --threads 1 --out "$WORK/x.png"
expect_error 2 "not both" -- "$L" generate --run "$WORK/t2i" --prompt "cat" --interpolate-prompts "cat" "dog" --threads 1 --out "$WORK/x.png"
expect_error 2 "text models train on the emoji set" -- "$L" train --model t2i --data shapes:32 --max-steps 1 --threads 1 --out "$WORK/bad"

# eval: R-precision and CLIP score of held-out prompts, with the real images' score beside them.
"$L" clip train --data emoji --size 16 --limit 64 --batch 32 --max-steps 2 --threads 1 --seed 1 --out "$WORK/clip" \
  2> "$WORK/clip.log" || fail "clip train exited $?: $(tail -2 "$WORK/clip.log")"
"$L" eval --run "$WORK/t2i" --metrics fid,rprec,clipscore --n 12 --no-floor --features "$MODELS/emoji-classifier" \
  --clip "$WORK/clip" --sample-steps 2 --guidance 2 --threads 1 --json "$WORK/eval.json" > "$WORK/scores.json" 2> "$WORK/eval.log" ||
  fail "eval --metrics rprec,clipscore exited $?: $(tail -3 "$WORK/eval.log")"
grep -q "R-precision" "$WORK/eval.log" || fail "eval prints no R-precision: $(tail -8 "$WORK/eval.log")"
grep -q "chance 0.01" "$WORK/eval.log" || fail "R-precision without its chance level: $(grep R-precision "$WORK/eval.log")"
grep -q '"r_precision"' "$WORK/scores.json" || fail "the scores hold no r_precision"
grep -q '"guidance": 2' "$WORK/eval.json" || fail "eval.json does not record the guidance"
grep -q "canonical captions of the test split" "$WORK/eval.json" || fail "eval.json does not say where the prompts came from"
# The baseline: a category model drawing each held-out caption's category.
cp -r "$MODELS/emoji-cgan" "$WORK/cgan"  # eval writes RUN/eval.json: not into the shipped model
"$L" eval --run "$WORK/cgan" --metrics rprec --n 12 --no-floor --features "$MODELS/emoji-classifier" \
  --clip "$WORK/clip" --threads 1 --json "$WORK/base.json" > /dev/null 2> "$WORK/base.log" ||
  fail "eval --metrics rprec of a category model exited $?: $(tail -3 "$WORK/base.log")"
grep -q "the category of each emoji of the test split" "$WORK/base.json" || fail "the baseline's prompts are not recorded"
grep -q "class accuracy" "$WORK/base.log" || fail "the baseline reports no category accuracy: $(tail -8 "$WORK/base.log")"
expect_error 2 "rprec and clipscore measure text-to-image runs" -- "$L" eval --run "$MODELS/fashion-cgan" --metrics rprec --n 4 --features "$MODELS/fashion-classifier" --threads 1
finish
