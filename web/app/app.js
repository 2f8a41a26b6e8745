// latentkit in the browser: pick a model from models.json (written by scripts/build app),
// then generate, enhance, sample, paint a label map or draw the wallpaper of a date with lkrt in WebAssembly. Every file comes from this
// page's own folder; once the model files are fetched nothing else is requested.
import { isa, load } from './lkrt.mjs';
import { applyMoves, dot, predict, readAxes } from './steer.js';
import { KINDS, degrade } from './degrade.js';
import { Gallery } from './gallery.js';
import { setupPaint, wirePaint } from './paint.js';
import { drawToday, setupWallpaper, wireWallpaper } from './wallpaper.js';

const $ = (id) => document.getElementById(id);

const kMaxUploadSide = 512;  // larger uploads are scaled down: the page runs on one thread
const kKindTitles = { generator: 'Generators', enhancer: 'Enhancers', denoiser: 'Diffusion models', 'mask-generator': 'Paint a map (mask to image)', wallpaper: 'Wallpaper of the day' };

const state = {
  entries: [],          // models.json's models, plus any file the user loads
  bytes: new Map(),     // file -> Promise<ArrayBuffer>
  models: new Map(),    // file -> Promise<Model>
  entry: null,          // the shown entry and its model
  model: null,
  axes: null,           // [{name, label, direction, ...}] of the shown generator, or null
  moves: {},            // axis index -> amount
  locks: new Set(),     // axis indices
  token: 0,             // the latest selection; older loads that finish late are dropped
  source: null,         // the enhancer's original ImageData
  uploads: [],          // ImageData the user uploaded, by option index
  isa: '',
  moveError: false,     // the error shown is a move that the locks refuse
};

// ---- errors and status --------------------------------------------------------------------

function showError(title, error) {
  const box = $('error');
  box.replaceChildren();
  const strong = document.createElement('strong');
  strong.textContent = title;
  box.append(strong, document.createTextNode(error instanceof Error ? error.message : String(error)));
  box.hidden = false;
}

function clearError() {
  $('error').hidden = true;
  $('error').replaceChildren();
}

function setStatus(text) {
  $('status').textContent = text;
}

const formatBytes = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : `${(n / 1e3).toFixed(1)} KB`);
const formatMs = (ms) => (ms >= 100 ? `${ms.toFixed(0)} ms` : ms >= 10 ? `${ms.toFixed(1)} ms` : `${ms.toFixed(2)} ms`);
const channelsName = (c) => ({ 1: 'gray', 3: 'RGB', 4: 'RGBA' })[c] ?? `${c} channels`;

// ---- files and models ---------------------------------------------------------------------

function fetchBytes(file) {
  if (!state.bytes.has(file)) {
    const p = fetch(file).then(async (r) => {
      if (!r.ok) throw new Error(`${file}: HTTP ${r.status} ${r.statusText} (is it in the app folder? scripts/build app writes it)`);
      return r.arrayBuffer();
    });
    p.catch(() => state.bytes.delete(file));  // a later try fetches again
    state.bytes.set(file, p);
  }
  return state.bytes.get(file);
}

function loadModel(entry) {
  const key = entry.key ?? entry.file;
  if (!state.models.has(key)) {
    const p = (async () => {
      const bytes = entry.data ?? (await fetchBytes(entry.file));
      const t0 = performance.now();
      const model = await load(bytes);
      return { model, bytes: bytes.byteLength, loadMs: performance.now() - t0 };
    })();
    p.catch(() => state.models.delete(key));
    state.models.set(key, p);
  }
  return state.models.get(key);
}

async function loadAxes(entry, model) {
  if (!entry.axes) return null;
  const r = await fetch(entry.axes);
  if (!r.ok) throw new Error(`${entry.axes}: HTTP ${r.status} ${r.statusText}`);
  const json = await r.json();
  const axes = readAxes(json, model.info.latentDim, entry.axes);
  const id = json.meta?.model_id;
  if (id && model.info.id && id !== model.info.id) {
    throw new Error(`${entry.axes} was written for model ${id}, this file is model ${model.info.id}`);
  }
  // Attributes first (they read on any image), then the classes, best fitted first.
  const order = axes.map((a, i) => i);
  order.sort((i, j) => (axes[i].kind === 'logistic') - (axes[j].kind === 'logistic') || axes[j].quality - axes[i].quality);
  return { axes, order };
}

