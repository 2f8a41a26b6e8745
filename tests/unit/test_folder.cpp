#include "tests/unit/test_util.h"
#include "latentkit/data/folder.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "latentkit/core/error.h"
#include "latentkit/core/image.h"

namespace latentkit {
namespace {

namespace fs = std::filesystem;
using test_util::TempDir;
using test_util::bad_input_error_of;

// A 12 x 10 JPEG of the solid colour (200, 100, 50), quality 95, made with libjpeg.
const std::string kOrangeJpeg = std::string(LATENTKIT_TEST_DATA) + "/folder_orange_12x10.jpg";

void write_solid_png(const std::string& path, int width, int height, uint8_t r, uint8_t g, uint8_t b) {
  Image image(width, height, 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      image.at(x, y, 0) = r;
      image.at(x, y, 1) = g;
      image.at(x, y, 2) = b;
    }
  }
  write_png(path, image);
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

TEST(FolderTest, ClassSubfoldersBecomeLabelsInSortedOrder) {
  TempDir dir;
  // Written out of order, with mixed sizes and extension case, to check the sorting.
  write_solid_png(dir.file("b/x.png"), 16, 12, 40, 40, 40);
  write_solid_png(dir.file("a/3.PNG"), 9, 20, 30, 30, 30);
  write_solid_png(dir.file("a/1.png"), 8, 8, 10, 10, 10);
  write_solid_png(dir.file("a/2.png"), 30, 30, 20, 20, 20);
  fs::copy_file(kOrangeJpeg, dir.file("b/y.jpeg"));
  write_text(dir.file("a/notes.txt"), "not an image");
  write_solid_png(dir.file("loose.png"), 8, 8, 99, 99, 99);  // beside class folders: ignored
  write_solid_png(dir.file(".hidden/z.png"), 8, 8, 77, 77, 77);  // dot-folders are not classes

  const Dataset data = load_image_folder(dir.str(), 8);
  ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{5, 3, 8, 8}));
  EXPECT_EQ(data.images.scalar_type(), torch::kUInt8);
  EXPECT_EQ(data.class_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(torch::equal(data.labels, torch::tensor({0, 0, 0, 1, 1}, torch::kInt64)));
  // A solid image stays solid through any resize, so each value identifies its file.
  const int expected[] = {10, 20, 30, 40};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(data.images[i].min().item<int>(), expected[i]) << i;
    EXPECT_EQ(data.images[i].max().item<int>(), expected[i]) << i;
  }
  // The JPEG keeps its colour (within JPEG's rounding) in channel order R, G, B.
  const torch::Tensor jpeg = data.images[4].to(torch::kInt32);
  EXPECT_LE((jpeg[0] - 200).abs().max().item<int>(), 3);
  EXPECT_LE((jpeg[1] - 100).abs().max().item<int>(), 3);
  EXPECT_LE((jpeg[2] - 50).abs().max().item<int>(), 3);
}

TEST(FolderTest, PixelsLandAtChannelRowColumn) {
  TempDir dir;
  Image image(8, 8, 3);
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 8; ++x) {
      image.at(x, y, 0) = static_cast<uint8_t>(10 * x + y);
      image.at(x, y, 1) = static_cast<uint8_t>(100 + x);
      image.at(x, y, 2) = static_cast<uint8_t>(200 + y);
    }
  }
  write_png(dir.file("only.png"), image);
  const Dataset data = load_image_folder(dir.str(), 8);
  ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{1, 3, 8, 8}));
  EXPECT_EQ(data.images[0][0][2][5].item<int>(), 52);  // x 5, y 2
  EXPECT_EQ(data.images[0][1][2][5].item<int>(), 105);
  EXPECT_EQ(data.images[0][2][2][5].item<int>(), 202);
}

TEST(FolderTest, LooseFilesGetLabelZeroAndNoClassNames) {
  TempDir dir;
  write_solid_png(dir.file("b.png"), 10, 10, 5, 5, 5);
  fs::copy_file(kOrangeJpeg, dir.file("a.JPG"));
  write_text(dir.file("readme.md"), "ignored");
  const Dataset data = load_image_folder(dir.str(), 4);
  ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{2, 3, 4, 4}));
  EXPECT_TRUE(data.class_names.empty());
  EXPECT_TRUE(torch::equal(data.labels, torch::zeros({2}, torch::kInt64)));
  EXPECT_NEAR(data.images[0][0][0][0].item<int>(), 200, 3);  // a.JPG sorts first
  EXPECT_EQ(data.images[1][0][0][0].item<int>(), 5);
}

TEST(FolderTest, GrayConversionUsesLuma) {
  TempDir dir;
  write_solid_png(dir.file("c/p.png"), 12, 12, 200, 100, 50);
  Dataset data = load_image_folder(dir.str(), 6);
  data.images = resize_images(data.images, 0, 1);
  ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{1, 1, 6, 6}));
  // 0.299 * 200 + 0.587 * 100 + 0.114 * 50 = 124.2
  EXPECT_NEAR(data.images[0][0][3][3].item<int>(), 124, 1);
  EXPECT_EQ(data.images.min().item<int>(), data.images.max().item<int>());
}

