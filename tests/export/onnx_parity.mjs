// The exported ONNX file runs in ONNX Runtime (onnxruntime-node, from npm) and gives
// LibTorch's images.
// Usage: node tests/export/onnx_parity.mjs LATENTKIT_BIN RUN_DIR [RUN_DIR...] OUT_DIR
// For each run: `latentkit export --format onnx --vectors`, then the vectors' latents (and
// labels) through ONNX Runtime, compared with LibTorch's images by the normalised error
// mse(a, b) / mse(a, 0). Exits 1 with one line saying what broke.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';

const kMaxNormalisedError = 1e-10;

const args = process.argv.slice(2);
if (args.length < 3) {
  console.error('usage: node tests/export/onnx_parity.mjs LATENTKIT_BIN RUN_DIR [RUN_DIR...] OUT_DIR');
  process.exit(2);
}
const bin = args[0];
const runs = args.slice(1, -1);
const outDir = args[args.length - 1];
fs.mkdirSync(outDir, { recursive: true });

function fail(message) {
  console.error(`onnx_parity: FAIL: ${message}`);
  process.exit(1);
}

for (const run of runs) {
  const name = path.basename(run);
  const onnxPath = path.join(outDir, `${name}.onnx`);
  const vectorsPath = path.join(outDir, `${name}.vectors.json`);
  try {
    execFileSync(bin, ['export', '--run', run, '--format', 'onnx', '--out', onnxPath, '--vectors', vectorsPath,
                       '--vector-count', '3'], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    fail(`latentkit export of ${run} exited ${e.status}: ${e.stderr}`);
  }
  const v = JSON.parse(fs.readFileSync(vectorsPath, 'utf8'));
  const session = await ort.InferenceSession.create(onnxPath);
  const n = v.z.length;
  const latent = v.z[0].length;
  const feeds = { z: new ort.Tensor('float32', Float32Array.from(v.z.flat()), [n, latent]) };
  if (session.inputNames.includes('label')) {
    feeds.label = new ort.Tensor('int64', BigInt64Array.from(v.labels.map((l) => BigInt(l))), [n]);
  } else if (v.labels.some((l) => l >= 0)) {
    fail(`${name}: the vectors have labels but the ONNX model takes none`);
  }
  const result = await session.run(feeds);
  const image = result.image;
  const expectedDims = [n, ...v.shape];
  if (JSON.stringify(image.dims) !== JSON.stringify(expectedDims)) {
    fail(`${name}: ONNX Runtime gives ${JSON.stringify(image.dims)}, expected ${JSON.stringify(expectedDims)}`);
  }
  const want = v.images.flat();
  let diff = 0;
  let energy = 0;
  for (let i = 0; i < want.length; ++i) {
    diff += (image.data[i] - want[i]) ** 2;
    energy += want[i] ** 2;
  }
  const normalised = diff / energy;
  if (!(normalised < kMaxNormalisedError)) {
    fail(`${name}: normalised error ${normalised.toExponential(2)} >= ${kMaxNormalisedError}`);
  }
  console.log(`onnx_parity: ${name}: ${session.inputNames.join(', ')} -> image ${JSON.stringify(image.dims)}, ` +
              `normalised error ${normalised.toExponential(2)} (limit ${kMaxNormalisedError})`);
}
