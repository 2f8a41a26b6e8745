// latentkit clip train | test: the contrastive text-image evaluator of text-to-image models.
#include <cstdio>
#include <memory>

#include "apps/latentkit/commands.h"
#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/models/clip.h"
#include "latentkit/train/clip_trainer.h"

namespace latentkit::app {
namespace {

struct ClipTrainParams {
  ClipTrainOptions options;
  LoopFlags flags;
};

struct ClipTestParams {
  std::string run;
  DataOptions data;
  int64_t distractors = 99;
  uint64_t seed = 0;
  bool json = false;
  std::string details;
  int threads = 0;
  CLI::Option* data_option = nullptr;
};

void run_clip_train(ClipTrainParams& p) {
  if (p.flags.launch(p.options.loop.out)) return;
  ClipTrainOptions options = p.flags.resume() ? read_clip_run_options(p.options.loop.out) : p.options;
  options.loop = p.flags.apply(options.loop);
  report_training(train_clip(options, p.flags.resume()), options.loop.out,
                  "latentkit clip train --resume --out " + options.loop.out, options.loop.dist.rank);
}

void run_clip_test(ClipTestParams& p) {
  ClipRun run = load_clip_run(p.run);
  DataOptions data = p.data;
  if (p.data_option->count() == 0) {
    // By default: the data the model was trained on (its other split with --split test).
    const nlohmann::json& trained = run.config.at("data");
    data.spec = trained.value("spec", data.spec);
  }
  const TextMatchScore score = test_clip(run, data, p.distractors, p.seed);
  const double chance = 1.0 / static_cast<double>(score.candidates);
  if (!p.details.empty()) {
    std::string lines;
    for (size_t i = 0; i < score.per_image.size(); ++i) {
      const TextMatchImage& r = score.per_image[i];
      lines += nlohmann::json({{"image", i},
                               {"caption", r.caption},
                               {"group", r.group},
                               {"hit", r.hit},
                               {"true_cosine", r.true_cosine},
                               {"distractor", r.distractor},
                               {"distractor_cosine", r.distractor_cosine}})
                   .dump() +
               "\n";
    }
    write_file_atomic(p.details, lines);
  }
  if (p.json) {
    nlohmann::json out = {{"run", p.run},
                          {"data", data.spec},
                          {"split", data.split},
                          {"images", score.images},
                          {"candidates", score.candidates},
                          {"seed", p.seed},
                          {"r_precision", score.r_precision},
                          {"chance", chance},
                          {"clip_score", score.clip_score}};
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  std::printf("R-precision %.4f on %lld real %s images (%s split): the true caption ranked first among %lld (chance %.4f)\n",
              score.r_precision, static_cast<long long>(score.images), data.spec.c_str(), data.split.c_str(),
              static_cast<long long>(score.candidates), chance);
  std::printf("CLIP score  %.2f (mean of 100 * max(cos(image, true caption), 0))\n", score.clip_score);
}

}  // namespace

void add_clip_command(CLI::App& app) {
  CLI::App* clip = app.add_subcommand("clip", "Train or test the contrastive text-image evaluator (R-precision, CLIP score)");
  clip->require_subcommand(1);

  auto tp = std::make_shared<ClipTrainParams>();
  ClipTrainOptions& o = tp->options;
  CLI::App* train = clip->add_subcommand("train", "Train a clip model on the emoji train split into a run folder");
  tp->flags.bind(train, o.loop);
  train->get_option("--lr")->description("peak Adam learning rate (linear warm-up, then cosine decay to 0)");
  train->add_option("--width", o.width, "channels of the image encoder's first block (x2 at each of 3 downsamplings)")
      ->check(CLI::Range(4, 1024))
      ->capture_default_str();
  train->add_option("--embed-dim", o.embed_dim, "size of the joint image-text embedding")
      ->check(CLI::Range(2, 65536))
      ->capture_default_str();
  train->add_option("--text-width", o.text_width, "width of the text transformer")->check(CLI::Range(1, 4096))->capture_default_str();
  train->add_option("--text-layers", o.text_layers, "layers of the text transformer")->check(CLI::Range(1, 64))->capture_default_str();
  train->add_option("--text-heads", o.text_heads, "attention heads of the text transformer")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  train->add_option("--max-tokens", o.max_tokens, "the tokenizer's limit (words of a prompt)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  train->add_option("--shift", o.shift, "random translation of each image by up to this many px (0: none)")
      ->check(CLI::Range(0, 8))
      ->capture_default_str();
  train->add_option("--word-dropout", o.word_dropout,
                    "chance that a training caption's word is replaced by the unknown token (robustness to unknown words)")
      ->check(CLI::Range(0.0, 0.95))
      ->capture_default_str();
  train->add_option("--warmup-steps", o.warmup_steps, "steps of linear learning-rate warm-up")
      ->check(at_least(0))
      ->capture_default_str();
  train->add_option("--eval-images", o.eval_images, "train images whose R-precision is logged after every epoch")
      ->check(at_least(2))
      ->capture_default_str();
  train->footer(
      "Example:\n  latentkit clip train --data emoji --size 32 --epochs 30 --seed 1 --out runs/emoji-clip\n"
      "Trains on the emoji train split only (test-split emoji are held-out prompts); a random caption per image and\n"
      "step. Ctrl-C saves a checkpoint; --resume continues. Never use the model as a generator's training loss.");
  torch_command(train, o.loop.threads, Work::kLong, [tp]() { run_clip_train(*tp); });

  auto sp = std::make_shared<ClipTestParams>();
  sp->data.spec = "emoji";
  sp->data.split = "test";
  CLI::App* test = clip->add_subcommand(
      "test", "R-precision and CLIP score of a split's real images against their canonical captions (the evaluator's ceiling)");
  test->add_option("--run", sp->run, "clip run folder (from clip train) or models/emoji-clip")->required();
  add_data_options(test, sp->data);
  sp->data_option = test->get_option("--data");
  sp->data_option->description("emoji data to test on (default: the run's); --size and --channels follow the model");
  test->add_option("--distractors", sp->distractors, "captions of other emoji ranked against the true one")
      ->check(at_least(1))
      ->capture_default_str();
  test->add_option("--seed", sp->seed, "seed of the distractor draw")->capture_default_str();
  test->add_flag("--json", sp->json, "print JSON on stdout");
  test->add_option("--details", sp->details,
                   "write one JSON line per image to this file: its caption, hit, cosine, and the best distractor");
  test->footer("Example:\n  latentkit clip test --run models/emoji-clip --split test --json");
  torch_command(test, sp->threads, Work::kShort, [sp]() { run_clip_test(*sp); });
}

}  // namespace latentkit::app
