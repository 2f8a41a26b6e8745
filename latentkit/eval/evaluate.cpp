#include "latentkit/eval/evaluate.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/hash.h"
#include "latentkit/core/progress.h"
#include "latentkit/core/threads.h"
#include "latentkit/data/dataset.h"
#include "latentkit/data/emoji.h"
#include "latentkit/data/folder.h"
#include "latentkit/data/labelmaps.h"
#include "latentkit/eval/metrics.h"
#include "latentkit/eval/npy.h"
#include "latentkit/eval/text_metrics.h"
#include "latentkit/models/classifier.h"
#include "latentkit/models/pix2pix.h"
#include "latentkit/models/registry.h"
#include "latentkit/models/segmenter.h"
#include "latentkit/models/spade.h"
#include "latentkit/models/vae.h"
#include "latentkit/train/pix2pix_trainer.h"

namespace latentkit {
namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool wants(const EvalOptions& o, const std::string& metric) {
  return std::find(o.metrics.begin(), o.metrics.end(), metric) != o.metrics.end();
}

std::unique_ptr<FeatureExtractor> open_extractor(const EvalOptions& o) {
  if (ends_with(o.features, ".pt") || ends_with(o.features, ".pth") || fs::is_regular_file(o.features))
    return load_torchscript_extractor(o.features, o.torchscript);
  check_input(path_exists(o.features),
              "feature extractor " + o.features + " not found; train one with: latentkit classifier train --data "
              "fashion-mnist --out " + o.features + " (or pass --features a TorchScript .pt)");
  return load_classifier_extractor(o.features);
}

// A set of images named on the command line: a data spec with an optional @train / @test
// suffix (default test), a folder of images, or features saved by --save-stats / --dump-features.
struct ImageSet {
  std::string description;
  FeatureBatch features;
};

DataOptions parse_data_set(const std::string& text) {
  DataOptions data;
  data.spec = text;
  data.split = "test";
  size_t at = text.rfind('@');
  if (at != std::string::npos && (text.substr(at + 1) == "train" || text.substr(at + 1) == "test")) {
    data.spec = text.substr(0, at);
    data.split = text.substr(at + 1);
  }
  return data;
}

ImageSet load_set(const EvalOptions& o, FeatureExtractor& extractor, const std::string& text, const std::string& label,
                  nlohmann::json* record) {
  ImageSet set;
  set.description = text;
  if (ends_with(text, ".npy")) {
    check_input(path_exists(text), text + " not found");
    set.features.features = read_npy(text).to(torch::kFloat32);
    std::string probs = text.substr(0, text.size() - 4) + ".probs.npy";
    if (path_exists(probs)) set.features.probs = read_npy(probs).to(torch::kFloat32);
    std::string meta = text.substr(0, text.size() - 4) + ".json";
    if (path_exists(meta)) {
      nlohmann::json m = read_json(meta);
      check_input(m.value("extractor_hash", "") == extractor.file_hash(),
                  text + " holds features of another extractor (" + m.value("extractor", std::string("?")) +
                      "); extract them again with --features " + o.features);
    }
    check_input(set.features.features.dim() == 2 && set.features.features.size(1) == extractor.feature_dim(),
                text + ": expected features [N, " + std::to_string(extractor.feature_dim()) + "]");
    (*record)["features_file"] = text;
    (*record)["n"] = set.features.features.size(0);
    return set;
  }
  if (fs::is_directory(text)) {
    // Images of any size: loaded at the extractor's input size with antialiased resizing.
    Dataset d = load_image_folder(text, static_cast<int>(extractor.input_size()));
    int64_t n = std::min<int64_t>(d.size(), o.n);
    torch::Tensor images = d.images;
    if (d.size() > n) {
      torch::Generator rng = make_rng(o.seed);
      images = images.index_select(0, torch::randperm(d.size(), rng).slice(0, 0, n));
    }
    set.features = extract_features(extractor, images, o.batch, label);
    (*record)["folder"] = text;
    (*record)["n"] = n;
    return set;
  }
  DataOptions data = parse_data_set(text);
  set.features = real_features(o, extractor, data, o.n, label, record);
  return set;
}

// For models with an encoder: the mean over n reference images of KL(q(z|x) || N(0, I)),
// the KL term of the ELBO; conditional ones encode each image with its label (condition_on
// as trained). Null for models without an encoder.
nlohmann::json mean_posterior_kl(const EvalOptions& o, Generator& generator, const DataOptions& data_options,
                                 ConditionOn condition_on) {
  if (!generator.has_encoder()) return nullptr;
  torch::NoGradGuard no_grad;
  Dataset data = load_dataset(data_options);
  const bool conditional = generator.num_classes() > 0;
  if (conditional) condition_dataset(data, condition_on, data_options.spec);
  const int64_t n = std::min(o.n, data.size());
  double total = 0;
  for (int64_t start = 0; start < n; start += o.batch) {
    const int64_t end = std::min(n, start + o.batch);
    torch::Tensor x = normalize_images(data.images.slice(0, start, end));
    auto [mu, log_var] = generator.posterior(x, conditional ? data.labels.slice(0, start, end) : torch::Tensor());
    total += gaussian_kl(mu, log_var).sum().item<double>();
  }
  return {{"kl", total / static_cast<double>(n)}, {"n", n}, {"split", data_options.split}};
}

void save_features(const std::string& path, const FeatureBatch& f, FeatureExtractor& extractor,
                   const nlohmann::json& source) {
  check_input(ends_with(path, ".npy"), path + ": features are written as NumPy .npy; name the file *.npy");
  write_npy(path, f.features);
  std::string stem = path.substr(0, path.size() - 4);
  if (f.probs.defined()) write_npy(stem + ".probs.npy", f.probs);
  write_json(stem + ".json", {{"source", source}, {"extractor", extractor.name()},
                              {"extractor_hash", extractor.file_hash()},
                              {"shape", {f.features.size(0), f.features.size(1)}}});
}

// The labels a classifier run learnt (its config's train.labels), or nullopt for another
// extractor (TorchScript).
std::optional<ConditionOn> extractor_labels(const EvalOptions& o) {
  if (!fs::is_directory(o.features) || !path_exists(o.features + "/config.json")) return std::nullopt;
  const nlohmann::json config = read_json(o.features + "/config.json");
  if (config.value("family", "") != "classifier") return std::nullopt;
  return classifier_labels(config);
}

// When the classifier tells apart finer classes than a conditional generator was trained on
// (emoji subcategories inside categories), a map from its classes to the generator's, read
// off the data: each of its classes goes to the one class all its images have. Empty when the
// labels are the same, or some class of the classifier spans two of the generator's.
std::vector<int64_t> class_map(Dataset data, ConditionOn fine, ConditionOn coarse, int64_t fine_count) {
  if (fine == coarse) return {};
  const std::string spec = data.spec;
  condition_dataset(data, fine, spec);
  const torch::Tensor fine_labels = data.labels;
  condition_dataset(data, coarse, spec);
  std::vector<int64_t> map(static_cast<size_t>(fine_count), -1);
  const int64_t* f = fine_labels.data_ptr<int64_t>();
  const int64_t* c = data.labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < data.size(); ++i) {
    int64_t& to = map[static_cast<size_t>(f[i])];
    if (to >= 0 && to != c[i]) return {};
    to = c[i];
  }
  return map;
}

