// latentkit axes fit | report | show, and latentkit edit: feature axes in latent space.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>

#include "apps/latentkit/commands.h"
#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/image.h"
#include "latentkit/models/registry.h"
#include "latentkit/steer/axes.h"
#include "latentkit/steer/edit.h"
#include "latentkit/steer/probe.h"

namespace latentkit::app {
namespace {

struct FitParams {
  std::string run, out, method = "glm", lock, cache_dir;
  FeatureSpec features;
  bool no_attributes = false, no_cache = false;
  PairOptions pairs;
  int64_t components = 8;
  double holdout = 0.2, l2 = 1e-3, min_share = 0.01;
  int threads = 0;
};

std::string quality_text(const Axis& a) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%s %.3f", a.metric.c_str(), a.quality);
  return buffer;
}

void print_axes(const AxisSet& set) {
  int width = 16;  // the longest name (emoji subcategories run to 22 characters)
  for (const Axis& a : set.axes) width = std::max(width, static_cast<int>(a.name.size()));
  std::printf("%-*s %-9s %-9s %-40s %8s\n", width, "axis", "kind", "source", "quality (held out)", "slope");
  for (const Axis& a : set.axes) {
    std::string extra;
    for (const auto& [key, label] : {std::pair{"balanced_accuracy", "balanced"}, std::pair{"auc", "top-class AUC"}}) {
      if (!a.details.contains(key)) continue;
      char b[48];
      std::snprintf(b, sizeof(b), ", %s %.3f", label, a.details[key].get<double>());
      extra += b;
    }
    std::printf("%-*s %-9s %-9s %-40s %8.3f\n", width, a.name.c_str(), a.kind.c_str(), a.source.c_str(),
                (quality_text(a) + extra).c_str(), a.slope);
  }
}

void run_fit(FitParams p) {
  const int threads = torch::get_num_threads();
  p.features.attributes = !p.no_attributes;
  p.pairs.cache_dir = p.cache_dir;
  p.pairs.use_cache = !p.no_cache;
  std::unique_ptr<Generator> generator = load_generator(p.run);
  std::fprintf(stderr, "fitting axes for %s (%s, %lld-dim latent) on %lld pairs, %d threads\n", p.run.c_str(),
               generator->family().c_str(), static_cast<long long>(generator->latent_dim()),
               static_cast<long long>(p.pairs.n), threads);
  AxisSet set;
  set.latent_dim = generator->latent_dim();
  set.meta = {{"run", p.run},     {"method", p.method},         {"n", p.pairs.n},   {"seed", p.pairs.seed},
              {"truncation", p.pairs.truncation}, {"holdout", p.holdout}, {"l2", p.l2}};
  Pairs pairs = sample_pairs(*generator, p.run, p.pairs);
  if (p.method == "pca") {
    torch::NoGradGuard no_grad;
    // GANSpace fits its components on a subset; 5,000 rows pin the top ones down well.
    const int64_t rows = std::min<int64_t>(pairs.z.size(0), 5000);
    torch::Tensor z = pairs.z.slice(0, 0, rows);
    std::vector<torch::Tensor> hidden;
    for (int64_t i = 0; i < rows; i += 500) hidden.push_back(generator->hidden(z.slice(0, i, std::min(rows, i + 500))));
    set.axes = principal_axes(z, torch::cat(hidden), p.components, p.pairs.seed);
    set.meta["components"] = p.components;
  } else {
    ImageScorer scorer(p.features, generator->image_shape()[0]);
    torch::Tensor scores = scorer.score_all(pairs.images, 500, "scores");
    std::vector<FeatureColumn> columns = scorer.columns();
    const std::vector<std::string> reasons = unfit_reasons(scores, columns, p.min_share);
    std::vector<int64_t> keep;
    std::vector<FeatureColumn> kept;
    std::string dropped;
    for (size_t f = 0; f < columns.size(); ++f) {
      if (reasons[f].empty()) {
        keep.push_back(static_cast<int64_t>(f));
        kept.push_back(columns[f]);
      } else {
        dropped += (dropped.empty() ? "" : ", ") + columns[f].label + " (" + reasons[f] + ")";
      }
    }
    if (!dropped.empty()) {
      std::fprintf(stderr, "no axis for %zu features (--min-share %g): %s\n",
                   columns.size() - kept.size(), p.min_share, dropped.c_str());
    }
    scores = scores.index_select(1, torch::tensor(keep, torch::kInt64));
    columns = kept;
    check_input(!columns.empty(), "no feature is left to fit an axis to; lower --min-share or leave out --no-attributes");
    set.axes = fit_axes(pairs.z, scores, columns, p.holdout, p.l2);
    set.meta["features"] = scorer.describe();
    set.meta["min_share"] = p.min_share;
  }
  if (!p.lock.empty()) {
    std::vector<size_t> locked = parse_axis_list(set, p.lock);
    std::vector<std::string> names;
    for (const Axis& a : set.axes) names.push_back(a.name);
    torch::Tensor d = lock_directions(axis_matrix(set), locked, names);
    for (size_t i = 0; i < set.axes.size(); ++i) set.axes[i].direction = d[static_cast<int64_t>(i)].clone();
    std::vector<std::string> locked_names;
    for (size_t i : locked) locked_names.push_back(set.axes[i].name);
    set.meta["locked"] = locked_names;
  }
  write_axes(p.out, set);
  print_axes(set);
  std::fprintf(stderr, "wrote %s (%zu axes)\n", p.out.c_str(), set.axes.size());
}

struct ReportParams {
  std::string run, axes, only, out, features;
  EditMatrixOptions matrix;
  int threads = 0;
};

void print_leakage(const EditMatrix& raw, const EditMatrix& locked) {
  std::printf("%-16s %12s %10s %-14s %12s %10s %-14s\n", "axis", "effect", "leakage", "(into)", "locked effect",
              "leakage", "(into)");
  for (size_t i = 0; i < raw.axes.size(); ++i) {
    auto cell = [](const EditMatrix& m, size_t r, char* effect, char* leak) {
      if (m.target[r] >= 0) {
        std::snprintf(effect, 32, "%+.2f sd", m.effect[r][static_cast<size_t>(m.target[r])]);
      } else {
        std::snprintf(effect, 32, "-");
      }
      if (std::isfinite(m.leakage[r])) {
        std::snprintf(leak, 32, "%.0f%%", 100 * m.leakage[r]);
      } else {
        std::snprintf(leak, 32, "-");
      }
    };
    char e1[32], l1[32], e2[32], l2[32];
    cell(raw, i, e1, l1);
    cell(locked, i, e2, l2);
    std::printf("%-16s %12s %10s %-14s %12s %10s %-14s\n", raw.axes[i].c_str(), e1, l1, raw.worst[i].c_str(), e2, l2,
                locked.worst[i].c_str());
  }
}

void run_report(const ReportParams& p) {
  AxisSet set = read_axes(p.axes);
  std::unique_ptr<Generator> generator = load_generator(p.run);
  FeatureSpec spec = feature_spec_from_json(set.meta.value("features", nlohmann::json::object()));
  if (!p.features.empty()) spec.classifier = p.features;
  ImageScorer scorer(spec, generator->image_shape()[0]);
  std::vector<size_t> rows = parse_axis_list(set, p.only);
  if (rows.empty()) {
    for (size_t i = 0; i < set.axes.size(); ++i) rows.push_back(i);
  }
  EditMatrix raw = edit_matrix(*generator, set, scorer, rows, false, p.matrix);
  EditMatrix locked = edit_matrix(*generator, set, scorer, rows, true, p.matrix);
  make_dirs(p.out);
  write_json(p.out + "/edit-matrix.json",
             {{"run", p.run}, {"axes", p.axes}, {"n", p.matrix.n}, {"step", p.matrix.step}, {"seed", p.matrix.seed},
              {"centred", p.matrix.centred}, {"follow", p.matrix.follow},
              {"units", "mean change of each feature in standard deviations of it over unmoved images"},
              {"as_fitted", edit_matrix_to_json(raw)}, {"disentangled", edit_matrix_to_json(locked)}});
  char step[48];
  std::snprintf(step, sizeof(step), p.matrix.centred ? "%.2f, centred" : "%.2f", p.matrix.step);
  write_png(p.out + "/edit-matrix.png", render_edit_matrix(raw, std::string("Edit matrix, as fitted (step ") + step + ")"));
  write_png(p.out + "/edit-matrix-disentangled.png",
            render_edit_matrix(locked, std::string(p.matrix.follow > 0 ? "Edit matrix, others locked along the path (step "
                                                                       : "Edit matrix, others locked (step ") +
                                           step + ")"));
  print_leakage(raw, locked);
  std::fprintf(stderr, "wrote %s/edit-matrix.json, edit-matrix.png, edit-matrix-disentangled.png\n", p.out.c_str());
}

void run_show(const std::string& path) { print_axes(read_axes(path)); }

struct EditParams {
  std::string run, axes, move, lock, sweep, out, z_file, class_name;
  uint64_t seed = 0;
  double from = -3, to = 3;
  int64_t steps = 9;
  double truncation = 0;
  int zoom = 1;
  int follow = 0;
  int threads = 0;
};

// A latent file (path, read as j): a JSON array, or an object with "z".
torch::Tensor read_latent_file(const nlohmann::json& j, const std::string& path, int64_t dim) {
  const nlohmann::json& z = j.is_object() && j.contains("z") ? j["z"] : j;
  check_input(z.is_array() && static_cast<int64_t>(z.size()) == dim,
              path + ": expected a JSON array of " + std::to_string(dim) + " numbers (or an object with \"z\")");
  std::vector<double> values;
  for (const nlohmann::json& v : z) {
    check_input(v.is_number() && std::isfinite(v.get<double>()), path + ": the latent must hold finite numbers");
    values.push_back(v.get<double>());
  }
  return torch::tensor(values, torch::kFloat32).unsqueeze(0);
}

void run_edit(const EditParams& p) {
  check_input(!p.move.empty() || !p.sweep.empty(), "nothing to do: give --move NAME=AMOUNT,... and/or --sweep NAME");
  AxisSet set = read_axes(p.axes);
  std::unique_ptr<Generator> generator = load_generator(p.run);
  check_input(set.latent_dim == generator->latent_dim(),
              p.axes + " was fitted for a " + std::to_string(set.latent_dim) + "-dim latent, but " + p.run + " has " +
                  std::to_string(generator->latent_dim()));
  std::vector<std::pair<size_t, double>> moves = parse_moves(set, p.move);
  std::vector<size_t> locked = parse_axis_list(set, p.lock);
  const nlohmann::json z_file = p.z_file.empty() ? nlohmann::json() : read_json(p.z_file);
  // A conditional model draws everything in one class: --class, else the class of the
  // editor's downloaded latent file, else the first.
  torch::Tensor label;  // int64 [1]
  if (generator->num_classes() > 0) {
    int64_t c = 0;
    if (!p.class_name.empty()) {
      c = parse_class(p.class_name, run_class_names(read_json(p.run + "/config.json")), generator->num_classes());
    } else if (z_file.is_object() && z_file.contains("class") && z_file["class"].is_number_integer()) {
      c = parse_class(std::to_string(z_file["class"].get<int64_t>()), {}, generator->num_classes());
    }
    label = torch::full({1}, c, torch::kInt64);
  } else {
    check_input(p.class_name.empty(), p.run + " is not a conditional model; --class is for conditional ones");
  }
  torch::NoGradGuard no_grad;
  torch::Tensor z;
  if (!p.z_file.empty()) {
    z = read_latent_file(z_file, p.z_file, set.latent_dim);
  } else {
    torch::Generator rng = make_rng(p.seed);
    z = generator->sample_latent(1, rng, p.truncation);
  }
  // Straight lines off the locked axes, or (--follow) paths that hold the locked features.
  std::unique_ptr<ImageScorer> scorer;
  if (p.follow > 0) {
    scorer = std::make_unique<ImageScorer>(feature_spec_from_json(set.meta.value("features", nlohmann::json::object())),
                                           generator->image_shape()[0]);
  }
  auto move = [&](const torch::Tensor& from, const std::vector<std::pair<size_t, double>>& list) {
    if (!scorer) return apply_moves(set, from, list, locked);
    torch::Tensor to = from.to(torch::kFloat64);
    for (const auto& [axis, amount] : list) {
      to = follow_locked(*generator, *scorer, to, locked_path(set, *scorer, axis, locked, p.follow), amount,
                         /*batch=*/256, label);
    }
    return to.to(from.scalar_type());
  };
  torch::Tensor edited = move(z, moves);
  std::vector<torch::Tensor> strip;
  if (p.sweep.empty()) {
    strip = {z, edited};
  } else {
    const size_t axis = find_axis(set, p.sweep);
    for (int64_t s = 0; s < p.steps; ++s) {
      const double t = p.steps == 1 ? p.from : p.from + (p.to - p.from) * static_cast<double>(s) / (p.steps - 1);
      strip.push_back(move(edited, {{axis, t}}));
    }
  }
  const torch::Tensor latents = torch::cat(strip);
  torch::Tensor images = generator->decode(latents, label.defined() ? label.expand({latents.size(0)}) : torch::Tensor());
  if (p.zoom > 1) images = images.repeat_interleave(p.zoom, 2).repeat_interleave(p.zoom, 3);
  write_png(p.out, make_grid(images, static_cast<int>(images.size(0))));
  std::fprintf(stderr, "wrote %s (%lld images%s)\n", p.out.c_str(), static_cast<long long>(images.size(0)),
               p.sweep.empty() ? ": before, after" : "");
}

}  // namespace

