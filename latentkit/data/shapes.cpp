#include "latentkit/data/shapes.h"

#include <array>
#include <cmath>
#include <cstring>
#include <random>
#include <string>

#include "latentkit/core/error.h"

namespace latentkit {
namespace {

constexpr double kPi = 3.14159265358979323846;

std::array<uint8_t, 3> hue_to_rgb(double hue) {
  const double h = (hue - std::floor(hue)) * 6.0;
  const int sector = static_cast<int>(h) % 6;
  const double f = h - std::floor(h);
  double r = 0, g = 0, b = 0;
  switch (sector) {
    case 0: r = 1; g = f; b = 0; break;
    case 1: r = 1 - f; g = 1; b = 0; break;
    case 2: r = 0; g = 1; b = f; break;
    case 3: r = 0; g = 1 - f; b = 1; break;
    case 4: r = f; g = 0; b = 1; break;
    default: r = 1; g = 0; b = 1 - f; break;
  }
  auto to_byte = [](double v) { return static_cast<uint8_t>(std::lround(v * 255.0)); };
  return {to_byte(r), to_byte(g), to_byte(b)};
}

// Point in the shape's own frame: origin at its centre, y pointing up, unrotated.
bool inside(ShapeKind kind, double lx, double ly, double half) {
  switch (kind) {
    case ShapeKind::kSquare:
      return std::abs(lx) <= half && std::abs(ly) <= half;
    case ShapeKind::kCircle:
      return lx * lx + ly * ly <= half * half;
    case ShapeKind::kTriangle: {
      // Vertex up at 90 degrees; each edge lies at the inradius (half the circumradius)
      // along the outward normal opposite a vertex: 270, 30 and 150 degrees.
      const double inradius = half * 0.5;
      const double c = std::sqrt(3.0) / 2.0;
      return -ly <= inradius && (c * lx + 0.5 * ly) <= inradius &&
             (-c * lx + 0.5 * ly) <= inradius;
    }
  }
  return false;
}

// out: uint8 [3, size, size], already zero; map (optional): uint8 [size, size], where each pixel
// the shape covers is set to map_value.
void draw_shape(const ShapeFactors& f, int size, uint8_t* out, uint8_t* map = nullptr, uint8_t map_value = 0) {
  const std::array<uint8_t, 3> rgb = hue_to_rgb(f.hue);
  const double cos_r = std::cos(static_cast<double>(f.rotation));
  const double sin_r = std::sin(static_cast<double>(f.rotation));
  const double half = 0.5 * f.scale;
  const size_t plane = static_cast<size_t>(size) * size;
  for (int py = 0; py < size; ++py) {
    // Screen y grows downwards; the shape frame's y grows upwards.
    const double dy = static_cast<double>(f.y) - (py + 0.5) / size;
    for (int px = 0; px < size; ++px) {
      const double dx = (px + 0.5) / size - static_cast<double>(f.x);
      // Undo the shape's counter-clockwise rotation.
      const double lx = cos_r * dx + sin_r * dy;
      const double ly = -sin_r * dx + cos_r * dy;
      if (!inside(f.shape, lx, ly, half)) continue;
      const size_t at = static_cast<size_t>(py) * size + px;
      out[at] = rgb[0];
      out[plane + at] = rgb[1];
      out[2 * plane + at] = rgb[2];
      if (map) map[at] = map_value;
    }
  }
}

// The top 53 bits of a mt19937_64 draw, which the C++ standard fixes bit for bit, unlike
// std::uniform_real_distribution; in [0, 1).
double uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0);
}

double uniform(std::mt19937_64& rng, double lo, double hi) {
  return lo + (hi - lo) * uniform01(rng);
}

}  // namespace

torch::Tensor render_shape(const ShapeFactors& factors, int size) {
  check_input(size > 0, "shapes: image size must be positive, got " + std::to_string(size));
  torch::Tensor out = torch::zeros({3, size, size}, torch::kUInt8);
  draw_shape(factors, size, out.data_ptr<uint8_t>());
  return out;
}