// ---- the model picker ---------------------------------------------------------------------

function fillPicker() {
  const select = $('model');
  select.replaceChildren();
  for (const kind of Object.keys(kKindTitles)) {
    const group = document.createElement('optgroup');
    group.label = kKindTitles[kind];
    state.entries.forEach((e, i) => {
      if (e.kind !== kind) return;
      const option = new Option(e.title, String(i));
      group.append(option);
    });
    if (group.children.length) select.append(group);
  }
  const own = state.entries.filter((e) => !Object.hasOwn(kKindTitles, e.kind));
  for (const e of own) select.append(new Option(e.title, String(state.entries.indexOf(e))));
  select.disabled = false;
}

async function selectEntry(index) {
  const entry = state.entries[index];
  const token = ++state.token;
  $('model').value = String(index);
  if (entry.name) history.replaceState(null, '', `#${entry.name}`);
  clearError();
  setStatus(`Loading ${entry.title}…`);
  let loaded;
  let axes = null;
  try {
    loaded = await loadModel(entry);
  } catch (e) {
    if (token !== state.token) return;
    showPanels(null);
    showInfo(entry, null);
    showError(`Could not load ${entry.title}: `, e);
    setStatus('No model loaded.');
    return;
  }
  if (token !== state.token) return;
  try {
    axes = await loadAxes(entry, loaded.model);
  } catch (e) {
    if (token === state.token) showError(`The feature axes of ${entry.title} are not usable (the model works without them): `, e);
  }
  if (token !== state.token) return;
  state.entry = entry;
  state.model = loaded.model;
  state.axes = axes;
  state.moves = {};
  state.locks = new Set();
  entry.loadMs = loaded.loadMs;
  entry.bytes = loaded.bytes;
  showInfo(entry, loaded.model);
  showPanels(loaded.model);
  setStatus(`${entry.title} loaded in ${formatMs(loaded.loadMs)}.`);
  const kind = loaded.model.info.kind;
  if (kind === 'generator') setupGenerator(entry, loaded.model);
  else if (kind === 'enhancer') await setupEnhancer(entry, loaded.model);
  else if (kind === 'denoiser') setupSampler(entry, loaded.model);
  else if (kind === 'mask-generator') {
    await setupPaint(entry, loaded.model, { showError, clearError, setTiming, loadImageData: async (url) => imageDataOf(await imageFromUrl(url)) });
  } else if (kind === 'wallpaper') setupWallpaper(entry, loaded.model, { showError, clearError, setTiming, formatMs });
}

function showPanels(model) {
  const kind = model?.info.kind;
  $('generate').hidden = kind !== 'generator';
  $('enhance').hidden = kind !== 'enhancer';
  $('sample').hidden = kind !== 'denoiser';
  $('paint').hidden = kind !== 'mask-generator';
  $('wallpaper').hidden = kind !== 'wallpaper';
  $('empty').hidden = Boolean(kind);
  $('axes').hidden = !(kind === 'generator' && state.axes);
}

