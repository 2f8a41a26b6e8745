// Real-browser test of the editor page that `latentkit serve` embeds.
// Usage: node tests/web/editor.test.mjs LATENTKIT_BIN RUN_DIR AXES_JSON OUT_DIR
// (ctest runs it twice: web_editor on fashion-dcgan, web_editor_color on the RGBA emoji-cgan,
// where it also checks that the checkerboard shows through the clear pixels)
// Needs `npm install --no-audit --no-fund` in the repository root (playwright-core) and a
// Chromium at /usr/bin/chromium (CHROMIUM=path overrides). Starts the server on a free port,
// drives the page in headless Chromium, and writes into OUT_DIR: editor.png (desktop),
// editor-narrow.png (400 px wide), download.png and latent.json (the two downloads), and
// editor-failure.png when a check fails. Exits 1 with one line saying what broke.
import fs from 'node:fs';
import path from 'node:path';
import { TestFailure, check, freePort, importChromium, log, sleep, startServer, waitFor as waitUntil } from './lib.mjs';

const kGlobalTimeoutMs = 90_000;
const kServerStartMs = 30_000;
const kStepMs = 10_000;

const [bin, runDir, axesJson, outDir] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node tests/web/editor.test.mjs LATENTKIT_BIN RUN_DIR AXES_JSON OUT_DIR');
  process.exit(2);
}

const chromium = await importChromium('editor');

let server = null;
let browser = null;
let page = null;

// Polls pred() until it returns a truthy value; fails with `what` after timeoutMs, or when the server exits.
const waitFor = (pred, what, timeoutMs = kStepMs) =>
  waitUntil(pred, what, timeoutMs, () => server?.exit && `the server exited (${server.exit})`);

async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  browser = null;
  await server?.stop();
}

async function failAndExit(message) {
  console.error(`editor test FAILED: ${message}`);
  if (page) {
    const shot = path.join(outDir, 'editor-failure.png');
    await page.screenshot({ path: shot, fullPage: true, timeout: 5000 }).then(
      () => console.error(`  page at the failure: ${shot}`), () => {});
  }
  const tail = (server?.output ?? '').trim().split('\n').slice(-15).join('\n  ');
  if (tail) console.error(`  server output (last lines):\n  ${tail}`);
  await cleanup();
  process.exit(1);
}

const globalTimer = setTimeout(() => failAndExit(`the whole test took over ${kGlobalTimeoutMs / 1000} s`), kGlobalTimeoutMs);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => failAndExit(`interrupted by ${sig}`));

