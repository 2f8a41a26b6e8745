// Self-check for bench/placeholder/hashes.mjs (fast, no arguments; exit 0 = pass):
//   node bench/placeholder/check_blurhash.mjs
//
//   1. Where the strongest AC coefficient is positive, the reference-port BlurHash encoder and
//      npm's encoder give the same string (their only difference is the AC scale).
//   2. Where it is negative, they differ, and the reference string decodes closer to the image.
//   3. The reference port reproduces known strings of the C reference, and its DC is the
//      image's mean colour in linear light.
//   4. ThumbHash round trip of a flat grey (through our resize and grey conversion) stays
//      within 2 levels; the decoded image is resized back to H x W, bilinearly.
//   5. The .npy reader and writer round-trip, and malformed files are rejected.
//   6. The CLI end to end on a tiny input, and its exit code on bad arguments.
//   7. RGBA: ThumbHash keeps alpha; BlurHash sees a transparent image as white.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { decode as npmDecode, encode as npmEncode } from 'blurhash';
import {
  InputError, blurhashCodec, blurhashFactors, blurhashRefEncode, formatNpy, imageLayout, imageToRGBA, main, parseNpy, readNpy,
  resizeBilinearRGBA, storeRGBA, thumbhashCodec, writeNpy,
} from './hashes.mjs';

const failures = [];
function check(name, fn) {
  try {
    const note = fn();
    console.log(`ok   ${name}${note ? `\n     ${note}` : ''}`);
  } catch (e) {
    failures.push(name);
    console.log(`FAIL ${name}\n     ${e.stack ?? e}`);
  }
}
function assert(condition, message) {
  if (!condition) throw new Error(message);
}
function assertThrows(fn, type, message) {
  try {
    fn();
  } catch (e) {
    if (e instanceof type) return;
    throw new Error(`${message}: threw ${e.name} instead of ${type.name}`);
  }
  throw new Error(`${message}: did not throw`);
}

// sRGB transfer functions in double precision (independent of the code under test).
const toLinear = (v8) => (v8 / 255 <= 0.04045 ? v8 / 255 / 12.92 : ((v8 / 255 + 0.055) / 1.055) ** 2.4);
const toSRGB = (lin) => 255 * (lin <= 0.0031308 ? lin * 12.92 : 1.055 * lin ** (1 / 2.4) - 0.055);

/** RGBA image from f(x, y) -> [r, g, b] (0..255). */
function makeRGBA(w, h, f) {
  const rgba = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; ++y) {
    for (let x = 0; x < w; ++x) rgba.set([...f(x, y), 255], 4 * (y * w + x));
  }
  return rgba;
}

/** Mean squared error over R, G, B between two RGBA images. */
function mse(a, b) {
  let sum = 0;
  let count = 0;
  for (let p = 0; p < a.length; p += 4) {
    for (let c = 0; c < 3; ++c, ++count) sum += (a[p + c] - b[p + c]) ** 2;
  }
  return sum / count;
}

/** The AC coefficient (all channels) with the largest magnitude. */
function strongestAC(factors) {
  return factors.slice(1).flat().reduce((best, v) => (Math.abs(v) > Math.abs(best) ? v : best), 0);
}

const W = 28;
const H = 28;