function showInfo(entry, model, lastMs = null, what = 'last call') {
  $('info-title').textContent = entry.title;
  $('info-summary').textContent = model ? entry.about ?? '' : 'Not loaded: see the message above.';
  const rows = [];
  const add = (k, v) => rows.push([k, v]);
  add('File', entry.file ?? entry.title);
  if (entry.bytes) add('Size', formatBytes(entry.bytes));
  if (model) {
    const i = model.info;
    add('Kind', i.kind.replace('-', ' ') + (i.kind === 'denoiser' ? ` (${i.timesteps} steps, predicts ${i.prediction})` : ''));
    if (i.kind === 'wallpaper') add('Image', `any size, RGB, drawn in cells of ${i.cell} px`);
    else add('Image', `${i.width} × ${i.height}, ${channelsName(i.channels)}` + (i.kind === 'enhancer' ? ' (any size)' : ''));
    if (i.moods.length) add('Moods', i.moods.join(', '));
    if (i.latentDim && i.kind === 'generator') add('Latent', `${i.latentDim} numbers`);
    if (i.palette) add('Palette', `${i.palette.name}: ${i.palette.classes.map((c) => c.name).join(', ')}`);
    else if (i.classes) add('Classes', String(i.classes));
    if (i.latentDim && i.kind === 'mask-generator') add('Style', `${i.latentDim} numbers`);
    if (i.textWidth) add('Text', `prompts of up to ${i.maxTokens} words, ${(i.vocabSize - 2).toLocaleString('en')} known words`);
    const weights = i.weights === 'mixed' && entry.weights ? `${entry.weights} (some layers fp32)` : i.weights;
    add('Weights', `${weights}, ${(i.params / 1e6).toFixed(2)} M parameters`);
    add('Work', `${(i.flops / 1e6).toFixed(1)} MFLOP per ${i.kind === 'wallpaper' ? `${i.width} × ${i.height} pixels of the render` : 'call'}`);
    add('Load', formatMs(entry.loadMs ?? 0));
    add('Time', lastMs == null ? '—' : `${formatMs(lastMs)} ${what}`);
    add('Runtime', `lkrt, WebAssembly (${state.isa}), 1 thread`);
  }
  $('info-list').replaceChildren(
    ...rows.flatMap(([k, v]) => {
      const dt = document.createElement('dt');
      dt.textContent = k;
      const dd = document.createElement('dd');
      dd.textContent = v;
      if (k === 'Time') dd.id = 'info-ms';
      return [dt, dd];
    }),
  );
}

function setTiming(ms, what) {
  const dd = $('info-ms');
  if (dd) dd.textContent = `${formatMs(ms)} ${what}`;
}

function classNames(entry, model) {
  const n = model.info.classes;
  const names = Array.isArray(entry.classes) && entry.classes.length === n ? entry.classes : null;
  return Array.from({ length: n }, (_, i) => (names ? names[i] : `class ${i}`));
}

function fillClasses(select, names, none) {
  select.replaceChildren();
  if (none) select.append(new Option(none, '-1'));
  names.forEach((name, i) => select.append(new Option(name, String(i))));
}

function drawInto(canvas, image) {
  canvas.width = image.width;
  canvas.height = image.height;
  canvas.getContext('2d').putImageData(image, 0, 0);
  canvas.closest('.stage')?.classList.toggle('pixels', Math.max(image.width, image.height) <= 32);
}

const randomSeed = () => Math.floor(Math.random() * 1e6);

// ---- generate, with the feature axes ------------------------------------------------------

function setupGenerator(entry, model) {
  const names = classNames(entry, model);
  $('gen-class-box').hidden = names.length === 0;
  fillClasses($('gen-class'), names);
  buildAxes();
  renderGenerator();
}

let pendingFrame = 0;
function scheduleGenerator() {
  if (!pendingFrame) pendingFrame = requestAnimationFrame(() => { pendingFrame = 0; renderGenerator(); });
}

function renderGenerator() {
  const model = state.model;
  if (!model || model.info.kind !== 'generator') return;
  const seed = Math.max(0, Math.floor(Number($('gen-seed').value) || 0));
  const label = model.info.classes ? Number($('gen-class').value) : -1;
  let z = model.normals(seed, model.info.latentDim);
  if (state.axes) {
    try {
      z = applyMoves(state.axes.axes, z, state.moves, [...state.locks]);
      if (state.moveError) clearError();
      state.moveError = false;
    } catch (e) {
      showError('Cannot move along that axis: ', e);
      state.moveError = true;
      return;
    }
  }
  const t0 = performance.now();
  let image;
  try {
    image = model.generate({ z, label });
  } catch (e) {
    showError('Generate failed: ', e);
    return;
  }
  const ms = performance.now() - t0;
  drawInto($('gen-canvas'), image);
  const canvas = $('gen-canvas');
  canvas.dataset.seed = String(seed);
  canvas.dataset.label = String(label);
  const cls = label >= 0 ? ` · ${$('gen-class').selectedOptions[0]?.textContent}` : '';
  const moved = Object.values(state.moves).filter(Boolean).length;
  $('gen-caption').textContent = `seed ${seed}${cls}${moved ? ` · ${moved} axis move${moved > 1 ? 's' : ''}` : ''} · ${formatMs(ms)}`;
  setTiming(ms, 'per image');
  updateAxisValues(z);
}

