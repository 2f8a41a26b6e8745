// ONNX Runtime's side of bench/runtime_latency.sh: batch-1 latency of an exported model on
// one thread (intra- and inter-op), on the inputs bench_runtime_latency wrote for each case
// and with its warm-up and call counts: the median time of single session.run calls. Calls
// go through onnxruntime-node's N-API binding, whose per-call overhead is part of the figure.
// Usage: node bench/runtime_latency_ort.mjs CASES.json  (prints one JSON line: ms per case)
import fs from 'node:fs';
import ort from 'onnxruntime-node';

const [casesFile] = process.argv.slice(2);
if (!casesFile) {
  console.error('usage: node bench/runtime_latency_ort.mjs CASES.json');
  process.exit(2);
}
const cases = JSON.parse(fs.readFileSync(casesFile, 'utf8'));
const sessions = new Map();
const session = async (file) => {
  if (!sessions.has(file)) {
    sessions.set(file, await ort.InferenceSession.create(file, {
      intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
    }));
  }
  return sessions.get(file);
};

// The feeds of each variant: input files hold [variants, ...shape] values.
function feedsOf(c) {
  const feeds = Array.from({ length: c.variants }, () => ({}));
  for (const input of c.onnx_inputs) {
    const bytes = fs.readFileSync(input.file);
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);  // aligned copy
    const all = input.type === 'int64' ? new BigInt64Array(buffer) : new Float32Array(buffer);
    const size = input.shape.reduce((a, b) => a * b, 1);
    if (all.length !== size * c.variants) throw new Error(`${input.file}: ${all.length} values, expected ${size * c.variants}`);
    for (let v = 0; v < c.variants; ++v) {
      feeds[v][input.name] = new ort.Tensor(input.type, all.subarray(v * size, (v + 1) * size), input.shape);
    }
  }
  return feeds;
}

const ms = [];
for (const c of cases) {
  const s = await session(c.onnx);
  const feeds = feedsOf(c);
  for (let i = 0; i < c.warmup; ++i) await s.run(feeds[i % c.variants]);
  const times = [];
  for (let i = 0; i < c.calls; ++i) {
    const t0 = process.hrtime.bigint();
    await s.run(feeds[i % c.variants]);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  ms.push(times[Math.floor(times.length / 2)]);
}
console.log(JSON.stringify({ ms, version: ort.env.versions?.common ?? 'unknown' }));
