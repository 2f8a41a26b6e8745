// Prompts in the browser: the app (web/app/, as `latentkit serve --app` serves it) with a
// text-to-image model loaded from disk, and the editor page (`latentkit serve --run`) of a
// text-to-image run. Both: a prompt typed, an image drawn, unknown words listed under the
// prompt, an empty prompt's error on the page.
// Usage: node tests/web/prompt.test.mjs LATENTKIT_BIN LKRT_BIN APP_DIR MODELS_DIR OUT_DIR
//   APP_DIR: scripts/build app's folder; MODELS_DIR: tests/web/make_models.sh's (tiny-t2i.lkm
//   and its run, tiny-t2i-run). The app's image is checked against the lkrt command's for the
//   same prompt, seed, steps and guidance (alpha to 1 level; color where opaque); the
//   editor's against the API's answer to the same request. Writes prompt-app.png and
//   prompt-editor.png into OUT_DIR (prompt-failure.png when a check fails).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { TestFailure, check, decodePng, freePort, importChromium, log, startServer, waitFor as waitUntil } from './lib.mjs';

const [bin, lkrtBin, appDir, modelsDir, outDir] = process.argv.slice(2).map((a) => path.resolve(a));
if (process.argv.length < 7) {
  console.error('usage: node tests/web/prompt.test.mjs LATENTKIT_BIN LKRT_BIN APP_DIR MODELS_DIR OUT_DIR');
  process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });
const chromium = await importChromium('prompt');
const globalTimer = setTimeout(() => finish(new TestFailure('the test took over 55 s')), 55_000);

let server = null;
let browser = null;
let page = null;
const waitFor = (pred, what, ms = 20_000) => waitUntil(pred, what, ms, () => server?.exit && `the server exited (${server.exit})`);

async function serve(args) {
  await server?.stop();
  const port = await freePort();
  server = startServer(bin, [...args, '--port', String(port), '--threads', '1']);
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => {
    try { return (await fetch(`${base}/`)).ok; } catch { return false; }
  }, `${base}/ to answer`);
  return base;
}

const prompt = 'An emoji in Google style, zzyzx';

async function app() {
  const base = await serve(['serve', '--app', appDir]);
  await page.goto(`${base}/`);
  await waitFor(() => page.evaluate(() => document.body.dataset.ready === '1'), 'the app to start', 30_000);
  await page.setInputFiles('#own-file', path.join(modelsDir, 'tiny-t2i.lkm'));
  await waitFor(() => page.$eval('#status', (e) => /tiny-t2i\.lkm.*loaded/.test(e.textContent)), 'the t2i model to load');
  check(await page.$eval('#smp-prompt-box', (e) => !e.hidden), 'the app shows a prompt box for a text-to-image model');
  check(await page.$eval('#smp-guidance-box', (e) => !e.hidden), 'and its guidance');
  const info = await page.$eval('#info-list', (e) => e.textContent);
  check(/prompts of up to 24 words/.test(info), `the side panel describes the text encoder: ${info}`);

  await page.fill('#smp-seed', '5');
  await page.selectOption('#smp-steps', '10');
  await page.selectOption('#smp-sampler', 'dpmpp');
  await page.fill('#smp-guidance', '3');
  await page.fill('#smp-prompt', prompt);
  await page.press('#smp-prompt', 'Enter');
  const caption = await waitFor(() => page.$eval('#smp-caption', (e) => (e.textContent.includes('zzyzx') ? e.textContent : '')), 'the prompt\'s sample');
  check(/seed 5 · “An emoji in Google style, zzyzx”, guidance 3 · 10 DPM-Solver\+\+ steps/.test(caption), `caption: ${caption}`);
  const warnings = await page.$$eval('#smp-warnings li', (l) => l.map((e) => e.textContent));
  check(warnings.length === 1 && /^unknown word 'zzyzx' \(nearest known: /.test(warnings[0]), `warnings under the prompt: ${JSON.stringify(warnings)}`);
  const shown = await page.$eval('#smp-canvas', (c) => ({ width: c.width, height: c.height, data: Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data) }));

  // The lkrt command, same model and inputs.
  const png = path.join(outDir, 'prompt-lkrt.png');
  execFileSync(lkrtBin, [path.join(modelsDir, 'tiny-t2i.lkm'), '--prompt', prompt, '--seed', '5', '--steps', '10', '--sampler', 'dpmpp',
    '--guidance', '3', '--out', png], { stdio: ['ignore', 'ignore', 'pipe'] });
  const want = decodePng(fs.readFileSync(png), png);
  check(shown.width === want.width && shown.height === want.height, `the canvas is ${shown.width}x${shown.height}, lkrt's ${want.width}x${want.height}`);
  let alphaOff = 0, colorOff = 0, opaque = 0, changed = 0;
  for (let i = 0; i < shown.data.length; i += 4) {
    alphaOff = Math.max(alphaOff, Math.abs(shown.data[i + 3] - want.rgba[i + 3]));
    if (want.rgba[i + 3] === 255) {
      opaque++;
      for (let c = 0; c < 3; c++) colorOff = Math.max(colorOff, Math.abs(shown.data[i + c] - want.rgba[i + c]));
    }
  }
  check(alphaOff <= 1 && colorOff <= 1, `the page's image is lkrt's (alpha off by ${alphaOff}, color by ${colorOff} on ${opaque} opaque pixels)`);
  log(`app: ${caption}; ${warnings[0]}; the canvas is lkrt's image (alpha within ${alphaOff}, color within ${colorOff} on ${opaque} opaque pixels)`);

  // Another prompt draws another image; an empty one is the model's "no prompt" sample.
  await page.fill('#smp-prompt', 'twitter style');
  await page.click('#smp-prompt-run');
  await waitFor(() => page.$eval('#smp-caption', (e) => e.textContent.includes('twitter')), 'the second prompt');
  const other = await page.$eval('#smp-canvas', (c) => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data));
  for (let i = 0; i < other.length; i++) changed += other[i] !== shown.data[i];
  check(changed > 0, 'another prompt must draw another image');
  check(await page.$$eval('#smp-warnings li', (l) => l.length) === 0, 'known words leave no warning');
  await page.fill('#smp-prompt', '   ');
  await page.press('#smp-prompt', 'Enter');
  await waitFor(() => page.$eval('#smp-caption', (e) => e.textContent.includes('no prompt')), 'the no-prompt sample');
  await page.screenshot({ path: path.join(outDir, 'prompt-app.png'), fullPage: true });
  log(`app: another prompt changes ${changed} of ${other.length} bytes; an empty prompt samples with no prompt`);
}

