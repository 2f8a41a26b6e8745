#pragma once
// A generator as a flat list of inference ops with BatchNorm folded away: what the ONNX
// and .lkm writers consume. extract_graph reads it off a trained model; run_graph runs it
// with LibTorch, so the extraction is checked against the model itself before any writer
// sees it.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "latentkit/models/generator.h"

namespace latentkit {

enum class OpKind {
  kGemm,             // y = W x + b; W [out, in]
  kConv,             // W [out, in, k, k], b [out], stride, padding
  kConvTranspose,    // W [in, out, k, k] (PyTorch's layout), b [out], stride, padding
  kUpsampleNearest,  // x scale (stride holds the scale)
  kRelu,
  kLeakyRelu,        // alpha = slope
  kTanh,
  kSigmoid,
  kAffine,           // y = alpha x + beta
  kReshape,          // to [shape...] per image
};

const char* op_name(OpKind kind);

struct GraphOp {
  GraphOp(OpKind kind_) : kind(kind_) {}  // NOLINT: implicit, so ops.push_back({OpKind::kRelu}) reads as it says
  OpKind kind;
  torch::Tensor weight, bias;  // float32, contiguous; bias always defined for gemm / conv ops
  int64_t stride = 1, padding = 0;
  double alpha = 0, beta = 0;
  std::vector<int64_t> shape;  // kReshape: per-image shape
};

struct GeneratorGraph {
  std::string family;
  int64_t latent_dim = 0;
  int64_t num_classes = 0;
  // Conditional models: the input is [z, embedding[label]]; [num_classes, E] float32.
  torch::Tensor embedding;
  std::vector<GraphOp> ops;
  std::array<int64_t, 3> image_shape{};  // {C, H, W}
  int64_t parameter_count() const;
};

/// The inference graph of a loaded generator (dcgan, dcgan-upsample, cgan, vae, cvae), with
/// every BatchNorm folded into the layer before it. Other families: a clear Error.
GeneratorGraph extract_graph(Generator& generator);

/// Runs the graph with LibTorch: z [N, latent_dim], labels int64 [N] for conditional
/// models -> images [N, C, H, W]. Equals generator.decode up to round-off.
torch::Tensor run_graph(const GeneratorGraph& graph, const torch::Tensor& z, const torch::Tensor& labels = {});

}  // namespace latentkit
