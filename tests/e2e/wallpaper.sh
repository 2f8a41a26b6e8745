#!/usr/bin/env bash
# latentkit wallpaper on a psgan trained 2 steps on a tiny wallpapers:DIR folder: sizes,
# determinism, dates, --every hour, --tileable, moods (fit, then --mood), --palette, --week
# with --sheet, and bad input (exit 2 with the valid forms).
source "$(dirname "$0")/lib.sh"
L="$LATENTKIT"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUN="$WORK/run"

# The fixture: tests/data/wallpapers when there is one, else three pictures of shapes.
WALLS="$ROOT/tests/data/wallpapers"
if [ ! -d "$WALLS" ]; then
  WALLS="$WORK/walls"
  mkdir -p "$WALLS"
  for s in 1 2 3; do
    "$L" data preview --data shapes:64 --n 16 --seed "$s" --out "$WALLS/$s.png" 2> /dev/null || fail "data preview exited $?"
  done
fi
"$L" train --model psgan --data "wallpapers:$WALLS" --size 32 --width 8 --latent-dim 8 --batch 4 --max-steps 2 \
  --seed 1 --threads 1 --out "$RUN" > /dev/null 2> "$WORK/train.log" || fail "train exited $?: $(tail -3 "$WORK/train.log")"

W() { "$L" wallpaper --run "$RUN" --threads 1 "$@"; }

W --size 90x200 --date 2026-12-06 --out "$WORK/a.png" 2> "$WORK/a.log" || fail "wallpaper exited $?: $(cat "$WORK/a.log")"
[ "$(png_size "$WORK/a.png")" = "90 200" ] || fail "a.png is $(png_size "$WORK/a.png"), expected 90 200"
grep -q "drawn at 23x50" "$WORK/a.log" || fail "the render size is not ceil(90 / 4) x ceil(200 / 4): $(cat "$WORK/a.log")"
W --size 90x200 --date 2026-12-06 --out "$WORK/a2.png" 2> /dev/null
cmp -s "$WORK/a.png" "$WORK/a2.png" || fail "the same date drew two different images"
W --size 90x200 --date 2026-12-07 --out "$WORK/b.png" 2> /dev/null
W --size 90x200 --date 2026-12-06 --seed 5 --out "$WORK/c.png" 2> /dev/null
cmp -s "$WORK/a.png" "$WORK/b.png" && fail "the next day drew the same image"
cmp -s "$WORK/a.png" "$WORK/c.png" && fail "another seed drew the same image"
# --every day takes the date alone; --every hour the hour.
W --size 90x200 --date 2026-12-06T14 --out "$WORK/d.png" 2> /dev/null
cmp -s "$WORK/a.png" "$WORK/d.png" || fail "--every day should ignore the hour"
W --size 90x200 --date 2026-12-06T14 --every hour --out "$WORK/h.png" 2> "$WORK/h.log"
cmp -s "$WORK/a.png" "$WORK/h.png" && fail "--every hour drew midnight's image at 14:00"
grep -q "2026-12-06T14" "$WORK/h.log" || fail "--every hour does not name the hour: $(cat "$WORK/h.log")"
# Default date: today (UTC).
W --size 40x40 --out "$WORK/today.png" 2> "$WORK/today.log" || fail "wallpaper without --date exited $?"
grep -q "$(date -u +%F)" "$WORK/today.log" || fail "the default date is not today: $(cat "$WORK/today.log")"
W --size 128x64 --scale 2 --tileable --out "$WORK/tile.png" 2> /dev/null || fail "--tileable exited $?"
[ "$(png_size "$WORK/tile.png")" = "128 64" ] || fail "tile.png is $(png_size "$WORK/tile.png")"

# Moods: fit, then draw; RUN/axes.json is written for latentkit edit.
"$L" wallpaper moods --run "$RUN" --n 60 --threads 1 > "$WORK/moods.txt" 2> "$WORK/moods.log" ||
  fail "wallpaper moods exited $?: $(tail -3 "$WORK/moods.log")"
grep -Eq '^warmth +ridge' "$WORK/moods.txt" || fail "moods prints no warmth row: $(cat "$WORK/moods.txt")"
python3 - "$RUN/moods.json" <<'PY' || fail "moods.json is not as the exporter reads it"
import json, sys
m = json.load(open(sys.argv[1]))
names = [x["name"] for x in m["moods"]]
assert names == ["warm", "cool", "calm", "vivid", "dark", "light"], names
assert all(len(x["shift"]) == 8 for x in m["moods"])
assert len(m["palette"]["weights"]) == 3 and m["axes"]["format"] == "latentkit-axes"
PY
grep -q '"wallpaper-moods"' "$RUN/axes.json" || fail "moods wrote no RUN/axes.json"
"$L" edit --run "$RUN" --axes "$RUN/axes.json" --move warmth=+2 --out "$WORK/edit.png" 2> /dev/null ||
  fail "latentkit edit on the moods' axes exited $?"
W --size 90x200 --date 2026-12-06 --mood warm --out "$WORK/warm.png" 2> /dev/null || fail "--mood warm exited $?"
cmp -s "$WORK/a.png" "$WORK/warm.png" && fail "--mood warm drew the plain image"
W --size 90x200 --date 2026-12-06 --palette "#ff8800,#203040" --out "$WORK/pal.png" 2> /dev/null ||
  fail "--palette exited $?"
cmp -s "$WORK/a.png" "$WORK/pal.png" && fail "--palette drew the plain image"

# A week: seven files and one sheet.
W --size 30x60 --date 2026-12-06 --week --out "$WORK/wk.png" --sheet "$WORK/sheet.png" 2> /dev/null ||
  fail "--week exited $?"
[ -s "$WORK/wk-2026-12-12.png" ] || fail "--week wrote no wk-2026-12-12.png"
[ "$(png_size "$WORK/sheet.png")" = "226 64" ] || fail "sheet.png is $(png_size "$WORK/sheet.png"), expected 7 x 30 + 16 by 64"
W --size 30x60 --date 2026-12-06 --out "$WORK/day1.png" 2> /dev/null
cmp -s "$WORK/wk-2026-12-06.png" "$WORK/day1.png" ||
  fail "the week's first day differs from the day drawn alone"

expect_error 2 "1 to 8192" -- W --size 9000x100 --out "$WORK/x.png"
expect_error 2 "WIDTHxHEIGHT" -- W --size 1080 --out "$WORK/x.png"
expect_error 2 "no such month" -- W --date 2026-13-01 --out "$WORK/x.png"
expect_error 2 "YYYY-MM-DD" -- W --date yesterday --out "$WORK/x.png"
expect_error 2 "unknown mood 'sunny' (expected warm, cool, calm, vivid, dark or light)" -- W --mood sunny --out "$WORK/x.png"
expect_error 2 "'#12' is not a color" -- W --palette "#12" --out "$WORK/x.png"
expect_error 2 "multiple of 64" -- W --size 1080x2400 --tileable --out "$WORK/x.png"
expect_error 2 "nothing to write" -- W --size 10x10
expect_error 2 "not in {1,2,4}" -- W --scale 3 --out "$WORK/x.png"
expect_error 2 "wallpapers come from a psgan run" -- "$L" wallpaper --run "$ROOT/models/fashion-dcgan" --out "$WORK/x.png"
rm "$RUN/moods.json"
expect_error 2 "fit the moods first: latentkit wallpaper moods" -- W --mood warm --out "$WORK/x.png"
finish
