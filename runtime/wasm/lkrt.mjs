// lkrt in the browser: the latentkit runtime compiled to WebAssembly, as an ES module with
// no dependencies and no build step. Load a .lkm from bytes, then generate, decode a
// placeholder code, enhance, sample, or draw from a label map (a mask generator);
// results are ImageData (RGBA, straight alpha).
//
//   import { load } from './lkrt.mjs';
//   const model = await load(await (await fetch('fashion.lkm')).arrayBuffer());
//   ctx.putImageData(model.generate({ seed: 3, label: 5 }), 0, 0);
//   model.free();
//
// A bad file, code or argument throws an LkrtError with the runtime's message. A
// text-to-image model samples from a prompt: model.sample({ prompt: 'cat face', guidance: 3 }).
// A mask generator (spade) draws a label map of class ids (or an ImageData painted in its
// palette, model.info.palette): model.generateMap({ map, seed: 3 }). A wallpaper model (psgan)
// draws the picture of a date at any size: model.wallpaper({ date: '2026-12-06', width: 1080, height: 2400 }).
import createLkrt from './lkrt-wasm.mjs';

const KINDS = ['generator', 'enhancer', 'denoiser', 'mask-generator', 'wallpaper'];
const WEIGHTS = ['fp32', 'fp16', 'int8', 'mixed'];
const SAMPLERS = { ddim: 0, dpmpp: 1 };

/** An error from the runtime: status is lkrt's (2 format, 4 argument, ...). */
export class LkrtError extends Error {
  constructor(message, status) {
    super(message);
    this.name = 'LkrtError';
    this.status = status;
  }
}

let runtime = null;

/**
 * Instantiates the WebAssembly module once (later calls return the same promise).
 * options.wasmUrl: where lkrt-wasm.wasm is, if not beside this file.
 */
export function init(options = {}) {
  if (!runtime) {
    const settings = {};
    if (options.wasmUrl) settings.locateFile = () => String(options.wasmUrl);
    runtime = createLkrt(settings).then((M) => new Runtime(M));
  }
  return runtime;
}

/** A model from the bytes of a .lkm (ArrayBuffer, a typed array or a DataView). */
export async function load(bytes, options = {}) {
  const rt = await init(options);
  return rt.load(bytes);
}

/** The ISA of the kernels in this build ("wasm-simd128" or "scalar"). */
export async function isa() {
  const rt = await init();
  return rt.string(rt.M._lkrt_wasm_isa());
}

class Runtime {
  constructor(M) {
    this.M = M;
  }

  string(pointer) {
    const heap = this.M.HEAPU8;
    let end = pointer;
    while (heap[end] !== 0) end++;
    return new TextDecoder().decode(heap.subarray(pointer, end));
  }

  check(status) {
    if (status !== 0) {
      throw new LkrtError(`${this.string(this.M._lkrt_status_string(status))}: ${this.string(this.M._lkrt_last_error())}`, status);
    }
  }

  // n bytes of wasm memory for the duration of f(pointer); freed after.
  with(n, f) {
    const p = this.M._malloc(Math.max(n, 1));
    if (!p) throw new LkrtError('out of memory: could not allocate ' + n + ' bytes', 5);
    try {
      return f(p);
    } finally {
      this.M._free(p);
    }
  }

  load(bytes) {
    let view;
    if (bytes instanceof ArrayBuffer) view = new Uint8Array(bytes);
    else if (ArrayBuffer.isView(bytes)) view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    else throw new LkrtError('load: expected the bytes of a .lkm file (ArrayBuffer or typed array), got ' + typeof bytes, 4);
    const handle = this.with(view.length, (data) => {
      this.M.HEAPU8.set(view, data);
      return this.with(4, (out) => {
        this.check(this.M._lkrt_model_load_memory(data, view.length, out));
        return this.M.HEAPU32[out >> 2];
      });
    });
    return new Model(this, handle);
  }
}