// Whether the result's settings asked for metric (rprec, clipscore).
bool wants_metric(const nlohmann::json& result, const std::string& metric) {
  const nlohmann::json& m = result.at("settings").at("metrics");
  return std::find(m.begin(), m.end(), metric) != m.end();
}

std::string fixed(double value, int digits) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.*f", digits, value);
  return text;
}

}  // namespace

DataOptions run_data(const nlohmann::json& config, const std::string& split) {
  DataOptions data;
  data.spec = config.at("data").at("spec").get<std::string>();
  data.size = config.at("data").value("size", 0);
  data.channels = config.at("data").value("channels", 0);
  data.seed = config.at("data").value("seed", uint64_t{0});
  data.split = split;
  return data;
}

FeatureBatch real_features(const EvalOptions& o, FeatureExtractor& extractor, DataOptions data, int64_t n,
                           const std::string& label, nlohmann::json* record) {
  std::string key_text = data.spec + "|" + data.split + "|" + std::to_string(data.size) + "|" +
                         std::to_string(data.channels) + "|" + std::to_string(data.seed) + "|" + std::to_string(n) +
                         "|" + std::to_string(o.seed) + "|" + extractor.file_hash();
  std::string key = sha256_hex(key_text).substr(0, 16);
  std::string dir = o.cache_dir.empty() ? default_cache_dir() : o.cache_dir;
  std::string base = dir + "/features-" + key;
  (*record)["spec"] = data.spec;
  (*record)["split"] = data.split;
  (*record)["cache"] = base + ".features.npy";
  if (path_exists(base + ".features.npy") && path_exists(base + ".json")) {
    FeatureBatch cached;
    cached.features = read_npy(base + ".features.npy");
    if (path_exists(base + ".probs.npy")) cached.probs = read_npy(base + ".probs.npy");
    (*record)["n"] = cached.features.size(0);
    (*record)["cached"] = true;
    std::fprintf(stderr, "%s: %lld cached reference features from %s\n", label.c_str(),
                 static_cast<long long>(cached.features.size(0)), (base + ".features.npy").c_str());
    return cached;
  }
  Dataset d = load_dataset(data);
  check_input(d.size() >= n, data.spec + " (" + data.split + " split) has " + std::to_string(d.size()) +
                                 " images, fewer than the " + std::to_string(n) + " asked for; lower --n");
  torch::Tensor images = d.images;
  if (d.size() > n) {
    torch::Generator rng = make_rng(o.seed);
    images = images.index_select(0, torch::randperm(d.size(), rng).slice(0, 0, n));
  }
  FeatureBatch f = extract_features(extractor, images, o.batch, label);
  make_dirs(dir);
  write_npy(base + ".features.npy", f.features);
  if (f.probs.defined()) write_npy(base + ".probs.npy", f.probs);
  write_json(base + ".json", {{"key", key_text}, {"n", n}});
  (*record)["n"] = n;
  (*record)["cached"] = false;
  return f;
}

