#pragma once
// A generator graph as an ONNX model (opset 13): inputs "z" float [batch, latent_dim] and,
// for conditional models, "label" int64 [batch]; output "image" float [batch, C, H, W] in
// [-1, 1]. Linear layers are Gemm with transB = 1, BatchNorm is folded, upsampling is
// Resize (nearest, asymmetric, floor: PyTorch's nearest).
#include <string>

#include "latentkit/export/graph.h"

namespace latentkit {

constexpr int64_t kOnnxOpset = 13;

/// The serialised ModelProto, checked with onnx::checker (a failure is an internal Error).
std::string graph_to_onnx(const GeneratorGraph& graph, const std::string& model_name);

}  // namespace latentkit
