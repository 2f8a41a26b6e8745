// Types of placeholder.mjs: the placeholder drop-in. Loaded by a script tag with
// data-model="MODEL.lkm" it starts by itself; these are for using it as a module.
import type { Model } from './lkrt.js';

export interface PlaceholderStats {
  /** Previews set on images still loading. */
  drawn: number;
  /** Codes that did not decode (each warned on the console; the img is left as it was). */
  failed: number;
  /** Previews removed because their image loaded. */
  replaced: number;
  /** Time spent decoding and setting the previews, in milliseconds, all together. */
  ms: number;
}

export interface StartOptions {
  /** The .lkm: its URL, its bytes, or a Model from lkrt.mjs's load(). */
  model: string | URL | ArrayBuffer | ArrayBufferView | Model;
  /** Where to look for img[data-lk-code], now and as it changes (default: the document). */
  root?: Document | Element | DocumentFragment;
}

export interface Placeholders {
  /** Resolves once the model is loaded and the images there are handled; rejects if the model does not load. */
  ready: Promise<PlaceholderStats>;
  stats: PlaceholderStats;
  /** Stops watching for images added later. */
  stop(): void;
}

/** Draws the preview of every img[data-lk-code] under root until its image loads. */
export function start(options: StartOptions): Placeholders;

export interface Preview {
  /** data: URL of a PNG of the decoded pixels: decodeCode's RGBA bytes exactly. */
  url: string;
  /** The model's size: the PNG's. */
  width: number;
  height: number;
  /** width / height of the original image carried by the code; null: none (square). */
  aspect: number | null;
}

/** A code's preview as a PNG. Throws LkrtError for a bad code or one of another model. */
export function previewURL(model: Model, code: string): Preview;

/** width / height carried by a code, from its header alone; null when it has none. */
export function codeAspect(code: string): number | null;
