#!/usr/bin/env bash
# classifier train -> train -> eval (run, two sets, saved features) -> report, through the
# real binary on tiny models.
source "$(dirname "$0")/lib.sh"
L="$LATENTKIT"
common=(--threads 1 --seed 3)

"$L" classifier train --data shapes:256 --size 32 --epochs 1 --batch 32 --width 8 --feature-dim 16 \
  "${common[@]}" --out "$WORK/cls" 2> "$WORK/cls.log" || fail "classifier train exited $?: $(tail -3 "$WORK/cls.log")"
"$L" train --data shapes:256 --size 32 --batch 16 --max-steps 20 --width 8 --latent-dim 8 "${common[@]}" \
  --out "$WORK/run" 2> /dev/null || fail "train exited $?"

ev=(--features "$WORK/cls" --kid-subsets 5 --kid-subset-size 50 --is-splits 2 --cache-dir "$WORK/cache" "${common[@]}")
"$L" eval --run "$WORK/run" --n 200 "${ev[@]}" > "$WORK/scores.json" 2> "$WORK/eval.log" ||
  fail "eval --run exited $?: $(tail -3 "$WORK/eval.log")"
[ -s "$WORK/run/eval.json" ] || fail "eval --run wrote no eval.json"
grep -q '"fid"' "$WORK/scores.json" || fail "eval prints no scores on stdout"
grep -q "floor" "$WORK/eval.log" || fail "the table on stderr has no floor column"
grep -q '"extractor_hash"' "$WORK/run/eval.json" || fail "eval.json does not record the extractor hash"

"$L" generate --run "$WORK/run" --n 40 --each "$WORK/generated" 2> /dev/null
"$L" eval --a "$WORK/generated" --b shapes:256@test "${ev[@]}" --n 40 --dump-features "$WORK/gen.npy" \
  > /dev/null 2> "$WORK/sets.log" || fail "eval --a DIR --b SPEC exited $?: $(tail -3 "$WORK/sets.log")"
[ "$(od -An -c -N6 "$WORK/gen.npy" | tr -d ' ')" = "223NUMPY" ] || fail "--dump-features did not write a .npy"

"$L" report --run "$WORK/run" 2> /dev/null || fail "report exited $?"
grep -q "data:image/png;base64," "$WORK/run/report.html" || fail "report.html has no inline images"
grep -q "floor: real vs real" "$WORK/run/report.html" || fail "report.html has no metrics table"

expect_error 2 "not found" -- "$L" eval --run "$WORK/run" --n 200 --features "$WORK/nope"
expect_error 2 "fewer than" -- "$L" eval --a shapes:50 --b shapes:50@train --n 200 "${ev[@]}"
expect_error 2 "--b" -- "$L" eval --a shapes:50 "${ev[@]}"
expect_error 2 "unknown metric" -- "$L" eval --a shapes:50 --b shapes:50 --metrics fid,sharpness "${ev[@]}"
echo "not a network" > "$WORK/bad.pt"
expect_error 2 "bad.pt" -- "$L" eval --a shapes:50 --b shapes:50 --features "$WORK/bad.pt" --n 50
finish
