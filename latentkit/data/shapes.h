#pragma once
// Procedural shapes with exactly known factors (like dSprites, in colour).
#include <cstdint>
#include <vector>

#include "latentkit/data/dataset.h"

namespace latentkit {

enum class ShapeKind : int { kSquare = 0, kCircle = 1, kTriangle = 2 };

/// The factors of one image. Coordinates are in units of the image side.
struct ShapeFactors {
  ShapeKind shape = ShapeKind::kSquare;
  float scale = 0.5f;     // side (square), diameter (circle), circumscribed diameter (triangle) / image side, 0.2..0.5
  float x = 0.5f;         // centre, 0..1 from the left edge
  float y = 0.5f;         // centre, 0..1 from the top edge
  float rotation = 0.f;   // radians, 0..2*pi, counter-clockwise on screen (no effect on a circle)
  float hue = 0.f;        // 0..1 (HSV hue at full saturation and value)
};

/// Draws one shape on a black background: float [3, size, size] in [0, 255] as uint8.
/// A pixel is lit when its centre lies inside the shape (no anti-aliasing), so tests can
/// predict exactly which pixels are set.
torch::Tensor render_shape(const ShapeFactors& factors, int size);

/// Draws `count` images with factors sampled uniformly (centre kept scale * sqrt(2) / 2
/// from every edge, so no shape at any rotation is clipped and the position range does not
/// depend on the shape), deterministic by seed on every platform; the first k images do not
/// depend on count. factors columns: shape, scale, x, y, rotation, hue.
Dataset make_shapes(int64_t count, int size, uint64_t seed);

/// Scenes: 2 to 4 shapes per image (each kind, size 0.2..0.45, centre anywhere in 0.1..0.9 so
/// shapes overlap and may run off the edge, any rotation and hue; later shapes on top) on
/// black, with the exact per-pixel class map drawn by the same code: maps uint8 [N, H, W],
/// 0 background, 1 square, 2 circle, 3 triangle (map_palette("scenes")). labels hold the
/// number of shapes; deterministic by seed as make_shapes is.
Dataset make_shape_scenes(int64_t count, int size, uint64_t seed);

}  // namespace latentkit
