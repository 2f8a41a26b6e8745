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

}  // namespace

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
  if (disentangle) {
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
    const torch::Tensor move = o.step * directions[static_cast<int64_t>(i)];
    torch::Tensor change = o.centred ? decode_scores(generator, scorer, z + 0.5 * move, o.batch) -
                                           decode_scores(generator, scorer, z - 0.5 * move, o.batch)
                                     : decode_scores(generator, scorer, z + move, o.batch) - base;
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
