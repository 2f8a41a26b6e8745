// The PNG writer and reader of the lkrt command: structure, CRCs, Adler-32, stored blocks,
// pixels; inflate, filters, color types and bit depths against golden files, and corrupt input.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
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

// Decoder.

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f.good()) << path;
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string read_golden(const std::string& file) { return read_file(std::string(LKRT_TEST_DATA) + "/png/" + file); }

using Chunks = std::vector<std::pair<std::string, std::string>>;  // type, data

Chunks split_chunks(const std::string& png) {
  Chunks chunks;
  for (size_t pos = 8; pos + 12 <= png.size(); pos += 12 + be32(png, pos))
    chunks.emplace_back(png.substr(pos + 4, 4), png.substr(pos + 8, be32(png, pos)));
  return chunks;
}

void put_be32(std::string& s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s.push_back(char(uint8_t(v >> (8 * i))));
}

// A PNG of these chunks with correct CRCs, so that a change inside one reaches the decoder.
std::string join_chunks(const Chunks& chunks) {
  std::string png = "\x89PNG\r\n\x1a\n";
  for (const auto& [type, data] : chunks) {
    const std::string body = type + data;
    put_be32(png, uint32_t(data.size()));
    png += body;
    put_be32(png, lkrt::format::crc32(reinterpret_cast<const uint8_t*>(body.data()), body.size()));
  }
  return png;
}

std::string idat_of(const Chunks& chunks) {
  std::string idat;
  for (const auto& [type, data] : chunks)
    if (type == "IDAT") idat += data;
  return idat;
}

// The chunks with their IDATs replaced by one IDAT that holds `zlib`.
Chunks with_idat(const Chunks& chunks, const std::string& zlib) {
  Chunks out;
  bool done = false;
  for (const auto& chunk : chunks) {
    if (chunk.first != "IDAT") {
      out.push_back(chunk);
    } else if (!done) {
      out.emplace_back("IDAT", zlib);
      done = true;
    }
  }
  return out;
}

std::vector<uint8_t> inflate(const std::string& zlib, size_t expected_size) {
  return lkrt::zlib_decompress(reinterpret_cast<const uint8_t*>(zlib.data()), zlib.size(), expected_size);
}

