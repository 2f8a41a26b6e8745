#include "latentkit/core/image.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <random>

#include <jpeglib.h>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"

namespace latentkit {
namespace {

namespace fs = std::filesystem;

Image random_image(int width, int height, int channels, uint32_t seed) {
  std::mt19937 rng(seed);
  Image image(width, height, channels);
  for (uint8_t& value : image.pixels) value = static_cast<uint8_t>(rng() & 0xFF);
  return image;
}

std::string encode_jpeg_for_test(const Image& image, int quality) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr error;
  cinfo.err = jpeg_std_error(&error);
  jpeg_create_compress(&cinfo);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = static_cast<JDIMENSION>(image.width);
  cinfo.image_height = static_cast<JDIMENSION>(image.height);
  cinfo.input_components = image.channels;
  cinfo.in_color_space = image.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(
        image.pixels.data() + static_cast<size_t>(cinfo.next_scanline) * image.width * image.channels);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::string bytes(reinterpret_cast<const char*>(buffer), size);
  std::free(buffer);
  return bytes;
}

std::string error_message(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

class ImageFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device device;
    dir_ = fs::temp_directory_path() /
           ("latentkit_image_" + std::to_string(::getpid()) + "_" + std::to_string(device()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

TEST(Image, ConstructorFills) {
  Image image(3, 2, 3, 7);
  EXPECT_EQ(image.pixels.size(), 18u);
  EXPECT_EQ(image.at(2, 1, 2), 7);
  EXPECT_THROW(Image(2, 2, 5), Error);
}

TEST(Image, PngRoundTripGray) {
  Image image = random_image(7, 5, 1, 1);
  Image decoded = decode_png(encode_png(image), "gray.png");
  EXPECT_EQ(decoded.width, 7);
  EXPECT_EQ(decoded.height, 5);
  EXPECT_EQ(decoded.channels, 1);
  EXPECT_EQ(decoded.pixels, image.pixels);
}

TEST(Image, PngRoundTripRgb) {
  Image image = random_image(13, 9, 3, 2);
  Image decoded = decode_png(encode_png(image), "rgb.png");
  EXPECT_EQ(decoded.width, 13);
  EXPECT_EQ(decoded.height, 9);
  EXPECT_EQ(decoded.channels, 3);
  EXPECT_EQ(decoded.pixels, image.pixels);
}

TEST(Image, PngRoundTripRgba) {
  Image image = random_image(4, 11, 4, 3);
  Image decoded = decode_png(encode_png(image), "rgba.png");
  EXPECT_EQ(decoded.channels, 4);
  EXPECT_EQ(decoded.pixels, image.pixels);
}

TEST(Image, PngGarbageIsNotAPng) {
  std::string message = error_message([] { decode_png("this is not an image at all", "in.png"); });
  EXPECT_NE(message.find("in.png: not a PNG file (bad signature)"), std::string::npos) << message;
}

TEST(Image, PngTruncatedThrows) {
  std::string bytes = encode_png(random_image(32, 32, 3, 4));
  std::string half = bytes.substr(0, bytes.size() / 2);
  std::string message = error_message([&] { decode_png(half, "in.png"); });
  EXPECT_NE(message.find("in.png: truncated or corrupt PNG ("), std::string::npos) << message;
}

TEST(Image, PngCorruptChunkThrows) {
  std::string bytes = encode_png(random_image(16, 16, 1, 5));
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x5A);
  std::string message = error_message([&] { decode_png(bytes, "in.png"); });
  EXPECT_NE(message.find("in.png: truncated or corrupt PNG"), std::string::npos) << message;
}

TEST(Image, EncodeRejectsInconsistentImage) {
  Image image(4, 4, 3);
  image.pixels.resize(10);
  EXPECT_THROW(encode_png(image), Error);
}

TEST(Image, JpegDecodeRgb) {
  Image image(16, 8, 3);
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 16; ++x) {
      image.at(x, y, 0) = 200;
      image.at(x, y, 1) = 100;
      image.at(x, y, 2) = 50;
    }
  }
  Image decoded = decode_jpeg(encode_jpeg_for_test(image, 95), "in.jpg");
  EXPECT_EQ(decoded.width, 16);
  EXPECT_EQ(decoded.height, 8);
  EXPECT_EQ(decoded.channels, 3);
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 16; ++x) {
      EXPECT_NEAR(decoded.at(x, y, 0), 200, 4);
      EXPECT_NEAR(decoded.at(x, y, 1), 100, 4);
      EXPECT_NEAR(decoded.at(x, y, 2), 50, 4);
    }
  }
}

