#pragma once
// Label maps: one class per pixel, the condition of mask-to-image models (SPADE) and the
// target of segmenters. In memory a map is uint8 [N, H, W] (or [H, W]); on disk it is an RGBA
// PNG in its palette's colors, one color per class, so a person can paint one.
//
// Palettes (docs/data.md lists their colors):
//   scenes   background, square, circle, triangle: shapes-scenes' exact maps
//   regions  transparent plus 13 named colors: any color image quantized, each opaque pixel
//            to the nearest palette color in CIELAB (emoji are flat-colored, so the map
//            is near exact)
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "latentkit/core/image.h"
#include "latentkit/data/dataset.h"

namespace latentkit {

struct MapPalette {
  std::string name;
  std::vector<std::string> class_names;
  std::vector<std::array<uint8_t, 4>> colors;  // RGBA per class; alpha is 255, or 0 for "transparent"
  int64_t size() const { return static_cast<int64_t>(colors.size()); }
  /// "0 background #000000, 1 square #ff0000, ..." for help text and errors.
  std::string describe() const;
};

/// The palette of that name (scenes, regions); another name is an Error listing them.
const MapPalette& map_palette(const std::string& name);
const std::vector<std::string>& map_palette_names();

/// Region maps of images [N, C, H, W] in [-1, 1] (RGB, or RGBA premultiplied; gray is
/// quantized as RGB): alpha under 0.5 is class 0 (transparent), every other pixel the
/// nearest regions color to its own (un-premultiplied) color in CIELAB (srgb_to_lab,
/// core/grid.h). uint8 [N, H, W].
torch::Tensor region_maps(const torch::Tensor& images);

/// The maps of a dataset: its own (shapes-scenes) or, for color data, region_maps. Sets
/// data.maps and data.map_palette; gray data with no maps of its own is an Error.
void ensure_maps(Dataset& data);

/// Maps uint8 or int64 [N, H, W] -> their palette colors as images, float [N, 4, H, W] in
/// [-1, 1] (premultiplied, so a transparent class is all -1), ready for grids and PNGs.
torch::Tensor map_images(const torch::Tensor& maps, const MapPalette& palette);
/// Maps [N, H, W] -> float one-hot [N, K, H, W] (what SPADE and pix2pix take). A class id of
/// K or more is an Error.
torch::Tensor one_hot_maps(const torch::Tensor& maps, int64_t classes);

/// An RGBA (or RGB) image in palette colors -> uint8 [H, W]. Every pixel with alpha 0 is the
/// transparent class when the palette has one. A color outside the palette is an Error
/// naming `source`, the pixel and the valid colors.
torch::Tensor map_from_image(const Image& image, const MapPalette& palette, const std::string& source);
/// Reads a map PNG of size x size (0: any size); a wrong size is an Error saying both sizes.
torch::Tensor read_label_map(const std::string& path, const MapPalette& palette, int64_t size = 0);
/// Writes map [H, W] as an RGBA PNG in palette colors, atomically.
void write_label_map(const std::string& path, const torch::Tensor& map, const MapPalette& palette);

/// Nearest-neighbour resize of maps [N, H, W] to size x size (map classes are not blended).
torch::Tensor resize_maps(const torch::Tensor& maps, int64_t size);

/// Mean intersection over union of predicted and true maps (same shape, ids < classes), as
/// Cityscapes scores it: intersections and unions summed over all pixels of all images per
/// class, then averaged over the classes that occur in either. per_class gets each class's
/// IoU (NaN where the class occurs in neither) when given.
double mean_iou(const torch::Tensor& predicted, const torch::Tensor& truth, int64_t classes,
                std::vector<double>* per_class = nullptr);

}  // namespace latentkit
