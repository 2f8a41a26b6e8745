// Hostile traffic for `latentkit serve` while wrk loads it (bench/serve_load.sh,
// tests/e2e/serve_load.sh): bad requests of every kind, oversize bodies, and slowloris
// connections that trickle header bytes, all the time; a good request every 250 ms to time
// how promptly the server still answers.
// Usage: node bench/serve/mixer.mjs SECONDS SLOWLORIS EDITOR_PORT [STATIC_PORT]
//   SLOWLORIS sockets per server are held open the whole time (each reopened when the server
//   closes it). Ends after SECONDS and prints one JSON object on stdout:
//   {"bad": {"sent", "by_status": {"400": n, ...}, "failed": n, "failures": {"kind: what": n}},
//    "slowloris": {"opened", "answered": {"400": n}, "dropped": n, "held_at_end": n},
//    "probe": {"n", "failed", "p50_ms", "max_ms"}}
// A bad request fails when it gets a 5xx, or no status line at all (reset, timeout, closed).
import net from 'node:net';

const [seconds, slowCount, editorPort, staticPort] = process.argv.slice(2).map(Number);
if (!seconds || !editorPort || Number.isNaN(slowCount)) {
  console.error('usage: node bench/serve/mixer.mjs SECONDS SLOWLORIS EDITOR_PORT [STATIC_PORT]');
  process.exit(2);
}
const kHost = '127.0.0.1';
const kMaxBody = 64 * 1024;  // ServeOptions::max_body
const endAt = Date.now() + seconds * 1000;
const running = () => Date.now() < endAt;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const post = (path, body, type = 'application/json') =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
const get = (path, extra = '') => `GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}Connection: close\r\n\r\n`;
const gen = (body) => post('/api/v1/generate', body);

// [kind, what, request]: every one must get a 4xx.
const editorBad = [
  ['bad JSON', 'truncated', gen('{"seed": ')],
  ['bad JSON', 'not JSON', gen('hello')],
  ['bad JSON', 'empty body', gen('')],
  ['bad JSON', 'NaN', gen('{"seed": NaN}')],
  ['wrong types', 'seed string', gen('{"seed": "3"}')],
  ['wrong types', 'seed float', gen('{"seed": 1.5}')],
  ['wrong types', 'seed negative', gen('{"seed": -1}')],
  ['wrong types', 'z not array', gen('{"z": "x"}')],
  ['wrong types', 'z wrong size', gen('{"z": [1, 2]}')],
  ['wrong types', 'moves array', gen('{"seed": 1, "moves": [1]}')],
  ['wrong types', 'unknown axis', gen('{"seed": 1, "moves": {"no-such-axis": 1}}')],
  ['wrong types', 'huge move', gen('{"seed": 1, "moves": {"x": 1e308}}')],
  ['wrong types', 'array body', gen('[1, 2, 3]')],
  ['wrong types', 'unknown field', gen('{"seed": 1, "style": 2}')],
  ['wrong types', 'both seed and z', gen('{"seed": 1, "z": []}')],
  ['wrong types', 'class out of range', gen('{"seed": 1, "class": 100000}')],
  ['wrong types', 'deep nesting', gen('['.repeat(30000) + ']'.repeat(30000))],
  ['bad method', 'GET generate', get('/api/v1/generate')],
  ['bad path', 'unknown API', get('/api/v2/nothing')],
];
const staticBad = [
  ['traversal', 'dot dot', get('/../etc/passwd')],
  ['traversal', 'encoded', get('/%2e%2e/%2e%2e/etc/passwd')],
  ['traversal', 'hidden', get('/.env')],
  ['bad method', 'POST static', post('/index.html', '{}')],
];
// For either server.
const anyBad = [
  ['bad request line', 'garbage', 'GARBAGE\r\n\r\n'],
  ['bad request line', 'HTTP/0.9', 'GET /\r\n\r\n'],
  ['bad request line', 'HTTP/2.0', 'GET / HTTP/2.0\r\nConnection: close\r\n\r\n'],
  ['bad request line', 'unknown method', 'BREW / HTTP/1.1\r\nConnection: close\r\n\r\n'],
  ['bad request line', 'four parts', 'GET / / HTTP/1.1\r\nConnection: close\r\n\r\n'],
  ['bad request line', 'NUL byte', 'GET /\0 HTTP/1.1\r\nConnection: close\r\n\r\n'],
  ['huge headers', 'URI of 20 KB', get('/' + 'a'.repeat(20000))],
  ['huge headers', 'header of 20 KB', get('/', `X-Big: ${'b'.repeat(20000)}\r\n`)],
  ['huge headers', '3000 headers', get('/', Array.from({ length: 3000 }, (_, i) => `X-${i}: ${'h'.repeat(60)}\r\n`).join(''))],
  ['huge headers', 'bad Range', get('/', 'Range: bytes=9-1\r\n')],
  ['oversize body', `${kMaxBody + 1} bytes`, post('/api/v1/generate', ' '.repeat(kMaxBody + 1))],
  ['oversize body', '1 MB', post('/api/v1/generate', 'x'.repeat(1 << 20))],
  ['oversize body', '1 MB as a form', post('/api/v1/generate', 'x'.repeat(1 << 20), 'application/x-www-form-urlencoded')],
  ['oversize body', '1 MB chunked', `POST /api/v1/generate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n100000\r\n${'x'.repeat(1 << 20)}\r\n0\r\n\r\n`],
  ['oversize body', 'Content-Length 10 GB', 'POST /api/v1/generate HTTP/1.1\r\nContent-Length: 10000000000\r\nConnection: close\r\n\r\n{"seed": 1}'],
];

