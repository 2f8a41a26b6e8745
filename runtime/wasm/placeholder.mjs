// The placeholder drop-in: each <img data-lk-code="..."> shows the preview its code decodes
// to (alpha kept, at the image's aspect ratio) until the image itself has loaded. One tag:
//
//   <img src="big.png" width="640" height="360" data-lk-code="FaO_DUgI...">
//   <script type="module" src="placeholder.mjs" data-model="emoji-vae32.lkm"></script>
//
// The script fetches the model once, decodes every code of an image still loading and sets
// the preview as the img's background (marked data-lk-preview); when the image loads the
// background is removed.
// Images added later are found by a MutationObserver; images already loaded get nothing.
// A bad code leaves its img as it is and warns on the console. Used as a module instead:
// start({ model }) (see placeholder.d.ts).
import { load } from './lkrt.mjs';

const kAttribute = 'data-lk-code';
const kWarn = 'latentkit placeholder';
const kAspectSteps = 4096; // docs/file-format.md: the aspect field is round(4096 log2(width / height))

/**
 * width / height that a code carries (its aspect field), or null when it has none (the
 * image was square) or the text is not a code's beginning. Reads the header only.
 */
export function codeAspect(text) {
  const bytes = base64urlHead(String(text), 6);
  if (bytes.length < 3 || bytes[0] >> 4 !== 1 || !(bytes[0] & 4)) return null;
  const at = 3 + (bytes[0] & 2 ? 1 : 0);
  if (bytes.length < at + 2) return null;
  const field = ((bytes[at] << 8) | bytes[at + 1]) << 16 >> 16; // int16, big-endian
  return field === 0 ? null : 2 ** (field / kAspectSteps);
}

/**
 * The preview of a code: a data: URL of a PNG of the decoded pixels (exactly decodeCode's
 * bytes, alpha straight), its size (the model's) and the code's aspect ratio. Throws the
 * model's LkrtError for a bad code.
 */
export function previewURL(model, text) {
  const image = model.decodeCode(text);
  return { url: encodePng(image.data, image.width, image.height), width: image.width, height: image.height, aspect: codeAspect(text) };
}

/**
 * Starts the drop-in on root (default: the document): draws the previews of the images
 * there now and of those added later. model: the .lkm's URL, its bytes, or a loaded Model.
 * Returns { ready, stats, stop }: ready resolves once the model is loaded and the first
 * previews are set (rejects if the model cannot load, after a console warning); stats
 * counts previews and their time; stop() disconnects the observer.
 */
export function start({ model, root = document } = {}) {
  const stats = { drawn: 0, failed: 0, replaced: 0, ms: 0 };
  let observer = null;
  let stopped = false;
  const ready = modelOf(model).then(
    (m) => {
      if (stopped) return stats;
      drawAll(m, imagesIn(root), stats);
      observer = new MutationObserver((records) => {
        const found = new Set();
        for (const r of records) {
          if (r.type === 'attributes') found.add(r.target);
          else for (const node of r.addedNodes) for (const img of imagesIn(node)) found.add(img);
        }
        drawAll(m, [...found], stats);
      });
      observer.observe(root, { childList: true, subtree: true, attributes: true, attributeFilter: [kAttribute] });
      return stats;
    },
    (e) => {
      console.warn(`${kWarn}: cannot load the model ${describeModel(model)}: ${e.message}`);
      throw e;
    },
  );
  return {
    ready,
    stats,
    stop() {
      stopped = true;
      if (observer) observer.disconnect();
    },
  };
}

async function modelOf(model) {
  if (model && typeof model.decodeCode === 'function') return model;
  if (model instanceof ArrayBuffer || ArrayBuffer.isView(model)) return load(model);
  if (!model) throw new Error('no model: give the .lkm file in data-model (or start({ model }))');
  const response = await fetch(model);
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return load(await response.arrayBuffer());
}

function describeModel(model) {
  return typeof model === 'string' || model instanceof URL ? String(model) : '(bytes)';
}

function imagesIn(node) {
  if (node.nodeType !== 1 && node.nodeType !== 9 && node.nodeType !== 11) return [];
  const found = node.nodeType === 1 && node.matches(`img[${kAttribute}]`) ? [node] : [];
  return found.concat([...node.querySelectorAll(`img[${kAttribute}]`)]);
}

const shown = new WeakSet(); // imgs with a preview now, or done

