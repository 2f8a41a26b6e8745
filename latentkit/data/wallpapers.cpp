#include "latentkit/data/wallpapers.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "latentkit/core/error.h"
#include "latentkit/core/image.h"
#include "latentkit/data/folder.h"

namespace latentkit {
namespace {

namespace fs = std::filesystem;

constexpr int kDefaultCrop = 64;
constexpr char kPlasma[] = "plasma-workspace-wallpapers";
constexpr char kMate[] = "mate-backgrounds";

// (package, path under the root, title, test). Plasma's folders hold one picture at many
// sizes: the list takes the smallest whose shorter side is at least 1080, and the phone
// (portrait) version where there is one. Left out: FlyingKonqui (a mascot, not a
// wallpaper), the larger copies of Elephants, and mate's transparent overlays, drawn to sit
// on the desktop's color (abstract/Arc-Colors, Flow, Gulp, Silk, Spring, Waves and
// desktop/MATE-Stripes-Dark, -Light: 0.4% to 82% opaque).
struct Row {
  const char* package;
  const char* path;
  const char* title;
  bool test;
};
const Row kRows[] = {
    {kPlasma, "usr/share/wallpapers/Altai/contents/images/1080x1920.png", "Altai", false},
    {kPlasma, "usr/share/wallpapers/Autumn/contents/images/1920x1080.jpg", "Autumn", false},
    {kPlasma, "usr/share/wallpapers/BytheWater/contents/images/1920x1080.jpg", "By the Water", false},
    {kPlasma, "usr/share/wallpapers/Canopee/contents/images/3840x2160.png", "Canopee", false},
    {kPlasma, "usr/share/wallpapers/Cascade/contents/images/3840x2160.png", "Cascade", true},
    {kPlasma, "usr/share/wallpapers/Cluster/contents/images/3840x2160.png", "Cluster", false},
    {kPlasma, "usr/share/wallpapers/ColdRipple/contents/images/1920x1080.jpg", "Cold Ripple", false},
    {kPlasma, "usr/share/wallpapers/ColorfulCups/contents/images/2560x1600.jpg", "Colorful Cups", false},
    {kPlasma, "usr/share/wallpapers/DarkestHour/contents/images/1920x1080.jpg", "Darkest Hour", false},
    {kPlasma, "usr/share/wallpapers/Elarun/contents/images/2560x1600.png", "Elarun", false},
    {kPlasma, "usr/share/wallpapers/EveningGlow/contents/images/1920x1080.jpg", "Evening Glow", false},
    {kPlasma, "usr/share/wallpapers/FallenLeaf/contents/images/1920x1080.jpg", "Fallen Leaf", false},
    {kPlasma, "usr/share/wallpapers/Flow/contents/images/5120x2880.jpg", "Flow", false},
    {kPlasma, "usr/share/wallpapers/Flow/contents/images_dark/5120x2880.jpg", "Flow (dark)", false},
    {kPlasma, "usr/share/wallpapers/Grey/contents/images/1920x1080.jpg", "Grey", false},
    {kPlasma, "usr/share/wallpapers/Honeywave/contents/images/1080x1920.jpg", "Honeywave", true},
    {kPlasma, "usr/share/wallpapers/IceCold/contents/images/5120x2880.png", "Ice Cold", false},
    {kPlasma, "usr/share/wallpapers/Kay/contents/images/1080x1920.png", "Kay", false},
    {kPlasma, "usr/share/wallpapers/Kay/contents/images_dark/1080x1920.png", "Kay (dark)", false},
    {kPlasma, "usr/share/wallpapers/Kite/contents/images/1920x1080.jpg", "Kite", true},
    {kPlasma, "usr/share/wallpapers/Kokkini/contents/images/3840x2160.png", "Kokkini", false},
    {kPlasma, "usr/share/wallpapers/MilkyWay/contents/images/1080x1920.png", "Milky Way", false},
    {kPlasma, "usr/share/wallpapers/OneStandsOut/contents/images/1920x1080.jpg", "One Stands Out", false},
    {kPlasma, "usr/share/wallpapers/Opal/contents/images/3840x2160.png", "Opal", true},
    {kPlasma, "usr/share/wallpapers/PastelHills/contents/images/1920x1080.jpg", "Pastel Hills", false},
    {kPlasma, "usr/share/wallpapers/Patak/contents/images/1080x1920.png", "Patak", false},
    {kPlasma, "usr/share/wallpapers/Patak/contents/images_dark/3840x2160.png", "Patak (dark)", false},
    {kPlasma, "usr/share/wallpapers/Path/contents/images/1920x1080.jpg", "Path", false},
    {kPlasma, "usr/share/wallpapers/SafeLanding/contents/images/1622x2880.jpg", "Safe Landing", false},
    {kPlasma, "usr/share/wallpapers/Shell/contents/images/5120x2880.jpg", "Shell", false},
    {kPlasma, "usr/share/wallpapers/Volna/contents/images/5120x2880.jpg", "Volna", true},
    {kPlasma, "usr/share/wallpapers/summer_1am/contents/images/1920x1080.jpg", "Summer 1am", false},
    {kMate, "usr/share/backgrounds/mate/abstract/Elephants.jpg", "Elephants", false},
    {kMate, "usr/share/backgrounds/mate/desktop/Float-into-MATE.png", "Float into MATE", false},
    {kMate, "usr/share/backgrounds/mate/desktop/GreenTraditional.jpg", "Green Traditional", false},
    {kMate, "usr/share/backgrounds/mate/desktop/Stripes.png", "Stripes", true},
    {kMate, "usr/share/backgrounds/mate/desktop/Ubuntu-Mate-Cold-no-logo.png", "Ubuntu MATE Cold", false},
    {kMate, "usr/share/backgrounds/mate/desktop/Ubuntu-Mate-Dark-no-logo.png", "Ubuntu MATE Dark", false},
    {kMate, "usr/share/backgrounds/mate/desktop/Ubuntu-Mate-Radioactive-no-logo.png", "Ubuntu MATE Radioactive", false},
    {kMate, "usr/share/backgrounds/mate/desktop/Ubuntu-Mate-Warm-no-logo.png", "Ubuntu MATE Warm", false},
    {kMate, "usr/share/backgrounds/mate/nature/Aqua.jpg", "Aqua", false},
    {kMate, "usr/share/backgrounds/mate/nature/Blinds.jpg", "Blinds", false},
    {kMate, "usr/share/backgrounds/mate/nature/Dune.jpg", "Dune", false},
    {kMate, "usr/share/backgrounds/mate/nature/FreshFlower.jpg", "Fresh Flower", false},
    {kMate, "usr/share/backgrounds/mate/nature/Garden.jpg", "Garden", true},
    {kMate, "usr/share/backgrounds/mate/nature/GreenMeadow.jpg", "Green Meadow", false},
    {kMate, "usr/share/backgrounds/mate/nature/LadyBird.jpg", "Lady Bird", false},
    {kMate, "usr/share/backgrounds/mate/nature/RainDrops.jpg", "Rain Drops", false},
    {kMate, "usr/share/backgrounds/mate/nature/Storm.jpg", "Storm", true},
    {kMate, "usr/share/backgrounds/mate/nature/TwoWings.jpg", "Two Wings", false},
    {kMate, "usr/share/backgrounds/mate/nature/Wood.jpg", "Wood", false},
    {kMate, "usr/share/backgrounds/mate/nature/YellowFlower.jpg", "Yellow Flower", false},
};

uint64_t mix(uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// (path, title) of the split's files.
std::vector<std::pair<std::string, std::string>> split_files(const std::string& spec, const std::string& split) {
  std::vector<std::pair<std::string, std::string>> files;
  const bool test = split == "test";
  if (spec == "wallpapers") {
    for (const WallpaperFile& f : builtin_wallpapers()) {
      std::error_code ec;
      check_input(fs::is_regular_file(f.path, ec),
                  "wallpapers: " + f.path + " is missing; install " + f.package + " (scripts/setup does: apt-get install " +
                      f.package + ")");
      if (f.test == test) files.emplace_back(f.path, f.title);
    }
    return files;
  }
  const std::string dir = spec.substr(std::string("wallpapers:").size());
  std::error_code ec;
  check_input(fs::is_directory(dir, ec), spec + ": " + dir + " is not a folder of images");
  const std::vector<std::string> all = images_under(dir, spec);
  check_input(all.size() >= 2, spec + ": found " + std::to_string(all.size()) + " PNG / JPEG images in " + dir +
                                   "; it needs at least 2 (every 8th, from the first, is the test split)");
  for (size_t i = 0; i < all.size(); ++i) {
    if ((i % 8 == 0) == test) files.emplace_back(all[i], fs::path(all[i]).filename().string());
  }
  return files;
}

}  // namespace

std::vector<WallpaperFile> builtin_wallpapers() {
  const char* env = std::getenv("LATENTKIT_WALLPAPERS_ROOT");
  const fs::path root = env != nullptr && env[0] != '\0' ? fs::path(env) : fs::path("/");
  std::vector<WallpaperFile> files;
  for (const Row& row : kRows) files.push_back({row.package, (root / row.path).string(), row.title, row.test});
  return files;
}

bool is_wallpapers_spec(const std::string& spec) {
  return spec == "wallpapers" || (spec.rfind("wallpapers:", 0) == 0 && spec.size() > 11);
}

const std::vector<int>& wallpaper_scales() {
  static const std::vector<int> scales = {3, 4, 6};
  return scales;
}

Dataset load_wallpapers(const DataOptions& options, int64_t crops_per_scale) {
  const int crop = options.size > 0 ? options.size : kDefaultCrop;
  check_input(crop >= 16 && crop <= 512, options.spec + ": --size (the crop) must be 16 to 512, got " + std::to_string(crop));
  check_input(options.channels == 0 || options.channels == 3,
              options.spec + " is RGB (wallpapers have no transparency); --channels must be 3 or left out");
  const auto files = split_files(options.spec, options.split);
  const std::vector<int>& scales = wallpaper_scales();
  const int64_t per_file = static_cast<int64_t>(scales.size()) * crops_per_scale;
  Dataset data;
  data.images = torch::empty({static_cast<int64_t>(files.size()) * per_file, 3, crop, crop}, torch::kUInt8);
  data.labels = torch::empty({data.images.size(0)}, torch::kInt64);
  uint8_t* out = data.images.data_ptr<uint8_t>();
  int64_t* labels = data.labels.data_ptr<int64_t>();
  const size_t plane = static_cast<size_t>(crop) * crop;
  int64_t n = 0;
  for (size_t f = 0; f < files.size(); ++f) {
    const Image source = convert_channels(read_image(files[f].first), 3);
    data.class_names.push_back(files[f].second);
    for (size_t s = 0; s < scales.size(); ++s) {
      const int shorter = crop * scales[s];
      const bool portrait = source.height > source.width;
      const double ratio = portrait ? double(source.height) / source.width : double(source.width) / source.height;
      const int longer = static_cast<int>(std::lround(shorter * ratio));
      const Image scaled = portrait ? resize_image(source, shorter, longer) : resize_image(source, longer, shorter);
      for (int64_t k = 0; k < crops_per_scale; ++k, ++n) {
        const uint64_t h = mix(mix(mix(options.seed ^ 0x77a11ULL) + f) + s * 1000003ULL + static_cast<uint64_t>(k));
        const int x0 = static_cast<int>((h & 0xffffffffULL) % static_cast<uint64_t>(scaled.width - crop + 1));
        const int y0 = static_cast<int>((h >> 32) % static_cast<uint64_t>(scaled.height - crop + 1));
        uint8_t* dst = out + n * 3 * plane;
        for (int y = 0; y < crop; ++y) {
          for (int x = 0; x < crop; ++x) {
            for (int c = 0; c < 3; ++c) dst[c * plane + static_cast<size_t>(y) * crop + x] = scaled.at(x0 + x, y0 + y, c);
          }
        }
        labels[n] = static_cast<int64_t>(f);
      }
    }
  }
  return data;
}

}  // namespace latentkit
