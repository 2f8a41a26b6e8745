// The placeholder drop-in (placeholder.mjs) in a real browser: a static server (node http)
// serves a page, the package folder and emoji-vae32.lkm, and holds each real image until
// the test releases it. Checks that each preview is the code's decoded pixels (against
// lkrt.mjs's decodeCode on the same code, alpha included), that its box has the image's
// aspect ratio (from the width/height attributes, or carried in the code) so the real
// image takes the same box, that the image replaces it when it loads (also for an img
// added later), that a bad code leaves its img alone with a console warning that names
// the problem, that a loaded image gets no preview, and that no request leaves the origin.
// Usage: node tests/web/dropin.test.mjs LATENTKIT_BIN PKG_DIR MODELS_DIR OUT_DIR
//   PKG_DIR: build/wasm/pkg; MODELS_DIR: tests/web/make_models.sh's (emoji-vae32.lkm, .code).
// Writes OUT_DIR/dropin-preview.png (previews drawn), dropin-loaded.png (images loaded),
// dropin.json (figures). Prints the decode-and-draw time per image. Exits 1 naming what broke.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { TestFailure, check, decodePng, encodePng, importChromium, log, waitFor } from './lib.mjs';

const [bin, pkgDir, modelsDir, outDir] = process.argv.slice(2).map((a) => a && path.resolve(a));
if (process.argv.length < 6) {
  console.error('usage: node tests/web/dropin.test.mjs LATENTKIT_BIN PKG_DIR MODELS_DIR OUT_DIR');
  process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const chromium = await importChromium('dropin');

const kBackground = [255, 0, 255]; // the page's color: it shows where a preview is clear
const kLazyImages = 40; // far below the fold: previews drawn, never fetched (timing)
const kMaxMsPerImage = 50; // a bound for gross regressions on a loaded machine; the goal (1 ms) is printed

function pngSize(file) {
  const buf = fs.readFileSync(file);
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
}

// --- The real images: a yellow face-like disc on a clear ground, at three shapes.
function face(width, height) {
  const rgba = new Uint8Array(4 * width * height);
  const r = 0.42 * Math.min(width, height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const dx = (x + 0.5 - width / 2) / (r * (width / Math.min(width, height)));
      const dy = (y + 0.5 - height / 2) / (r * (height / Math.min(width, height)));
      const inside = dx * dx + dy * dy <= 1;
      const eye = (Math.abs(dx + 0.35) < 0.12 || Math.abs(dx - 0.35) < 0.12) && Math.abs(dy + 0.3) < 0.2;
      const i = 4 * (y * width + x);
      if (inside) rgba.set(eye ? [60, 40, 20, 255] : [250, 200, 40, 255], i);
    }
  return encodePng(rgba, width, height);
}
const work = fs.mkdtempSync(path.join(outDir, 'work-'));
const images = { wide: face(320, 180), tall: face(90, 160), square: fs.readFileSync(path.join(root, 'node_modules/emoji-datasource-google/img/google/64/1f600.png')) };
for (const [name, bytes] of Object.entries(images)) fs.writeFileSync(path.join(work, `${name}.png`), bytes);
images.late = images.square;
images.bad = images.square;
images.done = images.square;

// Codes: the square one from make_models.sh; the others made here (they carry an aspect field).
const codes = { square: fs.readFileSync(path.join(modelsDir, 'emoji-vae32.code'), 'utf8').trim() };
const encoded = execFileSync(bin, ['placeholder', 'encode', '--run', path.join(root, 'models/emoji-vae32'), '--threads', '1',
  path.join(work, 'wide.png'), path.join(work, 'tall.png')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
for (const line of encoded.trim().split('\n')) {
  const [code, file] = line.trim().split(/\s+/);
  codes[path.basename(file, '.png')] = code;
}
check(codes.wide && codes.tall, `placeholder encode printed: ${encoded}`);
// The encoder wrote the aspect field (flag bit 2, round(4096 log2(w / h)) after the tag) for
// the non-square images only: 320x180 is 3400, 90x160 is -3400.
const field = (code) => {
  const b = Buffer.from(code, 'base64url');
  return b[0] & 4 ? b.readInt16BE(3) : 0;
};
check(field(codes.wide) === 3400 && field(codes.tall) === -3400 && field(codes.square) === 0,
  `aspect fields: wide ${field(codes.wide)} (expected 3400), tall ${field(codes.tall)} (-3400), square ${field(codes.square)} (none)`);
check(Buffer.from(codes.wide, 'base64url').length === 24, 'the wide code is not 24 bytes');
// A small model for the timing beside emoji-vae32: fashion-cgan24 (28x28 gray, 24-dim latent).
execFileSync(bin, ['export', '--run', path.join(root, 'models/fashion-cgan24'), '--format', 'lkm', '--out', path.join(work, 'fashion-cgan24.lkm'), '--threads', '1'], { stdio: 'ignore' });
codes.small = execFileSync(bin, ['placeholder', 'encode', '--run', path.join(root, 'models/fashion-cgan24'), '--class', '7', '--threads', '1', path.join(work, 'square.png')],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
// A bad code: one character of a good one changed, so the checksum fails.
codes.bad = codes.square.slice(0, 10) + (codes.square[10] === 'A' ? 'B' : 'A') + codes.square.slice(11);
log(`codes: square ${codes.square.length} characters, wide ${codes.wide}, tall ${codes.tall}`);

// --- The npm package: `npm pack` (offline) takes exactly the package's files, and every
// path its exports name is in it.
const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--offline'], { cwd: pkgDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }))[0];
const packedFiles = packed.files.map((f) => f.path).sort();
const kPackage = ['README.md', 'lkrt-wasm.mjs', 'lkrt-wasm.wasm', 'lkrt.d.ts', 'lkrt.mjs', 'package.json', 'placeholder.d.ts', 'placeholder.mjs'];
check(JSON.stringify(packedFiles) === JSON.stringify(kPackage), `npm pack takes ${packedFiles.join(', ')}; expected ${kPackage.join(', ')}`);
const manifest = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
const targets = (v) => (typeof v === 'string' ? [v] : Object.values(v).flatMap(targets));
const named = targets(manifest.exports).concat(manifest.main, manifest.types);
for (const file of named) check(packedFiles.includes(file.replace(/^\.\//, '')), `package.json names ${file}, which npm pack leaves out`);
check(fs.statSync(path.join(pkgDir, 'README.md')).size > 500, 'the package README is empty');
log(`npm pack: ${packed.filename}, ${packedFiles.length} files, ${(packed.size / 1024).toFixed(1)} KB packed`);

// --- The server. Every /img/ response and the first model response wait for release(name).
const held = new Map();
const released = new Set();
function release(name) {
  released.add(name);
  for (const go of held.get(name) ?? []) go();
  held.delete(name);
}
function whenReleased(name) {
  if (released.has(name)) return Promise.resolve();
  return new Promise((resolve) => held.set(name, [...(held.get(name) ?? []), resolve]));
}
const kTypes = { '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.png': 'image/png', '.json': 'application/json', '.lkm': 'application/octet-stream', '.ts': 'text/plain', '.md': 'text/plain' };
const page = (origin) => `<!doctype html>
<html><head><meta charset="utf-8"><title>drop-in</title>
<style>body { margin: 16px; background: rgb(${kBackground}); font: 14px sans-serif } img { display: block; margin: 8px 0 } .row { display: flex; gap: 16px; align-items: flex-start }</style>
</head><body>
<div class="row">
  <img id="square" src="/img/square.png" width="128" height="128" data-lk-code="${codes.square}" alt="">
  <img id="wide" src="/img/wide.png" style="width: 320px" data-lk-code="${codes.wide}" alt="">
  <img id="tall" src="/img/tall.png" width="90" height="160" data-lk-code="${codes.tall}" alt="">
  <img id="bad" src="/img/bad.png" width="96" height="96" data-lk-code="${codes.bad}" alt="">
  <img id="done" src="/fast/done.png" width="64" height="64" data-lk-code="${codes.square}" alt="">
</div>
<div id="later" class="row"></div>
<div style="margin-top: 12000px">${Array.from({ length: kLazyImages }, (_, i) => `<img loading="lazy" src="/lazy/${i}.png" width="32" height="32" data-lk-code="${codes.square}" alt="">`).join('')}</div>
<script type="module" src="/pkg/placeholder.mjs" data-model="/models/emoji-vae32.lkm"></script>
</body></html>`;

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const send = (status, type, body) => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(body);
  };
  try {
    if (url.pathname === '/') return send(200, 'text/html', page());
    if (url.pathname.startsWith('/pkg/')) {
      const file = path.join(pkgDir, path.basename(url.pathname));
      if (!fs.existsSync(file)) return send(404, 'text/plain', 'no such file');
      return send(200, kTypes[path.extname(file)] ?? 'application/octet-stream', fs.readFileSync(file));
    }
    if (url.pathname === '/models/emoji-vae32.lkm') {
      await whenReleased('model');
      return send(200, kTypes['.lkm'], fs.readFileSync(path.join(modelsDir, 'emoji-vae32.lkm')));
    }
    if (url.pathname === '/models/fashion-cgan24.lkm') return send(200, kTypes['.lkm'], fs.readFileSync(path.join(work, 'fashion-cgan24.lkm')));
    const img = url.pathname.match(/^\/(img|fast)\/(\w+)\.png$/);
    if (img && images[img[2]]) {
      if (img[1] === 'img') await whenReleased(img[2]);
      return send(200, 'image/png', images[img[2]]);
    }
    return send(404, 'text/plain', 'not found');
  } catch (e) {
    send(500, 'text/plain', String(e));
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${server.address().port}`;

let browser = null;
let tab = null;
const warnings = [];
const errors = [];
const foreign = [];
const figures = {};
// About 30 s on a quiet 2-core machine (most of it LibTorch encoding the codes); the
// margin is for a loaded one.
const timer = setTimeout(() => {
  console.error('dropin test: timed out after 80 s');
  process.exit(1);
}, 80_000);

const box = (id) => tab.evaluate((id) => {
  const img = document.getElementById(id);
  const r = img.getBoundingClientRect();
  const url = img.style.backgroundImage.match(/^url\("(data:image\/png;base64,[^"]+)"\)$/);
  return { x: r.x, y: r.y, width: r.width, height: r.height, preview: img.hasAttribute('data-lk-preview') ? url && url[1] : null, background: img.style.backgroundImage, complete: img.complete && img.naturalWidth > 0, natural: [img.naturalWidth, img.naturalHeight] };
}, id);

// The drawn preview's pixels (the PNG of its data: URL) and the code's decodeCode.
async function previewPixels(id, code) {
  const got = await tab.evaluate(async ({ id, code }) => {
    const img = document.getElementById(id);
    const url = img.style.backgroundImage.match(/^url\("(data:image\/png;base64,[^"]+)"\)$/)[1];
    const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
    const { load } = await import('/pkg/lkrt.mjs');
    const model = await load(await (await fetch('/models/emoji-vae32.lkm')).arrayBuffer());
    const want = model.decodeCode(code);
    model.free();
    return { png: Array.from(bytes), want: Array.from(want.data), width: want.width, height: want.height };
  }, { id, code });
  const png = decodePng(got.png, 'preview PNG');
  check(png.color === 6, 'preview PNG: expected 8-bit RGBA');
  check(png.width === got.width && png.height === got.height, `${id}: preview is ${png.width}x${png.height}, decodeCode gives ${got.width}x${got.height}`);
  let differ = 0;
  for (let i = 0; i < png.rgba.length; i++) if (png.rgba[i] !== got.want[i]) differ++;
  check(differ === 0, `${id}: ${differ} preview bytes differ from decodeCode's`);
  return png;
}

// The screenshot's pixel at (x, y) of the page.
function pixelAt(shot, x, y) {
  const i = 4 * (Math.round(y) * shot.width + Math.round(x));
  return [shot.rgba[i], shot.rgba[i + 1], shot.rgba[i + 2]];
}
const near = (a, b, tol) => a.every((v, i) => Math.abs(v - b[i]) <= tol);
async function screenshot(file) {
  const bytes = await tab.screenshot({ path: path.join(outDir, file) });
  // Chromium's screenshots are compressed PNGs with filters: decode them in the page.
  const data = await tab.evaluate(async (b64) => {
    const bitmap = await createImageBitmap(await (await fetch(`data:image/png;base64,${b64}`)).blob());
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext('2d');
    ctx.drawImage(bitmap, 0, 0);
    return { width: bitmap.width, height: bitmap.height, rgba: Array.from(ctx.getImageData(0, 0, bitmap.width, bitmap.height).data) };
  }, bytes.toString('base64'));
  return data;
}

try {
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
  tab = await browser.newPage({ viewport: { width: 900, height: 420 } });
  tab.on('console', (m) => (m.type() === 'warning' ? warnings : m.type() === 'error' ? errors : []).push(m.text()));
  tab.on('pageerror', (e) => errors.push(String(e)));
  tab.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin + '/') && !u.startsWith('blob:' + origin + '/') && !u.startsWith('data:')) foreign.push(u);
  });
  await tab.goto(origin + '/', { waitUntil: 'domcontentloaded' });

  // The loaded image first, then the model: it must get no preview.
  await waitFor(async () => (await box('done')).complete, 'the loaded image');
  release('model');
  await waitFor(async () => (await box('square')).preview && (await box('wide')).preview && (await box('tall')).preview, 'the previews');
  await waitFor(() => warnings.some((w) => w.includes('latentkit placeholder')), 'the bad code\'s warning');

  // Each preview is the code's decoded image, alpha and all.
  for (const id of ['square', 'wide', 'tall']) {
    const b = await box(id);
    const png = await previewPixels(id, codes[id]);
    let clear = 0;
    for (let i = 3; i < png.rgba.length; i += 4) if (png.rgba[i] < 128) clear++;
    check(clear > 0.2 * png.width * png.height, `${id}: only ${clear} of ${png.width * png.height} preview pixels are clear: no alpha?`);
    figures[`${id}_clear_fraction`] = clear / (png.width * png.height);
  }
  log('previews equal decodeCode byte for byte (64x64 RGBA), each with clear pixels');

  // Aspect ratios: attributes (square, tall) and the code's field (wide: a CSS width only).
  const before = {};
  for (const id of ['square', 'wide', 'tall']) before[id] = await box(id);
  check(Math.abs(before.square.width - 128) < 0.01 && Math.abs(before.square.height - 128) < 0.01, `square: box ${before.square.width}x${before.square.height}`);
  check(Math.abs(before.tall.width - 90) < 0.01 && Math.abs(before.tall.height - 160) < 0.01, `tall: box ${before.tall.width}x${before.tall.height}`);
  check(Math.abs(before.wide.width - 320) < 0.01 && Math.abs(before.wide.height - 180) < 0.02, `wide: the code's aspect gives a ${before.wide.width}x${before.wide.height} box, expected 320x180`);
  log(`preview boxes: square 128x128, tall 90x160 (attributes), wide ${before.wide.width}x${before.wide.height.toFixed(3)} (the code's aspect field, 16:9)`);

  // The bad code: no preview, the img as it was, one warning naming the problem.
  const bad = await box('bad');
  check(!bad.preview && bad.background === '', `bad: the img was changed (${JSON.stringify(bad)})`);
  const warning = warnings.find((w) => w.includes('bad.png'));
  check(warning && warning.includes('checksum mismatch'), `bad: expected a warning naming bad.png and the checksum, got ${JSON.stringify(warnings)}`);
  figures.bad_code_warning = warning;
  log(`bad code: left alone; console: ${warning}`);
  const done = await box('done');
  check(!done.preview && done.background === '', 'done: an image already loaded got a preview');
  log('an image already loaded gets no preview');

  // An img added later (MutationObserver).
  await tab.evaluate((code) => {
    const img = document.createElement('img');
    Object.assign(img, { id: 'late', src: '/img/late.png', width: 100, height: 100, alt: '' });
    img.dataset.lkCode = code;
    document.getElementById('later').append(img);
  }, codes.square);
  await waitFor(async () => (await box('late')).preview, 'the preview of an img added later');
  await previewPixels('late', codes.square);
  log('an img added later gets its preview');

  // The screenshot: clear preview pixels show the page, opaque ones the face.
  await tab.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const shot = await screenshot('dropin-preview.png');
  for (const id of ['square', 'wide', 'tall']) {
    const b = before[id];
    const corner = pixelAt(shot, b.x + 2, b.y + 2);
    const centre = pixelAt(shot, b.x + b.width / 2, b.y + b.height / 2);
    check(near(corner, kBackground, 2), `${id}: the preview's clear corner shows ${corner}, not the page's ${kBackground}`);
    check(!near(centre, kBackground, 60), `${id}: nothing drawn at the preview's centre (${centre})`);
  }
  log(`screenshot ${path.join(outDir, 'dropin-preview.png')}: clear corners show the page, centres the preview`);

  // Timing, per image: the code decoded (decodeCode), then also the PNG and its data: URL
  // (previewURL), then also set as an img's background and laid out (what the drop-in does).
  const time = (model, code) => tab.evaluate(async ({ model, code }) => {
    const { previewURL } = await import('/pkg/placeholder.mjs');
    const { load } = await import('/pkg/lkrt.mjs');
    const m = await load(await (await fetch(model)).arrayBuffer());
    const n = 100;
    const imgs = Array.from({ length: n }, () => Object.assign(document.createElement('img'), { width: 64, height: 64 }));
    const row = document.getElementById('later');
    row.append(...imgs);
    for (let i = 0; i < 20; i++) previewURL(m, code); // warm up
    const each = (f) => {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) f(i);
      return (performance.now() - t0) / n;
    };
    const decode = each(() => m.decodeCode(code));
    const preview = each(() => previewURL(m, code));
    // As the drop-in draws a batch: each img's background set, then one style and layout pass.
    const t0 = performance.now();
    for (const img of imgs) img.style.setProperty('background-image', `url("${previewURL(m, code).url}")`);
    imgs[0].getBoundingClientRect();
    const drawn = (performance.now() - t0) / n;
    for (const img of imgs) img.remove();
    const mflops = m.info.flops / 1e6;
    m.free();
    return { decode, preview, drawn, mflops };
  }, { model, code });
  const big = await time('/models/emoji-vae32.lkm', codes.square);
  const small = await time('/models/fashion-cgan24.lkm', codes.small);
  const lazy = await tab.evaluate(() => [...document.querySelectorAll('img[loading=lazy]')].filter((i) => i.hasAttribute('data-lk-preview') && !i.complete).length);
  check(lazy === kLazyImages, `lazy images: ${lazy} of ${kLazyImages} show a preview`);
  Object.assign(figures, { emoji_vae32: big, fashion_cgan24: small });
  for (const [name, t] of [['emoji-vae32 (fp16, 64x64 RGBA)', big], ['fashion-cgan24 (fp32, 28x28 gray)', small]]) {
    console.log(`figure: ${name}, ${t.mflops.toFixed(1)} MFLOP: decodeCode ${t.decode.toFixed(3)} ms, + PNG and data: URL ${t.preview.toFixed(3)} ms, + drawn ${t.drawn.toFixed(3)} ms per image (goal < 1 ms)`);
  }
  check(big.drawn < kMaxMsPerImage && small.drawn < kMaxMsPerImage, `a preview takes over ${kMaxMsPerImage} ms`);

  // Release the images: each replaces its preview in the same box.
  for (const id of ['square', 'wide', 'tall', 'late']) release(id);
  for (const id of ['square', 'wide', 'tall', 'late']) {
    await waitFor(async () => {
      const b = await box(id);
      return b.complete && !b.preview && b.background === '';
    }, `${id} to replace its preview`);
  }
  for (const id of ['square', 'wide', 'tall']) {
    const b = await box(id);
    const { width, height } = pngSize(path.join(work, `${id}.png`));
    check(b.natural[0] === width && b.natural[1] === height, `${id}: natural size ${b.natural}`);
    check(Math.abs(b.width / b.height - width / height) < 1e-3, `${id}: the loaded image's box is ${b.width}x${b.height}, the image ${width}x${height}`);
    check(Math.abs(b.width - before[id].width) < 0.01 && Math.abs(b.height - before[id].height) < 0.05,
      `${id}: the box moved from ${before[id].width}x${before[id].height} to ${b.width}x${b.height} when the image loaded (layout shift)`);
  }
  const stats2 = await tab.evaluate(() => document.querySelectorAll('img[data-lk-preview]').length);
  check(stats2 === kLazyImages, `${stats2} previews left, expected only the ${kLazyImages} lazy ones`);
  log('each image replaced its preview in the same box (no layout shift), its own styles back');
  await tab.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const loaded = await screenshot('dropin-loaded.png');
  const centre = pixelAt(loaded, before.wide.x + before.wide.width / 2, before.wide.y + before.wide.height / 2 + 20);
  check(near(centre, [250, 200, 40], 3), `wide: the loaded image's face shows ${centre}`);
  log(`screenshot ${path.join(outDir, 'dropin-loaded.png')}`);

  check(foreign.length === 0, `requests left the origin: ${foreign.join(', ')}`);
  check(errors.length === 0, `console errors: ${errors.join(' | ')}`);
  log('no request left the origin; no console errors');
  fs.writeFileSync(path.join(outDir, 'dropin.json'), JSON.stringify({ codes, figures }, null, 2) + '\n');
  console.log('dropin test: all checks passed');
} catch (e) {
  if (tab) await tab.screenshot({ path: path.join(outDir, 'dropin-failure.png') }).catch(() => {});
  console.error(`dropin test FAILED: ${e instanceof TestFailure ? e.message : e.stack}`);
  if (warnings.length) console.error(`console warnings: ${warnings.join(' | ')}`);
  if (errors.length) console.error(`console errors: ${errors.join(' | ')}`);
  process.exitCode = 1;
} finally {
  clearTimeout(timer);
  for (const name of [...held.keys()]) release(name);
  if (browser) await browser.close().catch(() => {});
  server.closeAllConnections?.();
  server.close();
  fs.rmSync(work, { recursive: true, force: true });
}
