#include "latentkit/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <vector>

#include "latentkit/core/error.h"

namespace latentkit {
namespace {

namespace fs = std::filesystem;

constexpr char kGenericHint[] = "check the file, or download it again";

// A problem with one file, worded without a source or a hint; the public functions add
// those, since only they know where the file came from and how to get a good one.
class IdxFault : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// zlib's gz* functions read a plain file unchanged, so one reader serves both forms and
// the choice follows the bytes, not the file name.
class GzReader {
 public:
  explicit GzReader(const std::string& path) : path_(path), file_(gzopen(path.c_str(), "rb")) {
    if (file_ == nullptr) {
      throw IdxFault("cannot open " + path + ": " + std::strerror(errno));
    }
    gzbuffer(file_, 1 << 17);
  }
  ~GzReader() { gzclose(file_); }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  // Reads up to n bytes; fewer only at the end of the data.
  size_t read(uint8_t* out, size_t n) {
    size_t total = 0;
    while (total < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - total, 1u << 22));
      const int got = gzread(file_, out + total, chunk);
      if (got < 0) check_error();
      if (got <= 0) break;
      total += static_cast<size_t>(got);
    }
    check_error();
    return total;
  }

 private:
  void check_error() {
    int errnum = Z_OK;
    const char* message = gzerror(file_, &errnum);
    if (errnum == Z_OK) return;
    // zlib reports a stream cut short as a soft Z_BUF_ERROR and hands back what it had;
    // the caller then sees a short read and says how much was missing.
    if (errnum == Z_BUF_ERROR) return;
    if (errnum == Z_ERRNO) throw IdxFault("cannot read " + path_ + ": " + std::strerror(errno));
    throw IdxFault(path_ + " is not a valid gzip file (zlib: " + message + ")");
  }

  std::string path_;
  gzFile file_;
};

std::string hex_byte(uint8_t b) {
  static const char kDigits[] = "0123456789abcdef";
  return std::string{kDigits[b >> 4], kDigits[b & 15]};
}

std::string join_dims(const std::vector<int64_t>& dims) {
  std::string out;
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? " x " : "") + std::to_string(dims[i]);
  return out;
}

// what: "image data", "label data" or "data", for the truncation message.
torch::Tensor read_idx_file(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw IdxFault(path + " not found");
  if (fs::is_directory(path, ec)) throw IdxFault(path + " is a folder, not an IDX file");
  GzReader reader(path);

  uint8_t magic[4] = {0, 0, 0, 0};
  const size_t magic_got = reader.read(magic, 4);
  if (magic_got < 4) {
    throw IdxFault(path + " is not an IDX file (" + std::to_string(magic_got) +
                   " bytes; the magic number alone needs 4)");
  }
  if (magic[0] != 0 || magic[1] != 0) {
    throw IdxFault(path + " is not an IDX file (magic bytes " + hex_byte(magic[0]) + " " +
                   hex_byte(magic[1]) + " " + hex_byte(magic[2]) + " " + hex_byte(magic[3]) +
                   ", expected 00 00 08 <dims>)");
  }
  if (magic[2] != 0x08) {
    throw IdxFault(path + " holds IDX element type 0x" + hex_byte(magic[2]) +
                   "; only 0x08 (unsigned byte) is supported");
  }
  const int ndims = magic[3];
  if (ndims == 0) throw IdxFault(path + " declares 0 dimensions; expected at least 1");

  std::vector<uint8_t> header(4 * static_cast<size_t>(ndims));
  const size_t header_got = reader.read(header.data(), header.size());
  if (header_got < header.size()) {
    throw IdxFault(path + " is truncated (its header declares " + std::to_string(ndims) +
                   " dimensions, but the file ends after " + std::to_string(4 + header_got) +
                   " bytes)");
  }
  std::vector<int64_t> dims(ndims);
  // Caps the element count well before size_t arithmetic could overflow; no real IDX file
  // comes near it.
  constexpr uint64_t kMaxElements = uint64_t{1} << 40;
  uint64_t count = 1;
  for (int i = 0; i < ndims; ++i) {
    const uint8_t* b = &header[4 * static_cast<size_t>(i)];
    const uint64_t d = (uint64_t{b[0]} << 24) | (uint64_t{b[1]} << 16) | (uint64_t{b[2]} << 8) | b[3];
    dims[i] = static_cast<int64_t>(d);
    count = (d == 0 || count == 0) ? 0 : (count > kMaxElements / d ? kMaxElements + 1 : count * d);
  }
  // LibTorch sizes the tensor before it sees a 0: the other dimensions must fit as well.
  uint64_t nonzero = 1;
  for (const int64_t d : dims) {
    if (d != 0) nonzero = nonzero > kMaxElements / static_cast<uint64_t>(d) ? kMaxElements + 1 : nonzero * d;
  }
  if (count > kMaxElements || nonzero > kMaxElements) {
    throw IdxFault(path + " declares dimensions " + join_dims(dims) +
                   ", too large to be a real data file");
  }

  // Grows with the bytes actually present, so a lying header cannot make us allocate.
  std::vector<uint8_t> data;
  size_t have = 0;
  size_t chunk = size_t{1} << 16;  // doubles to 16 MiB: a short file costs little
  while (have < count) {
    const size_t step = std::min<size_t>(count - have, chunk);
    chunk = std::min<size_t>(chunk * 2, size_t{1} << 24);
    data.resize(have + step);
    const size_t got = reader.read(data.data() + have, step);
    have += got;
    if (got < step) break;
  }
  const uint64_t header_bytes = 4 + header.size();
  if (have < count) {
    throw IdxFault(path + " is truncated (expected " + std::to_string(header_bytes + count) +
                   " bytes of " + what + ", got " + std::to_string(header_bytes + have) + ")");
  }
  uint8_t extra = 0;
  if (reader.read(&extra, 1) != 0) {
    throw IdxFault(path + " has bytes after the " + std::to_string(header_bytes + count) +
                   " its header accounts for (dimensions " + join_dims(dims) +
                   "); it is not a plain IDX file");
  }
  torch::Tensor out = torch::empty(dims, torch::kUInt8);
  if (count > 0) std::memcpy(out.data_ptr<uint8_t>(), data.data(), count);
  return out;
}

