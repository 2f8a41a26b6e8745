#include "latentkit/data/folder.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <map>
#include <utility>
#include <vector>

#include "latentkit/core/error.h"
#include "latentkit/core/image.h"

namespace latentkit {
namespace {

namespace fs = std::filesystem;

bool is_image_name(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

// Dot-names are editor and notebook litter (.ipynb_checkpoints, .DS_Store), not data.
bool is_hidden(const fs::path& path) {
  const std::string name = path.filename().string();
  return !name.empty() && name[0] == '.';
}

// Reads path; errors name the source.
Image read_checked(const std::string& path, const std::string& source) {
  try {
    return read_image(path);
  } catch (const std::exception& e) {
    const std::string what = e.what();
    throw Error(source + ": " + (what.find(path) == std::string::npos ? "cannot read " + path + ": " : "") + what);
  }
}

// Reads path and converts its channels (fewer channels first: cheaper to resize; alpha is
// composited onto white).
Image read_converted(const std::string& path, int channels, const std::string& source) {
  return convert_channels(read_checked(path, source), channels);
}

// Interleaved HWC to planar CHW at dst.
void to_planar(const Image& image, uint8_t* dst) {
  const size_t plane = static_cast<size_t>(image.width) * image.height;
  for (size_t p = 0; p < plane; ++p) {
    for (int c = 0; c < image.channels; ++c) dst[c * plane + p] = image.pixels[p * image.channels + c];
  }
}

// Columns [x0, x1) of an image.
Image crop_columns(const Image& image, int x0, int x1) {
  Image out(x1 - x0, image.height, image.channels);
  for (int y = 0; y < image.height; ++y) {
    for (int x = x0; x < x1; ++x) {
      for (int c = 0; c < image.channels; ++c) out.at(x - x0, y, c) = image.at(x, y, c);
    }
  }
  return out;
}

void check_folder(const std::string& dir, const std::string& source) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw Error(source + ": " + dir + " not found; check the path");
  if (!fs::is_directory(dir, ec)) throw Error(source + ": " + dir + " is not a folder");
}

// Relative path without the extension: the key that pairs a file in A_DIR with one in B_DIR.
std::string pair_key(const fs::path& file, const fs::path& dir) {
  return file.lexically_relative(dir).replace_extension().generic_string();
}

// Image files under dir, recursively, sorted by path so the order is the same everywhere.
std::vector<fs::path> image_paths_under(const fs::path& dir, const std::string& source) {
  std::vector<fs::path> found;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    if (is_hidden(it->path())) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec) && is_image_name(it->path())) found.push_back(it->path());
  }
  if (ec) throw Error(source + ": cannot list " + dir.string() + ": " + ec.message());
  std::sort(found.begin(), found.end());
  return found;
}


}  // namespace

std::vector<std::string> images_under(const std::string& dir, const std::string& source) {
  std::vector<std::string> paths;
  for (const fs::path& p : image_paths_under(dir, source)) paths.push_back(p.string());
  return paths;
}

bool is_pairs_spec(const std::string& spec) {
  return (spec.rfind("folder:", 0) == 0 && spec.find(',') != std::string::npos) || spec.rfind("pairs:", 0) == 0;
}

