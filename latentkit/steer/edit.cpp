#include "latentkit/steer/edit.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "latentkit/core/error.h"
#include "latentkit/core/plot.h"
#include "latentkit/core/progress.h"

namespace latentkit {
namespace {

torch::Tensor decode_scores(Generator& generator, ImageScorer& scorer, const torch::Tensor& z, int64_t batch) {
  std::vector<torch::Tensor> parts;
  for (int64_t i = 0; i < z.size(0); i += batch) {
    torch::Tensor images = generator.decode(z.slice(0, i, std::min(z.size(0), i + batch)).to(torch::kFloat32));
    parts.push_back(scorer.score(images));
  }
  return torch::cat(parts);
}

// [B, K, D]: the gradient of each column with respect to each latent, as a unit vector
// (zero where it vanishes).
torch::Tensor unit_gradients(Generator& generator, ImageScorer& scorer, const torch::Tensor& z,
                               const std::vector<int64_t>& columns, const torch::Tensor& labels) {
  const int64_t b = z.size(0), d = z.size(1);
  if (columns.empty()) return torch::zeros({b, 0, d}, torch::kFloat64);
  torch::AutoGradMode grad_mode(true);
  torch::Tensor input = z.to(torch::kFloat32).detach().requires_grad_(true);
  torch::Tensor scores = scorer.score_graph(generator.decode(input, labels));
  std::vector<torch::Tensor> rows;
  for (size_t k = 0; k < columns.size(); ++k) {
    torch::Tensor total = scores.select(1, columns[k]).sum();
    torch::Tensor g;
    if (total.requires_grad()) {
      g = torch::autograd::grad({total}, {input}, {}, /*retain_graph=*/k + 1 < columns.size(), /*create_graph=*/false,
                                /*allow_unused=*/true)[0];
    }
    g = g.defined() ? g.to(torch::kFloat64) : torch::zeros({b, d}, torch::kFloat64);
    torch::Tensor norm = g.norm(2, 1, /*keepdim=*/true);
    rows.push_back(torch::where(norm > 1e-20, g / norm.clamp_min(1e-20), torch::zeros_like(g)));
  }
  return torch::stack(rows, 1);
}

}  // namespace

LockedPath locked_path(const AxisSet& set, const ImageScorer& scorer, size_t axis, const std::vector<size_t>& locked,
                       int pieces) {
  check_input(axis < set.axes.size(), "locked path: axis index out of range");
  auto gradient_column = [&](size_t a) -> int64_t {
    for (size_t c = 0; c < scorer.columns().size(); ++c) {
      if (axis_slug(scorer.columns()[c].label) == set.axes[a].name && scorer.has_gradient(c)) return static_cast<int64_t>(c);
    }
    return -1;
  };
  LockedPath path;
  path.direction = set.axes[axis].direction.to(torch::kFloat64);
  path.target = gradient_column(axis);
  path.pieces = pieces;
  std::vector<torch::Tensor> fixed;
  for (size_t a : locked) {
    check_input(a < set.axes.size(), "locked path: locked axis index out of range");
    if (a == axis) continue;
    const int64_t c = gradient_column(a);
    if (c >= 0) {
      path.locked.push_back(c);
    } else {
      fixed.push_back(set.axes[a].direction.to(torch::kFloat64));
    }
  }
  if (!fixed.empty()) path.fixed = torch::stack(fixed);
  return path;
}

torch::Tensor follow_locked(Generator& generator, ImageScorer& scorer, const torch::Tensor& z_in, const LockedPath& path,
                            double amount, int64_t batch, const torch::Tensor& labels) {
  check_input(path.pieces >= 1, "follow: needs at least 1 piece, got " + std::to_string(path.pieces));
  check_input(batch >= 1, "follow: batch must be at least 1");
  check_input(z_in.dim() == 2 && path.direction.numel() == z_in.size(1),
              "follow: latents [N, D] and a direction of D numbers expected, got " + c10::str(z_in.sizes()) + " and " +
                  c10::str(path.direction.sizes()));
  const int64_t n = z_in.size(0), d = z_in.size(1);
  check_input(!labels.defined() || (labels.dim() == 1 && labels.size(0) == n),
              "follow: one label per latent expected, got " + (labels.defined() ? c10::str(labels.sizes()) : "none"));
  const int64_t columns = static_cast<int64_t>(scorer.columns().size());
  check_input(path.target < columns, "follow: target column out of range");
  for (int64_t c : path.locked) check_input(c >= 0 && c < columns, "follow: locked column out of range");
  const torch::Tensor direction = path.direction.to(torch::kFloat64).reshape({d});
  const torch::Tensor fixed = path.fixed.defined() ? path.fixed.to(torch::kFloat64).reshape({-1, d})
                                                   : torch::zeros({0, d}, torch::kFloat64);
  std::vector<int64_t> wanted = path.locked;
  if (path.target >= 0) wanted.insert(wanted.begin(), path.target);
  const double length = amount / path.pieces;
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < n; i += batch) {
    torch::Tensor z = z_in.slice(0, i, std::min(n, i + batch)).to(torch::kFloat64).clone();
    const torch::Tensor l = labels.defined() ? labels.slice(0, i, std::min(n, i + batch)) : torch::Tensor();
    const int64_t b = z.size(0);
    for (int piece = 0; piece < path.pieces; ++piece) {
      torch::Tensor grads = unit_gradients(generator, scorer, z, wanted, l);  // [B, K, D]
      torch::Tensor v = direction.unsqueeze(0).expand({b, d});
      if (path.target >= 0) {
        v = grads.select(1, 0);
        grads = grads.slice(1, 1);
      }
      torch::Tensor span = torch::cat({grads, fixed.unsqueeze(0).expand({b, -1, -1})}, 1);  // [B, L, D]
      if (span.size(1) > 0) {
        // v - S^T (S S^T)^+ S v per latent: least squares, as lock_directions does globally.
        torch::Tensor gram = span.bmm(span.transpose(1, 2));
        torch::Tensor coefficients = torch::linalg_pinv(gram, 1e-10, /*hermitian=*/true).bmm(span.bmm(v.unsqueeze(2)));
        v = v - span.transpose(1, 2).bmm(coefficients).squeeze(2);
      }
      torch::Tensor norm = v.norm(2, 1, /*keepdim=*/true);
      v = torch::where(norm > 1e-6, v / norm.clamp_min(1e-6), torch::zeros_like(v));
      z = z + length * v;
    }
    out.push_back(z);
  }
  return torch::cat(out);
}

