#!/usr/bin/env bash
# A wallpaper model (psgan) on the device: a tiny run trained 2 steps on tests/data/wallpapers
# (three 96x64 pictures of stripes, rings and a weave), exported to .lkm (fp32 and int8, with
# its wave MLP and moods) and to ONNX, export's self-check (the network, the wave MLP and
# lkrt_wallpaper against latentkit's render), lkrt drawing wallpapers of the same dates,
# seeds, hours, moods and tiles as `latentkit wallpaper` within a level, and the errors of
# bad sizes, dates and moods. $2 is the lkrt binary.
source "$(dirname "$0")/lib.sh"
L="$LATENTKIT"
LKRT="$2"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUN="$WORK/run"

"$L" train --model psgan --data "wallpapers:$ROOT/tests/data/wallpapers" --size 32 --width 8 --latent-dim 8 --batch 4 \
  --max-steps 2 --seed 1 --threads 1 --out "$RUN" > /dev/null 2> "$WORK/train.log" ||
  fail "train --model psgan exited $?: $(tail -3 "$WORK/train.log")"
# Moods: fitted by latentkit wallpaper moods; the exporter reads their names and shifts.
"$L" wallpaper moods --run "$RUN" --n 60 --threads 1 > /dev/null 2> "$WORK/moods.log" ||
  fail "wallpaper moods exited $?: $(tail -3 "$WORK/moods.log")"
[ -s "$RUN/moods.json" ] || fail "no moods.json"

# Export: lkrt checks the file before it is written, and the whole recipe against latentkit's.
"$L" export --run "$RUN" --format lkm --out "$WORK/wall.lkm" --threads 1 2> "$WORK/export.log" ||
  fail "export of a psgan run exited $?: $(cat "$WORK/export.log")"
grep -q "wrote $WORK/wall.lkm: psgan, fp32 weights" "$WORK/export.log" || fail "export says: $(cat "$WORK/export.log")"
for part in "lkrt matches it to" "its wave MLP to" "lkrt_wallpaper is within" "6 moods"; do
  grep -q "$part" "$WORK/export.log" || fail "export does not report '$part': $(cat "$WORK/export.log")"
done
echo "ok: $(grep -o 'folded graph.*' "$WORK/export.log")"
"$L" export --run "$RUN" --format lkm --weights int8 --out "$WORK/wall8.lkm" --threads 1 2> "$WORK/export8.log" ||
  fail "export --weights int8 of a psgan run exited $?: $(cat "$WORK/export8.log")"
"$L" export --run "$RUN" --format onnx --out "$WORK/wall.onnx" --threads 1 2> "$WORK/onnx.log" ||
  fail "export --format onnx of a psgan run exited $?: $(cat "$WORK/onnx.log")"
grep -aq "psgan_wallpaper" "$WORK/wall.onnx" && grep -aq "image_height" "$WORK/wall.onnx" ||
  fail "the ONNX file lacks its graph name or its dynamic output size"
head -c 8 "$WORK/wall.lkm" | od -An -tx1 | tr -d ' \n' | grep -q "894c4b4d0d0a1a0a" || fail "wall.lkm is not a .lkm file"
[ "$(od -An -tu4 -j8 -N4 "$WORK/wall.lkm" | tr -d ' ')" = 5 ] || fail "wall.lkm is not format version 5"
"$LKRT" "$WORK/wall.lkm" --info > "$WORK/info.txt" || fail "lkrt --info exited $?"
grep -q "kind         wallpaper" "$WORK/info.txt" || fail "lkrt --info: $(head -3 "$WORK/info.txt")"
grep -q "moods        warm, cool, calm, vivid, dark, light" "$WORK/info.txt" || fail "lkrt --info lists no moods: $(cat "$WORK/info.txt")"

