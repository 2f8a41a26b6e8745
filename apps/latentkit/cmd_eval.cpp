// latentkit eval: FID, KID, IS, precision/recall and class KL, for a run or two image sets;
// R-precision and CLIP score for text-to-image runs.
#include <cstdio>
#include <memory>

#include "apps/latentkit/commands.h"
#include "latentkit/core/files.h"
#include "latentkit/eval/evaluate.h"

namespace latentkit::app {
namespace {

struct EvalParams {
  EvalOptions options;
  std::string metrics = "fid,kid,is,pr,kl";
  bool no_floor = false;
  std::string json_out;
};

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> items;
  std::string item;
  for (char c : text + ",") {
    if (c == ',') {
      if (!item.empty()) items.push_back(item);
      item.clear();
    } else if (c != ' ') {
      item += c;
    }
  }
  return items;
}

void run_eval(EvalParams& p) {
  EvalOptions o = p.options;
  o.metrics = split_commas(p.metrics);
  o.floor = !p.no_floor;
  nlohmann::json result = evaluate(o);
  std::fprintf(stderr, "\n%s", format_eval_table(result).c_str());
  if (!o.run.empty()) std::fprintf(stderr, "\nwrote %s/eval.json\n", o.run.c_str());
  if (!p.json_out.empty()) write_json(p.json_out, result);
  std::printf("%s\n", result.at("scores").dump().c_str());
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto p = std::make_shared<EvalParams>();
  EvalOptions& o = p->options;
  CLI::App* cmd = app.add_subcommand("eval", "Score a run (or two image sets): FID, KID, IS, precision/recall, class KL");
  cmd->add_option("--run", o.run, "run folder: its generator against its data's --ref split");
  cmd->add_option("--a", o.a, "first image set: data spec[@train|@test], folder of images, or features .npy");
  cmd->add_option("--b", o.b, "second (reference) image set, same forms as --a");
  cmd->add_option("--metrics", p->metrics,
                  "comma-separated: fid,kid,is,pr,kl; rprec,clipscore for text-to-image runs (R-precision and CLIP "
                  "score of held-out prompts, by --clip); miou for mask-to-image runs (spade, pix2pix --task maps: "
                  "the --segmenter's maps of the images against the maps they were drawn from)")
      ->capture_default_str();
  cmd->add_option("--n", o.n, "images per set")->check(CLI::Range(int64_t{2}, int64_t{10000000}))->capture_default_str();
  cmd->add_option("--ref", o.ref, "reference split of the run's data")->check(CLI::IsMember({"test", "train"}))->capture_default_str();
  cmd->add_option("--seed", o.seed, "seed of the generated latents, subsets and KID subsets")->capture_default_str();
  cmd->add_option("--features", o.features, "feature extractor: a classifier run folder or a TorchScript .pt")
      ->capture_default_str();
  cmd->add_option("--input-size", o.torchscript.input_size, "TorchScript extractor: input side in pixels")
      ->check(CLI::Range(8, 2048))
      ->capture_default_str();
  cmd->add_option("--input-range", o.torchscript.range, "TorchScript extractor: pixel range it expects")
      ->check(CLI::IsMember({"0,1", "-1,1", "0,255"}))
      ->capture_default_str();
  cmd->add_option("--input-channels", o.torchscript.channels, "TorchScript extractor: 1 or 3 (gray is repeated)")
      ->check(CLI::IsMember({1, 3}))
      ->capture_default_str();
  cmd->add_option("--input-normalize", o.torchscript.normalize, "TorchScript extractor: \"imagenet\" mean/std after 0..1")
      ->check(CLI::IsMember({"", "imagenet"}));
  cmd->add_option("--input-classes", o.torchscript.num_classes,
                  "TorchScript extractor: K > 0 if forward returns (features, logits [N, K])")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  cmd->add_option("--kid-subsets", o.kid_subsets, "KID: number of subsets")->check(CLI::Range(1, 100000))->capture_default_str();
  cmd->add_option("--kid-subset-size", o.kid_subset_size, "KID: images per subset")->check(CLI::Range(2, 1000000))->capture_default_str();
  cmd->add_option("--pr-k", o.pr_k, "precision/recall: k of the k-NN radii")->check(CLI::Range(1, 100))->capture_default_str();
  cmd->add_option("--is-splits", o.is_splits, "Inception Score: splits")->check(CLI::Range(1, 1000))->capture_default_str();
  cmd->add_flag("--no-floor", p->no_floor, "skip the real-vs-real floor");
  add_enum_option(cmd, "--sampler", o.sampler, sampler_names(), "diffusion runs: ddim or dpmpp (deterministic from x_T)");
  cmd->add_option("--sample-steps", o.sample_steps, "diffusion runs: sampler steps (0: the run's own)")
      ->check(CLI::Range(0, 10000))
      ->capture_default_str();
  cmd->add_option("--guidance", o.guidance, "cddpm, t2i: classifier-free guidance weight (1: none)")
      ->check(CLI::Range(0.0, 20.0))
      ->capture_default_str();
  cmd->add_option("--clip", o.clip, "rprec, clipscore: the contrastive evaluator (a latentkit clip train run)")
      ->capture_default_str();
  cmd->add_option("--distractors", o.distractors, "rprec: captions of other emoji ranked beside the true one")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  cmd->add_option("--segmenter", o.segmenter,
                  "miou: the segmenter run (latentkit segmenter train); default models/shapes-segmenter for scenes maps, "
                  "models/emoji-segmenter for region maps");
  cmd->add_option("--batch", o.batch, "images per extractor batch")->check(CLI::Range(1, 100000))->capture_default_str();
  cmd->add_option("--cache-dir", o.cache_dir, "reference-feature cache (default ~/.cache/latentkit)");
  cmd->add_option("--save-stats", o.save_stats, "write the reference set's features to FILE.npy (+ .probs.npy, .json)");
  cmd->add_option("--dump-features", o.dump_features, "write the first set's (generated) features to FILE.npy");
  cmd->add_option("--json", p->json_out, "also write the whole result to this JSON file");
  cmd->footer(
      "Examples:\n  latentkit eval --run models/fashion-dcgan --n 10000\n"
      "  latentkit eval --a fashion-mnist@train --b fashion-mnist@test --n 5000\n"
      "  latentkit eval --a my_images/ --b fashion-mnist --features inception.pt --input-size 299\n"
      "  latentkit eval --run runs/shapes-spade --metrics fid,miou --features models/shapes-classifier --n 2000");
  torch_command(cmd, o.threads, Work::kShort, [p]() { run_eval(*p); });
}

}  // namespace latentkit::app