EditMatrix edit_matrix(Generator& generator, const AxisSet& set, ImageScorer& scorer, const std::vector<size_t>& rows,
                       bool disentangle, const EditMatrixOptions& o) {
  check_input(!rows.empty(), "edit matrix: no axes to move");
  for (size_t r : rows) {
    check_input(r < set.axes.size(), "edit matrix: axis index " + std::to_string(r) + " out of range (the set has " +
                                         std::to_string(set.axes.size()) + " axes)");
  }
  check_input(o.batch >= 1, "edit matrix: batch must be at least 1, got " + std::to_string(o.batch));
  check_input(o.n >= 2, "edit matrix: needs at least 2 latents per axis, got " + std::to_string(o.n));
  check_input(std::isfinite(o.step) && o.step != 0, "edit matrix: the step must be finite and non-zero");
  check_input(set.latent_dim == generator.latent_dim(),
              "the axes are for a " + std::to_string(set.latent_dim) + "-dim latent but the model's has " +
                  std::to_string(generator.latent_dim()));
  torch::NoGradGuard no_grad;
  EditMatrix m;
  for (const FeatureColumn& c : scorer.columns()) m.features.push_back(axis_slug(c.label));
  std::vector<std::string> names;
  for (const Axis& a : set.axes) names.push_back(a.name);
  torch::Tensor all = axis_matrix(set);
  std::vector<int64_t> picked(rows.begin(), rows.end());
  torch::Tensor directions = all.index_select(0, torch::tensor(picked, torch::kInt64));
  check_input(o.follow >= 0, "edit matrix: follow must be 0 (straight lines) or a number of pieces");
  const bool follow = disentangle && o.follow > 0;
  if (disentangle && !follow) {
    std::vector<std::string> row_names;
    for (size_t r : rows) row_names.push_back(names[r]);
    torch::Tensor locked_each = directions.clone();
    for (size_t i = 0; i < rows.size(); ++i) {
      std::vector<size_t> others;
      for (size_t j = 0; j < rows.size(); ++j) {
        if (j != i) others.push_back(j);
      }
      // Lock every other row, then read back row i of the result.
      locked_each[static_cast<int64_t>(i)] = lock_directions(directions, others, row_names)[static_cast<int64_t>(i)];
    }
    directions = locked_each;
  }
  torch::Generator rng = make_rng(o.seed);
  torch::Tensor z = generator.sample_latent(o.n, rng).to(torch::kFloat64);
  torch::Tensor base = decode_scores(generator, scorer, z, o.batch);
  torch::Tensor spread = base.std(0).clamp_min(1e-12);
  Progress progress(disentangle ? "edit matrix (disentangled)" : "edit matrix", static_cast<int64_t>(rows.size()));
  for (size_t i = 0; i < rows.size(); ++i) {
    const Axis& axis = set.axes[rows[i]];
    m.axes.push_back(axis.name);
    torch::Tensor change;
    if (follow) {
      std::vector<size_t> others;
      for (size_t r : rows) {
        if (r != rows[i]) others.push_back(r);
      }
      const LockedPath path = locked_path(set, scorer, rows[i], others, o.follow);
      auto moved = [&](double amount) {
        return decode_scores(generator, scorer, follow_locked(generator, scorer, z, path, amount, o.batch), o.batch);
      };
      change = o.centred ? moved(0.5 * o.step) - moved(-0.5 * o.step) : moved(o.step) - base;
    } else {
      const torch::Tensor move = o.step * directions[static_cast<int64_t>(i)];
      change = o.centred ? decode_scores(generator, scorer, z + 0.5 * move, o.batch) -
                               decode_scores(generator, scorer, z - 0.5 * move, o.batch)
                         : decode_scores(generator, scorer, z + move, o.batch) - base;
    }
    torch::Tensor effect = (change.mean(0) / spread).contiguous();
    m.effect.emplace_back(effect.data_ptr<double>(), effect.data_ptr<double>() + effect.numel());
    int target = -1;
    for (size_t j = 0; j < m.features.size(); ++j) {
      if (m.features[j] == axis.name) target = static_cast<int>(j);
    }
    m.target.push_back(target);
    progress.update(static_cast<int64_t>(i + 1), axis.name, static_cast<double>(o.n));
  }
  progress.finish(std::to_string(rows.size()) + " axes x " + std::to_string(o.n) + " latents");
  // Leakage counts only features that are some row's target: the factors under study.
  for (size_t i = 0; i < m.axes.size(); ++i) {
    double leak = std::numeric_limits<double>::quiet_NaN();
    std::string worst;
    if (m.target[i] >= 0) {
      const double own = std::abs(m.effect[i][static_cast<size_t>(m.target[i])]);
      leak = 0;
      for (size_t k = 0; k < m.axes.size(); ++k) {
        const int j = m.target[k];
        if (j < 0 || j == m.target[i]) continue;
        const double ratio = own > 0 ? std::abs(m.effect[i][static_cast<size_t>(j)]) / own
                                     : std::numeric_limits<double>::infinity();
        if (ratio > leak || worst.empty()) {
          leak = std::max(leak, ratio);
          worst = m.features[static_cast<size_t>(j)];
        }
      }
    }
    m.leakage.push_back(leak);
    m.worst.push_back(worst);
  }
  return m;
}

