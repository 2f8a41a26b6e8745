#pragma once
// A small contrastive text-image model (CLIP, Radford et al. 2021) trained here on the emoji
// train split: the evaluator of text-to-image models (R-precision and CLIP score,
// eval/text_metrics.h). It is never a training loss for a generator: a generator optimised
// against its evaluator stops being measured by it.
//
// The image encoder is a small conv net (conv-GroupNorm-SiLU, 32 -> 16 -> 8 -> 4 with
// stride-2 convolutions, a 4x4 average pool, a linear layer to embed_dim); GroupNorm, so
// an image's embedding never depends on the rest of its batch. The text encoder is
// models/text.h's transformer (mean-pooled over the prompt's tokens) and a linear
// projection to embed_dim. Both embeddings are L2-normalised; the logits of a batch are
// exp(logit_scale) * cosine, with logit_scale learned from log(1 / 0.07) and capped at
// log(100), as CLIP does.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "latentkit/data/captions.h"
#include "latentkit/models/text.h"

namespace latentkit {

struct ClipOptions {
  TORCH_ARG(int64_t, channels) = 4;     // 1, 3 or 4 (RGBA, premultiplied)
  TORCH_ARG(int64_t, image_size) = 32;  // images of another size are resized to it
  TORCH_ARG(int64_t, width) = 32;       // channels of the first conv block; x2 per stride-2 block
  TORCH_ARG(int64_t, embed_dim) = 128;  // the joint embedding
  TORCH_ARG(TextEncoderOptions, text);  // vocab_size and max_tokens come from the tokenizer

 public:
  /// Throws Error naming the bad value.
  void validate() const;
};

/// ClipOptions <-> the "model" object of a clip run's config.json (which also holds the
/// tokenizer, read by load_clip_run).
nlohmann::json clip_options_to_json(const ClipOptions& options);
/// Throws Error naming source when a field is missing or of the wrong type.
ClipOptions clip_options_from_json(const nlohmann::json& model, const std::string& source);

/// The cap of exp(logit_scale) (CLIP's 100).
constexpr double kClipMaxLogitScale = 100.0;

class ClipImpl : public torch::nn::Cloneable<ClipImpl> {
 public:
  explicit ClipImpl(ClipOptions options = {});
  void reset() override;

  // x: [N, channels, H, W] in [-1, 1], resized (bilinear, antialiased) to image_size when
  // H or W differs -> [N, embed_dim], unit length
  torch::Tensor encode_images(const torch::Tensor& x);
  // tokens: int64 [N, L], 1 <= L <= text.max_tokens, padded with kPadToken -> [N, embed_dim], unit length
  torch::Tensor encode_text(const torch::Tensor& tokens);
  /// exp(logit_scale), capped at kClipMaxLogitScale: a [0-d] tensor that carries gradients.
  torch::Tensor scale();

  ClipOptions options;
  torch::nn::Sequential image{nullptr};  // registered as "image": conv blocks, pool, flatten, linear
  TextEncoder text{nullptr};             // "text"
  torch::nn::Linear text_proj{nullptr};  // "text_proj": text width -> embed_dim, no bias
  torch::Tensor logit_scale;             // "logit_scale": [] log of the logits' temperature
};
TORCH_MODULE(Clip);

/// A trained clip run: the model (eval mode), its tokenizer and its config.json.
struct ClipRun {
  Clip model{nullptr};
  Tokenizer tokenizer;
  nlohmann::json config;
};

/// Loads RUN/config.json (family "clip", with the tokenizer in "model") and RUN/model.pt.
/// A missing folder or file, or a run of another family, is an Error saying what was expected.
ClipRun load_clip_run(const std::string& run_dir);

}  // namespace latentkit
