// Assembles the browser app (scripts/build app calls it after building the wasm module and
// latentkit): web/app/ + build/wasm/pkg/ + the shipped models exported to .lkm (with the
// generators' feature axes beside them) + sample and gallery images with their placeholder
// codes + example label maps for the mask generator + the wallpaper model (with its moods) +
// models.json, the page's manifest.
// Usage: node scripts/build-app.mjs LATENTKIT_BIN OUT_DIR
// Exports are skipped where OUT_DIR already holds one newer than the run's model.pt, its
// axes file and the binary. LibTorch runs on one thread (--threads 1).
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const [bin, outArg] = process.argv.slice(2);
if (!bin || !outArg) {
  console.error('usage: node scripts/build-app.mjs LATENTKIT_BIN OUT_DIR');
  process.exit(2);
}
const out = path.resolve(outArg);
const pkg = path.join(root, 'build/wasm/pkg');

// The models of the app, color first. Generators and enhancers ship int8 (lkrt matches
// LibTorch to 2e-5..5e-4 in normalised error; the enhancer's PSNR moves by 0.006 dB), the
// diffusion models fp32 (50 steps compound the weights' error).
const kModels = [
  { name: 'emoji-cgan', weights: 'int8', axes: 'models/emoji-axes.json', title: 'Emoji by category (cGAN, 64 px color)' },
  { name: 'emoji-enhance', weights: 'int8', title: 'Emoji enhancer (pix2pix, color)', samples: 'emoji' },
  { name: 'emoji-ddpm', weights: 'fp32', title: 'Emoji diffusion (32 px color)' },
  // Shipped once its training ends; until then the app goes without it.
  { name: 'emoji-t2i', weights: 'fp32', optional: true, prompt: 'grinning face with smiling eyes', title: 'Emoji from text (32 px color)' },
  { name: 'emoji-vae32', weights: 'int8', title: 'Emoji VAE (the color placeholder decoder)' },
  { name: 'fashion-dcgan', weights: 'int8', axes: 'models/fashion-axes.json', title: 'Fashion (DCGAN, with feature axes)' },
  { name: 'fashion-cgan', weights: 'int8', title: 'Fashion by class (cGAN)' },
  { name: 'fashion-enhance', weights: 'int8', title: 'Fashion enhancer (pix2pix)', samples: 'fashion' },
  { name: 'fashion-ddpm', weights: 'fp32', title: 'Fashion diffusion (DDPM)' },
  { name: 'fashion-cgan24', weights: 'int8', title: 'Fashion cGAN24 (the gray placeholder decoder)' },
  // Mask generators: the paint panel, its palette from the .lkm, example maps of the test split.
  { name: 'emoji-spade', weights: 'int8', title: 'Emoji from a painted map (SPADE, 64 px color)', maps: 'emoji' },
  { name: 'shapes-spade', weights: 'int8', title: 'Shapes from a painted map (SPADE, 64 px color)', maps: 'shapes-scenes' },
  // The wallpaper of the day (psgan, any size; its moods from models/wallpaper/moods.json).
  { name: 'wallpaper', weights: 'int8', optional: true, title: 'Wallpaper of the day (PSGAN, any size)' },
];
// Example label maps (test-split maps, as the server's paint page offers) by seed.
const kMapSeeds = [1, 2, 3, 4, 5, 6];

// Test-split emoji (no shipped model trained on them; docs/data.md) from the npm package the
// emoji data set reads, and Fashion-MNIST test images by seed.
const kEmoji = ['grinning', 'sunglasses', 'partying_face', 'cat', 'deer', 'cherries', 'birthday', 'tada',
  'blue_heart', 'steam_locomotive', 'camera', 'corn'];
const kFashionSeeds = [1, 2, 3, 4, 5, 6];

