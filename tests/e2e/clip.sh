#!/usr/bin/env bash
# The clip evaluator through the real binary on a tiny model: train, an exact resume (the
# random captions come from the checkpointed generator), clip test's text and JSON, and the
# errors a user meets.
source "$(dirname "$0")/lib.sh"
L="$LATENTKIT"
MODELS="$(cd "$(dirname "$0")/../.." && pwd)/models"
tiny=(--data emoji --size 16 --limit 48 --batch 24 --width 4 --embed-dim 8 --text-width 8 --text-layers 1 --text-heads 2
  --eval-images 16 --warmup-steps 1 --threads 1 --seed 3 --precision fp32)

"$L" clip train "${tiny[@]}" --epochs 2 --out "$WORK/a" 2> "$WORK/a.log" || fail "clip train exited $?: $(tail -3 "$WORK/a.log")"
grep -q "training clip (.* words, 8-dim embeddings) on emoji (48 images 4x16x16)" "$WORK/a.log" ||
  fail "clip train does not say what it trains: $(head -1 "$WORK/a.log")"
grep -q '"family": "clip"' "$WORK/a/config.json" || fail "config.json is not a clip run"
grep -q '"tokenizer"' "$WORK/a/config.json" || fail "config.json holds no tokenizer"
grep -q '"train_r_precision"' "$WORK/a/train.jsonl" || fail "train.jsonl logs no train R-precision"
is_png "$WORK/a/samples/epoch-002.png" || fail "no retrieval grid after the last epoch"
[ "$(png_size "$WORK/a/samples/epoch-002.png")" = "146 146" ] || fail "the grid is 8 x 8 images: $(png_size "$WORK/a/samples/epoch-002.png")"

# Stopped after step 3 and resumed: the same checkpoint, byte for byte, at step 4.
"$L" clip train "${tiny[@]}" --epochs 2 --max-steps 3 --out "$WORK/b" 2> /dev/null || fail "clip train --max-steps exited $?"
"$L" clip train --resume --out "$WORK/b" --max-steps 0 2> "$WORK/b.log" || fail "clip train --resume exited $?: $(tail -3 "$WORK/b.log")"
grep -q "(step 3)" "$WORK/b.log" || fail "resume did not start at step 3: $(head -2 "$WORK/b.log")"
cmp -s "$WORK/a/checkpoints/step-0000004.pt" "$WORK/b/checkpoints/step-0000004.pt" ||
  fail "a resumed clip run differs from an uninterrupted one at step 4"

out=$("$L" clip test --run "$WORK/a" --split test --distractors 20 --threads 1 2> /dev/null) || fail "clip test exited $?"
grep -q "^R-precision 0\.[0-9]* on 696 real emoji images (test split): the true caption ranked first among 21 (chance 0.0476)" <<<"$out" ||
  fail "clip test prints: $out"
grep -q "^CLIP score " <<<"$out" || fail "clip test prints no CLIP score: $out"
json=$("$L" clip test --run "$WORK/a" --split test --json --threads 1 2> /dev/null) || fail "clip test --json exited $?"
python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert j["images"] == 696 and j["candidates"] == 100 and j["chance"] == 0.01 and 0 <= j["r_precision"] <= 1 and 0 <= j["clip_score"] <= 100, j' "$json" ||
  fail "clip test --json: $json"

expect_error 2 "train split only" -- "$L" clip train "${tiny[@]}" --split test --out "$WORK/c"
expect_error 2 "has none (use --data emoji" -- "$L" clip train --data shapes:32 --out "$WORK/d" --threads 1
expect_error 2 "not found" -- "$L" clip test --run "$WORK/none"
expect_error 2 "not a clip model" -- "$L" clip test --run "$MODELS/emoji-classifier"
expect_error 2 "fewer --distractors" -- "$L" clip test --run "$WORK/a" --split test --limit 40 --threads 1
expect_error 2 "drop --nproc" -- "$L" clip train "${tiny[@]}" --nproc 2 --out "$WORK/e"
finish
