#!/usr/bin/env bash
# `latentkit serve` under load on loopback, with hostile traffic all the while.
# Two servers: the editor on the shipped emoji model (--threads 1, so wrk has the other
# core) and a static folder (serve --app). wrk (1 thread) drives, each for SECONDS at 1, 8
# and 64 connections: GET static files, GET the editor's page, POST /api/v1/generate
# (random seeds and moves). All the while bench/serve/mixer.mjs sends bad requests (bad
# JSON, wrong types, bad request lines, huge headers, bodies over max_body) to both, holds
# SLOWLORIS sockets on each that trickle header bytes, and times a good request every 250 ms.
# Prints a table: requests/s, p50/p95/p99 latency, every bad request's status (a 5xx or a
# dropped answer is a failure), the servers alive at the end, their RSS before and after.
# Exits 1 when a bad request failed, a server died, or a good request waited over 1 s.
# Usage: bench/serve_load.sh [SECONDS=10]   (9 wrk runs of SECONDS each)
# Overrides: LATENTKIT_BIN (build/latentkit), RUN (models/emoji-cgan), AXES
# (models/emoji-axes.json), SLOWLORIS (64 per server). Needs wrk and node (scripts/setup).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
LATENTKIT_BIN=${LATENTKIT_BIN:-build/latentkit}
run=${RUN:-models/emoji-cgan}
axes=${AXES:-models/emoji-axes.json}
slowloris=${SLOWLORIS:-64}
source bench/serve/lib.sh

[ -x "$LATENTKIT_BIN" ] || { echo "serve_load: $LATENTKIT_BIN is not built; build it with: scripts/build latentkit" >&2; exit 1; }
for tool in wrk node; do
  command -v "$tool" >/dev/null || { echo "serve_load: $tool not found; install it with: scripts/setup" >&2; exit 1; }
done
for f in "$run" "$axes"; do
  [ -e "$f" ] || { echo "serve_load: $f does not exist (set RUN= and AXES= to a run folder and its axes file)" >&2; exit 1; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/serve_load.XXXXXX")
cleanup() {
  stop_pids
  rm -rf "$work"
}
trap cleanup EXIT

# The static folder: a page, a script, a 256 KiB binary (a model's size class).
mkdir -p "$work/app/js"
printf '<!doctype html><title>app</title><script src="js/app.js"></script>\n' >"$work/app/index.html"
head -c 3000 /dev/zero | tr '\0' '/' >"$work/app/js/app.js"
head -c 262144 /dev/urandom >"$work/app/model.lkm"

start_server "$work/editor.log" --run "$run" --axes "$axes" --threads 1
editor_pid=$SERVER_PID editor_port=$SERVER_PORT
pids+=("$editor_pid")
start_server "$work/static.log" --app "$work/app" --threads 1
static_pid=$SERVER_PID static_port=$SERVER_PORT
pids+=("$static_pid")
axis=$(node -e 'console.log(require(process.argv[1]).axes[0]?.name ?? "")' "$(realpath "$axes")")
# One image first, so the model's first-call costs are not in the numbers.
curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d '{"seed": 1}' "http://127.0.0.1:$editor_port/api/v1/generate"
rss_editor_before=$(rss_kb "$editor_pid") rss_static_before=$(rss_kb "$static_pid")

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "latentkit serve --run $run --axes $axes --threads 1; serve --app DIR --threads 1 (static); wrk -t 1, ${seconds} s per row;"
echo "mixer: bad requests on 2 connections at a time, $slowloris slowloris sockets per server, a probe every 250 ms"

node bench/serve/mixer.mjs $((9 * seconds + 2)) "$slowloris" "$editor_port" "$static_port" >"$work/mixer.json" &
mixer_pid=$!
pids+=("$mixer_pid")
sleep 1

rows=()
for load in static page generate; do
  for c in 1 8 64; do
    case $load in
      static) json=$(wrk_json paths.lua "http://127.0.0.1:$static_port" "$c" "$seconds" PATHS="/ /js/app.js /model.lkm") ;;
      page) json=$(wrk_json paths.lua "http://127.0.0.1:$editor_port" "$c" "$seconds" PATHS="/ /editor.js /editor.css /api/v1/axes") ;;
      generate) json=$(wrk_json generate.lua "http://127.0.0.1:$editor_port" "$c" "$seconds" AXIS="$axis") ;;
    esac
    rows+=("$load $c $json")
  done
