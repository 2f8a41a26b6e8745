// Wallpapers: the built-in list, a folder of large images read as crops at three scales.
#include "latentkit/data/wallpapers.h"

#include <set>

#include <gtest/gtest.h>

#include "latentkit/core/image.h"
#include "test_util.h"

namespace latentkit {
namespace {

using test_util::expect_error;
using test_util::ScopedEnv;
using test_util::TempDir;

// n images of 120 x 80 (every 8th, from the first, is the test split), image i a gradient
// shifted by 30 i.
std::string write_folder(const TempDir& dir, int n) {
  for (int i = 0; i < n; ++i) {
    Image image(120, 80, 3);
    for (int y = 0; y < 80; ++y)
      for (int x = 0; x < 120; ++x)
        for (int c = 0; c < 3; ++c) image.at(x, y, c) = static_cast<uint8_t>((2 * x + y + 30 * i + 50 * c) % 256);
    write_png(dir.file("walls/sub/w" + std::to_string(i) + ".png"), image);
  }
  return "wallpapers:" + dir.str() + "/walls";
}

DataOptions options(const std::string& spec, const std::string& split = "train", int size = 16) {
  DataOptions o;
  o.spec = spec;
  o.split = split;
  o.size = size;
  return o;
}

TEST(Wallpapers, FolderGivesCropsOfEveryScaleWithAFixedSplit) {
  TempDir dir;
  const std::string spec = write_folder(dir, 10);  // test: files 0 and 8
  EXPECT_TRUE(is_wallpapers_spec(spec));
  Dataset train = load_wallpapers(options(spec), 5);
  ASSERT_EQ(train.images.sizes(), (std::vector<int64_t>{8 * 3 * 5, 3, 16, 16}));
  EXPECT_EQ(train.class_names.size(), 8u);
  EXPECT_EQ(train.class_names.front(), "w1.png");
  EXPECT_EQ(train.labels[3 * 5].item<int64_t>(), 1);  // crops are file by file, scale by scale
  Dataset test = load_wallpapers(options(spec, "test"), 5);
  EXPECT_EQ(test.class_names, (std::vector<std::string>{"w0.png", "w8.png"}));
  // The same crops for the same seed, others for another.
  EXPECT_TRUE(torch::equal(load_wallpapers(options(spec), 5).images, train.images));
  DataOptions other = options(spec);
  other.seed = 1;
  EXPECT_FALSE(torch::equal(load_wallpapers(other, 5).images, train.images));
  // Scale 3 of an 80-px-high image is 48 px high: a crop of 16 holds a third of its height,
  // so neighbouring rows differ by about 80 / 48 gray levels of the gradient (1 per source row).
  const torch::Tensor crop = train.images[0][0].to(torch::kFloat);
  const double step = (crop.narrow(0, 1, 15) - crop.narrow(0, 0, 15)).mean().item<double>();
  EXPECT_NEAR(std::abs(step), 80.0 / 48.0, 0.6);
}

TEST(Wallpapers, BadFoldersAndOptionsAreClearErrors) {
  TempDir dir;
  const std::string one = write_folder(dir, 1);
  expect_error([&] { load_wallpapers(options(one)); }, {"found 1", "at least 2"});
  expect_error([&] { load_wallpapers(options("wallpapers:" + dir.str() + "/none")); }, {"not a folder of images"});
  const std::string spec = write_folder(dir, 3);
  DataOptions rgba = options(spec);
  rgba.channels = 4;
  expect_error([&] { load_wallpapers(rgba); }, {"RGB", "--channels"});
  expect_error([&] { load_wallpapers(options(spec, "train", 8)); }, {"16 to 512"});
}

TEST(Wallpapers, BuiltInListNamesItsPackagesAndSplit) {
  const std::vector<WallpaperFile> files = builtin_wallpapers();
  EXPECT_EQ(files.size(), 52u);
  std::set<std::string> packages, titles;
  int test = 0;
  for (const WallpaperFile& f : files) {
    packages.insert(f.package);
    titles.insert(f.title);
    test += f.test;
  }
  EXPECT_EQ(packages, (std::set<std::string>{"mate-backgrounds", "plasma-workspace-wallpapers"}));
  EXPECT_EQ(titles.size(), files.size());
  EXPECT_EQ(test, 8);
  TempDir dir;
  ScopedEnv root("LATENTKIT_WALLPAPERS_ROOT", dir.str());
  EXPECT_EQ(builtin_wallpapers().front().path, dir.str() + "/usr/share/wallpapers/Altai/contents/images/1080x1920.png");
  expect_error([&] { load_wallpapers(options("wallpapers")); },
               {"is missing", "plasma-workspace-wallpapers", "scripts/setup"});
}

}  // namespace
}  // namespace latentkit
