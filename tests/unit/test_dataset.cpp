#include "tests/unit/test_util.h"
#include "latentkit/data/dataset.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <string>

#include "latentkit/core/error.h"
#include "latentkit/core/image.h"
#include "latentkit/data/shapes.h"

namespace latentkit {
namespace {

namespace fs = std::filesystem;
using test_util::TempDir;
using test_util::error_of;
using test_util::ScopedEnv;

// Writes {prefix}-images-idx3-ubyte (n images of 28 x 28, image i filled with 10 * i) and
// the matching labels (i % 10).
void write_idx_split(const TempDir& dir, const std::string& prefix, int n) {
  auto header = [](std::ofstream& out, std::initializer_list<uint32_t> dims) {
    const char magic[4] = {0, 0, 8, static_cast<char>(dims.size())};
    out.write(magic, 4);
    for (uint32_t d : dims) {
      const char be[4] = {static_cast<char>(d >> 24), static_cast<char>(d >> 16),
                          static_cast<char>(d >> 8), static_cast<char>(d)};
      out.write(be, 4);
    }
  };
  std::ofstream images(dir.file(prefix + "-images-idx3-ubyte"), std::ios::binary);
  header(images, {static_cast<uint32_t>(n), 28, 28});
  for (int i = 0; i < n; ++i) images << std::string(28 * 28, static_cast<char>(10 * i));
  std::ofstream labels(dir.file(prefix + "-labels-idx1-ubyte"), std::ios::binary);
  header(labels, {static_cast<uint32_t>(n)});
  for (int i = 0; i < n; ++i) labels << static_cast<char>(i % 10);
}

DataOptions spec_options(const std::string& spec) {
  DataOptions options;
  options.spec = spec;
  return options;
}

TEST(DatasetTest, UnknownSpecListsTheValidForms) {
  for (const std::string spec : {"mnist", "idx:", "folder:", "shapes:", "Shapes", "wallpapers:", ""}) {
    const std::string msg = error_of([&] { load_dataset(spec_options(spec)); });
    EXPECT_NE(msg.find("unknown data spec '" + spec + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("fashion-mnist, idx:DIR, folder:DIR, shapes[:COUNT], shapes-scenes[:COUNT], emoji, emoji:google, "
                       "emoji:twitter, wallpapers or wallpapers:DIR"),
              std::string::npos)
        << msg;
  }
}

TEST(DatasetTest, ShapesCountGivesThatManyImages) {
  DataOptions options = spec_options("shapes:50");
  options.seed = 3;
  const Dataset data = load_dataset(options);
  EXPECT_EQ(data.spec, "shapes:50");
  ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{50, 3, 32, 32}));
  EXPECT_EQ(data.labels.size(0), 50);
  ASSERT_EQ(data.factors.sizes(), (std::vector<int64_t>{50, 6}));
  EXPECT_EQ(data.class_names.size(), 3u);
  EXPECT_TRUE(torch::equal(data.images, make_shapes(50, 32, 3).images));
}

TEST(DatasetTest, BadShapesCountIsAnError) {
  for (const std::string spec : {"shapes:0", "shapes:-5", "shapes:abc", "shapes:1e3", "shapes:99999999999999"}) {
    const std::string msg = error_of([&] { load_dataset(spec_options(spec)); });
    EXPECT_NE(msg.find("COUNT must be a positive whole number"), std::string::npos) << spec << ": " << msg;
  }
}

TEST(DatasetTest, LimitTakesTheFirstImages) {
  DataOptions options = spec_options("shapes:50");
  options.limit = 7;
  const Dataset head = load_dataset(options);
  const Dataset all = load_dataset(spec_options("shapes:50"));
  ASSERT_EQ(head.size(), 7);
  ASSERT_EQ(head.factors.size(0), 7);
  EXPECT_TRUE(torch::equal(head.images, all.images.slice(0, 0, 7)));
  EXPECT_TRUE(torch::equal(head.labels, all.labels.slice(0, 0, 7)));
  EXPECT_TRUE(torch::equal(head.factors, all.factors.slice(0, 0, 7)));
  // The default count is 10000; a limit spares drawing them all.
  options.spec = "shapes";
  options.limit = 12;
  EXPECT_EQ(load_dataset(options).size(), 12);
  // A limit past the end keeps everything.
  options.spec = "shapes:5";
  options.limit = 100;
  EXPECT_EQ(load_dataset(options).size(), 5);
}

TEST(DatasetTest, ShapesTestSplitUsesAnotherSeed) {
  DataOptions options = spec_options("shapes:20");
  options.seed = 9;
  const Dataset train = load_dataset(options);
  options.split = "test";
  const Dataset test = load_dataset(options);
  EXPECT_FALSE(torch::equal(train.factors, test.factors));
  EXPECT_TRUE(torch::equal(test.factors, make_shapes(20, 32, 9 + 1000003).factors));
  options.split = "valid";
  EXPECT_NE(error_of([&] { load_dataset(options); }).find("train or test"), std::string::npos);
}

TEST(DatasetTest, ShapesSizeAndChannelsConvert) {
  DataOptions options = spec_options("shapes:10");
  options.size = 16;
  const Dataset small = load_dataset(options);
  ASSERT_EQ(small.images.sizes(), (std::vector<int64_t>{10, 3, 16, 16}));
  // Drawn at 16, not resampled from 32.
  EXPECT_TRUE(torch::equal(small.images, make_shapes(10, 16, 0).images));
  options.channels = 1;
  const Dataset gray = load_dataset(options);
  ASSERT_EQ(gray.images.sizes(), (std::vector<int64_t>{10, 1, 16, 16}));
  EXPECT_TRUE(torch::equal(gray.images, resize_images(small.images, 0, 1)));
}

TEST(DatasetTest, IdxSpecResizesAndRepeatsChannels) {
  TempDir dir;
  write_idx_split(dir, "train", 6);
  write_idx_split(dir, "t10k", 3);
  DataOptions options = spec_options("idx:" + dir.str());
  const Dataset native = load_dataset(options);
  ASSERT_EQ(native.images.sizes(), (std::vector<int64_t>{6, 1, 28, 28}));
  EXPECT_EQ(native.spec, "idx:" + dir.str());
  EXPECT_TRUE(torch::equal(native.labels, torch::tensor({0, 1, 2, 3, 4, 5}, torch::kInt64)));
  options.size = 14;
  options.channels = 3;
  options.split = "test";
  const Dataset converted = load_dataset(options);
  ASSERT_EQ(converted.images.sizes(), (std::vector<int64_t>{3, 3, 14, 14}));
  // Solid images stay solid, in every channel.
  EXPECT_EQ(converted.images[2].min().item<int>(), 20);
  EXPECT_EQ(converted.images[2].max().item<int>(), 20);
}

TEST(DatasetTest, FolderSpecNeedsASize) {
  TempDir dir;
  Image image(10, 10, 3, 77);
  write_png(dir.file("a/1.png"), image);
  write_png(dir.file("b/1.png"), image);
  DataOptions options = spec_options("folder:" + dir.str());
  EXPECT_EQ(error_of([&] { load_dataset(options); }),
            "folder:" + dir.str() + " needs --size (e.g. --size 64)");
  options.size = 5;
  const Dataset data = load_dataset(options);
  ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{2, 3, 5, 5}));
  EXPECT_EQ(data.class_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(data.spec, "folder:" + dir.str());
  options.channels = 1;
  EXPECT_EQ(load_dataset(options).images.size(1), 1);
}