function run(args, what) {
  try {
    return execFileSync(bin, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    console.error(`scripts/build app: ${what} failed:\n${(e.stderr || e.message).trim()}`);
    process.exit(1);
  }
}

const mtime = (p) => (fs.existsSync(p) ? fs.statSync(p).mtimeMs : 0);

function copy(from, to) {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
}

for (const dir of ['models', 'gallery']) fs.mkdirSync(path.join(out, dir), { recursive: true });

// The page and the runtime.
for (const f of fs.readdirSync(path.join(root, 'web/app'))) copy(path.join(root, 'web/app', f), path.join(out, f));
for (const f of ['lkrt.mjs', 'lkrt-wasm.mjs', 'lkrt-wasm.wasm', 'placeholder.mjs']) {
  const from = path.join(pkg, f);
  if (fs.existsSync(from) && fs.statSync(from).size > 0) copy(from, path.join(out, f));
  else {
    console.error(`scripts/build app: ${from} is missing; build it with: scripts/build wasm`);
    process.exit(1);
  }
}

// The models.
const entries = [];
for (const m of kModels) {
  const runDir = path.join(root, 'models', m.name);
  if (m.optional && !fs.existsSync(path.join(runDir, 'model.pt'))) {
    console.error(`skipped ${m.name}: models/${m.name}/model.pt is missing (the app goes without it until it ships)`);
    continue;
  }
  const file = `models/${m.name}.lkm`;
  const target = path.join(out, file);
  const axesTarget = target.replace(/\.lkm$/, '.axes.json');
  const inputs = [path.join(runDir, 'model.pt'), path.join(runDir, 'moods.json'), bin, ...(m.axes ? [path.join(root, m.axes)] : [])];
  const fresh = mtime(target) > Math.max(...inputs.map(mtime)) && (!m.axes || mtime(axesTarget) >= mtime(target));
  if (!fresh) {
    const args = ['export', '--run', `models/${m.name}`, '--format', 'lkm', '--weights', m.weights, '--out', target, '--threads', '1'];
    if (m.axes) args.push('--axes', m.axes);
    run(args, `exporting ${m.name}`);
    console.error(`exported ${file} (${m.weights})`);
  }
  const config = JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8'));
  const family = config.family;
  const kind = family === 'pix2pix' ? 'enhancer' : ['ddpm', 'cddpm', 't2i'].includes(family) ? 'denoiser'
    : family === 'spade' ? 'mask-generator' : family === 'psgan' ? 'wallpaper' : 'generator';
  const entry = { name: m.name, title: m.title, file, kind, family, weights: m.weights, bytes: fs.statSync(target).size };
  if (Array.isArray(config.classes)) entry.classes = config.classes;
  if (m.axes) entry.axes = `models/${m.name}.axes.json`;
  const readme = path.join(runDir, 'README.md');
  if (fs.existsSync(readme)) {
    // The model card's first paragraph, as one line.
    const text = fs.readFileSync(readme, 'utf8').split('\n\n')[1] ?? '';
    entry.about = text.replace(/\s+/g, ' ').replace(/\[([^\]]+)\]\([^)]*\)/g, '$1').replace(/[`*]/g, '').trim();
  }
  if (m.samples) entry.samples = m.samples;  // filled in below
  if (m.prompt) entry.prompt = m.prompt;
  if (m.maps) {
    const size = String(config.model.image_size);
    entry.maps = kMapSeeds.map((seed) => {
      const src = `gallery/${m.name}-map-${seed}.png`;
      if (!fs.existsSync(path.join(out, src))) {
        run(['data', 'preview', '--data', m.maps, '--split', 'test', '--size', size, '--as', 'map', '--n', '1',
          '--seed', String(seed), '--out', path.join(out, src), '--threads', '1'], `writing an example map of ${m.maps}`);
      }
      return src;
    });
  }
  entries.push(entry);
}

// Sample and gallery images, and their placeholder codes.
const emojiDir = path.join(root, 'node_modules/emoji-datasource-google');
if (!fs.existsSync(path.join(emojiDir, 'emoji.json'))) {
  console.error('scripts/build app: node_modules/emoji-datasource-google is missing; run: npm install --no-audit --no-fund');
  process.exit(1);
}
const table = JSON.parse(fs.readFileSync(path.join(emojiDir, 'emoji.json'), 'utf8'));
const emoji = kEmoji.map((short) => {
  const e = table.find((x) => x.short_name === short);
  const hash = BigInt('0x' + crypto.createHash('sha1').update(short, 'utf8').digest('hex'));
  if (!e || hash % 10n !== 0n) throw new Error(`${short} is not a test-split emoji`);
  const src = `gallery/emoji-${short}.png`;
  copy(path.join(emojiDir, 'img/google/64', e.image), path.join(out, src));
  return { src, title: e.name.toLowerCase().replace(/^\w/, (c) => c.toUpperCase()), width: 64, height: 64 };
});
const fashion = kFashionSeeds.map((seed) => {
  const src = `gallery/fashion-test-${seed}.png`;
  if (!fs.existsSync(path.join(out, src))) {
    run(['data', 'preview', '--data', 'fashion-mnist', '--split', 'test', '--n', '1', '--seed', String(seed),
      '--out', path.join(out, src), '--threads', '1'], 'writing a Fashion-MNIST test image');
  }
  return { src, title: `Fashion-MNIST test image ${seed}`, width: 28, height: 28 };
});

function codes(runName, images, extra) {
  const text = run(['placeholder', 'encode', '--run', `models/${runName}`, '--bytes', '24', '--threads', '1', ...extra,
    ...images.map((i) => path.join(out, i.src))], `encoding placeholders with ${runName}`);
  const lines = text.trim().split('\n');
  return images.map((image, k) => ({ ...image, code: lines[k].split(/\s+/)[0], model: `models/${runName}.lkm` }));
}
const gallery = [
  ...codes('emoji-vae32', emoji.slice(0, 8), []),
  ...codes('fashion-cgan24', fashion.slice(0, 4), ['--features', 'models/fashion-classifier']),
];

for (const e of entries) {
  if (e.samples === 'emoji') e.samples = emoji.slice(8).concat(emoji.slice(0, 2)).map(({ src, title }) => ({ src, title }));
  if (e.samples === 'fashion') e.samples = fashion.slice(3).concat(fashion.slice(0, 2)).map(({ src, title }) => ({ src, title }));
}

const manifest = { format: 'latentkit-app', version: 1, models: entries, gallery: { images: gallery } };
fs.writeFileSync(path.join(out, 'models.json'), JSON.stringify(manifest, null, 2) + '\n');
const total = entries.reduce((s, e) => s + e.bytes, 0);
console.error(`wrote ${out}/: ${entries.length} models (${(total / 1e6).toFixed(1)} MB), ` +
  `${gallery.length} gallery images with 24-byte codes, models.json`);
