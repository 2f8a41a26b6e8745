// Real-browser test of the paint page that `latentkit serve` gives a spade run (GauGAN's demo).
// Usage: node tests/web/paint.test.mjs LATENTKIT_BIN OUT_DIR [RUN_DIR]
// Without RUN_DIR it trains a tiny spade run into OUT_DIR/run first (16 px, a few seconds).
// Needs `npm install --no-audit --no-fund` in the repository root (playwright-core) and a
// Chromium at /usr/bin/chromium (CHROMIUM=path overrides). Starts the server on a free port,
// paints in headless Chromium with the mouse and with a finger (touch events), and writes into
// OUT_DIR: paint.png (1280x800), paint-narrow.png (400 px wide), and paint-failure.png when a
// check fails. Exits 1 with one line saying what broke.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { TestFailure, check, freePort, importChromium, log, sleep, startServer, waitFor as waitUntil } from './lib.mjs';

const kGlobalTimeoutMs = 150_000;
const kServerStartMs = 30_000;
const kStepMs = 10_000;

const [bin, outDir, givenRun] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node tests/web/paint.test.mjs LATENTKIT_BIN OUT_DIR [RUN_DIR]');
  process.exit(2);
}

const chromium = await importChromium('paint');

let server = null;
let browser = null;
let page = null;

const waitFor = (pred, what, timeoutMs = kStepMs) =>
  waitUntil(pred, what, timeoutMs, () => server?.exit && `the server exited (${server.exit})`);

async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  browser = null;
  await server?.stop();
}

