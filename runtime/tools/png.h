// A minimal PNG encoder: 8-bit gray, gray+alpha, RGB or RGBA, stored (uncompressed)
// deflate blocks. No zlib.
#ifndef LKRT_TOOLS_PNG_H
#define LKRT_TOOLS_PNG_H

#include <cstdint>
#include <string>

namespace lkrt {

/// PNG bytes of a [channels, height, width] float image in [-1, 1]
/// (pixel = round((x + 1) * 127.5) clamped to 0..255). channels: 1, 2, 3 or 4; with 4 the
/// color is premultiplied by alpha, as RGBA models give it, and is written straight
/// (color / alpha, clamped to alpha first), as PNG holds it.
std::string encode_png(const float* chw, int channels, int height, int width);

/// Adler-32 as zlib defines it.
uint32_t adler32(const uint8_t* data, size_t size);

}  // namespace lkrt

#endif
