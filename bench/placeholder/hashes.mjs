// The BlurHash / ThumbHash side of the placeholder benchmark: encodes every image of a .npy
// file with each hash configuration, decodes it back to the original size and writes the
// decoded images, so the C++ side can score them next to latentkit's own placeholders.
//
// Usage: node bench/placeholder/hashes.mjs --in originals.npy --out DIR [--max-chars 28]
//
//   --in         uint8 .npy (dtype '|u1', C order), shape [N, H, W] (grayscale), [N, H, W, 3]
//                (RGB) or [N, H, W, 4] (RGBA, straight alpha as in PNG files)
//   --out        output folder: DIR/<config>.npy (uint8, the input's shape) and DIR/summary.json
//   --max-chars  keep the BlurHash component counts whose string is at most this long (default 28)
//
// Configurations:
//   blurhash-CXxCY      npm `blurhash` encode + decode, CX, CY in 1..9
//   blurhash-ref-CXxCY  port of the C reference encoder (woltapp/blurhash C/encode.c), npm decode
//   thumbhash           npm `thumbhash`, decoded image resized back to H x W (bilinear)
//
// Transparency: ThumbHash encodes alpha and decodes it; BlurHash has no alpha, so RGBA images
// are composited onto white before it encodes them and its decoded images are opaque.
//
// Why a second BlurHash encoder: npm blurhash 2.0.5 quantises the AC scale from the largest
// *signed* AC value (`Math.max(...ac)`), where the C reference takes the largest *absolute*
// value (`fmaxf(fabsf(ac[i]), ...)`). When the strongest AC coefficient is negative, npm's
// scale is too small and that coefficient is clipped (and if all AC values are negative the
// scale collapses to 1/166). Both strings decode with the same (correct) decoder.
//
// The functions are exported for bench/placeholder/check_blurhash.mjs; the CLI only runs when
// this file is the entry point.
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { encode as blurhashEncode, decode as blurhashDecode } from 'blurhash';
import { rgbaToThumbHash, thumbHashToRGBA } from 'thumbhash';

// ---------------------------------------------------------------------------------------------
// .npy reading and writing (uint8 only)

const NPY_MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // "\x93NUMPY"

/** Error for bad input or arguments: the CLI prints its message and exits 1. */
export class InputError extends Error {
  constructor(message) {
    super(message);
    this.name = 'InputError';
  }
}

/**
 * Parses a uint8 .npy file (format version 1.0; 2.0 and 3.0, which only widen the header
 * length field, are accepted too). Returns { shape: number[], data: Uint8Array }.
 * Throws InputError on anything malformed or not uint8 / C order.
 */
export function parseNpy(buffer, name = '.npy') {
  const fail = (why) => { throw new InputError(`${name}: malformed .npy: ${why}`); };
  if (buffer.length < 10 || !buffer.subarray(0, 6).equals(NPY_MAGIC)) fail('bad magic (not a .npy file)');
  const major = buffer[6];
  let headerLen;
  let headerStart;
  if (major === 1) {
    headerLen = buffer.readUInt16LE(8);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (buffer.length < 12) fail('truncated header');
    headerLen = buffer.readUInt32LE(8);
    headerStart = 12;
  } else {
    fail(`unsupported format version ${major}.${buffer[7]}`);
  }
  const dataStart = headerStart + headerLen;
  if (dataStart > buffer.length) fail('truncated header');
  const header = buffer.toString('latin1', headerStart, dataStart);

  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(header);
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header);
  const shapeMatch = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shapeMatch) fail(`cannot parse header ${JSON.stringify(header.trim())}`);
  // Byte order is meaningless for single bytes: NumPy writes '|u1', accept '<u1' / '>u1' too.
  if (!['|u1', '<u1', '>u1', 'u1'].includes(descr[1])) fail(`dtype is '${descr[1]}', expected '|u1' (uint8)`);
  if (fortran[1] !== 'False') fail('fortran_order is True, expected C order');
  const dims = shapeMatch[1].split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (!dims.every((s) => /^\d+$/.test(s))) fail(`bad shape (${shapeMatch[1]})`);
  const shape = dims.map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  if (buffer.length - dataStart !== count) {
    fail(`shape (${shape.join(', ')}) needs ${count} data bytes, file has ${buffer.length - dataStart}`);
  }
  // Copy so the result does not alias the (possibly pooled) file buffer.
  return { shape, data: new Uint8Array(buffer.subarray(dataStart)) };
}

