#!/usr/bin/python3
"""Writes the golden PNGs of runtime/tests/test_png.cpp, once, with zlib and struct only
(apart from lkrt's decoder). For each NAME.png it writes NAME.hwc: the pixels the decoder
must give, [height, width, channels] bytes. Every image filters row y with type y % 5,
so each file covers all five filter types at its bytes per pixel.

    /usr/bin/python3 runtime/tests/data/png/make_golden.py runtime/tests/data/png
"""
import random
import struct
import sys
import zlib

OUT = sys.argv[1]


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def filtered(rows, bpp):
    out = bytearray()
    prev = bytes(len(rows[0]))
    for y, row in enumerate(rows):
        kind = y % 5
        out.append(kind)
        for i, v in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][kind]
            out.append((v - pred) & 255)
        prev = row
    return bytes(out)


def pack_row(samples, depth):
    """Samples of one row at a bit depth of 1, 2, 4, 8 or 16, big-endian, last byte padded."""
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    if depth == 8:
        return bytes(samples)
    out, acc, bits = bytearray(), 0, 0
    for s in samples:
        acc, bits = acc << depth | s, bits + depth
        if bits == 8:
            out.append(acc)
            acc, bits = 0, 0
    if bits:
        out.append(acc << (8 - bits))
    return bytes(out)


def write(name, width, height, depth, color, samples, pixels, expected_channels, extra=b"", zstream=None,
          idat_pieces=1, ancillary=b""):
    """samples: rows of per-pixel sample lists (file values); pixels: the expected decoded bytes."""
    per_pixel = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color]
    rows = [pack_row([s for px in row for s in px], depth) for row in samples]
    raw = filtered(rows, max(1, depth * per_pixel // 8))
    z = zstream(raw) if zstream else zlib.compress(raw, 9)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0))
    png += ancillary + extra
    step = -(-len(z) // idat_pieces)
    for i in range(0, len(z), step):
        png += chunk(b"IDAT", z[i:i + step])
    png += chunk(b"IEND", b"")
    assert len(pixels) == width * height * expected_channels
    open(f"{OUT}/{name}.png", "wb").write(png)
    open(f"{OUT}/{name}.hwc", "wb").write(bytes(pixels))
    print(f"{name}.png: {len(png)} bytes, first deflate block type {(z[2] >> 1) & 3}")


def fixed_huffman(raw):
    c = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_FIXED)
    return c.compress(raw) + c.flush()


def three_blocks(raw):
    # Sync flushes end a block (with an empty stored block); matches may reach across.
    c = zlib.compressobj(9)
    third = len(raw) // 3
    return (c.compress(raw[:third]) + c.flush(zlib.Z_SYNC_FLUSH) + c.compress(raw[third:2 * third]) +
            c.flush(zlib.Z_SYNC_FLUSH) + c.compress(raw[2 * third:]) + c.flush())


rng = random.Random(20240611)


def grid(width, height, fn):
    return [[fn(x, y) for x in range(width)] for y in range(height)]


def flat(rows):
    return [v for row in rows for px in row for v in px]


# Gray 8-bit, a few bytes: zlib's fixed Huffman codes.
g = grid(5, 6, lambda x, y: [(x * 50 + y * 7) % 256])
write("gray8_fixed", 5, 6, 8, 0, g, flat(g), 1, zstream=fixed_huffman)

# RGB 8-bit, varied data at level 9: a dynamic Huffman block. A tEXt chunk to skip.
g = grid(16, 12, lambda x, y: [(x * 9 + y * 5 + rng.randrange(4)) % 256, (x * y + rng.randrange(2)) % 256,
                               (200 - 3 * y + rng.randrange(8)) % 256])
write("rgb8_dynamic", 16, 12, 8, 2, g, flat(g), 3, ancillary=chunk(b"tEXt", b"Comment\0latentkit golden file"))