# The same wallpapers from both: dates, hours, seeds, moods, scales and tiles.
same() {  # same NAME ARGS...: latentkit wallpaper and lkrt with ARGS, within 1 level
  local name="$1"
  shift
  "$L" wallpaper --run "$RUN" --threads 1 "$@" --out "$WORK/$name-latentkit.png" 2> /dev/null ||
    { fail "latentkit wallpaper $* exited $?"; return; }
  "$LKRT" "$WORK/wall.lkm" "$@" --out "$WORK/$name-lkrt.png" 2> /dev/null || { fail "lkrt $* exited $?"; return; }
  local max mean
  read -r max mean <<< "$(png_diff "$WORK/$name-latentkit.png" "$WORK/$name-lkrt.png")"
  [ "${max:-9}" -le 1 ] || fail "lkrt and latentkit wallpaper $* differ by up to $max levels (mean $mean)"
  echo "ok: lkrt vs latentkit wallpaper $*: max difference $max levels, mean $mean"
}
same day --size 90x200 --date 2026-12-06
same seed --size 90x200 --date 2026-12-06 --seed 5
same hour --size 90x200 --date 2026-12-06T14 --every hour
same mood --size 90x200 --date 2026-12-06 --mood warm
same scale1 --size 70x50 --date 2027-02-28 --scale 1
same scale2 --size 101x77 --date 2026-12-06 --scale 2
same tile --size 128x192 --date 2026-12-06 --scale 2 --tileable
[ "$(png_size "$WORK/day-lkrt.png")" = "90 200" ] || fail "lkrt drew $(png_size "$WORK/day-lkrt.png"), not 90x200"
cmp -s "$WORK/day-lkrt.png" "$WORK/seed-lkrt.png" && fail "seeds 0 and 5 drew the same wallpaper"
cmp -s "$WORK/day-lkrt.png" "$WORK/hour-lkrt.png" && fail "14:00 drew midnight's wallpaper"
cmp -s "$WORK/day-lkrt.png" "$WORK/mood-lkrt.png" && fail "--mood warm drew the plain wallpaper"
"$LKRT" "$WORK/wall.lkm" --size 90x200 --date 2026-12-06 --out "$WORK/again.png" 2> /dev/null
cmp -s "$WORK/day-lkrt.png" "$WORK/again.png" || fail "the same date drew two different wallpapers"
"$LKRT" "$WORK/wall.lkm" --size 90x200 --date 2026-12-06T14 --out "$WORK/day14.png" 2> /dev/null
cmp -s "$WORK/day-lkrt.png" "$WORK/day14.png" || fail "--every day should ignore the hour"
# int8 weights: close to latentkit's fp32 wallpaper.
"$LKRT" "$WORK/wall8.lkm" --size 90x200 --date 2026-12-06 --out "$WORK/day8.png" 2> /dev/null || fail "lkrt int8 exited $?"
read -r max8 mean8 <<< "$(png_diff "$WORK/day-latentkit.png" "$WORK/day8.png")"
python3 -c "import sys; sys.exit(0 if float('$mean8') < 3 else 1)" || fail "int8 weights differ from latentkit by a mean of $mean8 levels"
echo "ok: lkrt (int8) vs latentkit wallpaper: max difference $max8 levels, mean $mean8"

# Bad input: exit 2 with the valid forms.
X="$WORK/x.png"
expect_error 2 "each side 1 to 8192 pixels (e.g. 1080x2400)" -- "$LKRT" "$WORK/wall.lkm" --size 9000x100 --out "$X"
expect_error 2 "--size expects WIDTHxHEIGHT" -- "$LKRT" "$WORK/wall.lkm" --size 1080 --out "$X"
expect_error 2 "'2026-02-30' is not a date (no such day in that month): expected a date YYYY-MM-DD" -- \
  "$LKRT" "$WORK/wall.lkm" --date 2026-02-30 --out "$X"
expect_error 2 "or an hour YYYY-MM-DDTHH" -- "$LKRT" "$WORK/wall.lkm" --date 06.12.2026 --out "$X"
expect_error 2 "--mood sunny: the model's moods are warm, cool, calm, vivid, dark, light" -- \
  "$LKRT" "$WORK/wall.lkm" --mood sunny --out "$X"
expect_error 2 "its sides must be multiples of 64 pixels" -- "$LKRT" "$WORK/wall.lkm" --size 100x100 --tileable --out "$X"
expect_error 2 "scale 3: the scale is 1, 2 or 4" -- "$LKRT" "$WORK/wall.lkm" --scale 3 --out "$X"
expect_error 2 "--every is day or hour" -- "$LKRT" "$WORK/wall.lkm" --every week --out "$X"
expect_error 2 "--z / --raw does not apply to a wallpaper model" -- "$LKRT" "$WORK/wall.lkm" --raw "$WORK/x.raw" --out "$X"
expect_error 2 "--image does not apply to a wallpaper model" -- "$LKRT" "$WORK/wall.lkm" --image "$X" --out "$X"
finish
