// The clip evaluator: the model, R-precision and CLIP score (eval/text_metrics.h) and its
// trainer (train/clip_trainer.h).
#include "latentkit/models/clip.h"

#include <gtest/gtest.h>

#include <ATen/autocast_mode.h>

#include <cmath>
#include <string>
#include <vector>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/eval/text_metrics.h"
#include "latentkit/train/clip_trainer.h"
#include "test_util.h"

namespace latentkit {
namespace {

using test_util::expect_error;
using test_util::read_jsonl;
using test_util::TempDir;

constexpr double kPi = 3.14159265358979323846;

// Unit vectors in the plane at angles in degrees, one row each.
torch::Tensor at_angles(const std::vector<double>& degrees) {
  std::vector<double> values;
  for (double d : degrees) {
    values.push_back(std::cos(d * kPi / 180));
    values.push_back(std::sin(d * kPi / 180));
  }
  return torch::tensor(values, torch::kDouble).view({-1, 2}).to(torch::kFloat);
}

// Five images, their true captions and a pool, in the plane (a caption at angle t and an
// image at angle i have cosine cos(t - i)):
//   caption a 10 deg (group A; twice in the pool, as the two vendors of an emoji are),
//   b 60 (B), c 200 (C), x 0 (A: beats a on image 0, but shares its group, so never ranks).
//   image 0 (A, a) at   0: a 0.985 > b 0.5, c -0.94                      hit
//   image 1 (B, b) at  90: b 0.866 > a 0.17, c -0.34, x 0                 hit
//   image 2 (C, c) at 180: c 0.940 > a -0.98, b -0.5, x -1                hit
//   image 3 (A, a) at  45: a 0.819 < b 0.966 (b is always drawn)          miss
//   image 4 (C, c) at   0: c -0.940 < a, b, x (every draw)                 miss
// With 2 distractors, images 0 and 3 have exactly b and c; images 1, 2 and 4 win or lose
// against any two of theirs, so the score does not depend on the draw.
struct PlaneCase {
  torch::Tensor images = at_angles({0, 90, 180, 45, 0});
  torch::Tensor truths = at_angles({10, 60, 200, 10, 200});
  std::vector<std::string> captions = {"a", "b", "c", "a", "c"};
  std::vector<std::string> groups = {"A", "B", "C", "A", "C"};
  torch::Tensor pool = at_angles({10, 10, 60, 200, 0});
  std::vector<std::string> pool_captions = {"a", "a", "b", "c", "x"};
  std::vector<std::string> pool_groups = {"A", "A", "B", "C", "A"};