check('1. strongest AC positive: reference port == npm encoder', () => {
  // A smooth bright colour image built, in linear light, from the BlurHash basis functions with
  // positive weights, so every AC coefficient up to 4x3 comes out positive.
  const base = [0.5, 0.45, 0.4];
  const amp = [0.08, 0.07, 0.06];
  const rgba = makeRGBA(W, H, (x, y) => base.map((b, c) => {
    let lin = b;
    for (let j = 0; j < 3; ++j) {
      for (let i = 0; i < 4; ++i) {
        if (i || j) lin += (amp[c] / (i + j)) * Math.cos(Math.PI * i * x / W) * Math.cos(Math.PI * j * y / H);
      }
    }
    return Math.round(toSRGB(lin));
  }));
  const factors = blurhashFactors(rgba, W, H, 4, 3);
  assert(factors.slice(1).flat().every((v) => v > 0), 'test image: expected all AC coefficients > 0');
  for (let cy = 1; cy <= 3; ++cy) {
    for (let cx = 1; cx <= 4; ++cx) {
      const ref = blurhashRefEncode(rgba, W, H, cx, cy);
      const npm = npmEncode(rgba, W, H, cx, cy);
      assert(ref === npm, `${cx}x${cy}: reference ${ref} != npm ${npm}`);
    }
  }

  // The same on random smooth images, whenever the strongest AC is positive.
  let seed = 7;
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  let compared = 0;
  for (let k = 0; k < 16; ++k) {
    const a = Array.from({ length: 6 }, random);
    const img = makeRGBA(W, H, (x, y) => [0, 1, 2].map((c) =>
      Math.round(127.5 + 127.5 * Math.sin(6 * a[0] * x / W + 6 * a[1] * y / H + 6 * a[2 + c]))));
    if (strongestAC(blurhashFactors(img, W, H, 3, 3)) <= 0) continue;
    ++compared;
    assert(blurhashRefEncode(img, W, H, 3, 3) === npmEncode(img, W, H, 3, 3), `random image ${k}: strings differ`);
  }
  assert(compared >= 4, `only ${compared} random images had a positive strongest AC`);
});

check('2. strongest AC negative: strings differ, reference decodes with lower MSE', () => {
  // Bright image, dark left half: the first horizontal basis function is +1 at the left edge, so
  // its coefficient is strongly negative.
  const rgba = makeRGBA(W, H, (x) => (x < W / 2 ? [40, 40, 40] : [230, 230, 230]));
  const strongest = strongestAC(blurhashFactors(rgba, W, H, 4, 3));
  assert(strongest < 0, `test image: strongest AC is ${strongest}, expected negative`);
  const ref = blurhashRefEncode(rgba, W, H, 4, 3);
  const npm = npmEncode(rgba, W, H, 4, 3);
  assert(ref !== npm, `expected different strings, both ${ref}`);
  const refMse = mse(npmDecode(ref, W, H), rgba);
  const npmMse = mse(npmDecode(npm, W, H), rgba);
  assert(refMse < npmMse, `reference MSE ${refMse.toFixed(1)} is not below npm MSE ${npmMse.toFixed(1)}`);
  return `4x3: reference ${ref} MSE ${refMse.toFixed(1)}, npm ${npm} MSE ${npmMse.toFixed(1)}`;
});