void add_axes_command(CLI::App& app) {
  CLI::App* axes = app.add_subcommand("axes", "Feature axes in latent space: fit, report, show");
  axes->require_subcommand(1);

  auto f = std::make_shared<FitParams>();
  CLI::App* fit = axes->add_subcommand("fit", "Fit one latent axis per feature (TL-GAN) or principal directions (GANSpace)");
  fit->add_option("--run", f->run, "generator run folder")->required();
  fit->add_option("--out", f->out, "axes file to write")->required();
  fit->add_option("--features", f->features.classifier,
                  "classifier run whose classes (and factors) become axes, e.g. models/fashion-classifier");
  fit->add_option("--scorer", f->features.scorers,
                  "NAME=MODEL.pt: a TorchScript module scoring images [N, C, H, W] in [-1, 1] -> [N] (repeatable)");
  fit->add_flag("--no-attributes", f->no_attributes,
                "leave out the measured attributes (brightness, contrast, ink, width, height, centre, saturation)");
  fit->add_option("--method", f->method, "glm: a model per feature; pca: principal directions of the first layer")
      ->check(CLI::IsMember({"glm", "pca"}))
      ->capture_default_str();
  fit->add_option("--components", f->components, "principal directions to keep (--method pca)")
      ->check(CLI::Range(1, 512))
      ->capture_default_str();
  fit->add_option("--n", f->pairs.n, "latent/image pairs to sample")->check(CLI::Range(10, 10000000))->capture_default_str();
  fit->add_option("--seed", f->pairs.seed, "seed of the latents")->capture_default_str();
  fit->add_option("--truncation", f->pairs.truncation, "truncate the prior to [-T, T] (0: off)")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  fit->add_option("--holdout", f->holdout, "fraction of pairs held out to measure fit quality")
      ->check(CLI::Range(0.01, 0.9))
      ->capture_default_str();
  fit->add_option("--l2", f->l2, "L2 penalty of the fits")->check(CLI::Range(0.0, 1e6))->capture_default_str();
  fit->add_option("--min-share", f->min_share,
                  "no axis for a class that is the classifier's top class in fewer than this share of the pairs")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  fit->add_option("--lock", f->lock, "A,B: store the other axes disentangled from these (projected off their span)");
  fit->add_option("--cache-dir", f->cache_dir, "where sampled pairs are cached (default ~/.cache/latentkit)");
  fit->add_flag("--no-cache", f->no_cache, "sample the pairs afresh and do not cache them");
  fit->footer(
      "Example:\n  latentkit axes fit --run models/fashion-dcgan --features models/fashion-classifier --n 20000 "
      "--out axes.json\nPairs are cached: fitting again with another --scorer re-uses them.");
  torch_command(fit, f->threads, Work::kShort, [f]() { run_fit(*f); });

  auto r = std::make_shared<ReportParams>();
  CLI::App* report = axes->add_subcommand("report", "Edit matrix: how moving along each axis changes every feature");
  report->add_option("--run", r->run, "generator run folder")->required();
  report->add_option("--axes", r->axes, "axes file from axes fit")->required();
  report->add_option("--out", r->out, "folder for edit-matrix.json and the heat maps")->required();
  report->add_option("--only", r->only, "A,B,...: the axes to move (default: all)");
  report->add_option("--features", r->features, "classifier run to score with (default: the one the axes were fitted with)");
  report->add_option("--n", r->matrix.n, "latents moved per axis")->check(CLI::Range(2, 1000000))->capture_default_str();
  report->add_option("--step", r->matrix.step, "latent units moved along each axis")
      ->check(CLI::Range(-100.0, 100.0))
      ->capture_default_str();
  report->add_option("--seed", r->matrix.seed, "seed of the latents")->capture_default_str();
  report->add_flag("--centred", r->matrix.centred,
                   "move from z - step/2 to z + step/2: the linear part of each effect (effects that bend the same "
                   "way on both sides cancel)");
  report->add_option("--follow", r->matrix.follow,
                     "N: move each disentangled axis along a path of N pieces, each projected off the locked "
                     "features' gradients at the current latents (0: straight lines off the locked axes)")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  report->footer(
      "Example:\n  latentkit axes report --run models/fashion-dcgan --axes models/fashion-axes.json --out axes-report\n"
      "Effects are in standard deviations of each feature; leakage = largest effect on another axis's\n"
      "feature / effect on its own. 'Disentangled' moves each axis with every other one locked.");
  torch_command(report, r->threads, Work::kShort, [r]() { run_report(*r); });

  auto path = std::make_shared<std::string>();
  CLI::App* show = axes->add_subcommand("show", "Print the axes of an axes file and their fit quality");
  show->add_option("axes", *path, "axes file")->required();
  show->callback([path]() { run_show(*path); });
}