// Sends one raw request on its own connection; resolves to the status (or 'dropped').
function exchange(port, request, timeoutMs = 15000) {
  return new Promise((resolve) => {
    const sock = net.connect(port, kHost);
    let reply = '';
    let done = false;
    const finish = (status) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(status);
    };
    const statusOf = () => {
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(reply);
      return m ? Number(m[1]) : null;
    };
    const timer = setTimeout(() => finish(statusOf() ?? 'dropped (timeout)'), timeoutMs);
    sock.setNoDelay(true);
    sock.on('connect', () => sock.end(request));  // end(): half-close, as a short client does
    sock.on('data', (d) => {
      reply += d.toString('latin1');
      if (statusOf() !== null && reply.includes('\r\n\r\n')) finish(statusOf());
    });
    sock.on('error', (e) => finish(statusOf() ?? `dropped (${e.code})`));
    sock.on('close', () => finish(statusOf() ?? 'dropped (closed)'));
  });
}

const bad = { sent: 0, by_status: {}, failed: 0, failures: {} };
async function badLoop(targets) {
  while (running()) {
    const [port, [kind, what, request]] = targets[Math.floor(Math.random() * targets.length)];
    const status = await exchange(port, request);
    bad.sent++;
    bad.by_status[status] = (bad.by_status[status] ?? 0) + 1;
    if (!(typeof status === 'number' && status >= 400 && status < 500)) {
      bad.failed++;
      const key = `${port === editorPort ? 'editor' : 'static'} ${kind}: ${what} -> ${status}`;
      bad.failures[key] = (bad.failures[key] ?? 0) + 1;
    }
  }
}

// A slowloris socket: a request line, then one header byte every 200 ms, never the blank line.
const slow = { opened: 0, answered: {}, dropped: 0, held: new Set() };
function slowloris(port) {
  if (!running()) return;
  const sock = net.connect(port, kHost);
  slow.opened++;
  slow.held.add(sock);
  let reply = '';
  let timer = null;
  const header = 'X-Slow: ' + 'z'.repeat(4000) + '\r\n';
  let at = 0;
  sock.on('connect', () => {
    sock.write(`GET / HTTP/1.1\r\nHost: x\r\n`);
    timer = setInterval(() => {
      if (!sock.destroyed && sock.writable) sock.write(header[at++ % header.length]);
    }, 200);
  });
  sock.on('data', (d) => { reply += d.toString('latin1'); });
  const closed = () => {
    if (!slow.held.has(sock)) return;
    slow.held.delete(sock);
    clearInterval(timer);
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(reply);
    if (m) slow.answered[m[1]] = (slow.answered[m[1]] ?? 0) + 1;
    else if (running()) slow.dropped++;
    sock.destroy();
    setTimeout(() => slowloris(port), 10);
  };
  sock.on('error', closed);
  sock.on('close', closed);
  sock.on('end', closed);
}

// A good request every 250 ms: how long the server takes while all of this goes on.
const probe = { n: 0, failed: 0, ms: [] };
async function probeLoop(port, path) {
  while (running()) {
    const start = performance.now();
    const status = await exchange(port, get(path), 5000);
    probe.n++;
    if (status !== 200) probe.failed++;
    else probe.ms.push(performance.now() - start);
    await sleep(250);
  }
}

const targets = [...editorBad, ...anyBad].map((b) => [editorPort, b]);
if (staticPort) targets.push(...[...staticBad, ...anyBad].map((b) => [staticPort, b]));
for (const port of staticPort ? [editorPort, staticPort] : [editorPort]) {
  for (let i = 0; i < slowCount; i++) setTimeout(() => slowloris(port), i * 5);
}
// Slowloris sockets first, so the probe measures with them held.
await sleep(Math.min(1000, seconds * 250));
await Promise.all([badLoop(targets), badLoop(targets), probeLoop(editorPort, '/api/v1/model'),
  ...(staticPort ? [probeLoop(staticPort, '/')] : [])]);
const held = slow.held.size;
for (const s of slow.held) s.destroy();
slow.held.clear();
probe.ms.sort((a, b) => a - b);
const pct = (p) => (probe.ms.length ? Number(probe.ms[Math.min(probe.ms.length - 1, Math.floor(p * probe.ms.length))].toFixed(1)) : null);
console.log(JSON.stringify({
  bad,
  slowloris: { per_server: slowCount, opened: slow.opened, answered: slow.answered, dropped: slow.dropped, held_at_end: held },
  probe: { n: probe.n, failed: probe.failed, p50_ms: pct(0.5), max_ms: probe.ms.length ? Number(probe.ms.at(-1).toFixed(1)) : null },
}));
process.exit(0);
