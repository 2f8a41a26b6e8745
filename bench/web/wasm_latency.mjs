// The node side of bench/wasm_latency.sh: prepares the inputs (decodes the PNGs, damages the
// enhancers' inputs with seeded noise, makes the ThumbHash and BlurHash strings of the emoji
// images with their npm packages), serves the page, lkrt's package folder, onnxruntime-web's
// dist/ and the data from 127.0.0.1 (cross-origin isolated, for performance.now()'s 5 us
// resolution instead of 100 us; every request stays on that origin, which is checked), runs
// bench/web/wasm_latency_page.mjs in headless Chromium and prints the tables.
// Usage: node bench/web/wasm_latency.mjs DIR SECONDS REPEAT [--profile]
//   --profile: no timing table; instead a CPU profile (Chrome's sampling profiler, 100 us) of
//   SECONDS of calls of each runtime per case, and the functions with the most self time
//   (lkrt's names need a build linked with --profiling-funcs; LKRT_PKG=DIR serves that
//   package folder instead of build/wasm/pkg).
//   DIR holds what bench/wasm_latency.sh made: MODEL.onnx, MODEL-{fp32,int8}.lkm,
//   fashion-28.png, fashion-256.png, emoji/*.png and codes.txt (`CODE  FILE` lines).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { rgbaToThumbHash } from 'thumbhash';
import { encode as blurhashEncode } from 'blurhash';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const [dir, secondsArg, repeatArg, mode] = process.argv.slice(2);
if (!dir || !fs.existsSync(dir)) {
  console.error('usage: node bench/web/wasm_latency.mjs DIR SECONDS REPEAT (bench/wasm_latency.sh calls it)');
  process.exit(2);
}
const seconds = Number(secondsArg ?? 2);
const repeat = Number(repeatArg ?? 3);
const kBlurhashComponents = [4, 3];  // 28 characters, blurhash's own example

// ---------------------------------------------------------------------------------------------
// PNG (8-bit, non-interlaced, gray / gray+alpha / RGB / RGBA) to straight RGBA bytes.

