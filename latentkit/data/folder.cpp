#include "latentkit/data/folder.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
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

// Image files under dir, recursively, sorted by path so the order is the same everywhere.
std::vector<fs::path> images_under(const fs::path& dir, const std::string& source) {
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

Dataset load_image_folder(const std::string& dir, int size, int channels) {
  const std::string source = "folder:" + dir;
  check_input(size > 0, source + " needs --size (e.g. --size 64)");
  check_input(channels == 1 || channels == 3,
              source + ": channels must be 1 (gray) or 3 (RGB), got " + std::to_string(channels));
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
    std::vector<fs::path> found = images_under(dir, source);
    for (auto& p : found) files.emplace_back(std::move(p), 0);
  } else {
    // torchvision's ImageFolder convention: loose files beside class folders are ignored.
    for (size_t c = 0; c < class_dirs.size(); ++c) {
      std::vector<fs::path> found = images_under(class_dirs[c], source);
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

  const int64_t n = static_cast<int64_t>(files.size());
  data.images = torch::empty({n, channels, size, size}, torch::kUInt8);
  data.labels = torch::empty({n}, torch::kInt64);
  uint8_t* out = data.images.data_ptr<uint8_t>();
  int64_t* labels = data.labels.data_ptr<int64_t>();
  const size_t plane = static_cast<size_t>(size) * size;
  for (int64_t i = 0; i < n; ++i) {
    const std::string path = files[i].first.string();
    Image image;
    try {
      // Fewer channels first: resizing gray is cheaper and alpha never reaches the filter.
      image = resize_center_crop(convert_channels(read_image(path), channels), size);
    } catch (const std::exception& e) {
      const std::string what = e.what();
      throw Error(source + ": " +
                  (what.find(path) == std::string::npos ? "cannot read " + path + ": " : "") +
                  what);
    }
    if (image.width != size || image.height != size || image.channels != channels) {
      throw Error(source + ": " + path + " came out " + std::to_string(image.width) + "x" +
                      std::to_string(image.height) + "x" + std::to_string(image.channels) +
                      " after resizing, expected " + std::to_string(size) + "x" +
                      std::to_string(size) + "x" + std::to_string(channels),
                  ErrorKind::kInternal);
    }
    // Interleaved HWC to planar CHW.
    uint8_t* dst = out + i * channels * plane;
    for (size_t p = 0; p < plane; ++p) {
      for (int c = 0; c < channels; ++c) dst[c * plane + p] = image.pixels[p * channels + c];
    }
    labels[i] = files[i].second;
  }
  return data;
}

}  // namespace latentkit
