// lkrt in WebAssembly against native lkrt, in a real browser: the same models and inputs
// through lkrt.mjs in headless Chromium and through the lkrt command, compared as floats
// (--raw) and as 8-bit pixels (the PNG against the ImageData).
// Usage: node tests/web/wasm.test.mjs LKRT_BIN PKG_DIR MODELS_DIR OUT_DIR
//   PKG_DIR: build/wasm/pkg (scripts/build wasm); MODELS_DIR: tests/web/make_models.sh's.
// The two builds run different kernels (AVX2 with FMA, 8 wide, against SIMD128 without FMA,
// 4 wide), so the sums round differently: floats agree to a normalised error
// mse(a - b) / mse(a) under 1e-9 and pixels to within 1 level on under 1% of samples.
// Writes OUT_DIR/wasm-results.json (every case's figures). Exits 1 naming what broke.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { TestFailure, check, decodePng, encodePng, importChromium } from './lib.mjs';

const [lkrtBin, pkgDir, modelsDir, outDir] = process.argv.slice(2).map((a) => path.resolve(a));
if (process.argv.length < 6) {
  console.error('usage: node tests/web/wasm.test.mjs LKRT_BIN PKG_DIR MODELS_DIR OUT_DIR');
  process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });
const chromium = await importChromium('wasm');

const kMaxNormalisedError = 1e-9;
const kMaxPixelsOff = 0.01;

// --- The native side.
function native(name, args) {
  const png = path.join(outDir, `${name}.png`), raw = path.join(outDir, `${name}.raw`);
  execFileSync(lkrtBin, [...args, '--out', png, '--raw', raw], { stdio: ['ignore', 'ignore', 'pipe'] });
  const b = fs.readFileSync(raw);
  return { values: new Float32Array(b.buffer, b.byteOffset, b.length / 4), image: decodePng(fs.readFileSync(png), png) };
}

// A deterministic RGBA test picture (opaque, with a gradient and edges), written as PNG for
// the command and passed as the same bytes to the page.
function picture(width, height) {
  const rgba = new Uint8Array(4 * width * height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = 4 * (y * width + x);
      const ring = Math.hypot(x - width / 2, y - height / 2) < Math.min(width, height) / 3;
      rgba.set([(x * 255) / width, ring ? 230 : 40, (y * 255) / height, 255].map(Math.round), i);
    }
  return rgba;
}

const model = (f) => path.join(modelsDir, f);
const code = fs.readFileSync(model('emoji-vae32.code'), 'utf8').trim();
const enhanceInputs = [
  [28, 28],
  [37, 23],
];
for (const [w, h] of enhanceInputs) fs.writeFileSync(path.join(outDir, `in-${w}x${h}.png`), encodePng(picture(w, h), w, h));

// Each case: the command's arguments and the page's call on the same model.
const cases = [
  { name: 'dcgan-seed3', file: 'fashion-dcgan.lkm', args: ['--seed', '3'], call: { op: 'generate', options: { seed: 3 } } },
  { name: 'dcgan-seed12345678901', file: 'fashion-dcgan.lkm', args: ['--seed', '12345678901'], call: { op: 'generate', options: { seed: 12345678901 } } },
  { name: 'emoji-cgan-int8-label7', file: 'emoji-cgan.lkm', args: ['--seed', '5', '--label', '7'], call: { op: 'generate', options: { seed: 5, label: 7 } } },
  { name: 'vae-fp16-code', file: 'emoji-vae32.lkm', args: ['--code', code], call: { op: 'decodeCode', text: code } },
  ...enhanceInputs.map(([w, h]) => ({
    name: `enhance-${w}x${h}`, file: 'fashion-enhance.lkm', args: ['--image', path.join(outDir, `in-${w}x${h}.png`)],
    call: { op: 'enhance', width: w, height: h, rgba: Array.from(picture(w, h)) },
  })),
  { name: 'ddpm-dpmpp10', file: 'fashion-ddpm.lkm', args: ['--seed', '1', '--steps', '10', '--sampler', 'dpmpp'], call: { op: 'sample', options: { seed: 1, steps: 10, sampler: 'dpmpp' } } },
  { name: 'ddpm-ddim5', file: 'fashion-ddpm.lkm', args: ['--seed', '2', '--steps', '5'], call: { op: 'sample', options: { seed: 2, steps: 5 } } },
  // Text to image: a prompt (with an unknown word) and guidance, and no prompt.
  { name: 't2i-prompt-dpmpp10', file: 'tiny-t2i.lkm', args: ['--seed', '3', '--steps', '10', '--sampler', 'dpmpp', '--prompt', 'An emoji, Google style! zzyzx', '--guidance', '3'],
    call: { op: 'sample', options: { seed: 3, steps: 10, sampler: 'dpmpp', prompt: 'An emoji, Google style! zzyzx', guidance: 3 } } },
  { name: 't2i-noprompt-ddim5', file: 'tiny-t2i.lkm', args: ['--seed', '4', '--steps', '5'], call: { op: 'sample', options: { seed: 4, steps: 5 } } },
  // A mask generator: the same map PNG (the page reads it through mapFromImage) and seed.
  { name: 'spade-map-seed3', file: 'shapes-spade.lkm', args: ['--mask', model('shapes-spade.map.png'), '--seed', '3'],
    call: { op: 'generateMap', seed: 3, png: fs.readFileSync(model('shapes-spade.map.png')).toString('base64') } },
];