nlohmann::json edit_matrix_to_json(const EditMatrix& m) {
  nlohmann::json rows = nlohmann::json::array();
  for (size_t i = 0; i < m.axes.size(); ++i) {
    nlohmann::json row = {{"axis", m.axes[i]}, {"effect", m.effect[i]}};
    row["target"] = m.target[i] >= 0 ? nlohmann::json(m.features[static_cast<size_t>(m.target[i])]) : nlohmann::json();
    row["target_effect"] = m.target[i] >= 0 ? nlohmann::json(m.effect[i][static_cast<size_t>(m.target[i])])
                                            : nlohmann::json();
    row["leakage"] = std::isfinite(m.leakage[i]) ? nlohmann::json(m.leakage[i]) : nlohmann::json();
    row["worst"] = m.worst[i];
    rows.push_back(row);
  }
  return {{"features", m.features}, {"rows", rows}};
}

Image render_edit_matrix(const EditMatrix& m, const std::string& title) {
  std::vector<std::string> labels;
  for (size_t i = 0; i < m.axes.size(); ++i) {
    char leak[32] = "";
    if (std::isfinite(m.leakage[i])) std::snprintf(leak, sizeof(leak), " (%.0f%%)", 100 * m.leakage[i]);
    labels.push_back(m.axes[i] + leak);
  }
  return render_heatmap(m.effect, labels, m.features, title);
}

}  // namespace latentkit