TEST(Image, JpegDecodeGrayGradient) {
  Image image(16, 16, 1);
  for (int y = 0; y < 16; ++y) {
    for (int x = 0; x < 16; ++x) image.at(x, y, 0) = static_cast<uint8_t>(x * 16);
  }
  Image decoded = decode_jpeg(encode_jpeg_for_test(image, 95), "gray.jpg");
  EXPECT_EQ(decoded.channels, 1);
  EXPECT_EQ(decoded.width, 16);
  for (int y = 0; y < 16; ++y) {
    for (int x = 0; x < 16; ++x) EXPECT_NEAR(decoded.at(x, y, 0), x * 16, 6);
  }
}

TEST(Image, JpegTruncatedThrows) {
  Image image = random_image(32, 32, 3, 6);
  std::string bytes = encode_jpeg_for_test(image, 95);
  std::string message = error_message([&] { decode_jpeg(bytes.substr(0, bytes.size() / 2), "in.jpg"); });
  EXPECT_NE(message.find("in.jpg: truncated"), std::string::npos) << message;
  message = error_message([&] { decode_jpeg(bytes.substr(0, 20), "in.jpg"); });
  EXPECT_NE(message.find("in.jpg: truncated or corrupt JPEG"), std::string::npos) << message;
}

TEST_F(ImageFiles, ReadImageDetectsFormatByMagic) {
  Image image = random_image(5, 4, 3, 7);
  write_png(path("picture.jpg"), image);
  Image from_png = read_image(path("picture.jpg"));
  EXPECT_EQ(from_png.pixels, image.pixels);

  write_file_atomic(path("photo.png"), encode_jpeg_for_test(Image(8, 8, 3, 128), 95));
  Image from_jpeg = read_image(path("photo.png"));
  EXPECT_EQ(from_jpeg.width, 8);
  EXPECT_NEAR(from_jpeg.at(3, 3, 1), 128, 3);
}

TEST_F(ImageFiles, ReadImageOfTextFileIsUnsupported) {
  std::string text_path = path("notes.png");
  write_file_atomic(text_path, "hello, this is text\n");
  std::string message = error_message([&] { read_image(text_path); });
  EXPECT_EQ(message, text_path + ": unsupported image format (expected PNG or JPEG)");
}

TEST_F(ImageFiles, WritePngLeavesOnlyTheFile) {
  write_png(path("a.png"), Image(2, 2, 1, 9));
  int entries = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    ++entries;
    EXPECT_EQ(entry.path().filename(), "a.png");
  }
  EXPECT_EQ(entries, 1);
  EXPECT_EQ(read_image(path("a.png")).pixels, std::vector<uint8_t>(4, 9));
}

