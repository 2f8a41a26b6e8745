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
 * The preview of a code: a data: URL of the PNG the lkrt command would write for it (stored
 * deflate: a preview is held for the seconds an image loads, so speed beats size; a data:
 * URL rather than a blob: one, whose registration is a round trip to the browser process),
 * its size (the model's) and the code's aspect ratio. Throws the model's LkrtError for a
 * bad code.
 */
export function previewURL(model, text) {
  const { png, width, height } = model.decodeCode(text, { output: 'png' });
  let binary = '';
  for (let i = 0; i < png.length; i += 0x8000) binary += String.fromCharCode.apply(null, png.subarray(i, i + 0x8000));
  return { url: 'data:image/png;base64,' + btoa(binary), width, height, aspect: codeAspect(text) };
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

// The script tag that loaded this module names the model: start on it.
if (typeof document !== 'undefined') {
  const self = [...document.querySelectorAll('script[data-model]')].find((s) => s.src === import.meta.url);
  if (self) start({ model: new URL(self.dataset.model, document.baseURI).href }).ready.catch(() => {});
}