void add_edit_command(CLI::App& app) {
  auto p = std::make_shared<EditParams>();
  CLI::App* cmd = app.add_subcommand("edit", "Move a latent along feature axes and write the images");
  cmd->add_option("--run", p->run, "generator run folder")->required();
  cmd->add_option("--axes", p->axes, "axes file from axes fit")->required();
  cmd->add_option("--out", p->out, "PNG strip to write")->required();
  cmd->add_option("--seed", p->seed, "seed of the starting latent")->capture_default_str();
  cmd->add_option("--z", p->z_file, "start from this latent: a JSON array, or the editor's downloaded JSON");
  cmd->add_option("--class", p->class_name,
                  "conditional models: the class of the whole strip, by name or index (default: the --z file's, else "
                  "the first)");
  cmd->add_option("--truncation", p->truncation, "truncate the prior to [-T, T] (0: off)")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  cmd->add_option("--move", p->move, "NAME=AMOUNT,...: move along axes (latent units), e.g. sandal=+2,brightness=-1");
  cmd->add_option("--lock", p->lock, "A,B: keep these features fixed (moves are projected off their axes)");
  cmd->add_option("--sweep", p->sweep, "NAME: a strip along one axis, after the moves");
  cmd->add_option("--follow", p->follow,
                  "N: move along each feature's own gradient in N pieces, holding the locked features along the "
                  "whole path (scores with the axes' classifier; 0: straight lines off the locked axes)")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  cmd->add_option("--from", p->from, "sweep start")->check(CLI::Range(-100.0, 100.0))->capture_default_str();
  cmd->add_option("--to", p->to, "sweep end")->check(CLI::Range(-100.0, 100.0))->capture_default_str();
  cmd->add_option("--steps", p->steps, "images in the sweep")->check(CLI::Range(1, 256))->capture_default_str();
  cmd->add_option("--zoom", p->zoom, "scale images up by this factor (nearest neighbour)")
      ->check(CLI::Range(1, 32))
      ->capture_default_str();
  cmd->footer(
      "Examples:\n  latentkit edit --run models/fashion-dcgan --axes models/fashion-axes.json --seed 3 "
      "--move sandal=+2 --lock bag --out edit.png\n"
      "  latentkit edit --run models/fashion-dcgan --axes models/fashion-axes.json --seed 3 --sweep sandal "
      "--from -3 --to 3 --steps 9 --out strip.png\n"
      "  latentkit edit --run models/shapes-dcgan --axes models/shapes-axes.json --seed 11 --sweep x --from -3 "
      "--to 3 --lock triangle,scale,y,hue-sin --follow 10 --zoom 4 --out x.png");
  torch_command(cmd, p->threads, Work::kShort, [p]() { run_edit(*p); });
}

}  // namespace latentkit::app
