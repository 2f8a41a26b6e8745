#pragma once
// The text encoder of the text models (the CLIP evaluator and the text-to-image diffusion
// model): a small pre-norm Transformer over word tokens (data/captions.h's Tokenizer).
//   token embedding + learned position embedding (width w)
//   layers x [x + proj(attention(LayerNorm(x))), x + fc2(GELU(fc1(LayerNorm(x))))], heads
//   heads of w / heads, fc1 4w wide; attention never looks at padding
//   LayerNorm; pooled = the mean over the prompt's tokens (padding left out)
// Padding changes nothing: a prompt padded to max_tokens encodes exactly as it does alone,
// so a runtime can run it on its own tokens.
#include <cstdint>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace latentkit {

struct TextEncoderOptions {
  TORCH_ARG(int64_t, vocab_size) = 0;   // 0: no text encoder
  TORCH_ARG(int64_t, max_tokens) = 24;
  TORCH_ARG(int64_t, width) = 128;
  TORCH_ARG(int64_t, layers) = 2;
  TORCH_ARG(int64_t, heads) = 4;        // divides width

 public:
  /// Throws Error naming the bad value.
  void validate() const;
};

nlohmann::json text_encoder_options_to_json(const TextEncoderOptions& options);
TextEncoderOptions text_encoder_options_from_json(const nlohmann::json& j);

class TextBlockImpl : public torch::nn::Cloneable<TextBlockImpl> {
 public:
  TextBlockImpl(int64_t width, int64_t heads);
  void reset() override;
  /// x [N, L, w]; keep [N, L] bool (true for tokens, false for padding).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& keep);

  int64_t width, heads;
  torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr};
  torch::nn::Linear qkv{nullptr}, proj{nullptr}, fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(TextBlock);

class TextEncoderImpl : public torch::nn::Cloneable<TextEncoderImpl> {
 public:
  explicit TextEncoderImpl(TextEncoderOptions options = {});
  void reset() override;
  /// tokens int64 [N, L] (L <= max_tokens, kPadToken-padded) -> [N, L, w] after the last
  /// LayerNorm (padding rows are not meaningful).
  torch::Tensor states(const torch::Tensor& tokens);
  /// tokens -> [N, w], the mean of the states over each prompt's tokens; 0 for a prompt
  /// with none.
  torch::Tensor forward(const torch::Tensor& tokens);

  TextEncoderOptions options;
  torch::nn::Embedding token{nullptr};
  torch::Tensor position;  // [max_tokens, w]
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm ln_out{nullptr};
};
TORCH_MODULE(TextEncoder);

}  // namespace latentkit