FeatureBatch generated_features(const EvalOptions& o, FeatureExtractor& extractor, Generator& generator,
                                torch::Tensor* labels, const torch::Tensor& prompts, torch::Tensor* images_out) {
  torch::NoGradGuard no_grad;
  torch::Generator rng = make_rng(o.seed);
  torch::Tensor z = generator.sample_latent(o.n, rng);
  if (generator.num_classes() > 0) *labels = torch::arange(o.n, torch::kInt64).remainder(generator.num_classes());
  const torch::Tensor& condition = prompts.defined() ? prompts : *labels;
  std::vector<torch::Tensor> images;
  Progress progress("generate", o.n);  // diffusion models take minutes
  for (int64_t start = 0; start < o.n; start += o.batch) {
    const int64_t end = std::min(o.n, start + o.batch);
    images.push_back(generator.sample_images(z.slice(0, start, end),
                                             condition.defined() ? condition.slice(0, start, end) : torch::Tensor(), rng));
    progress.update(end, generator.family());
  }
  progress.finish("done");
  torch::Tensor all = torch::cat(images);
  if (images_out) *images_out = all;
  return extract_features(extractor, all, o.batch, "generated");
}

HeldOutPrompts held_out_prompts(const Dataset& data, int64_t n) {
  const std::vector<CaptionFacts> facts = caption_facts(data);
  HeldOutPrompts p;
  std::vector<int64_t> category;
  for (int64_t i = 0; i < n; ++i) {
    const auto k = static_cast<size_t>(i % data.size());
    p.facts.push_back(facts[k]);
    p.captions.push_back(canonical_caption(facts[k]));
    p.groups.push_back(facts[k].name);
    category.push_back(data.labels[static_cast<int64_t>(k)].item<int64_t>());
  }
  p.category = torch::tensor(category, torch::kInt64);
  return p;
}

namespace {

// The share of images whose prompt names a skin tone that the evaluator matches with that
// tone rather than one of the other four (the same caption otherwise); chance 0.2. -1 when
// no prompt names one.
nlohmann::json skin_tone_accuracy(ClipRun& clip, const torch::Tensor& images, const std::vector<CaptionFacts>& facts) {
  static const std::vector<std::string> tones = {"light", "medium-light", "medium", "medium-dark", "dark"};
  std::vector<int64_t> rows;
  std::vector<std::string> candidates;
  std::vector<int64_t> truth;
  for (size_t i = 0; i < facts.size(); ++i) {
    if (facts[i].skin_tone.empty()) continue;
    rows.push_back(static_cast<int64_t>(i));
    for (const std::string& tone : tones) {
      CaptionFacts f = facts[i];
      f.skin_tone = tone;
      candidates.push_back(canonical_caption(f));
    }
    truth.push_back(std::find(tones.begin(), tones.end(), facts[i].skin_tone) - tones.begin());
  }
  if (rows.empty()) return {{"accuracy", -1}, {"images", 0}};
  const auto m = static_cast<int64_t>(rows.size());
  torch::Tensor image = embed_images(clip.model, images.index_select(0, torch::tensor(rows, torch::kInt64)));
  torch::Tensor text = embed_captions(clip.model, clip.tokenizer, candidates).view({m, 5, -1});
  torch::Tensor best = torch::einsum("ne,nke->nk", {image, text}).argmax(1);
  const double hits = (best == torch::tensor(truth, torch::kInt64)).sum().item<double>();
  return {{"accuracy", hits / static_cast<double>(m)}, {"images", m}};
}

nlohmann::json text_scores(const TextMatchScore& s) {
  return {{"r_precision", s.r_precision}, {"clip_score", s.clip_score}, {"images", s.images}, {"candidates", s.candidates}};
}

}  // namespace

