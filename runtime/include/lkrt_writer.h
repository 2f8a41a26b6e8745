/// Writer of .lkm models (docs/file-format.md), for exporters. Dependency-free C++17.
/// The exporter folds BatchNorm into the preceding layer and describes the generator
/// as a sequence of ops, each taking the previous op's output:
///
///   lkrt::ModelWriter w;
///   w.set_info({"dcgan-fashion-mnist", 100, 1, 28, 28});
///   w.add_input();
///   w.add_conv_transpose2d(w1, 100, 256, 7, 1, 0, b1, lkrt::WeightType::kInt8);
///   w.add_activation(lkrt::Activation::kRelu);
///   ...
///   w.write("gen.lkm");
///
/// Weights are float arrays in PyTorch layout; the writer converts them to the
/// requested WeightType (int8: per output channel symmetric). Biases and embedding
/// tables are always stored as fp32.
#ifndef LKRT_WRITER_H
#define LKRT_WRITER_H

#include <cstdint>
#include <string>
#include <vector>

namespace lkrt {

enum class WeightType : uint32_t { kFp32 = 0, kFp16 = 1, kInt8 = 2 };

enum class Activation : uint32_t { kRelu, kLeakyRelu, kTanh, kSigmoid };

/// Header fields the ops do not determine.
struct ModelInfo {
  std::string model_id;  ///< free-form UTF-8, at most 64 bytes
  int32_t latent_dim = 0;
  int32_t channels = 0;  ///< output image [channels, height, width]
  int32_t height = 0;
  int32_t width = 0;
};

class ModelWriter {
 public:
  /// Throws std::invalid_argument on values out of range.
  void set_info(const ModelInfo& info);

  /// First op: the latent z [latent_dim], as a [latent_dim, 1, 1] tensor.
  void add_input();
  /// First op of a conditional model: z followed by row `label` of the table
  /// embedding [num_classes, embed_dim] (a one-hot identity table for a CVAE).
  void add_input(const float* embedding, int32_t num_classes, int32_t embed_dim);

  /// y = W x + b. weight: [out, in]; bias: [out] or nullptr. The input must be flat
  /// ([in, 1, 1]); add_reshape(in, 1, 1) flattens a [C, H, W] map (C-major, as torch).
  void add_gemm(const float* weight, int32_t out, int32_t in, const float* bias, WeightType type);
  /// weight: [out, in, k, k]; bias: [out] or nullptr.
  void add_conv2d(const float* weight, int32_t out, int32_t in, int32_t kernel, int32_t stride, int32_t padding,
                  const float* bias, WeightType type);
  /// weight: [in, out, k, k] (PyTorch ConvTranspose2d layout); bias: [out] or nullptr.
  /// Output size (H - 1) * stride - 2 * padding + kernel.
  void add_conv_transpose2d(const float* weight, int32_t in, int32_t out, int32_t kernel, int32_t stride,
                            int32_t padding, const float* bias, WeightType type);
  void add_upsample_nearest(int32_t scale);
  /// param: the negative slope of kLeakyRelu; ignored otherwise.
  void add_activation(Activation kind, float param = 0.0f);
  /// y = a * x + b, elementwise.
  void add_affine(float a, float b);
  /// Reinterprets the [C, H, W] tensor (C-major order, as torch's view) as [c, h, w].
  void add_reshape(int32_t c, int32_t h, int32_t w);

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
  struct Op {
    uint32_t type = 0;
    uint32_t ints[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    float floats[2] = {0.0f, 0.0f};
    uint32_t tensors[4] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
  };
  void add_convolution(bool transposed, const float* weight, int32_t out, int32_t in, int32_t kernel, int32_t stride,
                       int32_t padding, const float* bias, WeightType type);
  uint32_t add_fp32_tensor(const float* data, std::vector<uint32_t> dims);
  uint32_t add_weight_tensor(const float* data, std::vector<uint32_t> dims, uint32_t channel_axis, WeightType type);

  ModelInfo info_;
  int32_t num_classes_ = 0;
  int32_t embed_dim_ = 0;
  std::vector<Op> ops_;
  std::vector<Tensor> tensors_;
  std::vector<WeightType> weight_types_;
};

}  // namespace lkrt

#endif