async function failAndExit(message) {
  console.error(`paint test FAILED: ${message}`);
  if (page) {
    const shot = path.join(outDir, 'paint-failure.png');
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

// The tiny model: a few steps on 32 shapes-scenes maps at 16 px.
function trainTinyRun(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  try {
    execFileSync(bin, ['train', '--model', 'spade', '--data', 'shapes-scenes:32', '--size', '16', '--width', '4',
      '--latent-dim', '8', '--batch', '8', '--epochs', '1', '--threads', '1', '--seed', '2', '--out', dir],
    { stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000 });
  } catch (e) {
    throw new TestFailure(`training the tiny spade run failed: ${(e.stderr || e.message).toString().trim().split('\n').pop()}`);
  }
}

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  const runDir = givenRun || path.join(outDir, 'run');
  if (!givenRun) {
    const t0 = Date.now();
    trainTinyRun(runDir);
    log(`trained a tiny spade run in ${runDir} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }

  // --- the server -----------------------------------------------------------------------
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  server = startServer(bin, ['serve', '--run', runDir, '--port', String(port), '--host', '127.0.0.1', '--threads', '1']);
  const info = await waitFor(async () => {
    try {
      const r = await fetch(`${base}/api/paint/palette`);
      return r.ok ? await r.json() : null;
    } catch { return null; }
  }, `GET ${base}/api/paint/palette to answer`, kServerStartMs);
  const S = info.size;
  const K = info.classes.length;
  log(`server up on port ${port}: ${S}x${S} maps, ${info.palette} palette (${K} classes), latent ${info.latent_dim}`);
  const example = async (k) => (await (await fetch(`${base}/api/paint/example?seed=${k}`)).json()).map;

  // --- the browser ----------------------------------------------------------------------
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();

  const pageErrors = [];
  const foreign = [];
  const paints = []; // {body, done}
  const examples = []; // seeds asked for
  const tracked = new WeakMap();
  let inFlight = 0;
  let maxInFlight = 0;
  const watch = (p) => {
    p.on('pageerror', (e) => pageErrors.push(e.message));
    p.on('request', (req) => {
      const url = req.url();
      if (!url.startsWith(base) && !url.startsWith('data:') && !url.startsWith('blob:')) foreign.push(url);
      if (url.startsWith(`${base}/api/paint/example`)) examples.push(new URL(url).searchParams.get('seed'));
      if (req.method() === 'POST' && url === `${base}/api/paint`) {
        const g = { body: JSON.parse(req.postData() || 'null'), done: false };
        paints.push(g);
        tracked.set(req, g);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
      }
    });
    const settle = (req) => {
      const g = tracked.get(req);
      if (g && !g.done) { g.done = true; inFlight--; }
    };
    p.on('requestfinished', settle);
    p.on('requestfailed', settle);
  };
  watch(page);

  const idle = () => waitFor(() => inFlight === 0 && paints.every((g) => g.done), 'the page to finish its requests');
  const pictures = () => page.$$eval('#pictures img', (imgs) => imgs.map((i) => i.getAttribute('src') || ''));
  const errorText = () => page.$eval('#error', (e) => (e.hidden ? '' : e.textContent));
  // The map as the canvas shows it: each pixel's class, found by its palette color.
  const canvasMap = () => page.evaluate((classes) => {
    const c = document.getElementById('map');
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const rgba = classes.map((k) => (k.color === 'transparent' ? [0, 0, 0, 0]
      : [parseInt(k.color.slice(1, 3), 16), parseInt(k.color.slice(3, 5), 16), parseInt(k.color.slice(5, 7), 16), 255]));
    const out = [];
    for (let i = 0; i < px.length; i += 4) {
      out.push(rgba.findIndex((q) => (q[3] === 0 ? px[i + 3] === 0 : q.every((v, j) => v === px[i + j]))));
    }
    return out;
  }, info.classes);
  async function picturesChangedFrom(before, what) {
    await page.waitForFunction((b) => {
      const imgs = [...document.querySelectorAll('#pictures img')];
      return imgs.length > 0 && JSON.stringify(imgs.map((i) => i.getAttribute('src'))) !== b &&
        imgs.every((i) => i.complete && i.naturalWidth > 0);
    }, JSON.stringify(before), { timeout: kStepMs }).catch(() => { throw new TestFailure(`the picture did not change after ${what}`); });
  }
  const lastPaint = () => paints[paints.length - 1].body;
  const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

  await page.goto(`${base}/`);
  check((await page.title()).includes('paint'), `GET / is not the paint page (title "${await page.title()}")`);

  // --- the palette ------------------------------------------------------------------------
  const buttons = await page.$$eval('#palette button[data-class]', (bs) => bs.map((b) => ({
    cls: Number(b.dataset.class), text: b.textContent.trim(),
    chip: getComputedStyle(b.querySelector('.chip')).backgroundColor, checked: b.getAttribute('aria-checked') })));
  check(buttons.length === K, `the page shows ${buttons.length} palette buttons; /api/paint/palette has ${K} classes`);
  for (const [i, c] of info.classes.entries()) {
    const b = buttons[i];
    check(b.cls === c.index && b.text === c.name, `palette button ${i} reads "${b.text}" (class ${b.cls}); expected "${c.name}"`);
    if (c.color !== 'transparent') {
      const want = `rgb(${parseInt(c.color.slice(1, 3), 16)}, ${parseInt(c.color.slice(3, 5), 16)}, ${parseInt(c.color.slice(5, 7), 16)})`;
      check(b.chip === want, `the "${c.name}" button's color is ${b.chip}; expected ${want} (${c.color})`);
    }
  }
  log(`${K} palette buttons: ${buttons.map((b) => `${b.text} ${b.chip}`).join(', ')}`);

  // --- the first picture: example map 0 ------------------------------------------------------
  await page.waitForFunction(() => {
    const img = document.querySelector('#pictures img');
    return img && (img.getAttribute('src') || '').startsWith('data:image/png;base64,') && img.complete && img.naturalWidth > 0;
  }, null, { timeout: kStepMs }).catch(async () => {
    throw new TestFailure(`no picture appeared on the page; #error says: "${await errorText()}"`);
  });
  await idle();
  check(examples[0] === '0', `the page asked for example ${examples[0]} first; expected seed 0`);
  const map0 = await example(0);
  check(same(await canvasMap(), map0), 'the canvas does not show example map 0');
  check(same(paints[0].body.map, map0) && paints[0].body.n === 1, 'the first POST /api/paint is not example map 0 with n 1');
  const look = await page.evaluate(() => {
    const r = (e) => e.getBoundingClientRect();
    const c = document.getElementById('map'), img = document.querySelector('#pictures img');
    return { canvas: r(c).toJSON(), img: r(img).toJSON(), nw: img.naturalWidth, nh: img.naturalHeight,
      rendering: getComputedStyle(c).imageRendering, touch: getComputedStyle(c).touchAction,
      scroll: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight, font: parseFloat(getComputedStyle(document.querySelector('.swatch')).fontSize) };
  });
  check(look.nw === S && look.nh === S, `the picture is ${look.nw}x${look.nh}; the model draws ${S}x${S}`);
  check(Math.abs(look.canvas.width - 384) <= 2 && Math.abs(look.canvas.height - 384) <= 2,
    `the map is shown at ${look.canvas.width}x${look.canvas.height} px; expected 384x384`);
  check(look.rendering === 'pixelated' && look.touch === 'none',
    `the map canvas has image-rendering "${look.rendering}", touch-action "${look.touch}"; expected pixelated, none`);
  check(look.img.left >= look.canvas.right, 'at 1280 px wide the pictures are not beside the map');
  check(Math.abs(look.img.width - look.img.height) <= 1 && Math.abs(look.img.width - look.canvas.width) <= 2,
    `the picture is shown at ${look.img.width}x${look.img.height} px; expected a square as large as the map (${look.canvas.width} px)`);
  check(look.height <= 800, `at 1280x800 the page is ${look.height} px tall: it does not fit the window`);
  check(look.scroll <= 1280, `at 1280 px wide the page scrolls sideways (${look.scroll} px wide)`);
  check(look.font >= 12, `palette buttons use ${look.font} px text`);
  const ms0 = (await page.textContent('#ms')).trim();
  check(/^\d+(\.\d+)? ms$/.test(ms0), `#ms should show the server's time as "N ms"; it says "${ms0}"`);
  log(`first picture ${look.nw}x${look.nh} beside a 384 px pixelated map; #ms "${ms0}"`);

  // --- a mouse stroke against a slow server: sent during the stroke, one at a time ---------------
  await page.click(`#palette button[data-class="2"]`);
  check(await page.getAttribute('#palette button[data-class="2"]', 'aria-checked') === 'true', 'clicking a class does not select it');
  const brushMax = Number(await page.getAttribute('#brush', 'max'));
  await page.$eval('#brush', (e, v) => { e.value = String(v); e.dispatchEvent(new Event('input', { bubbles: true })); }, brushMax);
  check((await page.textContent('#brush-value')).includes(String(brushMax)), 'the brush label does not follow the slider');
  await page.route('**/api/paint', async (route) => {
    const response = await route.fetch();
    await sleep(120);
    await route.fulfill({ response });
  });
  const before = await pictures();
  const box = await page.locator('#map').boundingBox();
  const y = box.y + box.height / 2;
  let from = paints.length;
  maxInFlight = 0;
  const moves = 30;
  await page.mouse.move(box.x + 0.2 * box.width, y);
  await page.mouse.down();
  for (let i = 1; i <= moves; i++) {
    await page.mouse.move(box.x + (0.2 + (0.6 * i) / moves) * box.width, y);
    await sleep(15);
    if (i === moves / 2) await waitFor(() => paints.length > from, 'a POST /api/paint while the stroke is still going');
  }
  const duringStroke = paints.length - from;
  await page.mouse.up();
  const painted = await canvasMap();
  await waitFor(() => paints.length > from && same(lastPaint().map, painted) && paints[paints.length - 1].done,
    'the request with the stroke\'s final map');
  await idle();
  await page.unroute('**/api/paint');
  const sent = paints.length - from;
  const row = Math.floor(S / 2);
  for (let x = Math.ceil(0.2 * S); x < Math.floor(0.8 * S); x++) {
    check(painted[row * S + x] === 2, `after the stroke map pixel (${x}, ${row}) is class ${painted[row * S + x]}; expected 2 (circle)`);
  }
  check(!same(painted, map0), 'the stroke did not change the map');
  check(maxInFlight <= 1, `${maxInFlight} requests were in flight at once during the stroke; at most 1 allowed`);
  check(sent < moves, `a stroke of ${moves} moves sent ${sent} requests against a 120 ms server: not throttled`);
  await picturesChangedFrom(before, 'a mouse stroke');
  check(await errorText() === '', `the stroke gave the error "${await errorText()}"`);
  const ms1 = (await page.textContent('#ms')).trim();
  check(/^\d+(\.\d+)? ms$/.test(ms1), `after the stroke #ms says "${ms1}"`);
  log(`a mouse stroke of ${moves} moves sent ${sent} requests (${duringStroke} before pointer up), at most ${maxInFlight} in flight; ` +
    `the last carries the final map; picture changed; #ms "${ms1}"`);

  // --- new style: same map, another seed -------------------------------------------------------
  let prev = await pictures();
  const seedBefore = lastPaint().seed;
  from = paints.length;
  await page.click('#style');
  await waitFor(() => paints.length > from && paints[paints.length - 1].done, 'a request after New style');
  const styled = lastPaint();
  check(styled.seed !== seedBefore && String(styled.seed) === await page.inputValue('#seed'),
    `New style sent seed ${styled.seed} (was ${seedBefore}; the field shows ${await page.inputValue('#seed')})`);
  check(same(styled.map, painted), 'New style changed the map it sent');
  await picturesChangedFrom(prev, 'New style');
  await idle();
  log(`New style sent seed ${styled.seed} with the same map; picture changed`);

  // --- example map: the next one from the run's test data -----------------------------------------
  prev = await pictures();
  from = paints.length;
  await page.click('#example');
  await waitFor(() => examples.length >= 2, 'GET /api/paint/example after the Example map button');
  check(examples[1] === '1', `the second example asked for seed ${examples[1]}; expected 1`);
  const map1 = await example(1);
  await waitFor(() => paints.length > from && same(lastPaint().map, map1) && paints[paints.length - 1].done, 'a request with example map 1');
  check(same(await canvasMap(), map1), 'the canvas does not show example map 1');
  await picturesChangedFrom(prev, 'Example map');
  await idle();
  log('Example map loaded map 1 of the test data onto the canvas and drew it');

  // --- four pictures -----------------------------------------------------------------------------
  from = paints.length;
  await page.selectOption('#count', '4');
  await waitFor(() => paints.length > from && lastPaint().n === 4 && paints[paints.length - 1].done, 'a request with n 4');
  await page.waitForFunction(() => document.querySelectorAll('#pictures img').length === 4 &&
    [...document.querySelectorAll('#pictures img')].every((i) => i.complete && i.naturalWidth > 0), null, { timeout: kStepMs });
  const four = await pictures();
  check(new Set(four).size === 4, `the 4 pictures are not 4 different images (${new Set(four).size} distinct)`);
  const boxes4 = await page.$$eval('#pictures img', (imgs) => imgs.map((i) => i.getBoundingClientRect().toJSON()));
  check(boxes4.every((b) => Math.abs(b.width - b.height) <= 1 && b.width >= 150),
    `the 4 pictures are shown at ${boxes4.map((b) => `${b.width}x${b.height}`).join(', ')} px; expected squares of 150 px or more`);
  const png = Buffer.from(four[0].slice('data:image/png;base64,'.length), 'base64');
  check(png.subarray(1, 4).toString('latin1') === 'PNG' && png.readUInt32BE(16) === S && png.readUInt32BE(20) === S,
    `picture 1 is not a ${S}x${S} PNG`);
  await idle();
  const shot = path.join(outDir, 'paint.png');
  await page.screenshot({ path: shot, fullPage: true });
  const scroll4 = await page.evaluate(() => document.documentElement.scrollWidth);
  check(scroll4 <= 1280, `with 4 pictures the page scrolls sideways (${scroll4} px wide)`);
  log(`4 pictures, each ${S}x${S}, all different; screenshot ${shot}`);

  // --- fill all ------------------------------------------------------------------------------------
  await page.click('#palette button[data-class="0"]');
  from = paints.length;
  await page.click('#fill');
  await waitFor(() => paints.length > from && lastPaint().map.every((v) => v === 0) && paints[paints.length - 1].done,
    'a request with the map filled with class 0');
  check((await canvasMap()).every((v) => v === 0), 'Fill all left pixels of another class on the canvas');
  await idle();
  log('Fill all painted every pixel with the selected class');

  // --- bad requests: one line each, the server keeps serving ------------------------------------------
  const post = async (body, type = 'application/json') => {
    const r = await fetch(`${base}/api/paint`, { method: 'POST', body, headers: { 'Content-Type': type } });
    return { status: r.status, error: (await r.json().catch(() => ({}))).error || '' };
  };
  const zeros = JSON.stringify(new Array(S * S).fill(0));
  const probes = {
    short: [await post('{"map": [0, 1, 2]}'), `expected ${S * S} class ids`],
    range: [await post(`{"map": ${JSON.stringify(new Array(S * S).fill(K))}}`), `expected a class id in [0, ${K})`],
    n: [await post(`{"map": ${zeros}, "n": 9}`), 'n must be an integer in [1, 4]'],
    json: [await post('{"map": [0,'), 'the body is not JSON'],
  };
  for (const [k, [r, want]] of Object.entries(probes)) {
    check(r.status === 400 && r.error.includes(want) && !r.error.includes('\n'),
      `${k}: expected 400 with "${want}", got ${r.status} "${r.error}"`);
  }
  check((await fetch(`${base}/api/paint/palette`)).ok, 'the server stopped answering after bad requests');
  // What `curl -d` sends: JSON labelled as a form. Over httplib's 8 KiB form limit the
  // message says to send it as JSON; as JSON the same body is drawn.
  const padded = `{"map": ${zeros}${' '.repeat(12000)}}`;
  const form = await post(padded, 'application/x-www-form-urlencoded');
  check(form.status === 400 && form.error.includes("Content-Type: application/json"),
    `a 12 KB JSON body sent as a form (curl -d) gave ${form.status} "${form.error}"`);
  const asJson = await post(padded);
  check(asJson.status === 200, `a 12 KB JSON body gave ${asJson.status} "${asJson.error}"`);
  log(`bad bodies get 400: "${probes.short[0].error}"`);

  // --- a finger on a narrow screen ------------------------------------------------------------------
  const phone = await browser.newContext({ viewport: { width: 400, height: 860 }, hasTouch: true, isMobile: true });
  page = await phone.newPage();
  watch(page);
  await page.goto(`${base}/`);
  await page.waitForFunction(() => {
    const img = document.querySelector('#pictures img');
    return img && img.complete && img.naturalWidth > 0;
  }, null, { timeout: kStepMs });
  await idle();
  const narrow = await page.evaluate(() => {
    const r = (s) => document.querySelector(s).getBoundingClientRect().toJSON();
    return { canvas: r('#map'), result: r('.result-panel'), paint: r('.canvas-panel'), doc: document.documentElement.scrollWidth };
  });
  check(narrow.doc <= 400, `at 400 px wide the page scrolls sideways (${narrow.doc} px wide)`);
  check(narrow.result.top >= narrow.paint.bottom - 1, 'at 400 px wide the pictures do not stack under the map');
  check(narrow.canvas.right <= 400 && narrow.canvas.width >= 250, `at 400 px wide the map is ${narrow.canvas.width} px wide, right edge ${narrow.canvas.right}`);
  await page.tap('#palette button[data-class="3"]');
  await page.tap('#fill');
  await waitFor(() => paints.length > 0 && lastPaint().map.every((v) => v === 3) && paints[paints.length - 1].done, 'the filled map after a tap on Fill all');
  await page.tap('#palette button[data-class="1"]');
  const prevTouch = await pictures();
  from = paints.length;
  const cdp = await phone.newCDPSession(page);
  const cb = narrow.canvas;
  const at = (fx, fy) => ({ x: cb.x + fx * cb.width, y: cb.y + fy * cb.height });
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [at(0.5, 0.2)] });
  for (let i = 1; i <= 10; i++) {
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [at(0.5, 0.2 + 0.06 * i)] });
    await sleep(10);
  }
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  const touched = await canvasMap();
  await waitFor(() => paints.length > from && same(lastPaint().map, touched) && paints[paints.length - 1].done, 'the request after a finger stroke');
  const col = Math.floor(S / 2);
  for (let yy = Math.ceil(0.25 * S); yy < Math.floor(0.75 * S); yy++) {
    check(touched[yy * S + col] === 1, `after a finger stroke map pixel (${col}, ${yy}) is class ${touched[yy * S + col]}; expected 1 (square)`);
  }
  check(touched.some((v) => v === 3), 'the finger stroke painted the whole map');
  await picturesChangedFrom(prevTouch, 'a finger stroke');
  await idle();
  const narrowShot = path.join(outDir, 'paint-narrow.png');
  await page.screenshot({ path: narrowShot, fullPage: true });
  log(`a finger stroke on a 400 px wide screen painted a vertical line and redrew the picture (${narrowShot})`);

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
console.log('paint test passed');
