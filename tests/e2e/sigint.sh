#!/usr/bin/env bash
# SIGINT saves a checkpoint and exits 0; --resume then finishes the run. The classifier and the
# encoder, on the same loop, stop the same way.
source "$(dirname "$0")/lib.sh"

"$LATENTKIT" train --data shapes:400 --size 28 --batch 16 --epochs 40 --width 8 --latent-dim 16 \
  --seed 2 --threads 1 --checkpoint-every 1000 --log-every 5 --out "$WORK/run" 2> "$WORK/train.log" &
pid=$!
wait_for_file "$WORK/run/train.jsonl" 60
kill -INT "$pid"
wait "$pid"
rc=$?
[ "$rc" = 0 ] || fail "SIGINT should exit 0, got $rc: $(tail -3 "$WORK/train.log")"
grep -q "resume" "$WORK/train.log" || fail "no hint how to resume"
[ -s "$WORK/run/checkpoints/latest" ] || fail "no checkpoint after SIGINT"
[ -s "$WORK/run/model.pt" ] || fail "no model.pt after SIGINT"
step=$(sed 's/step-0*\([0-9]*\).pt/\1/' "$WORK/run/checkpoints/latest")
[ "$step" -gt 0 ] && [ "$step" -lt 1000 ] || fail "checkpoint step $step should be mid-run (0 < step < 1000)"
# Resume, shortening the run to the end of the next epoch (25 steps each).
epochs=$((step / 25 + 2))
"$LATENTKIT" train --resume --epochs "$epochs" --out "$WORK/run" 2> "$WORK/resume.log" || fail "resume exited $?"
expected=$(printf "step-%07d.pt" $((epochs * 25)))
[ "$(cat "$WORK/run/checkpoints/latest")" = "$expected" ] || fail "resumed run did not finish at $expected"

# interrupt NAME LOG RUN_DIR RESUME_HINT -- COMMAND...: Ctrl-C once it logs; exit 0, a checkpoint, the hint.
interrupt() {
  local name="$1" log="$2" dir="$3" hint="$4"
  shift 5
  "$@" 2> "$log" &
  local pid=$!
  wait_for_file "$dir/train.jsonl" 60
  kill -INT "$pid"
  wait "$pid"
  local rc=$?
  [ "$rc" = 0 ] || fail "$name: SIGINT should exit 0, got $rc: $(tail -3 "$log")"
  grep -qF -- "$hint" "$log" || fail "$name: no hint '$hint': $(tail -2 "$log")"
  [ -s "$dir/checkpoints/latest" ] || fail "$name: no checkpoint after SIGINT"
  echo "ok: $name stops at a checkpoint on SIGINT"
}
interrupt classifier "$WORK/cls.log" "$WORK/cls" "latentkit classifier train --resume --out $WORK/cls" -- \
  "$LATENTKIT" classifier train --data shapes:400 --size 28 --batch 16 --epochs 40 --width 8 --feature-dim 16 \
  --test-limit 32 --threads 1 --log-every 5 --out "$WORK/cls"
interrupt encoder "$WORK/enc.log" "$WORK/run/encoder" "latentkit encoder train --resume --run $WORK/run" -- \
  "$LATENTKIT" encoder train --run "$WORK/run" --data shapes:400 --size 28 --steps 100000 --batch 16 --width 8 \
  --threads 1 --log-every 5
"$LATENTKIT" encoder train --resume --run "$WORK/run" --max-steps 20 2> "$WORK/enc-resume.log" ||
  fail "encoder --resume exited $?: $(tail -2 "$WORK/enc-resume.log")"
finish
