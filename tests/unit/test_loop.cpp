#include "tests/unit/test_util.h"

#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/image.h"
#include "latentkit/core/names.h"
#include "latentkit/models/registry.h"
#include "latentkit/train/loop.h"

namespace latentkit {
namespace fs = std::filesystem;
using test_util::expect_error;
using test_util::read_jsonl;
using test_util::TempDir;
namespace {

// A toy family: a linear fit of y = 3x + 1 on 32 fixed points. Its first value is the
// 1-based step number, so the log's window means are known exactly; nan_at makes a step's
// value not finite.
class ToyTask : public TrainTask {
 public:
  explicit ToyTask(int64_t nan_at = 0) : nan_at_(nan_at) {}

  int64_t load_data(TrainLoopOptions&) override {
    x_ = torch::linspace(-1, 1, 32).unsqueeze(1);
    y_ = 3 * x_ + 1;
    return 32;
  }
  void build(const TrainLoopOptions& loop, TrainJob& job) override {
    net_ = torch::nn::Linear(1, 1);
    job.broadcast(*net_);
    opt_ = std::make_unique<torch::optim::Adam>(net_->parameters(), torch::optim::AdamOptions(loop.lr));
  }
  CheckpointParts parts() override { return {{{"net", net_.get()}}, {{"optimizer", opt_.get()}}, {}}; }
  nlohmann::json config(const TrainLoopOptions& loop) const override {
    return {{"family", "toy"}, {"data", data_options_to_json(loop.data)}, {"train", train_loop_options_to_json(loop)}};
  }
  std::string describe() const override { return "toy"; }
  std::vector<std::string> value_names() const override { return {"count", "mse"}; }
  double learning_rate(const TrainLoopOptions& loop, int64_t step, int64_t total_steps) const override {
    return loop.lr * static_cast<double>(step + 1) / static_cast<double>(total_steps);
  }
  std::vector<double> step(const StepInput& in) override {
    const torch::Tensor rows = in.job->share(in.indices);
    torch::Tensor loss = (net_->forward(x_.index_select(0, rows)) - y_.index_select(0, rows)).square().mean();
    opt_->zero_grad();
    loss.backward();
    opt_->step();
    const double count = in.step + 1 == nan_at_ ? NAN : static_cast<double>(in.step + 1);
    return {count, loss.item<double>()};
  }
  std::vector<std::pair<std::string, double>> derived_values(const std::vector<double>& means) const override {
    return {{"double_count", 2 * means[0]}};
  }
  std::string plot_title() const override { return "toy"; }
  void save_model(const std::string& path) override { save_module(*net_, path); }
  void write_samples(const std::string& path) override { write_png(path, Image(4, 4, 1, 128)); }
  nlohmann::json epoch_end(const std::string&, int64_t epoch) override { return {{"epoch_note", 10 * epoch}}; }

  torch::nn::Linear net_ = nullptr;