TEST(FolderTest, EmptyFolderIsAnErrorSayingWhereImagesGo) {
  TempDir dir;
  EXPECT_EQ(bad_input_error_of([&] { load_image_folder(dir.str(), 8); }),
            "folder:" + dir.str() + " contains no .png or .jpg images; put images in " +
                dir.str() + " or in class subfolders " + dir.str() + "/CLASS/");
  write_text(dir.file("data.csv"), "1,2,3");
  EXPECT_NE(bad_input_error_of([&] { load_image_folder(dir.str(), 8); }).find("contains no .png"),
            std::string::npos);
}

TEST(FolderTest, EmptyClassFolderIsAnError) {
  TempDir dir;
  write_solid_png(dir.file("cats/1.png"), 8, 8, 1, 2, 3);
  fs::create_directories(dir.file("dogs/x").c_str());
  const std::string msg = bad_input_error_of([&] { load_image_folder(dir.str(), 8); });
  EXPECT_NE(msg.find(dir.str() + "/dogs"), std::string::npos) << msg;
}

TEST(FolderTest, NestedFilesInAClassFolderBelongToIt) {
  TempDir dir;
  write_solid_png(dir.file("a/deep/er/1.png"), 8, 8, 11, 11, 11);
  write_solid_png(dir.file("b/2.png"), 8, 8, 22, 22, 22);
  const Dataset data = load_image_folder(dir.str(), 8);
  EXPECT_TRUE(torch::equal(data.labels, torch::tensor({0, 1}, torch::kInt64)));
  EXPECT_EQ(data.images[0][0][0][0].item<int>(), 11);
}

TEST(FolderTest, GarbagePngIsAnErrorNamingTheFile) {
  TempDir dir;
  write_solid_png(dir.file("a/good.png"), 8, 8, 1, 2, 3);
  const std::string bad = dir.file("a/broken.png");
  write_text(bad, "this is not a PNG file at all, just text with a .png name");
  const std::string msg = bad_input_error_of([&] { load_image_folder(dir.str(), 8); });
  EXPECT_NE(msg.find(bad), std::string::npos) << msg;
  EXPECT_EQ(msg.rfind("folder:" + dir.str() + ": ", 0), 0u) << msg;
}

TEST(FolderTest, MissingFolderAndBadArgumentsAreErrors) {
  TempDir dir;
  const std::string missing = dir.file("nowhere");
  EXPECT_NE(bad_input_error_of([&] { load_image_folder(missing, 8); }).find(missing + " not found"),
            std::string::npos);
  write_solid_png(dir.file("x.png"), 8, 8, 1, 2, 3);
  EXPECT_NE(bad_input_error_of([&] { load_image_folder(dir.str(), 0); }).find("needs --size"),
            std::string::npos);
}

TEST(FolderTest, AlphaIsKeptPremultipliedAndHiddenColorsNeverShow) {
  TempDir dir;
  // Half opaque red, half transparent with hidden green (what the emoji folder showed).
  Image rgba(8, 8, 4);
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 8; ++x) {
      rgba.at(x, y, x < 4 ? 0 : 1) = 255;
      rgba.at(x, y, 3) = x < 4 ? 255 : 0;
    }
  }
  write_png(dir.file("a.png"), rgba);
  write_solid_png(dir.file("b.png"), 8, 8, 10, 20, 30);
  const Dataset data = load_image_folder(dir.str(), 8);
  ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{2, 4, 8, 8}));
  EXPECT_EQ(data.images[0][0][0][0].item<int>(), 255);
  EXPECT_EQ(data.images[0][3][0][0].item<int>(), 255);
  // Transparent pixels are all zero: the hidden green is gone.
  EXPECT_EQ(data.images[0].select(2, 6).sum().item<int>(), 0);
  // The opaque RGB file gains alpha 255.
  EXPECT_EQ(data.images[1][3].min().item<int>(), 255);
  EXPECT_EQ(data.images[1][2][0][0].item<int>(), 30);
  // Composited onto a background for RGB: white where transparent, never green.
  const torch::Tensor rgb = resize_images(data.images, 0, 3, Rgb{255, 255, 255});
  EXPECT_EQ(rgb[0].select(2, 6).min().item<int>(), 255);
  EXPECT_EQ(rgb[0][1][0][0].item<int>(), 0);
  // Premultiplied downsampling: the edge pixel is half-covered red, no green.
  const torch::Tensor half = resize_images(data.images, 1, 0);
  EXPECT_EQ(half[0][1].item<int>(), 0);
  EXPECT_NEAR(half[0][3].item<int>(), 128, 1);
}

}  // namespace
}  // namespace latentkit