/** A loaded .lkm. Free it with free() when done (its memory is the module's, not the GC's). */
export class Model {
  constructor(rt, handle) {
    this.rt = rt;
    this.handle = handle;
    const M = rt.M;
    const tasks = M._lkrt_model_tasks(handle);
    this.info = {
      kind: KINDS[M._lkrt_model_kind(handle)] ?? 'unknown',
      id: rt.string(M._lkrt_model_id(handle)),
      channels: M._lkrt_model_channels(handle),
      height: M._lkrt_model_height(handle),
      width: M._lkrt_model_width(handle),
      latentDim: M._lkrt_model_latent_dim(handle),
      classes: M._lkrt_model_num_classes(handle),
      weights: WEIGHTS[M._lkrt_model_weight_type(handle)] ?? 'unknown',
      ops: M._lkrt_model_op_count(handle),
      params: M._lkrt_wasm_u64(handle, 0),
      flops: M._lkrt_wasm_u64(handle, 1),
      padMultiple: M._lkrt_model_pad_multiple(handle),
      timesteps: M._lkrt_model_timesteps(handle),
      prediction: M._lkrt_model_prediction(handle) === 1 ? 'v' : 'eps',
      tasks: [tasks & 1 ? 'inpaint' : null, tasks & 2 ? 'restore' : null].filter(Boolean),
      sampleSteps: M._lkrt_model_sample_steps(handle),
      textWidth: M._lkrt_model_text_width(handle),
      maxTokens: M._lkrt_model_max_tokens(handle),
      vocabSize: M._lkrt_model_vocab_size(handle),
      palette: null,
      cell: M._lkrt_model_cell(handle),
      moods: [],
    };
    for (let k = 0; k < M._lkrt_model_mood_count(handle); k++) this.info.moods.push(rt.string(M._lkrt_model_mood_name(handle, k)));
    if (this.info.kind === 'mask-generator') {
      const classes = [];
      for (let k = 0; k < this.info.classes; k++) {
        const color = M._lkrt_model_class_color(handle, k);
        classes.push({ name: rt.string(M._lkrt_model_class_name(handle, k)), color: Array.from(M.HEAPU8.subarray(color, color + 4)) });
      }
      this.info.palette = { name: rt.string(M._lkrt_model_palette_name(handle)), classes };
    }
  }

  get alive() {
    return this.handle !== 0;
  }

  free() {
    if (this.handle) this.rt.M._lkrt_model_free(this.handle);
    this.handle = 0;
  }

  /** n standard normals from a seed, as the lkrt command's --seed draws them. */
  normals(seed, n) {
    const s = BigInt.asUintN(64, BigInt(seed));
    return this.rt.with(4 * n, (p) => {
      this.rt.M._lkrt_wasm_normals(Number(s & 0xffffffffn), Number(s >> 32n), p, n);
      return new Float32Array(this.rt.M.HEAPF32.buffer, p, n).slice();
    });
  }

  // The prompt as a NUL-terminated UTF-8 string in wasm memory, for the duration of f.
  withString(text, f) {
    const bytes = new TextEncoder().encode(String(text));
    return this.rt.with(bytes.length + 1, (p) => {
      this.rt.M.HEAPU8.set(bytes, p);
      this.rt.M.HEAPU8[p + bytes.length] = 0;
      return f(p);
    });
  }

  expectText(what) {
    this.expect('denoiser', what);
    if (!this.info.textWidth) throw new LkrtError(`${what}: this model has no text encoder (export a text-to-image run)`, 4);
  }

  /**
   * A text-to-image model's ids of the prompt's words (lowercase runs of ASCII letters and
   * digits), as latentkit's tokenizer gives them; 1 for a word it does not know. An empty
   * prompt or one of more than info.maxTokens words throws LkrtError.
   */
  tokenize(prompt) {
    this.expectText('tokenize');
    const M = this.rt.M;
    return this.withString(prompt, (text) =>
      this.rt.with(4 * this.info.maxTokens + 4, (ids) => {
        const count = ids + 4 * this.info.maxTokens;
        this.rt.check(M._lkrt_tokenize(this.handle, text, ids, count));
        return new Int32Array(M.HEAP32.buffer, ids, M.HEAP32[count >> 2]).slice();
      }),
    );
  }

  /** The prompt's unknown words, one message each: "unknown word 'kat' (nearest known: cat, hat, kite)". */
  promptWarnings(prompt) {
    this.expectText('promptWarnings');
    const text = this.withString(prompt, (p) => this.rt.string(this.rt.M._lkrt_prompt_warnings(this.handle, p)));
    return text.split('\n').filter(Boolean);
  }

