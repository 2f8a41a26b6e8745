#pragma once
// Edits along feature axes, and how disentangled they are: the edit matrix, the change of
// every feature when latents move along each axis.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "latentkit/core/image.h"
#include "latentkit/models/generator.h"
#include "latentkit/steer/axes.h"
#include "latentkit/steer/probe.h"

namespace latentkit {

struct EditMatrixOptions {
  int64_t n = 256;       // latents moved per axis
  double step = 1.5;     // latent units moved along each axis
  uint64_t seed = 4242;  // of the latents
  int64_t batch = 256;
  // false: from z to z + step (z from the prior). true: from z - step/2 to z + step/2, the
  // linear part of the effect: a feature that bends the same way on both sides of z (a
  // colour that changes whichever way the shape moves) cancels out.
  bool centred = false;
  // 0: the disentangled matrix moves in straight lines along directions projected off the
  // other axes (TL-GAN's lock). N > 0: it follows a path of N pieces, each projected off the
  // gradients of the locked features at the current latents (see follow_locked).
  int follow = 0;
};

/// effect[i][j]: the mean change of feature j when n latents z from the prior move by step
/// along axis i (see centred), in units of feature j's standard deviation over the images
/// of the z. An axis's target
/// is the feature of the same name (none for principal directions); its leakage is the
/// largest |effect| on another target feature of the matrix over |effect| on its own.
struct EditMatrix {
  std::vector<std::string> axes;      // rows
  std::vector<std::string> features;  // columns (slugs)
  std::vector<std::vector<double>> effect;
  std::vector<int> target;         // per row: column of its target feature, -1 when none
  std::vector<double> leakage;     // per row; NaN when the axis has no target
  std::vector<std::string> worst;  // per row: the feature with the largest leakage
};

/// rows: the axes to move (indices into set). disentangle: move each along its direction
/// projected off the span of the other rows (every other axis locked), as TL-GAN's
/// locking does; else along the directions as fitted.
EditMatrix edit_matrix(Generator& generator, const AxisSet& set, ImageScorer& scorer, const std::vector<size_t>& rows,
                       bool disentangle, const EditMatrixOptions& options);

/// A way through latent space that holds some features where they are (follow_locked).
struct LockedPath {
  torch::Tensor direction;       // [D]: the way to go when target is -1
  int64_t target = -1;           // scorer column whose gradient leads the way (-1: direction)
  std::vector<int64_t> locked;   // scorer columns held by their gradients
  torch::Tensor fixed;           // [L, D] or undefined: held directions (features with no gradient)
  int pieces = 10;
};

/// The path of axis `axis` of a set with the `locked` axes held: each axis stands for the
/// scorer column of its name where that column has a gradient, else for its direction.
LockedPath locked_path(const AxisSet& set, const ImageScorer& scorer, size_t axis, const std::vector<size_t>& locked,
                       int pieces);

/// Moves latents z [N, D] by `amount` latent units in path.pieces equal pieces. Each piece
/// goes along the target column's gradient at the current latents (or path.direction),
/// projected off the gradients there of the locked columns and off the fixed directions,
/// scaled to the piece's length. The locked features so stay where they were along the
/// whole path, not only to first order at its start as a straight line would keep them;
/// the cost is a forward and a backward pass per locked feature for every piece. Where the
/// way lies in the locked span, the latent stays. A conditional generator draws latent i in
/// class labels[i] (int64 [N]; undefined: its default, the classes in turn per batch).
/// Returns float64 [N, D].
torch::Tensor follow_locked(Generator& generator, ImageScorer& scorer, const torch::Tensor& z, const LockedPath& path,
                            double amount, int64_t batch = 256, const torch::Tensor& labels = {});

nlohmann::json edit_matrix_to_json(const EditMatrix& m);
/// A heat map of the effects, leakage per row in its label.
Image render_edit_matrix(const EditMatrix& m, const std::string& title);

}  // namespace latentkit
