// The app's paint panel: a mask generator (latentkit's spade) draws what you paint. A label
// map of class ids is painted with the pointer in the model's own palette (it travels in the
// .lkm), and lkrt draws it in this page, in the style of a seed, as the server's paint page
// does with /api/paint. Every element the tests use has a stable id or data attribute.

const $ = (id) => document.getElementById(id);
const kMaxSeed = 2 ** 31 - 1;

const state = {
  model: null,
  hooks: null,     // { showError, clearError, setTiming, loadImageData }
  map: null,       // Uint8Array(width * height): class ids, row by row
  image: null,     // ImageData of the map
  colors: [],      // [r, g, b, a] per class
  cls: 0,
  examples: [],    // URLs of example maps (PNG in the palette's colors)
  nextExample: 0,
  frame: 0,
  version: 0,      // changes to what the picture depends on (the map, the seed)
  drawn: -1,
};

const width = () => state.model.info.width;
const height = () => state.model.info.height;

function drawMap() {
  const px = state.image.data;
  for (let i = 0; i < state.map.length; i++) px.set(state.colors[state.map[i]], 4 * i);
  $('paint-map').getContext('2d').putImageData(state.image, 0, 0);
}

// The picture of the current map and seed, once per animation frame at most.
function schedule() {
  state.version++;
  if (!state.frame) state.frame = requestAnimationFrame(() => { state.frame = 0; render(); });
}

function render() {
  const model = state.model;
  if (!model || !model.alive || state.drawn === state.version) return;
  const seed = Number($('paint-seed').value);
  const t0 = performance.now();
  let picture;
  try {
    picture = model.generateMap({ map: state.map, seed });
  } catch (e) {
    state.hooks.showError('Drawing the map failed: ', e);
    return;
  }
  const ms = performance.now() - t0;
  state.drawn = state.version;
  const canvas = $('paint-canvas');
  canvas.width = picture.width;
  canvas.height = picture.height;
  canvas.getContext('2d').putImageData(picture, 0, 0);
  canvas.dataset.seed = String(seed);
  canvas.dataset.version = String(state.version);
  $('paint-caption').textContent = `style seed ${seed} · ${ms >= 100 ? ms.toFixed(0) : ms.toFixed(1)} ms`;
  state.hooks.setTiming(ms, 'per picture');
}

function changed() {
  drawMap();
  schedule();
}

// A disc of the brush's diameter (in map pixels) around (x, y), at least the pixel under
// the pointer. Returns whether any pixel changed.
function stamp(x, y) {
  const r = Number($('paint-brush').value) / 2;
  const w = width(), h = height();
  let any = false;
  const x0 = Math.max(0, Math.floor(x - r)), x1 = Math.min(w - 1, Math.ceil(x + r));
  const y0 = Math.max(0, Math.floor(y - r)), y1 = Math.min(h - 1, Math.ceil(y + r));
  for (let j = y0; j <= y1; j++) {
    for (let i = x0; i <= x1; i++) {
      const dx = i + 0.5 - x, dy = j + 0.5 - y;
      const under = i === Math.floor(x) && j === Math.floor(y);
      if ((dx * dx + dy * dy <= r * r || under) && state.map[j * w + i] !== state.cls) {
        state.map[j * w + i] = state.cls;
        any = true;
      }
    }
  }
  return any;
}

// Stamps along the segment, so that a fast stroke leaves no gaps.
function strokeTo(from, to) {
  const step = Math.max(0.5, Number($('paint-brush').value) / 4);
  const steps = Math.max(1, Math.ceil(Math.hypot(to.x - from.x, to.y - from.y) / step));
  let any = false;
  for (let k = 1; k <= steps; k++) any = stamp(from.x + ((to.x - from.x) * k) / steps, from.y + ((to.y - from.y) * k) / steps) || any;
  return any;
}

function mapPoint(e) {
  const r = $('paint-map').getBoundingClientRect();
  const clamp = (v, n) => Math.min(n - 1e-3, Math.max(0, v));
  return { x: clamp(((e.clientX - r.left) / r.width) * width(), width()), y: clamp(((e.clientY - r.top) / r.height) * height(), height()) };
}

function select(cls) {
  state.cls = cls;
  for (const b of $('paint-palette').children) b.setAttribute('aria-checked', String(Number(b.dataset.class) === cls));
}

const cssColor = ([r, g, b, a]) => (a === 0 ? 'transparent' : `#${[r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('')}`);

function buildPalette(palette) {
  $('paint-palette').replaceChildren(...palette.classes.map((c, index) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'swatch';
    b.dataset.class = String(index);
    b.dataset.color = cssColor(c.color);
    b.setAttribute('role', 'radio');
    b.title = `paint ${c.name}` + (index < 9 ? ` (${index + 1})` : '');
    const chip = document.createElement('span');
    chip.className = 'chip' + (c.color[3] === 0 ? ' transparent' : '');
    if (c.color[3] !== 0) chip.style.background = b.dataset.color;
    const name = document.createElement('span');
    name.textContent = c.name;
    b.append(chip, name);
    b.addEventListener('click', () => select(index));
    return b;
  }));
}

