// What the browser tests (tests/web/*.test.mjs) share: failing with one line, polling,
// a free port, `latentkit serve` as a child process, playwright-core, and PNG in node (an RGBA writer and a reader for the
// 8-bit filter-0 PNGs that lkrt and placeholder.mjs write).
import { spawn } from 'node:child_process';
import net from 'node:net';
import zlib from 'node:zlib';

// A check that failed: the tests print its message alone, without a stack.
export class TestFailure extends Error {}
export function check(cond, msg) {
  if (!cond) throw new TestFailure(msg);
}
export const log = (msg) => console.log(`ok: ${msg}`);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls pred() until it returns a truthy value, and returns that; fails with `what` after
// timeoutMs, or as soon as aborted() gives a reason (such as "the server exited (exit code 1)").
export async function waitFor(pred, what, timeoutMs = 15_000, aborted = () => null) {
  const t0 = Date.now();
  for (;;) {
    const v = await pred();
    if (v) return v;
    const why = aborted();
    if (why) throw new TestFailure(`${why} while waiting for ${what}`);
    if (Date.now() - t0 > timeoutMs) throw new TestFailure(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// `bin args` as a child process: output keeps its last 8000 characters (for a failure's
// report), exit says why it ended (null while it runs), stop() ends it (SIGTERM, then SIGKILL).
export function startServer(bin, args) {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const server = { output: '', exit: null };
  const keep = (d) => { server.output = (server.output + d.toString()).slice(-8000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.on('error', (e) => { server.exit = `cannot start ${bin}: ${e.message}`; });
  child.on('exit', (code, sig) => { server.exit = sig ? `signal ${sig}` : `exit code ${code}`; });
  server.stop = async () => {
    if (server.exit) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const done = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
    if (!done) {
      child.kill('SIGKILL');
      await Promise.race([exited, sleep(2000)]);
    }
  };
  return server;
}

// playwright-core's chromium, or exit 1 with the command that installs it; `test` names the
// test in that message ("editor" gives "editor test: ...").
export async function importChromium(test) {
  try {
    return (await import('playwright-core')).chromium;
  } catch {
    console.error(`${test} test: playwright-core is not installed; run: npm install --no-audit --no-fund (in the repository root)`);
    process.exit(1);
  }
}

// --- PNG -------------------------------------------------------------------------------------
const kSignature = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);

function crc32(bytes) {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}
function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

// rgba: width * height * 4 bytes, row by row; gives an 8-bit RGBA PNG, filter 0 on every row.
export function encodePng(rgba, width, height) {
  const raw = Buffer.alloc(height * (1 + 4 * width));
  for (let y = 0; y < height; y++) Buffer.from(rgba.buffer, rgba.byteOffset + 4 * width * y, 4 * width).copy(raw, y * (1 + 4 * width) + 1);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 6, 0, 0, 0], 8);
  return Buffer.concat([kSignature, chunk('IHDR', header), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

// An 8-bit gray, RGB or RGBA PNG with filter 0 on every row (what lkrt and placeholder.mjs
// write) as RGBA bytes, the way ImageData holds the same image; checks each CRC and fails
// naming `name` on anything else. color is the PNG's color type (0 gray, 2 RGB, 6 RGBA).
export function decodePng(bytes, name) {
  const buf = Buffer.from(bytes);
  check(buf.subarray(0, 8).equals(kSignature), `${name}: not a PNG`);
  let at = 8;
  let width = 0, height = 0, depth = 0, color = 0;
  const idat = [];
  while (at < buf.length) {
    const n = buf.readUInt32BE(at);
    const type = buf.toString('latin1', at + 4, at + 8);
    check(crc32(buf.subarray(at + 4, at + 8 + n)) === buf.readUInt32BE(at + 8 + n), `${name}: bad CRC on ${type}`);
    if (type === 'IHDR') [width, height, depth, color] = [buf.readUInt32BE(at + 8), buf.readUInt32BE(at + 12), buf[at + 16], buf[at + 17]];
    else if (type === 'IDAT') idat.push(buf.subarray(at + 8, at + 8 + n));
    at += 12 + n;
  }
  const samples = { 0: 1, 2: 3, 6: 4 }[color];
  check(depth === 8 && samples, `${name}: bit depth ${depth}, color type ${color}; expected 8-bit gray, RGB or RGBA`);
  const raw = zlib.inflateSync(Buffer.concat(idat)); // also checks the Adler-32
  const stride = 1 + samples * width;
  check(raw.length === height * stride, `${name}: wrong data size`);
  const rgba = new Uint8Array(4 * width * height);
  for (let y = 0; y < height; y++) {
    check(raw[y * stride] === 0, `${name}: row ${y} is not filter 0`);
    for (let x = 0; x < width; x++) {
      const p = raw.subarray(y * stride + 1 + samples * x);
      rgba.set(samples === 1 ? [p[0], p[0], p[0], 255] : samples === 3 ? [p[0], p[1], p[2], 255] : [p[0], p[1], p[2], p[3]], 4 * (y * width + x));
    }
  }
  return { width, height, color, rgba };
}