# RGBA 8-bit: three deflate blocks (two sync flushes) in an IDAT split over four chunks.
g = grid(9, 7, lambda x, y: [rng.randrange(256), (x * 30) % 256, (y * 40) % 256, [0, 255, 128, rng.randrange(256)][x % 4]])
write("rgba8_blocks", 9, 7, 8, 6, g, flat(g), 4, zstream=three_blocks, idat_pieces=4)

# Gray+alpha 8-bit: RGBA out, gray replicated.
g = grid(7, 6, lambda x, y: [(x * 37 + y * 11) % 256, (255 - x * 20 - y * 3) % 256])
write("graya8", 7, 6, 8, 4, g, [v for row in g for gr, a in row for v in (gr, gr, gr, a)], 4)

# RGB 16-bit: rounded to 8 bits, v8 = round(v16 / 257) = (v16 + 128) // 257. Edge values first.
edges = [0, 65535, 128, 129, 0x7f80, 0x8080, 385, 386, 0xff7f, 0xff80, 257 * 100 + 128, 257 * 100 + 129]
g = grid(6, 5, lambda x, y: [edges[(y * 6 + x) * 3 + c] if (y * 6 + x) * 3 + c < len(edges) else rng.randrange(65536)
                             for c in range(3)])
write("rgb16", 6, 5, 16, 2, g, [(v + 128) // 257 for v in flat(g)], 3)

# Palette 8-bit indices, 10 colors, tRNS for the first 6: RGBA out, colors past tRNS opaque.
palette = [[rng.randrange(256) for _ in range(3)] for _ in range(10)]
alphas = [0, 255, 17, 128, 200, 1]
g = grid(8, 6, lambda x, y: [(x + 3 * y) % 10])
pixels = [v for row in g for (i,) in row for v in palette[i] + [alphas[i] if i < len(alphas) else 255]]
write("palette8_trns", 8, 6, 8, 3, g, pixels, 4,
      extra=chunk(b"PLTE", bytes(v for c in palette for v in c)) + chunk(b"tRNS", bytes(alphas)))

# Palette 2-bit indices, width 7 (a padded last byte), no tRNS: RGB out.
palette = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]
g = grid(7, 5, lambda x, y: [(x * 3 + y) % 4])
write("palette2", 7, 5, 2, 3, g, [v for row in g for (i,) in row for v in palette[i]], 3,
      extra=chunk(b"PLTE", bytes(v for c in palette for v in c)))

# Gray 1-bit, width 11, and 4-bit, width 5: scaled to 0..255 (v * 255 / (2^depth - 1)).
g = grid(11, 5, lambda x, y: [(x ^ y) & 1 if y < 3 else rng.randrange(2)])
write("gray1", 11, 5, 1, 0, g, [v * 255 for v in flat(g)], 1)
g = grid(5, 5, lambda x, y: [(x * 5 + y * 3) % 16])
write("gray4", 5, 5, 4, 0, g, [v * 17 for v in flat(g)], 1)

# Gray 16-bit with a tRNS color key: RGBA out; the key matches all 16 bits (0x1234, not 0x1235).
keys = [0x1234, 0x1235, 0x1334, 0, 65535]
g = grid(5, 5, lambda x, y: [keys[(x + y) % 5]])
write("gray16_trns", 5, 5, 16, 0, g,
      [v for (k,) in (px for row in g for px in row) for v in [(k + 128) // 257] * 3 + [0 if k == 0x1234 else 255]], 4,
      extra=chunk(b"tRNS", struct.pack(">H", 0x1234)))

# RGB 8-bit with a tRNS color key: RGBA out.
colors = [[10, 20, 30], [10, 20, 31], [200, 100, 0], [10, 21, 30]]
g = grid(6, 5, lambda x, y: colors[(2 * x + y) % 4])
write("rgb8_trns", 6, 5, 8, 2, g, [v for row in g for px in row for v in px + [0 if px == colors[0] else 255]], 4,
      extra=chunk(b"tRNS", struct.pack(">HHH", 10, 20, 30)))