function buildAxes() {
  const list = $('axes-list');
  list.replaceChildren();
  if (!state.axes) return;
  const { axes, order } = state.axes;
  for (const i of order) {
    const a = axes[i];
    const row = document.createElement('div');
    row.className = 'axis';
    row.dataset.axis = a.name;
    const lock = document.createElement('label');
    lock.className = 'lock';
    lock.title = `Lock ${a.label}: other moves leave it where it is`;
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.className = 'axis-lock';
    box.setAttribute('aria-label', `lock ${a.label}`);
    lock.append(box, padlock());
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = a.label;
    const q = a.metric ? `${a.metric} ${a.quality.toFixed(2)}` : '';
    name.title = `${a.label}: ${a.kind} axis (${a.source})${q ? `, fit ${q}` : ''}`;
    const slider = document.createElement('input');
    slider.type = 'range';
    slider.className = 'axis-move';
    slider.min = '-3';
    slider.max = '3';
    slider.step = '0.05';
    slider.value = '0';
    slider.setAttribute('aria-label', `move along ${a.label}`);
    const value = document.createElement('span');
    value.className = 'value';
    row.append(lock, name, slider, value);
    list.append(row);
    slider.addEventListener('input', () => {
      state.moves[i] = Number(slider.value);
      scheduleGenerator();
    });
    box.addEventListener('change', () => {
      if (box.checked) state.locks.add(i);
      else state.locks.delete(i);
      row.classList.toggle('locked', box.checked);
      scheduleGenerator();
    });
  }
}

// A padlock drawn in SVG (no icon font, no file): the shackle slides open when unlocked.
function padlock() {
  const svg = (tag, attributes) => {
    const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [name, value] of Object.entries(attributes)) e.setAttribute(name, value);
    return e;
  };
  const icon = svg('svg', { viewBox: '0 0 16 16', 'aria-hidden': 'true' });
  icon.append(
    svg('path', { class: 'shackle', d: 'M5 7V5a3 3 0 0 1 6 0v2', fill: 'none', stroke: 'currentColor', 'stroke-width': '1.6' }),
    svg('rect', { x: '3', y: '7', width: '10', height: '7.5', rx: '1.5', fill: 'currentColor' }));
  return icon;
}

// Each axis shows what its fit predicts at the current latent: a probability for a class,
// the attribute's value for the others. data-coord is the latent's coordinate along it,
// which a lock holds exactly.
function updateAxisValues(z) {
  if (!state.axes) return;
  const { axes } = state.axes;
  for (const row of $('axes-list').children) {
    const i = axes.findIndex((a) => a.name === row.dataset.axis);
    const a = axes[i];
    const v = predict(a, z);
    row.dataset.coord = String(dot(a.direction, z));
    row.dataset.value = String(v);
    row.querySelector('.value').textContent = a.kind === 'logistic' ? `${(100 * v).toFixed(0)}%` : v.toFixed(2);
  }
}

function resetAxes() {
  state.moves = {};
  state.locks = new Set();
  for (const row of $('axes-list').children) {
    row.querySelector('.axis-move').value = '0';
    row.querySelector('.axis-lock').checked = false;
    row.classList.remove('locked');
  }
  renderGenerator();
}

// ---- enhance ------------------------------------------------------------------------------

function imageFromUrl(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`cannot read the image ${url}`));
    img.src = url;
  });
}

function imageDataOf(img, maxSide = Infinity) {
  const scale = Math.min(1, maxSide / Math.max(img.naturalWidth, img.naturalHeight));
  const w = Math.max(1, Math.round(img.naturalWidth * scale));
  const h = Math.max(1, Math.round(img.naturalHeight * scale));
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0, w, h);
  return ctx.getImageData(0, 0, w, h);
}

