#include "tests/unit/test_util.h"
#include "latentkit/eval/npy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"

namespace latentkit {
namespace {

namespace fs = std::filesystem;

// Written by tests/data/golden/npy_golden.py with NumPy.
std::string golden(const std::string& name) { return std::string(LATENTKIT_TEST_DATA) + "/golden/" + name; }

class NpyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device device;
    dir_ = fs::temp_directory_path() / ("latentkit_npy_" + std::to_string(::getpid()) + "_" + std::to_string(device()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

using test_util::expect_error;

TEST_F(NpyTest, RoundTripKeepsDtypeShapeAndEveryValue) {
  torch::manual_seed(3);
  std::vector<torch::Tensor> tensors = {
      torch::randn({10, 128}),
      torch::randn({7}, torch::kFloat64),
      torch::randint(-1000000000000LL, 1000000000000LL, {3, 4, 5}, torch::kInt64),
      torch::randint(0, 256, {2, 3, 4, 5}, torch::kUInt8),
      torch::randn({0, 4}),
      torch::tensor(2.5),        // 0-d
      torch::randn({6, 5}).t(),  // not contiguous: written in C order
  };
  for (size_t i = 0; i < tensors.size(); ++i) {
    const std::string file = path("t" + std::to_string(i) + ".npy");
    write_npy(file, tensors[i]);
    torch::Tensor back = read_npy(file);
    EXPECT_EQ(back.scalar_type(), tensors[i].scalar_type()) << i;
    EXPECT_EQ(back.sizes(), tensors[i].sizes()) << i;
    EXPECT_TRUE(torch::equal(back, tensors[i])) << i;
    // numpy pads the header so the data starts at a multiple of 64 bytes.
    const std::string bytes = read_file(file);
    const size_t header = static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8;
    EXPECT_EQ((10 + header) % 64, 0u) << i;
    EXPECT_EQ(bytes[10 + header - 1], '\n') << i;
  }
}

TEST_F(NpyTest, ReadsNumpyFilesExactlyAndWritesThemByteForByte) {
  torch::Tensor f4 = read_npy(golden("npy_f4_3x4.npy"));
  ASSERT_EQ(f4.scalar_type(), torch::kFloat32);
  ASSERT_EQ(f4.sizes(), (std::vector<int64_t>{3, 4}));
  for (int64_t i = 0; i < 12; ++i) EXPECT_EQ(f4.view(-1)[i].item<float>(), static_cast<float>(i) * 0.5f - 1.25f) << i;

  torch::Tensor f8 = read_npy(golden("npy_f8_2x2x2.npy"));
  ASSERT_EQ(f8.scalar_type(), torch::kFloat64);
  ASSERT_EQ(f8.sizes(), (std::vector<int64_t>{2, 2, 2}));
  for (int64_t i = 0; i < 8; ++i) EXPECT_EQ(f8.view(-1)[i].item<double>(), static_cast<double>(i) / 3.0) << i;

  torch::Tensor i8 = read_npy(golden("npy_i8_5.npy"));
  ASSERT_EQ(i8.scalar_type(), torch::kInt64);
  const int64_t expected_i8[] = {-3, 0, 7, int64_t{1} << 40, -(int64_t{1} << 62)};
  ASSERT_EQ(i8.sizes(), (std::vector<int64_t>{5}));
  for (int64_t i = 0; i < 5; ++i) EXPECT_EQ(i8[i].item<int64_t>(), expected_i8[i]) << i;

  torch::Tensor u1 = read_npy(golden("npy_u1_2x3.npy"));
  ASSERT_EQ(u1.scalar_type(), torch::kUInt8);
  EXPECT_TRUE(torch::equal(u1, torch::tensor({0, 1, 2, 253, 254, 255}, torch::kUInt8).view({2, 3})));

  for (const char* name : {"npy_f4_3x4.npy", "npy_f8_2x2x2.npy", "npy_i8_5.npy", "npy_u1_2x3.npy"}) {
    write_npy(path(name), read_npy(golden(name)));
    EXPECT_EQ(read_file(path(name)), read_file(golden(name))) << name << ": header or data differ from numpy's";
  }
}

TEST_F(NpyTest, RefusesBigEndianFortranOrderAndOtherDtypes) {
  expect_error([] { read_npy(golden("npy_f4_big_endian.npy")); }, {"npy_f4_big_endian.npy", "big-endian", ">f4"});
  expect_error([] { read_npy(golden("npy_f4_fortran.npy")); }, {"npy_f4_fortran.npy", "Fortran"});
  expect_error([&] { write_npy(path("x.npy"), torch::zeros({2}, torch::kInt32)); }, {"x.npy", "Int", "float32"});

  // A float16 file: the header names a dtype latentkit does not read.
  std::string bytes = read_file(golden("npy_f4_3x4.npy"));
  const size_t at = bytes.find("<f4");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 3, "<f2");
  write_file_atomic(path("f2.npy"), bytes);
  expect_error([&] { read_npy(path("f2.npy")); }, {"f2.npy", "<f2", "not supported"});
}

TEST_F(NpyTest, TruncatedOrForeignFilesGiveAnErrorNamingTheFile) {
  const std::string bytes = read_file(golden("npy_f4_3x4.npy"));
  // Cut inside the data, inside the header and inside the preamble.
  for (size_t keep : {bytes.size() - 1, size_t{128}, size_t{60}, size_t{9}, size_t{3}, size_t{0}}) {
    const std::string file = path("cut" + std::to_string(keep) + ".npy");
    write_file_atomic(file, bytes.substr(0, keep));
    expect_error([&] { read_npy(file); }, {file});
  }
  expect_error([&] { read_npy(path("cut175.npy")); }, {"truncated", "48 bytes of data", "47"});
  expect_error([&] { read_npy(path("cut60.npy")); }, {"truncated"});

  write_file_atomic(path("extra.npy"), bytes + "xx");
  expect_error([&] { read_npy(path("extra.npy")); }, {"extra.npy", "2 unexpected bytes"});

  write_file_atomic(path("text.npy"), "{'descr': '<f4'}\n");
  expect_error([&] { read_npy(path("text.npy")); }, {"text.npy", "not a NumPy .npy file"});

  std::string bad_header = bytes;
  bad_header.replace(bad_header.find("'shape': (3, 4)"), 15, "'shape': [3, 4]");
  write_file_atomic(path("header.npy"), bad_header);
  expect_error([&] { read_npy(path("header.npy")); }, {"header.npy", "not a valid .npy header"});

  expect_error([&] { read_npy(path("missing.npy")); }, {"missing.npy"});
}

}  // namespace
}  // namespace latentkit