async function main() {
  fs.mkdirSync(outDir, { recursive: true });

  // --- the server -----------------------------------------------------------------------
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  server = startServer(bin, ['serve', '--run', runDir, '--axes', axesJson, '--port', String(port), '--host', '127.0.0.1']);

  const apiModel = await waitFor(async () => {
    try {
      const r = await fetch(`${base}/api/v1/model`);
      return r.ok ? await r.json() : null;
    } catch { return null; }
  }, `GET ${base}/api/v1/model to answer`, kServerStartMs);
  const apiAxes = (await (await fetch(`${base}/api/v1/axes`)).json()).axes;
  log(`server up on port ${port}: ${apiModel.family}, latent ${apiModel.latent_dim}, ${apiAxes.length} axes`);
  check(Array.isArray(apiAxes) && apiAxes.length >= 2,
    `${axesJson} gives ${apiAxes && apiAxes.length} axes; the test needs at least 2 (one to move, one to lock)`);
  const [, imgH, imgW] = apiModel.image_shape;

  // --- the browser ----------------------------------------------------------------------
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  page = await context.newPage();

  const pageErrors = [];
  const foreign = [];
  const generates = []; // {body, done}
  const tracked = new WeakMap(); // Request -> its entry in generates
  let inFlight = 0;
  let maxInFlight = 0;
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('request', (req) => {
    const url = req.url();
    if (!url.startsWith(base) && !url.startsWith('data:') && !url.startsWith('blob:')) foreign.push(url);
    if (req.method() === 'POST' && url === `${base}/api/v1/generate`) {
      let body = null;
      try { body = JSON.parse(req.postData() || ''); } catch { return; } // the error-path probes
      const g = { body, done: false };
      generates.push(g);
      tracked.set(req, g);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
    }
  });
  const settle = (req) => {
    const g = tracked.get(req);
    if (g && !g.done) { g.done = true; inFlight--; }
  };
  page.on('requestfinished', settle);
  page.on('requestfailed', settle);

  const src = () => page.$eval('#image', (img) => img.getAttribute('src') || '');
  const idle = () => waitFor(() => inFlight === 0 && generates.every((g) => g.done), 'the page to finish its requests');
  // Waits for a generate request (from index `from` on) that satisfies pred, to complete.
  async function nextGenerate(from, pred, what) {
    const g = await waitFor(() => generates.slice(from).find((x) => pred(x.body)), what);
    await waitFor(() => g.done, `the answer to ${what}`);
    return g;
  }
  async function imageChangedFrom(before, what) {
    await page.waitForFunction((b) => {
      const img = document.getElementById('image');
      return img.getAttribute('src') !== b && img.complete && img.naturalWidth > 0;
    }, before, { timeout: kStepMs }).catch(() => { throw new TestFailure(`the image did not change after ${what}`); });
  }
  const errorText = () => page.$eval('#error', (e) => (e.hidden ? '' : e.textContent));

  await page.goto(`${base}/`);
  check((await page.title()).includes('latentkit'), `GET / is not the editor page (title "${await page.title()}")`);

  // --- first image -----------------------------------------------------------------------
  await page.waitForFunction(() => {
    const img = document.getElementById('image');
    return (img.getAttribute('src') || '').startsWith('data:image/png;base64,') && img.complete && img.naturalWidth > 0;
  }, null, { timeout: kStepMs }).catch(async () => {
    throw new TestFailure(`no image appeared on the page; #error says: "${await errorText()}"`);
  });
  await idle();
  const src0 = await src();
  const look = await page.$eval('#image', (img) => {
    const r = img.getBoundingClientRect();
    return { nw: img.naturalWidth, nh: img.naturalHeight, w: r.width, h: r.height,
      rendering: getComputedStyle(img).imageRendering };
  });
  check(look.nw === imgW && look.nh === imgH, `the image is ${look.nw}x${look.nh}, /api/v1/model says ${imgW}x${imgH}`);
  if (imgW <= 384) check(look.rendering === 'pixelated', `#image has image-rendering "${look.rendering}", expected "pixelated"`);
  check(Math.abs(Math.max(look.w, look.h) - 384) <= 2, `#image is shown at ${look.w}x${look.h} px, expected 384 on its long side`);
  check(await errorText() === '', `the error line shows "${await errorText()}" after the first image`);
  const status0 = await page.textContent('#status');
  check(/server [\d.]+ ms/.test(status0) && /round trip [\d.]+ ms/.test(status0),
    `#status should give the server and round-trip ms, it says "${status0}"`);
  log(`first image ${look.nw}x${look.nh} shown at ${look.w}x${look.h} px, pixelated; status "${status0}"`);

  // --- color models: RGBA, with the checkerboard showing through the transparency ---------------
  if (apiModel.image_shape[0] === 4) {
    // The PNG as the page decoded it, and the frame as it is drawn on the screen, side by side:
    // where the image is clear the screen must show the board's two squares, where it is opaque
    // the image's own color.
    const frameShot = (await page.locator('.frame').screenshot()).toString('base64');
    const seen = await page.evaluate(async (shot) => {
      const pixels = async (img, w, h) => {
        const c = document.createElement('canvas');
        c.width = w;
        c.height = h;
        const g = c.getContext('2d');
        g.imageSmoothingEnabled = false;
        g.drawImage(img, 0, 0, w, h);
        return g.getImageData(0, 0, w, h).data;
      };
      const image = document.getElementById('image');
      const w = image.naturalWidth, h = image.naturalHeight;
      const own = await pixels(image, w, h);
      const screen = new Image();
      screen.src = `data:image/png;base64,${shot}`;
      await screen.decode();
      const sw = screen.naturalWidth, sh = screen.naturalHeight;
      const drawn = await pixels(screen, sw, sh);
      const clearShades = new Map();
      let clear = 0, opaque = 0, colored = 0, matched = 0;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const i = 4 * (y * w + x);
          const j = 4 * (Math.floor((y + 0.5) * sh / h) * sw + Math.floor((x + 0.5) * sw / w));
          const [r, g, b, a] = own.slice(i, i + 4);
          const [sr, sg, sb] = drawn.slice(j, j + 3);
          if (a === 0) {
            clear++;
            const key = `${sr},${sg},${sb}`;
            clearShades.set(key, (clearShades.get(key) || 0) + 1);
          } else if (a === 255) {
            opaque++;
            if (Math.max(r, g, b) - Math.min(r, g, b) > 40) colored++;
            if (Math.abs(sr - r) + Math.abs(sg - g) + Math.abs(sb - b) <= 12) matched++;
          }
        }
      }
      // The board's two squares, and how many clear pixels show one of them.
      const counts = [...clearShades.values()].sort((p, q) => q - p);
      return { clear, opaque, colored, matched, shades: clearShades.size, onBoard: (counts[0] || 0) + (counts[1] || 0) };
    }, frameShot);
    check(seen.clear > 0 && seen.opaque > 0,
      `a color model's image should have clear and opaque pixels; it has ${seen.clear} clear, ${seen.opaque} opaque`);
    check(seen.colored > 0, 'the color model\'s image has no colored opaque pixel: is it drawn in gray?');
    check(seen.shades >= 2 && seen.onBoard >= 0.95 * seen.clear,
      `under the ${seen.clear} clear pixels the screen shows ${seen.shades} color(s), the two commonest under ` +
      `${seen.onBoard}: no checkerboard`);
    check(seen.matched >= 0.95 * seen.opaque,
      `only ${seen.matched} of ${seen.opaque} opaque pixels are drawn in their own color`);
    log(`RGBA: ${seen.clear} clear pixels show the checkerboard (${seen.shades} shades), ` +
      `${seen.matched}/${seen.opaque} opaque ones their own color, ${seen.colored} colored`);
  }

  // --- the controls match the API -----------------------------------------------------------
  const sliders = await page.$$eval('input[type=range][data-axis]', (els) => els.map((e) => ({
    name: e.dataset.axis, min: Number(e.min), max: Number(e.max), step: e.step })));
  check(sliders.length === apiAxes.length, `the page has ${sliders.length} sliders, /api/v1/axes lists ${apiAxes.length}`);
  for (const [i, a] of apiAxes.entries()) {
    const s = sliders[i];
    check(s.name === a.name, `slider ${i} is "${s.name}", /api/v1/axes says "${a.name}"`);
    check(s.min === a.slider[0] && s.max === a.slider[1], `slider "${a.name}" spans [${s.min}, ${s.max}], the axis says [${a.slider}]`);
    check(s.step === '0.1', `slider "${a.name}" has step ${s.step}, expected 0.1`);
    check(await page.$(`input[type=checkbox][data-lock="${a.name}"]`), `no lock checkbox for axis "${a.name}"`);
  }
  const classShown = await page.isVisible('#class');
  check(classShown === apiModel.num_classes > 0,
    `the class picker is ${classShown ? 'shown' : 'hidden'} for a model with ${apiModel.num_classes} classes`);
  log(`${sliders.length} sliders with lock boxes match /api/v1/axes; class picker ${classShown ? 'shown' : 'hidden'}`);

  // --- move the first slider ----------------------------------------------------------------
  const a0 = sliders[0];
  const sel0 = `input[data-axis="${a0.name}"]`;
  let from = generates.length;
  await page.$eval(sel0, (e, v) => { e.value = String(v); e.dispatchEvent(new Event('input', { bubbles: true })); }, a0.max);
  const moved = await nextGenerate(from, (b) => b.moves && b.moves[a0.name] === a0.max,
    `a POST /api/v1/generate with moves.${a0.name} = ${a0.max}`);
  await imageChangedFrom(src0, `moving "${a0.name}" to ${a0.max}`);
  await idle();
  check(await errorText() === '', `moving "${a0.name}" gave the error "${await errorText()}"`);
  log(`moving "${a0.name}" to ${a0.max} sent ${JSON.stringify(moved.body)} and changed the image`);

  // --- drag it back with the mouse, against a slow server: requests coalesce ---------------------
  await page.route('**/api/v1/generate', async (route) => {
    const response = await route.fetch();
    await sleep(120);
    await route.fulfill({ response });
  });
  await page.$eval(sel0, (e) => { window.__inputs = 0; e.addEventListener('input', () => { window.__inputs++; }); });
  const box = await (await page.$(sel0)).boundingBox();
  const y = box.y + box.height / 2;
  from = generates.length;
  maxInFlight = 0;
  await page.mouse.move(box.x + box.width - 3, y);
  await page.mouse.down();
  for (let i = 1; i <= 30; i++) {
    await page.mouse.move(box.x + box.width - 3 - (box.width - 6) * i / 30, y);
    await sleep(15);
  }
  await page.mouse.up();
  const final = Number(await page.$eval(sel0, (e) => e.value));
  const inputs = await page.evaluate(() => window.__inputs);
  check(final === a0.min, `dragging "${a0.name}" to the left end left it at ${final}, expected ${a0.min}`);
  await nextGenerate(from, (b) => b.moves && b.moves[a0.name] === final, `the request for the final drag position ${final}`);
  await idle();
  await page.unroute('**/api/v1/generate');
  const sent = generates.length - from;
  const last = generates[generates.length - 1].body;
  check(maxInFlight <= 1, `${maxInFlight} generate requests were in flight at once while dragging; at most 1 allowed`);
  check(inputs >= 10, `the drag fired only ${inputs} input events; it should fire one per step`);
  check(sent < inputs, `${inputs} input events sent ${sent} requests against a 120 ms server: input is not coalesced`);
  check(last.moves && last.moves[a0.name] === final, `the last request after the drag carries ${JSON.stringify(last.moves)}, not the final value ${final}`);
  log(`a mouse drag of ${inputs} input events sent ${sent} requests, at most ${maxInFlight} in flight, the last with ${a0.name} = ${final}`);

  // --- lock another axis ---------------------------------------------------------------------
  const a1 = sliders[1];
  from = generates.length;
  await page.check(`input[data-lock="${a1.name}"]`);
  const locked = await nextGenerate(from, () => true, `a request after locking "${a1.name}"`);
  check(Array.isArray(locked.body.locks) && locked.body.locks.includes(a1.name),
    `the request after locking "${a1.name}" carries locks ${JSON.stringify(locked.body.locks)}`);
  await idle();
  check(await errorText() === '', `locking "${a1.name}" gave the error "${await errorText()}"`);
  log(`locking "${a1.name}" sent ${JSON.stringify(locked.body)}`);

  // --- type a seed ------------------------------------------------------------------------------
  const seedBefore = Number(await page.inputValue('#seed'));
  const seed = seedBefore === 12345 ? 54321 : 12345;
  const srcBeforeSeed = await src();
  from = generates.length;
  await page.fill('#seed', String(seed));
  await nextGenerate(from, (b) => b.seed === seed, `a request with seed ${seed}`);
  await imageChangedFrom(srcBeforeSeed, `typing seed ${seed}`);
  await idle();
  check(await errorText() === '', `seed ${seed} gave the error "${await errorText()}"`);
  log(`typing seed ${seed} changed the image`);

  // --- the class picker (conditional models) ------------------------------------------------------
  if (apiModel.num_classes > 1) {
    const cls = apiModel.num_classes - 1;
    const srcBeforeClass = await src();
    from = generates.length;
    await page.selectOption('#class', String(cls));
    await nextGenerate(from, (b) => b.class === cls, `a request with class ${cls}`);
    await imageChangedFrom(srcBeforeClass, `picking class ${cls}`);
    await idle();
    check(await errorText() === '', `class ${cls} gave the error "${await errorText()}"`);
    log(`picking class ${cls} ("${apiModel.class_names[cls] || ''}") changed the image`);
  }

  const shot = path.join(outDir, 'editor.png');
  await page.screenshot({ path: shot, fullPage: true });
  log(`screenshot ${shot}`);

  // --- Random, then Reset --------------------------------------------------------------------------
  let before = await src();
  from = generates.length;
  await page.click('#random');
  const rnd = await nextGenerate(from, () => true, 'a request after Random');
  const shownSeed = Number(await page.inputValue('#seed'));
  check(rnd.body.seed === shownSeed && shownSeed !== seed, `Random sent seed ${rnd.body.seed}, the field shows ${shownSeed} (was ${seed})`);
  await imageChangedFrom(before, 'Random');
  await idle();
  log(`Random picked seed ${shownSeed}`);

  from = generates.length;
  await page.click('#reset');
  const reset = await nextGenerate(from, () => true, 'a request after Reset sliders');
  check(!reset.body.moves || Object.values(reset.body.moves).every((v) => v === 0),
    `after Reset sliders the request still moves ${JSON.stringify(reset.body.moves)}`);
  check(Number(await page.$eval(sel0, (e) => e.value)) === 0, `Reset sliders left "${a0.name}" off 0`);
  await idle();
  log('Reset sliders zeroed every move');

  // --- downloads -----------------------------------------------------------------------------------
  from = generates.length;
  await page.$eval(sel0, (e, v) => { e.value = String(v); e.dispatchEvent(new Event('input', { bubbles: true })); }, a0.max);
  await nextGenerate(from, (b) => b.moves && b.moves[a0.name] === a0.max, 'the request for the download state');
  await idle();
  const [pngDl] = await Promise.all([page.waitForEvent('download', { timeout: kStepMs }), page.click('#download-png')]);
  const pngPath = path.join(outDir, 'download.png');
  await pngDl.saveAs(pngPath);
  const pngBytes = fs.readFileSync(pngPath);
  check(pngBytes.subarray(0, 8).equals(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10])),
    `#download-png saved ${pngDl.suggestedFilename()} that is not a PNG`);
  check(pngBytes.readUInt32BE(16) === imgW && pngBytes.readUInt32BE(20) === imgH,
    `#download-png saved a ${pngBytes.readUInt32BE(16)}x${pngBytes.readUInt32BE(20)} PNG, expected ${imgW}x${imgH}`);
  const [zDl] = await Promise.all([page.waitForEvent('download', { timeout: kStepMs }), page.click('#download-z')]);
  const zPath = path.join(outDir, 'latent.json');
  await zDl.saveAs(zPath);
  const code = JSON.parse(fs.readFileSync(zPath, 'utf8'));
  check(code.seed === shownSeed, `the latent file has seed ${code.seed}, the page shows ${shownSeed}`);
  check(Array.isArray(code.z) && code.z.length === apiModel.latent_dim && code.z.every(Number.isFinite),
    `the latent file's z is not ${apiModel.latent_dim} finite numbers`);
  check(code.moves && code.moves[a0.name] === a0.max, `the latent file has moves ${JSON.stringify(code.moves)}`);
  check(Array.isArray(code.locks) && code.locks.includes(a1.name), `the latent file has locks ${JSON.stringify(code.locks)}`);
  check('class' in code, 'the latent file has no "class" field');
  // The file is a request: POSTing its z, moves and locks must be accepted.
  const replay = { z: code.z, moves: code.moves, locks: code.locks };
  if (code.class !== null) replay.class = code.class;
  const rr = await fetch(`${base}/api/v1/generate`, { method: 'POST', body: JSON.stringify(replay) });
  const rj = await rr.json().catch(() => ({}));
  check(rr.status === 200 && typeof rj.image === 'string', `POSTing the downloaded latent file back gave ${rr.status} ${rj.error || ''}`);
  check(rj.image === await src(), 'POSTing the downloaded latent file back gives a different image from the one on the page');
  log(`downloads: ${pngDl.suggestedFilename()} (${imgW}x${imgH} PNG), ${zDl.suggestedFilename()} (seed, z[${code.z.length}], moves, locks, class), which reproduces the image`);

  // --- the API's error path, from the page --------------------------------------------------------------
  const probes = await page.evaluate(async () => {
    const probe = async (url, init) => {
      const r = await fetch(url, init);
      let body = null;
      try { body = await r.json(); } catch { /* checked below */ }
      return { status: r.status, error: body && body.error };
    };
    const post = (body) => ({ method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
    return {
      malformed: await probe('/api/v1/generate', post('{"seed": 1,')),
      unknownAxis: await probe('/api/v1/generate', post('{"seed": 1, "moves": {"no-such-axis-xyz": 1}}')),
      hugeMove: await probe('/api/v1/generate', post(`{"seed": 1, "moves": {${JSON.stringify(document.querySelector('[data-axis]').dataset.axis)}: 1e9}}`)),
      shortZ: await probe('/api/v1/generate', post('{"z": [0, 1, 2]}')),
      oversize: await probe('/api/v1/generate', post(`{"seed": 1, "pad": "${'x'.repeat(70000)}"}`)),
      unknownPath: await probe('/api/v1/no-such-endpoint'),
    };
  });
  const expected = { malformed: 400, unknownAxis: 400, hugeMove: 400, shortZ: 400, oversize: 400, unknownPath: 404 };
  for (const [k, want] of Object.entries(expected)) {
    const p = probes[k];
    check(p.status === want, `${k}: expected status ${want}, got ${p.status}`);
    check(typeof p.error === 'string' && p.error.length > 0, `${k}: the ${p.status} answer has no {"error": "..."} message`);
  }
  log(`API errors: malformed JSON -> 400 "${probes.malformed.error}"; unknown axis -> 400 "${probes.unknownAxis.error}"; ` +
    `unknown path -> 404 "${probes.unknownPath.error}"`);

  // --- the page shows an API error, and clears it on the next success ----------------------------------------
  await page.route('**/api/v1/generate', (route) => route.fulfill({
    status: 400, contentType: 'application/json', body: JSON.stringify({ error: 'injected by the test' }) }), { times: 1 });
  await page.click('#random');
  await page.waitForSelector('#error:not([hidden])', { timeout: kStepMs }).catch(() => {
    throw new TestFailure('a 400 from /api/v1/generate was not shown in #error');
  });
  const shownError = await errorText();
  check(shownError.includes('injected by the test'), `#error says "${shownError}", not the server's message`);
  before = await src();
  await page.click('#random');
  await imageChangedFrom(before, 'Random after an error');
  await page.waitForSelector('#error', { state: 'hidden', timeout: kStepMs }).catch(() => {
    throw new TestFailure('#error stayed visible after a successful request');
  });
  await idle();
  log(`an API error shows in #error ("${shownError}") and clears on the next image`);

  // --- narrow screens stack ----------------------------------------------------------------------------------
  await page.setViewportSize({ width: 400, height: 900 });
  const boxes = await page.evaluate(() => {
    const r = (s) => document.querySelector(s).getBoundingClientRect().toJSON();
    return { view: r('.view'), axes: r('.axes'), doc: document.documentElement.scrollWidth };
  });
  check(boxes.axes.top >= boxes.view.bottom - 1, 'at 400 px wide the sliders do not stack under the image');
  check(boxes.doc <= 400, `at 400 px wide the page scrolls sideways (${boxes.doc} px wide)`);
  const narrow = path.join(outDir, 'editor-narrow.png');
  await page.screenshot({ path: narrow, fullPage: true });
  log(`at 400 px wide the sliders stack under the image (${narrow})`);

  check(pageErrors.length === 0, `the page threw: ${pageErrors.join(' | ')}`);
  check(foreign.length === 0, `the page fetched outside the server: ${foreign.join(', ')}`);
  log('no script errors, no requests outside the server');
}

try {
  await main();
} catch (e) {
  clearTimeout(globalTimer);
  await failAndExit(e instanceof TestFailure ? e.message : (e.stack || String(e)));
}
clearTimeout(globalTimer);
await cleanup();
console.log('editor test passed');
