#include "latentkit/core/image.h"

#include <png.h>
// jpeglib.h needs size_t and FILE declared before it.
#include <cstdio>
#include <jpeglib.h>
#include <jerror.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <csetjmp>
#include <cstring>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"

namespace latentkit {
namespace {

// Larger images are refused rather than risk a huge allocation from a hostile header.
constexpr uint64_t kMaxPixels = uint64_t{1} << 28;
constexpr size_t kMessageSize = 200;

void copy_message(char* destination, const char* message) {
  std::snprintf(destination, kMessageSize, "%s", message != nullptr ? message : "unknown error");
}

void check_image(const Image& image, const std::string& what) {
  if (image.width <= 0 || image.height <= 0) {
    throw Error(what + ": image has no pixels (" + std::to_string(image.width) + "x" +
                    std::to_string(image.height) + ")",
                ErrorKind::kInternal);
  }
  if (image.channels != 1 && image.channels != 3 && image.channels != 4) {
    throw Error(what + ": image has " + std::to_string(image.channels) +
                    " channels (expected 1, 3 or 4)",
                ErrorKind::kInternal);
  }
  size_t expected = static_cast<size_t>(image.width) * image.height * image.channels;
  if (image.pixels.size() != expected) {
    throw Error(what + ": image holds " + std::to_string(image.pixels.size()) +
                    " bytes (expected " + std::to_string(expected) + ")",
                ErrorKind::kInternal);
  }
}

void check_dimensions(uint64_t width, uint64_t height, const std::string& name) {
  if (width == 0 || height == 0) {
    throw Error(name + ": image has no pixels (" + std::to_string(width) + "x" +
                std::to_string(height) + ")");
  }
  if (width * height > kMaxPixels) {
    throw Error(name + ": image is too large (" + std::to_string(width) + "x" +
                std::to_string(height) + "; at most " + std::to_string(kMaxPixels) +
                " pixels); downscale it first");
  }
}

// ---- PNG -------------------------------------------------------------------------------

struct PngIo {
  const std::string* input = nullptr;
  size_t position = 0;
  std::string* output = nullptr;
  char message[kMessageSize] = {};
};

[[noreturn]] void png_error_handler(png_structp png, png_const_charp message) {
  auto* io = static_cast<PngIo*>(png_get_error_ptr(png));
  copy_message(io->message, message);
  png_longjmp(png, 1);
}

void png_warning_handler(png_structp, png_const_charp) {}

void png_read_bytes(png_structp png, png_bytep data, png_size_t length) {
  auto* io = static_cast<PngIo*>(png_get_io_ptr(png));
  if (length > io->input->size() - io->position) {
    png_error(png, "unexpected end of data");
  }
  std::memcpy(data, io->input->data() + io->position, length);
  io->position += length;
}

void png_write_bytes(png_structp png, png_bytep data, png_size_t length) {
  auto* io = static_cast<PngIo*>(png_get_io_ptr(png));
  try {
    io->output->append(reinterpret_cast<const char*>(data), length);
  } catch (const std::exception&) {
    png_error(png, "out of memory");
  }
}

void png_flush_bytes(png_structp) {}

// Runs under setjmp: no object with a destructor lives in this frame, and everything the
// caller reads after a longjmp is owned by the caller.
bool png_decode_into(PngIo* io, Image* image, std::vector<png_bytep>* rows, bool* too_large) {
  png_structp png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, io, png_error_handler, png_warning_handler);
  if (png == nullptr) {
    copy_message(io->message, "cannot allocate the PNG decoder");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    copy_message(io->message, "cannot allocate the PNG decoder");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, io, png_read_bytes);
  png_set_user_limits(png, 1u << 20, 1u << 20);
  png_read_info(png, info);

