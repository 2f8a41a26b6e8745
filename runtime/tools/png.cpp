#include "png.h"

#include <cmath>
#include <stdexcept>
#include <vector>

#include "format.h"

namespace lkrt {

uint32_t adler32(const uint8_t* data, size_t size) {
  uint32_t a = 1, b = 0;
  while (size > 0) {
    size_t n = size < 5552 ? size : 5552;  // largest n that cannot overflow b
    size -= n;
    while (n--) {
      a += *data++;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return b << 16 | a;
}

namespace {

void put_u32be(std::string& s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s.push_back(char(uint8_t(v >> (8 * i))));
}

void chunk(std::string& png, const char* type, const std::string& data) {
  put_u32be(png, uint32_t(data.size()));
  std::string body = std::string(type, 4) + data;
  png += body;
  put_u32be(png, format::crc32(reinterpret_cast<const uint8_t*>(body.data()), body.size()));
}

}  // namespace

std::string encode_png(const float* chw, int channels, int height, int width) {
  static const uint8_t kColorType[5] = {0, 0, 4, 2, 6};
  if (channels < 1 || channels > 4 || height < 1 || width < 1)
    throw std::invalid_argument("PNG needs 1 to 4 channels and a positive size, got [" + std::to_string(channels) +
                                "," + std::to_string(height) + "," + std::to_string(width) + "]");
  // Raw scanlines: filter byte 0, then interleaved channels.
  const size_t plane = size_t(height) * width;
  std::vector<uint8_t> raw;
  raw.reserve(size_t(height) * (1 + size_t(width) * channels));
  const auto unit = [](float v) { return v >= -1.0f ? (v <= 1.0f ? (v + 1.0f) * 0.5f : 1.0f) : 0.0f; };  // NaN -> 0
  for (int y = 0; y < height; ++y) {
    raw.push_back(0);
    for (int x = 0; x < width; ++x) {
      const size_t at = size_t(y) * width + x;
      // RGBA models give premultiplied color: PNG wants it straight (color / alpha).
      const float alpha = channels == 4 ? unit(chw[3 * plane + at]) : 1.0f;
      for (int c = 0; c < channels; ++c) {
        float u = unit(chw[c * plane + at]);
        if (channels == 4 && c < 3) u = alpha > 0.0f ? (u < alpha ? u : alpha) / alpha : 0.0f;
        raw.push_back(uint8_t(std::floor(u * 255.0f + 0.5f)));
      }
    }
  }
  // zlib stream: header, stored blocks of at most 65535 bytes, Adler-32.
  std::string z = {char(0x78), char(0x01)};
  size_t pos = 0;
  do {
    size_t n = raw.size() - pos < 65535 ? raw.size() - pos : 65535;
    bool last = pos + n == raw.size();
    z.push_back(char(last ? 1 : 0));
    z.push_back(char(n & 0xff));
    z.push_back(char(n >> 8));
    z.push_back(char(~n & 0xff));
    z.push_back(char((~n >> 8) & 0xff));
    z.append(reinterpret_cast<const char*>(raw.data()) + pos, n);
    pos += n;
  } while (pos < raw.size());
  put_u32be(z, adler32(raw.data(), raw.size()));

  std::string png = "\x89PNG\r\n\x1a\n";
  std::string ihdr;
  put_u32be(ihdr, uint32_t(width));
  put_u32be(ihdr, uint32_t(height));
  ihdr += {char(8), char(kColorType[channels]), 0, 0, 0};
  chunk(png, "IHDR", ihdr);
  chunk(png, "IDAT", z);
  chunk(png, "IEND", "");
  return png;
}

}  // namespace lkrt