  /** The text encoder's pooled embedding of the prompt (Float32Array of info.textWidth). */
  encodePrompt(prompt) {
    this.expectText('encodePrompt');
    const n = this.info.textWidth;
    return this.rt.with(4 * n, (out) => {
      this.withString(prompt, (p) => this.rt.check(this.rt.M._lkrt_encode_prompt(this.handle, p, out)));
      return new Float32Array(this.rt.M.HEAPF32.buffer, out, n).slice();
    });
  }

  /**
   * A generator's image from a seed or a latent z (Float32Array of latentDim), and a label
   * for conditional models. ImageData; with { output: 'float' } the raw values
   * { values: Float32Array [channels * height * width] in [-1, 1], channels, height, width };
   * with { output: 'png' } { png: Uint8Array, channels, height, width }, the PNG file the
   * lkrt command writes (the model's channels, stored deflate).
   */
  generate({ seed = 0, z = null, label = -1, output = 'image' } = {}) {
    this.expect('generator', 'generate');
    const { latentDim } = this.info;
    const latent = z ? Float32Array.from(z) : this.normals(seed, latentDim);
    if (latent.length !== latentDim) throw new LkrtError(`generate: z has ${latent.length} values, the model expects ${latentDim}`, 4);
    return this.run(this.info.height, this.info.width, output, (out) =>
      this.rt.with(4 * latentDim, (zp) => {
        this.rt.M.HEAPF32.set(latent, zp >> 2);
        this.rt.check(this.rt.M._lkrt_generate(this.handle, zp, label, out));
      }),
    );
  }

  /**
   * A mask generator's image from a label map and a style: map is the class id of each pixel
   * row by row (height * width numbers below info.classes), or an ImageData of the model's size
   * painted in its palette's colors; the style latent z (latentDim numbers) or a seed for it,
   * drawn as the lkrt command's --seed draws it. Output as generate.
   */
  generateMap({ map, seed = 0, z = null, output = 'image' } = {}) {
    this.expect('mask-generator', 'generateMap');
    const { latentDim, height, width } = this.info;
    const ids = map && map.data && map.width !== undefined ? this.mapFromImage(map) : Uint8Array.from(map ?? []);
    if (ids.length !== height * width) {
      throw new LkrtError(`generateMap: the map has ${ids.length} class ids, the model draws ${width}x${height} (${height * width})`, 4);
    }
    const latent = z ? Float32Array.from(z) : this.normals(seed, latentDim);
    if (latent.length !== latentDim) throw new LkrtError(`generateMap: z has ${latent.length} values, the model expects ${latentDim}`, 4);
    const M = this.rt.M;
    return this.run(height, width, output, (out) =>
      this.rt.with(4 * latentDim + ids.length, (zp) => {
        M.HEAPF32.set(latent, zp >> 2);
        M.HEAPU8.set(ids, zp + 4 * latentDim);
        this.rt.check(M._lkrt_generate_map(this.handle, zp, zp + 4 * latentDim, out));
      }),
    );
  }

  /**
   * A label map painted in the mask generator's palette (ImageData, any size) as class ids,
   * a Uint8Array of width * height; a pixel of alpha 0 is the palette's transparent class if
   * it has one. A color outside the palette throws LkrtError naming the pixel and the colors.
   */
  mapFromImage(image) {
    this.expect('mask-generator', 'mapFromImage');
    if (!image || !image.data || !(image.width > 0) || !(image.height > 0) || image.data.length !== 4 * image.width * image.height) {
      throw new LkrtError('mapFromImage: expected an ImageData (RGBA)', 4);
    }
    const { width, height, data } = image;
    const M = this.rt.M;
    return this.rt.with(5 * width * height, (rgba) => {
      M.HEAPU8.set(data, rgba);
      const ids = rgba + 4 * width * height;
      this.rt.check(M._lkrt_map_from_pixels(this.handle, rgba, 4, height, width, ids));
      return M.HEAPU8.slice(ids, ids + width * height);
    });
  }