 private:
  int64_t nan_at_;
  torch::Tensor x_, y_;
  std::unique_ptr<torch::optim::Adam> opt_;
};

TrainLoopOptions toy_options(const std::string& out) {
  TrainLoopOptions o;
  o.out = out;
  o.data.spec = "toy";
  o.epochs = 2;
  o.batch = 8;  // 4 steps an epoch
  o.lr = 0.1;
  o.seed = 3;
  o.threads = 1;
  o.log_every = 3;
  o.checkpoint_every = 5;
  o.keep_checkpoints = 3;
  return o;
}

}  // namespace

TEST(Loop, LogsWindowMeansCheckpointsAndEpochOutputs) {
  TempDir dir;
  const std::string run = dir.file("run");
  ToyTask task;
  TrainSummary s = run_training(toy_options(run), task, false);
  EXPECT_EQ(s.steps, 8);
  EXPECT_EQ(s.steps_run, 8);
  EXPECT_FALSE(s.interrupted);
  EXPECT_EQ(s.precision, Precision::kFp32);

  // Log rows after steps 3, 6 and 8 (the last step): the means of their windows.
  std::vector<nlohmann::json> logged, epochs;
  for (const auto& row : read_jsonl(run + "/train.jsonl")) (row.contains("count") ? logged : epochs).push_back(row);
  ASSERT_EQ(logged.size(), 3u);
  EXPECT_EQ(logged[0]["step"], 3);
  EXPECT_DOUBLE_EQ(logged[0]["count"].get<double>(), 2.0);  // (1 + 2 + 3) / 3
  EXPECT_DOUBLE_EQ(logged[1]["count"].get<double>(), 5.0);  // (4 + 5 + 6) / 3
  EXPECT_DOUBLE_EQ(logged[2]["count"].get<double>(), 7.5);  // (7 + 8) / 2
  EXPECT_DOUBLE_EQ(logged[2]["double_count"].get<double>(), 15.0);
  EXPECT_LT(logged[2]["mse"].get<double>(), logged[0]["mse"].get<double>());
  // The schedule's rate at the window's last step, set on the optimizer.
  EXPECT_DOUBLE_EQ(logged[0]["lr"].get<double>(), 0.1 * 3 / 8);
  EXPECT_DOUBLE_EQ(logged[1]["epoch"].get<double>(), 1.5);
  // The task's rows after each epoch's outputs.
  ASSERT_EQ(epochs.size(), 2u);
  EXPECT_EQ(epochs[0]["step"], 4);
  EXPECT_EQ(epochs[0]["epoch"], 1);
  EXPECT_EQ(epochs[1]["epoch_note"], 20);

  // Checkpoints every 5 steps and at each epoch end (4, 8), the newest 3 kept.
  EXPECT_TRUE(fs::exists(run + "/checkpoints/step-0000004.pt"));
  EXPECT_TRUE(fs::exists(run + "/checkpoints/step-0000005.pt"));
  EXPECT_TRUE(fs::exists(run + "/checkpoints/step-0000008.pt"));
  EXPECT_EQ(read_file(run + "/checkpoints/latest"), "step-0000008.pt\n");
  EXPECT_TRUE(fs::exists(run + "/samples/epoch-001.png"));
  EXPECT_TRUE(fs::exists(run + "/samples/epoch-002.png"));
  EXPECT_TRUE(fs::exists(run + "/losses.png"));
  EXPECT_TRUE(fs::exists(run + "/model.pt"));
  const nlohmann::json config = read_json(run + "/config.json");
  EXPECT_EQ(config["train"]["precision"], "fp32");
  EXPECT_EQ(config["train"]["log_every"], 3);

  ToyTask again;
  expect_error([&] { run_training(toy_options(run), again, false); }, {"already holds a run", "--resume"});
}

TEST(Loop, StoppedAndResumedEqualsUninterrupted) {
  TempDir dir;
  ToyTask straight;
  run_training(toy_options(dir.file("straight")), straight, false);

  TrainLoopOptions first = toy_options(dir.file("split"));
  first.max_steps = 6;  // past the checkpoint of step 5: the resume replays step 6
  ToyTask a;
  EXPECT_EQ(run_training(first, a, false).steps, 6);
  TrainLoopOptions rest = train_loop_options_from_json(read_json(first.out + "/config.json")["train"],
                                                       read_json(first.out + "/config.json")["data"], first.out);
  rest.max_steps = 0;
  ToyTask b;
  TrainSummary s = run_training(rest, b, true);
  EXPECT_EQ(s.steps, 8);
  EXPECT_EQ(s.steps_run, 2);
  EXPECT_TRUE(read_file(dir.file("straight") + "/model.pt") == read_file(first.out + "/model.pt")) << "bitwise identical";
  EXPECT_TRUE(read_file(dir.file("straight") + "/checkpoints/step-0000008.pt") ==
              read_file(first.out + "/checkpoints/step-0000008.pt"));
  auto no_speed = [](std::vector<nlohmann::json> rows) {
    for (auto& row : rows) row.erase("img_per_s");
    return rows;
  };
  EXPECT_EQ(no_speed(read_jsonl(dir.file("straight") + "/train.jsonl")), no_speed(read_jsonl(first.out + "/train.jsonl")));
}

TEST(Loop, DivergenceNamesTheLastGoodCheckpointAndPointsLatestAtIt) {
  TempDir dir;
  TrainLoopOptions o = toy_options(dir.file("run"));
  o.checkpoint_every = 2;
  ToyTask task(/*nan_at=*/7);
  try {
    run_training(o, task, false);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.exit_code(), 1);
    EXPECT_NE(what.find("training diverged at step 7 (count nan)"), std::string::npos) << what;
    // Step 6's checkpoint holds the weights whose values at step 7 were not finite.
    EXPECT_NE(what.find("step-0000004.pt"), std::string::npos) << what;
    EXPECT_NE(what.find("latentkit train --resume --out " + o.out + " --lr 0.01"), std::string::npos) << what;
  }
  EXPECT_EQ(read_file(o.out + "/checkpoints/latest"), "step-0000004.pt\n");
  EXPECT_TRUE(fs::exists(o.out + "/checkpoints/step-0000006.pt"));

  ToyTask early(/*nan_at=*/1);
  TrainLoopOptions p = toy_options(dir.file("early"));
  expect_error([&] { run_training(p, early, false); }, {"diverged at step 1", "no good checkpoint", "--lr 0.01"});
}

