#!/usr/bin/env bash
# Nothing lost, for every family on the training loop: a run SIGKILLed at a random moment
# and resumed ends bitwise identical to one that was never interrupted (1 thread).
# Usage: crash_resume.sh LATENTKIT [COUNT=3] [FAMILY...]   (CRASH_SEED=S replays a seed)
#
# Per family: one uninterrupted run, then COUNT trials. A trial SIGKILLs the run at a random
# moment (three in four a random time into training, after config.json appears; one in four a
# random time after the process starts), or (every third trial) inside the Nth checkpoint save,
# half-way through its temp file (LATENTKIT_TEST_KILL_IN_CHECKPOINT=N). Half of the resumes are
# killed once more at random. A kill before config.json is written leaves no run: it starts
# again without --resume (the documented rule); a kill after it and before the first
# checkpoint resumes from step 0. The finished run must equal the uninterrupted one: every
# file (model.pt, every checkpoint, samples, metrics, losses.png, config.json), train.jsonl
# but for the measured speed, and no temp file anywhere in the run folder. Prints a line per
# trial (how it was killed, where it resumed) and a table per family: trials, kills that
# landed (a run may finish before its kill), kills inside a checkpoint save, identical, seconds.
source "$(dirname "$0")/lib.sh"
COUNT=${2:-3}
shift $(($# < 2 ? $# : 2))
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SEED=${CRASH_SEED:-$(( $(date +%s) % 100000 ))}
RANDOM=$SEED
echo "crash_resume: seed $SEED (replay: CRASH_SEED=$SEED $0 $LATENTKIT $COUNT ${*:-})"

loop=(--threads 1 --seed 5 --log-every 2 --checkpoint-every 3)
fp32=("${loop[@]}" --precision fp32)
shapes=(--data shapes:96 --size 28 --batch 16 --epochs 2 "${fp32[@]}")
shapes16=(--data shapes:96 --size 16 --batch 16 --epochs 2 "${fp32[@]}")
scenes=(--data shapes-scenes:32 --size 16 --batch 8 --epochs 2 "${fp32[@]}")
declare -A runs=(
  [dcgan]="train --model dcgan ${shapes[*]} --width 8 --latent-dim 16"
  [dcgan-bf16]="train --model dcgan --data shapes:96 --size 28 --batch 16 --epochs 2 ${loop[*]} --precision bf16 --width 8 --latent-dim 16"
  [cgan]="train --model cgan --cond acgan --loss hinge ${shapes[*]} --width 8 --latent-dim 16"
  [vae]="train --model vae ${shapes[*]} --width 8 --latent-dim 8"
  [ddpm]="train --model ddpm --tasks inpaint ${shapes16[*]} --width 8 --mults 1,2 --timesteps 50 --sample-steps 2"
  [t2i]="train --model t2i --data emoji --size 16 --limit 48 --batch 16 --epochs 2 ${fp32[*]} --width 8 --mults 1,2 --text-width 16 --text-layers 1 --timesteps 50 --sample-steps 2"
  [pix2pix]="train --model pix2pix --task denoise ${shapes[*]} --width 8"
  [spade]="train --model spade ${scenes[*]} --width 4 --latent-dim 8"
  [psgan]="train --model psgan --data wallpapers:$ROOT/tests/data/wallpapers --limit 24 --size 32 --batch 4 --epochs 2 ${fp32[*]} --width 8 --latent-dim 8"
  [classifier]="classifier train ${shapes[*]} --width 8 --feature-dim 16 --test-limit 32"
  [segmenter]="segmenter train ${scenes[*]} --width 4 --test-limit 16"
  [clip]="clip train --data emoji --size 16 --limit 48 --batch 24 --epochs 3 ${fp32[*]} --width 4 --embed-dim 8 --text-width 8 --text-layers 1 --text-heads 2 --eval-images 16 --warmup-steps 1"
  [encoder]="encoder train --data shapes:96 --size 28 --steps 12 --batch 16 --width 8 ${fp32[*]}"
)
order=(dcgan dcgan-bf16 cgan vae ddpm t2i pix2pix spade psgan classifier segmenter clip encoder)
[ $# -gt 0 ] && order=("$@")

# The encoder trains in RUN/encoder of a generator run (a copy of this tiny DCGAN's).
"$LATENTKIT" ${runs[dcgan]} --max-steps 2 --out "$WORK/generator" 2> "$WORK/generator.log" ||
  fail "the encoder's generator run exited $?: $(tail -2 "$WORK/generator.log")"

# start NAME DIR [resume]: the command of a new run (or a resume) in DIR, in the background.
start() {
  local name="$1" dir="$2" how="${3:-}" base=(${runs[$1]})
  local sub=("${base[@]:0:1}")
  [ "${base[1]}" = train ] && sub=("${base[@]:0:2}")
  if [ "$name" = encoder ]; then
    [ -d "$dir" ] || cp -r "$WORK/generator" "$dir"
    if [ "$how" = resume ]; then "$LATENTKIT" "${sub[@]}" --resume --run "$dir" 2>> "$dir.log" &
    else "$LATENTKIT" "${base[@]}" --run "$dir" 2>> "$dir.log" & fi
  elif [ "$how" = resume ]; then "$LATENTKIT" "${sub[@]}" --resume --out "$dir" 2>> "$dir.log" &
  else "$LATENTKIT" "${base[@]}" --out "$dir" 2>> "$dir.log" & fi
  pid=$!
}
run_folder() { if [ "$1" = encoder ]; then echo "$2/encoder"; else echo "$2"; fi; }
ms() { echo $(($(date +%s%N) / 1000000)); }
no_speed() { sed 's/"img_per_s":[^,}]*[,]\{0,1\}//' "$1"; }

# attempt NAME DIR HOW [KILL_MS [AFTER_START]]: runs (or resumes) and SIGKILLs it KILL_MS ms after
# it starts, or with AFTER_START=1 KILL_MS ms after its run folder has a config.json (the start
# of a loaded machine takes seconds); sets rc (137 when killed, 0 when it finished first).
attempt() {
  start "$1" "$2" "$3"
  local kill_ms="${4:-0}" config
  config="$(run_folder "$1" "$2")/config.json"
  if [ "$kill_ms" -gt 0 ]; then
    if [ "${5:-0}" = 1 ]; then
      while kill -0 "$pid" 2> /dev/null && [ ! -f "$config" ]; do sleep 0.01; done
    fi
    sleep "$(printf '%d.%03d' $((kill_ms / 1000)) $((kill_ms % 1000)))"
    kill -KILL "$pid" 2> /dev/null
  elif [ "$kill_ms" = -1 ]; then  # the uninterrupted run: time its training apart from its start
    while kill -0 "$pid" 2> /dev/null && [ ! -f "$config" ]; do sleep 0.01; done
    config_ms=$(ms)
  fi
  { wait "$pid"; } 2> /dev/null  # not bash's "Killed" notice
  rc=$?
}

# A random kill: three in four land in training (after config.json), one anywhere from the start;
# at most 0.9 of the uninterrupted run's time, as a loaded machine's runs vary.
random_kill() {
  if ((RANDOM % 4)); then
    kill_ms=$((train_ms * (RANDOM % 900) / 1000 + 1)) after_start=1 when="${kill_ms} ms into training"
  else
    kill_ms=$((straight_ms * (RANDOM % 900) / 1000 + 1)) after_start=0 when="${kill_ms} ms after its start"
  fi
}

# resume_how NAME DIR: what a user does after a crash: --resume once the run exists, else start again.
resume_how() { if [ -f "$(run_folder "$1" "$2")/config.json" ]; then echo resume; else echo new; fi; }

# same NAME TRIAL STRAIGHT FINISHED: every file equal, train.jsonl but for the speed, no temp file.
same() {
  local name="$1" trial="$2" a="$3" b="$4" ok=1 file
  while IFS= read -r file; do
    case "$file" in
      train.jsonl) cmp -s <(no_speed "$a/$file") <(no_speed "$b/$file") || { fail "$name $trial: train.jsonl differs"; ok=0; } ;;
      *) cmp -s "$a/$file" "$b/$file" || { fail "$name $trial: $file differs (or is missing)"; ok=0; } ;;
    esac
  done < <(cd "$a" && find . -type f | sed 's|^\./||' | sort)
  extra=$(comm -13 <(cd "$a" && find . -type f | sort) <(cd "$b" && find . -type f | sort))
  [ -z "$extra" ] || { fail "$name $trial: files the uninterrupted run lacks: $(echo $extra)"; ok=0; }
  [ "$ok" = 1 ]
}

table="family      trials  kills  in-checkpoint  identical  seconds"
for name in "${order[@]}"; do
  [ -n "${runs[$name]:-}" ] || { fail "unknown family $name (known: ${!runs[*]})"; continue; }
  t0=$(ms)
  straight="$WORK/$name"
  s0=$(ms)
  attempt "$name" "$straight" new -1
  straight_ms=$(($(ms) - s0)) train_ms=$(($(ms) - config_ms))
  [ "$rc" = 0 ] || { fail "$name: uninterrupted run exited $rc: $(tail -2 "$straight.log")"; continue; }
  result=$(run_folder "$name" "$straight")
  # The checkpoint saves of the run: every --checkpoint-every 3 steps and at each epoch end.
  per_epoch=$(grep -o '[0-9]* steps/epoch' "$straight.log" | head -1 | cut -d' ' -f1)
  total=$(grep -o '"step":[0-9]*' "$result/train.jsonl" | tail -1 | cut -d: -f2)
  saves=0
  for ((s = 1; s <= total; s++)); do ((s % 3 == 0 || s % per_epoch == 0 || s == total)) && saves=$((saves + 1)); done
  in_checkpoint=0 identical=0 kills=0
  for ((t = 1; t <= COUNT; t++)); do
    dir="$WORK/$name-$t"
    how="killed after"
    if ((t % 3 == 0)); then
      n=$((RANDOM % saves + 1))
      how="killed in checkpoint save $n of $saves"
      LATENTKIT_TEST_KILL_IN_CHECKPOINT=$n attempt "$name" "$dir" new 0
      in_checkpoint=$((in_checkpoint + 1))
      [ "$rc" = 137 ] || fail "$name $t: the checkpoint hook was to SIGKILL the run (137), it exited $rc"
      ls -a "$(run_folder "$name" "$dir")/checkpoints" | grep -q '\.tmp\.' || fail "$name $t: the hook left no temp file"
    else
      random_kill
      how="killed $when"
      attempt "$name" "$dir" new "$kill_ms" "$after_start"
    fi
    [ "$rc" = 137 ] && kills=$((kills + 1))
    [ "$rc" = 0 ] && how="$how (it finished first)"
    # The resume: half of them killed once more at random, then one to the end.
    if [ "$rc" = 137 ] && ((RANDOM % 2)); then
      random_kill
      how="$how, its resume killed $when"
      attempt "$name" "$dir" "$(resume_how "$name" "$dir")" "$kill_ms" "$after_start"
      [ "$rc" = 137 ] && kills=$((kills + 1))
      [ "$rc" = 0 ] && how="$how (it finished first)"
    fi
    [ "$rc" = 0 ] || [ "$rc" = 137 ] || fail "$name $t ($how): exited $rc: $(tail -2 "$dir.log")"
    if [ "$rc" = 137 ]; then
      attempt "$name" "$dir" "$(resume_how "$name" "$dir")" 0
      [ "$rc" = 0 ] || { fail "$name $t ($how): the resume exited $rc: $(tail -2 "$dir.log")"; continue; }
    fi
    from=$(tr '\r' '\n' < "$dir.log" | grep -o 'resumed .*' | sed 's/^resumed [^ ]* //' | paste -sd ';' -)
    if same "$name" "$t ($how)" "$result" "$(run_folder "$name" "$dir")"; then
      echo "ok: $name $t: $how; ${from:-never resumed}: identical"
      identical=$((identical + 1))
      rm -rf "$dir" "$dir.log"
    fi
  done
  line=$(printf '%-11s %6d %6d %14d %10s %8.1f' "$name" "$COUNT" "$kills" "$in_checkpoint" "$identical/$COUNT" \
    "$(awk -v a="$t0" -v b="$(ms)" 'BEGIN { print (b - a) / 1000 }')")
  echo "$line"
  table+=$'\n'"$line"
done

# --resume takes the run's own options: the data, --batch and --seed cannot change.
if [ -d "$WORK/vae" ]; then
  expect_error 2 "--batch cannot change on --resume" -- "$LATENTKIT" train --resume --out "$WORK/vae" --batch 8
fi
echo "$table"
finish