  /**
   * A wallpaper model's picture of a date ("YYYY-MM-DD", "YYYY-MM-DDTHH", or days since
   * 1970-01-01 as a number) and seed, width x height pixels (1 to 8192 each), drawn at 1/scale
   * (1, 2 or 4) and upscaled, tileable or not, in a mood of info.moods (null: none) with an
   * optional shift of the style (info.latentDim numbers): the lkrt command's
   * `--size WxH --date D --seed S --scale s --tileable --mood M`. ImageData (alpha 255); a
   * malformed date, a bad size or an unknown mood throws LkrtError naming the valid ones.
   */
  wallpaper({ date = 0, seed = 0, width = 1080, height = 2400, scale = 4, tileable = false, mood = null, shift = null } = {}) {
    this.expect('wallpaper', 'wallpaper');
    const M = this.rt.M;
    const day = typeof date === 'number' ? date : this.withString(date, (text) =>
      this.rt.with(8, (out) => {
        this.rt.check(M._lkrt_wallpaper_day(text, out));
        return M.HEAPF64[out >> 3];
      }));
    const index = mood === null || mood === undefined ? -1 : this.withString(mood, (name) => M._lkrt_model_mood_index(this.handle, name));
    if (index < 0 && mood !== null && mood !== undefined) {
      throw new LkrtError(`wallpaper: no mood '${mood}'; this model's moods: ${this.info.moods.join(', ') || 'none'}`, 4);
    }
    if (![width, height].every(Number.isInteger)) throw new LkrtError(`wallpaper: width and height are whole numbers, got ${width} x ${height}`, 4);
    const n = shift ? shift.length : 0;
    if (shift && n !== this.info.latentDim) throw new LkrtError(`wallpaper: shift has ${n} values, the model's style has ${this.info.latentDim}`, 4);
    const s = BigInt.asUintN(64, BigInt(seed));
    const bytes = 4 * Math.max(width, 0) * Math.max(height, 0);
    return this.rt.with(4 * n + bytes, (p) => {
      if (shift) M.HEAPF32.set(Float32Array.from(shift), p >> 2);
      const rgba = p + 4 * n;
      this.rt.check(M._lkrt_wasm_wallpaper(this.handle, day, Number(s & 0xffffffffn), Number(s >> 32n), width, height, scale,
        tileable ? 1 : 0, index, shift ? p : 0, rgba));
      const data = new Uint8ClampedArray(M.HEAPU8.buffer, rgba, bytes).slice();
      return typeof ImageData === 'function' ? new ImageData(data, width, height) : { data, width, height };
    });
  }

  /** A placeholder code's text (base64url) decoded by this generator. */
  decodeCode(text, { output = 'image' } = {}) {
    this.expect('generator', 'decodeCode');
    const bytes = new TextEncoder().encode(String(text));
    return this.run(this.info.height, this.info.width, output, (out) =>
      this.rt.with(bytes.length + 1, (tp) => {
        this.rt.M.HEAPU8.set(bytes, tp);
        this.rt.M.HEAPU8[tp + bytes.length] = 0;
        this.rt.check(this.rt.M._lkrt_decode_code_text(this.handle, tp, out));
      }),
    );
  }

  /** An enhancer's output for an ImageData (any size; tiles of tile x tile, 0: whole). */
  enhance(image, { tile = 256, output = 'image' } = {}) {
    this.expect('enhancer', 'enhance');
    const { width, height } = image;
    return this.run(height, width, output, (out) =>
      this.withPixels(image, (input) => this.rt.check(this.rt.M._lkrt_enhance(this.handle, input, height, width, tile, out))),
    );
  }