const std::vector<std::string>& eval_metric_names() {
  static const std::vector<std::string> names = {"fid", "kid", "is", "pr", "kl", "rprec", "clipscore", "miou"};
  return names;
}

nlohmann::json score_features(const FeatureBatch& a, const FeatureBatch& b, const EvalOptions& o) {
  nlohmann::json scores = nlohmann::json::object();
  if (wants(o, "fid")) {
    double fid = frechet_distance(gaussian_stats(a.features), gaussian_stats(b.features));
    scores["fid"] = fid;
  }
  if (wants(o, "kid")) {
    MeanStd kid = kernel_inception_distance(a.features, b.features, o.kid_subsets, o.kid_subset_size, o.seed);
    scores["kid"] = {{"mean", kid.mean}, {"std", kid.std}};
  }
  if (wants(o, "is") && a.probs.defined()) {
    MeanStd is = inception_score(a.probs, o.is_splits);
    scores["is"] = {{"mean", is.mean}, {"std", is.std}};
  }
  if (wants(o, "pr")) {
    PrecisionRecall pr = precision_recall(b.features, a.features, o.pr_k);
    scores["precision"] = pr.precision;
    scores["recall"] = pr.recall;
  }
  if (wants(o, "kl") && a.probs.defined() && b.probs.defined()) {
    ClassHistogramKl kl = class_histogram_kl(b.probs.argmax(1), a.probs.argmax(1), a.probs.size(1));
    scores["kl"] = {{"kl", kl.kl}, {"classes_covered", kl.classes_covered}, {"classes", a.probs.size(1)},
                    {"histogram", kl.fake_histogram}, {"reference_histogram", kl.real_histogram}};
  }
  return scores;
}

bool draws_from_maps(const nlohmann::json& config) {
  const std::string family = config.value("family", "");
  if (family == "spade") return true;
  if (family != "pix2pix" || !config.contains("train")) return false;
  return config["train"].value("tasks", std::vector<std::string>{}) == std::vector<std::string>{"maps"};
}

torch::Tensor draw_from_maps(const std::string& run_dir, const torch::Tensor& maps, const std::string& palette,
                             uint64_t seed, int64_t batch) {
  torch::NoGradGuard no_grad;
  const int64_t n = maps.size(0);
  std::vector<torch::Tensor> images;
  Progress progress("generate", n);
  if (run_family(run_dir) == "spade") {
    SpadeRun run = load_spade(run_dir);
    torch::Generator rng = make_rng(seed);
    const torch::Tensor z = torch::randn({n, run.options.latent_dim()}, rng);
    for (int64_t i = 0; i < n; i += batch) {
      images.push_back(spade_generate(*run.net, maps.slice(0, i, i + batch), z.slice(0, i, i + batch)));
      progress.update(std::min(n, i + batch), "spade");
    }
  } else {
    Pix2pixRun run = load_pix2pix(run_dir);
    for (int64_t i = 0; i < n; i += batch) {
      torch::Tensor input =
          normalize_images(map_input_images(maps.slice(0, i, i + batch), map_palette(palette), run.options.channels()));
      images.push_back(run.net->forward(input).clamp(-1, 1));
      progress.update(std::min(n, i + batch), "pix2pix");
    }
  }
  progress.finish("done");
  return torch::cat(images);
}

