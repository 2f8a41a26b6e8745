// The placeholder gallery, on the drop-in (placeholder.mjs) as a web page uses it: each
// <img data-lk-code="..."> shows the preview its code decodes to (with alpha, at the
// image's aspect ratio) until the image itself has loaded. The images are held back a
// little on purpose, so that the previews are seen; one drop-in per decoder model.
import { start } from './placeholder.mjs';

const kFirstDelayMs = 700;
const kStaggerMs = 300;

export class Gallery {
  /**
   * grid: the element to fill; spec: models.json's gallery ({ images: [{ src, code, model,
   * title, width, height }] }); modelFor(file): a Promise of the loaded lkrt Model.
   */
  constructor(grid, spec, modelFor) {
    this.grid = grid;
    this.modelFor = modelFor;
    this.timers = [];
    this.dropins = new Map();  // model file -> the drop-in over its group
    this.tiles = (spec.images ?? []).map((item) => this.tile(item));
    // One group per decoder model: a drop-in takes every img[data-lk-code] under its root.
    this.groups = new Map();
    for (const tile of this.tiles) {
      if (!this.groups.has(tile.item.model)) {
        const group = document.createElement('div');
        group.className = 'gallery-group';
        group.dataset.model = tile.item.model;
        const label = document.createElement('p');
        label.className = 'group-title';
        label.textContent = `Codes decoded by ${tile.item.model.split('/').pop()}`;
        group.append(label);
        this.groups.set(tile.item.model, group);
      }
      this.groups.get(tile.item.model).append(tile.figure);
    }
    grid.replaceChildren(...this.groups.values());
  }

  tile(item) {
    const figure = document.createElement('figure');
    figure.className = 'tile';
    figure.dataset.model = item.model;
    const frame = document.createElement('div');
    frame.className = 'frame';
    frame.style.aspectRatio = `${item.width || 1} / ${item.height || 1}`;
    const caption = document.createElement('figcaption');
    const title = document.createElement('b');
    title.textContent = item.title ?? item.src;
    const badge = document.createElement('span');
    badge.className = 'badge';
    const about = document.createElement('div');
    about.textContent = `${Math.floor((String(item.code).length * 3) / 4)}-byte code`;
    caption.append(title, ' ', badge, about);
    figure.append(frame, caption);
    if (Math.max(item.width || 0, item.height || 0) <= 32) figure.classList.add('pixels');
    return { item, figure, frame, badge, img: null };
  }

  // A fresh <img> with its code and no src yet: the drop-in finds it (a MutationObserver)
  // and draws its preview; the src comes later.
  freshImage(tile) {
    const img = document.createElement('img');
    img.setAttribute('data-lk-code', tile.item.code);
    img.width = tile.item.width;
    img.height = tile.item.height;
    img.decoding = 'async';
    img.addEventListener('load', () => {
      if (!img.getAttribute('src')) return;
      img.alt = tile.item.title ?? '';
      tile.figure.classList.add('loaded');
      tile.figure.dataset.state = 'loaded';
      tile.badge.textContent = 'loaded';
    });
    img.addEventListener('error', () => {
      if (!img.getAttribute('src')) return;
      tile.figure.dataset.state = 'image-failed';
      tile.badge.textContent = 'image failed';
    });
    tile.img?.remove();
    tile.img = img;
    tile.figure.classList.remove('loaded');
    tile.frame.append(img);
    return img;
  }

  // Starts one drop-in per decoder model over its tiles (once), shows every preview, then
  // lets the real images in one by one. Rejects naming the tiles whose code did not draw.
  async play() {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    for (const tile of this.tiles) this.freshImage(tile);
    for (const file of new Set(this.tiles.map((t) => t.item.model))) {
      if (this.dropins.has(file)) continue;
      const model = await this.modelFor(file);
      this.dropins.set(file, start({ model, root: this.groups.get(file) }));
    }
    await Promise.all([...this.dropins.values()].map((d) => d.ready));
    await new Promise((r) => requestAnimationFrame(r));  // the observer's records are in
    const failed = [];
    this.tiles.forEach((tile, i) => {
      const shown = tile.img.hasAttribute('data-lk-preview');
      tile.figure.dataset.state = shown ? 'preview' : 'code-failed';
      tile.badge.textContent = shown ? 'preview' : 'no preview';
      if (!shown) failed.push(tile.item.title ?? tile.item.src);
      const img = tile.img;
      this.timers.push(setTimeout(() => { img.src = tile.item.src; }, kFirstDelayMs + kStaggerMs * i));
    });
    // The drop-ins count from their start: this play's share is what they added.
    const stats = [...this.dropins.values()].map((d) => d.stats);
    const total = { drawn: stats.reduce((s, x) => s + x.drawn, 0), ms: stats.reduce((s, x) => s + x.ms, 0) };
    const drawn = total.drawn - (this.counted?.drawn ?? 0);
    const ms = total.ms - (this.counted?.ms ?? 0);
    this.counted = total;
    this.grid.dataset.previewMs = String(drawn ? ms / drawn : 0);
    if (failed.length) throw new Error(`no preview for ${failed.join(', ')}`);
    return { drawn, msPerImage: drawn ? ms / drawn : 0 };
  }
}
