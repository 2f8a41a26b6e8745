#pragma once
// 8-bit images in memory and in PNG / JPEG files. No LibTorch here.
#include <cstdint>
#include <string>
#include <vector>

namespace latentkit {

/// An 8-bit image, pixels interleaved row by row: pixels[(y * width + x) * channels + c].
/// channels is 1 (gray), 3 (RGB) or 4 (RGBA).
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;

  Image() = default;
  Image(int width, int height, int channels, uint8_t fill = 0);
  uint8_t& at(int x, int y, int c) { return pixels[(static_cast<size_t>(y) * width + x) * channels + c]; }
  uint8_t at(int x, int y, int c) const { return pixels[(static_cast<size_t>(y) * width + x) * channels + c]; }
};

/// Encodes to PNG bytes (gray, RGB or RGBA, 8 bit).
std::string encode_png(const Image& image);
/// Decodes PNG bytes; palette, 16-bit and gray+alpha are converted to 8-bit gray/RGB/RGBA.
/// name is used in error messages.
Image decode_png(const std::string& bytes, const std::string& name);
/// Decodes JPEG bytes (gray or RGB).
Image decode_jpeg(const std::string& bytes, const std::string& name);
/// Reads a PNG or JPEG file, chosen by its magic bytes, not its extension.
Image read_image(const std::string& path);
/// Writes a PNG atomically.
void write_png(const std::string& path, const Image& image);

/// Converts to 1 (luma, ITU-R 601) or 3 channels; alpha is dropped.
Image convert_channels(const Image& image, int channels);
/// Resizes the shorter side to `size` (bilinear, area-averaged when shrinking) and
/// centre-crops to size x size: the torchvision Resize + CenterCrop convention.
Image resize_center_crop(const Image& image, int size);

}  // namespace latentkit
