#include "latentkit/steer/axes.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <numeric>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/models/generator.h"

namespace latentkit {
namespace {

constexpr int kAxesVersion = 1;
constexpr double kMaxMove = 100.0;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string known_names(const AxisSet& set) {
  std::string names;
  for (const Axis& a : set.axes) names += (names.empty() ? "" : ", ") + a.name;
  return names.empty() ? "(none)" : names;
}

torch::Tensor as_double(const torch::Tensor& t) { return t.to(torch::kCPU).to(torch::kFloat64).contiguous(); }

void check_rows(const torch::Tensor& x, const torch::Tensor& y, const std::string& what) {
  check_input(x.dim() == 2 && x.size(0) > 0 && x.size(1) > 0, what + ": inputs must be a non-empty [N, D] matrix");
  check_input(y.size(0) == x.size(0), what + ": " + std::to_string(x.size(0)) + " inputs but " +
                                          std::to_string(y.size(0)) + " targets");
  check_input(torch::isfinite(x).all().item<bool>() && torch::isfinite(y).all().item<bool>(),
              what + ": inputs or targets contain NaN or Inf");
}

// The unit vector along w, and |w|; a zero w (a feature that does not vary) has no axis.
std::pair<torch::Tensor, double> unit(const torch::Tensor& w, const std::string& name) {
  const double norm = w.norm().item<double>();
  check_input(norm > 0 && std::isfinite(norm),
              "axis '" + name + "': the fitted weights are zero; the feature does not vary with the latent");
  return {w / norm, norm};
}


// Each row's top class: the index (into columns) of its most probable class column, -1 when
// no column is a class probability. y: [N, F].
torch::Tensor top_class_columns(const torch::Tensor& y, const std::vector<FeatureColumn>& columns) {
  std::vector<int64_t> classes;
  for (size_t f = 0; f < columns.size(); ++f) {
    if (columns[f].kind == "probability") classes.push_back(static_cast<int64_t>(f));
  }
  if (classes.empty()) return torch::full({y.size(0)}, -1, torch::kInt64);
  const torch::Tensor index = torch::tensor(classes, torch::kInt64);
  return index.index_select(0, y.index_select(1, index).argmax(1));
}

}  // namespace

std::string axis_slug(const std::string& label) {
  std::string slug;
  bool dash = false;
  for (unsigned char c : label) {
    if (std::isalnum(c)) {
      if (dash && !slug.empty()) slug += '-';
      slug += static_cast<char>(std::tolower(c));
      dash = false;
    } else {
      dash = true;
    }
  }
  return slug;
}

size_t find_axis(const AxisSet& set, const std::string& name) {
  const std::string wanted = lower(name);
  for (size_t i = 0; i < set.axes.size(); ++i) {
    if (set.axes[i].name == wanted || lower(set.axes[i].label) == wanted || set.axes[i].name == axis_slug(name)) {
      return i;
    }
  }
  throw Error("unknown axis '" + name + "'; the axes are: " + known_names(set));
}

nlohmann::json axes_to_json(const AxisSet& set) {
  nlohmann::json axes = nlohmann::json::array();
  for (const Axis& a : set.axes) {
    torch::Tensor d = as_double(a.direction);
    std::vector<double> direction(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
    axes.push_back({{"name", a.name},
                    {"label", a.label},
                    {"kind", a.kind},
                    {"source", a.source},
                    {"quality", {{"metric", a.metric}, {"value", a.quality}}},
                    {"slope", a.slope},
                    {"details", a.details.is_null() ? nlohmann::json::object() : a.details},
                    {"direction", direction}});
  }
  return {{"format", "latentkit-axes"}, {"version", kAxesVersion}, {"latent_dim", set.latent_dim},
          {"meta", set.meta.is_null() ? nlohmann::json::object() : set.meta}, {"axes", axes}};
}

AxisSet axes_from_json(const nlohmann::json& json, const std::string& source) {
  const std::string what = source + ": ";
  check_input(json.is_object() && json.contains("format") && json["format"] == "latentkit-axes",
              what + "not an axes file (expected \"format\": \"latentkit-axes\", written by latentkit axes fit)");
  check_input(json.contains("version") && json["version"] == kAxesVersion,
              what + "axes file version " + json.value("version", nlohmann::json()).dump() + " is not supported (expected " +
                  std::to_string(kAxesVersion) + ")");
  AxisSet set;
  try {
    set.latent_dim = json.at("latent_dim").get<int64_t>();
    check_input(set.latent_dim > 0, what + "latent_dim must be positive");
    set.meta = json.value("meta", nlohmann::json::object());
    for (const nlohmann::json& a : json.at("axes")) {
      Axis axis;
      axis.name = a.at("name").get<std::string>();
      check_input(!axis.name.empty() && axis.name == axis_slug(axis.name),
                  what + "axis name '" + axis.name + "' must be lower case letters, digits and '-'");
      axis.label = a.value("label", axis.name);
      axis.kind = a.at("kind").get<std::string>();
      axis.source = a.value("source", "");
      axis.metric = a.at("quality").at("metric").get<std::string>();
      axis.quality = a.at("quality").at("value").get<double>();
      axis.slope = a.value("slope", 0.0);
      axis.details = a.value("details", nlohmann::json::object());
      std::vector<double> d = a.at("direction").get<std::vector<double>>();
      check_input(static_cast<int64_t>(d.size()) == set.latent_dim,
                  what + "axis '" + axis.name + "' has " + std::to_string(d.size()) + " numbers, expected latent_dim " +
                      std::to_string(set.latent_dim));
      axis.direction = torch::tensor(d, torch::kFloat64);
      const double norm = axis.direction.norm().item<double>();
      check_input(std::isfinite(norm) && std::abs(norm - 1.0) < 1e-3,
                  what + "axis '" + axis.name + "' is not a finite unit vector (length " + std::to_string(norm) + ")");
      for (const Axis& other : set.axes) {
        check_input(other.name != axis.name, what + "axis '" + axis.name + "' appears twice");
      }
      set.axes.push_back(std::move(axis));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + "malformed axes file: " + e.what());
  }
  check_input(!set.axes.empty(), what + "the file has no axes");
  return set;
}

void write_axes(const std::string& path, const AxisSet& set) { write_json(path, axes_to_json(set)); }

AxisSet read_axes(const std::string& path) { return axes_from_json(read_json(path), path); }

LinearFit fit_logistic(const torch::Tensor& x_in, const torch::Tensor& targets, double l2) {
  torch::Tensor x = as_double(x_in), p = as_double(targets).flatten();
  check_rows(x, p, "fit_logistic");
  check_input(p.min().item<double>() >= 0 && p.max().item<double>() <= 1, "fit_logistic: targets must lie in [0, 1]");
  check_input(l2 >= 0, "fit_logistic: l2 must be >= 0");
  const int64_t n = x.size(0), d = x.size(1);
  torch::Tensor xb = torch::cat({x, torch::ones({n, 1}, torch::kFloat64)}, 1);
  torch::Tensor w = torch::zeros({d + 1}, torch::kFloat64);
  torch::Tensor penalty = torch::full({d + 1}, l2, torch::kFloat64);
  penalty[d] = 0;
  // Newton's method on a convex loss; with l2 = 0 and separable data the weights grow
  // without bound, so a tiny ridge on the Hessian keeps each step solvable.
  for (int iteration = 0; iteration < 100; ++iteration) {
    torch::Tensor s = torch::sigmoid(xb.mv(w));
    torch::Tensor gradient = xb.t().mv(s - p) / static_cast<double>(n) + penalty * w;
    if (gradient.norm().item<double>() < 1e-9) break;
    torch::Tensor weight = (s * (1 - s)).clamp_min(1e-12);
    torch::Tensor hessian = xb.t().mm(xb * weight.unsqueeze(1)) / static_cast<double>(n) + torch::diag(penalty) +
                            1e-10 * torch::eye(d + 1, torch::kFloat64);
    torch::Tensor step = torch::linalg_solve(hessian, gradient);
    // Damped: a full Newton step can overshoot far from the optimum.
    const double step_norm = step.norm().item<double>();
    w -= step_norm > 10 ? step * (10 / step_norm) : step;
  }
  return {w.slice(0, 0, d).clone(), w[d].item<double>()};
}

LinearFit fit_ridge(const torch::Tensor& x_in, const torch::Tensor& y_in, double l2) {
  torch::Tensor x = as_double(x_in), y = as_double(y_in).flatten();
  check_rows(x, y, "fit_ridge");
  check_input(l2 >= 0, "fit_ridge: l2 must be >= 0");
  const int64_t n = x.size(0), d = x.size(1);
  torch::Tensor mx = x.mean(0), my = y.mean();
  torch::Tensor xc = x - mx, yc = y - my;
  torch::Tensor a = xc.t().mm(xc) / static_cast<double>(n) + l2 * torch::eye(d, torch::kFloat64);
  torch::Tensor w = std::get<0>(torch::linalg_lstsq(a, (xc.t().mv(yc) / static_cast<double>(n)).unsqueeze(1))).squeeze(1);
  return {w, (my - mx.dot(w)).item<double>()};
}

std::vector<Axis> fit_axes(const torch::Tensor& z_in, const torch::Tensor& y_in, const std::vector<FeatureColumn>& columns,
                           double holdout, double l2) {
  torch::Tensor z = as_double(z_in), y = as_double(y_in);
  check_input(y.dim() == 2 && y.size(1) == static_cast<int64_t>(columns.size()),
              "fit_axes: " + std::to_string(columns.size()) + " feature columns named but the scores have shape " +
                  c10::str(y.sizes()));
  check_rows(z, y, "fit_axes");
  check_input(holdout > 0 && holdout < 1, "fit_axes: holdout must lie in (0, 1)");
  const int64_t n = z.size(0);
  const int64_t test_n = std::max<int64_t>(1, static_cast<int64_t>(std::llround(holdout * static_cast<double>(n))));
  check_input(n - test_n >= 2, "fit_axes: too few pairs (" + std::to_string(n) + ") to hold some out");
  torch::Tensor z_fit = z.slice(0, 0, n - test_n), z_test = z.slice(0, n - test_n);
  const torch::Tensor top_test = top_class_columns(y.slice(0, n - test_n), columns);
  std::vector<Axis> axes;
  for (size_t f = 0; f < columns.size(); ++f) {
    const FeatureColumn& c = columns[f];
    torch::Tensor target = y.select(1, static_cast<int64_t>(f));
    torch::Tensor t_fit = target.slice(0, 0, n - test_n), t_test = target.slice(0, n - test_n);
    // A constant feature leaves only round-off after centring, which would fit a random axis.
    check_input(t_fit.std().item<double>() > 1e-9 * (1 + t_fit.abs().max().item<double>()),
                "axis '" + axis_slug(c.label) + "': the feature does not vary over the generated images");
    Axis axis;
    axis.label = c.label;
    axis.name = axis_slug(c.label);
    axis.source = c.source;
    LinearFit fit;
    if (c.kind == "probability") {
      axis.kind = "logistic";
      fit = fit_logistic(z_fit, t_fit, l2);
      torch::Tensor predicted = (z_test.mv(fit.weights) + fit.bias) > 0;
      torch::Tensor truth = t_test > 0.5;
      axis.metric = "accuracy";
      axis.quality = (predicted == truth).to(torch::kFloat64).mean().item<double>();
      const double positives = truth.sum().item<double>(), negatives = static_cast<double>(test_n) - positives;
      const double tpr = positives > 0 ? (predicted & truth).sum().item<double>() / positives : 0.0;
      const double tnr = negatives > 0 ? (~predicted & ~truth).sum().item<double>() / negatives : 0.0;
      axis.details = {{"positive_rate", target.gt(0.5).to(torch::kFloat64).mean().item<double>()},
                      {"mean_probability", target.mean().item<double>()}};
      // Undefined when the held-out rows are all on one side of p = 0.5 (a rare class of a
      // many-class classifier): then the accuracy only says "not this class".
      if (positives > 0 && negatives > 0) axis.details["balanced_accuracy"] = (tpr + tnr) / 2;
      // Threshold-free: how well the fitted logit ranks the rows where this is the top
      // class above the others (ROC AUC, Mann-Whitney).
      const torch::Tensor is_top = top_test == static_cast<int64_t>(f);
      const double tops = is_top.sum().item<double>(), others = static_cast<double>(test_n) - tops;
      if (tops > 0 && others > 0) {
        const torch::Tensor ranks = (z_test.mv(fit.weights)).argsort().argsort().to(torch::kFloat64) + 1;
        axis.details["auc"] = (ranks.masked_select(is_top).sum().item<double>() - tops * (tops + 1) / 2) / (tops * others);
      }
    } else {
      check_input(c.kind == "continuous", "fit_axes: feature '" + c.label + "' has unknown kind '" + c.kind +
                                              "' (expected probability or continuous)");
      axis.kind = "ridge";
      fit = fit_ridge(z_fit, t_fit, l2);
      torch::Tensor predicted = z_test.mv(fit.weights) + fit.bias;
      const double total = (t_test - t_test.mean()).pow(2).sum().item<double>();
      const double residual = (t_test - predicted).pow(2).sum().item<double>();
      axis.metric = "r2";
      axis.quality = total > 0 ? 1 - residual / total : 0.0;
      axis.details = {{"mean", target.mean().item<double>()}, {"std", target.std().item<double>()}};
    }
    std::tie(axis.direction, axis.slope) = unit(fit.weights, axis.name);
    axis.details["bias"] = fit.bias;
    axes.push_back(std::move(axis));
  }
  return axes;
}

std::vector<std::string> unfit_reasons(const torch::Tensor& y, const std::vector<FeatureColumn>& columns,
                                      double min_share) {
  check_input(y.dim() == 2 && y.size(1) == static_cast<int64_t>(columns.size()),
              "unfit_reasons: " + std::to_string(columns.size()) + " feature columns named but the scores have shape " +
                  c10::str(y.sizes()));
  const torch::Tensor values = as_double(y);
  const torch::Tensor top = top_class_columns(values, columns);
  std::vector<std::string> reasons(columns.size());
  for (size_t f = 0; f < columns.size(); ++f) {
    const torch::Tensor v = values.select(1, static_cast<int64_t>(f));
    const double share = (top == static_cast<int64_t>(f)).to(torch::kFloat64).mean().item<double>();
    if (v.std().item<double>() <= 1e-9 * (1 + v.abs().max().item<double>())) {
      reasons[f] = "does not vary";
    } else if (columns[f].kind == "probability" && share < min_share) {
      char text[64];
      std::snprintf(text, sizeof(text), "top class in %.1f%% of the pairs", 100 * share);
      reasons[f] = text;
    }
  }
  return reasons;
}

std::vector<Axis> principal_axes(const torch::Tensor& z_in, const torch::Tensor& a_in, int64_t k, uint64_t seed) {
  torch::Tensor z = as_double(z_in), a = as_double(a_in.flatten(1));
  check_rows(z, a, "principal_axes");
  check_input(k >= 1 && k <= std::min(a.size(0), a.size(1)),
              "principal_axes: k must lie in [1, " + std::to_string(std::min(a.size(0), a.size(1))) + "], got " +
                  std::to_string(k));
  const int64_t n = a.size(0), f = a.size(1);
  torch::Tensor centred = a - a.mean(0);
  // Randomised range finder (Halko et al. 2011) with two power iterations: the top
  // components of an [N, F] matrix without its F x F covariance.
  const int64_t rank = std::min<int64_t>(k + 10, std::min(n, f));
  torch::Generator rng = make_rng(seed);
  torch::Tensor q = std::get<0>(torch::linalg_qr(centred.mm(torch::randn({f, rank}, rng, torch::kFloat64))));
  for (int i = 0; i < 2; ++i) {
    q = std::get<0>(torch::linalg_qr(centred.t().mm(q)));
    q = std::get<0>(torch::linalg_qr(centred.mm(q)));
  }
  auto [u, s, vh] = torch::linalg_svd(q.t().mm(centred), /*full_matrices=*/false);
  torch::Tensor coords = q.mm(u.slice(1, 0, k)) * s.slice(0, 0, k);  // [N, k] principal coordinates
  const double total = centred.pow(2).sum().item<double>();
  // Latent direction per component: least squares z ~ coords B + c; row i of B is the
  // latent change per unit of component i (GANSpace's transfer for latents with no PCA
  // of their own).
  torch::Tensor design = torch::cat({coords, torch::ones({n, 1}, torch::kFloat64)}, 1);
  torch::Tensor b = std::get<0>(torch::linalg_lstsq(design, z)).slice(0, 0, k);
  std::vector<Axis> axes;
  for (int64_t i = 0; i < k; ++i) {
    Axis axis;
    axis.label = axis.name = "pc" + std::to_string(i + 1);
    axis.kind = axis.source = "pca";
    std::tie(axis.direction, axis.slope) = unit(b[i], axis.name);
    axis.metric = "explained_variance";
    axis.quality = total > 0 ? s[i].pow(2).item<double>() / total : 0.0;
    axes.push_back(std::move(axis));
  }
  return axes;
}

torch::Tensor lock_directions(const torch::Tensor& directions, const std::vector<size_t>& locked,
                              const std::vector<std::string>& names) {
  torch::Tensor d = as_double(directions);
  const int64_t k = d.size(0);
  if (locked.empty()) return d;
  std::vector<int64_t> rows;
  for (size_t i : locked) {
    check_input(static_cast<int64_t>(i) < k, "lock_directions: locked index out of range");
    rows.push_back(static_cast<int64_t>(i));
  }
  torch::Tensor l = d.index_select(0, torch::tensor(rows, torch::kInt64)).t();  // [D, L]
  // The projection onto span(L) by least squares (pinv copes with locked axes that are
  // themselves nearly parallel); P v = v - L (L^T L)^+ L^T v.
  torch::Tensor coefficients = torch::linalg_pinv(l.t().mm(l)).mm(l.t().mm(d.t()));  // [L, K]
  torch::Tensor projected = (d.t() - l.mm(coefficients)).t();                            // [K, D]
  torch::Tensor out = d.clone();
  for (int64_t i = 0; i < k; ++i) {
    if (std::find(rows.begin(), rows.end(), i) != rows.end()) continue;
    const double norm = projected[i].norm().item<double>();
    const std::string name = static_cast<size_t>(i) < names.size() ? names[static_cast<size_t>(i)] : std::to_string(i);
    check_input(norm > 1e-6, "axis '" + name + "' lies in the span of the locked axes; unlock one of them");
    out[i] = projected[i] / norm;
  }
  return out;
}

torch::Tensor axis_matrix(const AxisSet& set) {
  std::vector<torch::Tensor> rows;
  for (const Axis& a : set.axes) rows.push_back(as_double(a.direction));
  return torch::stack(rows);
}

std::vector<std::pair<size_t, double>> parse_moves(const AxisSet& set, const std::string& text) {
  std::vector<std::pair<size_t, double>> moves;
  size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(start, end - start);
    const size_t eq = item.find('=');
    check_input(eq != std::string::npos && eq > 0,
                "move '" + item + "' must be NAME=AMOUNT, e.g. sandal=+2 (the axes are: " + known_names(set) + ")");
    const size_t axis = find_axis(set, item.substr(0, eq));
    const std::string amount_text = item.substr(eq + 1);
    double amount = 0;
    size_t used = 0;
    try {
      amount = std::stod(amount_text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    check_input(used > 0 && used == amount_text.size(), "move '" + item + "': '" + amount_text + "' is not a number");
    check_input(std::isfinite(amount) && std::abs(amount) <= kMaxMove,
                "move '" + item + "': the amount must be finite and at most " + std::to_string(int(kMaxMove)) +
                    " in size (latent units; 1 is one standard deviation of the prior)");
    moves.emplace_back(axis, amount);
    start = end + 1;
  }
  return moves;
}

std::vector<size_t> parse_axis_list(const AxisSet& set, const std::string& text) {
  std::vector<size_t> indices;
  size_t start = 0;
  while (!text.empty() && start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const size_t i = find_axis(set, text.substr(start, end - start));
    if (std::find(indices.begin(), indices.end(), i) == indices.end()) indices.push_back(i);
    start = end + 1;
  }
  return indices;
}

torch::Tensor apply_moves(const AxisSet& set, const torch::Tensor& z, const std::vector<std::pair<size_t, double>>& moves,
                          const std::vector<size_t>& locked) {
  check_input(z.dim() == 2 && z.size(1) == set.latent_dim,
              "latent must be [N, " + std::to_string(set.latent_dim) + "] for these axes, got " + c10::str(z.sizes()));
  if (moves.empty()) return z.clone();
  // Only the locked and the moved axes take part: an axis nobody moves cannot fail the edit.
  std::vector<size_t> rows = locked;
  for (const auto& move : moves) {
    if (std::find(rows.begin(), rows.end(), move.first) == rows.end()) rows.push_back(move.first);
  }
  std::vector<int64_t> picked(rows.begin(), rows.end());
  std::vector<std::string> names;
  for (size_t r : rows) names.push_back(set.axes.at(r).name);
  std::vector<size_t> locked_rows(locked.size());
  std::iota(locked_rows.begin(), locked_rows.end(), size_t{0});
  torch::Tensor directions =
      lock_directions(axis_matrix(set).index_select(0, torch::tensor(picked, torch::kInt64)), locked_rows, names);
  torch::Tensor delta = torch::zeros({set.latent_dim}, torch::kFloat64);
  for (const auto& [axis, amount] : moves) {
    const int64_t row = std::find(rows.begin(), rows.end(), axis) - rows.begin();
    delta += amount * directions[row];
  }
  return (z.to(torch::kFloat64) + delta.unsqueeze(0)).to(z.scalar_type());
}

}  // namespace latentkit
