#!/usr/bin/env bash
# Update latency of the paint page (GauGAN's demo, `latentkit serve` on a spade run): N maps
# posted one at a time as the page posts them (POST /api/paint {"map", "seed", "n": 1}), timed
# from the request going out to the reply parsed; median and p90 of that round trip and of the
# server's own time (the reply's ms), and their ratio to the 200 ms goal.
# The maps: the run's own test maps (GET /api/paint/example?seed=K), each with a brush stroke
# painted across it, a new style seed per request.
# Usage: bench/paint_latency.sh [RUN=runs/shapes-spade] [THREADS=2]
# Overrides: LATENTKIT_BIN (default build/latentkit), N (50), PICTURES (1: the page's default).
# Needs node (18+).
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:-runs/shapes-spade}
threads=${2:-2}
bin=${LATENTKIT_BIN:-build/latentkit}

if [ ! -x "$bin" ]; then
  echo "paint_latency: $bin is not built; build it with: scripts/build latentkit" >&2
  exit 1
fi
if ! command -v node >/dev/null; then
  echo "paint_latency: the client needs node: apt-get install nodejs" >&2
  exit 1
fi
if [ ! -f "$run/model.pt" ]; then
  echo "paint_latency: $run/model.pt does not exist (give a spade run folder: latentkit train --model spade ...)" >&2
  exit 1
fi

port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
log=$(mktemp)
"$bin" serve --run "$run" --port "$port" --host 127.0.0.1 --threads "$threads" >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"' EXIT

# Up when the port accepts a connection; 30 s at most.
for _ in $(seq 300); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "paint_latency: the server exited before listening; its output:" >&2
    cat "$log" >&2
    exit 1
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  sleep 0.1
done
if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "paint_latency: the server did not listen on port $port within 30 s; its output:" >&2
  cat "$log" >&2
  exit 1
fi

# The load average says whether something else shared the cores during the run.
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; server --threads $threads; run $run"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
node --input-type=module - "http://127.0.0.1:$port" "${N:-50}" "${PICTURES:-1}" <<'EOF'
const [base, nText, picturesText] = process.argv.slice(2);
const n = Number(nText), pictures = Number(picturesText);
const kGoalMs = 200;
const info = await (await fetch(`${base}/api/paint/palette`)).json();
const S = info.size, K = info.classes.length;

// n maps: test maps with a horizontal stroke of a class painted across row y (what a drag does).
const bodies = [];
for (let i = 0; i < n; i++) {
  const map = (await (await fetch(`${base}/api/paint/example?seed=${i}`)).json()).map;
  const y = Math.floor(((i * 7) % 10 + 1) * S / 12), r = Math.max(1, Math.round(S / 20));
  for (let yy = Math.max(0, y - r); yy < Math.min(S, y + r); yy++) {
    for (let x = Math.floor(S / 5); x < Math.floor(4 * S / 5); x++) map[yy * S + x] = 1 + (i % (K - 1));
  }
  bodies.push(JSON.stringify({ map, seed: 1000 + i, n: pictures }));
}
const post = async (body) => {
  const t0 = performance.now();
  const r = await fetch(`${base}/api/paint`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
  const j = await r.json();
  if (!r.ok) throw new Error(`POST /api/paint: ${r.status} ${j.error}`);
  return { total: performance.now() - t0, server: j.ms };
};
for (let i = 0; i < 3; i++) await post(bodies[i]); // warm-up: first-call allocations
const total = [], server = [];
for (const body of bodies) {
  const t = await post(body);
  total.push(t.total);
  server.push(t.server);
}
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))];
};
const row = (name, xs) => {
  const median = pct(xs, 0.5), p90 = pct(xs, 0.9);
  console.log(`${name.padEnd(30)} median ${median.toFixed(1).padStart(7)} ms   p90 ${p90.toFixed(1).padStart(7)} ms   ` +
    `median / ${kGoalMs} ms goal = ${(median / kGoalMs).toFixed(2)}   p90 / goal = ${(p90 / kGoalMs).toFixed(2)}`);
};
console.log(`${n} POST /api/paint, one at a time: ${S}x${S} maps (${bodies[0].length} byte bodies), ${pictures} picture(s) each, ` +
  `latent ${info.latent_dim}`);
row('round trip (what the page sees)', total);
row('server (reply ms)', server);
EOF
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
