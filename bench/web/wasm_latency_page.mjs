// The page side of bench/wasm_latency.sh (bench/web/wasm_latency.mjs serves it and calls
// window.bench(plan)): times lkrt.mjs's calls and onnxruntime-web's InferenceSession.run on
// the same models and inputs, checks their outputs agree, then times placeholder decode and
// draw for lkrt, ThumbHash and BlurHash. Everything loads from the page's own origin.
let lkrt, ort, thumbHashToRGBA, blurhashDecode;
try {
  lkrt = await import('/lkrt/lkrt.mjs');
  ort = await import('/ort/ort.wasm.min.mjs');
  ({ thumbHashToRGBA } = await import('/npm/thumbhash/thumbhash.js'));
  ({ decode: blurhashDecode } = await import('/npm/blurhash/index.js'));
  // One thread, SIMD (the only build onnxruntime-web 1.30 ships), no proxy worker; its
  // .wasm and glue from this origin.
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmPaths = new URL('/ort/', location.href).href;
  window.benchReady = true;
} catch (e) {
  window.benchError = String(e && e.stack || e);
}

const now = () => performance.now();
const fetchBytes = async (url) => {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
};

// Nearest-rank quantile of sorted values.
const quantile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.round(p * (sorted.length - 1)))];
const summary = (times) => {
  const s = [...times].sort((a, b) => a - b);
  return { median: quantile(s, 0.5), p10: quantile(s, 0.1), p90: quantile(s, 0.9), calls: s.length };
};

// Times call(i) (sync or async) after a warm-up: `seconds` of calls and at least minCalls.
async function timeCalls(call, seconds, minCalls) {
  const warmEnd = now() + 250;
  for (let i = 0; i < 5 || now() < warmEnd; ++i) await call(i);
  const times = [];
  const end = now() + 1000 * seconds;
  for (let i = 0; times.length < minCalls || now() < end; ++i) {
    const t0 = now();
    const r = call(i);
    if (r instanceof Promise) await r;
    times.push(now() - t0);
  }
  return times;
}

// Rounds of every runtime in turn; a runtime's figure is its round with the lowest median.
async function rounds(calls, plan, perRound = plan.seconds, minCalls = plan.minCalls) {
  const all = Object.fromEntries(Object.keys(calls).map((k) => [k, []]));
  for (let r = 0; r < plan.repeat; ++r) {
    for (const [name, call] of Object.entries(calls)) all[name].push(summary(await timeCalls(call, perRound, minCalls)));
  }
  return Object.fromEntries(Object.entries(all).map(([name, rs]) => {
    const best = rs.reduce((a, b) => (b.median < a.median ? b : a));
    return [name, { ...best, medians: rs.map((x) => x.median) }];
  }));
}

// mse(a - b) / mse(a): a is the reference.
function normalisedError(a, b) {
  if (a.length !== b.length) throw new Error(`outputs differ in size: ${a.length} and ${b.length}`);
  let d = 0, s = 0;
  for (let i = 0; i < a.length; ++i) d += (a[i] - b[i]) ** 2, s += a[i] ** 2;
  return d / s;
}

// ImageData to the model's channels in [-1, 1], as lkrt reads an image (runtime/tools/png.cpp
// png_to_chw): premultiplied RGBA for 4 channels, composited onto white for 1 or 3.
function toChw(image, channels) {
  const { width: w, height: h, data } = image;
  const plane = w * h, out = new Float32Array(channels * plane);
  for (let i = 0; i < plane; ++i) {
    const rgb = [0, 1, 2].map((c) => Math.fround(data[4 * i + c] / 255));
    const alpha = Math.fround(data[4 * i + 3] / 255);
    if (channels === 4) {
      for (let c = 0; c < 3; ++c) out[c * plane + i] = rgb[c] * alpha * 2 - 1;
      out[3 * plane + i] = alpha * 2 - 1;
      continue;
    }
    for (let c = 0; c < 3; ++c) rgb[c] = Math.fround(rgb[c] * alpha + (1 - alpha));
    if (channels === 3) for (let c = 0; c < 3; ++c) out[c * plane + i] = rgb[c] * 2 - 1;
    else out[i] = Math.fround(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) * 2 - 1;
  }
  return out;
}

