// Label maps: shapes-scenes' exact maps, region maps, map PNGs, mIoU; and line art.
#include "latentkit/data/labelmaps.h"

#include <cmath>

#include <gtest/gtest.h>

#include "latentkit/core/files.h"
#include "latentkit/data/degrade.h"
#include "latentkit/data/shapes.h"
#include "test_util.h"

namespace latentkit {
namespace {

using test_util::expect_error;
using test_util::TempDir;

TEST(ShapeScenes, MapsMarkExactlyThePixelsTheShapesCover) {
  Dataset d = make_shape_scenes(40, 32, 7);
  ASSERT_EQ(d.maps.sizes(), (std::vector<int64_t>{40, 32, 32}));
  EXPECT_EQ(d.map_palette, "scenes");
  EXPECT_LE(d.maps.max().item<int>(), 3);
  // Background is black; every shape pixel has a fully saturated, full-value color (max 255).
  torch::Tensor lit = std::get<0>(d.images.max(1)) > 0;
  EXPECT_TRUE(torch::equal(lit, d.maps > 0));
  EXPECT_TRUE(torch::equal(std::get<0>(d.images.max(1)).masked_select(d.maps > 0),
                           torch::full({(d.maps > 0).sum().item<int64_t>()}, 255, torch::kUInt8)));
  // 2 to 4 shapes, each of the three kinds somewhere, deterministic, the first images independent of the count.
  EXPECT_GE(d.labels.min().item<int64_t>(), 2);
  EXPECT_LE(d.labels.max().item<int64_t>(), 4);
  for (int k = 1; k <= 3; ++k) EXPECT_GT((d.maps == k).sum().item<int64_t>(), 0) << k;
  Dataset again = make_shape_scenes(10, 32, 7);
  EXPECT_TRUE(torch::equal(again.images, d.images.slice(0, 0, 10)));
  EXPECT_TRUE(torch::equal(again.maps, d.maps.slice(0, 0, 10)));
  EXPECT_FALSE(torch::equal(make_shape_scenes(10, 32, 8).maps, again.maps));
}

TEST(ShapeScenes, LoadsAsDataWithATestSplitOfItsOwn) {
  DataOptions o;
  o.spec = "shapes-scenes:12";
  Dataset train = load_dataset(o);
  EXPECT_EQ(train.size(), 12);
  EXPECT_EQ(train.height(), 64);
  EXPECT_EQ(train.maps.size(0), 12);
  o.split = "test";
  o.limit = 5;
  Dataset test = load_dataset(o);
  EXPECT_EQ(test.maps.size(0), 5);
  EXPECT_FALSE(torch::equal(test.maps, train.maps.slice(0, 0, 5)));
}

// One pixel of each given RGBA color (straight alpha, 0..255) as a premultiplied image in [-1, 1].
torch::Tensor pixels(const std::vector<std::array<double, 4>>& colors) {
  torch::Tensor t = torch::empty({1, 4, 1, static_cast<int64_t>(colors.size())});
  for (size_t i = 0; i < colors.size(); ++i) {
    const double a = colors[i][3] / 255.0;
    for (int c = 0; c < 3; ++c) t[0][c][0][static_cast<int64_t>(i)] = colors[i][c] / 255.0 * a * 2 - 1;
    t[0][3][0][static_cast<int64_t>(i)] = a * 2 - 1;
  }
  return t;
}

TEST(RegionMaps, EachColorGoesToItsNearestPaletteColor) {
  const MapPalette& p = map_palette("regions");
  ASSERT_EQ(p.size(), 14);
  std::vector<std::array<double, 4>> colors;
  for (int64_t k = 1; k < p.size(); ++k) {
    const auto& c = p.colors[static_cast<size_t>(k)];
    colors.push_back({double(c[0]), double(c[1]), double(c[2]), 255});
  }
  colors.push_back({229, 57, 53, 150});   // red at alpha 0.59: un-premultiplied first
  colors.push_back({229, 57, 53, 100});   // under half alpha: transparent
  colors.push_back({255, 230, 40, 255});  // a brighter yellow
  colors.push_back({20, 20, 20, 255});    // near black
  torch::Tensor map = region_maps(pixels(colors))[0][0];
  for (int64_t k = 1; k < p.size(); ++k) EXPECT_EQ(map[k - 1].item<int>(), k) << p.class_names[static_cast<size_t>(k)];
  EXPECT_EQ(map[13].item<int>(), 6);  // red
  EXPECT_EQ(map[14].item<int>(), 0);
  EXPECT_EQ(map[15].item<int>(), 4);  // yellow
  EXPECT_EQ(map[16].item<int>(), 1);  // black
}

TEST(LabelMapFiles, RoundTripAndClearErrors) {
  TempDir dir;
  const MapPalette& regions = map_palette("regions");
  torch::Tensor map = torch::tensor({0, 4, 6, 13, 1, 0}, torch::kUInt8).view({2, 3});
  write_label_map(dir.file("m.png"), map, regions);
  EXPECT_TRUE(torch::equal(read_label_map(dir.file("m.png"), regions), map));
  EXPECT_TRUE(torch::equal(read_label_map(dir.file("m.png"), regions, 0), map));
  // The transparent class is alpha 0, whatever the color under it.
  Image image = read_image(dir.file("m.png"));
  image.at(0, 0, 0) = 99;
  EXPECT_EQ(map_from_image(image, regions, "x.png")[0][0].item<int>(), 0);
  image.at(1, 0, 1) = 17;  // (1, 0) is no longer a palette color
  expect_error([&] { map_from_image(image, regions, "x.png"); },
               {"x.png: pixel (1, 0) is #fd1135ff", "not a color of the regions palette", "4 yellow #fdd835"});
  write_label_map(dir.file("s.png"), torch::zeros({4, 4}, torch::kUInt8), map_palette("scenes"));
  expect_error([&] { read_label_map(dir.file("s.png"), map_palette("scenes"), 64); },
               {"s.png is 4x4", "draws 64x64"});
  expect_error([&] { read_label_map(dir.file("m.png"), map_palette("scenes")); }, {"scenes palette", "0 background #000000"});
  expect_error([&] { map_palette("cityscapes"); }, {"unknown label-map palette 'cityscapes'", "scenes or regions"});
}

TEST(LabelMaps, ImagesOneHotAndResizing) {
  torch::Tensor maps = torch::tensor({0, 1, 2, 3}, torch::kUInt8).view({1, 2, 2});
  torch::Tensor images = map_images(maps, map_palette("scenes"));
  ASSERT_EQ(images.sizes(), (std::vector<int64_t>{1, 4, 2, 2}));
  EXPECT_FLOAT_EQ(images[0][0][0][1].item<float>(), 1.0f);   // square: red
  EXPECT_FLOAT_EQ(images[0][1][0][1].item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(images[0][3][0][0].item<float>(), 1.0f);   // background is opaque black
  torch::Tensor hot = one_hot_maps(maps, 4);
  EXPECT_TRUE(torch::equal(hot.sum(1), torch::ones({1, 2, 2})));
  EXPECT_EQ(hot[0][3][1][1].item<float>(), 1.0f);
  expect_error([&] { one_hot_maps(maps, 3); }, {"class id is 3", "knows 3 classes"});
  torch::Tensor big = resize_maps(maps, 4);
  EXPECT_EQ(big[0][3][3].item<int>(), 3);
  EXPECT_EQ(big[0][0][1].item<int>(), 0);
}

TEST(MeanIou, MatchesTheHandCountedValue) {
  torch::Tensor truth = torch::tensor({0, 0, 1, 1, 2, 2}).view({1, 2, 3});
  torch::Tensor pred = torch::tensor({0, 1, 1, 1, 2, 0}).view({1, 2, 3});
  std::vector<double> per;
  // class 0: 1 / 3; class 1: 2 / 3; class 2: 1 / 2; class 3 absent
  EXPECT_NEAR(mean_iou(pred, truth, 4, &per), (1.0 / 3 + 2.0 / 3 + 0.5) / 3, 1e-12);
  EXPECT_TRUE(std::isnan(per[3]));
  EXPECT_DOUBLE_EQ(mean_iou(truth, truth, 3), 1.0);
}

TEST(LineArt, OutlinesColorAndAlphaEdgesOnly) {
  // Left half transparent, right half opaque red: one vertical edge.
  torch::Tensor img = -torch::ones({1, 4, 8, 8});
  img.index_put_({0, 0, torch::indexing::Slice(), torch::indexing::Slice(4, 8)}, 1.0);
  img.index_put_({0, 3, torch::indexing::Slice(), torch::indexing::Slice(4, 8)}, 1.0);
  torch::Tensor lines = line_art(img);
  ASSERT_EQ(lines.sizes(), img.sizes());
  EXPECT_TRUE(torch::equal(lines[0][3], torch::ones({8, 8})));  // opaque paper
  torch::Tensor ink = lines[0][0] < 0;
  for (int64_t x = 0; x < 8; ++x) EXPECT_EQ(ink[0][x].item<bool>(), x == 3 || x == 4) << x;
  EXPECT_TRUE(torch::equal(lines[0][0], lines[0][1]));
  EXPECT_EQ((line_art(torch::zeros({1, 3, 8, 8})) < 0).sum().item<int64_t>(), 0);  // flat: no lines
  // A drawing: a black stroke on a transparent ground is a line; the ground is paper.
  torch::Tensor drawing = -torch::ones({1, 4, 4, 4});
  drawing.index_put_({0, 3, 1, torch::indexing::Slice()}, 1.0);  // row 1 opaque black
  torch::Tensor sketch = sketch_line_art(drawing, 3);
  EXPECT_EQ(sketch.size(1), 3);
  EXPECT_EQ((sketch[0][0] < 0).sum().item<int64_t>(), 4);
  EXPECT_TRUE((sketch[0][0][1] < 0).all().item<bool>());
}

}  // namespace
}  // namespace latentkit