TEST(DatasetTest, FashionMnistFollowsTheEnvironmentVariable) {
  TempDir dir;
  write_idx_split(dir, "train", 4);
  {
    ScopedEnv env("LATENTKIT_FASHION_MNIST", dir.str());
    DataOptions options;
    const Dataset data = load_dataset(options);
    EXPECT_EQ(data.spec, "fashion-mnist");
    ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{4, 1, 28, 28}));
    EXPECT_EQ(data.class_names, fashion_mnist_class_names());
    // Its t10k files are missing: the error says how to get them back.
    options.split = "test";
    const std::string msg = error_of([&] { load_dataset(options); });
    EXPECT_EQ(msg.rfind("fashion-mnist: ", 0), 0u) << msg;
    EXPECT_NE(msg.find("t10k-images-idx3-ubyte[.gz] not found"), std::string::npos) << msg;
    EXPECT_NE(msg.find("apt-get install --reinstall dataset-fashion-mnist"), std::string::npos) << msg;
  }
  {
    const std::string missing = dir.file("gone");
    ScopedEnv env("LATENTKIT_FASHION_MNIST", missing);
    const std::string msg = error_of([&] { load_dataset(DataOptions{}); });
    EXPECT_NE(msg.find("fashion-mnist: " + missing + " not found"), std::string::npos) << msg;
    EXPECT_NE(msg.find("install it with: apt-get install dataset-fashion-mnist (or run scripts/setup)"),
              std::string::npos)
        << msg;
  }
}

