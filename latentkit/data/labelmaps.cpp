#include "latentkit/data/labelmaps.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "latentkit/core/error.h"
#include "latentkit/core/grid.h"

namespace latentkit {
namespace {

std::string hex(const std::array<uint8_t, 4>& c, bool alpha) {
  char buf[16];
  if (alpha) std::snprintf(buf, sizeof buf, "#%02x%02x%02x%02x", c[0], c[1], c[2], c[3]);
  else std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c[0], c[1], c[2]);
  return buf;
}

std::array<uint8_t, 4> rgb(uint32_t v) {
  return {static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v), 255};
}

MapPalette make_palette(std::string name, const std::vector<std::pair<std::string, std::array<uint8_t, 4>>>& entries) {
  MapPalette p;
  p.name = std::move(name);
  for (const auto& [n, c] : entries) {
    p.class_names.push_back(n);
    p.colors.push_back(c);
  }
  return p;
}

}  // namespace

std::string MapPalette::describe() const {
  std::string s;
  for (size_t i = 0; i < colors.size(); ++i) {
    s += (i ? ", " : "") + std::to_string(i) + " " + class_names[i] + " " +
         (colors[i][3] == 0 ? std::string("transparent") : hex(colors[i], false));
  }
  return s;
}

const std::vector<std::string>& map_palette_names() {
  static const std::vector<std::string> names{"scenes", "regions"};
  return names;
}

const MapPalette& map_palette(const std::string& name) {
  static const MapPalette scenes = make_palette(
      "scenes", {{"background", rgb(0x000000)}, {"square", rgb(0xff0000)}, {"circle", rgb(0x00ff00)}, {"triangle", rgb(0x0000ff)}});
  static const MapPalette regions = make_palette(
      "regions", {{"transparent", {0, 0, 0, 0}}, {"black", rgb(0x212121)}, {"gray", rgb(0x9e9e9e)}, {"white", rgb(0xfafafa)},
                  {"yellow", rgb(0xfdd835)}, {"orange", rgb(0xfb8c00)}, {"red", rgb(0xe53935)}, {"pink", rgb(0xf48fb1)},
                  {"purple", rgb(0x8e24aa)}, {"blue", rgb(0x1e88e5)}, {"green", rgb(0x43a047)}, {"brown", rgb(0x6d4c41)},
                  {"tan", rgb(0xc68642)}, {"beige", rgb(0xf2cfa5)}});
  if (name == "scenes") return scenes;
  if (name == "regions") return regions;
  throw Error("unknown label-map palette '" + name + "' (expected scenes or regions)");
}

torch::Tensor region_maps(const torch::Tensor& images) {
  check_input(images.dim() == 4 && images.is_floating_point(), "region maps: expected float images [N, C, H, W]");
  const int64_t c = images.size(1);
  check_input(c == 1 || c == 3 || c == 4, "region maps: expected 1, 3 or 4 channels");
  torch::Tensor u = (images.to(torch::kFloat32) + 1) / 2;
  torch::Tensor color = c == 1 ? u.expand({-1, 3, -1, -1}) : u.slice(1, 0, 3);
  torch::Tensor alpha = c == 4 ? u.slice(1, 3, 4) : torch::ones_like(u.slice(1, 0, 1));
  color = color / alpha.clamp_min(1e-3);  // un-premultiply
  const MapPalette& p = map_palette("regions");
  torch::Tensor centres = torch::empty({p.size() - 1, 3});
  for (int64_t k = 1; k < p.size(); ++k) {
    for (int64_t j = 0; j < 3; ++j) centres[k - 1][j] = p.colors[static_cast<size_t>(k)][static_cast<size_t>(j)] / 255.0;
  }
  torch::Tensor lab = srgb_to_lab(color.permute({0, 2, 3, 1}));                      // [N, H, W, 3]
  torch::Tensor d = (lab.unsqueeze(3) - srgb_to_lab(centres).view({1, 1, 1, -1, 3})).square().sum(-1);
  torch::Tensor nearest = d.argmin(-1) + 1;
  return torch::where(alpha.squeeze(1) < 0.5, torch::zeros_like(nearest), nearest).to(torch::kUInt8);
}

void ensure_maps(Dataset& data) {
  if (data.maps.defined()) return;
  check_input(data.channels() >= 3, data.spec + " is gray and has no label maps of its own: mask-to-image needs "
                                               "shapes-scenes or color data (its region maps)");
  std::vector<torch::Tensor> parts;
  for (int64_t i = 0; i < data.size(); i += 512) {
    parts.push_back(region_maps(normalize_images(data.images.slice(0, i, std::min(i + 512, data.size())))));
  }
  data.maps = torch::cat(parts);
  data.map_palette = "regions";
}

torch::Tensor map_images(const torch::Tensor& maps, const MapPalette& palette) {
  check_input(maps.dim() == 3, "label maps: expected [N, H, W]");
  torch::Tensor table = torch::empty({palette.size(), 4});
  for (int64_t k = 0; k < palette.size(); ++k) {
    for (int64_t j = 0; j < 4; ++j) table[k][j] = palette.colors[static_cast<size_t>(k)][static_cast<size_t>(j)] / 127.5 - 1;
  }
  torch::Tensor ids = maps.to(torch::kInt64);
  check_input(ids.numel() == 0 || ids.max().item<int64_t>() < palette.size(),
              "label maps: a class id is outside the " + palette.name + " palette");
  return table.index({ids}).permute({0, 3, 1, 2}).contiguous();
}

