#include "latentkit/core/grid.h"

#include <cmath>
#include <cstring>
#include <sstream>

#include "latentkit/core/error.h"

namespace latentkit {
namespace {

std::string shape_text(const torch::Tensor& tensor) {
  std::ostringstream text;
  text << tensor.sizes();
  return text.str();
}

// images: [..., C, H, W] in [-1, 1] -> [..., H, W, C] uint8, contiguous on the CPU.
torch::Tensor to_bytes_hwc(const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  torch::Tensor values = images.detach().to(torch::kCPU, torch::kFloat);
  values = torch::nan_to_num(values, 0.0, 1.0, -1.0).clamp(-1.0, 1.0);
  values = ((values + 1.0) * 127.5 + 0.5).floor().clamp(0.0, 255.0);
  int64_t dims = values.dim();
  std::vector<int64_t> order;
  for (int64_t d = 0; d < dims - 3; ++d) order.push_back(d);
  order.push_back(dims - 2);
  order.push_back(dims - 1);
  order.push_back(dims - 3);
  return values.permute(order).to(torch::kUInt8).contiguous();
}

// images [N, 4, H, W] premultiplied in [-1, 1] over background (broadcastable to [N, 3, H, W],
// in [-1, 1]) -> [N, 3, H, W].
torch::Tensor composite_onto(const torch::Tensor& images, const torch::Tensor& background) {
  check_input(images.dim() == 4 && images.size(1) == 4,
              "compositing needs RGBA images [N, 4, H, W], got shape " + shape_text(images));
  const torch::Tensor x = (images.to(torch::kFloat).clamp(-1.0, 1.0) + 1.0) / 2.0;
  const torch::Tensor alpha = x.slice(1, 3, 4);
  const torch::Tensor color = torch::minimum(x.slice(1, 0, 3), alpha);
  return (color + (1.0 - alpha) * (background + 1.0) / 2.0) * 2.0 - 1.0;
}

void check_channels(int64_t channels, const torch::Tensor& tensor, const char* what) {
  if (channels != 1 && channels != 3 && channels != 4) {
    throw Error(std::string(what) + ": expected 1, 3 or 4 channels, got shape " + shape_text(tensor),
                ErrorKind::kInternal);
  }
}

}  // namespace

Image tensor_to_image(const torch::Tensor& image) {
  if (!image.defined() || image.dim() != 3) {
    throw Error("tensor_to_image: expected a [C, H, W] tensor, got " +
                    (image.defined() ? "shape " + shape_text(image) : std::string("an empty tensor")),
                ErrorKind::kInternal);
  }
  check_channels(image.size(0), image, "tensor_to_image");
  if (image.size(1) == 0 || image.size(2) == 0) {
    throw Error("tensor_to_image: image has no pixels, shape " + shape_text(image),
                ErrorKind::kInternal);
  }
  torch::Tensor bytes = to_bytes_hwc(image.size(0) == 4 ? unpremultiply(image) : image);
  Image result(static_cast<int>(image.size(2)), static_cast<int>(image.size(1)),
               static_cast<int>(image.size(0)));
  std::memcpy(result.pixels.data(), bytes.data_ptr<uint8_t>(), result.pixels.size());
  return result;
}

torch::Tensor image_to_tensor(const Image& image) {
  size_t expected = static_cast<size_t>(image.width) * image.height * image.channels;
  if (image.width <= 0 || image.height <= 0 || image.channels <= 0 ||
      image.pixels.size() != expected) {
    throw Error("image_to_tensor: inconsistent image " + std::to_string(image.width) + "x" +
                    std::to_string(image.height) + "x" + std::to_string(image.channels) +
                    " holding " + std::to_string(image.pixels.size()) + " bytes",
                ErrorKind::kInternal);
  }
  torch::Tensor bytes = torch::from_blob(const_cast<uint8_t*>(image.pixels.data()),
                                         {image.height, image.width, image.channels}, torch::kUInt8);
  torch::Tensor x = bytes.permute({2, 0, 1}).to(torch::kFloat) / 255.0;
  if (image.channels == 4) x = torch::cat({x.slice(0, 0, 3) * x.slice(0, 3, 4), x.slice(0, 3, 4)});
  return (x * 2.0 - 1.0).contiguous();
}

torch::Tensor composite_over(const torch::Tensor& images, Rgb background) {
  const torch::Tensor bg = torch::tensor({float(background.r), float(background.g), float(background.b)}).div(127.5).sub(1.0);
  return composite_onto(images, bg.view({1, 3, 1, 1}));
}

torch::Tensor luma(const torch::Tensor& rgb) {
  return (rgb * torch::tensor({0.299, 0.587, 0.114}, rgb.options()).view({1, 3, 1, 1})).sum(1, /*keepdim=*/true);
}

torch::Tensor unpremultiply(const torch::Tensor& images) {
  const int64_t dim = images.dim() - 3;
  check_input(dim >= 0 && images.size(dim) == 4,
              "unpremultiply: expected RGBA images [N, 4, H, W], got shape " + shape_text(images));
  const auto dtype = images.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat;
  const torch::Tensor x = (images.detach().to(dtype).clamp(-1.0, 1.0) + 1.0) / 2.0;
  const torch::Tensor alpha = x.narrow(dim, 3, 1);
  const torch::Tensor color = torch::where(alpha > 0, torch::minimum(x.narrow(dim, 0, 3), alpha) / alpha.clamp_min(1e-12), 0.0);
  return torch::cat({color, alpha}, dim) * 2.0 - 1.0;
}

torch::Tensor srgb_to_lab(const torch::Tensor& rgb) {
  check_input(rgb.dim() >= 1 && rgb.size(-1) == 3 && rgb.is_floating_point(),
              "srgb_to_lab: expected float colors [..., 3], got shape " + shape_text(rgb));
  const torch::Tensor c = rgb.clamp(0, 1);
  const torch::Tensor lin = torch::where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055).pow(2.4));
  const auto options = torch::TensorOptions().dtype(c.scalar_type());
  const torch::Tensor m = torch::tensor({0.4124564, 0.3575761, 0.1804375,  //
                                         0.2126729, 0.7151522, 0.0721750,  //
                                         0.0193339, 0.1191920, 0.9503041},
                                        options)
                              .view({3, 3});
  const torch::Tensor xyz = torch::matmul(lin, m.t()) / torch::tensor({0.95047, 1.0, 1.08883}, options);
  const double e = std::pow(6.0 / 29.0, 3), k = 1.0 / (3 * std::pow(6.0 / 29.0, 2));
  const torch::Tensor f = torch::where(xyz > e, xyz.clamp_min(1e-12).pow(1.0 / 3.0), xyz * k + 4.0 / 29.0);
  const torch::Tensor fx = f.select(-1, 0), fy = f.select(-1, 1), fz = f.select(-1, 2);
  return torch::stack({116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)}, -1);
}

