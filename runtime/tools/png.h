// A minimal PNG encoder (8-bit gray, gray+alpha, RGB or RGBA, stored deflate blocks) and a
// PNG decoder with its own inflate, for the lkrt command's --image and --mask. No zlib.
#ifndef LKRT_TOOLS_PNG_H
#define LKRT_TOOLS_PNG_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace lkrt {

/// PNG bytes of a [channels, height, width] float image in [-1, 1]
/// (pixel = round((x + 1) * 127.5) clamped to 0..255). channels: 1, 2, 3 or 4; with 4 the
/// color is premultiplied by alpha, as RGBA models give it, and is written straight
/// (color / alpha, clamped to alpha first), as PNG holds it.
std::string encode_png(const float* chw, int channels, int height, int width);

/// PNG bytes of 8-bit RGBA pixels [height, width, 4] (a canvas's, lkrt_wallpaper's), keeping
/// the first channels of each: 3 (RGB) or 4 (RGBA).
std::string encode_png_rgba8(const uint8_t* rgba, int channels, int height, int width);

/// The same pixels as 8-bit RGBA, as a canvas's ImageData holds them: gray is replicated,
/// alpha is 255 without an alpha channel. channels: 1, 3 or 4.
void chw_to_rgba8(const float* chw, int channels, int height, int width, uint8_t* rgba);

/// Adler-32 as zlib defines it.
uint32_t adler32(const uint8_t* data, size_t size);

/// The bytes of a zlib stream (RFC 1950 around RFC 1951 stored, fixed and dynamic Huffman
/// blocks), Adler-32 checked. Throws std::runtime_error unless it inflates to exactly
/// `expected_size` bytes, so a stream cannot make it allocate more than that.
std::vector<uint8_t> zlib_decompress(const uint8_t* data, size_t size, size_t expected_size);

/// A decoded PNG. pixels: [height, width, channels], 8 bits a sample.
struct DecodedPng {
  int channels = 0, height = 0, width = 0;  // channels: 1 gray, 3 RGB or 4 RGBA
  std::vector<uint8_t> pixels;
};

/// Limits on a decoded image, so that a hostile file cannot ask for unbounded memory.
constexpr int kPngMaxSide = 16384;
constexpr int64_t kPngMaxPixels = int64_t(1) << 26;

/// Decodes PNG file bytes. Gray (bit depth 1, 2, 4, 8, 16), RGB (8, 16), palette (1, 2, 4, 8),
/// gray+alpha (8, 16) and RGBA (8, 16), not interlaced. Gives 1 channel for gray, 3 for RGB
/// and palette, 4 for gray+alpha, RGBA, and any image with a tRNS chunk (palette alpha or a
/// gray/RGB color key); alpha is straight, as in the file. 16-bit samples are rounded to 8
/// bits (v8 = round(v16 / 257)); 1, 2 and 4-bit gray is scaled to 0..255. Checks the
/// signature, every chunk's CRC-32, the zlib Adler-32, chunk order and sizes; throws
/// std::runtime_error naming what is wrong otherwise, and for interlaced (Adam7) files,
/// width or height above kPngMaxSide or width * height above kPngMaxPixels.
DecodedPng decode_png(const std::string& bytes);

/// A decoded PNG as a [channels, height, width] float image in [-1, 1] (x = v / 127.5 - 1),
/// the inverse of encode_png: 4 channels give color premultiplied by alpha. channels: 1, 3
/// or 4. Gray to RGB replicates; RGB to gray is ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B
/// (not rounded to 8 bits); RGBA to RGB or gray composites onto white first; gray or RGB to
/// RGBA gets alpha 1. Throws std::invalid_argument for another channel count.
std::vector<float> png_to_chw(const DecodedPng& png, int channels);

}  // namespace lkrt

#endif
