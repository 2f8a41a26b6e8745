#include "tests/unit/test_util.h"
#include "latentkit/data/idx.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "latentkit/core/error.h"

namespace latentkit {
namespace {

namespace fs = std::filesystem;
using test_util::TempDir;
using test_util::bad_input_error_of;

std::string idx_bytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data,
                      uint8_t type = 0x08) {
  std::string out = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) {
    out += static_cast<char>(d >> 24);
    out += static_cast<char>(d >> 16);
    out += static_cast<char>(d >> 8);
    out += static_cast<char>(d);
  }
  out.append(data.begin(), data.end());
  return out;
}

std::vector<uint8_t> pattern_bytes(size_t n, int mul = 7) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * mul + 3) % 256);
  return v;
}

void write_plain(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good());
}

void write_gzip(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

std::string read_plain(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The message of the Error f throws; a failure when it throws nothing or something else.
TEST(IdxTest, ReadsDimsAndBytesExactly) {
  TempDir dir;
  const std::vector<uint8_t> data = pattern_bytes(3 * 2 * 4);
  write_plain(dir.file("a-idx3-ubyte"), idx_bytes({3, 2, 4}, data));
  const torch::Tensor t = read_idx(dir.file("a-idx3-ubyte"));
  ASSERT_EQ(t.scalar_type(), torch::kUInt8);
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{3, 2, 4}));
  const uint8_t* p = t.data_ptr<uint8_t>();
  for (size_t i = 0; i < data.size(); ++i) ASSERT_EQ(p[i], data[i]) << "byte " << i;
  EXPECT_EQ(t[2][1][3].item<int>(), data[23]);
}

TEST(IdxTest, GzipReadsTheSameAsPlain) {
  TempDir dir;
  const std::string bytes = idx_bytes({5, 7}, pattern_bytes(35, 13));
  write_plain(dir.file("x-idx2-ubyte"), bytes);
  write_gzip(dir.file("x-idx2-ubyte.gz"), bytes);
  // The compressed file really is gzip, not a copy of the plain bytes.
  ASSERT_EQ(static_cast<uint8_t>(read_plain(dir.file("x-idx2-ubyte.gz"))[0]), 0x1f);
  const torch::Tensor plain = read_idx(dir.file("x-idx2-ubyte"));
  const torch::Tensor gz = read_idx(dir.file("x-idx2-ubyte.gz"));
  ASSERT_EQ(gz.sizes(), (std::vector<int64_t>{5, 7}));
  EXPECT_TRUE(torch::equal(plain, gz));
}

TEST(IdxTest, TruncatedDataIsAnErrorWithBothSizes) {
  TempDir dir;
  std::string bytes = idx_bytes({10, 4}, pattern_bytes(40));
  bytes.resize(bytes.size() - 10);  // 12 header + 30 of 40 data bytes
  write_plain(dir.file("t-ubyte"), bytes);
  const std::string msg = bad_input_error_of([&] { read_idx(dir.file("t-ubyte")); });
  EXPECT_NE(msg.find(dir.file("t-ubyte")), std::string::npos) << msg;
  EXPECT_NE(msg.find("is truncated (expected 52 bytes of data, got 42)"), std::string::npos) << msg;
}

TEST(IdxTest, TruncatedInsideGzipIsAnError) {
  TempDir dir;
  std::string bytes = idx_bytes({10, 4}, pattern_bytes(40));
  bytes.resize(20);
  write_gzip(dir.file("t-ubyte.gz"), bytes);
  const std::string msg = bad_input_error_of([&] { read_idx(dir.file("t-ubyte.gz")); });
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
}

TEST(IdxTest, TruncatedHeaderIsAnError) {
  TempDir dir;
  std::string bytes = idx_bytes({10, 4, 4}, {});
  bytes.resize(9);  // magic, one full dim, one byte of the second
  write_plain(dir.file("h-ubyte"), bytes);
  const std::string msg = bad_input_error_of([&] { read_idx(dir.file("h-ubyte")); });
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  EXPECT_NE(msg.find("3 dimensions"), std::string::npos) << msg;
}

TEST(IdxTest, WrongMagicIsNotAnIdxFile) {
  TempDir dir;
  write_plain(dir.file("zip-ubyte"), std::string("PK\x03\x04 something else entirely", 28));
  const std::string msg = bad_input_error_of([&] { read_idx(dir.file("zip-ubyte")); });
  EXPECT_NE(msg.find("not an IDX file"), std::string::npos) << msg;
  EXPECT_NE(msg.find("magic"), std::string::npos) << msg;
  EXPECT_NE(msg.find(dir.file("zip-ubyte")), std::string::npos) << msg;
}

TEST(IdxTest, TinyFileIsNotAnIdxFile) {
  TempDir dir;
  write_plain(dir.file("tiny"), std::string("\0\0", 2));
  EXPECT_NE(bad_input_error_of([&] { read_idx(dir.file("tiny")); }).find("not an IDX file"),
            std::string::npos);
  write_plain(dir.file("empty"), "");
  EXPECT_NE(bad_input_error_of([&] { read_idx(dir.file("empty")); }).find("not an IDX file"),
            std::string::npos);
}

