// The PNG writer of the lkrt command: structure, CRCs, Adler-32, stored blocks, pixels.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "format.h"
#include "png.h"

namespace {

uint32_t be32(const std::string& s, size_t off) {
  return uint32_t(uint8_t(s[off])) << 24 | uint32_t(uint8_t(s[off + 1])) << 16 | uint32_t(uint8_t(s[off + 2])) << 8 |
         uint8_t(s[off + 3]);
}

// Parses chunks, checks each CRC, returns the concatenated raw scanlines of the stored blocks.
std::vector<uint8_t> decode_stored(const std::string& png, uint32_t* w, uint32_t* h, int* color) {
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  std::string idat;
  size_t pos = 8;
  while (pos + 12 <= png.size()) {
    uint32_t len = be32(png, pos);
    std::string type = png.substr(pos + 4, 4);
    std::string body = png.substr(pos + 4, 4 + len);
    EXPECT_EQ(be32(png, pos + 8 + len), lkrt::format::crc32(reinterpret_cast<const uint8_t*>(body.data()), body.size()))
        << type;
    if (type == "IHDR") {
      *w = be32(png, pos + 8);
      *h = be32(png, pos + 12);
      *color = uint8_t(png[pos + 17]);
    }
    if (type == "IDAT") idat += png.substr(pos + 8, len);
    pos += 12 + len;
  }
  EXPECT_EQ(pos, png.size());
  std::vector<uint8_t> raw;
  size_t p = 2;  // zlib header
  for (;;) {
    uint8_t final_block = uint8_t(idat[p]) & 1;
    EXPECT_EQ(uint8_t(idat[p]) >> 1, 0) << "stored block";
    uint32_t len = uint8_t(idat[p + 1]) | uint8_t(idat[p + 2]) << 8;
    uint32_t nlen = uint8_t(idat[p + 3]) | uint8_t(idat[p + 4]) << 8;
    EXPECT_EQ(len ^ 0xffff, nlen);
    raw.insert(raw.end(), idat.begin() + p + 5, idat.begin() + p + 5 + len);
    p += 5 + len;
    if (final_block) break;
  }
  EXPECT_EQ(be32(idat, p), lkrt::adler32(raw.data(), raw.size()));
  return raw;
}

TEST(Png, Adler32) {
  const std::string s = "Wikipedia";
  EXPECT_EQ(lkrt::adler32(reinterpret_cast<const uint8_t*>(s.data()), s.size()), 0x11E60398u);
}

TEST(Png, GrayPixels) {
  const float img[6] = {-1.0f, 0.0f, 1.0f, -2.0f, 2.0f, 0.5f};
  uint32_t w = 0, h = 0;
  int color = -1;
  std::vector<uint8_t> raw = decode_stored(lkrt::encode_png(img, 1, 2, 3), &w, &h, &color);
  EXPECT_EQ(w, 3u);
  EXPECT_EQ(h, 2u);
  EXPECT_EQ(color, 0);
  std::vector<uint8_t> want = {0, 0, 128, 255, 0, 0, 255, 191};  // round((x + 1) * 127.5), clamped
  EXPECT_EQ(raw, want);
}

TEST(Png, RgbInterleavesAndSplitsBlocks) {
  const int H = 200, W = 150;  // 200 * (1 + 450) bytes: two stored blocks
  std::vector<float> img(3 * H * W);
  for (size_t i = 0; i < img.size(); ++i) img[i] = float(i % 7) / 3.0f - 1.0f;
  uint32_t w = 0, h = 0;
  int color = -1;
  std::vector<uint8_t> raw = decode_stored(lkrt::encode_png(img.data(), 3, H, W), &w, &h, &color);
  EXPECT_EQ(color, 2);
  ASSERT_EQ(raw.size(), size_t(H) * (1 + 3 * W));
  for (int y = 0; y < H; y += 37)
    for (int x = 0; x < W; x += 13)
      for (int c = 0; c < 3; ++c) {
        float v = img[(size_t(c) * H + y) * W + x];
        EXPECT_EQ(raw[size_t(y) * (1 + 3 * W) + 1 + 3 * x + c], uint8_t(std::lround((v + 1.0f) * 127.5f)));
      }
  EXPECT_THROW(lkrt::encode_png(img.data(), 5, 1, 1), std::invalid_argument);
}

TEST(Png, RgbaIsWrittenStraightFromPremultiplied) {
  // Three pixels, planar premultiplied in [-1, 1]: opaque red, transparent, and green at
  // half alpha (premultiplied 0.5 -> straight 1). The color above alpha is clamped to it.
  const float img[12] = {1.0f, -1.0f, -1.0f,     // R
                         -1.0f, -1.0f, 0.0f,     // G: 0.5 premultiplied
                         -1.0f, 0.5f, 1.0f,      // B: hidden 0.75 under alpha 0; 1.0 above 0.5
                         1.0f, -1.0f, 0.0f};     // A
  uint32_t w = 0, h = 0;
  int color = -1;
  std::vector<uint8_t> raw = decode_stored(lkrt::encode_png(img, 4, 1, 3), &w, &h, &color);
  EXPECT_EQ(color, 6);
  EXPECT_EQ(raw, (std::vector<uint8_t>{0, 255, 0, 0, 255, 0, 0, 0, 0, 0, 255, 255, 128}));
}

}  // namespace