done
wait "$mixer_pid" || true
mixer=$(cat "$work/mixer.json")

alive() { kill -0 "$1" 2>/dev/null && [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$2$3")" = 200 ]; }
editor_alive=no static_alive=no
alive "$editor_pid" "$editor_port" /api/v1/model && editor_alive=yes
alive "$static_pid" "$static_port" / && static_alive=yes
rss_editor_after=$(rss_kb "$editor_pid" || echo 0) rss_static_after=$(rss_kb "$static_pid" || echo 0)
# Idle connection threads end after 5 s, and the heap is trimmed every 5 s.
sleep 8
rss_editor_idle=$(rss_kb "$editor_pid" || echo 0) rss_static_idle=$(rss_kb "$static_pid" || echo 0)

echo
echo "| load | connections | requests/s | p50 ms | p95 ms | p99 ms | max ms | non-2xx | socket errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
declare -A what=([static]="GET static files (--app)" [page]="GET editor page + assets" [generate]="POST /api/v1/generate")
for row in "${rows[@]}"; do
  read -r load c json <<<"$row"
  node -e '
    const [what, c, text] = process.argv.slice(1);
    const j = JSON.parse(text);
    const errors = j.connect_errors + j.read_errors + j.write_errors + j.timeouts;
    console.log(`| ${what} | ${c} | ${j.rps.toFixed(0)} | ${j.p50_ms.toFixed(1)} | ${j.p95_ms.toFixed(1)} | ${j.p99_ms.toFixed(1)} | ${j.max_ms.toFixed(0)} | ${j.non_2xx} | ${errors} |`);
  ' "${what[$load]}" "$c" "$json"
done
echo
node -e '
  const m = JSON.parse(process.argv[1]);
  const statuses = Object.entries(m.bad.by_status).map(([s, n]) => `${s}: ${n}`).join(", ");
  console.log(`bad requests (both servers): ${m.bad.sent} sent; by status: ${statuses}; failed (5xx or dropped): ${m.bad.failed}`);
  for (const [k, n] of Object.entries(m.bad.failures)) console.log(`  FAILED ${n}x ${k}`);
  const s = m.slowloris;
  console.log(`slowloris: ${s.per_server} held per server, ${s.opened} opened in all; cut by the server with ${JSON.stringify(s.answered)}; dropped without an answer: ${s.dropped}`);
  console.log(`probe (a good GET every 250 ms per server, slowloris held): ${m.probe.n} sent, ${m.probe.failed} failed, p50 ${m.probe.p50_ms} ms, max ${m.probe.max_ms} ms`);
' "$mixer"
echo "editor: alive at the end: $editor_alive; VmRSS $((rss_editor_before / 1024)) MiB before, $((rss_editor_after / 1024)) MiB right after, $((rss_editor_idle / 1024)) MiB 8 s later"
echo "static: alive at the end: $static_alive; VmRSS $((rss_static_before / 1024)) MiB before, $((rss_static_after / 1024)) MiB right after, $((rss_static_idle / 1024)) MiB 8 s later"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

failed=$(json_get "$mixer" 'j.bad.failed + j.probe.failed + (j.probe.max_ms > 1000 ? 1 : 0)')
if [ "$editor_alive" != yes ] || [ "$static_alive" != yes ] || [ "$failed" != 0 ]; then
  echo "serve_load: FAILED (a server died, a bad request got no 4xx, or a good request waited over 1 s)" >&2
  exit 1
fi
