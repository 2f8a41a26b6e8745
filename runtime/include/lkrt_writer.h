/// Writer of .lkm models (docs/file-format.md), for exporters. Dependency-free C++17.
/// A model is a graph of ops over values; each op returns the value it defines:
///
///   lkrt::ModelWriter w;
///   w.set_info({"pix2pix-fashion", 0, 1, 28, 28});
///   w.set_enhancer(16);
///   auto x = w.input(lkrt::InputRole::kImage, 1);
///   auto h = w.conv2d(x, w1, 32, 1, 4, 2, 1, b1, LKRT_WEIGHT_INT8);
///   ...
///   w.add(y, x);  // the last op's value is the output
///   w.write("enhance.lkm");
///
/// Generators, a chain of ops each reading the one before, can use the add_* forms:
///
///   w.set_info({"dcgan-fashion-mnist", 100, 1, 28, 28});
///   w.add_input();
///   w.add_conv_transpose2d(w1, 100, 256, 7, 1, 0, b1, LKRT_WEIGHT_INT8);
///   w.add_activation(lkrt::Activation::kRelu);
///
/// Weights are float arrays in PyTorch layout; the writer converts them to the requested
/// weight type (int8: per output channel symmetric). Biases, normalisation parameters and
/// embedding tables are always stored as fp32. BatchNorm is folded by the exporter.
#ifndef LKRT_WRITER_H
#define LKRT_WRITER_H

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "lkrt.h"
#include "lkrt_ops.h"

namespace lkrt {

enum class Activation : uint32_t { kRelu, kLeakyRelu, kTanh, kSigmoid, kSilu };

/// Header fields the ops do not determine.
struct ModelInfo {
  std::string model_id;  ///< free-form UTF-8, at most 64 bytes
  int32_t latent_dim = 0;  ///< generators: z; denoisers: channels x height x width; enhancers: 0
  int32_t channels = 0;    ///< the image [channels, height, width]: out of a generator, in and out otherwise
  int32_t height = 0;
  int32_t width = 0;
};

/// A denoiser's schedule and sampling defaults (latentkit's DdpmOptions).
struct DiffusionInfo {
  uint32_t schedule = 2;      ///< 1 linear, 2 cosine
  uint32_t timesteps = 1000;
  uint32_t prediction = 0;    ///< 0 eps, 1 v
  uint32_t tasks = 0;         ///< bit 0 inpaint, bit 1 restore: a condition input of channels + 2
  uint32_t sample_steps = 50;
  uint32_t num_classes = 0;   ///< > 0: a label input and an embedding of num_classes + 1 rows
};

/// A text-to-image denoiser's text encoder (latentkit's TextEncoder, models/text.h) and the
/// vocabulary of its tokenizer: the file's text section (docs/file-format.md).
struct TextEncoderInfo {
  int32_t max_tokens = 24;  ///< words a prompt may have
  int32_t width = 128;      ///< w: the embedding, and the pooled prompt the graph reads
  int32_t layers = 2;
  int32_t heads = 4;        ///< divides width
  float eps = 1e-5f;        ///< the LayerNorms' epsilon
  std::vector<std::string> vocab;  ///< "<pad>", "<unk>", then words of a-z and 0-9, sorted, unique
};
/// A mask generator's palette: the classes of its label maps (latentkit's MapPalette,
/// data/labelmaps.h), the file's palette section (docs/file-format.md).
struct PaletteInfo {
  std::string name;                          ///< "scenes"; 1 to 64 bytes of printable ASCII, as every name
  std::vector<std::string> class_names;      ///< 2 to 256 classes
  std::vector<std::array<uint8_t, 4>> colors;  ///< R, G, B, A per class: alpha 255, or #00000000 for one transparent class
};

/// A wallpaper model's section (latentkit's psgan, docs/file-format.md): the parts of its grid,
/// the wave MLP global -> hidden -> 2 periodic_dim (PyTorch layouts; the writer keeps it fp32)
/// and the named moods, each a shift of the global vector.
struct WallpaperInfo {
  int32_t local_dim = 20, global_dim = 32, periodic_dim = 4;
  int32_t hidden = 64;   ///< the MLP's hidden width (0 when periodic_dim is 0)
  int32_t cell = 16;     ///< pixels per cell: 2^(transposed convolutions of the graph)
  int32_t reach = 2;     ///< the margin of cells a render adds on every side
  const float* weight1 = nullptr;  ///< [hidden, global_dim]
  const float* bias1 = nullptr;    ///< [hidden]
  const float* weight2 = nullptr;  ///< [2 periodic_dim, hidden]: kx rows, then ky rows
  const float* bias2 = nullptr;    ///< [2 periodic_dim]
  struct Mood {
    std::string name;          ///< 1 to 64 bytes of printable ASCII, no spaces
    std::vector<float> shift;  ///< [global_dim]
  };
  std::vector<Mood> moods;     ///< at most 64
};

/// One pre-norm block's weights, PyTorch layouts (Linear weights [out, in]).
struct TextLayerWeights {
  const float *ln1_weight, *ln1_bias;    ///< [w]
  const float *qkv_weight, *qkv_bias;    ///< [3w, w], [3w]: q, k, v in turn, heads of w / heads each
  const float *proj_weight, *proj_bias;  ///< [w, w], [w]
  const float *ln2_weight, *ln2_bias;    ///< [w]
  const float *fc1_weight, *fc1_bias;    ///< [4w, w], [4w]
  const float *fc2_weight, *fc2_bias;    ///< [w, 4w], [w]
};
struct TextEncoderWeights {
  const float* token = nullptr;     ///< [vocab, w]
  const float* position = nullptr;  ///< [max_tokens, w]
  std::vector<TextLayerWeights> layers;
  const float* ln_out_weight = nullptr;
  const float* ln_out_bias = nullptr;
  const float* null_text = nullptr;  ///< [w]: the "no prompt" vector of classifier-free guidance
};

class ModelWriter {
 public:
  using Value = uint32_t;