// The plain name or, failing that, the .gz one; empty when neither exists.
std::string find_idx_file(const std::string& dir, const std::string& name) {
  std::error_code ec;
  for (const std::string& candidate : {name, name + ".gz"}) {
    const fs::path p = fs::path(dir) / candidate;
    if (fs::is_regular_file(p, ec)) return p.string();
  }
  return "";
}

}  // namespace

torch::Tensor read_idx(const std::string& path) {
  try {
    return read_idx_file(path, "data");
  } catch (const IdxFault& e) {
    throw Error(std::string(e.what()) + "; " + kGenericHint);
  }
}

Dataset load_idx_dir(const std::string& dir, const std::string& split) {
  return load_idx_dir(dir, split, "idx:" + dir, kGenericHint);
}

Dataset load_idx_dir(const std::string& dir, const std::string& split,
                     const std::string& source, const std::string& hint) {
  auto fail = [&](const std::string& message) {
    return Error(source + ": " + message + "; " + hint);
  };
  if (split != "train" && split != "test") {
    throw Error(source + ": unknown split '" + split + "'; expected train or test");
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw Error(source + ": " + dir +
                " not found; expected a folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]");
  }
  const std::string prefix = split == "train" ? "train" : "t10k";

  auto load = [&](const std::string& kind, const std::string& what, int64_t want_dims,
                  const std::string& layout) {
    const std::string name = prefix + "-" + kind + "-ubyte";
    const std::string path = find_idx_file(dir, name);
    if (path.empty()) {
      throw fail((fs::path(dir) / name).string() + "[.gz] not found");
    }
    torch::Tensor t;
    try {
      t = read_idx_file(path, what);
    } catch (const IdxFault& e) {
      throw fail(e.what());
    }
    if (t.dim() != want_dims) {
      std::vector<int64_t> dims(t.sizes().begin(), t.sizes().end());
      throw fail(path + " has dimensions " + join_dims(dims) + ", expected " + layout);
    }
    return std::make_pair(path, t);
  };
  auto [images_path, images] = load("images-idx3", "image data", 3, "[N, H, W]");
  auto [labels_path, labels] = load("labels-idx1", "label data", 1, "[N]");

  const int64_t n = images.size(0);
  if (labels.size(0) != n) {
    throw fail(images_path + " has " + std::to_string(n) + " images but " + labels_path +
               " has " + std::to_string(labels.size(0)) + " labels");
  }
  if (n == 0) throw fail(images_path + " holds no images");

  Dataset data;
  data.images = images.unsqueeze(1).contiguous();
  data.labels = labels.to(torch::kInt64);
  // Generic IDX files carry no class names; numbering them keeps the class count known.
  const int64_t classes = data.labels.max().item<int64_t>() + 1;
  for (int64_t c = 0; c < classes; ++c) data.class_names.push_back(std::to_string(c));
  return data;
}

}  // namespace latentkit
