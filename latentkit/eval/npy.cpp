#include "latentkit/eval/npy.h"

#include <cctype>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"

namespace latentkit {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "npy.cpp copies little-endian data as it is in memory");

// The format (numpy.lib.format, version 1.0): the magic "\x93NUMPY", major and minor
// version bytes, a little-endian uint16 header length, then the header, a Python dict
// literal padded with spaces and ended by '\n' so that the data starts at a multiple of
// 64 bytes. Versions 2.0 and 3.0 differ only in a uint32 header length.
const char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr size_t kAlign = 64;

struct DtypeInfo {
  torch::ScalarType type;
  const char* descr;
};
const DtypeInfo kDtypes[] = {
    {torch::kFloat32, "<f4"}, {torch::kFloat64, "<f8"}, {torch::kInt64, "<i8"}, {torch::kUInt8, "|u1"}};

std::string supported_list() { return "float32 (<f4), float64 (<f8), int64 (<i8) or uint8 (|u1)"; }

// A parser for the one kind of dict numpy writes: string keys; values that are strings,
// True / False or tuples of integers.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : text_(text), path_(path) {}

  struct Header {
    std::string descr;
    bool fortran_order = false;
    bool has_descr = false, has_order = false, has_shape = false;
    std::vector<int64_t> shape;
  };

  Header parse() {
    Header h;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = parse_string();
      expect(':');
      skip_space();
      if (key == "descr") {
        h.descr = parse_string();
        h.has_descr = true;
      } else if (key == "fortran_order") {
        h.fortran_order = parse_bool();
        h.has_order = true;
      } else if (key == "shape") {
        h.shape = parse_shape();
        h.has_shape = true;
      } else {
        fail("unknown key '" + key + "'");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      skip_space();
      if (peek() != '}') fail("expected ',' or '}'");
    }
    ++pos_;
    if (!h.has_descr || !h.has_order || !h.has_shape) fail("the header lacks 'descr', 'fortran_order' or 'shape'");
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(path_ + ": not a valid .npy header (" + what + " at byte " + std::to_string(pos_) +
                " of the header); write the file with numpy.save or latentkit");
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  std::string parse_string() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string");
    const size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string::npos) fail("unterminated string");
    std::string s = text_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return s;
  }
  bool parse_bool() {
    if (text_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      return true;
    }
    if (text_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      return false;
    }
    fail("expected True or False");
  }
  std::vector<int64_t> parse_shape() {
    expect('(');
    std::vector<int64_t> shape;
    while (true) {
      skip_space();
      if (peek() == ')') break;
      if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("expected a dimension");
      int64_t v = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        const int digit = peek() - '0';
        if (v > (std::numeric_limits<int64_t>::max() - digit) / 10) fail("dimension too large");
        v = v * 10 + digit;
        ++pos_;
      }
      if (peek() == 'L') ++pos_;  // Python 2's long suffix, seen in old files
      shape.push_back(v);
      skip_space();
      if (peek() == ',')
        ++pos_;
      else if (peek() != ')')
        fail("expected ',' or ')' in the shape");
    }
    ++pos_;
    return shape;
  }

  const std::string& text_;
  const std::string& path_;
  size_t pos_ = 0;
};

// As Python writes a tuple: "(10, 128)", "(10,)", "()".
std::string shape_literal(const torch::Tensor& t) {
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + (t.dim() == 1 ? ",)" : ")");
}

uint32_t read_le(const std::string& bytes, size_t offset, size_t width) {
  uint32_t v = 0;
  for (size_t i = 0; i < width; ++i)
    v |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[offset + i])) << (8 * i);
  return v;
}

}  // namespace