async function loadExample() {
  if (!state.examples.length) return;
  const k = state.nextExample++ % state.examples.length;
  const url = state.examples[k];
  const model = state.model;
  const image = await state.hooks.loadImageData(url);
  if (state.model !== model) return;
  if (image.width !== width() || image.height !== height()) {
    throw new Error(`${url} is ${image.width}x${image.height}, the model draws ${width()}x${height()}`);
  }
  state.map.set(model.mapFromImage(image));
  $('paint-example').title = `example map ${k + 1} of ${state.examples.length}; the next one (E)`;
  $('paint-map').dataset.example = String(k);
  changed();
}

// A map to start from when the model came without examples: the first class, and a disc
// of the second in the middle.
function defaultMap() {
  const w = width(), h = height(), r = Math.min(w, h) / 4;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) state.map[y * w + x] = (x + 0.5 - w / 2) ** 2 + (y + 0.5 - h / 2) ** 2 <= r * r ? 1 : 0;
}

/** Shows model (a mask generator) in the panel; entry.maps: URLs of example maps. */
export async function setupPaint(entry, model, hooks) {
  state.model = model;
  state.hooks = hooks;
  const { palette } = model.info;
  const w = width(), h = height();
  state.colors = palette.classes.map((c) => c.color);
  state.map = new Uint8Array(w * h);
  state.image = new ImageData(w, h);
  state.examples = Array.isArray(entry.maps) ? entry.maps : [];
  state.nextExample = 0;
  state.drawn = -1;
  const canvas = $('paint-map');
  canvas.width = w;
  canvas.height = h;
  $('paint-brush').max = String(Math.max(4, Math.round(Math.max(w, h) / 3)));
  $('paint-brush').value = String(Math.max(1, Math.round(Math.max(w, h) / 10)));
  $('paint-brush-value').textContent = `${$('paint-brush').value} px`;
  $('paint-example').hidden = state.examples.length === 0;
  $('paint-palette-name').textContent = `${palette.name} palette`;
  buildPalette(palette);
  select(palette.classes.length > 1 ? 1 : 0);
  defaultMap();
  drawMap();
  try {
    await loadExample();
  } catch (e) {
    hooks.showError('Could not read the example map: ', e);
  }
  schedule();
}

/** Event handlers of the panel; once. */
export function wirePaint() {
  const canvas = $('paint-map');
  let last = null;
  let pointer = null;
  canvas.addEventListener('pointerdown', (e) => {
    if (!state.map || pointer !== null || (e.pointerType === 'mouse' && e.button !== 0)) return;
    e.preventDefault();
    pointer = e.pointerId;
    canvas.setPointerCapture(e.pointerId);
    last = mapPoint(e);
    if (stamp(last.x, last.y)) changed();
  });
  canvas.addEventListener('pointermove', (e) => {
    if (e.pointerId !== pointer) return;
    const points = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    let any = false;
    for (const p of points.length ? points : [e]) {
      const next = mapPoint(p);
      any = strokeTo(last, next) || any;
      last = next;
    }
    if (any) changed();
  });
  const end = (e) => {
    if (e.pointerId !== pointer) return;
    pointer = null;
    last = null;
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  $('paint-brush').addEventListener('input', () => { $('paint-brush-value').textContent = `${$('paint-brush').value} px`; });
  $('paint-fill').addEventListener('click', () => {
    if (!state.map) return;
    state.map.fill(state.cls);
    changed();
  });
  $('paint-example').addEventListener('click', () => loadExample().catch((e) => state.hooks.showError('Could not read the example map: ', e)));
  $('paint-style').addEventListener('click', () => {
    $('paint-seed').value = String(Math.floor(Math.random() * kMaxSeed));
    schedule();
  });
  $('paint-seed').addEventListener('change', () => {
    const v = Math.floor(Number($('paint-seed').value));
    $('paint-seed').value = String(Number.isFinite(v) && v >= 0 ? Math.min(v, kMaxSeed) : 0);
    schedule();
  });
  document.addEventListener('keydown', (e) => {
    if ($('paint').hidden || !state.model || e.ctrlKey || e.metaKey || e.altKey || e.target.closest('input, select, textarea')) return;
    const k = Number(e.key);
    if (Number.isInteger(k) && k >= 1 && k <= Math.min(9, state.colors.length)) select(k - 1);
    else if (e.key === 'f') $('paint-fill').click();
    else if (e.key === 'e' && !$('paint-example').hidden) $('paint-example').click();
    else if (e.key === 's') $('paint-style').click();
  });
}
