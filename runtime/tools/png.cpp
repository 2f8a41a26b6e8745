#include "png.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <utility>
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

// One pixel of a [channels, H, W] float image in [-1, 1] as 8-bit samples (RGBA: color
// premultiplied in, straight out).
inline void pixel_to_bytes(const float* chw, int channels, size_t plane, size_t at, uint8_t* out) {
  const auto unit = [](float v) { return v >= -1.0f ? (v <= 1.0f ? (v + 1.0f) * 0.5f : 1.0f) : 0.0f; };  // NaN -> 0
  const float alpha = channels == 4 ? unit(chw[3 * plane + at]) : 1.0f;
  for (int c = 0; c < channels; ++c) {
    float u = unit(chw[c * plane + at]);
    if (channels == 4 && c < 3) u = alpha > 0.0f ? (u < alpha ? u : alpha) / alpha : 0.0f;
    out[c] = uint8_t(std::floor(u * 255.0f + 0.5f));
  }
}

}  // namespace

void chw_to_rgba8(const float* chw, int channels, int height, int width, uint8_t* rgba) {
  if (channels != 1 && channels != 3 && channels != 4)
    throw std::invalid_argument("chw_to_rgba8: channels must be 1, 3 or 4, got " + std::to_string(channels));
  const size_t plane = size_t(height) * width;
  for (size_t at = 0; at < plane; ++at, rgba += 4) {
    pixel_to_bytes(chw, channels, plane, at, rgba);
    if (channels == 1) rgba[1] = rgba[2] = rgba[0];
    if (channels != 4) rgba[3] = 255;
  }
}

namespace {

void check_png_shape(int channels, int height, int width) {
  if (channels < 1 || channels > 4 || height < 1 || width < 1)
    throw std::invalid_argument("PNG needs 1 to 4 channels and a positive size, got [" + std::to_string(channels) +
                                "," + std::to_string(height) + "," + std::to_string(width) + "]");
}

// The PNG of raw scanlines (each a filter byte 0 and the row's interleaved samples).
std::string png_of_scanlines(const std::vector<uint8_t>& raw, int channels, int height, int width) {
  static const uint8_t kColorType[5] = {0, 0, 4, 2, 6};
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

}  // namespace

std::string encode_png(const float* chw, int channels, int height, int width) {
  check_png_shape(channels, height, width);
  const size_t plane = size_t(height) * width;
  std::vector<uint8_t> raw(size_t(height) * (1 + size_t(width) * channels));
  uint8_t* out = raw.data();
  for (int y = 0; y < height; ++y) {
    *out++ = 0;
    for (int x = 0; x < width; ++x, out += channels) pixel_to_bytes(chw, channels, plane, size_t(y) * width + x, out);
  }
  return png_of_scanlines(raw, channels, height, width);
}

std::string encode_png_rgba8(const uint8_t* rgba, int channels, int height, int width) {
  check_png_shape(channels, height, width);
  std::vector<uint8_t> raw(size_t(height) * (1 + size_t(width) * channels));
  uint8_t* out = raw.data();
  for (size_t y = 0; y < size_t(height); ++y) {
    *out++ = 0;
    for (size_t x = 0; x < size_t(width); ++x, out += channels) std::memcpy(out, rgba + 4 * (y * width + x), size_t(channels));
  }
  return png_of_scanlines(raw, channels, height, width);
}

// Inflate (RFC 1951) inside a zlib wrapper (RFC 1950).
namespace {

[[noreturn]] void corrupt_zlib(const std::string& what) { throw std::runtime_error("zlib data is corrupt: " + what); }

// Bits least significant first, as deflate packs them. Past the end of the data it reads
// zeros, so a Huffman table can always look ahead; consuming any of them throws.
class BitReader {
 public:
  BitReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  uint32_t peek(int n) {  // n <= 32
    while (count_ < n) {
      buffer_ |= uint64_t(pos_ < size_ ? data_[pos_] : 0) << count_;
      ++pos_;
      count_ += 8;
    }
    return uint32_t(buffer_ & ((uint64_t(1) << n) - 1));
  }
  void consume(int n) {
    buffer_ >>= n;
    count_ -= n;
    // Bits consumed so far: 8 * pos_ - count_, at most 8 * size_.
    if (pos_ > size_ && (pos_ - size_) * 8 > size_t(count_))
      throw std::runtime_error("zlib stream is truncated (it ends before its last block and Adler-32)");
  }
  uint32_t bits(int n) {
    uint32_t v = peek(n);
    consume(n);
    return v;
  }
  void align_to_byte() { consume(count_ % 8); }

