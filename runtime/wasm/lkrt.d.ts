// Types of lkrt.mjs: latentkit's runtime in WebAssembly.

/** An error from the runtime; status is lkrt's (1 io, 2 format, 3 version, 4 argument, 5 memory, 6 unsupported, 7 internal). */
export class LkrtError extends Error {
  status: number;
}

export interface InitOptions {
  /** URL of lkrt-wasm.wasm when it is not beside lkrt.mjs. */
  wasmUrl?: string | URL;
}

/** Instantiates the WebAssembly module once; later calls return the same promise. */
export function init(options?: InitOptions): Promise<unknown>;
/** A model from the bytes of a .lkm file. Throws LkrtError for a bad file. */
export function load(bytes: ArrayBuffer | ArrayBufferView, options?: InitOptions): Promise<Model>;
/** The kernels of this build: "wasm-simd128" or "scalar". */
export function isa(): Promise<string>;

/** A mask generator's palette: the classes of its label maps, each a name and an RGBA color (alpha 255, or 0 for a transparent class). */
export interface Palette {
  name: string;
  classes: Array<{ name: string; color: [number, number, number, number] }>;
}

export interface ModelInfo {
  kind: 'generator' | 'enhancer' | 'denoiser' | 'mask-generator' | 'wallpaper';
  /** The model's id (placeholder codes name it); may be "". */
  id: string;
  channels: 1 | 3 | 4;
  height: number;
  width: number;
  latentDim: number;
  /** Number of classes of a conditional model (of a mask generator's label maps); 0: unconditional. */
  classes: number;
  weights: 'fp32' | 'fp16' | 'int8' | 'mixed';
  ops: number;
  params: number;
  flops: number;
  /** Enhancers: each side is padded to a multiple of this. */
  padMultiple: number;
  /** Denoisers: time steps T, what the network predicts, Palette tasks, default sampling steps. */
  timesteps: number;
  prediction: 'eps' | 'v';
  tasks: Array<'inpaint' | 'restore'>;
  sampleSteps: number;
  /** Text-to-image denoisers: the prompt embedding's size (0: no text encoder), the words a prompt may have, the vocabulary's size (with <pad> and <unk>). */
  textWidth: number;
  maxTokens: number;
  vocabSize: number;
  /** Mask generators: the palette of their label maps; null for other models. */
  palette: Palette | null;
  /** Wallpaper models: the pixels of a cell on a side (a tile's sides are multiples of cell x scale), and the moods the model carries; 0 and [] for other models. */
  cell: number;
  moods: string[];
}

/** Raw network output in [-1, 1], channel-major (RGBA models: color premultiplied by alpha). */
export interface FloatImage {
  values: Float32Array;
  channels: number;
  height: number;
  width: number;
}

/** The PNG file the lkrt command writes for the same output (the model's channels, stored deflate). */
export interface PngImage {
  png: Uint8Array;
  channels: number;
  height: number;
  width: number;
}

export interface OutputOption {
  /** 'image' (default): ImageData, RGBA, straight alpha; 'float': the raw values; 'png': a PNG file. */
  output?: 'image' | 'float' | 'png';
}

export interface GenerateOptions extends OutputOption {
  /** Draws z from this seed as the lkrt command's --seed does (default 0). */
  seed?: number | bigint;
  /** The latent itself: latentDim numbers (overrides seed). */
  z?: ArrayLike<number>;
  /** Class of a conditional model; -1 (default): none. */
  label?: number;
}

export interface GenerateMapOptions extends OutputOption {
  /** The label map: height * width class ids row by row, or an ImageData of the model's size painted in its palette. */
  map: ArrayLike<number> | ImageData;
  /** Draws the style z from this seed as the lkrt command's --seed does (default 0). */
  seed?: number | bigint;
  /** The style latent itself: latentDim numbers (overrides seed). */
  z?: ArrayLike<number>;
}

export interface WallpaperOptions {
  /** "YYYY-MM-DD" (that day), "YYYY-MM-DDTHH" (that hour), or days since 1970-01-01 (default 0). */
  date?: string | number;
  /** Another seed, another series of wallpapers (default 0). */
  seed?: number | bigint;
  /** Pixels, 1 to 8192 each (default 1080 x 2400). */
  width?: number;
  height?: number;
  /** 1, 2 or 4 (default): the network draws 1/scale of each side, upscaled. */
  scale?: 1 | 2 | 4;
  /** Copies tile without seams; each side must be a multiple of cell x scale. */
  tileable?: boolean;
  /** One of info.moods; null (default): none. */
  mood?: string | null;
  /** latentDim numbers added to the style (a palette's move). */
  shift?: ArrayLike<number> | null;
}

export interface EnhanceOptions extends OutputOption {
  /** Images larger than tile x tile run in overlapping tiles (0: whole; default 256). */
  tile?: number;
}

export interface SampleOptions extends OutputOption {
  seed?: number | bigint;
  /** Sampling steps; 0 (default): the model's. */
  steps?: number;
  sampler?: 'ddim' | 'dpmpp';
  label?: number;
  /** Text-to-image models: what to draw (null, the default: no prompt). */
  prompt?: string | null;
  /** Classifier-free guidance weight with a label or a prompt (1: none). */
  guidance?: number;
  /** Models trained for inpainting: fill where the mask is white. */
  inpaint?: { image: ImageData; mask: ImageData } | null;
  /** Models trained for restoring: the degraded image. */
  restore?: ImageData | null;
}

type Result<O extends OutputOption> = O extends { output: 'float' } ? FloatImage : O extends { output: 'png' } ? PngImage : ImageData;

export class Model {
  readonly info: ModelInfo;
  /** False after free(). */
  readonly alive: boolean;
  /** n standard normals from a seed, as the lkrt command's --seed draws them. */
  normals(seed: number | bigint, n: number): Float32Array;
  generate<O extends GenerateOptions>(options?: O): Result<O>;
  /** Mask generators: the image of a label map in a style. */
  generateMap<O extends GenerateMapOptions>(options: O): Result<O>;
  /** Mask generators: a label map painted in the palette's colors (any size) as class ids; throws for a color outside the palette. */
  mapFromImage(image: ImageData): Uint8Array;
  /** Decodes a placeholder code (base64url text) made for this generator. */
  decodeCode<O extends OutputOption>(text: string, options?: O): Result<O>;
  enhance<O extends EnhanceOptions>(image: ImageData, options?: O): Result<O>;
  /** Wallpaper models: the picture of a date, as the lkrt command draws it (RGBA, alpha 255). */
  wallpaper(options?: WallpaperOptions): ImageData;
  sample<O extends SampleOptions>(options?: O): Result<O>;
  /** Text-to-image models: the prompt's word ids (1: unknown); throws for an empty prompt or too many words. */
  tokenize(prompt: string): Int32Array;
  /** Text-to-image models: one message per unknown word, naming the nearest known words. */
  promptWarnings(prompt: string): string[];
  /** Text-to-image models: the text encoder's pooled embedding of the prompt (textWidth values). */
  encodePrompt(prompt: string): Float32Array;
  /** Frees the model's memory in the module; the model cannot be used after. */
  free(): void;
}
