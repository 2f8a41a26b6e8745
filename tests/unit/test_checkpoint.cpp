#include "tests/unit/test_util.h"
#include "latentkit/train/checkpoint.h"

#include <csignal>
#include <cstdlib>
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

namespace {

// The message of loading bytes as a checkpoint, "" when they load.
std::string load_error(const std::string& bytes, Tiny& t) {
  try {
    load_checkpoint_bytes(bytes, "ckpt.pt", t.parts());
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

}  // namespace

// The footer: "LKCKPT01", the archive's length and CRC-32 (little-endian), checked before
// LibTorch reads a byte.
TEST(Checkpoint, AFooterChecksTheArchiveBeforeLibTorchReadsIt) {
  std::string run = make_temp_dir("ckpt_footer");
  Tiny t;
  const std::string bytes = read_file(save_checkpoint(run, 5, t.parts()));
  ASSERT_GT(bytes.size(), 20u);
  const std::string footer = bytes.substr(bytes.size() - 20);
  EXPECT_EQ(footer.substr(0, 8), "LKCKPT01");
  uint64_t length = 0;
  for (int i = 0; i < 8; ++i) length |= uint64_t{static_cast<unsigned char>(footer[8 + i])} << (8 * i);
  EXPECT_EQ(length, bytes.size() - 20);
  EXPECT_EQ(bytes.substr(0, 2), "PK");  // the archive itself is LibTorch's zip, unchanged
  EXPECT_EQ(load_error(bytes, t), "");

  std::string flipped = bytes;
  flipped[flipped.size() / 2] ^= 0x10;
  EXPECT_NE(load_error(flipped, t).find("do not match their CRC-32"), std::string::npos);
  const std::string cut = bytes.substr(0, 100) + footer;
  EXPECT_NE(load_error(cut, t).find("its footer counts " + std::to_string(length) + " bytes, the file holds 100"),
            std::string::npos);
  // Without the footer (a checkpoint of latentkit before it, or not one at all): refused,
  // unless the user says they trust it.
  const std::string old = bytes.substr(0, bytes.size() - 20);
  EXPECT_NE(load_error(old, t).find("LATENTKIT_TRUST_OLD_CHECKPOINTS=1"), std::string::npos);
  setenv("LATENTKIT_TRUST_OLD_CHECKPOINTS", "1", 1);
  EXPECT_EQ(load_error(old, t), "");
  EXPECT_NE(load_error(std::string("not a zip at all"), t).find("truncated, corrupt or from another model"),
            std::string::npos);
  unsetenv("LATENTKIT_TRUST_OLD_CHECKPOINTS");
  fs::remove_all(run);
}

TEST(Checkpoint, ARunStoppedBeforeItsFirstCheckpointResumesFromStepZero) {
  std::string run = make_temp_dir("ckpt_first");
  write_json(run + "/config.json", {{"family", "tiny"}});
  Tiny t;
  const torch::Tensor before = t.net->parameters()[0].clone();
  EXPECT_FALSE(checkpoint_to_resume(run).has_value());
  EXPECT_EQ(resume_latest(run, t.parts()), 0);
  EXPECT_TRUE(torch::equal(t.net->parameters()[0], before)) << "nothing loaded";
  // A finished run whose checkpoints are gone (or a shipped model) has nothing to continue.
  write_file_atomic(run + "/model.pt", "weights");
  try {
    checkpoint_to_resume(run);
    FAIL() << "a run with a model.pt and no checkpoint resumed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(run + " has no checkpoint yet"), std::string::npos) << e.what();
  }
  save_checkpoint(run, 6, t.parts());
  EXPECT_EQ(*checkpoint_to_resume(run), run + "/checkpoints/step-0000006.pt");
  fs::remove_all(run);
}

TEST(Checkpoint, TrimTrainLogDropsLaterRowsCutLinesAndTheRedoneEpochRow) {
  std::string run = make_temp_dir("ckpt_trim");
  write_file_atomic(run + "/train.jsonl",
                    "{\"step\":2,\"loss\":1.5}\n"
                    "{\"step\":4,\"loss\":0.5}\n"
                    "{\"step\":4,\"epoch\":1,\"test_accuracy\":0.25}\n"
                    "{\"step\":6,\"loss\":0.25}\n"
                    "{\"step\":8,\"lo");  // cut by a kill
  const std::string all = "{\"step\":2,\"loss\":1.5}\n{\"step\":4,\"loss\":0.5}\n{\"step\":4,\"epoch\":1,\"test_accuracy\":0.25}\n";
  EXPECT_EQ(trim_train_log(run, 4).size(), 3u);
  EXPECT_EQ(read_file(run + "/train.jsonl"), all);
  const auto rows = trim_train_log(run, 4, "loss");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1]["loss"].get<double>(), 0.5);
  EXPECT_EQ(read_file(run + "/train.jsonl"), "{\"step\":2,\"loss\":1.5}\n{\"step\":4,\"loss\":0.5}\n");
  EXPECT_TRUE(trim_train_log(run, 0).empty());
  EXPECT_EQ(read_file(run + "/train.jsonl"), "");
  fs::remove_all(run);
}

TEST(Checkpoint, TestHookKillsTheNthSaveHalfWayThroughItsTempFile) {
  // The child runs this test again from the start (threadsafe style), so its count of saves
  // starts at 0 and its weights and RNG are those of the parent's torch::manual_seed(0); it
  // finds the parent's folder in the environment.
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  torch::manual_seed(0);
  Tiny t;
  const char* parent_run = std::getenv("LATENTKIT_TEST_HOOK_RUN");
  const std::string run = parent_run ? parent_run : make_temp_dir("ckpt_hook");
  ::setenv("LATENTKIT_TEST_HOOK_RUN", run.c_str(), 1);
  ::setenv("LATENTKIT_TEST_KILL_IN_CHECKPOINT", "2", 1);
  EXPECT_EQ(test_kill_in_checkpoint(), 2);
  EXPECT_EXIT(
      {
        save_checkpoint(run, 3, t.parts());
        save_checkpoint(run, 7, t.parts());
      },
      ::testing::KilledBySignal(SIGKILL), "");
  ::unsetenv("LATENTKIT_TEST_KILL_IN_CHECKPOINT");
  ::unsetenv("LATENTKIT_TEST_HOOK_RUN");
  EXPECT_EQ(test_kill_in_checkpoint(), -1);
  // The first save is whole and `latest` names it; the second left half its bytes in a temp file.
  EXPECT_EQ(*latest_checkpoint(run), run + "/checkpoints/step-0000003.pt");
  EXPECT_FALSE(fs::exists(run + "/checkpoints/step-0000007.pt"));
  std::string temp;
  for (const auto& entry : fs::directory_iterator(run + "/checkpoints")) {
    const std::string name = entry.path().filename().string();
    if (is_atomic_temp_name(name)) temp = entry.path().string();
  }
  ASSERT_FALSE(temp.empty()) << "no temp file left by the killed save";
  EXPECT_EQ(fs::path(temp).filename().string().rfind(".step-0000007.pt.tmp.", 0), 0u) << temp;
  std::string whole = make_temp_dir("ckpt_hook_whole");
  const std::string bytes = read_file(save_checkpoint(whole, 7, t.parts()));
  EXPECT_EQ(read_file(temp), bytes.substr(0, bytes.size() / 2));
  EXPECT_EQ(remove_atomic_temp_files(run + "/checkpoints"), 1);
  fs::remove_all(run);
  fs::remove_all(whole);
}
