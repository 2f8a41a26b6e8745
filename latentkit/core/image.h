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

/// An opaque color, the background that transparent images are composited onto.
struct Rgb {
  uint8_t r = 255, g = 255, b = 255;
  bool operator==(const Rgb& o) const { return r == o.r && g == o.g && b == o.b; }
};
/// "white", "black" or "#rrggbb" (case-insensitive); anything else is an Error that names
/// `flag` and the accepted forms.
Rgb parse_color(const std::string& text, const std::string& flag);

/// Converts to 1 (luma, ITU-R 601), 3 or 4 channels (RGBA, alpha straight as in PNG files).
/// Alpha is composited onto `background` when it is dropped, so the colors a file hides
/// under transparent pixels never show; images without alpha gain an opaque one.
Image convert_channels(const Image& image, int channels, Rgb background = {});
/// RGBA: multiplies color by alpha in place (the form tensors hold, core/grid.h); other
/// images are left as they are.
void premultiply(Image& image);

/// Resizes the shorter side to `size` (bilinear, area-averaged when shrinking) and
/// centre-crops to size x size: the torchvision Resize + CenterCrop convention. RGBA is
/// filtered premultiplied, so hidden colors do not bleed into the edges.
Image resize_center_crop(const Image& image, int size);
/// Resizes to width x height (bilinear, area-averaged when shrinking; RGBA premultiplied).
Image resize_image(const Image& image, int width, int height);

}  // namespace latentkit