  TextMatchScore score(int64_t distractors, uint64_t seed) const {
    return text_match_embeddings(images, truths, captions, groups, pool, pool_captions, pool_groups, distractors, seed);
  }
};

TEST(TextMatch, RPrecisionAndClipScoreOfAHandWorkedCase) {
  const PlaneCase c;
  const double expected_clip = 100.0 *
                               (std::cos(10 * kPi / 180) + std::cos(30 * kPi / 180) + std::cos(20 * kPi / 180) +
                                std::cos(35 * kPi / 180) + 0.0) / 5;  // image 4's cosine is negative: 0
  for (uint64_t seed : {0, 1, 7, 123}) {
    const TextMatchScore s = c.score(2, seed);
    EXPECT_DOUBLE_EQ(s.r_precision, 0.6) << seed;
    EXPECT_NEAR(s.clip_score, expected_clip, 1e-4) << seed;
    EXPECT_EQ(s.images, 5);
    EXPECT_EQ(s.candidates, 3);
    ASSERT_EQ(s.per_image.size(), 5u);
    EXPECT_TRUE(s.per_image[0].hit);
    EXPECT_NEAR(s.per_image[0].true_cosine, std::cos(10 * kPi / 180), 1e-6);
    EXPECT_EQ(s.per_image[0].distractor, "b");  // x (group A) never competes with image 0
    EXPECT_NEAR(s.per_image[0].distractor_cosine, 0.5, 1e-6);
    EXPECT_FALSE(s.per_image[3].hit);
    EXPECT_EQ(s.per_image[3].distractor, "b");
    EXPECT_EQ(s.per_image[3].caption, "a");
    EXPECT_EQ(s.per_image[3].group, "A");
    EXPECT_FALSE(s.per_image[4].hit);
  }
}

TEST(TextMatch, OneDistractorDependsOnTheDrawAsExpected) {
  // Image 1 at 90 deg with one distractor: a, c or x, all below b: a hit whatever is drawn.
  // Image 3 at 45: b (0.966) beats a, c (-0.57) does not: a hit exactly when c is drawn.
  PlaneCase c;
  c.images = at_angles({45});
  c.truths = at_angles({10});
  c.captions = {"a"};
  c.groups = {"A"};
  int hits = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) hits += c.score(1, seed).r_precision == 1.0 ? 1 : 0;
  EXPECT_GT(hits, 70);   // about half of 200
  EXPECT_LT(hits, 130);
  EXPECT_EQ(c.score(1, 5).r_precision, c.score(1, 5).r_precision);  // the same seed draws the same
}

TEST(TextMatch, BadInputIsAnError) {
  const PlaneCase c;
  // Image 0's group leaves b and c: 3 distractors are more than it has.
  expect_error([&] { c.score(3, 0); }, {"only 2 distinct pool captions outside its group 'A'", "fewer --distractors"});
  expect_error([&] { c.score(0, 0); }, {"distractors must be >= 1"});
  expect_error(
      [&] {
        text_match_embeddings(c.images, c.truths, c.captions, {"A"}, c.pool, c.pool_captions, c.pool_groups, 2, 0);
      },
      {"5 captions but 1 groups"});
  expect_error(
      [&] {
        text_match_embeddings(c.images.narrow(0, 0, 4), c.truths, c.captions, c.groups, c.pool, c.pool_captions,
                              c.pool_groups, 2, 0);
      },
      {"image embeddings must be [5, E]"});
  expect_error(
      [&] {
        text_match_embeddings(c.images, c.truths, c.captions, c.groups, c.pool, c.pool_captions, {"A", "B"}, 2, 0);
      },
      {"the pool has 5 captions but 2 groups"});
}

ClipOptions tiny_clip_options(int64_t vocab_size) {
  return ClipOptions().channels(4).image_size(16).width(4).embed_dim(8).text(
      TextEncoderOptions().vocab_size(vocab_size).max_tokens(8).width(16).layers(1).heads(2));
}

TEST(Clip, EmbeddingsAreUnitLengthAndImagesAreResized) {
  torch::manual_seed(0);
  Clip clip(tiny_clip_options(10));
  clip->eval();
  torch::NoGradGuard no_grad;
  // Images of one colour each: resized to any size, they stay what they are.
  const torch::Tensor colors = torch::rand({3, 4, 1, 1}) * 2 - 1;
  const torch::Tensor x = colors.expand({3, 4, 16, 16});
  const torch::Tensor e = clip->encode_images(x);
  ASSERT_EQ(e.sizes(), torch::IntArrayRef({3, 8}));
  EXPECT_LT((e.norm(2, 1) - 1).abs().max().item<double>(), 1e-5);
  EXPECT_LT((clip->encode_images(colors.expand({3, 4, 32, 32})) - e).abs().max().item<double>(), 1e-5);
  EXPECT_LT((clip->encode_images(colors.expand({3, 4, 24, 40})) - e).abs().max().item<double>(), 1e-5);
  EXPECT_GT((clip->encode_images(torch::rand({3, 4, 16, 16}) * 2 - 1) - e).abs().max().item<double>(), 1e-3);
  const torch::Tensor t = clip->encode_text(torch::tensor(std::vector<int64_t>{2, 3, 0, 4, 0, 0}).view({2, 3}));
  EXPECT_LT((t.norm(2, 1) - 1).abs().max().item<double>(), 1e-5);
  // The logit scale starts at 1 / 0.07 and is capped at 100.
  EXPECT_NEAR(clip->scale().item<double>(), 1 / 0.07, 1e-4);
  clip->logit_scale.fill_(10.0);
  EXPECT_NEAR(clip->scale().item<double>(), 100.0, 1e-3);
}

TEST(Clip, RunsUnderBf16Autocast) {
  // As the loop runs a step with --precision bf16: GroupNorm gets fp32, the embeddings come out in fp32.
  torch::manual_seed(4);
  Clip clip(tiny_clip_options(10));
  const torch::Tensor x = torch::rand({2, 4, 16, 16}) * 2 - 1;
  const torch::Tensor tokens = torch::tensor(std::vector<int64_t>{2, 3, 4, 5, 0, 0}).view({2, 3});
  const torch::Tensor e32 = clip->encode_images(x), t32 = clip->encode_text(tokens);
  at::autocast::set_cpu_enabled(true);
  at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  torch::Tensor e16, t16;
  try {
    e16 = clip->encode_images(x);
    t16 = clip->encode_text(tokens);
  } catch (...) {
    at::autocast::set_cpu_enabled(false);
    throw;
  }
  at::autocast::set_cpu_enabled(false);
  at::autocast::clear_cache();
  EXPECT_EQ(e16.scalar_type(), torch::kFloat);
  EXPECT_EQ(t16.scalar_type(), torch::kFloat);
  EXPECT_LT((e16 - e32).abs().max().item<double>(), 0.05);
  EXPECT_LT((t16 - t32).abs().max().item<double>(), 0.05);
}

TEST(Clip, BadInputIsAnError) {
  Clip clip(tiny_clip_options(10));
  expect_error([&] { clip->encode_images(torch::zeros({2, 3, 16, 16})); }, {"clip takes images [N, 4, H, W]"});
  expect_error([&] { clip->encode_text(torch::full({1, 3}, 10, torch::kInt64)); }, {"outside its vocabulary of 10"});
  expect_error([&] { clip->encode_text(torch::zeros({3}, torch::kInt64)); }, {"int64 tokens [N, L]"});
  expect_error([] { Clip(tiny_clip_options(10).channels(2)); }, {"1, 3 or 4 image channels"});
  expect_error([] { Clip(tiny_clip_options(10).image_size(8)); }, {"at least 16 px"});
  expect_error([] { load_clip_run("/nonexistent/clip-run"); }, {"not found", "latentkit clip train"});
}

TEST(Clip, OptionsRoundTripThroughJson) {
  const ClipOptions o = tiny_clip_options(37).width(12).embed_dim(24).image_size(32).channels(3);
  const ClipOptions back = clip_options_from_json(clip_options_to_json(o), "test");
  EXPECT_EQ(clip_options_to_json(back), clip_options_to_json(o));
  EXPECT_EQ(back.text().vocab_size(), 37);
  EXPECT_EQ(back.width(), 12);
  expect_error([] { clip_options_from_json({{"channels", 4}}, "RUN/config.json"); }, {"RUN/config.json", "malformed"});
}

TEST(TextMatch, WithAModelScoresItsOwnEmbeddings) {
  torch::manual_seed(3);
  const Tokenizer tokenizer({"cat dog face hand wave"}, 8);
  Clip clip(tiny_clip_options(tokenizer.vocab_size()));
  const torch::Tensor images = torch::rand({4, 4, 16, 16}) * 2 - 1;
  const std::vector<std::string> captions = {"cat face", "dog face", "hand", "wave"};
  const std::vector<std::string> groups = {"cat", "dog", "hand", "wave"};
  const TextMatchScore s = text_match(clip, tokenizer, images, captions, groups, captions, groups, 2, 4);
  EXPECT_TRUE(clip->is_training());  // the mode is restored
  clip->eval();
  const torch::Tensor ie = embed_images(clip, images), te = embed_captions(clip, tokenizer, captions);
  const TextMatchScore e = text_match_embeddings(ie, te, captions, groups, te, captions, groups, 2, 4);
  EXPECT_DOUBLE_EQ(s.r_precision, e.r_precision);
  EXPECT_NEAR(s.clip_score, e.clip_score, 1e-9);
  expect_error([&] { text_match(clip, tokenizer, images.narrow(0, 0, 3), captions, groups, captions, groups, 2, 0); },
               {"4 captions for images [3, 4, 16, 16]"});
  expect_error([&] { text_match(clip, tokenizer, images, {"cat", "dog", "hand", ""}, groups, captions, groups, 2, 0); },
               {"the prompt is empty"});
}

ClipTrainOptions tiny_train_options(const std::string& out) {
  ClipTrainOptions o;
  o.loop.out = out;
  o.loop.data.spec = "emoji";
  o.loop.data.size = 16;
  o.loop.data.limit = 48;
  o.loop.epochs = 40;
  o.loop.batch = 24;
  o.loop.lr = 1e-3;
  o.loop.seed = 1;
  o.loop.threads = 1;
  o.loop.log_every = 2;
  o.loop.checkpoint_every = 1000;
  o.loop.sample_count = 16;
  o.width = 8;
  o.embed_dim = 16;
  o.text_width = 16;
  o.text_layers = 1;
  o.text_heads = 2;
  o.warmup_steps = 2;
  o.shift = 0;
  o.eval_images = 24;
  return o;
}

TEST(ClipTrainer, AFewStepsLowerTheLossAndTheRunReloads) {
  TempDir dir;
  const std::string run = dir.file("clip");
  const TrainSummary summary = train_clip(tiny_train_options(run), false);
  EXPECT_EQ(summary.steps, 80);  // 40 epochs of 2 steps
  const std::vector<nlohmann::json> rows = read_jsonl(run + "/train.jsonl");
  std::vector<double> losses, r_precisions;
  for (const auto& row : rows) {
    if (row.contains("loss")) losses.push_back(row["loss"].get<double>());
    if (row.contains("train_r_precision")) r_precisions.push_back(row["train_r_precision"].get<double>());
  }
  ASSERT_EQ(losses.size(), 40u);
  // About ln(24) = 3.18 (less the masked pairs) for a model that tells nothing apart.
  EXPECT_GT(losses.front(), 2.0);
  EXPECT_LT(losses.back(), losses.front() - 1.0);
  // The first 48 train images are keycaps and letter buttons, which look much alike at 16 px,
  // against 23 distractors (chance 0.04).
  ASSERT_EQ(r_precisions.size(), 40u);
  EXPECT_GT(r_precisions.back(), 0.3);
  EXPECT_GT(r_precisions.back(), r_precisions.front() + 0.2);

  // The run folder alone rebuilds the model: options, tokenizer and weights.
  ClipRun loaded = load_clip_run(run);
  EXPECT_FALSE(loaded.model->is_training());
  EXPECT_EQ(loaded.config.at("family"), "clip");
  EXPECT_EQ(loaded.config.at("train").at("false_negatives"), "masked");
  EXPECT_EQ(loaded.tokenizer.max_tokens(), 24);
  EXPECT_EQ(loaded.tokenizer.vocab_size(), loaded.model->options.text().vocab_size());
  const ClipTrainOptions back = read_clip_run_options(run);
  EXPECT_EQ(back.width, 8);
  EXPECT_EQ(back.eval_images, 24);
  EXPECT_EQ(back.loop.data.limit, 48);
  EXPECT_TRUE(path_exists(run + "/samples/epoch-040.png"));

  // Its own score on the train images it saw, through test_clip, as clip test computes it.
  DataOptions data;
  data.spec = "emoji";
  data.limit = 48;
  const TextMatchScore s = test_clip(loaded, data, 5, 0);
  EXPECT_EQ(s.images, 48);
  EXPECT_EQ(s.candidates, 6);
  EXPECT_GT(s.r_precision, 1.0 / 6 + 0.2);
}

TEST(ClipTrainer, RefusesTestSplitsAndDataWithoutCaptions) {
  TempDir dir;
  ClipTrainOptions o = tiny_train_options(dir.file("a"));
  o.loop.data.split = "test";
  expect_error([&] { train_clip(o, false); }, {"train split only", "latentkit clip test"});
  o = tiny_train_options(dir.file("b"));
  o.loop.data.spec = "shapes:64";
  expect_error([&] { train_clip(o, false); }, {"data 'shapes:64' has none", "--data emoji"});
  o = tiny_train_options(dir.file("c"));
  o.text_width = 15;
  expect_error([&] { train_clip(o, false); }, {"--text-width (15) must be a positive multiple of --text-heads (2)"});
}

}  // namespace
}  // namespace latentkit
