#include "tests/unit/test_util.h"
#include "latentkit/train/checkpoint.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"

using namespace latentkit;
using latentkit::test_util::make_temp_dir;
namespace fs = std::filesystem;

namespace {

struct Tiny {
  torch::nn::Sequential net{torch::nn::Linear(4, 8), torch::nn::BatchNorm1d(8), torch::nn::ReLU(), torch::nn::Linear(8, 1)};
  torch::optim::Adam opt{net->parameters(), torch::optim::AdamOptions(1e-2)};

  void step() {
    // Draws from the global RNG, as a trainer's latents do.
    torch::Tensor x = torch::randn({16, 4});
    torch::Tensor loss = net->forward(x).pow(2).mean();
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  CheckpointParts parts() { return {{{"net", net.get()}}, {{"opt", &opt}}, {}}; }
};

}  // namespace

TEST(Checkpoint, ResumeContinuesBitwiseIdentically) {
  torch::set_num_threads(1);
  std::string run = make_temp_dir("ckpt_resume");
  torch::manual_seed(3);
  Tiny a;
  for (int i = 0; i < 5; ++i) a.step();
  save_checkpoint(run, 5, a.parts());
  for (int i = 0; i < 5; ++i) a.step();

  torch::manual_seed(99);  // different init and RNG: the checkpoint must restore both
  Tiny b;
  auto latest = latest_checkpoint(run);
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(load_checkpoint(*latest, b.parts()), 5);
  for (int i = 0; i < 5; ++i) b.step();

  auto pa = a.net->parameters();
  auto pb = b.net->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << "parameter " << i;
  auto ba = a.net->buffers();
  auto bb = b.net->buffers();
  for (size_t i = 0; i < ba.size(); ++i) EXPECT_TRUE(torch::equal(ba[i], bb[i])) << "buffer " << i;
  fs::remove_all(run);
}

TEST(Checkpoint, KeepsOnlyTheNewestAndPointsLatestAtTheLast) {
  std::string run = make_temp_dir("ckpt_keep");
  Tiny t;
  for (int64_t step : {10, 20, 30, 40}) save_checkpoint(run, step, t.parts(), 2);
  EXPECT_FALSE(fs::exists(run + "/checkpoints/step-0000010.pt"));
  EXPECT_FALSE(fs::exists(run + "/checkpoints/step-0000020.pt"));
  EXPECT_TRUE(fs::exists(run + "/checkpoints/step-0000030.pt"));
  EXPECT_TRUE(fs::exists(run + "/checkpoints/step-0000040.pt"));
  EXPECT_EQ(*latest_checkpoint(run), run + "/checkpoints/step-0000040.pt");
  for (const auto& entry : fs::directory_iterator(run + "/checkpoints"))
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << "temp file left behind";
  fs::remove_all(run);
}

TEST(Checkpoint, NoCheckpointIsNullopt) {
  std::string run = make_temp_dir("ckpt_none");
  EXPECT_FALSE(latest_checkpoint(run).has_value());
  fs::remove_all(run);
}

TEST(Checkpoint, TruncatedFileIsAClearError) {
  std::string run = make_temp_dir("ckpt_trunc");
  Tiny t;
  std::string path = save_checkpoint(run, 1, t.parts());
  std::string bytes = read_file(path);
  write_file_atomic(path, bytes.substr(0, bytes.size() / 2));
  try {
    load_checkpoint(path, t.parts());
    FAIL() << "a truncated checkpoint loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos);
  }
  fs::remove_all(run);
}