torch::Tensor composite_over_checkerboard(const torch::Tensor& images, int64_t cell) {
  const int64_t h = images.size(2), w = images.size(3);
  const torch::Tensor ys = torch::arange(h).div(cell, "floor").view({h, 1});
  const torch::Tensor xs = torch::arange(w).div(cell, "floor").view({1, w});
  // Light squares 255, dark 204 (0.6 in [-1, 1]): the editors' transparency pattern.
  const torch::Tensor board = torch::where((ys + xs).remainder(2) == 0, 1.0, 0.6).to(torch::kFloat);
  return composite_onto(images, board.view({1, 1, h, w}));
}

Image make_grid(const torch::Tensor& images, int columns, int padding, uint8_t pad_value) {
  if (!images.defined() || images.dim() != 4) {
    throw Error("make_grid: expected an [N, C, H, W] tensor, got " +
                    (images.defined() ? "shape " + shape_text(images) : std::string("an empty tensor")),
                ErrorKind::kInternal);
  }
  if (images.size(1) == 4) return make_grid(composite_over_checkerboard(images), columns, padding, pad_value);
  int64_t count = images.size(0);
  int64_t channels = images.size(1);
  int64_t height = images.size(2);
  int64_t width = images.size(3);
  check_channels(channels, images, "make_grid");
  check_input(count > 0 && height > 0 && width > 0,
              "make_grid: no images to lay out, shape " + shape_text(images));
  check_input(columns >= 0, "make_grid: columns must be >= 0, got " + std::to_string(columns));
  check_input(padding >= 0, "make_grid: padding must be >= 0, got " + std::to_string(padding));
  if (columns == 0) columns = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(count))));
  int64_t grid_columns = std::min<int64_t>(columns, count);
  int64_t grid_rows = (count + grid_columns - 1) / grid_columns;
  int64_t cell_width = width + padding;
  int64_t cell_height = height + padding;

  Image grid(static_cast<int>(cell_width * grid_columns + padding),
             static_cast<int>(cell_height * grid_rows + padding), static_cast<int>(channels),
             pad_value);
  torch::Tensor bytes = to_bytes_hwc(images);
  const uint8_t* source = bytes.data_ptr<uint8_t>();
  size_t tile_row_bytes = static_cast<size_t>(width * channels);
  for (int64_t n = 0; n < count; ++n) {
    int64_t left = (n % grid_columns) * cell_width + padding;
    int64_t top = (n / grid_columns) * cell_height + padding;
    for (int64_t y = 0; y < height; ++y) {
      const uint8_t* row = source + ((n * height + y) * width) * channels;
      std::memcpy(&grid.at(static_cast<int>(left), static_cast<int>(top + y), 0), row, tile_row_bytes);
    }
  }
  return grid;
}

}  // namespace latentkit