check('3. reference port reproduces the C reference', () => {
  // (a) 2x1 image, white then black, 2x1 components; derived by hand from C/encode.c:
  //   size flag (2-1) + (1-1)*9 = 1                                        -> "1"
  //   DC = mean linear = 0.5; linearTosRGB: (1.055 * 0.5^(1/2.4) - 0.055) * 255 + 0.5 = 188.01
  //        -> 188 per channel; (188 << 16) + (188 << 8) + 188 = 12369084
  //        = 21*83^3 + 52*83^2 + 40*83 + 9                                 -> "Lqe9"
  //   AC (1,0) = 2/2 * (1 * cos 0 + 0 * cos(pi/2)) = 1 per channel
  //   max |AC| = 1: floor(1 * 166 - 0.5) = 165, clamped to 82             -> "~"
  //        maximumValue = 83/166 = 0.5; quant = floor(sqrt(1/0.5) * 9 + 9.5) = 22 -> 18
  //        18*19^2 + 18*19 + 18 = 6858 = 82*83 + 52                       -> "~q"
  const twoByOne = makeRGBA(2, 1, (x) => (x === 0 ? [255, 255, 255] : [0, 0, 0]));
  const a = blurhashRefEncode(twoByOne, 2, 1, 2, 1);
  assert(a === '1~Lqe9~q', `2x1 image: got ${a}, expected 1~Lqe9~q`);

  // (b) 6x4 colour image, 3x2 components, strongest AC negative (npm gives BQH^6Z0w1I{JE-Fd).
  // Expected string from woltapp/blurhash C/encode.c (revision d6be459) compiled with gcc 12,
  // glibc 2.36; its prefix checked by hand: "B" = (3-1) + (2-1)*9 = 11; "k" = 46 =
  // floor(0.2811 * 166 - 0.5) for max |AC| = |R of AC (1,0)|; "H^6Z" = sRGB (156, 108, 101) of the
  // linear mean (0.3326, 0.1511, 0.1311); "0{" = 79 = 0*361 + 4*19 + 3 for AC (1,0) =
  // (-0.2811, -0.0741, -0.1330) / (47/166).
  const sixByFour = makeRGBA(6, 4, (x, y) => [x < 3 ? 10 + 5 * y : 240 - 7 * x, 30 * y + 20 * x, (x * y * 17) % 256]);
  const b = blurhashRefEncode(sixByFour, 6, 4, 3, 2);
  assert(b === 'BkH^6Z0{5+;0JWOE', `6x4 image: got ${b}, expected BkH^6Z0{5+;0JWOE`);

  // (c) The DC digits (characters 2..5) are the sRGB-encoded mean linear colour, +-1 level.
  const rgba = makeRGBA(W, H, (x, y) => [(7 * x + 3 * y) % 256, (x * y) % 256, 255 - 9 * y]);
  const mean = [0, 1, 2].map((c) => {
    let sum = 0;
    for (let p = 0; p < W * H; ++p) sum += toLinear(rgba[4 * p + c]);
    return toSRGB(sum / (W * H));
  });
  const hash = blurhashRefEncode(rgba, W, H, 4, 3);
  const chars = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~';
  const dc = [...hash.slice(2, 6)].reduce((v, ch) => v * 83 + chars.indexOf(ch), 0);
  const dcRGB = [dc >> 16, (dc >> 8) & 255, dc & 255];
  assert(dcRGB.every((v, c) => Math.abs(v - mean[c]) <= 1), `DC ${dcRGB} vs linear mean ${mean.map((v) => v.toFixed(2))}`);
});

check('4. ThumbHash round trip of flat greys stays within 2 levels; resize back to H x W', () => {
  let worst = 0;
  for (let grey = 0; grey < 256; grey += 3) {
    const rgba = imageToRGBA(new Uint8Array(W * H).fill(grey), 0, W, H, 1);
    const decoded = thumbhashCodec.decode(thumbhashCodec.encode(rgba, W, H), W, H);
    const out = new Uint8Array(W * H);
    storeRGBA(decoded, out, 0, W * H, 1);
    for (const v of out) worst = Math.max(worst, Math.abs(v - grey));
    assert(worst <= 2, `grey ${grey}: decoded pixels off by ${worst} levels`);
  }

  // The decoded image comes back at the input's size, with the placeholder's structure: dark
  // left half, bright right half.
  const split = makeRGBA(W, H, (x) => (x < W / 2 ? [30, 30, 30] : [220, 220, 220]));
  const decoded = thumbhashCodec.decode(thumbhashCodec.encode(split, W, H), W, H);
  assert(decoded.length === W * H * 4, `decoded ${decoded.length / 4} pixels, expected ${W * H}`);
  const column = (x) => decoded[4 * ((H >> 1) * W + x)];
  assert(column(2) < 100 && column(W - 3) > 150, `decoded columns ${column(2)}, ${column(W - 3)}`);

  // The bilinear resize: the identity at the same size, and exact on a linear ramp (away from
  // the clamped edges) when it scales 32 -> 28 like ThumbHash's output.
  const ramp = makeRGBA(32, 32, (x, y) => [4 * x, 4 * y, 100]);
  const same = resizeBilinearRGBA(ramp, 32, 32, 32, 32);
  assert(same.every((v, i) => v === ramp[i]), 'resize to the same size is not the identity');
  const small = resizeBilinearRGBA(ramp, 32, 32, W, H);
  for (let y = 1; y < H - 1; ++y) {
    for (let x = 1; x < W - 1; ++x) {
      const want = [4 * ((x + 0.5) * 32 / W - 0.5), 4 * ((y + 0.5) * 32 / H - 0.5), 100, 255];
      const got = small.subarray(4 * (y * W + x), 4 * (y * W + x) + 4);
      assert(want.every((v, c) => Math.abs(got[c] - v) < 1e-9), `resized ramp at (${x}, ${y}): ${got} vs ${want}`);
    }
  }
});