// Edge-replication padding to a multiple of k, half before and half after, as lkrt_enhance
// does it (and docs/export.md asks of an ONNX caller).
function padded(chw, C, h, w, k) {
  const hp = Math.ceil(h / k) * k, wp = Math.ceil(w / k) * k, top = (hp - h) >> 1, left = (wp - w) >> 1;
  const out = new Float32Array(C * hp * wp);
  for (let c = 0; c < C; ++c)
    for (let y = 0; y < hp; ++y) {
      const sy = Math.min(Math.max(y - top, 0), h - 1);
      for (let x = 0; x < wp; ++x) out[(c * hp + y) * wp + x] = chw[(c * h + sy) * w + Math.min(Math.max(x - left, 0), w - 1)];
    }
  return { data: out, hp, wp, top, left };
}

// Loads a case's models (lkrt fp32, int8; ORT fp32) and its inputs: the timed calls, and
// the normalised error of lkrt's outputs against ORT's on the first input.
async function setUp(c, plan) {
  const lk = {}, loadMs = {};
  for (const w of ['fp32', 'int8']) {
    const bytes = await fetchBytes(`/data/${c.model}-${w}.lkm`);
    const t0 = now();
    lk[w] = await lkrt.load(bytes);
    loadMs[`lkrt_${w}`] = now() - t0;
  }
  const onnx = await fetchBytes(`/data/${c.model}.onnx`);
  let t0 = now();
  const session = await ort.InferenceSession.create(onnx, {
    executionProviders: ['wasm'], graphOptimizationLevel: 'all', executionMode: 'sequential',
    intraOpNumThreads: 1, interOpNumThreads: 1,
  });
  loadMs.ort_fp32 = now() - t0;
  const info = lk.fp32.info;
  const calls = {};
  let reference, ours;  // ORT's and lkrt's outputs on the first input
  if (c.kind === 'generator') {
    const variants = [0, 1, 2, 3].map((k) => ({ z: lk.fp32.normals(k + 1, info.latentDim), label: info.classes ? (3 * k + 1) % info.classes : -1 }));
    const feeds = (v) => {
      const f = { z: new ort.Tensor('float32', v.z, [1, info.latentDim]) };
      if (info.classes) f.label = new ort.Tensor('int64', BigInt64Array.of(BigInt(v.label)), [1]);
      return f;
    };
    for (const w of ['fp32', 'int8']) {
      calls[`lkrt_${w}`] = (i) => lk[w].generate({ z: variants[i % 4].z, label: variants[i % 4].label, output: 'float' });
    }
    calls.ort_fp32 = (i) => session.run(feeds(variants[i % 4]));
    reference = (await session.run(feeds(variants[0])))[session.outputNames[0]].data;
    ours = (w) => calls[`lkrt_${w}`](0).values;
  } else {
    const input = plan.inputs[c.input];
    const rgba = new Uint8ClampedArray(await fetchBytes(`/data/${input.file}`));
    const image = new ImageData(rgba, input.width, input.height);
    const C = info.channels, h = input.height, w = input.width;
    const p = padded(toChw(image, C), C, h, w, info.padMultiple);
    for (const wt of ['fp32', 'int8']) calls[`lkrt_${wt}`] = () => lk[wt].enhance(image, { output: 'float' });
    calls.ort_fp32 = () => session.run({ [session.inputNames[0]]: new ort.Tensor('float32', p.data, [1, C, p.hp, p.wp]) });
    // ORT's output cropped back and clamped, as lkrt_enhance returns it.
    const full = (await calls.ort_fp32())[session.outputNames[0]].data;
    reference = new Float32Array(C * h * w);
    for (let ch = 0; ch < C; ++ch)
      for (let y = 0; y < h; ++y)
        for (let x = 0; x < w; ++x) reference[(ch * h + y) * w + x] = Math.min(1, Math.max(-1, full[(ch * p.hp + y + p.top) * p.wp + x + p.left]));
    ours = (wt) => calls[`lkrt_${wt}`]().values;
  }
  const errors = { lkrt_fp32: normalisedError(reference, ours('fp32')), lkrt_int8: normalisedError(reference, ours('int8')) };
  const release = async () => {
    lk.fp32.free();
    lk.int8.free();
    await session.release();
  };
  return { calls, loadMs, errors, release, flops: c.kind === 'generator' ? info.flops : 0 };
}

// Loads a case's models (lkrt fp32, int8; ORT fp32) and its inputs: the timed calls, and
// the normalised error of lkrt's outputs against ORT's on the first input.
async function benchCase(c, plan) {
  const { calls, loadMs, errors, release, flops } = await setUp(c, plan);
  console.log(`${c.name}: timing`);
  const runtimes = await rounds(calls, plan);
  for (const name of Object.keys(runtimes)) Object.assign(runtimes[name], { loadMs: loadMs[name], error: errors[name] });
  await release();
  return { name: c.name, model: c.model, flops, runtimes };
}

