#include "latentkit/models/text.h"

#include <cmath>

#include "latentkit/core/error.h"
#include "latentkit/data/captions.h"

namespace latentkit {

void TextEncoderOptions::validate() const {
  check_input(vocab_size() > 2, "the text encoder needs a vocabulary of more than the pad and unknown tokens");
  check_input(max_tokens() > 0, "the text encoder's max_tokens must be > 0");
  check_input(width() > 0 && heads() > 0 && width() % heads() == 0,
              "the text encoder's width (" + std::to_string(width()) + ") must be a positive multiple of its heads (" +
                  std::to_string(heads()) + ")");
  check_input(layers() > 0, "the text encoder needs at least one layer");
}

nlohmann::json text_encoder_options_to_json(const TextEncoderOptions& o) {
  return {{"vocab_size", o.vocab_size()}, {"max_tokens", o.max_tokens()}, {"width", o.width()},
          {"layers", o.layers()},         {"heads", o.heads()}};
}

TextEncoderOptions text_encoder_options_from_json(const nlohmann::json& j) {
  return TextEncoderOptions()
      .vocab_size(j.at("vocab_size").get<int64_t>())
      .max_tokens(j.at("max_tokens").get<int64_t>())
      .width(j.at("width").get<int64_t>())
      .layers(j.at("layers").get<int64_t>())
      .heads(j.at("heads").get<int64_t>());
}

TextBlockImpl::TextBlockImpl(int64_t width_, int64_t heads_) : width(width_), heads(heads_) { reset(); }

void TextBlockImpl::reset() {
  ln1 = register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
  qkv = register_module("qkv", torch::nn::Linear(width, 3 * width));
  proj = register_module("proj", torch::nn::Linear(width, width));
  ln2 = register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
  fc1 = register_module("fc1", torch::nn::Linear(width, 4 * width));
  fc2 = register_module("fc2", torch::nn::Linear(4 * width, width));
}

torch::Tensor TextBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& keep) {
  const int64_t n = x.size(0), l = x.size(1), d = width / heads;
  // [N, L, 3, heads, d] -> three [N, heads, L, d]
  torch::Tensor qkv_ = qkv(ln1(x)).view({n, l, 3, heads, d}).permute({2, 0, 3, 1, 4});
  torch::Tensor scores = torch::matmul(qkv_[0], qkv_[1].transpose(-2, -1)) / std::sqrt(static_cast<double>(d));
  // Padding keys get a large negative score, not -inf: a prompt with no tokens stays finite.
  scores = scores.masked_fill(keep.logical_not().view({n, 1, 1, l}), -1e9);
  torch::Tensor h = torch::matmul(scores.softmax(-1), qkv_[2]).permute({0, 2, 1, 3}).reshape({n, l, width});
  torch::Tensor y = x + proj(h);
  return y + fc2(torch::gelu(fc1(ln2(y))));
}

TextEncoderImpl::TextEncoderImpl(TextEncoderOptions options_) : options(std::move(options_)) {
  options.validate();
  reset();
}

void TextEncoderImpl::reset() {
  const int64_t w = options.width();
  token = register_module("token", torch::nn::Embedding(options.vocab_size(), w));
  position = register_parameter("position", torch::randn({options.max_tokens(), w}) * 0.02);
  torch::nn::init::normal_(token->weight, 0.0, 0.02);
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.layers(); ++i) blocks->push_back(TextBlock(w, options.heads()));
  ln_out = register_module("ln_out", torch::nn::LayerNorm(torch::nn::LayerNormOptions({w})));
}

torch::Tensor TextEncoderImpl::states(const torch::Tensor& tokens) {
  check_input(tokens.dim() == 2 && tokens.size(1) >= 1 && tokens.size(1) <= options.max_tokens(),
              "the text encoder takes [N, L] tokens with 1 <= L <= " + std::to_string(options.max_tokens()));
  const int64_t l = tokens.size(1);
  const torch::Tensor keep = tokens != kPadToken;
  torch::Tensor x = token(tokens) + position.narrow(0, 0, l).unsqueeze(0);
  for (const auto& block : *blocks) x = block->as<TextBlock>()->forward(x, keep);
  return ln_out(x);
}

torch::Tensor TextEncoderImpl::forward(const torch::Tensor& tokens) {
  const torch::Tensor keep = (tokens != kPadToken).unsqueeze(-1).to(torch::kFloat);
  torch::Tensor s = states(tokens).to(torch::kFloat);
  return (s * keep).sum(1) / keep.sum(1).clamp_min(1.0);
}

}  // namespace latentkit
