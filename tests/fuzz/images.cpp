// Targets for image bytes: PNG and JPEG as read_image takes them, a folder of images as
// --data DIR reads it, and label-map PNGs as --maps and the paint API take them.
#include <filesystem>
#include <string>

#include "latentkit/core/image.h"
#include "latentkit/data/folder.h"
#include "latentkit/data/labelmaps.h"
#include "tests/fuzz/fuzz.h"

namespace fs = std::filesystem;
using namespace latentkit;
using namespace latentkit::fuzz;

namespace {

// What every loader does next with a decoded image: the channel conversions and the
// resize to the model's size, so that odd shapes (1 x 5000, 3 channels of 0 width) reach them.
void use(const Image& image) {
  for (int channels : {1, 3, 4}) convert_channels(image, channels);
  resize_center_crop(image, 16);
  resize_image(image, 7, 3);
}

}  // namespace

LATENTKIT_FUZZ_TARGET(png, "PNG bytes: decode_png, then the conversions every loader applies") {
  use(decode_png(std::string(reinterpret_cast<const char*>(data), size), "fuzz.png"));
}

LATENTKIT_FUZZ_TARGET(jpeg, "JPEG bytes: decode_jpeg, then the conversions every loader applies") {
  use(decode_jpeg(std::string(reinterpret_cast<const char*>(data), size), "fuzz.jpg"));
}

// The input is several files: each starts with one byte (its name: 0-9 a PNG/JPEG/none
// extension, a hidden name, a folder) and a little-endian 16-bit length.
LATENTKIT_FUZZ_TARGET(folder, "an image folder (--data DIR): several files, split from the input") {
  const fs::path dir = scratch_dir() + "/folder";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir / "sub");
  static const char* kNames[] = {"a.png", "b.jpg", "c.jpeg", "d.PNG", ".hidden.png", "sub/e.png", "f.txt", "g", "sub/h.jpg", "i.png"};
  size_t at = 0;
  for (int file = 0; at + 3 <= size && file < 8; ++file) {
    const char* name = kNames[data[at] % 10];
    const size_t length = std::min<size_t>(data[at + 1] | (data[at + 2] << 8), size - at - 3);
    write_scratch("folder/" + std::string(name), data + at + 3, length);
    at += 3 + length;
  }
  load_image_folder(dir.string(), 16);
}

// The first byte picks a palette and a size; the rest is a PNG.
LATENTKIT_FUZZ_TARGET(labelmap, "a label-map PNG (--maps, the paint API): read_label_map with each palette") {
  if (size < 1) return;
  const auto& names = map_palette_names();
  const MapPalette& palette = map_palette(names[data[0] % names.size()]);
  const std::string path = write_scratch("map.png", data + 1, size - 1);
  read_label_map(path, palette, (data[0] & 0x80) ? 16 : 0);
}
