// ONNX Runtime's side of bench/runtime_latency.sh: batch-1 latency of an exported generator
// on one thread (intra- and inter-op), timed like bench_runtime_latency: 50 warm-up calls,
// then the median over 5 rounds of the mean time per call. Calls go through
// onnxruntime-node's N-API binding, whose per-call overhead is part of the figure.
// Usage: node bench/runtime_latency_ort.mjs GEN.onnx LATENT_DIM CLASSES ITERATIONS  (prints one JSON line)
import ort from 'onnxruntime-node';

const [file, latentArg, classesArg, iterationsArg] = process.argv.slice(2);
if (!iterationsArg) {
  console.error('usage: node bench/runtime_latency_ort.mjs GEN.onnx LATENT_DIM CLASSES ITERATIONS');
  process.exit(2);
}
const latent = Number(latentArg);
const classes = Number(classesArg);
const iterations = Number(iterationsArg);
const session = await ort.InferenceSession.create(file, {
  intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
});
const feeds = [];
for (let i = 0; i < 256; ++i) {
  const z = new Float32Array(latent);
  for (let j = 0; j < latent; ++j) z[j] = Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
  const feed = { z: new ort.Tensor('float32', z, [1, latent]) };
  if (classes > 0) feed.label = new ort.Tensor('int64', BigInt64Array.from([BigInt(i % classes)]), [1]);
  feeds.push(feed);
}
for (let i = 0; i < 50; ++i) await session.run(feeds[i % 256]);
const perRound = Math.max(1, Math.floor(iterations / 5));
const rounds = [];
for (let r = 0; r < 5; ++r) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < perRound; ++i) await session.run(feeds[i % 256]);
  rounds.push(Number(process.hrtime.bigint() - t0) / 1e6 / perRound);
}
rounds.sort((a, b) => a - b);
console.log(JSON.stringify({ ms: rounds[2], version: ort.env.versions?.common ?? 'unknown' }));