Dataset make_shapes(int64_t count, int size, uint64_t seed) {
  check_input(count > 0, "shapes: image count must be positive, got " + std::to_string(count));
  check_input(size > 0, "shapes: image size must be positive, got " + std::to_string(size));
  Dataset data;
  data.images = torch::zeros({count, 3, size, size}, torch::kUInt8);
  data.labels = torch::empty({count}, torch::kInt64);
  data.factors = torch::empty({count, 6}, torch::kFloat32);
  data.class_names = {"square", "circle", "triangle"};
  data.factor_names = {"shape", "scale", "x", "y", "rotation", "hue"};

  std::mt19937_64 rng(seed);
  uint8_t* images = data.images.data_ptr<uint8_t>();
  int64_t* labels = data.labels.data_ptr<int64_t>();
  float* factors = data.factors.data_ptr<float>();
  const size_t image_bytes = 3 * static_cast<size_t>(size) * size;
  for (int64_t i = 0; i < count; ++i) {
    ShapeFactors f;
    // 2^64 mod 3 is 1, so the modulo bias is 2^-64: immaterial.
    f.shape = static_cast<ShapeKind>(rng() % 3);
    f.scale = static_cast<float>(uniform(rng, 0.2, 0.5));
    // Half the diagonal of a square: the widest any shape reaches from its centre.
    const double margin = f.scale * std::sqrt(0.5);
    f.x = static_cast<float>(uniform(rng, margin, 1.0 - margin));
    f.y = static_cast<float>(uniform(rng, margin, 1.0 - margin));
    f.rotation = static_cast<float>(uniform(rng, 0.0, 2.0 * kPi));
    f.hue = static_cast<float>(uniform01(rng));
    draw_shape(f, size, images + i * image_bytes);
    labels[i] = static_cast<int64_t>(f.shape);
    float* row = factors + 6 * i;
    row[0] = static_cast<float>(f.shape);
    row[1] = f.scale;
    row[2] = f.x;
    row[3] = f.y;
    row[4] = f.rotation;
    row[5] = f.hue;
  }
  return data;
}

Dataset make_shape_scenes(int64_t count, int size, uint64_t seed) {
  check_input(count > 0, "shapes-scenes: image count must be positive, got " + std::to_string(count));
  check_input(size > 0, "shapes-scenes: image size must be positive, got " + std::to_string(size));
  Dataset data;
  data.images = torch::zeros({count, 3, size, size}, torch::kUInt8);
  data.maps = torch::zeros({count, size, size}, torch::kUInt8);
  data.map_palette = "scenes";
  data.labels = torch::empty({count}, torch::kInt64);
  std::mt19937_64 rng(seed);
  const size_t plane = static_cast<size_t>(size) * size;
  for (int64_t i = 0; i < count; ++i) {
    const int shapes = 2 + static_cast<int>(rng() % 3);
    for (int k = 0; k < shapes; ++k) {
      ShapeFactors f;
      f.shape = static_cast<ShapeKind>(rng() % 3);
      f.scale = static_cast<float>(uniform(rng, 0.2, 0.45));
      f.x = static_cast<float>(uniform(rng, 0.1, 0.9));
      f.y = static_cast<float>(uniform(rng, 0.1, 0.9));
      f.rotation = static_cast<float>(uniform(rng, 0.0, 2.0 * kPi));
      f.hue = static_cast<float>(uniform01(rng));
      draw_shape(f, size, data.images.data_ptr<uint8_t>() + 3 * plane * i, data.maps.data_ptr<uint8_t>() + plane * i,
                 static_cast<uint8_t>(static_cast<int>(f.shape) + 1));
    }
    data.labels.data_ptr<int64_t>()[i] = shapes;
  }
  return data;
}

}  // namespace latentkit
