// Real-browser test of the app (web/app/) as `latentkit serve --app` serves it.
// Usage: node tests/web/app.test.mjs LATENTKIT_BIN APP_DIR OUT_DIR LKRT_BIN
// APP_DIR is what `scripts/build app` writes (ctest's fixture web_app_build builds one).
// Needs playwright-core (npm install --no-audit --no-fund in the repository root) and a
// Chromium at /usr/bin/chromium (CHROMIUM=path overrides). Checks the server (static files,
// no path out of the folder, a missing folder), then in headless Chromium: load, Generate
// (seed and class change the canvas), a slider moved with another axis locked (the locked
// coordinate stays, the canvas changes), the placeholder gallery, Enhance, a diffusion
// sample, the paint panel of the mask generator (its palette from the .lkm, an example map,
// the picture equal to the lkrt command's for the same map and seed, a stroke of the mouse,
// a new style, fill), the wallpaper of the day (the header's button on the shipped
// models/wallpaper, or a tiny psgan trained here and loaded from disk when it is not shipped:
// today's picture at 1080 x 2400, the same date twice, the next day, the lkrt command's pixels,
// a mood, a tile, a bad date), a bad .lkm and a broken manifest entry (each an error message on
// the page), and that no request leaves the origin. Writes app-previews.png (the gallery's
// previews), app.png (desktop, images loaded), app-narrow.png (400 px), app-enhance.png,
// app-paint.png, app-wallpaper.png and app-error.png into OUT_DIR (app-failure.png when a
// check fails).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { TestFailure, check, decodePng, encodePng, freePort, importChromium, log, sleep, startServer, waitFor as waitUntil } from './lib.mjs';

const kGlobalTimeoutMs = 110_000;
const kStepMs = 15_000;

const [bin, appDir, outDir, lkrtBin] = process.argv.slice(2);
if (!lkrtBin) {
  console.error('usage: node tests/web/app.test.mjs LATENTKIT_BIN APP_DIR OUT_DIR LKRT_BIN');
  process.exit(2);
}

const chromium = await importChromium('app');

let server = null;
let browser = null;
let page = null;

const waitFor = (pred, what, timeoutMs = kStepMs) =>
  waitUntil(pred, what, timeoutMs, () => server?.exit && `the server exited (${server.exit})`);

// A GET with the path sent as is (fetch would normalise "..").
function rawGet(port, rawPath) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: rawPath, method: 'GET' }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  browser = null;
  await server?.stop();
}

async function failAndExit(message) {
  console.error(`app test FAILED: ${message}`);
  if (page) {
    const shot = path.join(outDir, 'app-failure.png');
    await page.screenshot({ path: shot, fullPage: true, timeout: 5000 }).then(
      () => console.error(`  page at the failure: ${shot}`), () => {});
  }
  const tail = (server?.output ?? '').trim().split('\n').slice(-10).join('\n  ');
  if (tail) console.error(`  server output (last lines):\n  ${tail}`);
  await cleanup();
  process.exit(1);
}

const globalTimer = setTimeout(() => failAndExit(`the whole test took over ${kGlobalTimeoutMs / 1000} s`), kGlobalTimeoutMs);

// The pixels of a canvas (RGBA bytes, carried out of the page as base64: a wallpaper has
// millions), and how two such differ.
async function pixels(id) {
  const { width, height, base64 } = await page.evaluate((id) => {
    const c = document.getElementById(id);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let text = '';
    for (let i = 0; i < d.length; i += 0x8000) text += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
    return { width: c.width, height: c.height, base64: btoa(text) };
  }, id);
  return { width, height, data: new Uint8Array(Buffer.from(base64, 'base64')) };
}
function meanAbsDiff(a, b) {
  check(a.data.length === b.data.length, `canvas sizes differ: ${a.width}x${a.height} and ${b.width}x${b.height}`);
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += Math.abs(a.data[i] - b.data[i]);
  return s / a.data.length;
}
// PSNR in dB of two RGBA images, premultiplied (the color under a clear pixel counts for
// nothing, as in the models), or of two plain arrays of bytes ({ data }).
function psnr(a, b) {
  const rgba = a.width !== undefined;
  let s = 0;
  for (let i = 0; i < a.data.length; i++) {
    const alpha = rgba && i % 4 !== 3 ? i - (i % 4) + 3 : -1;
    const va = alpha < 0 ? a.data[i] : (a.data[i] * a.data[alpha]) / 255;
    const vb = alpha < 0 ? b.data[i] : (b.data[i] * b.data[alpha]) / 255;
    s += (va - vb) ** 2;
  }
  const mse = s / a.data.length / 255 ** 2;
  return 10 * Math.log10(1 / Math.max(mse, 1e-12));
}
function spread(a) {
  let lo = 255, hi = 0;
  for (let i = 0; i < a.data.length; i += 4) {
    lo = Math.min(lo, a.data[i]);
    hi = Math.max(hi, a.data[i]);
  }
  return hi - lo;
}