 private:
  const uint8_t* data_;
  size_t size_, pos_ = 0;
  uint64_t buffer_ = 0;
  int count_ = 0;
};

// A canonical Huffman code as one table indexed by the next `bits` input bits.
struct Huffman {
  int bits = 0;                 // the longest code length
  std::vector<uint16_t> table;  // symbol << 4 | code length; 0 where no code starts
};

Huffman build_huffman(const uint8_t* lengths, int n) {  // lengths: 0 (unused) to 15
  int count[16] = {0};
  for (int i = 0; i < n; ++i) ++count[lengths[i]];
  count[0] = 0;
  Huffman h;
  int left = 1, next[16] = {0};
  for (int len = 1; len < 16; ++len) {
    left = 2 * left - count[len];
    if (left < 0) corrupt_zlib("over-subscribed Huffman code lengths");
    next[len] = 2 * (next[len - 1] + count[len - 1]);
    if (count[len] > 0) h.bits = len;
  }
  h.table.assign(size_t(1) << h.bits, 0);
  for (int symbol = 0; symbol < n; ++symbol) {
    const int len = lengths[symbol];
    if (len == 0) continue;
    // Codes are sent most significant bit first: the table index holds them reversed.
    uint32_t code = uint32_t(next[len]++), reversed = 0;
    for (int i = 0; i < len; ++i, code >>= 1) reversed = reversed << 1 | (code & 1);
    for (size_t at = reversed; at < h.table.size(); at += size_t(1) << len) h.table[at] = uint16_t(symbol << 4 | len);
  }
  return h;  // an incomplete code leaves zeros, which decode() rejects
}

int decode(BitReader& in, const Huffman& h) {
  const uint16_t entry = h.table[in.peek(h.bits)];
  if (entry == 0) corrupt_zlib("invalid Huffman code");
  in.consume(entry & 15);
  return entry >> 4;
}

void put(std::vector<uint8_t>& out, size_t limit, uint8_t byte) {
  if (out.size() == limit) corrupt_zlib("it inflates to more than the " + std::to_string(limit) + " bytes expected");
  out.push_back(byte);
}

void inflate_codes(BitReader& in, const Huffman& literal, const Huffman& distance, std::vector<uint8_t>& out,
                   size_t limit) {
  static const uint16_t kLengthBase[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                           31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
  static const uint8_t kLengthExtra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                           2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
  static const uint16_t kDistanceBase[30] = {1,    2,    3,    4,    5,    7,    9,    13,    17,    25,
                                             33,   49,   65,   97,   129,  193,  257,  385,   513,   769,
                                             1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
  static const uint8_t kDistanceExtra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                             6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
  for (;;) {
    int symbol = decode(in, literal);
    if (symbol < 256) {
      put(out, limit, uint8_t(symbol));
      continue;
    }
    if (symbol == 256) return;
    symbol -= 257;
    if (symbol >= 29) corrupt_zlib("invalid length symbol " + std::to_string(symbol + 257));
    const size_t length = kLengthBase[symbol] + in.bits(kLengthExtra[symbol]);
    symbol = decode(in, distance);
    if (symbol >= 30) corrupt_zlib("invalid distance symbol " + std::to_string(symbol));
    const size_t back = kDistanceBase[symbol] + in.bits(kDistanceExtra[symbol]);
    if (back > out.size())
      corrupt_zlib("a match reaches " + std::to_string(back) + " bytes back, " + std::to_string(out.size()) +
                   " are written");
    for (size_t i = 0; i < length; ++i) {
      const uint8_t byte = out[out.size() - back];  // the match may overlap what it writes
      put(out, limit, byte);
    }
  }
}

void inflate_dynamic(BitReader& in, std::vector<uint8_t>& out, size_t limit) {
  static const uint8_t kOrder[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
  const int literals = int(in.bits(5)) + 257, distances = int(in.bits(5)) + 1, code_lengths = int(in.bits(4)) + 4;
  if (literals > 286 || distances > 30)
    corrupt_zlib("a dynamic block declares " + std::to_string(literals) + " literal/length and " +
                 std::to_string(distances) + " distance codes (at most 286 and 30)");
  uint8_t lengths[286 + 30] = {0};
  for (int i = 0; i < code_lengths; ++i) lengths[kOrder[i]] = uint8_t(in.bits(3));
  const Huffman length_code = build_huffman(lengths, 19);
  const int total = literals + distances;
  for (int i = 0; i < total;) {
    const int symbol = decode(in, length_code);
    if (symbol < 16) {
      lengths[i++] = uint8_t(symbol);
      continue;
    }
    uint8_t value = 0;
    int repeat = 0;
    if (symbol == 16) {
      if (i == 0) corrupt_zlib("a code length repeats before the first");
      value = lengths[i - 1];
      repeat = 3 + int(in.bits(2));
    } else if (symbol == 17) {
      repeat = 3 + int(in.bits(3));
    } else {
      repeat = 11 + int(in.bits(7));
    }
    if (i + repeat > total) corrupt_zlib("code lengths run past the declared count");
    while (repeat-- > 0) lengths[i++] = value;
  }
  if (lengths[256] == 0) corrupt_zlib("a dynamic block has no end-of-block code");
  const Huffman literal = build_huffman(lengths, literals), distance = build_huffman(lengths + literals, distances);
  inflate_codes(in, literal, distance, out, limit);
}

}  // namespace

std::vector<uint8_t> zlib_decompress(const uint8_t* data, size_t size, size_t expected_size) {
  if (size < 2) throw std::runtime_error("zlib stream is truncated (" + std::to_string(size) + " bytes)");
  const uint8_t cmf = data[0], flg = data[1];
  if ((cmf & 15) != 8 || (cmf >> 4) > 7)
    throw std::runtime_error("not a zlib deflate stream (header byte " + std::to_string(cmf) + ")");
  if ((cmf * 256 + flg) % 31 != 0) throw std::runtime_error("zlib header check fails");
  if (flg & 0x20) throw std::runtime_error("zlib stream needs a preset dictionary, which PNG does not allow");
  BitReader in(data + 2, size - 2);
  std::vector<uint8_t> out;
  // Grow with what the stream gives, not with what a header claims.
  out.reserve(std::min(expected_size, size_t(4) * size + 4096));
  bool last = false;
  while (!last) {
    last = in.bits(1) == 1;
    const uint32_t type = in.bits(2);
    if (type == 0) {
      in.align_to_byte();
      const uint32_t length = in.bits(16), complement = in.bits(16);
      if ((length ^ 0xffff) != complement) corrupt_zlib("a stored block's length and its complement disagree");
      for (uint32_t i = 0; i < length; ++i) put(out, expected_size, uint8_t(in.bits(8)));
    } else if (type == 1) {
      static const std::pair<Huffman, Huffman> kFixed = [] {
        uint8_t lengths[288];
        for (int i = 0; i < 288; ++i) lengths[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
        const uint8_t distances[30] = {5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
                                       5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5};
        return std::make_pair(build_huffman(lengths, 288), build_huffman(distances, 30));
      }();
      inflate_codes(in, kFixed.first, kFixed.second, out, expected_size);
    } else if (type == 2) {
      inflate_dynamic(in, out, expected_size);
    } else {
      corrupt_zlib("block type 3 is reserved");
    }
  }
  in.align_to_byte();
  uint32_t check = 0;
  for (int i = 0; i < 4; ++i) check = check << 8 | in.bits(8);
  if (out.size() != expected_size)
    throw std::runtime_error("zlib stream ends after " + std::to_string(out.size()) + " of the " +
                             std::to_string(expected_size) + " bytes expected");
  if (check != adler32(out.data(), out.size())) corrupt_zlib("the Adler-32 check fails");
  return out;
}

// PNG decoding.
namespace {

uint32_t get_u32be(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

[[noreturn]] void corrupt_png(const std::string& what) {
  throw std::runtime_error("corrupt PNG: " + what + "; re-export the image");
}

struct PngHeader {
  uint32_t width = 0, height = 0;
  int depth = 0, color = 0, samples = 0;  // samples a pixel: 1 gray, 3 RGB, 1 palette, 2 gray+alpha, 4 RGBA
};

PngHeader parse_header(const uint8_t* p, uint32_t length) {
  if (length != 13) corrupt_png("IHDR holds " + std::to_string(length) + " bytes, not 13");
  PngHeader h;
  h.width = get_u32be(p);
  h.height = get_u32be(p + 4);
  h.depth = p[8];
  h.color = p[9];
  static const int kSamples[7] = {1, 0, 3, 1, 2, 0, 4};
  if (h.color > 6 || kSamples[h.color] == 0) corrupt_png("IHDR has color type " + std::to_string(h.color));
  h.samples = kSamples[h.color];
  const bool depth_ok = h.depth == 8 || (h.depth == 16 && h.color != 3) ||
                        ((h.depth == 1 || h.depth == 2 || h.depth == 4) && (h.color == 0 || h.color == 3));
  if (!depth_ok)
    corrupt_png("IHDR has bit depth " + std::to_string(h.depth) + " with color type " + std::to_string(h.color));
  if (p[10] != 0) corrupt_png("IHDR has compression method " + std::to_string(p[10]) + " (only 0 exists)");
  if (p[11] != 0) corrupt_png("IHDR has filter method " + std::to_string(p[11]) + " (only 0 exists)");
  if (p[12] == 1)
    throw std::runtime_error(
        "interlaced PNGs are not supported; save the image without interlacing "
        "(e.g. convert in.png -interlace none out.png)");
  if (p[12] != 0) corrupt_png("IHDR has interlace method " + std::to_string(p[12]));
  if (h.width == 0 || h.height == 0 || h.width > uint32_t(kPngMaxSide) || h.height > uint32_t(kPngMaxSide) ||
      int64_t(h.width) * h.height > kPngMaxPixels)
    throw std::runtime_error("PNG is " + std::to_string(h.width) + "x" + std::to_string(h.height) +
                             "; lkrt reads 1 to " + std::to_string(kPngMaxSide) + " pixels a side and at most " +
                             std::to_string(kPngMaxPixels) + " pixels; resize the image");
  return h;
}

// Undoes the per-row filters in place. raw: height rows of a filter byte and `row_bytes`.
void unfilter(std::vector<uint8_t>& raw, size_t height, size_t row_bytes, size_t bpp) {
  const std::vector<uint8_t> zeros(row_bytes, 0);  // the row above the first
  for (size_t y = 0; y < height; ++y) {
    uint8_t* row = raw.data() + y * (row_bytes + 1) + 1;
    const uint8_t* up = y > 0 ? row - (row_bytes + 1) : zeros.data();
    switch (row[-1]) {
      case 0:
        break;
      case 1:  // Sub
        for (size_t i = bpp; i < row_bytes; ++i) row[i] = uint8_t(row[i] + row[i - bpp]);
        break;
      case 2:  // Up
        for (size_t i = 0; i < row_bytes; ++i) row[i] = uint8_t(row[i] + up[i]);
        break;
      case 3:  // Average
        for (size_t i = 0; i < row_bytes; ++i) row[i] = uint8_t(row[i] + ((i >= bpp ? row[i - bpp] : 0) + up[i]) / 2);
        break;
      case 4:  // Paeth
        for (size_t i = 0; i < row_bytes; ++i) {
          const int a = i >= bpp ? row[i - bpp] : 0, b = up[i], c = i >= bpp ? up[i - bpp] : 0;
          const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
          row[i] = uint8_t(row[i] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c));
        }
        break;
      default:
        corrupt_png("row " + std::to_string(y) + " has filter type " + std::to_string(row[-1]) + " (0 to 4 exist)");
    }
  }
}

}  // namespace

DecodedPng decode_png(const std::string& bytes) {
  static const uint8_t kSignature[8] = {137, 80, 78, 71, 13, 10, 26, 10};
  const uint8_t* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const size_t size = bytes.size();
  if (size < 8 || std::memcmp(p, kSignature, 8) != 0)
    throw std::runtime_error("not a PNG file (the first 8 bytes are not the PNG signature)");

  PngHeader h;
  bool have_header = false, have_palette = false, have_trns = false, have_idat = false;
  std::vector<uint8_t> palette, trns, idat;  // palette: RGB triples; trns: palette alphas or a color key
  size_t pos = 8;
  for (;;) {
    if (size - pos < 12)
      throw std::runtime_error("truncated PNG: it ends after " + std::to_string(size) + " bytes, before IEND");
    const uint32_t length = get_u32be(p + pos);
    const std::string type(reinterpret_cast<const char*>(p + pos + 4), 4);
    for (char c : type)
      if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
        corrupt_png("bad chunk type at byte " + std::to_string(pos + 4));
    if (length > 0x7fffffffu) corrupt_png("chunk " + type + " claims " + std::to_string(length) + " bytes");
    if (size - pos - 12 < length)
      throw std::runtime_error("truncated " + type + ": the chunk needs " + std::to_string(length) + " bytes, " +
                               std::to_string(size - pos - 12) + " are left in the file");
    const uint8_t* data = p + pos + 8;
    if (format::crc32_update(format::crc32(p + pos + 4, 4), data, length) != get_u32be(data + length))
      throw std::runtime_error("bad CRC in chunk " + type + " (at byte " + std::to_string(pos) +
                               "): the file is corrupt");
    pos += 12 + size_t(length);

    if (!have_header && type != "IHDR") corrupt_png("the first chunk is " + type + ", not IHDR");
    if (type == "IHDR") {
      if (have_header) corrupt_png("two IHDR chunks");
      h = parse_header(data, length);
      have_header = true;
    } else if (type == "PLTE") {
      if (have_palette || have_idat || have_trns) corrupt_png("PLTE after IDAT, tRNS or another PLTE");
      if (h.color == 0 || h.color == 4) corrupt_png("PLTE in a gray image");
      if (length == 0 || length > 3 * 256 || length % 3 != 0)
        corrupt_png("PLTE holds " + std::to_string(length) + " bytes, not 3 to 768 in RGB triples");
      palette.assign(data, data + length);
      have_palette = true;
    } else if (type == "tRNS") {
      if (have_trns || have_idat) corrupt_png("tRNS after IDAT or another tRNS");
      if (h.color == 3 && (!have_palette || length > palette.size() / 3))
        corrupt_png("tRNS holds " + std::to_string(length) + " alphas for " + std::to_string(palette.size() / 3) +
                    " palette colors");
      if ((h.color == 0 && length != 2) || (h.color == 2 && length != 6))
        corrupt_png("tRNS holds " + std::to_string(length) + " bytes, not " + (h.color == 0 ? "2" : "6"));
      if (h.color != 4 && h.color != 6) {  // with an alpha channel tRNS means nothing: ignored
        trns.assign(data, data + length);
        have_trns = true;
      }
    } else if (type == "IDAT") {
      idat.insert(idat.end(), data, data + length);
      have_idat = true;
    } else if (type == "IEND") {
      break;
    } else if ((type[0] & 0x20) == 0) {
      throw std::runtime_error("PNG has a critical chunk " + type +
                               " that lkrt does not know; re-save it as a plain PNG");
    }  // other ancillary chunks (text, gamma, ...) are skipped
  }
  if (!have_idat) corrupt_png("no IDAT chunk");
  if (h.color == 3 && !have_palette) corrupt_png("a palette image without PLTE");

  const size_t width = h.width, height = h.height, bits = size_t(h.depth) * h.samples;
  const size_t row_bytes = (width * bits + 7) / 8;
  std::vector<uint8_t> raw;
  try {
    raw = zlib_decompress(idat.data(), idat.size(), height * (row_bytes + 1));
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string("PNG image data (IDAT): ") + e.what());
  }
  unfilter(raw, height, row_bytes, bits < 8 ? 1 : bits / 8);

  DecodedPng png;
  png.width = int(width);
  png.height = int(height);
  png.channels = h.color == 4 || h.color == 6 || have_trns ? 4 : h.color == 0 ? 1 : 3;
  png.pixels.resize(height * width * png.channels);
  const int depth = h.depth;
  const uint32_t max_value = (uint32_t(1) << depth) - 1;
  const uint32_t key[3] = {trns.size() >= 2 ? uint32_t(trns[0]) << 8 | trns[1] : 0,
                           trns.size() >= 4 ? uint32_t(trns[2]) << 8 | trns[3] : 0,
                           trns.size() >= 6 ? uint32_t(trns[4]) << 8 | trns[5] : 0};
  for (size_t y = 0; y < height; ++y) {
    const uint8_t* row = raw.data() + y * (row_bytes + 1) + 1;
    // Sample s of the row at its bit depth (s = x * samples + channel).
    const auto sample = [&](size_t s) -> uint32_t {
      if (depth == 8) return row[s];
      if (depth == 16) return uint32_t(row[2 * s]) << 8 | row[2 * s + 1];
      const size_t bit = s * depth;
      return (row[bit / 8] >> (8 - depth - bit % 8)) & max_value;
    };
    // To 8 bits: 16-bit rounds (v / 257 to nearest), 1/2/4-bit gray scales to 0..255.
    const auto to8 = [&](uint32_t v) {
      return uint8_t(depth == 16 ? (v + 128) / 257 : depth == 8 ? v : v * 255 / max_value);
    };
    uint8_t* out = png.pixels.data() + y * width * png.channels;
    for (size_t x = 0; x < width; ++x, out += png.channels) {
      const size_t s = x * h.samples;
      switch (h.color) {
        case 0: {
          const uint32_t v = sample(s);
          out[0] = to8(v);
          if (have_trns) {
            out[1] = out[2] = out[0];
            out[3] = v == key[0] ? 0 : 255;
          }
          break;
        }
        case 2: {
          const uint32_t r = sample(s), g = sample(s + 1), b = sample(s + 2);
          out[0] = to8(r);
          out[1] = to8(g);
          out[2] = to8(b);
          if (have_trns) out[3] = r == key[0] && g == key[1] && b == key[2] ? 0 : 255;
          break;
        }
        case 3: {
          const uint32_t index = sample(s);
          if (index >= palette.size() / 3)
            corrupt_png("pixel (" + std::to_string(x) + ", " + std::to_string(y) + ") has palette index " +
                        std::to_string(index) + ", PLTE has " + std::to_string(palette.size() / 3) + " colors");
          std::memcpy(out, &palette[3 * index], 3);
          if (have_trns) out[3] = index < trns.size() ? trns[index] : 255;
          break;
        }
        case 4:
          out[0] = out[1] = out[2] = to8(sample(s));
          out[3] = to8(sample(s + 1));
          break;
        default:  // 6
          for (int c = 0; c < 4; ++c) out[c] = to8(sample(s + c));
      }
    }
  }
  return png;
}

std::vector<float> png_to_chw(const DecodedPng& png, int channels) {
  if (channels != 1 && channels != 3 && channels != 4)
    throw std::invalid_argument("png_to_chw: channels must be 1, 3 or 4, got " + std::to_string(channels));
  const size_t plane = size_t(png.height) * png.width;
  if ((png.channels != 1 && png.channels != 3 && png.channels != 4) || png.height < 1 || png.width < 1 ||
      png.pixels.size() != plane * png.channels)
    throw std::invalid_argument("png_to_chw: the image is not [height, width, 1, 3 or 4 channels]");
  std::vector<float> chw(plane * channels);
  for (size_t i = 0; i < plane; ++i) {
    const uint8_t* px = png.pixels.data() + i * png.channels;
    // Straight color and alpha in [0, 1].
    float rgb[3];
    for (int c = 0; c < 3; ++c) rgb[c] = px[png.channels == 1 ? 0 : c] / 255.0f;
    const float alpha = png.channels == 4 ? px[3] / 255.0f : 1.0f;
    if (channels == 4) {  // premultiplied, as encode_png takes it
      for (int c = 0; c < 3; ++c) chw[c * plane + i] = rgb[c] * alpha * 2.0f - 1.0f;
      chw[3 * plane + i] = alpha * 2.0f - 1.0f;
      continue;
    }
    for (int c = 0; c < 3; ++c) rgb[c] = rgb[c] * alpha + (1.0f - alpha);  // onto white
    if (channels == 3) {
      for (int c = 0; c < 3; ++c) chw[c * plane + i] = rgb[c] * 2.0f - 1.0f;
    } else {
      const float gray = png.channels == 1 ? rgb[0] : 0.299f * rgb[0] + 0.587f * rgb[1] + 0.114f * rgb[2];
      chw[i] = gray * 2.0f - 1.0f;
    }
  }
  return chw;
}

}  // namespace lkrt