TEST(Image, ConvertChannels) {
  Image rgb(2, 1, 3);
  rgb.at(0, 0, 0) = 255;
  rgb.at(0, 0, 1) = 0;
  rgb.at(0, 0, 2) = 0;
  rgb.at(1, 0, 0) = 10;
  rgb.at(1, 0, 1) = 200;
  rgb.at(1, 0, 2) = 30;
  Image gray = convert_channels(rgb, 1);
  ASSERT_EQ(gray.channels, 1);
  EXPECT_EQ(gray.at(0, 0, 0), 76);   // 0.299 * 255 = 76.2
  EXPECT_EQ(gray.at(1, 0, 0), 124);  // 2.99 + 117.4 + 3.42 = 123.8

  Image back = convert_channels(gray, 3);
  ASSERT_EQ(back.channels, 3);
  EXPECT_EQ(back.pixels, (std::vector<uint8_t>{76, 76, 76, 124, 124, 124}));

  Image rgba(1, 1, 4);
  rgba.pixels = {1, 2, 3, 250};
  // Alpha 250/255 over white: 1 * 0.98 + 255 * 0.0196 = 5.98.
  EXPECT_EQ(convert_channels(rgba, 3).pixels, (std::vector<uint8_t>{6, 7, 8}));
  EXPECT_EQ(convert_channels(rgba, 3, Rgb{0, 0, 0}).pixels, (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_EQ(convert_channels(rgba, 1, Rgb{0, 0, 0}).pixels, (std::vector<uint8_t>{2}));  // 0.98 * (0.299+1.174+0.342)
  EXPECT_THROW(convert_channels(rgba, 2), Error);
  // A transparent pixel shows the background, never the color the file hides under it.
  Image hidden(1, 1, 4);
  hidden.pixels = {255, 128, 0, 0};
  EXPECT_EQ(convert_channels(hidden, 3, parse_color("#102030", "--background")).pixels,
            (std::vector<uint8_t>{16, 32, 48}));
  EXPECT_EQ(convert_channels(gray, 4).pixels, (std::vector<uint8_t>{76, 76, 76, 255, 124, 124, 124, 255}));
}

TEST(Image, ParseColor) {
  EXPECT_TRUE(parse_color("white", "--background") == (Rgb{255, 255, 255}));
  EXPECT_TRUE(parse_color("Black", "--background") == (Rgb{0, 0, 0}));
  EXPECT_TRUE(parse_color("#FFcc00", "--background") == (Rgb{255, 204, 0}));
  for (const char* bad : {"", "red", "#fff", "#ggcc00", "ffcc00"}) {
    try {
      parse_color(bad, "--background");
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--background"), std::string::npos);
      EXPECT_NE(std::string(e.what()).find("#rrggbb"), std::string::npos);
    }
  }
}

TEST(Image, ResizeRgbaIsPremultiplied) {
  // Left half opaque red, right half transparent with hidden green: shrinking to 1 pixel
  // keeps pure red at half coverage, not a red-green mix.
  Image image(2, 2, 4);
  for (int y = 0; y < 2; ++y) {
    image.at(0, y, 0) = 255, image.at(0, y, 3) = 255;
    image.at(1, y, 1) = 255, image.at(1, y, 3) = 0;
  }
  Image small = resize_center_crop(image, 1);
  EXPECT_EQ(small.pixels, (std::vector<uint8_t>{255, 0, 0, 128}));
}

TEST(Image, ResizeCenterCropConstantImage) {
  Image image(4, 2, 3, 77);
  Image out = resize_center_crop(image, 2);
  EXPECT_EQ(out.width, 2);
  EXPECT_EQ(out.height, 2);
  EXPECT_EQ(out.channels, 3);
  EXPECT_EQ(out.pixels, std::vector<uint8_t>(12, 77));
}

TEST(Image, ResizeCenterCropTakesTheMiddleColumns) {
  Image image(4, 2, 1);
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 4; ++x) image.at(x, y, 0) = static_cast<uint8_t>(10 * x + y);
  }
  Image out = resize_center_crop(image, 2);
  EXPECT_EQ(out.pixels, (std::vector<uint8_t>{10, 20, 11, 21}));
}

TEST(Image, ResizeCheckerboardShrinkAveragesToMidGray) {
  Image board(8, 8, 1);
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 8; ++x) board.at(x, y, 0) = (x + y) % 2 == 0 ? 0 : 255;
  }
  Image out = resize_center_crop(board, 4);
  ASSERT_EQ(out.width, 4);
  ASSERT_EQ(out.height, 4);
  for (uint8_t value : out.pixels) EXPECT_EQ(value, 128);
}

TEST(Image, ResizeEnlargesWithBilinear) {
  Image image(2, 2, 1);
  image.pixels = {0, 100, 0, 100};
  Image out = resize_center_crop(image, 4);
  // Half-pixel centres: sources at -0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
  for (int y = 0; y < 4; ++y) {
    EXPECT_EQ(out.at(0, y, 0), 0);
    EXPECT_EQ(out.at(1, y, 0), 25);
    EXPECT_EQ(out.at(2, y, 0), 75);
    EXPECT_EQ(out.at(3, y, 0), 100);
  }
}

TEST(Image, ResizeTallImageScalesAndCrops) {
  Image image(10, 30, 3, 200);
  Image out = resize_center_crop(image, 5);
  EXPECT_EQ(out.width, 5);
  EXPECT_EQ(out.height, 5);
  EXPECT_EQ(out.pixels, std::vector<uint8_t>(75, 200));
}

TEST(Image, ResizeImageToAnyShape) {
  Image image(2, 1, 1);
  image.pixels = {0, 255};
  // 2 x 1 -> 4 x 3: bilinear across (sources -0.25, 0.25, 0.75, 1.25), every row the same.
  Image wide = resize_image(image, 4, 3);
  ASSERT_EQ(wide.width, 4);
  ASSERT_EQ(wide.height, 3);
  for (int y = 0; y < 3; ++y) EXPECT_EQ(std::vector<uint8_t>(wide.pixels.begin() + 4 * y, wide.pixels.begin() + 4 * y + 4),
                                        (std::vector<uint8_t>{0, 64, 191, 255}));
  // And back to 2 x 1: each output pixel averages the two it covers.
  Image back = resize_image(wide, 2, 1);
  EXPECT_EQ(back.pixels, (std::vector<uint8_t>{32, 223}));
  EXPECT_THROW(resize_image(image, 0, 3), Error);
}

}  // namespace
}  // namespace latentkit