torch::Tensor one_hot_maps(const torch::Tensor& maps, int64_t classes) {
  check_input(maps.dim() == 3, "label maps: expected [N, H, W]");
  torch::Tensor ids = maps.to(torch::kInt64);
  check_input(ids.numel() == 0 || ids.max().item<int64_t>() < classes,
              "label maps: a class id is " + std::to_string(ids.max().item<int64_t>()) + " but the model knows " +
                  std::to_string(classes) + " classes");
  return torch::one_hot(ids, classes).permute({0, 3, 1, 2}).to(torch::kFloat32).contiguous();
}

torch::Tensor map_from_image(const Image& image, const MapPalette& palette, const std::string& source) {
  check_input(image.channels == 3 || image.channels == 4,
              source + ": a label map must be an RGB or RGBA PNG in the palette's colors (" + palette.describe() + ")");
  torch::Tensor map = torch::empty({image.height, image.width}, torch::kUInt8);
  uint8_t* out = map.data_ptr<uint8_t>();
  int transparent = -1;
  for (size_t k = 0; k < palette.colors.size(); ++k) {
    if (palette.colors[k][3] == 0) transparent = static_cast<int>(k);
  }
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      std::array<uint8_t, 4> px{image.at(x, y, 0), image.at(x, y, 1), image.at(x, y, 2),
                                static_cast<uint8_t>(image.channels == 4 ? image.at(x, y, 3) : 255)};
      int found = px[3] == 0 ? transparent : -1;
      for (size_t k = 0; found < 0 && k < palette.colors.size(); ++k) {
        if (palette.colors[k] == px) found = static_cast<int>(k);
      }
      check_input(found >= 0, source + ": pixel (" + std::to_string(x) + ", " + std::to_string(y) + ") is " +
                                  hex(px, image.channels == 4) + ", not a color of the " + palette.name +
                                  " palette; the valid colors are: " + palette.describe() +
                                  (transparent >= 0 ? " (any pixel with alpha 0 is transparent)" : ""));
      out[static_cast<size_t>(y) * image.width + x] = static_cast<uint8_t>(found);
    }
  }
  return map;
}

torch::Tensor read_label_map(const std::string& path, const MapPalette& palette, int64_t size) {
  Image image = read_image(path);
  check_input(size == 0 || (image.width == size && image.height == size),
              path + " is " + std::to_string(image.width) + "x" + std::to_string(image.height) + " but the model draws " +
                  std::to_string(size) + "x" + std::to_string(size) + ": give a map of that size");
  return map_from_image(image, palette, path);
}

void write_label_map(const std::string& path, const torch::Tensor& map, const MapPalette& palette) {
  check_input(map.dim() == 2, "label map: expected [H, W]");
  torch::Tensor ids = map.to(torch::kInt64).contiguous();
  Image image(static_cast<int>(ids.size(1)), static_cast<int>(ids.size(0)), 4);
  const int64_t* p = ids.data_ptr<int64_t>();
  for (int64_t i = 0; i < ids.numel(); ++i) {
    check_input(p[i] >= 0 && p[i] < palette.size(), "label map: class id " + std::to_string(p[i]) + " is outside the " +
                                                        palette.name + " palette");
    for (size_t j = 0; j < 4; ++j) image.pixels[static_cast<size_t>(i) * 4 + j] = palette.colors[static_cast<size_t>(p[i])][j];
  }
  write_png(path, image);
}

torch::Tensor resize_maps(const torch::Tensor& maps, int64_t size) {
  check_input(maps.dim() == 3, "label maps: expected [N, H, W]");
  if (maps.size(1) == size && maps.size(2) == size) return maps;
  torch::Tensor f = maps.unsqueeze(1).to(torch::kFloat32);
  return torch::upsample_nearest2d(f, {size, size}).squeeze(1).to(maps.scalar_type());
}

double mean_iou(const torch::Tensor& predicted, const torch::Tensor& truth, int64_t classes, std::vector<double>* per_class) {
  check_input(predicted.sizes() == truth.sizes(), "mIoU: predicted and true maps differ in shape");
  torch::Tensor p = predicted.to(torch::kInt64).flatten(), t = truth.to(torch::kInt64).flatten();
  check_input(p.numel() == 0 || (p.max().item<int64_t>() < classes && t.max().item<int64_t>() < classes),
              "mIoU: a class id is outside 0.." + std::to_string(classes - 1));
  torch::Tensor confusion = torch::bincount(t * classes + p, {}, classes * classes).view({classes, classes}).to(torch::kFloat64);
  torch::Tensor inter = confusion.diagonal();
  torch::Tensor uni = confusion.sum(0) + confusion.sum(1) - inter;
  double sum = 0;
  int64_t present = 0;
  if (per_class) per_class->assign(static_cast<size_t>(classes), std::numeric_limits<double>::quiet_NaN());
  for (int64_t k = 0; k < classes; ++k) {
    const double u = uni[k].item<double>();
    if (u == 0) continue;
    const double iou = inter[k].item<double>() / u;
    if (per_class) (*per_class)[static_cast<size_t>(k)] = iou;
    sum += iou;
    ++present;
  }
  check_input(present > 0, "mIoU: no pixels");
  return sum / static_cast<double>(present);
}

}  // namespace latentkit
