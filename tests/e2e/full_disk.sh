#!/usr/bin/env bash
# A full disk loses nothing: on a small tmpfs a run whose second checkpoint does not fit
# stops with one line naming the full folder (exit 1), its first checkpoint intact and
# `latest` naming it, no temp file; with space freed, --resume ends bitwise identical to an
# uninterrupted run. train.jsonl and a PNG that meet a full disk fail the same clean way.
# Needs root and tmpfs mounts; otherwise it is skipped (exit 77).
source "$(dirname "$0")/lib.sh"
DISK="$WORK/disk"
mkdir -p "$DISK"
if [ "$(id -u)" != 0 ] || ! mount -t tmpfs -o size=32m tmpfs "$DISK" 2> /dev/null; then
  echo "skipped: mounting a small tmpfs needs root (and a kernel that allows it here)"
  exit 77
fi
trap 'umount "$DISK" 2> /dev/null; rm -rf "$WORK"' EXIT

run=(train --model dcgan --data shapes:96 --size 28 --batch 16 --epochs 2 --threads 1 --seed 5 --log-every 2
     --checkpoint-every 3 --width 8 --latent-dim 16)
no_speed() { sed 's/"img_per_s":[^,}]*[,]\{0,1\}//' "$1"; }
free_pages() { echo $(($(df --output=avail -B4096 "$DISK" | tail -1))); }
# fill_to PAGES: a filler file that leaves PAGES pages of 4 KiB free on the tmpfs.
fill_to() {
  rm -f "$DISK/filler"
  local n=$(($(free_pages) - $1))
  dd if=/dev/zero of="$DISK/filler" bs=4096 count="$n" status=none 2> /dev/null
  [ "$(free_pages)" = "$1" ] || fail "the filler left $(free_pages) pages free, not $1"
}
# error_line LOG: the one stderr line of the error (progress redraws with \r on the same stream).
error_line() { tr '\r' '\n' < "$1" | grep '^error: '; }
no_temp() { [ -z "$(find "$DISK" -name '.*.tmp.*')" ] || fail "$1: temp files left: $(find "$DISK" -name '.*.tmp.*')"; }

# The uninterrupted run keeps every checkpoint, to hold the one the full disk must leave intact.
"$LATENTKIT" "${run[@]}" --keep-checkpoints 10 --out "$WORK/straight" 2> "$WORK/straight.log" || fail "uninterrupted run exited $?"
pages=$((($(stat -c %s "$WORK/straight/checkpoints/step-0000012.pt") + 4095) / 4096))

# 1. The first checkpoint (step 3) and the small files fit; the second (step 6) does not.
fill_to $((pages + 6))
"$LATENTKIT" "${run[@]}" --out "$DISK/run" 2> "$WORK/full.log"
rc=$?
[ "$rc" = 1 ] || fail "a full disk: expected exit 1, got $rc: $(tail -2 "$WORK/full.log")"
line=$(error_line "$WORK/full.log")
[ "$(grep -c . <<< "$line")" = 1 ] || fail "a full disk: expected one error line, got: $line"
grep -q "the disk holding $DISK/run/checkpoints is full (No space left on device: [0-9]* bytes free, [0-9]* needed)" <<< "$line" ||
  fail "a full disk: the error does not name the full folder: $line"
grep -q -- "--resume" <<< "$line" || fail "a full disk: the error does not say how to continue: $line"
echo "ok: $line"
[ "$(cat "$DISK/run/checkpoints/latest")" = "step-0000003.pt" ] || fail "latest names $(cat "$DISK/run/checkpoints/latest"), not step 3"
cmp -s "$DISK/run/checkpoints/step-0000003.pt" "$WORK/straight/checkpoints/step-0000003.pt" ||
  fail "the checkpoint before the full disk is not the complete step-3 checkpoint"
[ "$(ls "$DISK/run/checkpoints")" = "$(printf 'latest\nstep-0000003.pt')" ] ||
  fail "checkpoints/ holds $(ls -a "$DISK/run/checkpoints" | tr '\n' ' ')"
no_temp "a full disk"

# 2. Space freed: --resume finishes, and the run is the uninterrupted one's bytes.
rm -f "$DISK/filler"
"$LATENTKIT" train --resume --out "$DISK/run" 2> "$WORK/resume.log" || fail "--resume after freeing space exited $?: $(tail -2 "$WORK/resume.log")"
grep -q "from $DISK/run/checkpoints/step-0000003.pt (step 3)" "$WORK/resume.log" || fail "the resume did not start at step 3"
for file in model.pt checkpoints/step-0000012.pt checkpoints/latest samples/epoch-001.png samples/epoch-002.png losses.png; do
  cmp -s "$WORK/straight/$file" "$DISK/run/$file" || fail "after the resume, $file differs from the uninterrupted run's"
done
cmp -s <(no_speed "$WORK/straight/train.jsonl") <(no_speed "$DISK/run/train.jsonl") || fail "after the resume, train.jsonl differs"
no_temp "the resume"
echo "ok: resumed after freeing space, bitwise identical"

# 3. train.jsonl meets the full disk: config.json takes the one free page, the first log row
# finds none. The error names the file; no half line, no temp file.
rm -rf "$DISK/run"
fill_to 1
"$LATENTKIT" "${run[@]}" --out "$DISK/log" 2> "$WORK/log.log"
rc=$?
line=$(error_line "$WORK/log.log")
[ "$rc" = 1 ] || fail "train.jsonl on a full disk: expected exit 1, got $rc: $(tail -2 "$WORK/log.log")"
grep -q "cannot write $DISK/log/train.jsonl: the disk holding $DISK/log is full" <<< "$line" ||
  fail "train.jsonl on a full disk: $line"
[ ! -s "$DISK/log/train.jsonl" ] || fail "train.jsonl on a full disk holds $(wc -c < "$DISK/log/train.jsonl") bytes"
no_temp "train.jsonl on a full disk"
echo "ok: $line"

# 4. A PNG on a full disk (generate's grid; samples are written the same way).
fill_to 0
"$LATENTKIT" generate --run "$WORK/straight" --n 4 --threads 1 --out "$DISK/grid.png" > /dev/null 2> "$WORK/png.log"
rc=$?
line=$(error_line "$WORK/png.log")
[ "$rc" = 1 ] || fail "a PNG on a full disk: expected exit 1, got $rc: $(tail -2 "$WORK/png.log")"
grep -q "cannot write $DISK/grid.png: the disk holding $DISK is full" <<< "$line" || fail "a PNG on a full disk: $line"
[ ! -e "$DISK/grid.png" ] || fail "a PNG on a full disk left $DISK/grid.png"
no_temp "a PNG on a full disk"
echo "ok: $line"
finish