namespace {

// A mask-to-image run draws image i from map i mod M of the reference split (M maps); miou
// scores the segmenter's maps of those images against the maps they were drawn from, and
// beside it (real) the segmenter's maps of the real images of the same maps.
FeatureBatch map_run_features(const EvalOptions& o, FeatureExtractor& extractor, const DataOptions& data,
                              nlohmann::json& settings, nlohmann::json* score, nlohmann::json* real_score) {
  Dataset ref = load_dataset(data);
  ensure_maps(ref);
  const torch::Tensor rows = torch::arange(o.n, torch::kInt64).remainder(ref.size());
  const torch::Tensor maps = ref.maps.index_select(0, rows);
  const torch::Tensor images = draw_from_maps(o.run, maps, ref.map_palette, o.seed, o.batch);
  settings["maps"] = "the " + ref.map_palette + " maps of the " + data.split + " split in turn (" + data.spec + ")";
  if (wants(o, "miou")) {
    const std::string path =
        !o.segmenter.empty() ? o.segmenter : ref.map_palette == "scenes" ? "models/shapes-segmenter" : "models/emoji-segmenter";
    SegmenterRun segmenter = load_segmenter(path);
    check_input(segmenter.palette == ref.map_palette, path + " segments " + segmenter.palette + " maps but " + o.run +
                                                          " draws " + ref.map_palette + " maps: give --segmenter");
    const MapPalette& palette = map_palette(ref.map_palette);
    settings["segmenter"] = path;
    *score = segmentation_score_to_json(score_segmentation(segment(*segmenter.net, images), maps, palette.size()),
                                        palette.class_names);
    const torch::Tensor real = normalize_images(ref.images.index_select(0, rows));
    *real_score = segmentation_score_to_json(score_segmentation(segment(*segmenter.net, real), maps, palette.size()),
                                             palette.class_names);
  }
  return extract_features(extractor, images, o.batch, "generated");
}

// The scores of a generator run (every family but the mask-to-image ones): its images'
// features, and, where they apply, the classifier's accuracy on the classes asked for, the
// encoder's mean posterior KL, and how well the images match their prompts.
struct GeneratorScores {
  FeatureBatch features;
  nlohmann::json class_accuracy, posterior_kl, text_match, text_match_real;
};

GeneratorScores generator_run_scores(const EvalOptions& o, FeatureExtractor& extractor, const nlohmann::json& config,
                                     const DataOptions& data, nlohmann::json& settings) {
  GeneratorScores out;
  torch::Tensor asked_labels;
  std::unique_ptr<Generator> generator = load_generator(o.run);
  const bool text = generator->family() == "t2i";
  // rprec and clipscore: a text model draws the reference split's captions (emoji it never
  // trained on); a class-conditional emoji model, the baseline, draws the class of each
  // caption's emoji (its category, for a category model) with the same captions to match.
  const bool match = wants(o, "rprec") || wants(o, "clipscore");
  const bool prompted = text || match;
  check_input(!match || text || (generator->num_classes() > 0 && is_emoji_spec(data.spec)),
              "rprec and clipscore measure text-to-image runs (and, as their baseline, class-conditional emoji "
              "runs); " + o.run + " is a " + generator->family() + " model of " + data.spec);
  if (auto* diffusion = dynamic_cast<DdpmModel*>(generator.get())) {
    diffusion->set_decode(o.sampler, o.sample_steps > 0 ? o.sample_steps : diffusion->options().sample_steps, o.guidance);
    settings["sampler"] = {{"sampler", sampler_names().name(o.sampler)},
                           {"steps", o.sample_steps > 0 ? o.sample_steps : diffusion->options().sample_steps},
                           {"guidance", o.guidance}};
  }
  HeldOutPrompts held_out;
  torch::Tensor condition, images;
  // The reference split, read once for the prompts, the category names and the real images.
  const Dataset ref = prompted ? load_dataset(data) : Dataset();
  if (prompted) {
    held_out = held_out_prompts(ref, o.n);
    if (text) {
      condition = dynamic_cast<DdpmModel&>(*generator).tokenize(held_out.captions);
      settings["prompts"] = "the canonical captions of the " + o.ref + " split in turn (" + data.spec + ")";
    } else {
      Dataset labelled = ref;
      condition_dataset(labelled, run_condition_on(config), data.spec);
      condition = labelled.labels.index_select(0, torch::arange(o.n, torch::kInt64).remainder(ref.size()));
      settings["prompts"] = "the " + condition_on_names().name(run_condition_on(config)) + " of each emoji of the " +
                            o.ref + " split in turn (" + data.spec + "), for its canonical caption";
    }
  }
  out.features = generated_features(o, extractor, *generator, &asked_labels, condition, prompted ? &images : nullptr);
  if (text) asked_labels = held_out.category;
  if (prompted && !text) asked_labels = condition;
  torch::Tensor predicted = out.features.probs.defined() ? out.features.probs.argmax(1) : torch::Tensor();
  const std::optional<ConditionOn> learnt = extractor_labels(o);
  if (asked_labels.defined() && predicted.defined() && learnt && predicted.size(0) > 0) {
    const ConditionOn asked = text ? ConditionOn::kCategory : run_condition_on(config);
    const std::vector<int64_t> map = class_map(prompted ? ref : load_dataset(data), *learnt, asked, out.features.probs.size(1));
    if (!map.empty()) {
      predicted = torch::tensor(map, torch::kInt64).index_select(0, predicted);
      settings["class_accuracy_map"] = condition_on_names().name(*learnt) + " -> " + condition_on_names().name(asked);
    }
  }
  if (asked_labels.defined() && predicted.defined() &&
      (out.features.probs.size(1) == generator->num_classes() || settings.contains("class_accuracy_map"))) {
    // The fraction of generated images the classifier puts in the class they were asked for
    // (a text model: the category of the emoji its prompt names).
    const torch::Tensor hit = (predicted == asked_labels).to(torch::kFloat64);
    const std::vector<std::string> names = text ? ref.class_names : run_class_names(config);
    std::vector<double> per_class;
    for (size_t c = 0; c < names.size(); ++c) {
      per_class.push_back(hit.index({asked_labels == static_cast<int64_t>(c)}).mean().item<double>());
    }
    out.class_accuracy = {{"accuracy", hit.mean().item<double>()}, {"per_class", per_class}, {"classes", names}};
  }
  if (match) {
    // How well the images match their prompts, by the contrastive evaluator; its score on
    // the real images of the split (the same captions) is the ceiling beside it.
    ClipRun clip = load_clip_run(o.clip);
    settings["clip"] = {{"run", o.clip}, {"distractors", o.distractors}};
    const HeldOutPrompts pool = held_out_prompts(ref, ref.size());
    out.text_match = text_scores(text_match(clip.model, clip.tokenizer, images, held_out.captions, held_out.groups,
                                              pool.captions, pool.groups, o.distractors, o.seed));
    out.text_match["skin_tone"] = skin_tone_accuracy(clip, images, held_out.facts);
    const int64_t m = std::min(o.n, ref.size());
    torch::Tensor real_images = normalize_images(ref.images.slice(0, 0, m));
    const HeldOutPrompts real_prompts = held_out_prompts(ref, m);
    out.text_match_real = text_scores(text_match(clip.model, clip.tokenizer, real_images, real_prompts.captions,
                                             real_prompts.groups, pool.captions, pool.groups, o.distractors, o.seed));
    out.text_match_real["skin_tone"] = skin_tone_accuracy(clip, real_images, real_prompts.facts);
  }
  out.posterior_kl = mean_posterior_kl(o, *generator, data, run_condition_on(config));
  return out;
}

}  // namespace