function drawAll(model, images, stats) {
  const unsized = [];
  for (const img of images) {
    if (shown.has(img) || (img.complete && img.naturalWidth > 0)) continue; // loaded: no preview
    const t0 = performance.now();
    const text = img.getAttribute(kAttribute);
    let preview;
    try {
      preview = previewURL(model, text);
    } catch (e) {
      stats.failed++;
      console.warn(`${kWarn}: <img src="${img.getAttribute('src') ?? ''}">: ${e.message}`);
      continue;
    }
    shown.add(img);
    const saved = {};
    for (const p of kStyles) saved[p] = img.style.getPropertyValue(p);
    img.style.setProperty('background-image', `url("${preview.url}")`);
    img.style.setProperty('background-size', '100% 100%');
    img.style.setProperty('background-repeat', 'no-repeat');
    // The img's own width and height attributes are the exact box the page reserves; else
    // the code's aspect field gives it (the model's square when the code has none).
    const ownRatio = img.hasAttribute('width') && img.hasAttribute('height');
    if (!ownRatio) img.style.setProperty('aspect-ratio', String(preview.aspect ?? preview.width / preview.height));
    img.setAttribute('data-lk-preview', ''); // for styling and tests: a preview is showing
    const done = () => {
      for (const p of kStyles) {
        if (saved[p]) img.style.setProperty(p, saved[p]);
        else img.style.removeProperty(p);
      }
      img.removeAttribute('data-lk-preview');
      stats.replaced++;
    };
    img.addEventListener('load', done, { once: true });
    stats.drawn++;
    stats.ms += performance.now() - t0;
    if (!img.hasAttribute('width') && !img.style.width) unsized.push([img, preview, saved]);
  }
  // An img with no width from its attributes or CSS has an empty box until it loads: give
  // it the model's width so that the preview shows (one layout for the batch).
  for (const [img, preview, saved] of unsized) {
    if (img.hasAttribute('data-lk-preview') && img.getBoundingClientRect().width === 0) {
      img.style.setProperty('width', `${preview.width}px`);
    }
  }
}

const kStyles = ['background-image', 'background-size', 'background-repeat', 'aspect-ratio', 'width'];

// The first n bytes of base64url text (fewer if the text is shorter or has a bad character).
function base64urlHead(text, n) {
  const out = [];
  let bits = 0;
  let value = 0;
  for (let i = 0; i < text.length && out.length < n; i++) {
    const c = text.charCodeAt(i);
    const v = c >= 65 && c <= 90 ? c - 65 : c >= 97 && c <= 122 ? c - 71 : c >= 48 && c <= 57 ? c + 4 : c === 45 ? 62 : c === 95 ? 63 : -1;
    if (v < 0) break;
    value = ((value << 6) | v) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >> bits) & 0xff);
    }
  }
  return out;
}

// --- A PNG of RGBA bytes: filter 0, stored (uncompressed) deflate, as a data: URL. It is
// held for the seconds an image loads, so speed beats size (64 x 64: 16.5 KB). A data: URL
// rather than a blob: one: registering a blob costs a round trip to the browser process.
const kCrcTable = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes, from, to) {
  let c = ~0;
  for (let i = from; i < to; i++) c = kCrcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

function encodePng(rgba, width, height) {
  const row = 4 * width + 1;
  const raw = new Uint8Array(row * height); // each row: filter 0, then its pixels
  for (let y = 0; y < height; y++) raw.set(rgba.subarray(y * (row - 1), (y + 1) * (row - 1)), y * row + 1);
  const blocks = Math.ceil(raw.length / 65535); // width and height are at least 1
  const idat = 2 + 5 * blocks + raw.length + 4;
  const png = new Uint8Array(8 + 25 + 12 + idat + 12);
  const view = new DataView(png.buffer);
  png.set([137, 80, 78, 71, 13, 10, 26, 10], 0);
  let at = 8;
  const chunk = (type, length, fill) => {
    view.setUint32(at, length);
    for (let i = 0; i < 4; i++) png[at + 4 + i] = type.charCodeAt(i);
    fill(at + 8);
    view.setUint32(at + 8 + length, crc32(png, at + 4, at + 8 + length));
    at += 12 + length;
  };
  chunk('IHDR', 13, (p) => {
    view.setUint32(p, width);
    view.setUint32(p + 4, height);
    png.set([8, 6, 0, 0, 0], p + 8); // 8-bit RGBA, no interlace
  });
  chunk('IDAT', idat, (p) => {
    png[p++] = 0x78; // zlib: deflate, 32 KB window, no dictionary
    png[p++] = 0x01;
    for (let from = 0; from < raw.length; from += 65535) {
      const n = Math.min(raw.length - from, 65535);
      png[p] = from + n >= raw.length ? 1 : 0; // the last block is final
      view.setUint16(p + 1, n, true);
      view.setUint16(p + 3, n ^ 0xffff, true);
      png.set(raw.subarray(from, from + n), p + 5);
      p += 5 + n;
    }
    let a = 1;
    let b = 0;
    for (let i = 0; i < raw.length; ) {
      const end = Math.min(i + 5552, raw.length); // the most bytes before b can pass 2^32
      for (; i < end; i++) {
        a += raw[i];
        b += a;
      }
      a %= 65521;
      b %= 65521;
    }
    view.setUint32(p, ((b << 16) | a) >>> 0);
  });
  chunk('IEND', 0, () => {});
  let text = '';
  for (let i = 0; i < png.length; i += 0x8000) text += String.fromCharCode.apply(null, png.subarray(i, i + 0x8000));
  return 'data:image/png;base64,' + btoa(text);
}

// The script tag that loaded this module names the model: start on it.
if (typeof document !== 'undefined') {
  const self = [...document.querySelectorAll('script[data-model]')].find((s) => s.src === import.meta.url);
  if (self) start({ model: new URL(self.dataset.model, document.baseURI).href }).ready.catch(() => {});
}