ImagePairs load_image_pairs(const DataOptions& options) {
  const std::string& spec = options.spec;
  check_input(is_pairs_spec(spec), "image-to-image data must be folder:A_DIR,B_DIR (aligned folders) or pairs:DIR "
                                   "(A|B side by side), got '" + spec + "'");
  check_input(options.size > 0, spec + " needs --size (e.g. --size 64)");
  const int size = options.size, channels = options.channels == 0 ? 3 : options.channels;
  check_input(channels == 1 || channels == 3, spec + ": channels must be 1 (gray) or 3 (RGB)");
  // (a path, b path or empty for side by side, name)
  std::vector<std::array<std::string, 3>> files;
  if (spec.rfind("pairs:", 0) == 0) {
    const std::string dir = spec.substr(6);
    check_folder(dir, spec);
    for (const fs::path& p : image_paths_under(dir, spec)) files.push_back({p.string(), "", p.lexically_relative(dir).generic_string()});
  } else {
    const std::string both = spec.substr(7), a_dir = both.substr(0, both.find(',')), b_dir = both.substr(both.find(',') + 1);
    check_input(!a_dir.empty() && !b_dir.empty() && b_dir.find(',') == std::string::npos,
                spec + ": expected folder:A_DIR,B_DIR (inputs, then targets)");
    check_folder(a_dir, spec);
    check_folder(b_dir, spec);
    std::map<std::string, fs::path> targets;
    for (const fs::path& p : image_paths_under(b_dir, spec)) {
      auto [it, fresh] = targets.emplace(pair_key(p, b_dir), p);
      check_input(fresh, spec + ": " + it->second.string() + " and " + p.string() + " have the same name; keep one");
    }
    std::vector<std::string> unpaired;
    for (const fs::path& p : image_paths_under(a_dir, spec)) {
      auto it = targets.find(pair_key(p, a_dir));
      if (it == targets.end()) {
        unpaired.push_back(p.string() + " has no partner in " + b_dir);
        continue;
      }
      files.push_back({p.string(), it->second.string(), p.lexically_relative(a_dir).generic_string()});
      targets.erase(it);
    }
    for (const auto& [key, p] : targets) unpaired.push_back(p.string() + " has no partner in " + a_dir);
    if (!unpaired.empty()) {
      throw Error(spec + ": " + std::to_string(unpaired.size()) + " file" + (unpaired.size() == 1 ? "" : "s") +
                  " without a partner (first: " + unpaired[0] +
                  "); aligned folders need the same file names in both folders");
    }
  }
  check_input(!files.empty(), spec + " contains no .png or .jpg images");
  if (options.limit > 0 && static_cast<int64_t>(files.size()) > options.limit) files.resize(options.limit);

  const int64_t n = static_cast<int64_t>(files.size()), frame = int64_t{channels} * size * size;
  ImagePairs pairs;
  pairs.a = torch::empty({n, channels, size, size}, torch::kUInt8);
  pairs.b = torch::empty({n, channels, size, size}, torch::kUInt8);
  for (int64_t i = 0; i < n; ++i) {
    const auto& [a, b, name] = files[i];
    Image input = read_converted(a, channels, spec), target;
    if (b.empty()) {
      check_input(input.width >= 2, spec + ": " + a + " is too narrow to hold A | B");
      const int half = input.width / 2;
      target = crop_columns(input, half, 2 * half);
      input = crop_columns(input, 0, half);
    } else {
      target = read_converted(b, channels, spec);
    }
    to_planar(resize_center_crop(input, size), pairs.a.data_ptr<uint8_t>() + i * frame);
    to_planar(resize_center_crop(target, size), pairs.b.data_ptr<uint8_t>() + i * frame);
    pairs.names.push_back(name);
  }
  return pairs;
}

Dataset load_image_folder(const std::string& dir, int size) {
  const std::string source = "folder:" + dir;
  check_input(size > 0, source + " needs --size (e.g. --size 64)");
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw Error(source + ": " + dir + " not found; check the path");
  if (!fs::is_directory(dir, ec)) throw Error(source + ": " + dir + " is not a folder");

  std::vector<fs::path> class_dirs;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!is_hidden(it->path()) && it->is_directory(ec)) class_dirs.push_back(it->path());
  }
  if (ec) throw Error(source + ": cannot list " + dir + ": " + ec.message());
  std::sort(class_dirs.begin(), class_dirs.end());

  // (path, label) in the order the tensors will hold them.
  std::vector<std::pair<fs::path, int64_t>> files;
  Dataset data;
  if (class_dirs.empty()) {
    std::vector<fs::path> found = image_paths_under(dir, source);
    for (auto& p : found) files.emplace_back(std::move(p), 0);
  } else {
    // torchvision's ImageFolder convention: loose files beside class folders are ignored.
    for (size_t c = 0; c < class_dirs.size(); ++c) {
      std::vector<fs::path> found = image_paths_under(class_dirs[c], source);
      if (found.empty()) {
        throw Error(source + ": class folder " + class_dirs[c].string() +
                    " contains no .png or .jpg images; add images or remove the folder");
      }
      data.class_names.push_back(class_dirs[c].filename().string());
      for (auto& p : found) files.emplace_back(std::move(p), static_cast<int64_t>(c));
    }
  }
  if (files.empty()) {
    throw Error(source + " contains no .png or .jpg images; put images in " + dir +
                " or in class subfolders " + dir + "/CLASS/");
  }

  // Read as RGBA (opaque for files without alpha), premultiplied; RGB unless a file has alpha.
  const int64_t n = static_cast<int64_t>(files.size());
  data.images = torch::empty({n, 4, size, size}, torch::kUInt8);
  data.labels = torch::empty({n}, torch::kInt64);
  uint8_t* out = data.images.data_ptr<uint8_t>();
  int64_t* labels = data.labels.data_ptr<int64_t>();
  const size_t frame = size_t{4} * size * size;
  bool alpha = false;
  for (int64_t i = 0; i < n; ++i) {
    const Image file = read_checked(files[i].first.string(), source);
    alpha = alpha || file.channels == 4;
    Image image = resize_center_crop(convert_channels(file, 4), size);
    premultiply(image);
    to_planar(image, out + i * frame);
    labels[i] = files[i].second;
  }
  if (!alpha) data.images = data.images.slice(1, 0, 3).contiguous();
  return data;
}

}  // namespace latentkit