nlohmann::json evaluate(const EvalOptions& o) {
  check_input(!o.run.empty() != (!o.a.empty() || !o.b.empty()),
              "give either --run RUN, or --a SET and --b SET (a data spec, a folder of images or a .npy)");
  check_input(o.run.empty() || (o.a.empty() && o.b.empty()), "--run and --a/--b exclude each other");
  check_input(!o.run.empty() || (!o.a.empty() && !o.b.empty()), "--a and --b go together: give both");
  check_input(o.n >= 2, "--n must be at least 2, got " + std::to_string(o.n));
  check_input(o.ref == "test" || o.ref == "train", "--ref must be test or train, got '" + o.ref + "'");
  for (const auto& m : o.metrics) {
    const auto& known = eval_metric_names();
    check_input(std::find(known.begin(), known.end(), m) != known.end(),
                "unknown metric '" + m + "' (expected some of fid, kid, is, pr, kl, rprec, clipscore, miou)");
  }
  const int threads = set_threads(o.threads);
  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<FeatureExtractor> extractor = open_extractor(o);

  nlohmann::json settings = {
      {"latentkit_version", LATENTKIT_VERSION}, {"metrics", o.metrics}, {"n", o.n}, {"seed", o.seed},
      {"extractor", extractor->name()}, {"extractor_file", o.features}, {"extractor_hash", extractor->file_hash()},
      {"feature_dim", extractor->feature_dim()}, {"kid_subsets", o.kid_subsets},
      {"kid_subset_size", o.kid_subset_size}, {"pr_k", o.pr_k}, {"is_splits", o.is_splits}, {"threads", threads}};
  if (o.n < extractor->feature_dim() && wants(o, "fid")) {
    std::fprintf(stderr, "warning: n = %lld is below the feature dimension %lld: the covariance is singular and "
                 "FID is biased upwards; use --n %lld or more\n",
                 static_cast<long long>(o.n), static_cast<long long>(extractor->feature_dim()),
                 static_cast<long long>(extractor->feature_dim()));
  }

  nlohmann::json result;
  FeatureBatch a, b;
  nlohmann::json class_accuracy, posterior_kl, text_match_score, text_match_real, map_score, map_score_real;
  if (!o.run.empty()) {
    nlohmann::json config = read_json(o.run + "/config.json");
    const DataOptions data = run_data(config, o.ref);
    settings["run"] = o.run;
    settings["reference"] = nlohmann::json::object();
    const bool maps = draws_from_maps(config);
    check_input(maps || !wants(o, "miou"), "miou measures mask-to-image runs (spade, pix2pix --task maps); " + o.run +
                                               " is a " + config.value("family", std::string("?")) + " run");
    if (maps) {
      a = map_run_features(o, *extractor, data, settings, &map_score, &map_score_real);
    } else {
      GeneratorScores scores = generator_run_scores(o, *extractor, config, data, settings);
      a = scores.features;
      class_accuracy = scores.class_accuracy;
      posterior_kl = scores.posterior_kl;
      text_match_score = scores.text_match;
      text_match_real = scores.text_match_real;
    }
    b = real_features(o, *extractor, data, o.n, "reference (" + o.ref + ")", &settings["reference"]);
    if (o.floor) {
      DataOptions other = data;
      other.split = o.ref == "test" ? "train" : "test";
      settings["floor_set"] = nlohmann::json::object();
      FeatureBatch real = real_features(o, *extractor, other, o.n, "floor (" + other.split + ")", &settings["floor_set"]);
      result["floor"] = score_features(real, b, o);
    }
    if (data.spec == "emoji") {
      // A second reference: the same emoji drawn by two artists (google vs twitter, ref split),
      // each vendor with half of n (a split holds the same emoji in both).
      DataOptions google = data, twitter = data;
      google.spec = "emoji:google";
      twitter.spec = "emoji:twitter";
      settings["vendor_sets"] = nlohmann::json::object();
      const int64_t half = std::max<int64_t>(2, o.n / 2);
      FeatureBatch g = real_features(o, *extractor, google, half, "google (" + o.ref + ")", &settings["vendor_sets"]["google"]);
      FeatureBatch t = real_features(o, *extractor, twitter, half, "twitter (" + o.ref + ")", &settings["vendor_sets"]["twitter"]);
      result["vendors"] = score_features(g, t, o);
    }
  } else {
    settings["a"] = nlohmann::json::object();
    settings["b"] = nlohmann::json::object();
    a = load_set(o, *extractor, o.a, "set a", &settings["a"]).features;
    b = load_set(o, *extractor, o.b, "set b", &settings["b"]).features;
  }
  if (!o.dump_features.empty()) save_features(o.dump_features, a, *extractor, o.run.empty() ? o.a : o.run);
  if (!o.save_stats.empty()) save_features(o.save_stats, b, *extractor, settings.contains("reference") ? settings["reference"] : nlohmann::json(o.b));
  result["scores"] = score_features(a, b, o);
  if (!class_accuracy.is_null()) result["scores"]["class_accuracy"] = class_accuracy;
  if (!posterior_kl.is_null()) result["scores"]["posterior_kl"] = posterior_kl;
  if (!text_match_score.is_null()) {
    result["scores"]["text_match"] = text_match_score;
    result["floor"]["text_match"] = text_match_real;
  }
  if (!map_score.is_null()) {
    result["scores"]["segmentation"] = map_score;
    result["floor"]["segmentation"] = map_score_real;
  }
  settings["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  result["settings"] = settings;
  if (!o.run.empty()) write_json(o.run + "/eval.json", result);
  return result;
}

std::string format_eval_table(const nlohmann::json& result) {
  const nlohmann::json& s = result.at("scores");
  const nlohmann::json floor = result.contains("floor") ? result["floor"] : nlohmann::json::object();
  const nlohmann::json vendors = result.contains("vendors") ? result["vendors"] : nlohmann::json::object();
  std::ostringstream out;
  char line[200];
  auto row = [&](const std::string& name, const std::string& score, const std::string& real) {
    // The vendors' column: the same metric between google's and twitter's emoji.
    std::string other;
    if (!vendors.empty()) {
      const std::map<std::string, std::string> keys = {{"FID", "fid"}, {"KID", "kid"}, {"precision", "precision"}, {"recall", "recall"}};
      if (name == "metric") other = "google vs twitter";
      else if (keys.count(name) && vendors.contains(keys.at(name))) {
        const nlohmann::json& v = vendors[keys.at(name)];
        other = v.is_object() ? fixed(v.at("mean").get<double>(), 5) : fixed(v.get<double>(), name == "FID" ? 3 : 4);
      }
    }
    std::snprintf(line, sizeof(line), "  %-14s %-22s %-28s %s\n", name.c_str(), score.c_str(), real.c_str(), other.c_str());
    std::string text = line;
    while (!text.empty() && text[text.size() - 2] == ' ') text.erase(text.size() - 2, 1);  // no trailing spaces
    out << text;
  };
  auto mean_std = [&](const nlohmann::json& v, int digits) {
    return fixed(v.at("mean").get<double>(), digits) + " +- " + fixed(v.at("std").get<double>(), digits);
  };
  auto kl_text = [&](const nlohmann::json& v) {
    return fixed(v.at("kl").get<double>(), 4) + " (" + std::to_string(v.at("classes_covered").get<int64_t>()) + "/" +
           std::to_string(v.at("classes").get<int64_t>()) + " classes)";
  };
  row("metric", "score", floor.empty() ? "" : "floor (real vs real)");
  if (s.contains("fid")) row("FID", fixed(s["fid"].get<double>(), 3), floor.contains("fid") ? fixed(floor["fid"].get<double>(), 3) : "");
  if (s.contains("kid")) row("KID", mean_std(s["kid"], 5), floor.contains("kid") ? mean_std(floor["kid"], 5) : "");
  if (s.contains("is")) row("IS", mean_std(s["is"], 3), floor.contains("is") ? mean_std(floor["is"], 3) : "");
  if (s.contains("precision")) {
    row("precision", fixed(s["precision"].get<double>(), 4), floor.contains("precision") ? fixed(floor["precision"].get<double>(), 4) : "");
    row("recall", fixed(s["recall"].get<double>(), 4), floor.contains("recall") ? fixed(floor["recall"].get<double>(), 4) : "");
  }
  if (s.contains("kl")) row("class KL", kl_text(s["kl"]), floor.contains("kl") ? kl_text(floor["kl"]) : "");
  if (s.contains("class_accuracy")) row("class accuracy", fixed(s["class_accuracy"]["accuracy"].get<double>(), 4), "");
  if (s.contains("posterior_kl")) row("posterior KL (nats)", fixed(s["posterior_kl"]["kl"].get<double>(), 3), "");
  if (s.contains("text_match")) {
    // The floor column holds the real images' own score: the evaluator's ceiling.
    const nlohmann::json& t = s["text_match"];
    const nlohmann::json real = floor.contains("text_match") ? floor["text_match"] : nlohmann::json::object();
    auto with_real = [&](const std::string& key, int digits, const std::string& note) {
      return real.contains(key) ? fixed(real[key].get<double>(), digits) + note : std::string();
    };
    const std::string chance = " (real; chance " + fixed(1.0 / t["candidates"].get<double>(), 2) + ")";
    if (wants_metric(result, "rprec")) row("R-precision", fixed(t["r_precision"].get<double>(), 4), with_real("r_precision", 4, chance));
    if (wants_metric(result, "clipscore")) row("CLIP score", fixed(t["clip_score"].get<double>(), 2), with_real("clip_score", 2, " (real)"));
    const nlohmann::json& tone = t["skin_tone"];
    if (tone["images"].get<int64_t>() > 0) {
      row("skin tone acc.", fixed(tone["accuracy"].get<double>(), 4),
          real.contains("skin_tone") ? fixed(real["skin_tone"]["accuracy"].get<double>(), 4) + " (real; chance 0.20)" : "");
    }
  }
  if (s.contains("segmentation")) {
    // The floor column holds the segmenter on the real images of the same maps.
    const nlohmann::json real = floor.contains("segmentation") ? floor["segmentation"] : nlohmann::json::object();
    const double miou = s["segmentation"]["miou"].get<double>();
    row("mIoU", fixed(miou, 4),
        real.contains("miou") ? fixed(real["miou"].get<double>(), 4) + " (real; ratio " +
                                    fixed(miou / std::max(real["miou"].get<double>(), 1e-12), 3) + ")"
                              : "");
    row("pixel accuracy", fixed(s["segmentation"]["pixel_accuracy"].get<double>(), 4),
        real.contains("pixel_accuracy") ? fixed(real["pixel_accuracy"].get<double>(), 4) + " (real)" : "");
  }
  return out.str();
}

}  // namespace latentkit