  png_uint_32 width = png_get_image_width(png, info);
  png_uint_32 height = png_get_image_height(png, info);
  if (width == 0 || height == 0 || uint64_t{width} * height > kMaxPixels) {
    *too_large = true;
    image->width = static_cast<int>(width);
    image->height = static_cast<int>(height);
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  int color_type = png_get_color_type(png, info);
  int bit_depth = png_get_bit_depth(png, info);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  if (bit_depth == 16) png_set_scale_16(png);
  if (color_type == PNG_COLOR_TYPE_GRAY_ALPHA ||
      (color_type == PNG_COLOR_TYPE_GRAY && png_get_valid(png, info, PNG_INFO_tRNS))) {
    png_set_gray_to_rgb(png);
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);

  int channels = png_get_channels(png, info);
  if (channels != 1 && channels != 3 && channels != 4) {
    png_error(png, "unsupported channel layout");
  }
  image->width = static_cast<int>(width);
  image->height = static_cast<int>(height);
  image->channels = channels;
  size_t stride = static_cast<size_t>(width) * channels;
  if (png_get_rowbytes(png, info) != stride) png_error(png, "unexpected row size");
  image->pixels.resize(stride * height);
  rows->resize(height);
  for (png_uint_32 y = 0; y < height; ++y) (*rows)[y] = image->pixels.data() + y * stride;
  png_read_image(png, rows->data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

bool png_encode_into(PngIo* io, const Image* image, std::vector<png_bytep>* rows) {
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, io, png_error_handler, png_warning_handler);
  if (png == nullptr) {
    copy_message(io->message, "cannot allocate the PNG encoder");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    copy_message(io->message, "cannot allocate the PNG encoder");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, io, png_write_bytes, png_flush_bytes);
  int color_type = image->channels == 1   ? PNG_COLOR_TYPE_GRAY
                   : image->channels == 3 ? PNG_COLOR_TYPE_RGB
                                          : PNG_COLOR_TYPE_RGB_ALPHA;
  png_set_IHDR(png, info, static_cast<png_uint_32>(image->width),
               static_cast<png_uint_32>(image->height), 8, color_type, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows->data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

// ---- JPEG ------------------------------------------------------------------------------

struct JpegError {
  jpeg_error_mgr manager;
  jmp_buf jump;
  bool truncated = false;
  char message[kMessageSize] = {};
};

[[noreturn]] void jpeg_error_exit(j_common_ptr cinfo) {
  auto* error = reinterpret_cast<JpegError*>(cinfo->err);
  char buffer[JMSG_LENGTH_MAX];
  (*cinfo->err->format_message)(cinfo, buffer);
  copy_message(error->message, buffer);
  std::longjmp(error->jump, 1);
}

void jpeg_emit_message(j_common_ptr cinfo, int level) {
  auto* error = reinterpret_cast<JpegError*>(cinfo->err);
  if (level < 0) {
    ++cinfo->err->num_warnings;
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) error->truncated = true;
  }
}

void jpeg_output_message(j_common_ptr) {}

enum class JpegResult { kOk, kError, kTooLarge, kCmyk };

JpegResult jpeg_decode_into(jpeg_decompress_struct* cinfo, JpegError* error, const std::string* bytes,
                            Image* image) {
  cinfo->err = jpeg_std_error(&error->manager);
  error->manager.error_exit = jpeg_error_exit;
  error->manager.emit_message = jpeg_emit_message;
  error->manager.output_message = jpeg_output_message;
  if (setjmp(error->jump)) {
    jpeg_destroy_decompress(cinfo);
    return JpegResult::kError;
  }
  jpeg_create_decompress(cinfo);
  jpeg_mem_src(cinfo, reinterpret_cast<const unsigned char*>(bytes->data()),
               static_cast<unsigned long>(bytes->size()));
  jpeg_read_header(cinfo, TRUE);
  if (cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(cinfo);
    return JpegResult::kCmyk;
  }
  cinfo->out_color_space = cinfo->jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(cinfo);
  image->width = static_cast<int>(cinfo->output_width);
  image->height = static_cast<int>(cinfo->output_height);
  image->channels = cinfo->output_components;
  if (cinfo->output_width == 0 || cinfo->output_height == 0 ||
      uint64_t{cinfo->output_width} * cinfo->output_height > kMaxPixels) {
    jpeg_destroy_decompress(cinfo);
    return JpegResult::kTooLarge;
  }
  size_t stride = static_cast<size_t>(cinfo->output_width) * cinfo->output_components;
  image->pixels.resize(stride * cinfo->output_height);
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = image->pixels.data() + static_cast<size_t>(cinfo->output_scanline) * stride;
    jpeg_read_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_decompress(cinfo);
  jpeg_destroy_decompress(cinfo);
  return JpegResult::kOk;
}

// ---- resampling ------------------------------------------------------------------------

// Output sample i along one axis reads inputs first..first+weights.size()-1.
struct AxisTap {
  int first = 0;
  std::vector<float> weights;
};

// Area averaging when shrinking; bilinear with half-pixel centres otherwise.
std::vector<AxisTap> axis_taps(int in_size, int out_size, int out_offset, int out_count) {
  std::vector<AxisTap> taps(static_cast<size_t>(out_count));
  double scale = static_cast<double>(in_size) / out_size;
  for (int k = 0; k < out_count; ++k) {
    int i = out_offset + k;
    AxisTap& tap = taps[static_cast<size_t>(k)];
    if (scale > 1.0) {
      double lo = i * scale;
      double hi = std::min<double>((i + 1) * scale, in_size);
      int first = static_cast<int>(std::floor(lo));
      int last = std::min(in_size - 1, static_cast<int>(std::ceil(hi)) - 1);
      tap.first = first;
      double total = 0.0;
      for (int j = first; j <= last; ++j) {
        double overlap = std::min<double>(j + 1, hi) - std::max<double>(j, lo);
        tap.weights.push_back(static_cast<float>(std::max(0.0, overlap)));
        total += std::max(0.0, overlap);
      }
      for (float& w : tap.weights) w = static_cast<float>(w / total);
    } else {
      double source = (i + 0.5) * scale - 0.5;
      source = std::clamp(source, 0.0, static_cast<double>(in_size - 1));
      int i0 = static_cast<int>(std::floor(source));
      int i1 = std::min(i0 + 1, in_size - 1);
      float frac = static_cast<float>(source - i0);
      tap.first = i0;
      if (i1 == i0 || frac == 0.0f) {
        tap.weights = {1.0f};
      } else {
        tap.weights = {1.0f - frac, frac};
      }
    }
  }
  return taps;
}

uint8_t to_byte(float value) {
  return static_cast<uint8_t>(std::clamp(std::floor(value + 0.5f), 0.0f, 255.0f));
}

bool has_png_signature(const std::string& bytes) {
  return bytes.size() >= 8 &&
         png_sig_cmp(reinterpret_cast<png_const_bytep>(bytes.data()), 0, 8) == 0;
}

bool has_jpeg_signature(const std::string& bytes) {
  return bytes.size() >= 3 && static_cast<uint8_t>(bytes[0]) == 0xFF &&
         static_cast<uint8_t>(bytes[1]) == 0xD8 && static_cast<uint8_t>(bytes[2]) == 0xFF;
}

}  // namespace

Image::Image(int width, int height, int channels, uint8_t fill)
    : width(width), height(height), channels(channels) {
  if (width < 0 || height < 0 || channels < 1 || channels > 4) {
    throw Error("invalid image shape " + std::to_string(width) + "x" + std::to_string(height) +
                    "x" + std::to_string(channels) + " (expected channels 1, 3 or 4)",
                ErrorKind::kInternal);
  }
  pixels.assign(static_cast<size_t>(width) * height * channels, fill);
}

std::string encode_png(const Image& image) {
  check_image(image, "encode_png");
  std::string output;
  std::vector<png_bytep> rows(static_cast<size_t>(image.height));
  size_t stride = static_cast<size_t>(image.width) * image.channels;
  for (int y = 0; y < image.height; ++y) {
    rows[static_cast<size_t>(y)] = const_cast<png_bytep>(image.pixels.data() + y * stride);
  }
  PngIo io;
  io.output = &output;
  if (!png_encode_into(&io, &image, &rows)) {
    throw Error(std::string("cannot encode PNG: ") + io.message, ErrorKind::kInternal);
  }
  return output;
}

Image decode_png(const std::string& bytes, const std::string& name) {
  if (!has_png_signature(bytes)) throw Error(name + ": not a PNG file (bad signature)");
  Image image;
  std::vector<png_bytep> rows;
  PngIo io;
  io.input = &bytes;
  bool too_large = false;
  if (!png_decode_into(&io, &image, &rows, &too_large)) {
    if (too_large) {
      check_dimensions(static_cast<uint32_t>(image.width), static_cast<uint32_t>(image.height), name);
    }
    throw Error(name + ": truncated or corrupt PNG (" + io.message + ")");
  }
  return image;
}

Image decode_jpeg(const std::string& bytes, const std::string& name) {
  if (!has_jpeg_signature(bytes)) throw Error(name + ": not a JPEG file (bad signature)");
  Image image;
  jpeg_decompress_struct cinfo{};
  JpegError error;
  switch (jpeg_decode_into(&cinfo, &error, &bytes, &image)) {
    case JpegResult::kOk:
      break;
    case JpegResult::kError:
      throw Error(name + ": truncated or corrupt JPEG (" + error.message + ")");
    case JpegResult::kTooLarge:
      check_dimensions(static_cast<uint32_t>(image.width), static_cast<uint32_t>(image.height),
                       name);
      throw Error(name + ": JPEG has an unsupported size");
    case JpegResult::kCmyk:
      throw Error(name + ": CMYK JPEG is not supported; convert it to RGB first");
  }
  if (error.truncated) throw Error(name + ": truncated JPEG (premature end of data)");
  return image;
}

Image read_image(const std::string& path) {
  std::string bytes = read_file(path);
  if (has_png_signature(bytes)) return decode_png(bytes, path);
  if (has_jpeg_signature(bytes)) return decode_jpeg(bytes, path);
  throw Error(path + ": unsupported image format (expected PNG or JPEG)");
}

void write_png(const std::string& path, const Image& image) {
  write_file_atomic(path, encode_png(image));
}

Rgb parse_color(const std::string& text, const std::string& flag) {
  std::string t = text;
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (t == "white") return Rgb{255, 255, 255};
  if (t == "black") return Rgb{0, 0, 0};
  const bool hex = t.size() == 7 && t[0] == '#' &&
                   std::all_of(t.begin() + 1, t.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
  check_input(hex, flag + ": '" + text + "' is not a color (expected white, black or #rrggbb, e.g. #ffcc00)");
  const auto byte = [&](int at) { return static_cast<uint8_t>(std::stoi(t.substr(static_cast<size_t>(at), 2), nullptr, 16)); };
  return Rgb{byte(1), byte(3), byte(5)};
}

Image convert_channels(const Image& image, int channels, Rgb background) {
  check_image(image, "convert_channels");
  check_input(channels == 1 || channels == 3 || channels == 4,
              "convert_channels: cannot convert to " + std::to_string(channels) +
                  " channels (expected 1, 3 or 4)");
  Image result(image.width, image.height, channels);
  const size_t count = static_cast<size_t>(image.width) * image.height;
  const int in_channels = image.channels;
  const float bg[3] = {float(background.r), float(background.g), float(background.b)};
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* in = &image.pixels[i * in_channels];
    uint8_t* out = &result.pixels[i * channels];
    float rgb[3];
    for (int c = 0; c < 3; ++c) rgb[c] = in[in_channels == 1 ? 0 : c];
    const float alpha = in_channels == 4 ? in[3] / 255.0f : 1.0f;
    if (channels == 4) {
      for (int c = 0; c < 3; ++c) out[c] = in[in_channels == 1 ? 0 : c];
      out[3] = in_channels == 4 ? in[3] : 255;
      continue;
    }
    for (int c = 0; c < 3; ++c) rgb[c] = rgb[c] * alpha + bg[c] * (1.0f - alpha);
    if (channels == 1) {
      out[0] = to_byte(0.299f * rgb[0] + 0.587f * rgb[1] + 0.114f * rgb[2]);
    } else {
      for (int c = 0; c < 3; ++c) out[c] = to_byte(rgb[c]);
    }
  }
  return result;
}

void premultiply(Image& image) {
  if (image.channels != 4) return;
  for (size_t i = 0; i < image.pixels.size(); i += 4) {
    for (int c = 0; c < 3; ++c) image.pixels[i + c] = to_byte(image.pixels[i + c] * (image.pixels[i + 3] / 255.0f));
  }
}

namespace {

// Scales image to scaled_width x scaled_height and keeps the window of out_width x out_height
// at (left, top) of the scaled image.
Image resize_window(const Image& image, int scaled_width, int scaled_height, int left, int top, int out_width,
                    int out_height) {
  std::vector<AxisTap> x_taps = axis_taps(image.width, scaled_width, left, out_width);
  std::vector<AxisTap> y_taps = axis_taps(image.height, scaled_height, top, out_height);
  const int channels = image.channels;

  // Horizontal pass over every input row, then the vertical pass.
  std::vector<float> rows(static_cast<size_t>(image.height) * out_width * channels);
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < out_width; ++x) {
      const AxisTap& tap = x_taps[static_cast<size_t>(x)];
      float* out = &rows[(static_cast<size_t>(y) * out_width + x) * channels];
      for (int c = 0; c < channels; ++c) out[c] = 0.0f;
      for (size_t k = 0; k < tap.weights.size(); ++k) {
        const uint8_t* in = &image.pixels[(static_cast<size_t>(y) * image.width + tap.first + k) * channels];
        // RGBA is filtered premultiplied: a transparent pixel adds nothing to its neighbours' color.
        const float alpha = channels == 4 ? in[3] / 255.0f : 1.0f;
        for (int c = 0; c < channels; ++c) out[c] += tap.weights[k] * (c < 3 ? in[c] * alpha : in[c]);
      }
    }
  }
  Image result(out_width, out_height, channels);
  std::vector<float> accumulator(static_cast<size_t>(channels));
  for (int y = 0; y < out_height; ++y) {
    const AxisTap& tap = y_taps[static_cast<size_t>(y)];
    for (int x = 0; x < out_width; ++x) {
      std::fill(accumulator.begin(), accumulator.end(), 0.0f);
      for (size_t k = 0; k < tap.weights.size(); ++k) {
        const float* in = &rows[((tap.first + k) * out_width + x) * channels];
        for (int c = 0; c < channels; ++c) accumulator[static_cast<size_t>(c)] += tap.weights[k] * in[c];
      }
      if (channels == 4) {
        const float alpha = accumulator[3] / 255.0f;
        for (int c = 0; c < 3; ++c) accumulator[static_cast<size_t>(c)] = alpha > 0 ? accumulator[static_cast<size_t>(c)] / alpha : 0.0f;
      }
      for (int c = 0; c < channels; ++c) result.at(x, y, c) = to_byte(accumulator[static_cast<size_t>(c)]);
    }
  }
  return result;
}

}  // namespace

Image resize_center_crop(const Image& image, int size) {
  check_image(image, "resize_center_crop");
  check_input(size > 0, "resize_center_crop: size must be positive, got " + std::to_string(size));
  int scaled_width = size;
  int scaled_height = size;
  if (image.width < image.height) {
    scaled_height = static_cast<int>(static_cast<int64_t>(size) * image.height / image.width);
  } else if (image.height < image.width) {
    scaled_width = static_cast<int>(static_cast<int64_t>(size) * image.width / image.height);
  }
  int left = static_cast<int>(std::nearbyint((scaled_width - size) / 2.0));
  int top = static_cast<int>(std::nearbyint((scaled_height - size) / 2.0));
  return resize_window(image, scaled_width, scaled_height, left, top, size, size);
}

Image resize_image(const Image& image, int width, int height) {
  check_image(image, "resize_image");
  check_input(width > 0 && height > 0, "resize_image: size must be positive, got " + std::to_string(width) + "x" +
                                           std::to_string(height));
  return resize_window(image, width, height, 0, 0, width, height);
}

}  // namespace latentkit
