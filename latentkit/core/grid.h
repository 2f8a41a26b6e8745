#pragma once
// Tensors of images to 8-bit pictures and grids of them.
#include <torch/torch.h>

#include "latentkit/core/image.h"

namespace latentkit {

// Tensors of RGBA images are premultiplied: channel c in [-1, 1] holds 2 * color_c * alpha - 1,
// so a transparent pixel is (-1, -1, -1, -1) whatever color a file hid under it. Images
// (and PNG files) hold straight alpha.

/// image: [C, H, W] float in [-1, 1] (C = 1, 3 or 4); values outside are clamped. RGBA is
/// unpremultiplied (color clamped to alpha first).
Image tensor_to_image(const torch::Tensor& image);
/// Returns [C, H, W] float in [-1, 1], RGBA premultiplied.
torch::Tensor image_to_tensor(const Image& image);
/// images: [N, 4, H, W] premultiplied in [-1, 1] -> [N, 3, H, W] composited over background.
torch::Tensor composite_over(const torch::Tensor& images, Rgb background);
/// rgb: [N, 3, H, W] -> [N, 1, H, W], ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B), in the
/// input's value range and dtype (floating point); the weights convert_channels uses.
torch::Tensor luma(const torch::Tensor& rgb);
/// images: [4, H, W] or [N, 4, H, W] premultiplied in [-1, 1] -> straight alpha in [-1, 1]
/// (values outside clamped), each color clamped to its alpha first and -1 where alpha is 0:
/// the colors a PNG of them holds. float64 stays float64, anything else becomes float32.
torch::Tensor unpremultiply(const torch::Tensor& images);
/// sRGB [..., 3] in [0, 1] (values outside clamped) -> CIELAB [..., 3] (L*, a*, b*; D65 white,
/// the sRGB standard's matrix), in the input's floating dtype.
torch::Tensor srgb_to_lab(const torch::Tensor& rgb);
/// As composite_over, onto a light gray checkerboard of `cell`-pixel squares (how editors
/// show transparency).
torch::Tensor composite_over_checkerboard(const torch::Tensor& images, int64_t cell = 8);
/// images: [N, C, H, W] in [-1, 1]. Lays them out `columns` per row (0 = ceil(sqrt(N)))
/// with `padding` pixels of `pad_value` (0..255) between and around them. RGBA images are
/// shown on a checkerboard (the grid is RGB).
Image make_grid(const torch::Tensor& images, int columns = 0, int padding = 2, uint8_t pad_value = 255);

}  // namespace latentkit
