#!/usr/bin/env bash
# The segmenter (the mIoU judge of mask-to-image models) through the real binary on a tiny
# model: train, the same seed giving the same weights, an exact resume (the flips come from
# the checkpointed generator), segmenter test's text and JSON, and the errors a user meets.
source "$(dirname "$0")/lib.sh"
L="$LATENTKIT"
MODELS="$(cd "$(dirname "$0")/../.." && pwd)/models"
tiny=(--data shapes-scenes:64 --size 32 --batch 16 --width 4 --test-limit 32 --threads 1 --seed 3 --precision fp32)

"$L" segmenter train "${tiny[@]}" --epochs 1 --out "$WORK/a" 2> "$WORK/a.log" || fail "segmenter train exited $?: $(tail -3 "$WORK/a.log")"
grep -q "training segmenter (4 scenes classes, 3 levels, width 4) on shapes-scenes:64 (64 images 3x32x32), testing on 32 test images" "$WORK/a.log" ||
  fail "segmenter train does not say what it trains: $(head -1 "$WORK/a.log")"
jq -e '.family == "segmenter" and .palette == "scenes" and .classes == ["background", "square", "circle", "triangle"]' \
  "$WORK/a/config.json" > /dev/null || fail "config.json is not a scenes segmenter run: $(cat "$WORK/a/config.json")"
jq -e 'select(has("test_miou")) | .test_miou >= 0 and .test_miou <= 1' "$WORK/a/train.jsonl" > /dev/null ||
  fail "train.jsonl logs no test mIoU: $(cat "$WORK/a/train.jsonl")"
is_png "$WORK/a/samples/epoch-001.png" || fail "no sample grid after the epoch"
[ "$(png_size "$WORK/a/samples/epoch-001.png")" = "274 104" ] ||
  fail "the grid is 3 rows (images, true maps, predicted maps) of 8: $(png_size "$WORK/a/samples/epoch-001.png")"

# The same seed, the same weights; stopped after step 3 and resumed, the same checkpoint at step 8.
"$L" segmenter train "${tiny[@]}" --epochs 1 --out "$WORK/a2" 2> /dev/null || fail "segmenter train (again) exited $?"
cmp -s "$WORK/a/model.pt" "$WORK/a2/model.pt" || fail "two runs with --seed 3 give different weights"
"$L" segmenter train "${tiny[@]}" --epochs 2 --out "$WORK/b" 2> /dev/null || fail "segmenter train --epochs 2 exited $?"
"$L" segmenter train "${tiny[@]}" --epochs 2 --max-steps 3 --out "$WORK/c" 2> /dev/null || fail "segmenter train --max-steps exited $?"
"$L" segmenter train --resume --out "$WORK/c" --max-steps 0 --threads 1 2> "$WORK/c.log" ||
  fail "segmenter train --resume exited $?: $(tail -3 "$WORK/c.log")"
grep -q "(step 3)" "$WORK/c.log" || fail "resume did not start at step 3: $(head -2 "$WORK/c.log")"
cmp -s "$WORK/b/checkpoints/step-0000008.pt" "$WORK/c/checkpoints/step-0000008.pt" ||
  fail "a resumed segmenter run differs from an uninterrupted one at step 8"

out=$("$L" segmenter test --run "$WORK/a" --limit 40 --threads 1 2> /dev/null) || fail "segmenter test exited $?"
grep -q "^mIoU 0\.[0-9]*, pixel accuracy [01]\.[0-9]* on 40 shapes-scenes:64 images (test split, scenes maps)" <<<"$out" ||
  fail "segmenter test prints: $out"
grep -q "^  triangle     IoU " <<<"$out" || fail "segmenter test prints no per-class IoU: $out"
json=$("$L" segmenter test --run "$WORK/a" --split test --limit 40 --json --threads 1 2> /dev/null) || fail "segmenter test --json exited $?"
jq -e '.miou >= 0 and .miou <= 1 and .pixel_accuracy >= 0 and .pixel_accuracy <= 1 and .images == 40 and .split == "test"
       and (.class_iou | keys | length) == 4' <<<"$json" > /dev/null || fail "segmenter test --json: $json"

expect_error 2 "segmenter run $WORK/none not found" -- "$L" segmenter test --run "$WORK/none" --threads 1
expect_error 2 "not a segmenter" -- "$L" segmenter test --run "$MODELS/emoji-classifier" --threads 1
expect_error 2 "drop --split" -- "$L" segmenter train "${tiny[@]}" --split test --out "$WORK/d"
expect_error 2 "has no label maps of its own" -- "$L" segmenter train --data shapes:16 --channels 1 --threads 1 --out "$WORK/e"
expect_error 2 "the segmenter was trained on scenes maps" -- "$L" segmenter test --run "$WORK/a" --data emoji --limit 4 --threads 1
finish