// Picks a model by its name in models.json (the picker's values are indices into it).
let manifest = null;
async function selectModel(name) {
  const value = String(manifest.models.findIndex((m) => m.name === name));
  check(value !== '-1', `the app has no model ${name}`);
  await page.selectOption('#model', value);
  await waitFor(() => page.evaluate((name) => location.hash === `#${name}` &&
    document.getElementById('status').textContent.includes('loaded'), name), `${name} to load`);
}

async function main() {
  fs.mkdirSync(outDir, { recursive: true });

  // --- the server: a missing folder, then the app -------------------------------------------
  const missing = spawnSync(bin, ['serve', '--app', path.join(outDir, 'no-such-app'), '--port', '0'], { encoding: 'utf8' });
  check(missing.status === 2 && /scripts\/build app/.test(missing.stderr),
    `serve --app on a missing folder: exit ${missing.status}, stderr '${missing.stderr.trim()}' (want 2 and the command that builds it)`);
  log('serve --app on a missing folder exits 2 and names scripts/build app');

  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  server = startServer(bin, ['serve', '--app', appDir, '--port', String(port)]);
  await waitFor(async () => {
    try { return (await fetch(`${base}/`)).ok; } catch { return false; }
  }, `${base}/ to answer`, 20_000);
  check(server.output.includes('127.0.0.1'), `the server should listen on loopback by default: ${server.output.trim()}`);
  const wasm = await rawGet(port, '/lkrt-wasm.wasm');
  check(wasm.status === 200 && wasm.type === 'application/wasm', `/lkrt-wasm.wasm: ${wasm.status} ${wasm.type}`);
  for (const bad of ['/../CMakeLists.txt', '/%2e%2e/%2e%2e/CMakeLists.txt', '/models/..%2f..%2fCMakeLists.txt', '/.hidden']) {
    const r = await rawGet(port, bad);
    check(r.status === 404, `GET ${bad} must be 404 (outside the folder), got ${r.status}`);
  }
  const post = await fetch(`${base}/api/v1/generate`, { method: 'POST', body: '{"seed":1}' });
  check(post.status === 405, `POST to the app server must be refused (no inference route), got ${post.status}`);
  log('static files only: wasm as application/wasm, paths out of the folder 404, POST 405');
  manifest = await (await fetch(`${base}/models.json`)).json();
  check(manifest.models.length >= 8 && manifest.models.every((m) => m.file && m.title && m.kind && m.bytes > 0),
    `models.json lists the models with file, title, kind, bytes: ${JSON.stringify(manifest.models).slice(0, 200)}`);

  // --- the browser --------------------------------------------------------------------------
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  const pageErrors = [];
  const requests = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`); });
  page.on('request', (r) => requests.push(r.url()));

  await page.goto(`${base}/`);
  await waitFor(() => page.evaluate(() => document.body.dataset.ready === '1'), 'the app to start');
  const first = await page.evaluate(() => location.hash);
  check(first === '#emoji-cgan', `the first model should be the color emoji generator, got ${first}`);

  // --- generate -----------------------------------------------------------------------------
  const a = await pixels('gen-canvas');
  check(a.width === 64 && a.height === 64, `emoji-cgan draws 64 x 64, got ${a.width} x ${a.height}`);
  let clear = 0, opaque = 0, colored = 0;
  for (let i = 0; i < a.data.length; i += 4) {
    if (a.data[i + 3] < 16) clear++;
    if (a.data[i + 3] > 240) opaque++;
    if (a.data[i + 3] > 240 && Math.max(a.data[i], a.data[i + 1], a.data[i + 2]) - Math.min(a.data[i], a.data[i + 1], a.data[i + 2]) > 40) colored++;
  }
  check(clear > 50 && opaque > 200 && colored > 50, `an emoji has clear, opaque and colored pixels: ${clear}, ${opaque}, ${colored}`);
  await page.fill('#gen-seed', '11');
  await page.click('#gen-run');
  const b = await pixels('gen-canvas');
  check(meanAbsDiff(a, b) > 5, `another seed must change the image (mean |diff| ${meanAbsDiff(a, b).toFixed(2)})`);
  const classes = await page.$$eval('#gen-class option', (o) => o.map((x) => x.textContent));
  check(classes.length === 9 && classes[0] === 'smileys-emotion', `class names from config.json: ${classes.join(', ')}`);
  await page.selectOption('#gen-class', '8');
  const c = await pixels('gen-canvas');
  check(meanAbsDiff(b, c) > 5, `another class must change the image (mean |diff| ${meanAbsDiff(b, c).toFixed(2)})`);
  await page.selectOption('#gen-class', '0');
  const b2 = await pixels('gen-canvas');
  check(meanAbsDiff(b, b2) === 0, 'the same seed and class must give the same image again');
  log(`generate: seed 3 -> 11 changes ${meanAbsDiff(a, b).toFixed(1)}, class -> flags ${meanAbsDiff(b, c).toFixed(1)} (mean |diff| of RGBA bytes)`);

  // --- sliders and locks --------------------------------------------------------------------
  const axisNames = await page.$$eval('#axes-list .axis', (rows) => rows.map((r) => r.dataset.axis));
  check(axisNames.length >= 10, `the emoji axes give sliders: ${axisNames.length}`);
  const coord = (name) => page.$eval(`#axes-list .axis[data-axis="${name}"]`, (r) => Number(r.dataset.coord));
  const move = async (name, v) => {
    await page.$eval(`#axes-list .axis[data-axis="${name}"] .axis-move`, (s, v) => {
      s.value = String(v);
      s.dispatchEvent(new Event('input', { bubbles: true }));
    }, v);
    await sleep(120);  // one animation frame renders it
  };
  const [moved, locked] = ['saturation', 'brightness'];
  check(axisNames.includes(moved) && axisNames.includes(locked), `axes ${moved} and ${locked} expected: ${axisNames.join(', ')}`);
  // Unlocked, moving saturation moves brightness too: the two directions are not orthogonal.
  const free0 = await coord(locked);
  await move(moved, 2.5);
  const free1 = await coord(locked);
  check(Math.abs(free1 - free0) > 1e-3, `unlocked, ${moved} should drag ${locked} along (${free0} -> ${free1})`);
  await move(moved, 0);
  const before = await pixels('gen-canvas');
  const lockedBefore = await coord(locked);
  const movedBefore = await coord(moved);
  await page.click(`#axes-list .axis[data-axis="${locked}"] .lock`);
  await waitFor(() => page.$eval(`#axes-list .axis[data-axis="${locked}"]`, (r) => r.classList.contains('locked')), 'the lock to take');
  await move(moved, 2.5);
  const after = await pixels('gen-canvas');
  const lockedAfter = await coord(locked);
  const movedAfter = await coord(moved);
  check(Math.abs(lockedAfter - lockedBefore) < 1e-6, `locked ${locked} must stay: ${lockedBefore} -> ${lockedAfter}`);
  check(movedAfter - movedBefore > 1, `${moved} must move by most of 2.5: ${movedBefore} -> ${movedAfter}`);
  check(meanAbsDiff(before, after) > 1, `moving ${moved} must change the image (mean |diff| ${meanAbsDiff(before, after).toFixed(2)})`);
  const shown = await page.$eval(`#axes-list .axis[data-axis="${locked}"] .value`, (e) => e.textContent);
  log(`slider: ${moved} ${movedBefore.toFixed(3)} -> ${movedAfter.toFixed(3)}; locked ${locked} stays at ${lockedAfter.toFixed(6)} ` +
    `(unlocked it went ${free0.toFixed(3)} -> ${free1.toFixed(3)}; shown ${shown}); image mean |diff| ${meanAbsDiff(before, after).toFixed(2)}`);

  // --- the gallery --------------------------------------------------------------------------
  // Replayed: fresh images, each shown first as its preview, the real ones 0.7 s later.
  await waitFor(() => page.$$eval('#gallery-grid .tile', (t) => t.length > 0 && t.every((x) => x.dataset.state === 'loaded')),
    'the gallery to load a first time');
  await page.click('#gallery-replay');
  const tiles = await waitFor(async () => {
    const states = await page.$$eval('#gallery-grid .tile', (t) => t.map((x) => x.dataset.state ?? ''));
    return states.every((s) => s === 'preview') ? states : null;
  }, 'every gallery tile to show its preview again', 2000);
  // Each preview is the drop-in's: a PNG of the decoded code as the img's background.
  const previews = await page.$$eval('#gallery-grid .tile img', (imgs) => Promise.all(imgs.map(async (img) => {
    const url = /url\("?(data:image\/png[^")]*)"?\)/.exec(img.style.backgroundImage);
    if (!img.hasAttribute('data-lk-preview') || !url) return { drawn: false, loaded: img.complete && img.naturalWidth > 0 };
    const bitmap = await createImageBitmap(await (await fetch(url[1])).blob());
    const c = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = c.getContext('2d');
    ctx.drawImage(bitmap, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    let visible = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && d[i] + d[i + 1] + d[i + 2] > 30) visible++;
    return { drawn: true, w: c.width, h: c.height, visible };
  })));
  check(tiles.length >= 8, `the gallery has ${tiles.length} tiles`);
  const drawn = previews.filter((p) => p.drawn);
  check(drawn.length === tiles.length,
    `every tile shows its preview until its image loads: ${JSON.stringify(previews)}`);
  check(drawn.every((p) => p.visible > 0.1 * p.w * p.h), `every preview has visible pixels: ${JSON.stringify(drawn.map((p) => p.visible))}`);
  const sizes = new Set(drawn.map((p) => `${p.w}x${p.h}`));
  check(sizes.has('64x64') && sizes.has('28x28'), `previews from both decoders (emoji-vae32 64 px, fashion-cgan24 28 px): ${[...sizes]}`);
  const msEach = await page.$eval('#gallery-grid', (g) => Number(g.dataset.previewMs));
  check(msEach > 0 && msEach < 200, `decode-and-draw time per preview ${msEach} ms`);
  await page.screenshot({ path: path.join(outDir, 'app-previews.png'), fullPage: true });
  await waitFor(() => page.$$eval('#gallery-grid .tile', (t) => t.every((x) => x.dataset.state === 'loaded')), 'the gallery images to load');
  log(`gallery: ${drawn.length} of ${tiles.length} previews seen (the drop-in, ${msEach.toFixed(2)} ms each to decode and draw), then every image loaded`);
  await page.screenshot({ path: path.join(outDir, 'app.png'), fullPage: true });

  // --- enhance ------------------------------------------------------------------------------
  await selectModel('emoji-enhance');
  await waitFor(() => page.$eval('#enh-output', (c) => c.dataset.psnrOut !== undefined), 'the enhancer to run');
  // The default sample: an emoji darkened by 1.2 stops. The output must differ from its
  // input, keep its shape (alpha) and be closer to the original than the input was.
  const original = await pixels('enh-original');
  const dark = await pixels('enh-input');
  const fixed = await pixels('enh-output');
  const alpha = (a) => ({ data: a.data.filter((_, i) => i % 4 === 3) });
  const darkChange = meanAbsDiff(dark, fixed);
  const gain = psnr(original, fixed) - psnr(original, dark);
  check(darkChange > 3, `the enhanced image must differ from its dark input (mean |diff| ${darkChange.toFixed(2)})`);
  check(psnr(alpha(dark), alpha(fixed)) > 25, `the enhanced image keeps its input's shape (alpha PSNR ${psnr(alpha(dark), alpha(fixed)).toFixed(1)} dB)`);
  check(gain > 3, `the enhanced image must be closer to the original than the dark input: ${psnr(original, dark).toFixed(1)} -> ${psnr(original, fixed).toFixed(1)} dB`);
  // JPEG at quality 12: the output differs from its input and resembles it.
  await page.selectOption('#enh-kind', 'jpeg');
  await waitFor(() => page.$eval('#enh-input-caption', (e) => e.textContent.includes('jpeg')), 'the JPEG sample');
  const damaged = await pixels('enh-input');
  const enhanced = await pixels('enh-output');
  const change = meanAbsDiff(damaged, enhanced);
  const resemble = psnr(damaged, enhanced);
  check(change > 0.3, `the enhanced image must differ from its JPEG input (mean |diff| ${change.toFixed(3)})`);
  check(resemble > 30, `the enhanced image must resemble its JPEG input (PSNR ${resemble.toFixed(1)} dB)`);
  check(psnr(original, damaged) < 40, 'the JPEG sample must be damaged');
  await page.selectOption('#enh-kind', 'dark');
  await waitFor(() => page.$eval('#enh-input-caption', (e) => e.textContent.includes('dark')), 'the dark sample again');
  await page.screenshot({ path: path.join(outDir, 'app-enhance.png'), fullPage: true });
  log(`enhance: dark ${psnr(original, dark).toFixed(1)} -> ${psnr(original, fixed).toFixed(1)} dB against the original (changed by ${darkChange.toFixed(1)}); ` +
    `JPEG output differs by ${change.toFixed(2)} and resembles its input (PSNR ${resemble.toFixed(1)} dB)`);

  // --- diffusion ----------------------------------------------------------------------------
  await selectModel('fashion-ddpm');
  await waitFor(() => page.$eval('#smp-caption', (e) => e.textContent.includes('steps')), 'the diffusion sample', 30_000);
  const s1 = await pixels('smp-canvas');
  check(s1.width === 28 && spread(s1) > 100, `a 28 x 28 sample with contrast (spread ${spread(s1)})`);
  log(`diffusion: ${await page.$eval('#smp-caption', (e) => e.textContent)}`);

  // --- paint (a mask generator) ---------------------------------------------------------------
  await paint();

  // --- the wallpaper of the day ---------------------------------------------------------------
  await wallpaper();

  // --- offline: every model file is in the page; one never picked before still loads
  await waitFor(() => page.evaluate(() => document.body.dataset.offline === 'ready'), 'every model file to be fetched');
  await context.setOffline(true);
  await selectModel('fashion-cgan');
  const offline = await pixels('gen-canvas');
  await context.setOffline(false);
  check(offline.width === 28 && spread(offline) > 100, `offline, fashion-cgan still generates (spread ${spread(offline)})`);
  log('offline: a model never picked before loads and generates from the fetched files');

  // --- narrow screen ------------------------------------------------------------------------
  await selectModel('emoji-cgan');
  await page.setViewportSize({ width: 400, height: 900 });
  await sleep(200);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `at 400 px the page must not scroll sideways (${overflow} px too wide)`);
  await page.screenshot({ path: path.join(outDir, 'app-narrow.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });

  // --- a bad .lkm and a broken manifest entry -----------------------------------------------
  await page.setInputFiles('#own-file', { name: 'broken.lkm', mimeType: 'application/octet-stream', buffer: Buffer.from('LKRT this is not a model file at all') });
  const message = await waitFor(() => page.$eval('#error', (e) => (e.hidden ? '' : e.textContent)), 'an error message for the bad .lkm');
  check(/broken\.lkm/.test(message) && /format|magic|truncat|too small|version/i.test(message), `the error names the file and lkrt's reason: '${message}'`);
  const panels = await page.$$eval('#generate, #enhance, #sample, #paint, #wallpaper', (s) => s.filter((x) => !x.hidden).length);
  check(panels === 0, 'after a bad file no stale panel is left showing');
  await page.screenshot({ path: path.join(outDir, 'app-error.png') });
  log(`bad .lkm: '${message}'`);

  await page.route(`${base}/models.json`, async (route) => {
    const r = await route.fetch();
    const manifest = await r.json();
    manifest.models.unshift({ name: 'broken', title: 'Broken entry', file: 'models/missing.lkm', kind: 'generator' });
    await route.fulfill({ response: r, json: manifest });
  });
  await page.goto('about:blank');
  await page.goto(`${base}/#broken`);
  const broken = await waitFor(() => page.$eval('#error', (e) => (e.hidden ? '' : e.textContent)), 'an error for a broken manifest entry');
  check(/missing\.lkm/.test(broken) && /404/.test(broken), `the error names the missing file: '${broken}'`);
  log(`broken manifest entry: '${broken}'`);

  // --- nothing outside the origin -----------------------------------------------------------
  const foreign = requests.filter((u) => !u.startsWith(`${base}/`) && !u.startsWith('data:') && !u.startsWith('blob:') && u !== 'about:blank');
  check(foreign.length === 0, `requests left the origin: ${foreign.slice(0, 5).join(', ')}`);
  const real = pageErrors.filter((e) => !/404 \(Not Found\)/.test(e));
  check(real.length === 0, `errors in the page: ${real.slice(0, 3).join(' | ')}`);
  log(`${requests.length} requests, all to ${base}; screenshots in ${outDir}`);
}

// The paint panel of shapes-spade: the palette the .lkm carries, the first example map, and
// the picture lkrt draws natively from the same map and seed; then a stroke, a new style and fill.
async function paint() {
  const version = () => page.$eval('#paint-canvas', (c) => Number(c.dataset.version ?? -1));
  const drawnAfter = async (v, what) => waitFor(async () => (await version()) > v && (await version()), what);
  await selectModel('shapes-spade');
  await drawnAfter(-1, 'the first picture of the paint panel');
  const swatches = await page.$$eval('#paint-palette .swatch', (b) => b.map((x) => ({ name: x.textContent, color: x.dataset.color, on: x.getAttribute('aria-checked') })));
  check(JSON.stringify(swatches.map((s) => `${s.name} ${s.color}`)) === JSON.stringify(['background #000000', 'square #ff0000', 'circle #00ff00', 'triangle #0000ff']),
    `the scenes palette from the .lkm: ${JSON.stringify(swatches)}`);
  check(swatches[1].on === 'true', 'the first class after the background is selected to start');
  const info = await page.$eval('#info-list', (e) => e.textContent);
  check(/mask generator/.test(info) && /scenes: background, square, circle, triangle/.test(info), `the side panel: ${info}`);
  await waitFor(() => page.$eval('#paint-map', (c) => c.dataset.example === '0'), 'the first example map');
  const map0 = await pixels('paint-map');
  const pic0 = await pixels('paint-canvas');
  check(map0.width === 64 && pic0.width === 64 && pic0.height === 64, `a 64 px map and picture: ${map0.width}, ${pic0.width}x${pic0.height}`);
  const colorsOf = (m) => new Set(Array.from({ length: m.data.length / 4 }, (_, i) => m.data.slice(4 * i, 4 * i + 4).join(',')));
  const palette = new Set(['0,0,0,255', '255,0,0,255', '0,255,0,255', '0,0,255,255']);
  const used = colorsOf(map0);
  check([...used].every((c) => palette.has(c)) && used.size >= 2, `the example map is in palette colors, several classes: ${[...used]}`);
  check(spread(pic0) > 60, `the picture has contrast (spread ${spread(pic0)})`);

  // The lkrt command on the same map and seed (3): the same image.
  const mapPng = path.join(outDir, 'paint-map.png');
  fs.writeFileSync(mapPng, encodePng(Uint8Array.from(map0.data), 64, 64));
  const lkrtPng = path.join(outDir, 'paint-lkrt.png');
  execFileSync(lkrtBin, [path.join(appDir, 'models/shapes-spade.lkm'), '--mask', mapPng, '--seed', '3', '--out', lkrtPng],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  const want = decodePng(fs.readFileSync(lkrtPng), lkrtPng);
  let off = 0;
  for (let i = 0; i < pic0.data.length; i++) off = Math.max(off, Math.abs(pic0.data[i] - want.rgba[i]));
  check(off <= 1, `the page's picture is lkrt's for the same map and seed (off by up to ${off})`);
  const caption = await page.$eval('#paint-caption', (e) => e.textContent);
  log(`paint: palette ${swatches.map((s) => s.name).join(', ')}; example map of ${used.size} classes; ${caption}; ` +
      `the picture is native lkrt's within ${off}`);

  // A stroke of circle across the middle of the map.
  await page.click('#paint-palette .swatch[data-class="2"]');
  const box = await page.$eval('#paint-map', (c) => { const r = c.getBoundingClientRect(); return { x: r.left, y: r.top, w: r.width, h: r.height }; });
  let v = await version();
  await page.mouse.move(box.x + 0.2 * box.w, box.y + 0.5 * box.h);
  await page.mouse.down();
  await page.mouse.move(box.x + 0.8 * box.w, box.y + 0.55 * box.h, { steps: 8 });
  await page.mouse.up();
  v = await drawnAfter(v, 'the picture after a stroke');
  await sleep(300);  // the stroke's last frame
  const map1 = await pixels('paint-map');
  const green = (m) => { let n = 0; for (let i = 0; i < m.data.length; i += 4) n += m.data[i + 1] === 255 && m.data[i] === 0; return n; };
  const pic1 = await pixels('paint-canvas');
  check(green(map1) - green(map0) > 100, `the stroke paints circle pixels: ${green(map0)} -> ${green(map1)}`);
  check(meanAbsDiff(pic0, pic1) > 1, `the picture follows the stroke (mean |diff| ${meanAbsDiff(pic0, pic1).toFixed(2)})`);

  // A new style keeps the map and changes the picture; fill paints everything one class.
  v = await version();
  await page.click('#paint-style');
  await drawnAfter(v, 'the picture of a new style');
  const pic2 = await pixels('paint-canvas');
  check(meanAbsDiff(map1, await pixels('paint-map')) === 0, 'a new style leaves the map alone');
  check(meanAbsDiff(pic1, pic2) > 1, `a new style changes the picture (mean |diff| ${meanAbsDiff(pic1, pic2).toFixed(2)})`);
  await page.screenshot({ path: path.join(outDir, 'app-paint.png'), fullPage: true });
  v = await version();
  await page.keyboard.press('1');
  await page.keyboard.press('f');
  await drawnAfter(v, 'the picture of a filled map');
  check(colorsOf(await pixels('paint-map')).size === 1, 'fill paints the whole map one class');
  log(`paint: a stroke painted ${green(map1) - green(map0)} circle pixels and changed the picture by ${meanAbsDiff(pic0, pic1).toFixed(1)}; ` +
      `a new style by ${meanAbsDiff(pic1, pic2).toFixed(1)}; keys 1 and F fill the map with background`);
}

// A tiny wallpaper model, for an app built without models/wallpaper: a psgan of width 8 after
// one step, its moods, int8 (about 20 s, most of it reading the data set).
function tinyWallpaper() {
  const run = path.join(outDir, 'wallpaper-run');
  const lkm = path.join(outDir, 'wallpaper-tiny.lkm');
  fs.rmSync(run, { recursive: true, force: true });
  for (const args of [
    ['train', '--model', 'psgan', '--data', 'wallpapers', '--size', '64', '--limit', '16', '--max-steps', '1', '--batch', '4',
      '--width', '8', '--seed', '1', '--out', run],
    ['wallpaper', 'moods', '--run', run, '--n', '20'],
    ['export', '--run', run, '--format', 'lkm', '--weights', 'int8', '--out', lkm],
  ]) {
    try {
      execFileSync(bin, [...args, '--threads', '1'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
    } catch (e) {
      throw new TestFailure(`latentkit ${args[0]} for a tiny wallpaper model failed: ${(e.stderr || e.message).toString().trim().split('\n').pop()}`);
    }
  }
  return lkm;
}

// The wallpaper panel: today's picture from the header's button (or, with no wallpaper model
// shipped, from a tiny one loaded from disk), then a fixed date against the next day and
// against the lkrt command's PNG, a mood, a tile and a date lkrt refuses.
async function wallpaper() {
  const drawn = () => page.$eval('#wall-canvas', (c) => Number(c.dataset.drawn ?? 0));
  const drawnAfter = (n, what) => waitFor(async () => (await drawn()) > n, what, 30_000);
  const errorText = () => page.$eval('#error', (e) => (e.hidden ? '' : e.textContent));
  const shipped = manifest.models.find((m) => m.kind === 'wallpaper');
  let lkm;
  let n = await drawn();
  if (shipped) {
    lkm = path.join(appDir, shipped.file);
    await page.click('#wallpaper-of-the-day');
    await drawnAfter(n, `today's wallpaper after a click on the button (error: "${await errorText()}")`);
    check(await page.evaluate(() => location.hash) === `#${shipped.name}`, 'the button picks the shipped wallpaper model');
  } else {
    check(await page.$eval('#wallpaper-of-the-day', (b) => b.hidden), 'with no wallpaper model in models.json the button is hidden');
    const t0 = Date.now();
    lkm = tinyWallpaper();
    log(`no models/wallpaper in the app: a tiny psgan trained and exported in ${((Date.now() - t0) / 1000).toFixed(1)} s, loaded from disk`);
    await page.setInputFiles('#own-file', lkm);
    await drawnAfter(n, `today's wallpaper of ${lkm} (error: "${await errorText()}")`);
  }
  // Today is the page's local date; the picture is the phone size, with a PNG to download.
  const today = await page.evaluate(() => {
    const d = new Date();
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
  });
  const shown = await page.$eval('#wall-canvas', (c) => ({ date: c.dataset.date, ms: Number(c.dataset.ms) }));
  check(shown.date === today && await page.inputValue('#wall-date') === today, `the first picture is of ${shown.date}, the page's date is ${today}`);
  const first = await pixels('wall-canvas');
  check(first.width === 1080 && first.height === 2400, `the wallpaper is ${first.width} x ${first.height}; expected 1080 x 2400`);
  const download = await waitFor(() => page.$eval('#wall-download', async (a) => {
    if (!a.href) return null;
    const head = new DataView(await (await fetch(a.href)).arrayBuffer(), 0, 24);
    return { name: a.download, width: head.getUint32(16), height: head.getUint32(20) };
  }), 'the download link');
  check(download.width === 1080 && download.height === 2400 && download.name === `wallpaper-${today}-1080x2400.png`,
    `the download is ${download.name}, a ${download.width} x ${download.height} PNG`);
  const caption = await page.$eval('#wall-caption', (e) => e.textContent);
  check(caption.includes(today) && /\d ms/.test(caption), `the caption names the date and the time: "${caption}"`);
  log(`wallpaper: ${caption}; download ${download.name}`);

  // A fixed date, the next day, and the same date again.
  const date = '2026-12-06';
  n = await drawn();
  await page.fill('#wall-date', date);
  await page.dispatchEvent('#wall-date', 'change');
  await drawnAfter(n, `the wallpaper of ${date}`);
  const day = await pixels('wall-canvas');
  n = await drawn();
  await page.click('#wall-next');
  await drawnAfter(n, 'the next day');
  check(await page.inputValue('#wall-date') === '2026-12-07', `after the next-day button the date is ${await page.inputValue('#wall-date')}`);
  const next = await pixels('wall-canvas');
  n = await drawn();
  await page.click('#wall-prev');
  await drawnAfter(n, 'the day before');
  const again = await pixels('wall-canvas');
  check(meanAbsDiff(day, again) === 0, `the same date twice must give the same pixels (mean |diff| ${meanAbsDiff(day, again).toFixed(3)})`);
  // How much depends on the model (the tiny one draws nearly flat gray): any change at all.
  check(meanAbsDiff(day, next) > 0, `the next day must differ (mean |diff| ${meanAbsDiff(day, next).toFixed(3)})`);

  // The lkrt command draws the same bytes.
  const native = path.join(outDir, 'wallpaper-lkrt.png');
  execFileSync(lkrtBin, [lkm, '--size', '1080x2400', '--date', date, '--out', native], { stdio: ['ignore', 'ignore', 'pipe'] });
  const want = decodePng(fs.readFileSync(native), native);
  check(want.width === 1080 && want.height === 2400, `lkrt wrote ${want.width} x ${want.height}`);
  let off = 0, differ = 0;
  for (let i = 0; i < day.data.length; i++) {
    const d = Math.abs(day.data[i] - want.rgba[i]);
    off = Math.max(off, d);
    differ += d > 0;
  }
  check(off <= 1, `the page's wallpaper of ${date} must be lkrt's within 1 level, off by up to ${off}`);
  log(`wallpaper: ${date} twice gives the same pixels, ${date} -> next day changes ${meanAbsDiff(day, next).toFixed(3)}; ` +
      `lkrt --size 1080x2400 --date ${date}: ${differ} bytes differ, by at most ${off}`);

  // A mood, then a tile: sides in whole cells, shown 2 x 2.
  const moods = await page.$$eval('#wall-mood option', (o) => o.map((x) => x.value).filter(Boolean));
  if (moods.length) {
    n = await drawn();
    await page.selectOption('#wall-mood', moods[0]);
    await drawnAfter(n, `the ${moods[0]} wallpaper`);
    const moody = await pixels('wall-canvas');
    check(meanAbsDiff(day, moody) > 0, `the mood ${moods[0]} must change the picture (mean |diff| ${meanAbsDiff(day, moody).toFixed(3)})`);
    await page.selectOption('#wall-mood', '');
    log(`wallpaper: moods ${moods.join(', ')}; ${moods[0]} changes it by ${meanAbsDiff(day, moody).toFixed(3)}`);
  }
  n = await drawn();
  await page.check('#wall-tileable');
  await drawnAfter(n, 'the tileable wallpaper');
  const tile = await pixels('wall-canvas');
  check(tile.width === 1088 && tile.height === 2432, `a tile of 1080 x 2400 is ${tile.width} x ${tile.height}; expected 1088 x 2432 (whole 64 px cells)`);
  check(await page.$eval('#wall-tiled-box', (e) => !e.hidden), 'the 2 x 2 view of the tile is shown');
  await page.screenshot({ path: path.join(outDir, 'app-wallpaper.png'), fullPage: true });
  n = await drawn();
  await page.uncheck('#wall-tileable');
  await drawnAfter(n, 'the wallpaper again');

  // A date lkrt refuses (before 1970): its message on the page; Today draws again and clears it.
  await page.fill('#wall-date', '1970-01-01');
  await page.click('#wall-prev');
  const refused = await waitFor(errorText, 'an error for 1969-12-31');
  check(/wallpaper/i.test(refused) && /1970/.test(refused), `the error for 1969-12-31 names the valid years: "${refused}"`);
  n = await drawn();
  await page.click('#wall-today');
  await drawnAfter(n, "today's wallpaper after Today");
  check(await errorText() === '', 'a good date clears the error');
  log(`wallpaper: 1969-12-31 refused on the page ("${refused}"); ${shown.ms.toFixed(0)} ms for the first 1080 x 2400 in Chromium`);
}

main().then(async () => {
  clearTimeout(globalTimer);
  await cleanup();
  console.log('app test passed');
  process.exit(0);
}, (e) => failAndExit(e instanceof TestFailure ? e.message : e.stack || String(e)));