async function setupEnhancer(entry) {
  const select = $('enh-source');
  select.replaceChildren();
  (entry.samples ?? []).forEach((s, i) => select.append(new Option(s.title ?? `sample ${i + 1}`, `sample:${i}`)));
  state.uploads.forEach((u, i) => select.append(new Option(u.title, `upload:${i}`)));
  configureAmount();
  await pickSource();
}

async function pickSource() {
  const value = $('enh-source').value;
  const entry = state.entry;
  try {
    if (value.startsWith('upload:')) {
      state.source = state.uploads[Number(value.slice(7))].image;
    } else if (value.startsWith('sample:')) {
      const sample = entry.samples[Number(value.slice(7))];
      state.source = imageDataOf(await imageFromUrl(sample.src));
    } else {
      state.source = null;
    }
  } catch (e) {
    showError('Could not read the image: ', e);
    return;
  }
  await runEnhance();
}

function configureAmount() {
  const kind = $('enh-kind').value;
  const k = KINDS[kind];
  const amount = $('enh-amount');
  amount.closest('label').hidden = !k;
  if (!k) return;
  $('enh-amount-label').textContent = k.amount;
  amount.min = String(k.min);
  amount.max = String(k.max);
  amount.step = String(k.step);
  amount.value = String(k.value);
  $('enh-amount-value').textContent = String(k.value);
}

// PSNR of two images of the same size, over premultiplied RGBA, in dB.
function psnr(a, b) {
  let se = 0;
  for (let i = 0; i < a.data.length; i += 4) {
    const aa = a.data[i + 3] / 255;
    const ba = b.data[i + 3] / 255;
    for (let c = 0; c < 3; c++) {
      const d = (a.data[i + c] / 255) * aa - (b.data[i + c] / 255) * ba;
      se += d * d;
    }
    se += (aa - ba) ** 2;
  }
  const mse = se / a.data.length;
  return mse > 0 ? 10 * Math.log10(1 / mse) : Infinity;
}

let enhanceRun = 0;
async function runEnhance() {
  const model = state.model;
  if (!model || model.info.kind !== 'enhancer' || !state.source) return;
  const run = ++enhanceRun;
  const kind = $('enh-kind').value;
  const amount = Number($('enh-amount').value);
  let input;
  try {
    input = kind === 'none' ? state.source : await degrade(state.source, kind, amount, 7);
  } catch (e) {
    showError('Could not damage the image: ', e);
    return;
  }
  if (run !== enhanceRun || state.model !== model) return;
  const t0 = performance.now();
  let output;
  try {
    output = model.enhance(input);
  } catch (e) {
    showError('Enhance failed: ', e);
    return;
  }
  const ms = performance.now() - t0;
  drawInto($('enh-original'), state.source);
  drawInto($('enh-input'), input);
  drawInto($('enh-output'), output);
  const pIn = psnr(state.source, input);
  const pOut = psnr(state.source, output);
  const db = (p) => (Number.isFinite(p) ? `${p.toFixed(1)} dB` : 'identical');
  $('enh-input-caption').textContent = `Damaged (${kind === 'none' ? 'none' : `${kind} ${amount}`}): ${db(pIn)}`;
  $('enh-output-caption').textContent = `Enhanced: ${db(pOut)} · ${formatMs(ms)}`;
  $('enh-output').dataset.psnrIn = String(pIn);
  $('enh-output').dataset.psnrOut = String(pOut);
  setTiming(ms, `for ${input.width} × ${input.height}`);
}

async function uploadImage(file) {
  const url = URL.createObjectURL(file);
  try {
    const image = imageDataOf(await imageFromUrl(url), kMaxUploadSide);
    state.uploads.push({ title: `Yours: ${file.name}`, image });
    const select = $('enh-source');
    const value = `upload:${state.uploads.length - 1}`;
    select.append(new Option(`Yours: ${file.name}`, value));
    select.value = value;
    clearError();
    await pickSource();
  } catch (e) {
    showError(`Could not read ${file.name}: `, e);
  } finally {
    URL.revokeObjectURL(url);
  }
}

// ---- sample (diffusion) -------------------------------------------------------------------