void write_npy(const std::string& path, const torch::Tensor& tensor) {
  check_input(tensor.defined(), "write_npy " + path + ": no tensor given");
  const DtypeInfo* info = nullptr;
  for (const DtypeInfo& d : kDtypes) {
    if (d.type == tensor.scalar_type()) info = &d;
  }
  check_input(info != nullptr, "write_npy " + path + ": cannot write dtype " +
                                   std::string(c10::toString(tensor.scalar_type())) + "; convert it to " +
                                   supported_list());
  torch::Tensor t = tensor.to(torch::kCPU).contiguous();
  std::string header =
      std::string("{'descr': '") + info->descr + "', 'fortran_order': False, 'shape': " + shape_literal(t) + ", }";
  // Version 1.0 holds headers up to 65535 bytes; only a tensor of thousands of dimensions
  // needs more, and version 2.0 differs only in a 4-byte length.
  const bool v2 = header.size() + kAlign > 0xffff;
  const size_t length_bytes = v2 ? 4 : 2;
  // Pad with spaces so that magic + version + length + header + '\n' is a multiple of 64.
  const size_t unpadded = kMagicSize + 2 + length_bytes + header.size() + 1;
  header.append((kAlign - unpadded % kAlign) % kAlign, ' ');
  header += '\n';
  const size_t data_bytes = static_cast<size_t>(t.numel()) * t.element_size();
  std::string bytes;
  bytes.reserve(kMagicSize + 6 + header.size() + data_bytes);
  bytes.append(kMagic, kMagicSize);
  bytes += static_cast<char>(v2 ? 2 : 1);
  bytes += '\0';
  const size_t length = header.size();
  for (size_t i = 0; i < length_bytes; ++i) bytes += static_cast<char>((length >> (8 * i)) & 0xff);
  bytes += header;
  bytes.append(static_cast<const char*>(t.data_ptr()), data_bytes);
  write_file_atomic(path, bytes);
}

torch::Tensor read_npy(const std::string& path) {
  const std::string bytes = read_file(path);
  check_input(bytes.size() >= kMagicSize && bytes.compare(0, kMagicSize, kMagic, kMagicSize) == 0,
              path + ": not a NumPy .npy file (no \\x93NUMPY magic at the start)");
  check_input(bytes.size() >= kMagicSize + 2, path + ": truncated .npy file (" + std::to_string(bytes.size()) +
                                                  " bytes, shorter than its fixed preamble)");
  const int major = static_cast<unsigned char>(bytes[kMagicSize]);
  check_input(major >= 1 && major <= 3,
              path + ": .npy format version " + std::to_string(major) + " is not supported (1.0, 2.0 and 3.0 are)");
  const size_t length_bytes = major == 1 ? 2 : 4;
  const size_t prefix = kMagicSize + 2 + length_bytes;
  check_input(bytes.size() >= prefix, path + ": truncated .npy file (" + std::to_string(bytes.size()) +
                                          " bytes, shorter than its fixed preamble)");
  const size_t header_size = read_le(bytes, kMagicSize + 2, length_bytes);
  check_input(bytes.size() - prefix >= header_size, path + ": truncated .npy file (the header needs " +
                                                        std::to_string(prefix + header_size) + " bytes, the file has " +
                                                        std::to_string(bytes.size()) + ")");
  const std::string header_text = bytes.substr(prefix, header_size);
  HeaderParser::Header header = HeaderParser(header_text, path).parse();

  check_input(header.descr.size() == 3 && header.descr[0] != '>',
              path + ": data type '" + header.descr + "' is big-endian or unknown; latentkit reads little-endian " +
                  supported_list() + " (numpy: a.astype('<f4'))");
  const DtypeInfo* info = nullptr;
  for (const DtypeInfo& d : kDtypes) {
    // Single bytes have no byte order; numpy writes '|u1' but '<u1' means the same.
    const bool same =
        header.descr == d.descr || (d.descr[0] == '|' && header.descr == std::string("<") + (d.descr + 1));
    if (same) info = &d;
  }
  check_input(info != nullptr,
              path + ": data type '" + header.descr + "' is not supported; save it as " + supported_list());
  check_input(!header.fortran_order, path +
                                         ": Fortran-order arrays are not supported; save with "
                                         "numpy.save(path, numpy.ascontiguousarray(a))");

  const int64_t element_size = static_cast<int64_t>(c10::elementSize(info->type));
  int64_t count = 1;
  for (int64_t d : header.shape) {
    check_input(d == 0 || count <= std::numeric_limits<int64_t>::max() / element_size / d,
                path + ": the shape in the header is too large to be real");
    count *= d;
  }
  const size_t data_offset = prefix + header_size;
  const uint64_t expected = static_cast<uint64_t>(count) * static_cast<uint64_t>(element_size);
  const uint64_t present = bytes.size() - data_offset;
  check_input(present >= expected, path + ": truncated .npy file (the header promises " + std::to_string(expected) +
                                       " bytes of data, the file holds " + std::to_string(present) +
                                       "); write it again");
  check_input(present == expected, path + ": " + std::to_string(present - expected) +
                                       " unexpected bytes after the data; the file is not a plain .npy");
  torch::Tensor t = torch::empty(header.shape, torch::TensorOptions().dtype(info->type));
  if (expected > 0) std::memcpy(t.data_ptr(), bytes.data() + data_offset, static_cast<size_t>(expected));
  return t;
}

}  // namespace latentkit