  /// Throws std::invalid_argument on values out of range.
  void set_info(const ModelInfo& info);
  /// The model is an enhancer (lkrt_enhance): input sides are padded to a multiple of pad_multiple.
  void set_enhancer(int32_t pad_multiple);
  /// The model is a denoiser (lkrt_denoise, lkrt_sample).
  void set_denoiser(const DiffusionInfo& info);
  /// A denoiser conditioned on text: its text encoder and vocabulary (the file is then format
  /// version 3). The graph reads the pooled prompt with input(InputRole::kText, info.width).
  /// Linear weights are stored as type; embeddings, LayerNorms, biases and null_text fp32.
  void set_text_encoder(const TextEncoderInfo& info, const TextEncoderWeights& weights, lkrt_weight_type type);
  /// The model is a mask generator (lkrt_generate_map; the file is then format version 4): its
  /// graph reads input_latent() and input(InputRole::kLabelMap, classes), the label map one-hot.
  void set_mask_generator(const PaletteInfo& palette);
  /// The model is a wallpaper model (lkrt_wallpaper; the file is then format version 5): its
  /// graph reads input(InputRole::kGrid, local_dim + global_dim + periodic_dim) and is a chain
  /// of transposed convolutions (kernel 4, stride 2, padding 1) and elementwise ops.
  void set_wallpaper(const WallpaperInfo& info);

  // The graph. Each op reads values defined before it and defines a new one.
  /// channels: of the image or condition roles, the text encoder's width for kText, the
  /// classes for kLabelMap, the grid's for kGrid, 0 for the others.
  Value input(InputRole role, int32_t channels = 0);
  /// The latent z [latent_dim, 1, 1], or of a conditional generator z followed by row
  /// `label` of the table [num_classes, embed_dim] (a one-hot identity table for a CVAE).
  Value input_latent(const float* embedding = nullptr, int32_t num_classes = 0, int32_t embed_dim = 0);
  /// y = W x + b. weight: [out, in]; bias: [out] or nullptr. x must be [in, 1, 1].
  Value gemm(Value x, const float* weight, int32_t out, int32_t in, const float* bias, lkrt_weight_type type);
  /// weight: [out, in, k, k]; bias: [out] or nullptr.
  Value conv2d(Value x, const float* weight, int32_t out, int32_t in, int32_t kernel, int32_t stride, int32_t padding,
               const float* bias, lkrt_weight_type type);
  /// weight: [in, out, k, k] (PyTorch ConvTranspose2d layout); bias: [out] or nullptr.
  /// Output size (H - 1) * stride - 2 * padding + kernel.
  Value conv_transpose2d(Value x, const float* weight, int32_t in, int32_t out, int32_t kernel, int32_t stride,
                         int32_t padding, const float* bias, lkrt_weight_type type);
  Value upsample_nearest(Value x, int32_t scale);
  /// param: the negative slope of kLeakyRelu; ignored otherwise.
  Value activation(Value x, Activation kind, float param = 0.0f);
  /// y = a * x + b, elementwise.
  Value affine(Value x, float a, float b);
  /// Reinterprets [C, H, W] (C-major order, as torch's view) as [c, h, w].
  Value reshape(Value x, int32_t c, int32_t h, int32_t w);
  /// torch.nn.GroupNorm: gamma and beta [channels].
  Value group_norm(Value x, int32_t groups, int32_t channels, float eps, const float* gamma, const float* beta);
  /// a + b; b has a's shape or is [C, 1, 1] (added at every pixel).
  Value add(Value a, Value b);
  /// Along the channels; 2 to 4 values of the same height and width.
  Value concat(const std::vector<Value>& values);
  /// Self-attention over the pixels of qkv [3 * channels, H, W] (q, k, v in turn), heads
  /// of channels / heads, weights softmax(scale q . k) -> [channels, H, W].
  Value attention(Value qkv, int32_t channels, int32_t heads, float scale);
  /// The sinusoidal embedding of a time step value [1, 1, 1] -> [dim, 1, 1].
  Value timestep_embedding(Value t, int32_t dim);
  /// Row `label` of table [rows, dim] for a label value [1, 1, 1] -> [dim, 1, 1].
  Value embedding(Value label, const float* table, int32_t rows, int32_t dim);
  /// a * b elementwise; b has a's shape or is [C, 1, 1].
  Value mul(Value a, Value b);
  /// y[c, i, j] = x[c, i * factor, j * factor]: nearest downsampling, the sides multiples of factor.
  Value downsample_nearest(Value x, int32_t factor);

