// Load test for `latentkit serve`: POST /api/v1/generate with random seeds and random moves,
// end-to-end latency (request written to JSON parsed, over a keep-alive connection) next to
// the server's own compute time (the answer's "ms"). bench/serve_latency.sh starts the server
// and runs this; by hand: node bench/serve_latency.mjs URL [N1=500] [N2=200] [CONCURRENCY=4]
import http from 'node:http';
import os from 'node:os';

const kGoalMs = 100;
const kWarmup = 10;

const [base, n1Arg, n2Arg, concArg] = process.argv.slice(2);
if (!base) {
  console.error('usage: node bench/serve_latency.mjs URL [N1=500] [N2=200] [CONCURRENCY=4]');
  process.exit(2);
}
const n1 = Number(n1Arg || 500);
const n2 = Number(n2Arg || 200);
const concurrency = Number(concArg || 4);
const url = new URL('/api/v1/generate', base);
const agent = new http.Agent({ keepAlive: true, maxSockets: Math.max(1, concurrency) });

// A fixed-seed generator, so every run sends the same requests.
let rngState = 0x2545f491;
function rand() {
  rngState ^= rngState << 13; rngState >>>= 0;
  rngState ^= rngState >>> 17;
  rngState ^= rngState << 5; rngState >>>= 0;
  return rngState / 4294967296;
}
const pick = (n) => Math.floor(rand() * n);

function request(method, path, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const headers = data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {};
    const req = http.request(new URL(path, base), { method, agent, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json = null;
        try { json = JSON.parse(text); } catch { /* reported below */ }
        resolve({ status: res.statusCode, json, text });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

const model = (await request('GET', '/api/v1/model')).json;
const axes = (await request('GET', '/api/v1/axes')).json.axes;

// 1 to 3 random axes moved to a random slider position; a lock on another axis in a quarter of them.
function randomBody() {
  const body = { seed: pick(1_000_000) };
  if (axes.length > 0) {
    const names = axes.map((a) => a.name);
    const moves = {};
    const k = 1 + pick(Math.min(3, names.length));
    for (let i = 0; i < k; i++) {
      const a = axes[pick(axes.length)];
      const [lo, hi] = a.slider || [-3, 3];
      moves[a.name] = Math.round((lo + rand() * (hi - lo)) * 10) / 10;
    }
    body.moves = moves;
    const free = names.filter((n) => !(n in moves));
    if (free.length > 0 && rand() < 0.25) body.locks = [free[pick(free.length)]];
  }
  if (model.num_classes > 0) body.class = pick(model.num_classes);
  return body;
}

let failures = 0;
async function one() {
  const body = randomBody();
  const t0 = performance.now();
  const r = await request('POST', url.pathname, body);
  const e2e = performance.now() - t0;
  if (r.status !== 200 || !r.json || typeof r.json.ms !== 'number' || typeof r.json.image !== 'string') {
    if (failures++ === 0) console.error(`serve_latency: ${JSON.stringify(body)} -> ${r.status} ${r.text.slice(0, 300)}`);
    return null;
  }
  return { e2e, server: r.json.ms };
}

async function phase(n, conc) {
  const out = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: conc }, async () => {
    while (next < n) {
      next++;
      const r = await one();
      if (r) out.push(r);
    }
  }));
  return { samples: out, seconds: (performance.now() - t0) / 1000 };
}

// Nearest rank on a sorted copy.
function pct(values, p) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}
const f = (v) => v.toFixed(1).padStart(7);
function row(label, values) {
  return `  ${label.padEnd(12)} ${f(pct(values, 50))} ${f(pct(values, 90))} ${f(pct(values, 99))} ${f(Math.max(...values))}`;
}
function report(title, { samples, seconds }) {
  const e2e = samples.map((s) => s.e2e);
  const server = samples.map((s) => s.server);
  console.log(`${title}: ${samples.length} requests in ${seconds.toFixed(2)} s, ${(samples.length / seconds).toFixed(1)} req/s`);
  console.log(`  ${'ms'.padEnd(12)} ${'p50'.padStart(7)} ${'p90'.padStart(7)} ${'p99'.padStart(7)} ${'max'.padStart(7)}`);
  console.log(row('end to end', e2e));
  console.log(row('server', server));
  console.log(`  end to end / server at p50: ${(pct(e2e, 50) / pct(server, 50)).toFixed(2)}x ` +
    `(${(pct(e2e, 50) - pct(server, 50)).toFixed(1)} ms outside the server's own timing: HTTP, parsing, transfer)`);
  const outside = pct(e2e, 50) - pct(server, 50);
  if (outside > 20 && outside < 60) {
    console.log('  ---> HINT: some 40 ms outside the server on a reused connection is Nagle\'s algorithm meeting the' +
      ' client\'s delayed ACK (a response written in two sends); set TCP_NODELAY on the server\'s sockets' +
      ' (cpp-httplib: server.set_tcp_nodelay(true))');
  }
  return pct(e2e, 99);
}

const [c, h, w] = model.image_shape;
console.log(`server: ${model.run} (${model.family}, latent ${model.latent_dim}, ${c}x${h}x${w}` +
  `${model.num_classes > 0 ? `, ${model.num_classes} classes` : ''}), ${axes.length} axes; client: node ${process.version}, ${os.cpus().length} cores`);
console.log('requests: random seed, 1-3 random axes moved to random slider positions, a lock in 1 of 4; one keep-alive connection per worker');

const cold = await one();
if (cold) console.log(`first request: ${cold.e2e.toFixed(1)} ms end to end, ${cold.server.toFixed(1)} ms server`);
await phase(kWarmup, 1);

const p99c1 = report(`concurrency 1`, await phase(n1, 1));
if (n2 > 0) report(`concurrency ${concurrency}`, await phase(n2, concurrency));
agent.destroy();

console.log(`goal: under ${kGoalMs} ms from input to new image on 2 cores: p99 end to end at concurrency 1 is ${p99c1.toFixed(1)} ms: ` +
  `${p99c1 < kGoalMs ? 'met' : 'NOT met'} (a browser adds its PNG decode and paint on top)`);
if (failures > 0) {
  console.error(`serve_latency: ${failures} request(s) failed; the first is above`);
  process.exit(1);
}