/** Serialises a uint8 array as a version 1.0 .npy file (header padded to 64 bytes, like NumPy). */
export function formatNpy(shape, data) {
  const count = shape.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new Error(`formatNpy: ${data.length} values for shape (${shape.join(', ')})`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '|u1', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = Math.ceil((10 + dict.length + 1) / 64) * 64; // magic+version+len, dict, '\n'
  dict = dict.padEnd(total - 10 - 1, ' ') + '\n';
  const header = Buffer.alloc(10);
  NPY_MAGIC.copy(header, 0);
  header[6] = 1;
  header[7] = 0;
  header.writeUInt16LE(dict.length, 8);
  return Buffer.concat([header, Buffer.from(dict, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.length)]);
}

export function readNpy(path) {
  let buffer;
  try {
    buffer = readFileSync(path);
  } catch (e) {
    throw new InputError(`cannot read ${path}: ${e.message}`);
  }
  return parseNpy(buffer, path);
}

export function writeNpy(path, shape, data) {
  writeFileSync(path, formatNpy(shape, data));
}

/**
 * Checks an image stack's shape: [N, H, W] (grayscale), [N, H, W, 3] (RGB) or [N, H, W, 4]
 * (RGBA). Returns { n, h, w, channels } or throws InputError.
 */
export function imageLayout(shape, name = 'input') {
  const ok = (shape.length === 3 || (shape.length === 4 && (shape[3] === 3 || shape[3] === 4))) &&
    shape.slice(0, 3).every((d) => d > 0);
  if (!ok) {
    throw new InputError(`${name}: shape (${shape.join(', ')}) is not [N, H, W], [N, H, W, 3] or [N, H, W, 4] with N, H, W >= 1`);
  }
  return { n: shape[0], h: shape[1], w: shape[2], channels: shape.length === 4 ? shape[3] : 1 };
}

/** An RGBA image composited onto white (alpha 255 after), for a hash without alpha. */
export function onWhite(rgba) {
  const out = new Uint8ClampedArray(rgba.length);
  for (let p = 0; p < rgba.length; p += 4) {
    const a = rgba[p + 3] / 255;
    for (let c = 0; c < 3; ++c) out[p + c] = Math.round(rgba[p + c] * a + 255 * (1 - a));
    out[p + 3] = 255;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Pixel conversions

/** Image i of a [N, H, W], [N, H, W, 3] or [N, H, W, 4] stack as RGBA (gray -> R = G = B; A = 255). */
export function imageToRGBA(data, index, w, h, channels) {
  const pixels = w * h;
  const rgba = new Uint8ClampedArray(pixels * 4);
  const base = index * pixels * channels;
  if (channels === 4) {
    rgba.set(data.subarray(base, base + pixels * 4));
    return rgba;
  }
  for (let p = 0; p < pixels; ++p) {
    if (channels === 1) {
      const v = data[base + p];
      rgba[4 * p] = v;
      rgba[4 * p + 1] = v;
      rgba[4 * p + 2] = v;
    } else {
      rgba[4 * p] = data[base + 3 * p];
      rgba[4 * p + 1] = data[base + 3 * p + 1];
      rgba[4 * p + 2] = data[base + 3 * p + 2];
    }
    rgba[4 * p + 3] = 255;
  }
  return rgba;
}

/**
 * Writes a decoded RGBA image (integer or float values, 0..255) into slot `index` of an
 * output stack: rounded mean of R, G, B for grayscale, rounded R, G, B (and A) otherwise.
 */
export function storeRGBA(rgba, out, index, pixels, channels) {
  const base = index * pixels * channels;
  for (let p = 0; p < pixels; ++p) {
    if (channels === 1) {
      out[base + p] = Math.round((rgba[4 * p] + rgba[4 * p + 1] + rgba[4 * p + 2]) / 3);
    } else if (channels === 4) {
      for (let c = 0; c < 4; ++c) out[base + 4 * p + c] = Math.round(rgba[4 * p + c]);
    } else {
      out[base + 3 * p] = Math.round(rgba[4 * p]);
      out[base + 3 * p + 1] = Math.round(rgba[4 * p + 1]);
      out[base + 3 * p + 2] = Math.round(rgba[4 * p + 2]);
    }
  }
}

/**
 * Bilinear resize of an RGBA image (sw x sh) to dw x dh, sampling at pixel centres
 * (src = (dst + 0.5) * sw / dw - 0.5, clamped to the edge; no antialiasing, which is fine for
 * the mild 32 -> 28 px scaling it is used for). Returns unrounded Float64Array RGBA.
 */
export function resizeBilinearRGBA(src, sw, sh, dw, dh) {
  const out = new Float64Array(dw * dh * 4);
  const axis = (dst, s, d) => {
    const pos = Math.min(Math.max((dst + 0.5) * (s / d) - 0.5, 0), s - 1);
    const i0 = Math.floor(pos);
    return [i0, Math.min(i0 + 1, s - 1), pos - i0];
  };
  for (let y = 0; y < dh; ++y) {
    const [y0, y1, fy] = axis(y, sh, dh);
    for (let x = 0; x < dw; ++x) {
      const [x0, x1, fx] = axis(x, sw, dw);
      for (let c = 0; c < 4; ++c) {
        const top = src[4 * (y0 * sw + x0) + c] * (1 - fx) + src[4 * (y0 * sw + x1) + c] * fx;
        const bottom = src[4 * (y1 * sw + x0) + c] * (1 - fx) + src[4 * (y1 * sw + x1) + c] * fx;
        out[4 * (y * dw + x) + c] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// BlurHash encoder ported from the C reference, woltapp/blurhash C/encode.c
// (revision d6be459; an early revision quantised the AC scale with 83 instead of 166, which the
// decoders do not match). Same structure and constants; the arithmetic is in double precision
// where C uses float, which could move a value across a quantisation boundary. Checked against
// the C file compiled with gcc 12 / glibc 2.36: identical strings for 150 28x28 RGB images
// (smooth, noise, blocks) at all 81 component counts.

const BASE83 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~';

/** encode_int(): `value` as `length` base-83 digits, most significant first. */
export function encodeBase83(value, length) {
  let divisor = 83 ** (length - 1);
  let out = '';
  for (let i = 0; i < length; ++i) {
    out += BASE83[Math.floor(value / divisor) % 83];
    divisor /= 83;
  }
  return out;
}

/** sRGBToLinear() for 0..255, as a table. */
const SRGB_TO_LINEAR = Float64Array.from({ length: 256 }, (_, value) => {
  const v = value / 255;
  return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
});

/** linearTosRGB(): clamp to 0..1, sRGB transfer, +0.5 and truncate (C's float -> int). */
function linearToSRGB(value) {
  const v = Math.max(0, Math.min(1, value));
  if (v <= 0.0031308) return Math.trunc(v * 12.92 * 255 + 0.5);
  return Math.trunc((1.055 * Math.pow(v, 1 / 2.4) - 0.055) * 255 + 0.5);
}

function signPow(value, exp) {
  return Math.sign(value) * Math.pow(Math.abs(value), exp);
}

/**
 * multiplyBasisFunction() for every component: factors[y * cx + x] = [r, g, b], the linear-light
 * image projected on cos(pi x i / w) cos(pi y j / h), scaled by 1/(w h) for DC, 2/(w h) for AC.
 * `rgba` is w*h*4 bytes (alpha ignored).
 */
export function blurhashFactors(rgba, w, h, cx, cy) {
  const factors = [];
  for (let j = 0; j < cy; ++j) {
    for (let i = 0; i < cx; ++i) {
      const normalisation = i === 0 && j === 0 ? 1 : 2;
      let r = 0;
      let g = 0;
      let b = 0;
      for (let y = 0; y < h; ++y) {
        const basisY = Math.cos(Math.PI * j * y / h);
        for (let x = 0; x < w; ++x) {
          const basis = Math.cos(Math.PI * i * x / w) * basisY;
          const p = 4 * (y * w + x);
          r += basis * SRGB_TO_LINEAR[rgba[p]];
          g += basis * SRGB_TO_LINEAR[rgba[p + 1]];
          b += basis * SRGB_TO_LINEAR[rgba[p + 2]];
        }
      }
      const scale = normalisation / (w * h);
      factors.push([r * scale, g * scale, b * scale]);
    }
  }
  return factors;
}

/** blurHashForPixels(): the reference BlurHash string for an RGBA image. */
export function blurhashRefEncode(rgba, w, h, cx, cy) {
  if (!(Number.isInteger(cx) && Number.isInteger(cy) && cx >= 1 && cx <= 9 && cy >= 1 && cy <= 9)) {
    throw new Error('BlurHash must have between 1 and 9 components');
  }
  if (rgba.length !== w * h * 4) throw new Error('width and height must match the pixels array');
  const factors = blurhashFactors(rgba, w, h, cx, cy);
  const [dc, ...ac] = factors;

  let hash = encodeBase83((cx - 1) + (cy - 1) * 9, 1);
  let maximumValue;
  if (ac.length > 0) {
    // The point of this port: the largest ABSOLUTE AC value sets the scale.
    let actualMaximumValue = 0;
    for (const f of ac) actualMaximumValue = Math.max(actualMaximumValue, Math.abs(f[0]), Math.abs(f[1]), Math.abs(f[2]));
    const quantisedMaximumValue = Math.max(0, Math.min(82, Math.floor(actualMaximumValue * 166 - 0.5)));
    maximumValue = (quantisedMaximumValue + 1) / 166;
    hash += encodeBase83(quantisedMaximumValue, 1);
  } else {
    maximumValue = 1;
    hash += encodeBase83(0, 1);
  }

  hash += encodeBase83((linearToSRGB(dc[0]) << 16) + (linearToSRGB(dc[1]) << 8) + linearToSRGB(dc[2]), 4);

  const quant = (v) => Math.max(0, Math.min(18, Math.floor(signPow(v / maximumValue, 0.5) * 9 + 9.5)));
  for (const [r, g, b] of ac) hash += encodeBase83(quant(r) * 19 * 19 + quant(g) * 19 + quant(b), 2);
  return hash;
}

// ---------------------------------------------------------------------------------------------
// Configurations

/** Base64 length of n bytes without '=' padding. */
export function base64Chars(n) {
  return Math.ceil((4 * n) / 3);
}

/**
 * One codec per configuration: encode(rgba, w, h) -> hash; size(hash) -> bytes as transmitted;
 * decode(hash, w, h) -> RGBA (w x h, values 0..255).
 */
export function blurhashCodec(cx, cy, reference) {
  return {
    name: `${reference ? 'blurhash-ref' : 'blurhash'}-${cx}x${cy}`,
    method: reference ? 'blurhash-ref' : 'blurhash',
    components: [cx, cy],
    // No alpha in BlurHash: transparent pixels are encoded as the white they show on a page.
    encode: reference
      ? (rgba, w, h) => blurhashRefEncode(onWhite(rgba), w, h, cx, cy)
      : (rgba, w, h) => blurhashEncode(onWhite(rgba), w, h, cx, cy),
    size: (hash) => hash.length, // ASCII characters, one byte each
    decode: (hash, w, h) => blurhashDecode(hash, w, h),
  };
}

// ThumbHash decodes at its own size, set by the aspect ratio stored in the hash: 32 px on the
// longer side (e.g. 32 x 32 for a 28 x 28 input), not the input's size. We resize that back to
// w x h with resizeBilinearRGBA, so the decoded images line up with the originals.
export const thumbhashCodec = {
  name: 'thumbhash',
  method: 'thumbhash',
  components: null,
  encode: (rgba, w, h) => rgbaToThumbHash(w, h, rgba), // binary Uint8Array
  size: (hash) => hash.length,
  decode: (hash, w, h) => {
    const image = thumbHashToRGBA(hash);
    return image.w === w && image.h === h ? image.rgba : resizeBilinearRGBA(image.rgba, image.w, image.h, w, h);
  },
};

/**
 * The configurations for w x h images: every BlurHash component count (cx, cy in 1..9) whose
 * string, measured on `sample` (an RGBA image), is at most maxChars long, npm then reference
 * port, ordered by length; then ThumbHash.
 */
export function listCodecs(sample, w, h, maxChars) {
  const sizes = [];
  for (let cx = 1; cx <= 9; ++cx) {
    for (let cy = 1; cy <= 9; ++cy) {
      const chars = blurhashEncode(sample, w, h, cx, cy).length; // 4 + 2 cx cy
      if (chars <= maxChars) sizes.push({ cx, cy, chars });
    }
  }
  sizes.sort((a, b) => a.chars - b.chars || a.cx - b.cx);
  const codecs = [];
  for (const reference of [false, true]) {
    for (const { cx, cy } of sizes) codecs.push(blurhashCodec(cx, cy, reference));
  }
  codecs.push(thumbhashCodec);
  return codecs;
}

/**
 * Runs one codec over all images: returns the decoded stack (the input's layout) and the
 * summary entry. Timing covers the hash encode and decode (for ThumbHash, decode includes the
 * resize back to w x h), not the RGBA/grayscale conversions; a few untimed warm-up calls first.
 * Times are of each implementation as written: npm blurhash's encoder converts sRGB to linear
 * with Math.pow for every pixel of every component, the reference port uses a 256-entry table,
 * so their encode times differ by an order of magnitude for reasons that are not the algorithm.
 */
export function runCodec(codec, images, layout) {
  const { n, h, w, channels } = layout;
  for (let i = 0; i < Math.min(n, 10); ++i) codec.decode(codec.encode(images[i], w, h), w, h);

  const hashes = new Array(n);
  let t0 = performance.now();
  for (let i = 0; i < n; ++i) hashes[i] = codec.encode(images[i], w, h);
  const encodeMs = performance.now() - t0;

  const decoded = new Array(n);
  t0 = performance.now();
  for (let i = 0; i < n; ++i) decoded[i] = codec.decode(hashes[i], w, h);
  const decodeMs = performance.now() - t0;

  const out = new Uint8Array(n * h * w * channels);
  for (let i = 0; i < n; ++i) storeRGBA(decoded[i], out, i, w * h, channels);

  const sizes = hashes.map(codec.size);
  const maxBytes = Math.max(...sizes);
  const meanBytes = sizes.reduce((a, b) => a + b, 0) / n;
  const binary = codec.method === 'thumbhash';
  const entry = {
    name: codec.name,
    method: codec.method,
    components: codec.components,
    bytes: maxBytes, // BlurHash: characters (constant); ThumbHash: binary bytes, the largest
    chars_base64: binary ? base64Chars(maxBytes) : maxBytes, // ThumbHash: unpadded base64 of the largest
    mean_bytes: meanBytes,
    max_bytes: maxBytes,
    encode_ms_per_image: Number((encodeMs / n).toFixed(5)),
    decode_ms_per_image: Number((decodeMs / n).toFixed(5)),
  };
  return { decoded: out, entry, hashes };
}

// ---------------------------------------------------------------------------------------------
// CLI

const USAGE = 'usage: node bench/placeholder/hashes.mjs --in originals.npy --out DIR [--max-chars 28]';

export function parseArgs(argv) {
  const args = { in: null, out: null, maxChars: 28 };
  for (let i = 0; i < argv.length; ++i) {
    const flag = argv[i];
    if (flag === '--help' || flag === '-h') return { help: true };
    if (!['--in', '--out', '--max-chars'].includes(flag)) throw new InputError(`unknown argument '${flag}'\n${USAGE}`);
    const value = argv[++i];
    if (value === undefined || value.startsWith('--')) throw new InputError(`${flag} needs a value\n${USAGE}`);
    if (flag === '--in') args.in = value;
    else if (flag === '--out') args.out = value;
    else {
      if (!/^\d+$/.test(value) || Number(value) < 6) {
        throw new InputError(`--max-chars must be an integer >= 6 (the shortest BlurHash), got '${value}'`);
      }
      args.maxChars = Number(value);
    }
  }
  if (!args.in || !args.out) throw new InputError(`--in and --out are required\n${USAGE}`);
  return args;
}

/** The whole CLI run; returns the summary. `log` gets one progress line per configuration. */
export function main(argv, log = (line) => process.stderr.write(line + '\n')) {
  const args = parseArgs(argv);
  if (args.help) {
    log(USAGE);
    return null;
  }
  const { shape, data } = readNpy(args.in);
  const layout = imageLayout(shape, args.in);
  const { n, h, w, channels } = layout;
  if (w > 100 || h > 100) throw new InputError(`${args.in}: ${w}x${h} images, ThumbHash takes at most 100x100`);

  const images = Array.from({ length: n }, (_, i) => imageToRGBA(data, i, w, h, channels));
  const codecs = listCodecs(images[0], w, h, args.maxChars);
  mkdirSync(args.out, { recursive: true });
  log(`${n} images ${w}x${h}${channels === 1 ? ' gray' : ' RGB'}, ${codecs.length} configs -> ${args.out}`);

  const summary = [];
  codecs.forEach((codec, k) => {
    const { decoded, entry } = runCodec(codec, images, layout);
    writeNpy(join(args.out, `${codec.name}.npy`), shape, decoded);
    summary.push(entry);
    const size = entry.method === 'thumbhash'
      ? `${entry.mean_bytes.toFixed(1)} bytes mean, ${entry.max_bytes} max`
      : `${entry.bytes} chars`;
    log(`[${k + 1}/${codecs.length}] ${codec.name}: ${size}, encode ${entry.encode_ms_per_image.toFixed(3)} ms/image, `
      + `decode ${entry.decode_ms_per_image.toFixed(3)} ms/image`);
  });
  writeFileSync(join(args.out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  return summary;
}

function isEntryPoint() {
  try {
    return Boolean(process.argv[1]) && realpathSync(resolve(process.argv[1])) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    process.stderr.write(`hashes.mjs: ${e.message}\n`);
    process.exit(1);
  }
}