check('5. .npy reader/writer round trip, malformed files rejected', () => {
  for (const shape of [[3, 5, 4], [2, 3, 4, 3], [7]]) {
    const count = shape.reduce((x, y) => x * y, 1);
    const data = Uint8Array.from({ length: count }, (_, i) => (i * 37 + 11) % 256);
    const bytes = formatNpy(shape, data);
    assert((bytes.readUInt16LE(8) + 10) % 64 === 0 && bytes[bytes.readUInt16LE(8) + 9] === 0x0a, 'header not 64-aligned / newline-terminated');
    const back = parseNpy(bytes);
    assert(JSON.stringify(back.shape) === JSON.stringify(shape), `shape ${back.shape} != ${shape}`);
    assert(Buffer.from(back.data).equals(Buffer.from(data)), `data differs for shape ${shape}`);
  }
  // A header as NumPy 1.x writes it (np.save of a (1, 2, 2) uint8 array).
  const dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 2), }";
  const numpyHeader = Buffer.concat([Buffer.from([0x93]), Buffer.from('NUMPY\x01\x00', 'latin1'),
    Buffer.from([118, 0]), Buffer.from(dict.padEnd(117) + '\n', 'latin1'), Buffer.from([1, 2, 3, 4])]);
  const parsed = parseNpy(numpyHeader);
  assert(parsed.shape.join() === '1,2,2' && parsed.data.join() === '1,2,3,4', 'NumPy-written header not parsed');

  const good = formatNpy([2, 2, 2], new Uint8Array(8));
  const withHeader = (d) => {
    const text = d.padEnd(good.readUInt16LE(8) - 1) + '\n';
    return Buffer.concat([good.subarray(0, 10), Buffer.from(text, 'latin1'), good.subarray(good.length - 8)]);
  };
  assertThrows(() => parseNpy(Buffer.from('not a numpy file at all')), InputError, 'bad magic');
  assertThrows(() => parseNpy(good.subarray(0, good.length - 1)), InputError, 'truncated data');
  assertThrows(() => parseNpy(Buffer.concat([good, Buffer.from([0])])), InputError, 'trailing data');
  assertThrows(() => parseNpy(good.subarray(0, 40)), InputError, 'truncated header');
  assertThrows(() => parseNpy(withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }")), InputError, 'float32 dtype');
  assertThrows(() => parseNpy(withHeader("{'descr': '|u1', 'fortran_order': True, 'shape': (2, 2, 2), }")), InputError, 'Fortran order');
  assertThrows(() => parseNpy(withHeader("{'descr': '|u1', 'fortran_order': False}")), InputError, 'no shape');
});

