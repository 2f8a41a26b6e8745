#!/usr/bin/env bash
# Latency of `latentkit serve` under load: 500 POST /api/v1/generate one at a time, then 200
# four at a time, random seeds and random moves; end-to-end and server-compute percentiles,
# their ratio, requests per second. The goal: under 100 ms from input to new image on 2 cores.
# Usage: bench/serve_latency.sh [THREADS=2]
# Overrides: LATENTKIT_BIN (default build/latentkit), RUN (models/fashion-dcgan),
# AXES (models/fashion-axes.json), N1 (500), N2 (200), CONCURRENCY (4). Needs node (18+).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
bin=${LATENTKIT_BIN:-build/latentkit}
run=${RUN:-models/fashion-dcgan}
axes=${AXES:-models/fashion-axes.json}

if [ ! -x "$bin" ]; then
  echo "serve_latency: $bin is not built; build it with: scripts/build latentkit" >&2
  exit 1
fi
if ! command -v node >/dev/null; then
  echo "serve_latency: the load generator needs node: apt-get install nodejs" >&2
  exit 1
fi
for f in "$run" "$axes"; do
  if [ ! -e "$f" ]; then
    echo "serve_latency: $f does not exist (set RUN= and AXES= to a run folder and its axes file)" >&2
    exit 1
  fi
done

port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
log=$(mktemp)
"$bin" serve --run "$run" --axes "$axes" --port "$port" --host 127.0.0.1 --threads "$threads" >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"' EXIT

# Up when the port accepts a connection; 30 s at most.
for _ in $(seq 300); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "serve_latency: the server exited before listening; its output:" >&2
    cat "$log" >&2
    exit 1
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  sleep 0.1
done
if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "serve_latency: the server did not listen on port $port within 30 s; its output:" >&2
  cat "$log" >&2
  exit 1
fi

# The load average says whether something else shared the cores during the run.
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; server --threads $threads; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
node bench/serve_latency.mjs "http://127.0.0.1:$port" "${N1:-500}" "${N2:-200}" "${CONCURRENCY:-4}"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