TEST(Loop, AnOptionConfigJsonCouldNotReadBackIsRefusedBeforeAnyStep) {
  TempDir dir;
  TrainLoopOptions o = toy_options(dir.file("run"));
  o.lr = 1e15;  // the CLI refuses it; a library caller gets the same answer from the loop
  ToyTask task;
  expect_error([&] { run_training(o, task, false); }, {"the options: the number", "out of range (|x| < 2^31)"});
  EXPECT_FALSE(fs::exists(o.out + "/config.json"));
  EXPECT_FALSE(fs::exists(o.out + "/train.jsonl"));
}

TEST(Loop, OptionsRoundTripAndOlderRunsKeepDefaults) {
  TrainLoopOptions o = toy_options("runs/x");
  o.precision = Precision::kBf16;
  o.sample_count = 9;
  const TrainLoopOptions back = train_loop_options_from_json(train_loop_options_to_json(o), data_options_to_json(o.data), "runs/x");
  EXPECT_EQ(back.epochs, 2);
  EXPECT_EQ(back.batch, 8);
  EXPECT_DOUBLE_EQ(back.lr, 0.1);
  EXPECT_EQ(back.seed, 3u);
  EXPECT_EQ(back.log_every, 3);
  EXPECT_EQ(back.sample_count, 9);
  EXPECT_EQ(back.precision, Precision::kBf16);
  EXPECT_EQ(back.out, "runs/x");
  // A classifier run of an earlier version: no checkpoint_every, log_every or precision.
  const nlohmann::json old = {{"epochs", 8}, {"batch", 128}, {"lr", 0.001}, {"seed", 1}, {"threads", 2}, {"keep_checkpoints", 2}};
  const TrainLoopOptions older = train_loop_options_from_json(old, data_options_to_json(DataOptions{}), "runs/old");
  EXPECT_EQ(older.checkpoint_every, 500);
  EXPECT_EQ(older.keep_checkpoints, 2);
  EXPECT_EQ(older.precision, Precision::kFp32);
  expect_error([&] { train_loop_options_from_json({{"epochs", 1}}, data_options_to_json(DataOptions{}), "runs/bad"); },
               {"runs/bad/config.json is malformed"});
  nlohmann::json bad_precision = train_loop_options_to_json(o);
  bad_precision["precision"] = "fp8";
  expect_error([&] { train_loop_options_from_json(bad_precision, data_options_to_json(o.data), "runs/x"); },
               {"unknown --precision 'fp8' (expected fp32, bf16 or auto)"});
}

TEST(Loop, PrecisionNamesAndResolution) {
  EXPECT_EQ(precision_names().names(), (std::vector<std::string>{"fp32", "bf16", "auto"}));
  EXPECT_EQ(resolve_precision(Precision::kFp32), Precision::kFp32);
  EXPECT_EQ(resolve_precision(Precision::kBf16), Precision::kBf16);
  EXPECT_EQ(resolve_precision(Precision::kAuto), cpu_has_bf16() ? Precision::kBf16 : Precision::kFp32);
  NameTable<Precision> one("--x", {{Precision::kFp32, "a"}});
  EXPECT_EQ(one.list(), "a");
  NameTable<Precision> two("--x", {{Precision::kFp32, "a"}, {Precision::kBf16, "b"}});
  EXPECT_EQ(two.list(), "a or b");
}

TEST(Loop, Bf16StepsRunInBfloat16AndResumeExactly) {
  if (!cpu_has_bf16()) GTEST_SKIP() << "this CPU has no AVX512-BF16";
  TempDir dir;
  TrainLoopOptions o = toy_options(dir.file("bf16"));
  o.precision = Precision::kBf16;
  ToyTask straight;
  EXPECT_EQ(run_training(o, straight, false).precision, Precision::kBf16);
  // The same run in fp32 ends elsewhere: the bf16 steps did run in bfloat16.
  TrainLoopOptions fp32 = o;
  fp32.out = dir.file("fp32");
  fp32.precision = Precision::kFp32;
  ToyTask reference;
  run_training(fp32, reference, false);
  EXPECT_FALSE(read_file(o.out + "/model.pt") == read_file(fp32.out + "/model.pt"));
  EXPECT_EQ(read_json(o.out + "/config.json")["train"]["precision"], "bf16");
  TrainLoopOptions first = o;
  first.out = dir.file("bf16-split");
  first.max_steps = 6;
  ToyTask a;
  run_training(first, a, false);
  first.max_steps = 0;
  ToyTask b;
  run_training(first, b, true);
  EXPECT_TRUE(read_file(o.out + "/model.pt") == read_file(first.out + "/model.pt")) << "bf16 resumes bitwise";
}

}  // namespace latentkit