// Expects `run` to throw std::runtime_error with `part` in its message.
template <typename Run>
void expect_error(Run run, const std::string& part) {
  try {
    run();
    ADD_FAILURE() << "no error, expected one with: " << part;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

void expect_png_error(const std::string& png, const std::string& part) {
  expect_error([&] { lkrt::decode_png(png); }, part);
}

struct Golden {
  const char* name;
  int channels, height, width;  // decoded
  int file_bits;                // bits a pixel in the file
};

// Written once by data/png/make_golden.py with Python's zlib, each NAME.png beside NAME.hwc,
// its pixels; both checked against libpng. Each file filters row y with filter type y % 5.
const Golden kGolden[] = {
    {"gray8_fixed", 1, 6, 5, 8},      // a fixed Huffman block
    {"rgb8_dynamic", 3, 12, 16, 24},  // a dynamic Huffman block; a tEXt chunk to skip
    {"rgba8_blocks", 4, 7, 9, 32},    // three deflate blocks over four IDAT chunks
    {"graya8", 4, 6, 7, 16},          // gray+alpha -> RGBA
    {"rgb16", 3, 5, 6, 48},           // 16-bit, rounded; a stored block (noise does not compress)
    {"palette8_trns", 4, 6, 8, 8},    // palette, tRNS shorter than PLTE -> RGBA
    {"palette2", 3, 5, 7, 2},         // 2-bit palette indices, a padded last byte
    {"gray1", 1, 5, 11, 1},           // 1-bit gray
    {"gray4", 1, 5, 5, 4},            // 4-bit gray
    {"gray16_trns", 4, 5, 5, 16},     // 16-bit gray with a color key -> RGBA
    {"rgb8_trns", 4, 5, 6, 24},       // 8-bit RGB with a color key -> RGBA
};

TEST(PngDecode, GoldenFilesGiveTheirPixels) {
  for (const Golden& g : kGolden) {
    SCOPED_TRACE(g.name);
    const lkrt::DecodedPng png = lkrt::decode_png(read_golden(std::string(g.name) + ".png"));
    EXPECT_EQ(png.channels, g.channels);
    EXPECT_EQ(png.height, g.height);
    EXPECT_EQ(png.width, g.width);
    const std::string want = read_golden(std::string(g.name) + ".hwc");
    ASSERT_EQ(want.size(), size_t(g.channels) * g.height * g.width);
    EXPECT_EQ(png.pixels, std::vector<uint8_t>(want.begin(), want.end()));
  }
  // A few values apart from the .hwc files. 16-bit: 0, 65535, 128 and 129 round to 0, 255,
  // 0 and 1; 0x7f80 and 0x8080 to 127 and 128.
  const lkrt::DecodedPng rgb16 = lkrt::decode_png(read_golden("rgb16.png"));
  EXPECT_EQ(std::vector<uint8_t>(rgb16.pixels.begin(), rgb16.pixels.begin() + 6),
            (std::vector<uint8_t>{0, 255, 0, 1, 127, 128}));
  // The key 0x1234 is transparent, 0x1235 is not; both are 18 in 8 bits.
  const lkrt::DecodedPng keyed = lkrt::decode_png(read_golden("gray16_trns.png"));
  EXPECT_EQ(std::vector<uint8_t>(keyed.pixels.begin(), keyed.pixels.begin() + 8),
            (std::vector<uint8_t>{18, 18, 18, 0, 18, 18, 18, 255}));
  // 1-bit gray: row 0 is 0, 1, 0, 1, ...
  const lkrt::DecodedPng gray1 = lkrt::decode_png(read_golden("gray1.png"));
  EXPECT_EQ(std::vector<uint8_t>(gray1.pixels.begin(), gray1.pixels.begin() + 4),
            (std::vector<uint8_t>{0, 255, 0, 255}));
}

TEST(PngDecode, GoldenFilesCoverEveryBlockAndFilterType) {
  int block_types = 0;  // bit t: some file starts with a deflate block of type t
  for (const Golden& g : kGolden) {
    SCOPED_TRACE(g.name);
    const std::string idat = idat_of(split_chunks(read_golden(std::string(g.name) + ".png")));
    ASSERT_GE(idat.size(), 3u);
    block_types |= 1 << ((uint8_t(idat[2]) >> 1) & 3);
    const size_t row_bytes = (size_t(g.width) * g.file_bits + 7) / 8;
    const std::vector<uint8_t> raw = inflate(idat, size_t(g.height) * (row_bytes + 1));
    for (int y = 0; y < g.height; ++y) EXPECT_EQ(raw[y * (row_bytes + 1)], y % 5) << "filter type of row " << y;
  }
  EXPECT_EQ(block_types, 0b111);  // stored, fixed Huffman, dynamic Huffman
  int idats = 0;
  for (const auto& chunk : split_chunks(read_golden("rgba8_blocks.png"))) idats += chunk.first == "IDAT";
  EXPECT_EQ(idats, 4);
}

TEST(PngDecode, InflateMatchesZlib) {
  // zlib.compress(b"a" * 1000, 9): a literal, then matches at distance 1 that overlap themselves.
  const std::string run("\x78\xda\x4b\x4c\x1c\x05\xa3\x60\x14\x0c\x77\x00\x00\xf9\xd8\x7a\xf8", 17);
  EXPECT_EQ(inflate(run, 1000), std::vector<uint8_t>(1000, 'a'));
  expect_error([&] { inflate(run, 999); }, "more than the 999 bytes expected");
  expect_error([&] { inflate(run, 1001); }, "ends after 1000 of the 1001 bytes");
  std::string bad_check = run;
  bad_check.back() ^= 1;
  expect_error([&] { inflate(bad_check, 1000); }, "Adler-32");
  // Fixed block: literal 'x', then a match 2 bytes back.
  expect_error([&] { inflate(std::string("\x78\x01\xab\x00\x42\x00", 6), 10); }, "reaches 2 bytes back, 1 are written");
  expect_error([&] { inflate(std::string("\x78\x01\x07", 3), 10); }, "block type 3 is reserved");
  // Dynamic block headers, made by hand: literal/length codes for 0 and 1 only (no end of
  // block), then the same with a run of zero lengths past the 258 declared; three 1-bit
  // codes; 287 literal/length codes.
  expect_error([&] { inflate(std::string("\x78\x01\x05\xc0\x81\x00\x00\x00\x00\x00\x10\xfe\xab\x01", 14), 10); },
               "no end-of-block code");
  expect_error([&] { inflate(std::string("\x78\x01\x05\xc0\x81\x00\x00\x00\x00\x00\x10\xfe\xb3\x01", 14), 10); },
               "code lengths run past the declared count");
  expect_error([&] { inflate(std::string("\x78\x01\x05\x00\x92\x04", 6), 10); }, "over-subscribed");
  expect_error([&] { inflate(std::string("\x78\x01\xf5\x00\x00", 5), 10); }, "declares 287 literal/length");
  expect_error([&] { inflate(std::string("\x78\x02\x03\x00", 4), 0); }, "zlib header check fails");
  expect_error([&] { inflate(std::string("\x78\x9c\x4b", 3), 1); }, "truncated");
}

std::string encode_bytes(const std::vector<uint8_t>& hwc, int channels, int height, int width) {
  // 8-bit values as encode_png's [-1, 1] input: x = v / 127.5 - 1, planar.
  std::vector<float> chw(hwc.size());
  const size_t plane = size_t(height) * width;
  for (size_t i = 0; i < plane; ++i)
    for (int c = 0; c < channels; ++c) chw[c * plane + i] = hwc[i * channels + c] / 127.5f - 1.0f;
  return lkrt::encode_png(chw.data(), channels, height, width);
}

TEST(PngDecode, RoundTripThroughEncodePng) {
  std::mt19937 rng(7);
  const int H = 70, W = 400;  // 70 * (1 + 400 * channels) bytes: several stored blocks
  for (int channels : {1, 3}) {
    SCOPED_TRACE(channels);
    std::vector<uint8_t> hwc(size_t(channels) * H * W);
    for (auto& v : hwc) v = uint8_t(rng());
    const lkrt::DecodedPng png = lkrt::decode_png(encode_bytes(hwc, channels, H, W));
    EXPECT_EQ(png.channels, channels);
    EXPECT_EQ(png.height, H);
    EXPECT_EQ(png.width, W);
    EXPECT_EQ(png.pixels, hwc);
    const std::vector<float> chw = lkrt::png_to_chw(png, channels);
    ASSERT_EQ(chw.size(), hwc.size());
    for (size_t i = 0; i < size_t(H) * W; i += 97)
      for (int c = 0; c < channels; ++c) EXPECT_EQ(chw[c * size_t(H) * W + i], hwc[i * channels + c] / 127.5f - 1.0f);
  }
  // RGBA: encode_png takes premultiplied color and writes it straight; png_to_chw premultiplies
  // again, so straight 8-bit pixels come back exactly (a transparent pixel's color is 0).
  std::vector<uint8_t> rgba(size_t(4) * H * W);
  for (size_t i = 0; i < rgba.size(); i += 4) {
    const uint8_t alpha = (i / 4) % 5 == 0 ? 0 : (i / 4) % 5 == 1 ? 255 : uint8_t(rng());
    for (int c = 0; c < 3; ++c) rgba[i + c] = alpha == 0 ? 0 : uint8_t(rng());
    rgba[i + 3] = alpha;
  }
  const size_t plane = size_t(H) * W;
  std::vector<float> premultiplied(4 * plane);
  for (size_t i = 0; i < plane; ++i) {
    const float a = rgba[4 * i + 3] / 255.0f;
    for (int c = 0; c < 3; ++c) premultiplied[c * plane + i] = rgba[4 * i + c] / 255.0f * a * 2.0f - 1.0f;
    premultiplied[3 * plane + i] = a * 2.0f - 1.0f;
  }
  const std::string encoded = lkrt::encode_png(premultiplied.data(), 4, H, W);
  const lkrt::DecodedPng png = lkrt::decode_png(encoded);
  EXPECT_EQ(png.channels, 4);
  EXPECT_EQ(png.pixels, rgba);
  const std::vector<float> chw = lkrt::png_to_chw(png, 4);
  for (size_t i = 0; i < chw.size(); ++i) ASSERT_NEAR(chw[i], premultiplied[i], 1e-6f) << i;
  EXPECT_EQ(lkrt::encode_png(chw.data(), 4, H, W), encoded);
  // Gray+alpha from encode_png's 2 channels: RGBA, gray replicated.
  const float ga[4] = {-1.0f, 1.0f, 1.0f, 0.0f};  // gray 0 and 255 (premultiplied: none), alpha 255 and 128
  EXPECT_EQ(lkrt::decode_png(lkrt::encode_png(ga, 2, 1, 2)).pixels,
            (std::vector<uint8_t>{0, 0, 0, 255, 255, 255, 255, 128}));
}

void expect_near(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6f) << i;
}

TEST(PngDecode, ChannelConversions) {
  lkrt::DecodedPng gray;
  gray.channels = 1;
  gray.height = 1;
  gray.width = 2;
  gray.pixels = {0, 51};
  EXPECT_EQ(lkrt::png_to_chw(gray, 1), (std::vector<float>{-1.0f, 51 / 127.5f - 1.0f}));
  expect_near(lkrt::png_to_chw(gray, 3), {-1.0f, -0.6f, -1.0f, -0.6f, -1.0f, -0.6f});
  expect_near(lkrt::png_to_chw(gray, 4), {-1.0f, -0.6f, -1.0f, -0.6f, -1.0f, -0.6f, 1.0f, 1.0f});

  lkrt::DecodedPng rgb;
  rgb.channels = 3;
  rgb.height = 1;
  rgb.width = 1;
  rgb.pixels = {255, 0, 102};
  expect_near(lkrt::png_to_chw(rgb, 1), {(0.299f + 0.114f * 0.4f) * 2.0f - 1.0f});  // luma in [0, 1], mapped
  expect_near(lkrt::png_to_chw(rgb, 3), {1.0f, -1.0f, -0.2f});
  expect_near(lkrt::png_to_chw(rgb, 4), {1.0f, -1.0f, -0.2f, 1.0f});

  // RGBA onto white: straight color c, alpha a -> c * a + 1 - a.
  lkrt::DecodedPng rgba;
  rgba.channels = 4;
  rgba.height = 1;
  rgba.width = 2;
  rgba.pixels = {0, 255, 51, 102, 200, 10, 20, 0};  // alpha 0.4, then transparent
  const auto to_model = [](std::vector<float> unit) {  // [0, 1] -> [-1, 1]
    for (float& v : unit) v = v * 2.0f - 1.0f;
    return unit;
  };
  const float blue = 0.2f * 0.4f + 0.6f;  // pixel 0's B over white
  expect_near(lkrt::png_to_chw(rgba, 3), to_model({0.6f, 1.0f, 1.0f, 1.0f, blue, 1.0f}));
  expect_near(lkrt::png_to_chw(rgba, 1), to_model({0.299f * 0.6f + 0.587f + 0.114f * blue, 1.0f}));
  // Premultiplied, as encode_png takes it: the transparent pixel's color is 0.
  expect_near(lkrt::png_to_chw(rgba, 4), to_model({0.0f, 0.0f, 0.4f, 0.0f, 0.2f * 0.4f, 0.0f, 0.4f, 0.0f}));

  EXPECT_THROW(lkrt::png_to_chw(rgb, 2), std::invalid_argument);
  rgb.pixels.pop_back();
  EXPECT_THROW(lkrt::png_to_chw(rgb, 3), std::invalid_argument);
}

TEST(PngDecode, ErrorsNameTheProblem) {
  const float img[6] = {-1.0f, 0.0f, 1.0f, -0.5f, 0.5f, 0.25f};
  const std::string good = lkrt::encode_png(img, 1, 2, 3);
  const Chunks chunks = split_chunks(good);
  ASSERT_EQ(chunks[0].first, "IHDR");
  const auto with_header_byte = [&](size_t at, uint8_t value) {
    Chunks c = chunks;
    c[0].second[at] = char(value);
    return join_chunks(c);
  };
  ASSERT_EQ(join_chunks(chunks), good);
  EXPECT_EQ(lkrt::decode_png(good).pixels, (std::vector<uint8_t>{0, 128, 255, 64, 191, 159}));

  expect_png_error("", "not a PNG file");
  expect_png_error("GIF89a\x01\x00\x01\x00", "not a PNG file");
  std::string bad_crc = good;
  bad_crc[16] ^= 1;  // inside IHDR's data
  expect_png_error(bad_crc, "bad CRC in chunk IHDR");
  expect_png_error(with_header_byte(12, 1), "interlaced PNGs are not supported");
  expect_png_error(with_header_byte(12, 2), "interlace method 2");
  expect_png_error(with_header_byte(8, 16 + 3), "bit depth 19");
  expect_png_error(with_header_byte(9, 5), "color type 5");
  expect_png_error(with_header_byte(9, 3), "palette image without PLTE");
  expect_png_error(with_header_byte(10, 1), "compression method 1");
  expect_png_error(with_header_byte(11, 1), "filter method 1");
  expect_png_error(with_header_byte(3, 0), "PNG is 0x2");
  // 16384 a side, 2^26 pixels: 16385 wide is too wide, 8192 x 8193 too many; 8192 x 8192 is
  // allowed (and fails later, for want of data).
  Chunks big = chunks;
  big[0].second.replace(0, 8, std::string("\x00\x00\x40\x01\x00\x00\x00\x01", 8));
  expect_png_error(join_chunks(big), "PNG is 16385x1; lkrt reads 1 to 16384 pixels a side");
  big[0].second.replace(0, 8, std::string("\x00\x00\x20\x00\x00\x00\x20\x01", 8));
  expect_png_error(join_chunks(big), "at most 67108864 pixels");
  big[0].second.replace(0, 8, std::string("\x00\x00\x20\x00\x00\x00\x20\x00", 8));
  expect_png_error(join_chunks(big), "zlib stream ends after");

  expect_png_error(good.substr(0, good.size() - 12), "before IEND");
  const size_t idat_at = 8 + 25;  // signature, IHDR
  expect_png_error(good.substr(0, idat_at + 20), "truncated IDAT");
  Chunks reordered = {chunks[1], chunks[0], chunks[2]};
  expect_png_error(join_chunks(reordered), "the first chunk is IDAT, not IHDR");
  Chunks unknown = chunks;
  unknown.insert(unknown.begin() + 1, {"QQQQ", "x"});
  expect_png_error(join_chunks(unknown), "critical chunk QQQQ");
  unknown[1].first = "qQQQ";  // ancillary: skipped
  EXPECT_EQ(lkrt::decode_png(join_chunks(unknown)).pixels, lkrt::decode_png(good).pixels);
  Chunks no_data = {chunks[0], chunks[2]};
  expect_png_error(join_chunks(no_data), "no IDAT chunk");

  // Inside the image data: a filter type 5, and a stream one row short.
  std::vector<uint8_t> raw = inflate(idat_of(chunks), 2 * (1 + 3));
  raw[4] = 5;
  const auto stored = [](const std::vector<uint8_t>& bytes) {
    std::string z = {0x78, 0x01, 0x01, char(bytes.size()), 0, char(~bytes.size()), char(0xff)};
    z.append(bytes.begin(), bytes.end());
    const uint32_t check = lkrt::adler32(bytes.data(), bytes.size());
    put_be32(z, check);
    return z;
  };
  expect_png_error(join_chunks(with_idat(chunks, stored(raw))), "row 1 has filter type 5");
  raw.resize(4);
  expect_png_error(join_chunks(with_idat(chunks, stored(raw))), "zlib stream ends after 4 of the 8 bytes");

  // Palette: an index past PLTE's colors, and tRNS longer than PLTE.
  Chunks palette = chunks;
  palette[0].second[9] = 3;
  palette.insert(palette.begin() + 1, {"PLTE", std::string(3 * 200, 'p')});
  expect_png_error(join_chunks(palette), "has palette index 255, PLTE has 200 colors");
  palette.insert(palette.begin() + 2, {"tRNS", std::string(201, 't')});
  expect_png_error(join_chunks(palette), "tRNS holds 201 alphas for 200 palette colors");
}

// Every prefix of a file and every single-byte change must give an error, never a crash
// (the tests also run under ASan and UBSan): a chunk's CRC catches any changed byte.
TEST(PngDecode, TruncationAndByteFlipsThrow) {
  std::mt19937 rng(1234);
  for (const Golden& g : kGolden) {
    SCOPED_TRACE(g.name);
    const std::string png = read_golden(std::string(g.name) + ".png");
    for (size_t n = 0; n < png.size(); ++n) EXPECT_THROW(lkrt::decode_png(png.substr(0, n)), std::runtime_error) << n;
    for (size_t at = 0; at < png.size(); ++at) {
      std::string flipped = png;
      flipped[at] = char(uint8_t(flipped[at]) ^ uint8_t(1 + rng() % 255));
      EXPECT_THROW(lkrt::decode_png(flipped), std::runtime_error) << at;
    }
  }
}

// Corrupt deflate data behind valid CRCs reaches the inflater: it must either throw
// std::runtime_error or give an image of the declared size, never read or write out of bounds.
TEST(PngDecode, CorruptImageDataNeverCrashes) {
  std::mt19937 rng(99);
  int errors = 0, runs = 0;
  for (const Golden& g : kGolden) {
    const Chunks chunks = split_chunks(read_golden(std::string(g.name) + ".png"));
    const std::string idat = idat_of(chunks);
    for (int trial = 0; trial < 300; ++trial) {
      std::string z = idat;
      const int kind = trial % 3;
      if (kind == 0) {  // a few bytes changed
        for (int k = 0; k < 1 + trial % 4; ++k) z[2 + rng() % (z.size() - 2)] ^= char(1 + rng() % 255);
      } else if (kind == 1) {  // cut short or extended
        z.resize(2 + rng() % (z.size() + 8));
      } else {  // noise after a valid zlib header
        for (size_t i = 2; i < z.size(); ++i) z[i] = char(rng());
      }
      ++runs;
      try {
        const lkrt::DecodedPng png = lkrt::decode_png(join_chunks(with_idat(chunks, z)));
        EXPECT_EQ(png.pixels.size(), size_t(g.channels) * g.height * g.width);
      } catch (const std::runtime_error&) {
        ++errors;
      }
    }
  }
  EXPECT_GT(errors, runs / 2);
}

}  // namespace
