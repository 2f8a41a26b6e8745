// The latentkit editor: one image, one slider per latent direction, against /api/v1.
// Plain script, no build step; every element the tests use has a stable id or data attribute.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const el = {
    image: $('image'), frame: document.querySelector('.frame'), seed: $('seed'),
    random: $('random'), classField: $('class-field'), cls: $('class'), reset: $('reset'),
    axes: $('axes'), status: $('status'), error: $('error'), modelInfo: $('model-info'),
    downloadPng: $('download-png'), downloadZ: $('download-z'),
    promptForm: $('prompt-form'), prompt: $('prompt'), guidance: $('guidance'), warnings: $('warnings'),
  };

  // Relative, so the page also works behind a path prefix.
  const api = (path) => 'api/v1/' + path;

  let model = null;
  let axes = [];
  // prompt, guidance: a text-to-image model's (model.text); sent as they were when Draw was pressed.
  const state = { seed: 0, cls: 0, moves: {}, locks: new Set(), prompt: '', guidance: 3 };
  // The last image the server sent, and what produced it (for the downloads).
  let shown = null;

  // At most one request in flight. Input while one is out only marks the state dirty;
  // when the response lands, the newest state goes out, so a drag never queues stale work.
  let inFlight = false;
  let dirty = false;

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
      throw new Error(`cannot reach the server for /api/v1/${path}: ${e.message}`);
    }
    const data = await res.json().catch(() => null);
    if (!res.ok) throw new Error(`/api/v1/${path}: ${res.status} ${(data && data.error) || res.statusText}`);
    if (!data) throw new Error(`/api/v1/${path}: the answer is not JSON`);
    return data;
  }

  function requestBody() {
    const body = { seed: state.seed };
    const moves = {};
    for (const [name, value] of Object.entries(state.moves)) if (value !== 0) moves[name] = value;
    if (Object.keys(moves).length > 0) body.moves = moves;
    if (state.locks.size > 0) body.locks = [...state.locks];
    if (model.num_classes > 0) body.class = state.cls;
    if (model.text) {
      body.prompt = state.prompt;
      if (state.prompt.trim() !== '') body.guidance = state.guidance;
    }
    return body;
  }

  // The server's warnings about the prompt's words it does not know.
  function showWarnings(lines) {
    el.warnings.replaceChildren(...(lines || []).map((line) => Object.assign(document.createElement('li'), { textContent: line })));
    el.warnings.hidden = el.warnings.children.length === 0;
  }

  function schedule() {
    dirty = true;
    if (!inFlight) generate();
  }

  async function generate() {
    dirty = false;
    inFlight = true;
    el.frame.classList.add('busy');
    const sent = requestBody();
    const t0 = performance.now();
    try {
      let res;
      try {
        res = await fetch(api('generate'), {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(sent),
        });
      } catch (e) {
        throw new Error(`cannot reach the server: ${e.message}`);
      }
      const data = await res.json().catch(() => null);
      const roundTrip = performance.now() - t0;
      if (!res.ok) {
        throw new Error(`generate: ${res.status} ${(data && data.error) || res.statusText || 'error'}`);
      }
      if (!data || typeof data.image !== 'string') throw new Error('generate: the answer holds no image');
      el.image.src = data.image;
      try {
        await el.image.decode();
      } catch (e) {
        throw new Error('generate: the browser cannot decode the image the server sent');
      }
      const onScreen = performance.now() - t0;
      shown = { request: sent, z: data.z, edited_z: data.edited_z, image: data.image };
      if (model.text) showWarnings(data.warnings);
      el.downloadPng.disabled = false;
      el.downloadZ.disabled = false;
      const server = typeof data.ms === 'number' ? `server ${data.ms.toFixed(1)} ms · ` : '';
      // Round trip: request out to answer parsed; shown: to the image decoded as well.
      el.status.textContent = `${server}round trip ${roundTrip.toFixed(1)} ms · shown after ${onScreen.toFixed(1)} ms`;
      clearError();
      saveHash();
    } catch (e) {
      showError(e.message);
      el.status.textContent = `failed after ${(performance.now() - t0).toFixed(1)} ms`;
    } finally {
      inFlight = false;
      el.frame.classList.remove('busy');
      if (dirty) generate();
    }
  }

  // --- the controls -------------------------------------------------------------------

  const formatMove = (v) => (v > 0 ? '+' : v < 0 ? '\u2212' : '') + Math.abs(v).toFixed(1);
  const metricLabels = { accuracy: 'accuracy', r2: 'R²', auc: 'AUC', explained_variance: 'explained var.' };

  function qualityText(axis) {
    const q = axis.quality;
    if (!q || typeof q.value !== 'number') return '';
    return `${metricLabels[q.metric] || q.metric} ${q.value.toFixed(2)}`;
  }

  function buildAxes() {
    el.axes.replaceChildren();
    if (axes.length === 0) {
      const p = document.createElement('p');
      p.className = 'empty';
      p.textContent = model.text ? 'No directions: the prompt steers this model (--axes FILE adds sliders).'
        : 'No directions: start the server with --axes FILE.';
      el.axes.append(p);
      return;
    }
    // A heading per source (class probabilities, image attributes, PCA), in file order.
    const kindsBySource = new Map();
    for (const a of axes) {
      if (!kindsBySource.has(a.source)) kindsBySource.set(a.source, new Set());
      kindsBySource.get(a.source).add(a.kind);
    }
    let group = null;
    axes.forEach((axis, i) => {
      const kinds = kindsBySource.get(axis.source);
      if (axis.source !== group) {
        group = axis.source;
        const h = document.createElement('div');
        h.className = 'group';
        const kind = kinds.size === 1 && !kinds.has(axis.source) ? ` · ${axis.kind}` : '';
        h.textContent = `${axis.source || 'other'}${kind}`;
        el.axes.append(h);
      }
      const [lo, hi] = Array.isArray(axis.slider) && axis.slider.length === 2 ? axis.slider : [-3, 3];
      const row = document.createElement('div');
      row.className = 'axis';

      const lockLabel = document.createElement('label');
      lockLabel.className = 'lock';
      lockLabel.title = `lock ${axis.name}: hold it fixed while the other directions move`;
      const lock = document.createElement('input');
      lock.type = 'checkbox';
      lock.dataset.lock = axis.name;
      lock.setAttribute('aria-label', `lock ${axis.name}`);
      lockLabel.append(lock);

      const name = document.createElement('label');
      name.className = 'name';
      name.htmlFor = `axis-${i}`;
      const b = document.createElement('b');
      b.textContent = axis.label || axis.name; // the API keys on name; label is for people
      const meta = document.createElement('span');
      meta.className = 'meta';
      // The heading names the source, and the kind when the whole group shares it.
      const kind = kinds.size > 1 ? axis.kind : '';
      meta.textContent = [kind, qualityText(axis)].filter(Boolean).join(' · ');
      name.title = [axis.kind, axis.source, qualityText(axis)].filter(Boolean).join(' · ');
      name.append(b, meta);

      const readout = document.createElement('output');
      readout.className = 'value';

      const slider = document.createElement('input');
      slider.type = 'range';
      slider.id = `axis-${i}`;
      slider.dataset.axis = axis.name;
      slider.min = String(lo);
      slider.max = String(hi);
      slider.step = '0.1';

      const set = (value) => {
        state.moves[axis.name] = value;
        slider.value = String(value);
        readout.textContent = formatMove(value);
        row.classList.toggle('moved', value !== 0);
      };
      const initial = Math.min(hi, Math.max(lo, state.moves[axis.name] || 0));
      set(initial);
      lock.checked = state.locks.has(axis.name);
      row.classList.toggle('locked', lock.checked);

      slider.addEventListener('input', () => {
        const v = parseFloat(slider.value);
        state.moves[axis.name] = v;
        readout.textContent = formatMove(v);
        row.classList.toggle('moved', v !== 0);
        schedule();
      });
      slider.addEventListener('dblclick', () => { set(0); schedule(); });
      lock.addEventListener('change', () => {
        if (lock.checked) state.locks.add(axis.name); else state.locks.delete(axis.name);
        row.classList.toggle('locked', lock.checked);
        schedule();
      });
      row.resetMove = () => set(0);

      row.append(lockLabel, name, readout, slider);
      el.axes.append(row);
    });
  }

  // Six digits: easy to read back and type in again.
  const randomSeed = () => Math.floor(Math.random() * 1e6);

  function setSeed(seed) {
    state.seed = seed;
    el.seed.value = String(seed);
    el.seed.setCustomValidity('');
  }

  el.random.addEventListener('click', () => { setSeed(randomSeed()); schedule(); });
  el.seed.addEventListener('input', () => {
    const text = el.seed.value.trim();
    if (text === '') return; // mid-edit
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
      el.seed.setCustomValidity('a whole number from 0');
      el.seed.reportValidity();
      return;
    }
    el.seed.setCustomValidity('');
    state.seed = Number(text);
    schedule();
  });
  el.cls.addEventListener('change', () => { state.cls = Number(el.cls.value); schedule(); });
  // A sample takes a while: the prompt goes out on Draw (or Enter), not on every key.
  el.promptForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const g = Number(el.guidance.value);
    if (!Number.isFinite(g) || g < 1 || g > 20) {
      el.guidance.setCustomValidity('a number from 1 to 20');
      el.guidance.reportValidity();
      return;
    }
    el.guidance.setCustomValidity('');
    state.prompt = el.prompt.value;
    state.guidance = g;
    schedule();
  });
  el.reset.addEventListener('click', () => {
    for (const row of el.axes.children) if (row.resetMove) row.resetMove();
    schedule();
  });
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    const typing = t instanceof HTMLSelectElement ||
      (t instanceof HTMLInputElement && t.type !== 'range' && t.type !== 'checkbox');
    if ((e.key === 'r' || e.key === 'R') && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) el.random.click();
  });

  // --- downloads ------------------------------------------------------------------------

  function download(href, filename) {
    const a = document.createElement('a');
    a.href = href;
    a.download = filename;
    document.body.append(a);
    a.click();
    a.remove();
  }
  const baseName = () => `latentkit-seed${shown.request.seed}`;

  el.downloadPng.addEventListener('click', () => { if (shown) download(shown.image, `${baseName()}.png`); });
  el.downloadZ.addEventListener('click', () => {
    if (!shown) return;
    const r = shown.request;
    // POSTing {z, moves, locks, class} from this file to /api/v1/generate gives the same image.
    const code = {
      run: model.run,
      family: model.family,
      latent_dim: model.latent_dim,
      seed: r.seed,
      class: r.class === undefined ? null : r.class,
      ...(model.text ? { prompt: r.prompt, guidance: r.guidance ?? 1 } : {}),
      moves: r.moves || {},
      locks: r.locks || [],
      z: shown.z,
      edited_z: shown.edited_z,
    };
    const blob = new Blob([JSON.stringify(code, null, 1) + '\n'], { type: 'application/json' });
    const url = URL.createObjectURL(blob);
    download(url, `${baseName()}.json`);
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  });

  // --- the state in the address (#seed=3&class=1&m.sandal=1.5&lock=bag) ---------------------

  function saveHash() {
    const p = new URLSearchParams();
    p.set('seed', String(state.seed));
    if (model.num_classes > 0) p.set('class', String(state.cls));
    if (model.text && state.prompt) p.set('prompt', state.prompt);
    if (model.text && state.prompt) p.set('guidance', String(state.guidance));
    for (const [name, v] of Object.entries(state.moves)) if (v !== 0) p.set(`m.${name}`, String(v));
    for (const name of state.locks) p.append('lock', name);
    history.replaceState(null, '', '#' + p.toString());
  }

  function loadHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    const seed = p.get('seed');
    setSeed(seed !== null && /^\d+$/.test(seed) && Number.isSafeInteger(Number(seed)) ? Number(seed) : randomSeed());
    const cls = Number(p.get('class'));
    if (model.num_classes > 0 && Number.isInteger(cls) && cls >= 0 && cls < model.num_classes) state.cls = cls;
    if (model.text && p.get('prompt') !== null) state.prompt = p.get('prompt');
    const guidance = Number(p.get('guidance'));
    if (model.text && p.get('guidance') !== null && guidance >= 1 && guidance <= 20) state.guidance = guidance;
    const names = new Set(axes.map((a) => a.name));
    for (const [key, value] of p) {
      if (key.startsWith('m.') && names.has(key.slice(2)) && Number.isFinite(Number(value))) {
        state.moves[key.slice(2)] = Number(value);
      }
      if (key === 'lock' && names.has(value)) state.locks.add(value);
    }
  }

  // --- start ----------------------------------------------------------------------------

  async function start() {
    try {
      const [m, a] = await Promise.all([getJson('model'), getJson('axes')]);
      model = m;
      axes = Array.isArray(a.axes) ? a.axes : [];
    } catch (e) {
      el.modelInfo.textContent = 'no model';
      showError(e.message);
      return;
    }
    const [c, h, w] = model.image_shape || [1, 0, 0];
    el.modelInfo.textContent = [model.family, model.run, `latent ${model.latent_dim}`,
      `${c}×${h}×${w}`, model.num_classes > 0 ? `${model.num_classes} classes` : model.text ? 'text to image' : 'unconditional',
      model.version && `v${model.version}`].filter(Boolean).join(' · ');
    if (w > 0 && h > 0) {
      el.frame.style.aspectRatio = `${w} / ${h}`;
      // Nearest-neighbour only when enlarging; a big image shrunk that way would alias.
      if (w > 384) el.image.style.imageRendering = 'auto';
    }
    if (model.num_classes > 0) {
      const names = Array.isArray(model.class_names) ? model.class_names : [];
      for (let i = 0; i < model.num_classes; i++) {
        const o = document.createElement('option');
        o.value = String(i);
        o.textContent = names[i] || `class ${i}`;
        el.cls.append(o);
      }
      el.classField.hidden = false;
    }
    loadHash();
    el.cls.value = String(state.cls);
    if (model.text) {
      el.promptForm.hidden = false;
      el.prompt.value = state.prompt;
      el.guidance.value = String(state.guidance);
    }
    buildAxes();
    schedule();
  }

  start();
})();