check('6. CLI end to end on a tiny input; bad arguments exit 1', () => {
  const dir = mkdtempSync(join(tmpdir(), 'check-blurhash-'));
  try {
    for (const shape of [[3, 8, 6], [2, 5, 7, 3]]) {
      const count = shape.reduce((x, y) => x * y, 1);
      const input = join(dir, `in-${shape.length}.npy`);
      writeNpy(input, shape, Uint8Array.from({ length: count }, (_, i) => (i * 53) % 256));
      const out = join(dir, `out-${shape.length}`);
      const summary = main(['--in', input, '--out', out, '--max-chars', '8'], () => {});
      // 8 chars: 1x1 (6 chars), 1x2 and 2x1 (8 chars), for npm and the reference port; ThumbHash.
      const names = summary.map((e) => e.name).sort().join(' ');
      assert(names === 'blurhash-1x1 blurhash-1x2 blurhash-2x1 blurhash-ref-1x1 blurhash-ref-1x2 blurhash-ref-2x1 thumbhash',
        `configs: ${names}`);
      const onDisk = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
      assert(onDisk.length === summary.length, 'summary.json differs from the returned summary');
      for (const e of summary) {
        const decoded = readNpy(join(out, `${e.name}.npy`));
        assert(decoded.shape.join() === shape.join(), `${e.name}: shape ${decoded.shape}`);
        if (e.method !== 'thumbhash') assert(e.bytes === 4 + 2 * e.components[0] * e.components[1], `${e.name}: ${e.bytes} chars`);
        assert(e.encode_ms_per_image >= 0 && e.decode_ms_per_image >= 0 && e.mean_bytes > 0, `${e.name}: bad summary entry`);
      }
    }
    writeFileSync(join(dir, 'bad.npy'), 'garbage');
    assertThrows(() => main(['--in', join(dir, 'bad.npy'), '--out', dir], () => {}), InputError, 'malformed .npy');
    assertThrows(() => main(['--in', join(dir, 'in-3.npy')], () => {}), InputError, 'missing --out');
    assertThrows(() => main(['--in', 'x', '--out', dir, '--max-chars', '5'], () => {}), InputError, '--max-chars 5');

    const script = fileURLToPath(new URL('./hashes.mjs', import.meta.url));
    const run = spawnSync(process.execPath, [script, '--in', join(dir, 'bad.npy'), '--out', dir], { encoding: 'utf8' });
    assert(run.status === 1 && /malformed \.npy/.test(run.stderr), `CLI on a bad file: exit ${run.status}, stderr ${run.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

check('RGBA: ThumbHash keeps alpha, BlurHash composites onto white', () => {
  const w = 16, h = 16;
  assert(imageLayout([2, h, w, 4]).channels === 4, 'an [N, H, W, 4] stack is not RGBA');
  // Left half opaque red, right half transparent (hiding green).
  const data = new Uint8Array(w * h * 4);
  for (let p = 0; p < w * h; ++p) {
    const left = p % w < w / 2;
    data.set(left ? [255, 0, 0, 255] : [0, 255, 0, 0], 4 * p);
  }
  const rgba = imageToRGBA(data, 0, w, h, 4);
  const thumb = thumbhashCodec.decode(thumbhashCodec.encode(rgba, w, h), w, h);
  const out = new Uint8Array(w * h * 4);
  storeRGBA(thumb, out, 0, w * h, 4);
  const alphaLeft = out[4 * (8 * w + 1) + 3], alphaRight = out[4 * (8 * w + w - 2) + 3];
  assert(alphaLeft > 200 && alphaRight < 60, `ThumbHash alpha left ${alphaLeft}, right ${alphaRight}`);
  const blur = blurhashCodec(4, 3, true);
  const decoded = blur.decode(blur.encode(rgba, w, h), w, h);
  const right = 4 * (8 * w + w - 2);
  assert(decoded[right] > 200 && decoded[right + 1] > 200 && decoded[right + 3] === 255,
    `BlurHash's transparent side is not white: ${Array.from(decoded.slice(right, right + 4))}`);
  return `ThumbHash alpha ${alphaLeft} | ${alphaRight}; BlurHash right side ${Array.from(decoded.slice(right, right + 3))}`;
});

if (failures.length) {
  console.log(`check_blurhash: ${failures.length} check(s) failed`);
  process.exit(1);
}
console.log('check_blurhash: all checks passed');