TEST(DatasetTest, RealFashionMnistWithLimit) {
  if (std::getenv("LATENTKIT_FASHION_MNIST") != nullptr ||
      !fs::exists("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST is not installed at /usr/share/datasets/fashion-mnist";
  }
  DataOptions options;
  options.split = "test";
  options.limit = 100;
  options.size = 32;
  const Dataset data = load_dataset(options);
  ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{100, 1, 32, 32}));
  EXPECT_EQ(data.labels[0].item<int64_t>(), 9);
  EXPECT_EQ(data.class_names[9], "ankle-boot");
}

TEST(DatasetTest, NormalizeMapsBytesToMinusOneToOne) {
  const torch::Tensor bytes = torch::tensor({0, 255, 51}, torch::kUInt8).view({1, 1, 1, 3});
  const torch::Tensor x = normalize_images(bytes);
  EXPECT_EQ(x.scalar_type(), torch::kFloat32);
  EXPECT_FLOAT_EQ(x[0][0][0][0].item<float>(), -1.f);
  EXPECT_FLOAT_EQ(x[0][0][0][1].item<float>(), 1.f);
  EXPECT_FLOAT_EQ(x[0][0][0][2].item<float>(), 51 / 127.5f - 1.f);
}

TEST(DatasetTest, ResizeImagesBilinearValues) {
  // Columns 0 and 200 upsampled to 4 (align_corners false): 0, 50, 150, 200.
  const torch::Tensor two = torch::tensor({0, 200, 0, 200}, torch::kUInt8).view({1, 1, 2, 2});
  const torch::Tensor four = resize_images(two, 4, 0);
  ASSERT_EQ(four.sizes(), (std::vector<int64_t>{1, 1, 4, 4}));
  EXPECT_EQ(four.scalar_type(), torch::kUInt8);
  for (int y = 0; y < 4; ++y) {
    EXPECT_TRUE(torch::equal(four[0][0][y], torch::tensor({0, 50, 150, 200}, torch::kUInt8))) << y;
  }
  // Shrinking is antialiased: a lone bright pixel that plain bilinear sampling would step
  // over still shows in the result.
  torch::Tensor dot = torch::zeros({1, 1, 8, 8}, torch::kUInt8);
  dot[0][0][0][0] = 255;
  const torch::Tensor small = resize_images(dot, 2, 0);
  EXPECT_GT(small[0][0][0][0].item<int>(), 0);
  EXPECT_EQ(small[0][0][1][1].item<int>(), 0);
  // Same size and channels: returned as is.
  EXPECT_TRUE(resize_images(dot, 8, 1).is_same(dot));
  EXPECT_TRUE(resize_images(dot, 0, 0).is_same(dot));
}

