// The latentkit paint page (GauGAN's demo): paint a label map, see what a spade model draws
// from it, against /api/paint. Plain script, no build step; every element the tests use has
// a stable id or data attribute.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const el = {
    canvas: $('map'), palette: $('palette'), brush: $('brush'), brushValue: $('brush-value'),
    fill: $('fill'), example: $('example'), style: $('style'), seed: $('seed'), count: $('count'),
    pictures: $('pictures'), ms: $('ms'), roundTrip: $('round-trip'), error: $('error'),
    modelInfo: $('model-info'),
  };
  const kMaxSeed = 2 ** 31 - 1;
  // Relative, so the page also works behind a path prefix.
  const api = (path) => 'api/paint' + path;

  let info = null; // GET /api/paint/palette
  let size = 0;
  let map = null; // Uint8Array(size * size): class ids, row by row
  let colors = []; // [r, g, b, a] per class
  let image = null; // ImageData of the map, size x size
  const state = { cls: 0, seed: 0, n: 1, nextExample: 0 };

  // version counts changes to what the picture depends on (map, seed, n). At most one request
  // is in flight; a change while one is out is sent when it lands, always the newest state.
  let version = 0;
  let sentVersion = -1;
  let inFlight = false;

  function showError(message) {
    el.error.textContent = message;
    el.error.hidden = false;
  }
  function clearError() {
    el.error.hidden = true;
    el.error.textContent = '';
  }

  async function getJson(path) {
    let res;
    try {
      res = await fetch(api(path));
    } catch (e) {
      throw new Error(`cannot reach the server for /api/paint${path}: ${e.message}`);
    }
    const data = await res.json().catch(() => null);
    if (!res.ok) throw new Error(`/api/paint${path}: ${res.status} ${(data && data.error) || res.statusText}`);
    if (!data) throw new Error(`/api/paint${path}: the answer is not JSON`);
    return data;
  }

  function parseColor(color) {
    if (color === 'transparent') return [0, 0, 0, 0];
    const v = parseInt(color.slice(1), 16);
    return [(v >> 16) & 255, (v >> 8) & 255, v & 255, 255];
  }

  // --- the map -------------------------------------------------------------------------
  function drawMap() {
    const px = image.data;
    for (let i = 0; i < map.length; i++) px.set(colors[map[i]], 4 * i);
    el.canvas.getContext('2d').putImageData(image, 0, 0);
  }

  function changed() {
    version++;
    drawMap();
    schedule();
  }

  // A disc of the brush's diameter (in map pixels) around (x, y), in map coordinates; at
  // least the pixel under the pointer. Returns whether any pixel changed.
  function stamp(x, y) {
    const r = Number(el.brush.value) / 2;
    let any = false;
    const x0 = Math.max(0, Math.floor(x - r)), x1 = Math.min(size - 1, Math.ceil(x + r));
    const y0 = Math.max(0, Math.floor(y - r)), y1 = Math.min(size - 1, Math.ceil(y + r));
    for (let j = y0; j <= y1; j++) {
      for (let i = x0; i <= x1; i++) {
        const dx = i + 0.5 - x, dy = j + 0.5 - y;
        const under = i === Math.floor(x) && j === Math.floor(y);
        if ((dx * dx + dy * dy <= r * r || under) && map[j * size + i] !== state.cls) {
          map[j * size + i] = state.cls;
          any = true;
        }
      }
    }
    return any;
  }

  // Stamps along the segment, so a fast stroke leaves no gaps.
  function strokeTo(from, to) {
    const step = Math.max(0.5, Number(el.brush.value) / 4);
    const steps = Math.max(1, Math.ceil(Math.hypot(to.x - from.x, to.y - from.y) / step));
    let any = false;
    for (let k = 1; k <= steps; k++) {
      any = stamp(from.x + ((to.x - from.x) * k) / steps, from.y + ((to.y - from.y) * k) / steps) || any;
    }
    return any;
  }

  function mapPoint(e) {
    const r = el.canvas.getBoundingClientRect();
    const clamp = (v) => Math.min(size - 1e-3, Math.max(0, v));
    return { x: clamp(((e.clientX - r.left) / r.width) * size), y: clamp(((e.clientY - r.top) / r.height) * size) };
  }

  let last = null; // the pointer's map position during a stroke
  let strokePointer = null;
  el.canvas.addEventListener('pointerdown', (e) => {
    if (!map || strokePointer !== null || (e.pointerType === 'mouse' && e.button !== 0)) return;
    e.preventDefault();
    strokePointer = e.pointerId;
    el.canvas.setPointerCapture(e.pointerId);
    last = mapPoint(e);
    if (stamp(last.x, last.y)) changed();
  });
  el.canvas.addEventListener('pointermove', (e) => {
    if (e.pointerId !== strokePointer) return;
    // Coalesced events: every position the pointer passed since the last frame.
    const points = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    let any = false;
    for (const p of points.length ? points : [e]) {
      const next = mapPoint(p);
      any = strokeTo(last, next) || any;
      last = next;
    }
    if (any) changed(); // sent now if nothing is in flight, else as soon as the answer lands
  });
  const endStroke = (e) => {
    if (e.pointerId !== strokePointer) return;
    strokePointer = null;
    last = null;
    schedule(); // the stroke's final map goes out (if it has not already)
  };
  el.canvas.addEventListener('pointerup', endStroke);
  el.canvas.addEventListener('pointercancel', endStroke);

  // --- requests ------------------------------------------------------------------------
  function schedule() {
    if (!inFlight && version !== sentVersion) generate();
  }

  async function generate() {
    inFlight = true;
    sentVersion = version;
    el.pictures.classList.add('busy');
    const body = JSON.stringify({ map: Array.from(map), seed: state.seed, n: state.n });
    const t0 = performance.now();
    try {
      let res;
      try {
        res = await fetch(api(''), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
      } catch (e) {
        throw new Error(`cannot reach the server: ${e.message}`);
      }
      const data = await res.json().catch(() => null);
      if (!res.ok) throw new Error(`paint: ${res.status} ${(data && data.error) || res.statusText || 'error'}`);
      if (!data || !Array.isArray(data.images)) throw new Error('paint: the answer holds no images');
      showPictures(data.images);
      await Promise.all([...el.pictures.children].map((img) => img.decode().catch(() => {
        throw new Error('paint: the browser cannot decode the images the server sent');
      })));
      const roundTrip = performance.now() - t0;
      el.ms.textContent = typeof data.ms === 'number' ? `${data.ms.toFixed(1)} ms` : '';
      el.roundTrip.textContent = `on the server · ${roundTrip.toFixed(1)} ms until shown`;
      clearError();
    } catch (e) {
      showError(e.message);
      el.ms.textContent = '';
      el.roundTrip.textContent = `failed after ${(performance.now() - t0).toFixed(1)} ms`;
      // Not sent again until something changes: a bad state would fail in a loop.
    } finally {
      inFlight = false;
      el.pictures.classList.remove('busy');
      schedule();
    }
  }

  function showPictures(sources) {
    const imgs = [...el.pictures.children];
    while (imgs.length < sources.length) {
      const img = document.createElement('img');
      img.width = 384;
      img.height = 384;
      el.pictures.append(img);
      imgs.push(img);
    }
    imgs.slice(sources.length).forEach((img) => img.remove());
    sources.forEach((src, i) => {
      imgs[i].src = src;
      imgs[i].alt = `picture ${i + 1} of ${sources.length}, style seed ${state.seed}`;
    });
    el.pictures.classList.toggle('one', sources.length === 1);
    el.pictures.classList.toggle('many', sources.length > 1);
  }

  // --- controls ------------------------------------------------------------------------
  function select(cls) {
    state.cls = cls;
    for (const b of el.palette.children) b.setAttribute('aria-checked', String(Number(b.dataset.class) === cls));
  }

  function buildPalette() {
    el.palette.replaceChildren(...info.classes.map((c) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'swatch';
      b.dataset.class = String(c.index);
      b.dataset.color = c.color;
      b.setAttribute('role', 'radio');
      b.title = `paint ${c.name}` + (c.index < 9 ? ` (${c.index + 1})` : '');
      const chip = document.createElement('span');
      chip.className = 'chip' + (c.color === 'transparent' ? ' transparent' : '');
      if (c.color !== 'transparent') chip.style.background = c.color;
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = c.name;
      b.append(chip, name);
      b.addEventListener('click', () => select(c.index));
      return b;
    }));
  }

  function showBrush() {
    el.brushValue.textContent = `${el.brush.value} px`;
  }

  async function loadExample() {
    const k = state.nextExample++;
    const data = await getJson(`/example?seed=${k}`);
    if (!Array.isArray(data.map) || data.map.length !== size * size) {
      throw new Error(`/api/paint/example: expected ${size * size} class ids, got ${data.map && data.map.length}`);
    }
    map.set(data.map);
    el.example.title = `map ${data.index + 1} of ${data.count} from the run's test data; the next one (E)`;
    changed();
  }

  function setSeed(seed) {
    state.seed = seed;
    el.seed.value = String(seed);
    version++;
    schedule();
  }

  el.brush.addEventListener('input', showBrush);
  el.fill.addEventListener('click', () => {
    if (!map) return;
    map.fill(state.cls);
    changed();
  });
  el.example.addEventListener('click', () => loadExample().catch((e) => showError(e.message)));
  el.style.addEventListener('click', () => setSeed(Math.floor(Math.random() * kMaxSeed)));
  el.seed.addEventListener('change', () => {
    const v = Number(el.seed.value);
    if (Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER) setSeed(v);
    else el.seed.value = String(state.seed);
  });
  el.count.addEventListener('change', () => {
    state.n = Number(el.count.value);
    version++;
    schedule();
  });
  document.addEventListener('keydown', (e) => {
    if (!info || e.ctrlKey || e.metaKey || e.altKey || e.target.closest('input, select, textarea')) return;
    const k = Number(e.key);
    if (Number.isInteger(k) && k >= 1 && k <= Math.min(9, info.classes.length)) select(k - 1);
    else if (e.key === 'f') el.fill.click();
    else if (e.key === 'e') el.example.click();
    else if (e.key === 's') el.style.click();
  });

  async function start() {
    try {
      info = await getJson('/palette');
      size = info.size;
      colors = info.classes.map((c) => parseColor(c.color));
      map = new Uint8Array(size * size);
      el.canvas.width = size;
      el.canvas.height = size;
      image = new ImageData(size, size);
      el.brush.max = String(Math.max(4, Math.round(size / 3)));
      el.brush.value = String(Math.max(1, Math.round(size / 10)));
      showBrush();
      for (const option of el.count.options) option.disabled = Number(option.value) > info.max_n;
      el.modelInfo.textContent = `${info.run} · spade · ${size}×${size} map, ${info.palette} palette · ` +
        `${info.classes.length} classes · style latent ${info.latent_dim}`;
      buildPalette();
      select(info.classes.length > 1 ? 1 : 0);
      drawMap();
      await loadExample();
    } catch (e) {
      showError(e.message);
    }
  }
  start();
})();
