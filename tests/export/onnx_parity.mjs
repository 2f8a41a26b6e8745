// The exported ONNX file runs in ONNX Runtime (onnxruntime-node, from npm) and gives
// LibTorch's outputs: a generator's images, an enhancer's (pix2pix), a denoiser's eps or v,
// a mask generator's (spade) images of label maps.
// Usage: node tests/export/onnx_parity.mjs LATENTKIT_BIN RUN_DIR [RUN_DIR...] OUT_DIR
// For each run: `latentkit export --format onnx --vectors`, then the vectors' inputs (latents
// and labels; images; x_t, t, labels and conditions; latents and maps of class ids) through ONNX Runtime, compared with
// LibTorch's outputs by the normalised error
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
  const n = v.outputs.length;
  const [C, H, W] = v.shape;
  const floats = (rows, dims) => new ort.Tensor('float32', Float32Array.from(rows.flat()), dims);
  const int64s = (values) => new ort.Tensor('int64', BigInt64Array.from(values.map((x) => BigInt(x))), [n]);
  const feeds = {};
  if (v.kind === 'generator') {
    feeds.z = floats(v.z, [n, v.z[0].length]);
  } else if (v.kind === 'mask-generator') {
    feeds.z = floats(v.z, [n, v.z[0].length]);
    feeds.map = new ort.Tensor('int64', BigInt64Array.from(v.maps.flat().map((x) => BigInt(x))), [n, H, W]);
  } else if (v.kind === 'enhancer') {
    feeds.image = floats(v.inputs, [n, C, H, W]);
  } else {
    feeds.x = floats(v.inputs, [n, C, H, W]);
    feeds.t = int64s(v.t);
    if (v.cond) feeds.cond = floats(v.cond, [n, C + 2, H, W]);
  }
  if (session.inputNames.includes('label')) {
    feeds.label = int64s(v.labels);
  } else if (v.labels.some((l) => l >= 0)) {
    fail(`${name}: the vectors have labels but the ONNX model takes none`);
  }
  const result = await session.run(feeds);
  const output = session.outputNames[0];
  const image = result[output];
  const expectedDims = [n, ...v.shape];
  if (JSON.stringify(image.dims) !== JSON.stringify(expectedDims)) {
    fail(`${name}: ONNX Runtime gives ${JSON.stringify(image.dims)}, expected ${JSON.stringify(expectedDims)}`);
  }
  const want = v.outputs.flat();
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
  console.log(`onnx_parity: ${name}: ${session.inputNames.join(', ')} -> ${output} ${JSON.stringify(image.dims)}, ` +
              `normalised error ${normalised.toExponential(2)} (limit ${kMaxNormalisedError})`);
}
