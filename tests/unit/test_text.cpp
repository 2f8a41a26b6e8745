#include "latentkit/models/text.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "latentkit/core/error.h"
#include "latentkit/data/captions.h"

namespace latentkit {
namespace {

TextEncoderOptions tiny_options() { return TextEncoderOptions().vocab_size(7).max_tokens(6).width(8).layers(2).heads(2); }

// Every parameter, in the order of its sorted name, filled with 0.5 sin(0.37 k + 1.3 i) over
// its flat index k: the same weights tests/unit/test_text.cpp's Python reference builds.
void set_deterministic_weights(TextEncoder& model) {
  torch::NoGradGuard no_grad;
  auto params = model->named_parameters(true);
  std::vector<std::string> names = params.keys();
  std::sort(names.begin(), names.end());
  for (size_t i = 0; i < names.size(); ++i) {
    torch::Tensor p = params[names[i]];
    const torch::Tensor k = torch::arange(p.numel(), torch::kDouble);
    p.copy_((0.5 * torch::sin(0.37 * k + 1.3 * static_cast<double>(i))).view(p.sizes()).to(torch::kFloat));
  }
}

TEST(TextEncoder, MatchesPyTorchOnSetWeights) {
  torch::manual_seed(0);
  TextEncoder model(tiny_options());
  ASSERT_EQ(model->named_parameters(true).size(), 28u);  // token, position, ln_out (2), 2 blocks x 12
  set_deterministic_weights(model);
  model->eval();
  const torch::Tensor tokens = torch::tensor({3, 5, 2, 0, 0, 0, 6, 0, 0, 0, 0, 0, 4, 4, 1, 2, 3, 5}, torch::kInt64).view({3, 6});
  // The same encoder written out in PyTorch 1.13 (layer_norm, masked softmax with -1e9, exact
  // GELU, masked mean pool) on the same weights: /usr/bin/python3, printed to 7 decimals.
  const torch::Tensor expected = torch::tensor(
      {-0.5843043f, -0.7784693f, -0.0414371f, 0.4450678f, 0.7511370f, 0.6458705f, 0.4057405f, 0.2855116f,
       -0.5206259f, -0.7783024f, -0.1016797f, 0.3941122f, 0.7494205f, 0.6467670f, 0.3948785f, 0.2934226f,
       -0.5958160f, -0.7671186f, -0.0483272f, 0.4611317f, 0.7474830f, 0.6480898f, 0.4084944f, 0.2845602f}).view({3, 8});
  torch::NoGradGuard no_grad;
  const torch::Tensor out = model->forward(tokens);
  ASSERT_EQ(out.sizes(), torch::IntArrayRef({3, 8}));
  EXPECT_LT((out - expected).abs().max().item<double>(), 2e-6);
  // The rows differ only in their second decimal (the last LayerNorm's affine dominates):
  // the differences must match too, not just the shared part.
  const torch::Tensor d_out = out[0] - out[1], d_expected = expected[0] - expected[1];
  EXPECT_LT((d_out - d_expected).pow(2).mean().item<double>() / d_expected.pow(2).mean().item<double>(), 1e-8);
}

TEST(TextEncoder, PaddingDoesNotChangeThePooledPrompt) {
  torch::manual_seed(1);
  Tokenizer tokenizer({"a cat face with heart eyes", "waving hand medium dark skin tone"}, 24);
  TextEncoder model(TextEncoderOptions().vocab_size(tokenizer.vocab_size()).max_tokens(24).width(32).layers(2).heads(4));
  model->eval();
  torch::NoGradGuard no_grad;
  for (const std::string prompt : {"cat face with heart eyes", "waving hand, dark skin tone", "hand"}) {
    const std::vector<int64_t> ids = tokenizer.encode(prompt);
    const torch::Tensor own = torch::tensor(ids, torch::kInt64).view({1, -1});
    const torch::Tensor padded = tokenizer.encode_batch({prompt});
    ASSERT_EQ(padded.size(1), 24);
    const torch::Tensor a = model->forward(own), b = model->forward(padded);
    EXPECT_LT((a - b).abs().max().item<double>(), 1e-5) << prompt;
    EXPECT_GT(a.abs().max().item<double>(), 0.1) << prompt;  // a real output, not zeros
  }
  // In a batch beside a longer prompt, the same row.
  const torch::Tensor batch = tokenizer.encode_batch({"hand", "a cat face with heart eyes"});
  const torch::Tensor alone = model->forward(tokenizer.encode_batch({"hand"}).narrow(1, 0, 1));
  EXPECT_LT((model->forward(batch)[0] - alone[0]).abs().max().item<double>(), 1e-5);
}

TEST(TextEncoder, EmptyPromptRowsStayFinite) {
  torch::manual_seed(2);
  TextEncoder model(tiny_options());
  torch::Tensor tokens = torch::zeros({2, 6}, torch::kInt64);
  tokens[1][0] = 3;
  const torch::Tensor out = model->forward(tokens);
  EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
  EXPECT_EQ(out[0].abs().max().item<double>(), 0.0);  // no tokens: the mean over none is 0
  out.sum().backward();
  for (const auto& p : model->parameters()) {
    if (p.grad().defined()) EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>());
  }
}

TEST(TextEncoder, BadInputIsAnError) {
  TextEncoder model(tiny_options());
  EXPECT_THROW(model->forward(torch::zeros({2, 7}, torch::kInt64)), Error);  // over max_tokens
  EXPECT_THROW(TextEncoder(TextEncoderOptions().vocab_size(7).max_tokens(6).width(9).heads(2)), Error);
  EXPECT_THROW(TextEncoder(TextEncoderOptions().vocab_size(2).max_tokens(6).width(8).heads(2)), Error);
}

TEST(TextEncoder, OptionsRoundTripThroughJson) {
  const TextEncoderOptions o = TextEncoderOptions().vocab_size(123).max_tokens(24).width(64).layers(3).heads(4);
  const TextEncoderOptions back = text_encoder_options_from_json(text_encoder_options_to_json(o));
  EXPECT_EQ(back.vocab_size(), 123);
  EXPECT_EQ(back.max_tokens(), 24);
  EXPECT_EQ(back.width(), 64);
  EXPECT_EQ(back.layers(), 3);
  EXPECT_EQ(back.heads(), 4);
}

}  // namespace
}  // namespace latentkit