async function editor() {
  const base = await serve(['serve', '--run', path.join(modelsDir, 'tiny-t2i-run')]);
  const model = await (await fetch(`${base}/api/v1/model`)).json();
  check(model.family === 't2i' && model.text?.max_tokens === 24, `GET /api/v1/model: ${JSON.stringify(model)}`);
  await page.goto(`${base}/#seed=7`);
  await waitFor(() => page.$eval('#prompt-form', (e) => !e.hidden), 'the editor\'s prompt box');
  await waitFor(() => page.$eval('#status', (e) => e.textContent.includes('round trip')), 'the first image');
  await page.fill('#prompt', prompt);
  await page.fill('#guidance', '2');
  const first = await page.$eval('#image', (e) => e.src);
  await page.press('#prompt', 'Enter');
  await waitFor(() => page.$eval('#image', (e, first) => e.src !== first, first), 'the prompt\'s image');
  const warnings = await waitFor(() => page.$$eval('#warnings li', (l) => l.map((e) => e.textContent)).then((w) => (w.length ? w : null)),
    'the warnings under the prompt');
  check(warnings.length === 1 && /^unknown word 'zzyzx' \(nearest known: /.test(warnings[0]), `editor warnings: ${JSON.stringify(warnings)}`);
  const src = await page.$eval('#image', (e) => e.src);
  const reply = await (await fetch(`${base}/api/v1/generate`, {
    method: 'POST', body: JSON.stringify({ seed: 7, prompt, guidance: 2 }),
  })).json();
  check(reply.image === src, 'the editor shows what POST /api/v1/generate answers for the same seed, prompt and guidance');
  check(JSON.stringify(reply.warnings) === JSON.stringify(warnings) && reply.prompt === prompt, `the API's warnings: ${JSON.stringify(reply.warnings)}`);
  const hash = await page.evaluate(() => decodeURIComponent(location.hash));
  check(hash.includes('prompt=An emoji in Google style, zzyzx'.replace(/ /g, '+')) || hash.includes(`prompt=${prompt}`), `the prompt is in the address: ${hash}`);
  await page.screenshot({ path: path.join(outDir, 'prompt-editor.png'), fullPage: true });
  log(`editor: the prompt's image is the API's (${reply.ms.toFixed(0)} ms on the server); ${warnings[0]}`);

  await page.fill('#prompt', '?!');
  await page.press('#prompt', 'Enter');
  const error = await waitFor(() => page.$eval('#error', (e) => (e.hidden ? '' : e.textContent)), 'the empty prompt\'s error');
  check(/400 the prompt is empty/.test(error), `an empty prompt's error on the page: ${error}`);
  log(`editor: an empty prompt shows '${error}'`);
}

async function finish(error) {
  clearTimeout(globalTimer);
  if (error && page) await page.screenshot({ path: path.join(outDir, 'prompt-failure.png'), fullPage: true, timeout: 5000 }).catch(() => {});
  if (browser) await browser.close().catch(() => {});
  await server?.stop();
  if (error) {
    console.error(error instanceof TestFailure ? `FAIL: ${error.message}` : error);
    if (server?.output) console.error(`server output:\n${server.output.trim().slice(-1500)}`);
    process.exit(1);
  }
  console.log('PASS');
  process.exit(0);
}

try {
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
  page = await (await browser.newContext({ viewport: { width: 1200, height: 900 } })).newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await app();
  await editor();
  check(errors.length === 0, `errors in the pages: ${errors.slice(0, 3).join(' | ')}`);
  await finish(null);
} catch (e) {
  await finish(e);
}
