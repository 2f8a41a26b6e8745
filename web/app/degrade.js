// Damage an image on the page, as latentkit's degradations do (latentkit/data/degrade.h):
// blur (Gaussian), noise (Gaussian), JPEG (the browser's own encoder, canvas toBlob at a low
// quality) and dark (under-exposed). RGBA images are worked on premultiplied, as the models
// see them: blur filters all four channels; the others change the color as it shows on
// black and keep alpha. ImageData in, a Promise of ImageData out.

export const KINDS = {
  blur: { label: 'Blur', amount: 'sigma', min: 0.4, max: 3, step: 0.1, value: 1.2 },
  noise: { label: 'Noise', amount: 'sigma', min: 0.05, max: 0.5, step: 0.01, value: 0.2 },
  jpeg: { label: 'JPEG', amount: 'quality', min: 2, max: 60, step: 1, value: 12 },
  dark: { label: 'Dark', amount: 'stops', min: 0.4, max: 3, step: 0.1, value: 1.2 },
};

// Premultiplied RGBA in [0, 1] as Float32Array, and back to straight-alpha bytes.
function premultiplied(image) {
  const { data } = image;
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i += 4) {
    const a = data[i + 3] / 255;
    out[i] = (data[i] / 255) * a;
    out[i + 1] = (data[i + 1] / 255) * a;
    out[i + 2] = (data[i + 2] / 255) * a;
    out[i + 3] = a;
  }
  return out;
}

function straight(values, width, height) {
  const out = new ImageData(width, height);
  for (let i = 0; i < values.length; i += 4) {
    const a = Math.min(1, Math.max(0, values[i + 3]));
    out.data[i + 3] = Math.round(a * 255);
    for (let c = 0; c < 3; c++) out.data[i + c] = a > 0 ? Math.round(Math.min(1, Math.max(0, values[i + c] / a)) * 255) : 0;
  }
  return out;
}

// A small seeded generator (mulberry32) and Box-Muller normals.
function normals(seed) {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

function blur(image, sigma) {
  const { width: w, height: h } = image;
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = [];
  let sum = 0;
  for (let i = -r; i <= r; i++) sum += k[i + r] = Math.exp((-i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= sum;
  const reflect = (i, n) => (n === 1 ? 0 : i < 0 ? Math.min(-i, n - 1) : i >= n ? Math.max(2 * n - 2 - i, 0) : i);
  const src = premultiplied(image);
  const tmp = new Float32Array(src.length);
  const dst = new Float32Array(src.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 4; c++) {
        let v = 0;
        for (let i = -r; i <= r; i++) v += k[i + r] * src[4 * (y * w + reflect(x + i, w)) + c];
        tmp[4 * (y * w + x) + c] = v;
      }
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 4; c++) {
        let v = 0;
        for (let i = -r; i <= r; i++) v += k[i + r] * tmp[4 * (reflect(y + i, h) * w + x) + c];
        dst[4 * (y * w + x) + c] = v;
      }
    }
  }
  return straight(dst, w, h);
}

function colorOnly(image, f) {
  const v = premultiplied(image);
  for (let i = 0; i < v.length; i += 4) {
    for (let c = 0; c < 3; c++) v[i + c] = Math.min(v[i + 3], Math.max(0, f(v[i + c], i + c)));
  }
  return straight(v, image.width, image.height);
}

function noise(image, sigma, seed) {
  const next = normals(seed);
  // sigma is in the models' [-1, 1] units: half of it in [0, 1].
  return colorOnly(image, (x) => x + (sigma / 2) * next());
}

function dark(image, stops) {
  const gain = 2 ** -stops;
  return colorOnly(image, (x) => x * gain);
}

async function jpeg(image, quality) {
  const { width, height } = image;
  // The color as it shows on black goes through the browser's JPEG encoder; alpha is kept.
  const onBlack = new ImageData(width, height);
  const v = premultiplied(image);
  for (let i = 0; i < v.length; i += 4) {
    for (let c = 0; c < 3; c++) onBlack.data[i + c] = Math.round(v[i + c] * 255);
    onBlack.data[i + 3] = 255;
  }
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d');
  ctx.putImageData(onBlack, 0, 0);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', quality / 100));
  if (!blob) throw new Error('this browser cannot encode JPEG on a canvas');
  const bitmap = await createImageBitmap(blob);
  ctx.clearRect(0, 0, width, height);
  ctx.drawImage(bitmap, 0, 0);
  const decoded = ctx.getImageData(0, 0, width, height).data;
  for (let i = 0; i < v.length; i += 4) {
    for (let c = 0; c < 3; c++) v[i + c] = Math.min(v[i + 3], decoded[i + c] / 255);
  }
  return straight(v, width, height);
}

/** The image damaged by kind ('blur', 'noise', 'jpeg', 'dark') at amount. */
export async function degrade(image, kind, amount, seed = 1) {
  switch (kind) {
    case 'blur': return blur(image, amount);
    case 'noise': return noise(image, amount, seed);
    case 'jpeg': return jpeg(image, amount);
    case 'dark': return dark(image, amount);
    default: throw new Error(`unknown damage '${kind}' (blur, noise, jpeg or dark)`);
  }
}
