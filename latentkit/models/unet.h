#pragma once
// The denoising U-Net of DDPM (Ho et al. 2020), small enough for a CPU:
//   conv 3x3 (w) -> per level: res_blocks x ResBlock(w x mult) [+ self-attention at the
//   lowest resolution], then a strided conv 3x3 down (not after the last level)
//   middle: ResBlock, self-attention, ResBlock
//   per level, upwards: (res_blocks + 1) x ResBlock on [h, skip] [+ attention], then
//   nearest upsampling x2 + conv 3x3 (not after the top level)
//   GroupNorm, SiLU, conv 3x3 -> C channels (epsilon or v)
// A ResBlock is GroupNorm, SiLU, conv 3x3, + Linear(time embedding), GroupNorm, SiLU,
// dropout, conv 3x3, with a 1x1 conv on the skip when the width changes. The time step goes
// in as a sinusoidal embedding (Transformer style) through Linear, SiLU, Linear (4w).
// Class-conditional models add a learned embedding of the label to the time embedding;
// label num_classes is the "no class" of classifier-free guidance. Image-to-image models
// (Palette) take cond_channels more input channels beside x_t. Text-conditional models
// (text.vocab_size > 0) own a text encoder; the prompt's pooled embedding (or a learned
// "no prompt" vector, for classifier-free guidance) goes through a Linear into the time
// embedding, as a class does (FiLM through every ResBlock).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "latentkit/models/text.h"

namespace latentkit {

struct UNetOptions {
  TORCH_ARG(int64_t, channels) = 1;      // image channels, 1, 3 or 4 (RGBA, premultiplied)
  TORCH_ARG(int64_t, image_size) = 28;   // divisible by 2^(levels - 1)
  TORCH_ARG(int64_t, width) = 32;        // channels of the first level
  TORCH_ARG(std::vector<int64_t>, mults) = std::vector<int64_t>{1, 2, 2};  // width per level
  TORCH_ARG(int64_t, res_blocks) = 1;    // ResBlocks per level on the way down
  TORCH_ARG(int64_t, groups) = 8;        // GroupNorm groups (divides every width)
  TORCH_ARG(double, dropout) = 0.0;
  TORCH_ARG(int64_t, num_classes) = 0;   // > 0: class-conditional (with a "no class" label)
  TORCH_ARG(int64_t, cond_channels) = 0; // > 0: image-to-image condition beside x_t
  TORCH_ARG(TextEncoderOptions, text) = {};  // vocab_size > 0: text-conditional

 public:
  /// Throws Error naming the bad value.
  void validate() const;
};

nlohmann::json unet_options_to_json(const UNetOptions& options);
UNetOptions unet_options_from_json(const nlohmann::json& model);

/// Sinusoidal embedding of time steps t (int64 or float [N]) into dim features [N, dim]:
/// [sin(t f_0..f_{h-1}), cos(t f_0..f_{h-1})] with f_i = 10000^(-i / (h - 1)), h = dim / 2.
torch::Tensor timestep_embedding(const torch::Tensor& t, int64_t dim);
/// Its frequencies f_0..f_{h-1}, float32 [h].
torch::Tensor timestep_frequencies(int64_t dim);

class ResBlockImpl : public torch::nn::Cloneable<ResBlockImpl> {
 public:
  ResBlockImpl(int64_t in, int64_t out, int64_t time_dim, int64_t groups, double dropout);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb);

  int64_t in, out, time_dim, groups;
  double p;
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, skip{nullptr};
  torch::nn::Linear time{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(ResBlock);

/// Single-head self-attention over the pixels, with a residual connection.
class AttentionImpl : public torch::nn::Cloneable<AttentionImpl> {
 public:
  AttentionImpl(int64_t channels, int64_t groups);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  int64_t channels, groups;
  torch::nn::GroupNorm norm{nullptr};
  torch::nn::Conv2d qkv{nullptr}, proj{nullptr};
};
TORCH_MODULE(Attention);

class UNetImpl : public torch::nn::Cloneable<UNetImpl> {
 public:
  explicit UNetImpl(UNetOptions options = {});
  void reset() override;
  /// x: [N, C, H, W]; t: int64 [N] time steps; labels: int64 [N] in [0, num_classes]
  /// (num_classes = no class) for conditional models, else undefined; cond: [N,
  /// cond_channels, H, W] for image-to-image models, else undefined; text: [N, text width]
  /// from encode_text for text-conditional models, else undefined. Returns [N, C, H, W].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& labels = {},
                        const torch::Tensor& cond = {}, const torch::Tensor& text = {});
  /// Text-conditional models: tokens int64 [N, L] -> [N, text width], the text encoder's
  /// pooled prompt, or null_text for a row of padding alone (no prompt).
  torch::Tensor encode_text(const torch::Tensor& tokens);
  bool has_text() const { return options.text().vocab_size() > 0; }

  UNetOptions options;
  torch::nn::Conv2d conv_in{nullptr}, conv_out{nullptr};
  torch::nn::Sequential time_mlp{nullptr};
  torch::nn::Embedding class_embed{nullptr};
  TextEncoder text_encoder{nullptr};
  torch::nn::Linear text_embed{nullptr};
  torch::Tensor null_text;  // [text width]
  torch::nn::ModuleList down{nullptr}, up{nullptr}, downsample{nullptr}, upsample{nullptr};
  torch::nn::ModuleList down_attn{nullptr}, up_attn{nullptr};
  ResBlock mid1{nullptr}, mid2{nullptr};
  Attention mid_attn{nullptr};
  torch::nn::GroupNorm norm_out{nullptr};
};
TORCH_MODULE(UNet);

}  // namespace latentkit