  // The chain forms: each reads the value of the op before.
  void add_input() { input_latent(); }
  void add_input(const float* embedding, int32_t num_classes, int32_t embed_dim) {
    input_latent(embedding, num_classes, embed_dim);
  }
  void add_gemm(const float* weight, int32_t out, int32_t in, const float* bias, lkrt_weight_type type) {
    gemm(last(), weight, out, in, bias, type);
  }
  void add_conv2d(const float* weight, int32_t out, int32_t in, int32_t kernel, int32_t stride, int32_t padding,
                  const float* bias, lkrt_weight_type type) {
    conv2d(last(), weight, out, in, kernel, stride, padding, bias, type);
  }
  void add_conv_transpose2d(const float* weight, int32_t in, int32_t out, int32_t kernel, int32_t stride,
                            int32_t padding, const float* bias, lkrt_weight_type type) {
    conv_transpose2d(last(), weight, in, out, kernel, stride, padding, bias, type);
  }
  void add_upsample_nearest(int32_t scale) { upsample_nearest(last(), scale); }
  void add_activation(Activation kind, float param = 0.0f) { activation(last(), kind, param); }
  void add_affine(float a, float b) { affine(last(), a, b); }
  void add_reshape(int32_t c, int32_t h, int32_t w) { reshape(last(), c, h, w); }

  /// The .lkm bytes. Loads them with the runtime first and throws std::runtime_error
  /// with the loader's message if the model would not load (e.g. shapes that do not chain).
  std::string serialize() const;
  /// The bytes without that check (tests of the loader use it to build bad files).
  std::string serialize_unchecked() const;
  /// serialize() to a file; throws std::runtime_error if it cannot be written.
  void write(const std::string& path) const;

 private:
  struct Tensor {
    uint32_t dtype = 0;
    std::vector<uint32_t> dims;
    uint32_t quant_axis = 0;
    std::vector<uint8_t> bytes;
    std::vector<float> scales;  // int8 only
  };
  struct OpRecord {
    Op type = Op::kInput;
    std::vector<Value> inputs;
    Value output = 0;
    uint32_t ints[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    float floats[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    uint32_t tensors[4] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
  };
  Value last() const;
  Value push(OpRecord op);
  Value convolution(Value x, bool transposed, const float* weight, int32_t out, int32_t in, int32_t kernel,
                    int32_t stride, int32_t padding, const float* bias, lkrt_weight_type type);
  uint32_t add_fp32_tensor(const float* data, std::vector<uint32_t> dims);
  uint32_t add_weight_tensor(const float* data, std::vector<uint32_t> dims, uint32_t channel_axis, lkrt_weight_type type);

  ModelInfo info_;
  lkrt_kind kind_ = LKRT_KIND_GENERATOR;
  int32_t pad_multiple_ = 0;
  DiffusionInfo diffusion_;
  int32_t num_classes_ = 0;
  int32_t embed_dim_ = 0;
  TextEncoderInfo text_;                // width 0 until set_text_encoder
  PaletteInfo palette_;                 // mask generators
  WallpaperInfo wallpaper_;             // wallpaper models
  uint32_t wallpaper_tensors_[4] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
  std::vector<uint32_t> text_tensors_;  // the text section's tensors, in its order
  std::vector<OpRecord> ops_;
  std::vector<Tensor> tensors_;
  std::vector<lkrt_weight_type> weight_types_;
};

}  // namespace lkrt

#endif