TEST(DatasetTest, ResizeImagesConvertsChannels) {
  torch::Tensor rgb = torch::empty({2, 3, 4, 4}, torch::kUInt8);
  rgb.select(1, 0).fill_(200);
  rgb.select(1, 1).fill_(100);
  rgb.select(1, 2).fill_(50);
  const torch::Tensor gray = resize_images(rgb, 0, 1);
  ASSERT_EQ(gray.sizes(), (std::vector<int64_t>{2, 1, 4, 4}));
  EXPECT_EQ(gray.min().item<int>(), 124);  // 0.299 * 200 + 0.587 * 100 + 0.114 * 50
  EXPECT_EQ(gray.max().item<int>(), 124);
  const torch::Tensor back = resize_images(gray, 0, 3);
  ASSERT_EQ(back.sizes(), (std::vector<int64_t>{2, 3, 4, 4}));
  EXPECT_EQ(back.min().item<int>(), 124);
  EXPECT_EQ(back.max().item<int>(), 124);
  EXPECT_THROW(resize_images(rgb, 0, 2), Error);
  EXPECT_THROW(resize_images(rgb.to(torch::kFloat32), 4, 1), Error);
}

TEST(BatchOrderTest, EachEpochVisitsEveryIndexOnce) {
  BatchOrder order(12, 4, 5);
  ASSERT_EQ(order.steps_per_epoch(), 3);
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    std::set<int64_t> seen;
    for (int64_t step = 0; step < 3; ++step) {
      const torch::Tensor idx = order.batch_indices(epoch, step);
      ASSERT_EQ(idx.scalar_type(), torch::kInt64);
      ASSERT_EQ(idx.size(0), 4);
      for (int64_t i = 0; i < 4; ++i) seen.insert(idx[i].item<int64_t>());
    }
    EXPECT_EQ(seen.size(), 12u) << "epoch " << epoch;
    EXPECT_EQ(*seen.begin(), 0);
    EXPECT_EQ(*seen.rbegin(), 11);
  }
}

TEST(BatchOrderTest, EpochsDifferAndSeedsReproduce) {
  BatchOrder a(100, 10, 42);
  BatchOrder b(100, 10, 42);
  BatchOrder other_seed(100, 10, 43);
  const torch::Tensor a0 = a.batch_indices(0, 0).clone();
  const torch::Tensor a1 = a.batch_indices(1, 0).clone();
  EXPECT_FALSE(torch::equal(a0, a1));
  // A fresh instance, asked out of order (as after a resume), gives the same batches.
  EXPECT_TRUE(torch::equal(b.batch_indices(1, 0), a1));
  EXPECT_TRUE(torch::equal(b.batch_indices(0, 0), a0));
  EXPECT_TRUE(torch::equal(a.batch_indices(0, 0), a0));
  EXPECT_TRUE(torch::equal(a.batch_indices(1, 9), b.batch_indices(1, 9)));
  EXPECT_FALSE(torch::equal(other_seed.batch_indices(0, 0), a0));
}

TEST(BatchOrderTest, LastPartialBatchIsDropped) {
  BatchOrder order(10, 3, 0);
  EXPECT_EQ(order.steps_per_epoch(), 3);
  EXPECT_THROW(order.batch_indices(0, 3), Error);
  EXPECT_THROW(order.batch_indices(-1, 0), Error);
  std::set<int64_t> seen;
  for (int64_t step = 0; step < 3; ++step) {
    const torch::Tensor idx = order.batch_indices(0, step);
    for (int64_t i = 0; i < 3; ++i) seen.insert(idx[i].item<int64_t>());
  }
  EXPECT_EQ(seen.size(), 9u);
}

TEST(BatchOrderTest, BatchLargerThanDatasetIsAnError) {
  const std::string msg = error_of([] { BatchOrder(10, 11, 0); });
  EXPECT_EQ(msg.rfind("batch size 11 is larger than the dataset (10 images)", 0), 0u) << msg;
  EXPECT_NO_THROW(BatchOrder(10, 10, 0));
  EXPECT_THROW(BatchOrder(10, 0, 0), Error);
  EXPECT_THROW(BatchOrder(0, 1, 0), Error);
}

}  // namespace
}  // namespace latentkit