TEST(IdxTest, UnsupportedElementTypeIsAnError) {
  TempDir dir;
  write_plain(dir.file("f-ubyte"), idx_bytes({2}, pattern_bytes(8), 0x0D));
  const std::string msg = bad_input_error_of([&] { read_idx(dir.file("f-ubyte")); });
  EXPECT_NE(msg.find("0x0d"), std::string::npos) << msg;
  EXPECT_NE(msg.find("only 0x08"), std::string::npos) << msg;
}

TEST(IdxTest, ZeroDimensionsIsAnError) {
  TempDir dir;
  write_plain(dir.file("z-ubyte"), idx_bytes({}, {}));
  EXPECT_NE(bad_input_error_of([&] { read_idx(dir.file("z-ubyte")); }).find("0 dimensions"),
            std::string::npos);
}

TEST(IdxTest, HugeDeclaredDimsDoNotAllocate) {
  TempDir dir;
  write_plain(dir.file("big-ubyte"), idx_bytes({0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, pattern_bytes(16)));
  EXPECT_NE(bad_input_error_of([&] { read_idx(dir.file("big-ubyte")); }).find("too large"), std::string::npos);
  write_plain(dir.file("lie-ubyte"), idx_bytes({0x7FFFFFFFu, 16}, pattern_bytes(16)));
  EXPECT_NE(bad_input_error_of([&] { read_idx(dir.file("lie-ubyte")); }).find("truncated"), std::string::npos);
}

TEST(IdxTest, TrailingBytesAreAnError) {
  TempDir dir;
  write_plain(dir.file("long-ubyte"), idx_bytes({4}, pattern_bytes(4)) + "junk");
  const std::string msg = bad_input_error_of([&] { read_idx(dir.file("long-ubyte")); });
  EXPECT_NE(msg.find("after the 12"), std::string::npos) << msg;
}

TEST(IdxTest, GarbageAfterGzipHeaderIsAnError) {
  TempDir dir;
  // A valid gzip member header, then bytes no deflate stream starts with (block type 3).
  std::string bytes = "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03";
  bytes += std::string(64, '\xff');
  write_plain(dir.file("bad.gz"), bytes);
  const std::string msg = bad_input_error_of([&] { read_idx(dir.file("bad.gz")); });
  EXPECT_NE(msg.find(dir.file("bad.gz")), std::string::npos) << msg;
  EXPECT_NE(msg.find("not a valid gzip file"), std::string::npos) << msg;
}

TEST(IdxTest, GzipCutShortIsAnError) {
  TempDir dir;
  // Bytes that do not compress, so half the compressed file is half the data.
  std::vector<uint8_t> noise(4000);
  uint32_t state = 12345;
  for (auto& b : noise) {
    state = state * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(state >> 24);
  }
  write_gzip(dir.file("whole.gz"), idx_bytes({4000}, noise));
  const std::string gz = read_plain(dir.file("whole.gz"));
  write_plain(dir.file("cut.gz"), gz.substr(0, gz.size() / 2));
  const std::string msg = bad_input_error_of([&] { read_idx(dir.file("cut.gz")); });
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  // Corrupting the stored CRC is caught too.
  std::string bad_crc = gz;
  bad_crc[bad_crc.size() - 6] ^= 0x55;
  write_plain(dir.file("crc.gz"), bad_crc);
  EXPECT_NE(bad_input_error_of([&] { read_idx(dir.file("crc.gz")); }).find("gzip"), std::string::npos);
}

TEST(IdxTest, MissingFileIsAnError) {
  TempDir dir;
  const std::string msg = bad_input_error_of([&] { read_idx(dir.file("nope-ubyte")); });
  EXPECT_NE(msg.find(dir.file("nope-ubyte") + " not found"), std::string::npos) << msg;
}

TEST(IdxDirTest, LoadsTrainSplitAsNchw) {
  TempDir dir;
  const std::vector<uint8_t> pixels = pattern_bytes(5 * 4 * 3);
  write_plain(dir.file("train-images-idx3-ubyte"), idx_bytes({5, 4, 3}, pixels));
  write_plain(dir.file("train-labels-idx1-ubyte"), idx_bytes({5}, {2, 0, 1, 2, 4}));
  const Dataset data = load_idx_dir(dir.str(), "train");
  ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{5, 1, 4, 3}));
  EXPECT_EQ(data.images.scalar_type(), torch::kUInt8);
  EXPECT_EQ(data.images[3][0][2][1].item<int>(), pixels[3 * 12 + 2 * 3 + 1]);
  ASSERT_EQ(data.labels.scalar_type(), torch::kInt64);
  EXPECT_TRUE(torch::equal(data.labels, torch::tensor({2, 0, 1, 2, 4}, torch::kInt64)));
  // No names in IDX files: classes are numbered up to the largest label.
  EXPECT_EQ(data.class_names, (std::vector<std::string>{"0", "1", "2", "3", "4"}));
}

