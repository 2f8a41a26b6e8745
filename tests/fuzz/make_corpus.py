#!/usr/bin/env python3
"""Writes the hand-made seeds of tests/fuzz/corpus/ (run once; the files are committed).

Seeds the library writes itself come from `scripts/fuzz seeds NAME` (checkpoint, lkm);
findings kept as regression cases are named crash-*, leak-*, timeout-* or oom-* and are
never rewritten here. Standard library only: struct, zlib, gzip, json.
"""
import gzip, json, os, struct, zlib

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(ROOT))


def put(target, name, data):
    d = os.path.join(ROOT, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data.encode() if isinstance(data, str) else data)


def png(width, height, color_type, rows, depth=8, palette=None, trns=None):
    def chunk(kind, body):
        return struct.pack('>I', len(body)) + kind + body + struct.pack('>I', zlib.crc32(kind + body) & 0xffffffff)
    raw = b''.join(b'\x00' + bytes(r) for r in rows)
    out = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, depth, color_type, 0, 0, 0))
    if palette:
        out += chunk(b'PLTE', bytes(palette))
    if trns:
        out += chunk(b'tRNS', bytes(trns))
    return out + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b'')


# PNG: gray, RGB, RGBA, palette with transparency, gray+alpha, 16-bit.
gray = png(4, 3, 0, [[0, 80, 160, 255]] * 3)
rgb = png(3, 2, 2, [[255, 0, 0, 0, 255, 0, 0, 0, 255]] * 2)
rgba = png(2, 2, 6, [[255, 0, 0, 128, 0, 0, 255, 255]] * 2)
pal = png(3, 3, 3, [[0, 1, 2]] * 3, palette=[0, 0, 0, 255, 0, 0, 0, 255, 0], trns=[0, 255, 128])
ga = png(2, 2, 4, [[10, 20, 30, 40]] * 2)
deep = png(2, 1, 2, [[1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0]], depth=16)
for name, data in [('gray.png', gray), ('rgb.png', rgb), ('rgba.png', rgba), ('palette.png', pal),
                   ('gray-alpha.png', ga), ('rgb16.png', deep)]:
    put('png', name, data)
with open(os.path.join(REPO, 'tests/data/mask_20_box.png'), 'rb') as f:
    put('png', 'mask.png', f.read())

with open(os.path.join(REPO, 'tests/data/folder_orange_12x10.jpg'), 'rb') as f:
    jpeg = f.read()
put('jpeg', 'orange.jpg', jpeg)

# A folder: files of (name byte, little-endian 16-bit length, bytes); see images.cpp.
def folder(*files):
    return b''.join(bytes([n]) + struct.pack('<H', len(d)) + d for n, d in files)
put('folder', 'two-images', folder((0, rgba), (1, jpeg)))
put('folder', 'nested-and-hidden', folder((5, gray), (4, rgb), (6, b'not an image')))

# Label maps: the first byte picks the palette (and, with 0x80, a resize to 16).
put('labelmap', 'shapes-map', bytes([0]) + pal)
put('labelmap', 'rgb-map', bytes([1]) + rgb)
put('labelmap', 'resized-map', bytes([0x80]) + rgba)

# IDX: unsigned bytes, 1 to 3 dimensions, plain and gzip.
def idx(dims, payload):
    return bytes([0, 0, 8, len(dims)]) + b''.join(struct.pack('>I', d) for d in dims) + bytes(payload)
put('idx', 'labels.idx', idx([5], range(5)))
put('idx', 'images.idx', idx([2, 3, 3], range(18)))
put('idx', 'images.idx.gz', gzip.compress(idx([1, 2, 2], [0, 64, 128, 255]), mtime=0))

# .npy: the golden files of the unit tests.
golden = os.path.join(REPO, 'tests/data/golden')
for name in sorted(os.listdir(golden)):
    if name.endswith('.npy'):
        with open(os.path.join(golden, name), 'rb') as f:
            put('npy', name, f.read())

# config.json of every shipped generator family (small ones), and a run's options.
for model in ['fashion-dcgan', 'fashion-cgan', 'fashion-vae', 'fashion-ddpm', 'shapes-spade', 'wallpaper', 'emoji-vae32']:
    with open(os.path.join(REPO, 'models', model, 'config.json')) as f:
        config = json.load(f)
    put('config', model + '.json', json.dumps(config, separators=(',', ':')))

# axes.json: a shipped file cut to two axes, and moods.json as shipped.
with open(os.path.join(REPO, 'models/shapes-axes.json')) as f:
    axes = json.load(f)
axes['axes'] = axes['axes'][:2]
put('axes', 'shapes-two-axes.json', json.dumps(axes, separators=(',', ':')))
with open(os.path.join(REPO, 'models/wallpaper/moods.json')) as f:
    put('moods', 'wallpaper-moods.json', f.read())

# emoji.json: three entries (one with skin tones, one component), images the target writes.
with open(os.path.join(REPO, 'node_modules/emoji-datasource-google/emoji.json')) as f:
    emoji = json.load(f)
chosen = [e for e in emoji if e['short_name'] in ('grinning', 'santa', 'skin-tone-2')]
for e in chosen:
    e['image'] = '1f600.png'
    for v in e.get('skin_variations', {}).values():
        v['image'] = '1f600.png'
put('emoji', 'three.json', json.dumps(chosen, separators=(',', ':')))

# captions: emojilib's keywords, NUL, a tokenizer's JSON, then prompts (one per line).
keywords = {'\U0001F600': ['grinning_face', 'face', 'smile'], '\U0001F385': ['santa', 'christmas']}
tokenizer = {'max_tokens': 8, 'vocab': ['<pad>', '<unk>', 'a', 'face', 'red', 'smiling']}
put('captions', 'keywords-and-prompts',
    json.dumps(keywords, ensure_ascii=False) + '\0' + json.dumps(tokenizer) + '\na smiling face\nred kat\n\n' + 'a ' * 20)

# API requests: the first byte picks the method and path (http.cpp), the rest is the body.
def request(method, path, body, paint=False):
    return bytes([(0x80 if paint else 0) | (path << 2) | method]) + body.encode()
put('http', 'generate', request(1, 0, json.dumps({'seed': 3, 'moves': {'axis-0': 1.5}, 'n': 2})))
put('http', 'generate-z', request(1, 0, json.dumps({'z': [0.1] * 100})))
put('http', 'model', request(0, 1, ''))
put('http', 'axes', request(0, 2, ''))
put('http', 'paint', request(1, 0, json.dumps({'map': [0] * 32 * 32, 'seed': 1, 'n': 1}), paint=True))
put('http', 'paint-example', request(0, 2, '7', paint=True))

# Placeholder codes: the fuzzer fixes the CRC-8 itself (runtime/fuzz/fuzz_code.cpp); two
# shapes of bytes to start from.
put('code', 'zeros-24', bytes(24))
put('code', 'ramp-24', bytes(range(1, 25)))

for i, path in enumerate(['/', '/index.html', '/sub/page.js', '/../secret.txt', '/up/secret.txt', '/link.txt',
                          '/.hidden', '/sub/../index.html', '/sub/', '//etc/passwd']):
    put('static', 'path-%d' % i, path)