// --profile: the driver records a CPU profile around runProfile, one runtime of one case.
let profiling = null;
window.prepareProfile = async (plan, c, runtime) => {
  profiling = await setUp(c, plan);
  profiling.call = profiling.calls[runtime];
  for (let i = 0; i < 5; ++i) await profiling.call(i);
};
window.runProfile = async (seconds) => {
  const end = now() + 1000 * seconds;
  let n = 0;
  while (now() < end) await profiling.call(n++);
  await profiling.release();
  return n;
};

// Decode and draw every image of a set, per decoder: lkrt's code (fp32 and int8 weights),
// ThumbHash (base64 to bytes included: hashes travel as text), BlurHash at 32 x 32 and at the
// model's size. One canvas per image and decoder, its context taken once, as a page would.
async function benchDecode(set, plan) {
  const holder = document.getElementById('canvases');
  const canvas = (w, h) => {
    const el = document.createElement('canvas');
    el.width = w, el.height = h;
    holder.appendChild(el);
    return el.getContext('2d');
  };
  const lk = {}, loadMs = {};
  for (const w of ['fp32', 'int8']) {
    const bytes = await fetchBytes(`/data/${set.model}-${w}.lkm`);
    const t0 = now();
    lk[w] = await lkrt.load(bytes);
    loadMs[w] = now() - t0;
  }
  const items = set.items;
  const { width: W, height: H } = lk.fp32.info;
  const b64 = (s) => Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0));
  const thumb = thumbHashToRGBA(b64(items[0].thumbhash));
  const codeBytes = (it) => Math.floor(it.code.length * 3 / 4);
  const decoders = [
    ...['fp32', 'int8'].map((w) => ({
      name: `lkrt decodeCode ${w} (${set.model})`, w: W, h: H, bytes: codeBytes, chars: (it) => it.code.length,
      draw: (it, ctx) => ctx.putImageData(lk[w].decodeCode(it.code), 0, 0),
    })),
    {
      name: 'ThumbHash thumbHashToRGBA', w: thumb.w, h: thumb.h, bytes: (it) => b64(it.thumbhash).length, chars: (it) => it.thumbhash.length,
      draw: (it, ctx) => {
        const { w, h, rgba } = thumbHashToRGBA(b64(it.thumbhash));
        ctx.putImageData(new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, rgba.length), w, h), 0, 0);
      },
    },
    ...[[32, 32], [W, H]].map(([w, h]) => ({
      name: `BlurHash decode ${w}x${h}`, w, h, bytes: (it) => it.blurhash.length, chars: (it) => it.blurhash.length,
      draw: (it, ctx) => ctx.putImageData(new ImageData(blurhashDecode(it.blurhash, w, h), w, h), 0, 0),
    })),
  ];
  const calls = {};
  for (const d of decoders) {
    const contexts = items.map(() => canvas(d.w, d.h));
    calls[d.name] = () => { for (let i = 0; i < items.length; ++i) d.draw(items[i], contexts[i]); };
  }
  console.log(`placeholder decode (${set.name}): timing`);
  const timed = await rounds(calls, plan, Math.max(0.5, plan.seconds / 2), 20);
  const mean = (f) => items.reduce((s, it) => s + f(it), 0) / items.length;
  const rows = decoders.map((d) => ({
    name: d.name, size: `${d.w}x${d.h}`, bytes: mean(d.bytes), chars: mean(d.chars), passes: timed[d.name].calls,
    median: timed[d.name].median / items.length, p10: timed[d.name].p10 / items.length, p90: timed[d.name].p90 / items.length,
  }));
  lk.fp32.free();
  lk.int8.free();
  return { set: set.name, model: set.model, images: items.length, rows, loadMs };
}

window.bench = async (plan) => {
  const cases = [];
  for (const c of plan.cases) cases.push(await benchCase(c, plan));
  const decode = [];
  for (const set of plan.placeholders) decode.push(await benchDecode(set, plan));
  return {
    userAgent: navigator.userAgent, isolated: self.crossOriginIsolated, lkrtIsa: await lkrt.isa(),
    ortVersion: ort.env.versions?.web ?? ort.env.versions?.common ?? 'unknown', ortThreads: ort.env.wasm.numThreads,
    cases, decode,
  };
};
