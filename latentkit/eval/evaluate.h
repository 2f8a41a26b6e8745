#pragma once
// latentkit eval: metrics between generated and real images (a run folder) or between any
// two image sets, with every setting recorded, reference features cached, and the floor
// (the same metrics between two real sets) next to every score.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "latentkit/data/dataset.h"
#include "latentkit/eval/features.h"
#include "latentkit/models/diffusion.h"
#include "latentkit/models/generator.h"

namespace latentkit {

struct EvalOptions {
  std::string run;  // a run folder: its generator against its dataset's --ref split
  std::string a;    // or two image sets: a dataset spec (fashion-mnist, idx:DIR, shapes...)
  std::string b;    // or a folder of PNG / JPEG images (any size)
  std::vector<std::string> metrics = {"fid", "kid", "is", "pr", "kl"};
  int64_t n = 10000;              // images per set (generated, and taken from each real set)
  std::string ref = "test";       // reference split of the run's data: test or train
  uint64_t seed = 0;              // latents of the generated images and KID subsets
  std::string features = "models/fashion-classifier";  // classifier run folder or TorchScript .pt
  TorchScriptExtractorOptions torchscript;             // used when features is a .pt file
  int64_t batch = 250;
  int64_t kid_subsets = 100;
  int64_t kid_subset_size = 1000;
  int64_t pr_k = 3;
  int64_t is_splits = 10;
  bool floor = true;              // also score real vs real (train vs test of the data)
  std::string cache_dir;          // reference features cache; "" = $XDG_CACHE_HOME or ~/.cache/latentkit
  std::string save_stats;         // write mu and sigma of set B (the reference) as .npy files with this prefix
  std::string dump_features;      // write features of set A (generated) to this .npy
  // Diffusion runs: the sampler of their generated images (steps 0: the run's sample_steps)
  // and the classifier-free guidance weight of conditional ones.
  Sampler sampler = Sampler::kDdim;
  int64_t sample_steps = 0;
  double guidance = 1.0;
  // Text-to-image runs (rprec, clipscore): the contrastive evaluator (a clip run folder).
  std::string clip = "models/emoji-clip";
  int64_t distractors = 99;       // R-precision: captions of other emoji beside the true one
  // Mask-to-image runs (miou): the segmenter run folder; "" picks models/shapes-segmenter for
  // scenes maps and models/emoji-segmenter for region maps.
  std::string segmenter;
  int threads = 0;
};

/// Every metric name eval knows, in report order.
const std::vector<std::string>& eval_metric_names();

/// Metrics of one pair of feature sets. probs may be undefined (IS, KL need classes).
nlohmann::json score_features(const FeatureBatch& a, const FeatureBatch& b, const EvalOptions& options);

/// The data a run was trained on (its config.json "data"), read from `split`.
DataOptions run_data(const nlohmann::json& config, const std::string& split);

/// Features of n images of a dataset (options.seed picks them), cached under options.cache_dir
/// by (spec, split, n, seed, extractor hash); record gets where they came from. eval's
/// reference and floor sets.
FeatureBatch real_features(const EvalOptions& options, FeatureExtractor& extractor, DataOptions data, int64_t n,
                           const std::string& label, nlohmann::json* record);

/// Features of options.n images the generator decodes from latents drawn with options.seed,
/// in batches of options.batch: eval's generated set. Conditional models generate the
/// classes in turn (image i: class i mod K), which labels gets (undefined otherwise); a text
/// model generates image i from prompts[i] (tokens [n, L]). images, when given, gets the
/// images themselves.
FeatureBatch generated_features(const EvalOptions& options, FeatureExtractor& extractor, Generator& generator,
                                torch::Tensor* labels, const torch::Tensor& prompts = {},
                                torch::Tensor* images = nullptr);

/// A text-to-image run's held-out prompts: image i of n is prompted with the canonical
/// caption of image i mod M of data (the reference split, M images); category gets that
/// image's category and group its base emoji (its name).
struct HeldOutPrompts {
  std::vector<std::string> captions, groups;
  torch::Tensor category;  // int64 [n]
  std::vector<CaptionFacts> facts;  // [n]
};
HeldOutPrompts held_out_prompts(const Dataset& data, int64_t n);

/// Whether a run draws images from label maps (spade, or pix2pix --task maps): eval then
/// draws image i from map i mod M of the reference split.
bool draws_from_maps(const nlohmann::json& config);
/// Images [N, C, S, S] a mask-to-image run draws from maps [N, S, S] of `palette`: spade with
/// latents drawn from seed, pix2pix from the maps' colors; in batches, with progress.
torch::Tensor draw_from_maps(const std::string& run_dir, const torch::Tensor& maps, const std::string& palette,
                             uint64_t seed, int64_t batch);

/// Runs the evaluation and returns eval.json's content: {"settings": {...}, "scores": {...},
/// "floor": {...}}. With options.run set, it is also written to RUN/eval.json.
nlohmann::json evaluate(const EvalOptions& options);

/// The table eval prints on stderr: one row per metric, the score next to the floor.
std::string format_eval_table(const nlohmann::json& result);

}  // namespace latentkit
