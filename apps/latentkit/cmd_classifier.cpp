// latentkit classifier train | test: the feature extractor for the metrics and steering.
#include <cmath>
#include <cstdio>
#include <memory>

#include "apps/latentkit/commands.h"
#include "latentkit/core/error.h"
#include "latentkit/models/classifier.h"
#include "latentkit/train/classifier_trainer.h"

namespace latentkit::app {
namespace {

struct ClassifierTrainParams {
  ClassifierTrainOptions options;
  LoopFlags flags;
};

struct ClassifierTestParams {
  std::string run;
  DataOptions data;
  int64_t batch = 256;
  bool json = false;
  int threads = 0;
  CLI::Option* data_option = nullptr;
};

void run_classifier_train(ClassifierTrainParams& p) {
  if (p.flags.launch(p.options.loop.out)) return;
  ClassifierTrainOptions options = p.flags.resume() ? read_classifier_run_options(p.options.loop.out) : p.options;
  options.loop = p.flags.apply(options.loop);
  report_training(train_classifier(options, p.flags.resume()), options.loop.out,
                  "latentkit classifier train --resume --out " + options.loop.out, options.loop.dist.rank);
}

void run_classifier_test(ClassifierTestParams& p) {
  ClassifierRun run = load_classifier_run(p.run);
  DataOptions data = p.data;
  if (p.data_option->count() == 0) {
    // By default: the data the classifier was trained on.
    const nlohmann::json& trained = run.config.at("data");
    data.spec = trained.value("spec", data.spec);
    data.seed = trained.value("seed", data.seed);
  }
  const bool test_side = data.split == "test";
  ClassifierScore score = test_classifier(run, data, test_side, p.batch);
  if (p.json) {
    nlohmann::json out = classifier_score_to_json(score, run.class_names, run.factor_names);
    out["run"] = p.run;
    out["data"] = data.spec;
    out["split"] = data.split;
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  std::printf("accuracy %.4f on %lld %s images (%s split), mean cross entropy %.4f\n", score.accuracy,
              static_cast<long long>(score.images), data.spec.c_str(), data.split.c_str(), score.loss);
  for (size_t c = 0; c < score.class_accuracy.size(); ++c) {
    const std::string name = c < run.class_names.size() ? run.class_names[c] : std::to_string(c);
    if (std::isfinite(score.class_accuracy[c])) {
      std::printf("  %-12s %.4f\n", name.c_str(), score.class_accuracy[c]);
    } else {
      std::printf("  %-12s (no images)\n", name.c_str());
    }
  }
  for (size_t f = 0; f < score.factor_r2.size(); ++f) {
    std::printf("  R^2 %-8s %.4f\n", run.factor_names[f].c_str(), score.factor_r2[f]);
  }
}

}  // namespace

void add_classifier_command(CLI::App& app) {
  CLI::App* classifier = app.add_subcommand("classifier", "Train or test the classifier used as the metrics' feature extractor");
  classifier->require_subcommand(1);

  auto tp = std::make_shared<ClassifierTrainParams>();
  ClassifierTrainOptions& o = tp->options;
  CLI::App* train = classifier->add_subcommand("train", "Train a classifier into a run folder");
  tp->flags.bind(train, o.loop);
  train->get_option("--lr")->description("peak Adam learning rate (cosine decay to 0 over all epochs)");
  train->add_option("--width", o.width, "channels of the first convolution block (the second has twice as many)")
      ->check(CLI::Range(4, 1024))
      ->capture_default_str();
  train->add_option("--feature-dim", o.feature_dim, "size of the feature vector (the penultimate layer)")
      ->check(CLI::Range(2, 65536))
      ->capture_default_str();
  train->add_option("--dropout", o.dropout, "dropout on the features during training")
      ->check(CLI::Range(0.0, 0.95))
      ->capture_default_str();
  train->add_option("--flip", o.flip, "random horizontal flips (never on data with known factors such as shapes)")
      ->capture_default_str();
  add_enum_option(train, "--labels", o.labels, condition_on_names(),
                  "what it learns to tell apart: class (the data's classes), or for emoji category, subcategory, vendor or "
                  "skin-tone; hue: shapes' hue in 6 buckets");
  train->add_option("--test-limit", o.test_limit, "test on the first N test images only (0: all)")
      ->check(at_least(0))
      ->capture_default_str();
  train->footer(
      "Example:\n  latentkit classifier train --data fashion-mnist --epochs 8 --seed 1 --out models/fashion-classifier\n"
      "Tests on the test split after every epoch (image folders: every 10th image is held out).\n"
      "On shapes it also regresses scale, x, y and hue (as cos/sin). Ctrl-C saves a checkpoint; --resume continues.");
  torch_command(train, o.loop.threads, Work::kLong, [tp]() { run_classifier_train(*tp); });

  auto sp = std::make_shared<ClassifierTestParams>();
  sp->data.split = "test";
  CLI::App* test = classifier->add_subcommand("test", "Measure a trained classifier's accuracy");
  test->add_option("--run", sp->run, "classifier run folder (from classifier train) or models/fashion-classifier")->required();
  add_data_options(test, sp->data);
  sp->data_option = test->get_option("--data");
  sp->data_option->description("data to test on (default: the data the classifier was trained on)");
  test->add_option("--batch", sp->batch, "images per forward pass")->check(CLI::Range(1, 65536))->capture_default_str();
  test->add_flag("--json", sp->json, "print JSON on stdout");
  test->footer("Example:\n  latentkit classifier test --run models/fashion-classifier --split test --json");
  torch_command(test, sp->threads, Work::kShort, [sp]() { run_classifier_test(*sp); });
}

}  // namespace latentkit::app