// --- The page: a static server for the package and the models; every request is recorded.
const requests = [];
const types = { '.html': 'text/html', '.mjs': 'text/javascript', '.wasm': 'application/wasm' };
const server = http.createServer((req, res) => {
  requests.push(req.url);
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/') {
    res.writeHead(200, { 'content-type': 'text/html' });
    return res.end('<!doctype html><title>lkrt wasm test</title>');
  }
  const [dir, rel] = url.pathname.startsWith('/models/') ? [modelsDir, url.pathname.slice(8)] : [pkgDir, url.pathname.slice(1)];
  const file = path.join(dir, path.normalize(rel));
  if (!file.startsWith(path.resolve(dir)) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
    res.writeHead(404);
    return res.end();
  }
  res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
  res.end(fs.readFileSync(file));
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
const results = {};
let failed = null;
try {
  const page = await browser.newPage();
  const outside = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(origin)) outside.push(r.url());
  });
  await page.goto(origin + '/');
  const isa = await page.evaluate(async () => (await import('/lkrt.mjs')).isa());
  console.log(`ok: the module loads in Chromium (kernels: ${isa})`);
  check(isa === 'wasm-simd128', `the module's kernels are ${isa}, expected wasm-simd128`);

  for (const c of cases) {
    const n = native(c.name, [model(c.file), ...c.args]);
    const w = await page.evaluate(async ({ file, call }) => {
      const lkrt = await import('/lkrt.mjs');
      const m = await lkrt.load(await (await fetch('/models/' + file)).arrayBuffer());
      let map = null;  // the map PNG as the browser decodes it
      if (call.png) {
        const bitmap = await createImageBitmap(new Blob([Uint8Array.from(atob(call.png), (c) => c.charCodeAt(0))]));
        const ctx = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d');
        ctx.drawImage(bitmap, 0, 0);
        map = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
      }
      try {
        const run = (output) => {
          if (call.op === 'generate') return m.generate({ ...call.options, output });
          if (call.op === 'decodeCode') return m.decodeCode(call.text, { output });
          if (call.op === 'sample') return m.sample({ ...call.options, output });
          if (call.op === 'generateMap') return m.generateMap({ map, seed: call.seed, output });
          const image = new ImageData(new Uint8ClampedArray(call.rgba), call.width, call.height);
          return m.enhance(image, { output });
        };
        const f = run('float'), img = run('image');
        return { values: Array.from(f.values), rgba: Array.from(img.data), width: img.width, height: img.height };
      } finally {
        m.free();
      }
    }, { file: c.file, call: c.call });
    check(w.values.length === n.values.length, `${c.name}: the page gave ${w.values.length} values, lkrt ${n.values.length}`);
    check(w.width === n.image.width && w.height === n.image.height, `${c.name}: ${w.width}x${w.height} against lkrt's ${n.image.width}x${n.image.height}`);
    let se = 0, ref = 0, maxAbs = 0;
    for (let i = 0; i < n.values.length; i++) {
      const d = w.values[i] - n.values[i];
      se += d * d;
      ref += n.values[i] * n.values[i];
      maxAbs = Math.max(maxAbs, Math.abs(d));
    }
    let off = 0, maxLevels = 0;
    for (let i = 0; i < w.rgba.length; i++) {
      const d = Math.abs(w.rgba[i] - n.image.rgba[i]);
      if (d) off++;
      maxLevels = Math.max(maxLevels, d);
    }
    const r = { normalised_error: se / ref, max_abs: maxAbs, samples_off: off, samples: w.rgba.length, max_levels: maxLevels };
    results[c.name] = r;
    console.log(`ok: ${c.name}: normalised error ${r.normalised_error.toExponential(1)}, max |diff| ${maxAbs.toExponential(1)}, ` +
      `${off} of ${w.rgba.length} samples off by up to ${maxLevels}`);
    check(Number.isFinite(r.normalised_error) && r.normalised_error < kMaxNormalisedError,
      `${c.name}: normalised error ${r.normalised_error} over ${kMaxNormalisedError}`);
    check(maxLevels <= 1 && off <= kMaxPixelsOff * w.rgba.length, `${c.name}: ${off} samples differ, by up to ${maxLevels} levels`);
  }

  // The tokenizer and the text encoder against LibTorch's (latentkit export --vectors): the
  // same ids, and the pooled prompts to a normalised error under 1e-9.
  const vectors = JSON.parse(fs.readFileSync(model('tiny-t2i.vectors.json'), 'utf8'));
  const text = await page.evaluate(async (prompts) => {
    const lkrt = await import('/lkrt.mjs');
    const m = await lkrt.load(await (await fetch('/models/tiny-t2i.lkm')).arrayBuffer());
    const out = { info: m.info, tokens: [], text: [], errors: {} };
    for (const p of prompts) {
      out.tokens.push(p ? Array.from(m.tokenize(p)) : []);
      if (p) out.text.push(Array.from(m.encodePrompt(p)));
    }
    out.warnings = m.promptWarnings('an emoji of kat, Google-style');
    out.unknownOnly = Array.from(m.tokenize('zzyzx qqq'));
    for (const [what, f] of [['empty', () => m.tokenize(' ?! ')], ['long', () => m.encodePrompt('emoji '.repeat(25))],
                             ['sampleEmpty', () => m.sample({ prompt: '' })]]) {
      try {
        f();
      } catch (e) {
        out.errors[what] = { name: e.name, status: e.status, message: e.message };
      }
    }
    m.free();
    const g = await lkrt.load(await (await fetch('/models/fashion-ddpm.lkm')).arrayBuffer());
    try {
      g.sample({ prompt: 'a shoe' });
    } catch (e) {
      out.errors.noText = { name: e.name, status: e.status, message: e.message };
    }
    g.free();
    return out;
  }, vectors.prompts);
  check(text.info.textWidth === 16 && text.info.maxTokens === 24 && text.info.vocabSize > 3, `t2i info: ${JSON.stringify(text.info)}`);
  check(JSON.stringify(text.tokens) === JSON.stringify(vectors.tokens), `tokens ${JSON.stringify(text.tokens)}, latentkit's ${JSON.stringify(vectors.tokens)}`);
  {
    let se = 0, ref = 0;
    const want = vectors.text.filter((_, i) => vectors.prompts[i]);
    for (let i = 0; i < want.length; i++)
      for (let k = 0; k < want[i].length; k++) (se += (text.text[i][k] - want[i][k]) ** 2), (ref += want[i][k] ** 2);
    results.t2i_text = { prompts: want.length, normalised_error: se / ref };
    check(want.length >= 2 && se / ref < kMaxNormalisedError, `the page's text embeddings miss LibTorch's by ${se / ref}`);
    console.log(`ok: ${want.length} prompts: the same ids as latentkit's tokenizer, embeddings to ${(se / ref).toExponential(1)} of LibTorch's`);
  }
  check(text.warnings.length === 1 && /^unknown word 'kat' \(nearest known: [a-z0-9]+, [a-z0-9]+, [a-z0-9]+\)$/.test(text.warnings[0]),
    `warnings: ${JSON.stringify(text.warnings)}`);
  check(JSON.stringify(text.unknownOnly) === '[1,1]', `unknown words only: ${JSON.stringify(text.unknownOnly)}`);
  check(text.errors.empty?.status === 4 && /the prompt is empty/.test(text.errors.empty.message), `empty prompt: ${JSON.stringify(text.errors.empty)}`);
  check(text.errors.long?.status === 4 && /has 25 words; this model reads at most 24/.test(text.errors.long.message), `long prompt: ${JSON.stringify(text.errors.long)}`);
  check(text.errors.sampleEmpty?.status === 4, `sample with an empty prompt: ${JSON.stringify(text.errors.sampleEmpty)}`);
  check(text.errors.noText?.status === 4 && /has no text encoder/.test(text.errors.noText.message), `a prompt for fashion-ddpm: ${JSON.stringify(text.errors.noText)}`);
  console.log(`ok: text errors: "${text.errors.empty.message}"; "${text.errors.long.message}"; "${text.errors.noText.message}"; ${text.warnings[0]}`);

  // A bad file and a bad code: the runtime's own messages, as errors the page can show.
  const errors = await page.evaluate(async () => {
    const lkrt = await import('/lkrt.mjs');
    const out = {};
    try {
      await lkrt.load(new Uint8Array(300));
    } catch (e) {
      out.file = { name: e.name, status: e.status, message: e.message };
    }
    const m = await lkrt.load(await (await fetch('/models/emoji-vae32.lkm')).arrayBuffer());
    try {
      m.decodeCode('not-a-code');
    } catch (e) {
      out.code = { name: e.name, status: e.status, message: e.message };
    }
    try {
      m.enhance(new ImageData(4, 4));
    } catch (e) {
      out.kind = { name: e.name, status: e.status, message: e.message };
    }
    try {
      m.generateMap({ map: new Uint8Array(64 * 64) });
    } catch (e) {
      out.mapKind = { name: e.name, status: e.status, message: e.message };
    }
    m.free();
    // A mask generator: its palette, and the errors of a map.
    const s = await lkrt.load(await (await fetch('/models/shapes-spade.lkm')).arrayBuffer());
    out.palette = s.info.palette;
    out.spadeKind = s.info.kind;
    const attempt = (what, f) => {
      try {
        f();
      } catch (e) {
        out[what] = { name: e.name, status: e.status, message: e.message };
      }
    };
    const gray = new ImageData(64, 64);
    gray.data.fill(128);
    attempt('mapColor', () => s.mapFromImage(gray));
    const ids = new Uint8Array(64 * 64);
    ids[2 * 64 + 5] = 9;
    attempt('mapClass', () => s.generateMap({ map: ids }));
    attempt('mapSize', () => s.generateMap({ map: new Uint8Array(10) }));
    out.fill = Array.from(s.mapFromImage(new ImageData(new Uint8ClampedArray([0, 0, 255, 255, 0, 255, 0, 255]), 2, 1)));
    s.free();
    return out;
  });
  results.errors = errors;
  check(errors.file?.name === 'LkrtError' && errors.file.status === 2 && /format error: /.test(errors.file.message),
    `a file of zeros: ${JSON.stringify(errors.file)}`);
  check(errors.code?.name === 'LkrtError' && errors.code.message.length > 20, `a bad code: ${JSON.stringify(errors.code)}`);
  check(errors.kind?.status === 4 && /is a generator, not an enhancer/.test(errors.kind.message), `enhance on a generator: ${JSON.stringify(errors.kind)}`);
  console.log(`ok: errors: "${errors.file.message}"; "${errors.code.message}"; "${errors.kind.message}"`);
  check(errors.spadeKind === 'mask-generator' && errors.palette?.name === 'scenes' &&
        JSON.stringify(errors.palette.classes.map((c) => [c.name, c.color])) ===
        JSON.stringify([['background', [0, 0, 0, 255]], ['square', [255, 0, 0, 255]], ['circle', [0, 255, 0, 255]], ['triangle', [0, 0, 255, 255]]]),
    `shapes-spade's palette: ${JSON.stringify(errors.palette)}`);
  check(JSON.stringify(errors.fill) === '[3,2]', `mapFromImage of a triangle and a circle pixel: ${JSON.stringify(errors.fill)}`);
  check(errors.mapKind?.status === 4 && /is a generator, not a mask generator/.test(errors.mapKind.message), `generateMap on a generator: ${JSON.stringify(errors.mapKind)}`);
  check(errors.mapColor?.status === 4 && /^invalid argument: pixel \(0, 0\) is #80808080, not a color of the scenes palette; the valid colors are: 0 background #000000/.test(errors.mapColor.message),
    `a gray map: ${JSON.stringify(errors.mapColor)}`);
  check(errors.mapClass?.status === 4 && /map pixel \(5, 2\) is class 9, the model has 4 classes \(0\.\.3\)/.test(errors.mapClass.message),
    `a class id out of range: ${JSON.stringify(errors.mapClass)}`);
  check(errors.mapSize?.status === 4 && /the map has 10 class ids, the model draws 64x64/.test(errors.mapSize.message), `a short map: ${JSON.stringify(errors.mapSize)}`);
  console.log(`ok: mask generator: palette ${errors.palette.name} of ${errors.palette.classes.length} classes; "${errors.mapColor.message.slice(0, 90)}..."; "${errors.mapClass.message}"`);
  check(outside.length === 0, `requests left the origin: ${outside.join(', ')}`);
  console.log(`ok: ${requests.length} requests, none outside ${origin}`);
} catch (e) {
  failed = e;
} finally {
  fs.writeFileSync(path.join(outDir, 'wasm-results.json'), JSON.stringify(results, null, 1));
  await browser.close();
  server.close();
}
if (failed) {
  console.error(failed instanceof TestFailure ? `FAIL: ${failed.message}` : failed);
  process.exit(1);
}
console.log('PASS');