function setupSampler(entry, model) {
  const names = classNames(entry, model);
  const text = model.info.textWidth > 0;
  $('smp-class-box').hidden = names.length === 0;
  fillClasses($('smp-class'), names, 'any');
  // A class or a prompt with guidance draws a clearer image than none.
  if (names.length) $('smp-class').value = '0';
  $('smp-prompt-box').hidden = !text;
  if (text) {
    $('smp-prompt').value = entry.prompt ?? $('smp-prompt').value ?? '';
    $('smp-guidance').value = '3';
  }
  $('smp-guidance-box').hidden = !text && $('smp-class').value === '-1';
  showWarnings(model);
  $('smp-canvas').width = model.info.width;
  $('smp-canvas').height = model.info.height;
  $('smp-canvas').getContext('2d').clearRect(0, 0, model.info.width, model.info.height);
  runSample();
}

function runSample() {
  const model = state.model;
  if (!model || model.info.kind !== 'denoiser') return;
  const button = $('smp-run');
  button.disabled = true;
  button.textContent = 'Sampling…';
  $('smp-caption').textContent = 'Sampling…';
  // Let the page paint the busy state before the (synchronous) sampler runs.
  setTimeout(() => {
    try {
      const seed = Math.max(0, Math.floor(Number($('smp-seed').value) || 0));
      const steps = Number($('smp-steps').value);
      const sampler = $('smp-sampler').value;
      const label = model.info.classes ? Number($('smp-class').value) : -1;
      // A text model's prompt: empty asks for the model's "no prompt" sample.
      const prompt = model.info.textWidth && $('smp-prompt').value.trim() ? $('smp-prompt').value : null;
      const guidance = label >= 0 || prompt !== null ? Math.max(1, Number($('smp-guidance').value) || 1) : 1;
      showWarnings(model);
      const t0 = performance.now();
      const image = model.sample({ seed, steps, sampler, label, prompt, guidance });
      const ms = performance.now() - t0;
      drawInto($('smp-canvas'), image);
      const calls = steps * (guidance !== 1 ? 2 : 1);
      const what = label >= 0 ? $('smp-class').selectedOptions[0].textContent : prompt !== null ? `“${prompt.trim()}”` : model.info.textWidth ? 'no prompt' : '';
      const cls = what ? ` · ${what}${guidance !== 1 ? `, guidance ${guidance}` : ''}` : '';
      $('smp-caption').textContent = `seed ${seed}${cls} · ${steps} ${sampler === 'dpmpp' ? 'DPM-Solver++' : 'DDIM'} steps · ${formatMs(ms)}`;
      $('smp-canvas').dataset.seed = String(seed);
      setTiming(ms / calls, `per network call (${calls} calls)`);
    } catch (e) {
      showError('Sampling failed: ', e);
      $('smp-caption').textContent = '';
    } finally {
      button.disabled = false;
      button.textContent = 'Sample';
    }
  }, 30);
}

// The prompt's unknown words under it, each with the nearest known ones (lkrt's messages).
function showWarnings(model) {
  const list = $('smp-warnings');
  const prompt = $('smp-prompt').value;
  const lines = model.info.textWidth && prompt.trim() ? model.promptWarnings(prompt) : [];
  list.replaceChildren(...lines.map((line) => Object.assign(document.createElement('li'), { textContent: line })));
}

// ---- your own file ------------------------------------------------------------------------

async function loadOwn(file) {
  const data = await file.arrayBuffer();
  const entry = { title: `${file.name} (your file)`, file: `${file.name}, from your disk`, key: `own:${state.entries.length}`, data, kind: 'own' };
  state.entries.push(entry);
  fillPicker();
  await selectEntry(state.entries.length - 1);
  // A file that does not load leaves no entry behind.
  if (!state.models.has(entry.key)) {
    state.entries.pop();
    fillPicker();
    $('model').value = '';
  }
}

// ---- start --------------------------------------------------------------------------------

