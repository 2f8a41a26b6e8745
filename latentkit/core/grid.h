#pragma once
// Tensors of images to 8-bit pictures and grids of them.
#include <torch/torch.h>

#include "latentkit/core/image.h"

namespace latentkit {

/// image: [C, H, W] float in [-1, 1] (C = 1 or 3); values outside are clamped.
Image tensor_to_image(const torch::Tensor& image);
/// Returns [C, H, W] float in [-1, 1].
torch::Tensor image_to_tensor(const Image& image);
/// images: [N, C, H, W] in [-1, 1]. Lays them out `columns` per row (0 = ceil(sqrt(N)))
/// with `padding` pixels of `pad_value` (0..255) between and around them.
Image make_grid(const torch::Tensor& images, int columns = 0, int padding = 2, uint8_t pad_value = 255);

}  // namespace latentkit
