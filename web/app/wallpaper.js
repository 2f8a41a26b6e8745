// The app's wallpaper panel: a wallpaper model (latentkit's psgan) draws the picture of a date
// at a phone's size, in this page, as `lkrt MODEL.lkm --size WxH --date D` draws it. The date
// is the device's local calendar date; lkrt reads it as a day of the calendar, with no time
// zone, so a date gives the same picture everywhere. Every element the tests use has an id.

const $ = (id) => document.getElementById(id);
const kScale = 4;  // lkrt's default: the network draws a quarter of each side, upscaled

const state = {
  model: null,
  hooks: null,     // { showError, clearError, setTiming, formatMs }
  timer: 0,
  drawn: 0,        // pictures drawn, for the tests
  failed: false,   // the error shown is this panel's
  url: '',         // the PNG behind the download link
};

const pad = (n) => String(n).padStart(2, '0');

/** The device's local date, YYYY-MM-DD. */
function today() {
  const d = new Date();
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

// The date `days` after a YYYY-MM-DD (today when the field holds none), by the calendar.
function shiftDate(text, days) {
  const m = /^(\d{4,})-(\d\d)-(\d\d)$/.exec(text);
  if (!m) return today();
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + days));
  return `${String(d.getUTCFullYear()).padStart(4, '0')}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

// The size from the picker; a tile's sides are rounded up to whole cells of the render.
function size(tileable) {
  const [w, h] = $('wall-size').value.split('x').map(Number);
  const unit = state.model.info.cell * kScale;
  return tileable ? [Math.ceil(w / unit) * unit, Math.ceil(h / unit) * unit] : [w, h];
}

// The picture of the panel's settings, after the page has shown "Drawing…".
function schedule() {
  $('wall-caption').textContent = 'Drawing…';
  clearTimeout(state.timer);
  state.timer = setTimeout(render, 30);
}

function render() {
  const model = state.model;
  if (!model || !model.alive) return;
  const date = $('wall-date').value;
  const seed = Math.max(0, Math.floor(Number($('wall-seed').value) || 0));
  const mood = $('wall-mood').value || null;
  const tileable = $('wall-tileable').checked;
  const [width, height] = size(tileable);
  const t0 = performance.now();
  let image;
  try {
    if (!date) throw new Error('pick a date (YYYY-MM-DD)');
    image = model.wallpaper({ date, seed, width, height, scale: kScale, tileable, mood });
  } catch (e) {
    state.hooks.showError('Drawing the wallpaper failed: ', e);
    state.failed = true;
    $('wall-caption').textContent = '';
    $('wall-canvas').dataset.error = '1';
    return;
  }
  const ms = performance.now() - t0;
  if (state.failed) state.hooks.clearError();
  state.failed = false;
  const canvas = $('wall-canvas');
  canvas.width = width;
  canvas.height = height;
  canvas.getContext('2d').putImageData(image, 0, 0);
  delete canvas.dataset.error;
  canvas.dataset.date = date;
  canvas.dataset.drawn = String(++state.drawn);
  canvas.dataset.ms = String(ms);
  // A tile shown 2 x 2 at half size: its edges meet in the middle.
  $('wall-tiled-box').hidden = !tileable;
  $('wall-tile-caption').hidden = !tileable;
  if (tileable) {
    const tiled = $('wall-tiled');
    tiled.width = width;
    tiled.height = height;
    const ctx = tiled.getContext('2d');
    for (const [x, y] of [[0, 0], [1, 0], [0, 1], [1, 1]]) ctx.drawImage(canvas, (x * width) / 2, (y * height) / 2, width / 2, height / 2);
  }
  const name = `wallpaper-${date}${mood ? `-${mood}` : ''}${seed ? `-seed${seed}` : ''}-${width}x${height}.png`;
  const link = $('wall-download');
  link.removeAttribute('href');
  canvas.toBlob((blob) => {
    if (state.url) URL.revokeObjectURL(state.url);
    state.url = URL.createObjectURL(blob);
    link.href = state.url;
    link.download = name;
  }, 'image/png');
  $('wall-caption').textContent = `${date} · ${width} × ${height}${tileable ? ' tile' : ''}${mood ? ` · ${mood}` : ''} · seed ${seed} · ${state.hooks.formatMs(ms)}`;
  state.hooks.setTiming(ms, 'per wallpaper');
}

/** Shows model (a wallpaper model) in the panel, with today's picture unless a date is set. */
export function setupWallpaper(entry, model, hooks) {
  state.model = model;
  state.hooks = hooks;
  const moods = $('wall-mood');
  moods.replaceChildren(new Option('none', ''), ...model.info.moods.map((m) => new Option(m, m)));
  moods.closest('label').hidden = model.info.moods.length === 0;
  if (!$('wall-date').value) $('wall-date').value = today();
  schedule();
}

/** Shows today's picture (the header's button). */
export function drawToday() {
  $('wall-date').value = today();
  schedule();
}

/** Event handlers of the panel; once. */
export function wireWallpaper() {
  const step = (days) => () => {
    $('wall-date').value = shiftDate($('wall-date').value, days);
    schedule();
  };
  $('wall-prev').addEventListener('click', step(-1));
  $('wall-next').addEventListener('click', step(1));
  $('wall-today').addEventListener('click', drawToday);
  for (const id of ['wall-date', 'wall-size', 'wall-mood', 'wall-seed', 'wall-tileable']) $(id).addEventListener('change', schedule);
}