function decodePng(file) {
  const b = fs.readFileSync(file);
  const fail = (why) => { throw new Error(`${file}: ${why}`); };
  if (b.readUInt32BE(0) !== 0x89504e47) fail('not a PNG');
  let width = 0, height = 0, type = 0;
  const idat = [];
  for (let p = 8; p + 8 <= b.length;) {
    const n = b.readUInt32BE(p), tag = b.toString('latin1', p + 4, p + 8), data = b.subarray(p + 8, p + 8 + n);
    if (tag === 'IHDR') {
      width = data.readUInt32BE(0), height = data.readUInt32BE(4), type = data[9];
      if (data[8] !== 8 || data[12] !== 0 || ![0, 2, 4, 6].includes(type)) fail('expected an 8-bit non-interlaced gray or RGB(A) PNG');
    } else if (tag === 'IDAT') idat.push(data);
    p += 12 + n;
  }
  const ch = { 0: 1, 2: 3, 4: 2, 6: 4 }[type];
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * ch, px = new Uint8Array(height * stride);
  for (let y = 0; y < height; ++y) {
    const f = raw[y * (stride + 1)], line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; ++x) {
      const a = x >= ch ? px[y * stride + x - ch] : 0, up = y > 0 ? px[(y - 1) * stride + x] : 0;
      const c = x >= ch && y > 0 ? px[(y - 1) * stride + x - ch] : 0;
      let v = line[x];
      if (f === 1) v += a;
      else if (f === 2) v += up;
      else if (f === 3) v += (a + up) >> 1;
      else if (f === 4) {
        const pa = Math.abs(up - c), pb = Math.abs(a - c), pc = Math.abs(a + up - 2 * c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? up : c;
      }
      px[y * stride + x] = v & 255;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; ++i) {
    const s = px.subarray(i * ch, (i + 1) * ch);
    rgba.set(ch < 3 ? [s[0], s[0], s[0], ch === 2 ? s[1] : 255] : [s[0], s[1], s[2], ch === 4 ? s[3] : 255], 4 * i);
  }
  return { width, height, data: rgba };
}

// Seeded Gaussian noise (sigma in 0..255 units) on the color of an RGBA image: the damage the
// enhancer removes (it only needs to be the same input for both runtimes).
function damaged(image, sigma, seed) {
  let s = seed >>> 0;
  const uniform = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  const data = Uint8Array.from(image.data);
  for (let i = 0; i < data.length; ++i) {
    if (i % 4 === 3) continue;
    const g = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
    data[i] = Math.max(0, Math.min(255, Math.round(data[i] + sigma * g)));
  }
  return { ...image, data };
}

// ---------------------------------------------------------------------------------------------
// Inputs and hashes

const inputs = {};
const writeImage = (name, image) => {
  fs.writeFileSync(path.join(dir, `${name}.rgba`), image.data);
  inputs[name] = { file: `${name}.rgba`, width: image.width, height: image.height };
};
writeImage('fashion-28', damaged(decodePng(path.join(dir, 'fashion-28.png')), 25, 1));
writeImage('fashion-256', damaged(decodePng(path.join(dir, 'fashion-256.png')), 25, 2));
writeImage('emoji-64', damaged(decodePng(path.join(dir, 'emoji', '0.png')), 25, 3));


// Per image set: each image's 24-byte code (codes.txt: `CODE  FILE` lines), its ThumbHash
// (base64, as sent) and its BlurHash.
function placeholderSet(name, model) {
  const folder = path.join(dir, name);
  const codes = new Map(fs.readFileSync(path.join(folder, 'codes.txt'), 'utf8').trim().split('\n')
    .map((line) => line.trim().split(/\s+/)).map(([code, file]) => [path.basename(file), code]));
  const items = [];
  for (const file of fs.readdirSync(folder).filter((f) => f.endsWith('.png')).sort((a, b) => parseInt(a) - parseInt(b))) {
    const { width: w, height: h, data } = decodePng(path.join(folder, file));
    // BlurHash has no alpha: composite onto white first, as bench/placeholder/hashes.mjs does.
    const white = new Uint8ClampedArray(data.length);
    for (let i = 0; i < data.length; i += 4) {
      const a = data[i + 3] / 255;
      for (let c = 0; c < 3; ++c) white[i + c] = Math.round(data[i + c] * a + 255 * (1 - a));
      white[i + 3] = 255;
    }
    if (!codes.has(file)) throw new Error(`${name}/codes.txt has no code for ${file}`);
    items.push({
      code: codes.get(file),
      thumbhash: Buffer.from(rgbaToThumbHash(w, h, data)).toString('base64'),
      blurhash: blurhashEncode(white, w, h, ...kBlurhashComponents),
    });
  }
  return { name, model, items };
}
const placeholders = [placeholderSet('emoji', 'emoji-vae32'), placeholderSet('fashion', 'fashion-cgan24')];

// ---------------------------------------------------------------------------------------------
// The server: one origin, cross-origin isolated.

const mounts = [
  ['/bench/', path.join(root, 'bench/web')],
  ['/lkrt/', path.resolve(process.env.LKRT_PKG ?? path.join(root, 'build/wasm/pkg'))],
  ['/ort/', path.join(root, 'node_modules/onnxruntime-web/dist')],
  ['/npm/thumbhash/', path.join(root, 'node_modules/thumbhash')],
  ['/npm/blurhash/', path.join(root, 'node_modules/blurhash/dist/esm')],
  ['/data/', path.resolve(dir)],
];
const types = { '.html': 'text/html', '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
const served = new Map();  // URL path -> bytes sent
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const mount = mounts.find(([prefix]) => url.pathname.startsWith(prefix));
  const file = mount && path.join(mount[1], path.normalize(decodeURIComponent(url.pathname.slice(mount[0].length))));
  if (!file || !file.startsWith(mount[1]) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
    res.writeHead(404).end();
    return;
  }
  const body = fs.readFileSync(file);
  served.set(url.pathname, body.length);
  res.writeHead(200, {
    'Content-Type': types[path.extname(file)] ?? 'application/octet-stream',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Cache-Control': 'no-store',
  });
  res.end(body);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const { chromium } = await import('playwright-core');
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox'],
});
let results;
const foreign = [];
try {
  const page = await browser.newPage();
  page.on('request', (r) => { if (!r.url().startsWith(origin + '/') && !r.url().startsWith('data:')) foreign.push(r.url()); });
  page.on('console', (m) => console.error(`page: ${m.text()}`));
  page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
  await page.goto(`${origin}/bench/wasm_latency.html`);
  await page.waitForFunction(() => window.benchReady === true || window.benchError, null, { timeout: 60_000 });
  const error = await page.evaluate(() => window.benchError);
  if (error) throw new Error(`the page did not load: ${error}`);
  const plan = {
    seconds, repeat, minCalls: 20, inputs, placeholders,
    cases: [
      { name: 'fashion-dcgan, one image', model: 'fashion-dcgan', kind: 'generator' },
      { name: 'emoji-cgan, one image with a label', model: 'emoji-cgan', kind: 'generator' },
      { name: 'emoji-vae32 decoder, one image', model: 'emoji-vae32', kind: 'generator' },
      { name: 'fashion-enhance, 28 px (padded to 32)', model: 'fashion-enhance', kind: 'enhancer', input: 'fashion-28' },
      { name: 'fashion-enhance, 256 px', model: 'fashion-enhance', kind: 'enhancer', input: 'fashion-256' },
      { name: 'emoji-enhance, 64 px', model: 'emoji-enhance', kind: 'enhancer', input: 'emoji-64' },
    ],
  };
  if (mode === '--profile') await profile(page, plan);
  else results = await page.evaluate((p) => window.bench(p), plan);
} finally {
  await browser.close();
  server.close();
}
if (foreign.length) throw new Error(`requests left the origin: ${foreign.join(', ')}`);
if (mode === '--profile') process.exit(0);