function wire() {
  wirePaint();
  wireWallpaper();
  $('model').addEventListener('change', () => selectEntry(Number($('model').value)));
  $('own-file').addEventListener('change', (ev) => {
    const file = ev.target.files[0];
    ev.target.value = '';
    if (file) loadOwn(file);
  });
  $('gen-run').addEventListener('click', renderGenerator);
  $('gen-random').addEventListener('click', () => {
    $('gen-seed').value = String(randomSeed());
    renderGenerator();
  });
  $('gen-seed').addEventListener('change', renderGenerator);
  $('gen-class').addEventListener('change', renderGenerator);
  $('axes-reset').addEventListener('click', resetAxes);
  $('enh-source').addEventListener('change', pickSource);
  $('enh-kind').addEventListener('change', () => { configureAmount(); runEnhance(); });
  $('enh-amount').addEventListener('input', () => { $('enh-amount-value').textContent = $('enh-amount').value; });
  $('enh-amount').addEventListener('change', runEnhance);
  $('enh-run').addEventListener('click', runEnhance);
  $('enh-file').addEventListener('change', (ev) => {
    const file = ev.target.files[0];
    ev.target.value = '';
    if (file) uploadImage(file);
  });
  $('smp-run').addEventListener('click', runSample);
  $('smp-random').addEventListener('click', () => { $('smp-seed').value = String(randomSeed()); runSample(); });
  $('smp-class').addEventListener('change', () => { $('smp-guidance-box').hidden = $('smp-class').value === '-1'; });
  $('smp-prompt-box').addEventListener('submit', (ev) => {
    ev.preventDefault();
    runSample();
  });
  $('smp-prompt').addEventListener('input', () => state.model?.info.textWidth && showWarnings(state.model));
}

// Fetches every model file in the background, so the page works offline from then on.
async function prefetch() {
  const files = state.entries.filter((e) => e.file && !e.data).map((e) => e.file);
  let done = 0;
  for (const file of files) {
    try {
      await fetchBytes(file);
      done++;
    } catch {
      // The entry shows its own error when picked.
    }
  }
  document.body.dataset.offline = done === files.length ? 'ready' : 'partial';
  $('offline').textContent = done === files.length
    ? `All ${done} model files are in this page: it works offline from here.`
    : `${done} of ${files.length} model files fetched; the others show an error when picked.`;
}

async function main() {
  wire();
  try {
    state.isa = await isa();
    $('isa').textContent = `(${state.isa})`;
  } catch (e) {
    showError('The WebAssembly runtime did not start: ', e);
    return;
  }
  let manifest;
  try {
    const r = await fetch('models.json');
    if (!r.ok) throw new Error(`models.json: HTTP ${r.status} ${r.statusText}`);
    manifest = await r.json();
    if (!Array.isArray(manifest.models)) throw new Error('models.json has no "models" list');
  } catch (e) {
    showError('Could not read the list of models (build the app with scripts/build app): ', e);
    $('model').replaceChildren(new Option('no models', ''));
    return;
  }
  state.entries = manifest.models.map((m) => ({ ...m }));
  fillPicker();
  const wanted = state.entries.findIndex((e) => e.name && `#${e.name}` === location.hash);
  const gallery = new Gallery($('gallery-grid'), manifest.gallery ?? { images: [] }, (file) =>
    loadModel(state.entries.find((e) => e.file === file) ?? { file }).then((l) => l.model));
  const playGallery = () => gallery.play().then(
    ({ drawn, msPerImage }) => { $('gallery-timing').textContent = `${drawn} previews decoded and drawn, ${formatMs(msPerImage)} each.`; },
    (e) => showError('The gallery could not draw its placeholders: ', e));
  $('gallery-replay').addEventListener('click', playGallery);
  // The header's button: the first wallpaper model, today's picture.
  const wallpaper = state.entries.findIndex((e) => e.kind === 'wallpaper');
  $('wallpaper-of-the-day').hidden = wallpaper < 0;
  $('wallpaper-of-the-day').addEventListener('click', async () => {
    if (state.entry !== state.entries[wallpaper]) await selectEntry(wallpaper);
    if (state.entry === state.entries[wallpaper]) drawToday();
  });
  await selectEntry(wanted >= 0 ? wanted : 0);
  playGallery();
  document.body.dataset.ready = '1';
  prefetch();
}

main();
