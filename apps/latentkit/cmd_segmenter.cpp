// latentkit segmenter train | test: the semantic segmenter that scores mask-to-image models (mIoU).
#include <cmath>
#include <cstdio>
#include <memory>

#include "apps/latentkit/commands.h"
#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/data/labelmaps.h"
#include "latentkit/models/segmenter.h"
#include "latentkit/train/segmenter_trainer.h"

namespace latentkit::app {
namespace {

struct SegmenterTrainParams {
  SegmenterTrainOptions options;
  LoopFlags flags;
};

struct SegmenterTestParams {
  std::string run;
  DataOptions data;
  int64_t batch = 128;
  bool json = false;
  int threads = 0;
  CLI::Option* data_option = nullptr;
};

void run_segmenter_train(SegmenterTrainParams& p) {
  if (p.flags.launch(p.options.loop.out)) return;
  SegmenterTrainOptions options = p.flags.resume() ? read_segmenter_run_options(p.options.loop.out) : p.options;
  options.loop = p.flags.apply(options.loop);
  report_training(train_segmenter(options, p.flags.resume()), options.loop.out,
                  "latentkit segmenter train --resume --out " + options.loop.out, options.loop.dist.rank);
}

void run_segmenter_test(SegmenterTestParams& p) {
  SegmenterRun run = load_segmenter(p.run);
  DataOptions data = p.data;
  if (p.data_option->count() == 0) {
    // By default: the data the segmenter was trained on (its test split: another seed for shapes-scenes).
    const nlohmann::json trained = read_json(p.run + "/config.json").value("data", nlohmann::json::object());
    data.spec = trained.value("spec", data.spec);
    data.seed = trained.value("seed", data.seed);
  }
  const SegmentationScore score = test_segmenter(run, data, p.batch);
  const std::vector<std::string>& names = map_palette(run.palette).class_names;
  if (p.json) {
    nlohmann::json out = segmentation_score_to_json(score, names);
    out["run"] = p.run;
    out["data"] = data.spec;
    out["split"] = data.split;
    out["palette"] = run.palette;
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  std::printf("mIoU %.4f, pixel accuracy %.4f on %lld %s images (%s split, %s maps)\n", score.miou, score.pixel_accuracy,
              static_cast<long long>(score.images), data.spec.c_str(), data.split.c_str(), run.palette.c_str());
  for (size_t k = 0; k < score.class_iou.size(); ++k) {
    const std::string name = k < names.size() ? names[k] : std::to_string(k);
    if (std::isfinite(score.class_iou[k])) {
      std::printf("  %-12s IoU %.4f\n", name.c_str(), score.class_iou[k]);
    } else {
      std::printf("  %-12s (in neither map)\n", name.c_str());
    }
  }
}

}  // namespace

void add_segmenter_command(CLI::App& app) {
  CLI::App* segmenter =
      app.add_subcommand("segmenter", "Train or test the semantic segmenter that scores mask-to-image models (mIoU)");
  segmenter->require_subcommand(1);

  auto tp = std::make_shared<SegmenterTrainParams>();
  SegmenterTrainOptions& o = tp->options;
  CLI::App* train = segmenter->add_subcommand("train", "Train a segmenter on a data set's label maps into a run folder");
  tp->flags.bind(train, o.loop);
  train->get_option("--lr")->description("Adam learning rate (constant)");
  train->get_option("--data")->description(
      "data with label maps: shapes-scenes[:COUNT] (exact maps) or color data such as emoji (region maps)");
  train->add_option("--width", o.width, "channels of the U-Net's outermost level (x2 at each level down)")
      ->check(CLI::Range(2, 256))
      ->capture_default_str();
  train->add_option("--levels", o.levels, "resolutions of the U-Net (the innermost at 1/2^(levels-1) of the size)")
      ->check(CLI::Range(1, 6))
      ->capture_default_str();
  train->add_option("--flip", o.flip, "random horizontal flips of image and map together")->capture_default_str();
  train->add_option("--test-limit", o.test_limit, "test images whose mIoU is logged after every epoch (0: the whole test split)")
      ->check(at_least(0))
      ->capture_default_str();
  train->footer(
      "Example:\n  latentkit segmenter train --data shapes-scenes --epochs 2 --seed 1 --out runs/shapes-segmenter\n"
      "Pixel cross entropy on the train split's label maps; mIoU on the test split after every epoch\n"
      "(train.jsonl, metrics.json). Ctrl-C saves a checkpoint; --resume continues.");
  torch_command(train, o.loop.threads, Work::kLong, [tp]() { run_segmenter_train(*tp); });

  auto sp = std::make_shared<SegmenterTestParams>();
  sp->data.split = "test";
  CLI::App* test = segmenter->add_subcommand("test", "mIoU, pixel accuracy and per-class IoU of a trained segmenter");
  test->add_option("--run", sp->run, "segmenter run folder (from segmenter train)")->required();
  add_data_options(test, sp->data);
  sp->data_option = test->get_option("--data");
  sp->data_option->description("data to test on (default: the run's); --size and --channels follow the model");
  test->add_option("--batch", sp->batch, "images per forward pass")->check(CLI::Range(1, 65536))->capture_default_str();
  test->add_flag("--json", sp->json, "print JSON on stdout");
  test->footer("Example:\n  latentkit segmenter test --run runs/shapes-segmenter --split test --limit 1000 --json");
  torch_command(test, sp->threads, Work::kShort, [sp]() { run_segmenter_test(*sp); });
}

}  // namespace latentkit::app