// Self time per function from a CPU profile of each runtime's calls, per case.
async function profile(page, plan) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 100 });
  for (const c of plan.cases) {
    for (const runtime of ['lkrt_fp32', 'lkrt_int8', 'ort_fp32']) {
      await page.evaluate(([p, cc, r]) => window.prepareProfile(p, cc, r), [plan, c, runtime]);
      await cdp.send('Profiler.start');
      const calls = await page.evaluate((sec) => window.runProfile(sec), seconds);
      const { profile: prof } = await cdp.send('Profiler.stop');
      const self = new Map();
      const byId = new Map(prof.nodes.map((n) => [n.id, n]));
      prof.samples.forEach((id, i) => {
        const f = byId.get(id).callFrame;
        const name = `${f.functionName || '(anonymous)'} ${f.url ? path.basename(f.url) : ''}`.trim();
        self.set(name, (self.get(name) ?? 0) + (prof.timeDeltas[i + 1] ?? 0));
      });
      const total = [...self.values()].reduce((a, b) => a + b, 0);
      console.log(`\n## ${c.name}, ${runtime}: ${calls} calls, ${(total / 1000 / calls).toFixed(3)} ms per call sampled; self time:`);
      for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 14)) {
        console.log(`  ${(100 * us / total).toFixed(1).padStart(5)}%  ${(us / 1000 / calls).toFixed(3).padStart(8)} ms  ${name}`);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const pad = (s, n) => String(s).padEnd(n);
const size = (file) => fs.statSync(file).size;
const gz = (file) => zlib.gzipSync(fs.readFileSync(file), { level: 9 }).length;
const kb = (b) => `${(b / 1000).toFixed(1)} KB`;
const ms = (v) => (v >= 10 ? v.toFixed(2) : v.toFixed(3));

console.log(`\nbrowser: ${results.userAgent}; crossOriginIsolated ${results.isolated}; ` +
            `lkrt-wasm kernels ${results.lkrtIsa}; ONNX Runtime Web ${results.ortVersion} (wasm backend, ` +
            `numThreads ${results.ortThreads}, SIMD); every runtime on 1 thread, batch 1`);
console.log(`each figure: the median of single calls in the best of ${repeat} rounds (${seconds} s and at least ` +
            `20 calls per runtime and round, after a warm-up), p10-p90 of that round; ` +
            `lkrt: generate / enhance with output 'float'; ORT: session.run with the tensors made in the call`);
const rows = [];
for (const c of results.cases) {
  console.log(`\n## ${c.name}${c.flops ? ` (${(c.flops / 1e6).toFixed(1)} MFLOP)` : ''}`);
  console.log(`${pad('runtime', 11)}${pad('ms median', 11)}${pad('p10-p90', 17)}${pad('vs ORT', 8)}${pad('calls', 7)}` +
              `${pad('round medians ms', 26)}${pad('file bytes', 12)}${pad('load ms', 9)}error vs ORT`);
  for (const name of ['lkrt_fp32', 'lkrt_int8', 'ort_fp32']) {
    const r = c.runtimes[name];
    const file = path.join(dir, name === 'ort_fp32' ? `${c.model}.onnx` : `${c.model}-${name.slice(5)}.lkm`);
    console.log(`${pad(name, 11)}${pad(ms(r.median), 11)}${pad(`${ms(r.p10)}-${ms(r.p90)}`, 17)}` +
                `${pad((r.median / c.runtimes.ort_fp32.median).toFixed(2), 8)}${pad(r.calls, 7)}` +
                `${pad(r.medians.map(ms).join(' '), 26)}${pad(size(file), 12)}${pad(r.loadMs.toFixed(1), 9)}` +
                `${name === 'ort_fp32' ? '-' : r.error.toExponential(2)}`);
  }
  rows.push(c);
}
console.log('\n| ms per call (1 thread) | ORT Web fp32 | lkrt-wasm fp32 | lkrt-wasm int8 | lkrt fp32 / ORT | lkrt int8 / ORT | error fp32, int8 vs ORT |');
console.log('|---|---|---|---|---|---|---|');
for (const c of rows) {
  const r = c.runtimes;
  console.log(`| ${c.name} | ${ms(r.ort_fp32.median)} | ${ms(r.lkrt_fp32.median)} | ${ms(r.lkrt_int8.median)} | ` +
              `**${(r.lkrt_fp32.median / r.ort_fp32.median).toFixed(2)}** | ${(r.lkrt_int8.median / r.ort_fp32.median).toFixed(2)} | ` +
              `${r.lkrt_fp32.error.toExponential(1)}, ${r.lkrt_int8.error.toExponential(1)} |`);
}
console.log('(goal: lkrt <= 0.7x ONNX Runtime Web)');

// What each runtime made the page fetch.
const wasmOf = (prefix) => [...served.keys()].filter((p) => p.startsWith(prefix) && p.endsWith('.wasm'));
const jsOf = (prefix) => [...served.keys()].filter((p) => p.startsWith(prefix) && /\.m?js$/.test(p));
const local = (p) => path.join(mounts.find(([m]) => p.startsWith(m))[1], p.slice(p.indexOf('/', 1) + 1));
console.log('\nfiles the page fetched, raw and gzip -9:');
for (const [who, prefix] of [['lkrt-wasm', '/lkrt/'], ['ONNX Runtime Web', '/ort/']]) {
  for (const p of [...wasmOf(prefix), ...jsOf(prefix)]) {
    console.log(`  ${pad(who, 17)}${pad(path.basename(p), 34)}${pad(kb(size(local(p))), 12)}${kb(gz(local(p)))}`);
  }
}

for (const d of results.decode) {
  console.log(`\n## placeholder decode and draw: ${d.images} ${d.set} test images, putImageData on a canvas per image; ` +
              `ms per image: the median of passes over all images in the best of ${repeat} rounds, p10-p90 of its passes`);
  console.log(`${pad('decoder', 40)}${pad('drawn px', 10)}${pad('ms/image', 10)}${pad('p10-p90', 17)}${pad('bytes', 7)}text chars`);
  for (const r of d.rows) {
    console.log(`${pad(r.name, 40)}${pad(r.size, 10)}${pad(r.median.toFixed(4), 10)}${pad(`${r.p10.toFixed(4)}-${r.p90.toFixed(4)}`, 17)}` +
                `${pad(r.bytes.toFixed(1), 7)}${r.chars.toFixed(1)}`);
  }
  for (const w of ['fp32', 'int8']) {
    const f = path.join(dir, `${d.model}-${w}.lkm`);
    console.log(`${d.model} ${w} .lkm, fetched once per page: ${size(f)} bytes (${gz(f)} gzip), load ${d.loadMs[w].toFixed(1)} ms`);
  }
}
console.log('(goal: a placeholder decoded and drawn in under 1 ms per image)');