  /**
   * A diffusion model's sample: x_T from the seed, then steps of the sampler (ddim or dpmpp),
   * with classifier-free guidance for a label or, for a text-to-image model, a prompt (no
   * prompt: the model's "no prompt" sample). inpaint: { image, mask } (ImageData, mask white
   * where to fill) or restore: ImageData, for models trained for them.
   */
  sample({ seed = 0, steps = 0, sampler = 'ddim', label = -1, prompt = null, guidance = 1, inpaint = null, restore = null, output = 'image' } = {}) {
    this.expect('denoiser', 'sample');
    if (!(sampler in SAMPLERS)) throw new LkrtError(`sample: sampler is ddim or dpmpp, got '${sampler}'`, 4);
    const text = prompt === null || prompt === undefined ? null : this.encodePrompt(prompt);
    const { channels, height, width } = this.info;
    const n = channels * height * width;
    const x = this.normals(seed, n);
    const M = this.rt.M;
    return this.run(height, width, output, (out) =>
      this.rt.with(4 * n + 4 * (text ? text.length : 0), (xp) => {
        M.HEAPF32.set(x, xp >> 2);
        const tp = text ? xp + 4 * n : 0;
        if (text) M.HEAPF32.set(text, tp >> 2);
        const call = (cond) =>
          this.rt.check(M._lkrt_wasm_sample(this.handle, SAMPLERS[sampler], steps, label, guidance, tp, xp, cond, out));
        if (!inpaint && !restore) return call(0);
        return this.rt.with(4 * (channels + 2) * height * width, (cond) => {
          if (inpaint) {
            this.withPixels(inpaint.image, (img) =>
              this.rt.with(4 * height * width, (fill) => {
                const mask = this.pixelsOf(inpaint.mask, 'mask');
                for (let i = 0; i < height * width; i++) M.HEAPF32[(fill >> 2) + i] = mask.data[4 * i] >= 128 ? 1 : 0;
                this.rt.check(M._lkrt_inpaint_condition(this.handle, img, fill, cond));
              }),
            );
          } else {
            this.withPixels(restore, (img) => this.rt.check(M._lkrt_restore_condition(this.handle, img, cond)));
          }
          call(cond);
        });
      }),
    );
  }

  expect(kind, what) {
    if (!this.handle) throw new LkrtError(`${what}: the model was freed`, 4);
    const name = (k) => k.replace('-', ' ');
    if (this.info.kind !== kind) {
      throw new LkrtError(`${what}: this model is a ${name(this.info.kind)}, not ${kind === 'enhancer' ? 'an' : 'a'} ${name(kind)}`, 4);
    }
  }

  pixelsOf(image, what) {
    const { channels, height, width } = this.info;
    if (!image || !image.data || !(image.width > 0) || !(image.height > 0) || image.data.length !== 4 * image.width * image.height) {
      throw new LkrtError(`${what}: expected an ImageData (RGBA)`, 4);
    }
    if (this.info.kind === 'denoiser' && (image.width !== width || image.height !== height)) {
      throw new LkrtError(`${what}: the image is ${image.width}x${image.height}, the model's size is ${width}x${height}`, 4);
    }
    return image;
  }

  // The image as the model's channels in [-1, 1] in wasm memory, for the duration of f.
  withPixels(image, f) {
    const { width, height, data } = this.pixelsOf(image, 'image');
    const M = this.rt.M;
    return this.rt.with(4 * width * height, (rgba) => {
      M.HEAPU8.set(data, rgba);
      return this.rt.with(4 * this.info.channels * width * height, (chw) => {
        this.rt.check(M._lkrt_wasm_from_rgba(rgba, height, width, this.info.channels, chw));
        return f(chw);
      });
    });
  }

  // Runs f(out) with an output buffer of the model's channels at height x width, then
  // converts it as the lkrt command writes a PNG.
  run(height, width, output, f) {
    const M = this.rt.M;
    const { channels } = this.info;
    const n = channels * height * width;
    return this.rt.with(4 * n, (out) => {
      f(out);
      if (output === 'float') return { values: new Float32Array(M.HEAPF32.buffer, out, n).slice(), channels, height, width };
      if (output === 'png') {
        return this.rt.with(4, (size) => {
          const png = M._lkrt_wasm_png(out, channels, height, width, size);
          if (!png) this.rt.check(4);
          try {
            return { png: new Uint8Array(M.HEAPU8.buffer, png, M.HEAPU32[size >> 2]).slice(), channels, height, width };
          } finally {
            M._free(png);
          }
        });
      }
      return this.rt.with(4 * height * width, (rgba) => {
        this.rt.check(M._lkrt_wasm_to_rgba(out, channels, height, width, rgba));
        const bytes = new Uint8ClampedArray(M.HEAPU8.buffer, rgba, 4 * height * width).slice();
        return typeof ImageData === 'function' ? new ImageData(bytes, width, height) : { data: bytes, width, height };
      });
    });
  }
}