TEST(IdxDirTest, TestSplitReadsT10kGzipFiles) {
  TempDir dir;
  const std::string images = idx_bytes({2, 2, 2}, pattern_bytes(8));
  write_gzip(dir.file("t10k-images-idx3-ubyte.gz"), images);
  write_gzip(dir.file("t10k-labels-idx1-ubyte.gz"), idx_bytes({2}, {1, 0}));
  // A train split beside it must not be read for "test".
  write_plain(dir.file("train-images-idx3-ubyte"), idx_bytes({1, 1, 1}, {9}));
  const Dataset data = load_idx_dir(dir.str(), "test");
  ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{2, 1, 2, 2}));
  EXPECT_EQ(data.images[1][0][1][1].item<int>(), pattern_bytes(8)[7]);
  EXPECT_TRUE(torch::equal(data.labels, torch::tensor({1, 0}, torch::kInt64)));
}

TEST(IdxDirTest, MismatchedCountsAreAnError) {
  TempDir dir;
  write_plain(dir.file("train-images-idx3-ubyte"), idx_bytes({5, 2, 2}, pattern_bytes(20)));
  write_plain(dir.file("train-labels-idx1-ubyte"), idx_bytes({4}, {0, 1, 2, 3}));
  const std::string msg = bad_input_error_of([&] { load_idx_dir(dir.str(), "train"); });
  EXPECT_NE(msg.find("has 5 images but"), std::string::npos) << msg;
  EXPECT_NE(msg.find("has 4 labels"), std::string::npos) << msg;
  EXPECT_EQ(msg.rfind("idx:" + dir.str() + ": ", 0), 0u) << msg;
}

TEST(IdxDirTest, TruncatedImagesNameSourceFileAndHint) {
  TempDir dir;
  std::string images = idx_bytes({10, 2, 2}, pattern_bytes(40));
  images.resize(30);
  write_plain(dir.file("t10k-images-idx3-ubyte"), images);
  write_plain(dir.file("t10k-labels-idx1-ubyte"), idx_bytes({10}, pattern_bytes(10)));
  const std::string msg = bad_input_error_of([&] {
    load_idx_dir(dir.str(), "test", "fashion-mnist", "reinstall with: apt-get install x");
  });
  EXPECT_EQ(msg, "fashion-mnist: " + dir.file("t10k-images-idx3-ubyte") +
                     " is truncated (expected 56 bytes of image data, got 30); "
                     "reinstall with: apt-get install x");
}

TEST(IdxDirTest, WrongDimensionCountIsAnError) {
  TempDir dir;
  write_plain(dir.file("train-images-idx3-ubyte"), idx_bytes({8}, pattern_bytes(8)));
  write_plain(dir.file("train-labels-idx1-ubyte"), idx_bytes({8}, pattern_bytes(8)));
  const std::string msg = bad_input_error_of([&] { load_idx_dir(dir.str(), "train"); });
  EXPECT_NE(msg.find("expected [N, H, W]"), std::string::npos) << msg;
}

TEST(IdxDirTest, MissingDirAndMissingFilesAreErrors) {
  TempDir dir;
  const std::string missing = dir.file("not-here");
  EXPECT_NE(bad_input_error_of([&] { load_idx_dir(missing, "train"); }).find(missing + " not found"),
            std::string::npos);
  write_plain(dir.file("train-images-idx3-ubyte"), idx_bytes({1, 1, 1}, {0}));
  const std::string msg = bad_input_error_of([&] { load_idx_dir(dir.str(), "train"); });
  EXPECT_NE(msg.find("train-labels-idx1-ubyte[.gz] not found"), std::string::npos) << msg;
  EXPECT_NE(bad_input_error_of([&] { load_idx_dir(dir.str(), "validation"); }).find("train or test"),
            std::string::npos);
}

TEST(IdxDirTest, RealFashionMnistTestSplit) {
  const std::string dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(dir + "/t10k-images-idx3-ubyte.gz") && !fs::exists(dir + "/t10k-images-idx3-ubyte")) {
    GTEST_SKIP() << dir << " is not installed";
  }
  const Dataset data = load_idx_dir(dir, "test");
  ASSERT_EQ(data.images.sizes(), (std::vector<int64_t>{10000, 1, 28, 28}));
  ASSERT_EQ(data.labels.size(0), 10000);
  EXPECT_EQ(data.labels[0].item<int64_t>(), 9);  // an ankle boot
  EXPECT_EQ(data.labels.min().item<int64_t>(), 0);
  EXPECT_EQ(data.labels.max().item<int64_t>(), 9);
  EXPECT_EQ(torch::bincount(data.labels)[3].item<int64_t>(), 1000);  // 1000 of each class
}

}  // namespace
}  // namespace latentkit
