#pragma once
// A model graph as an ONNX model (opset 13), batch first, fp32, BatchNorm folded.
//   generators: "z" float [batch, latent_dim] (+ "label" int64 [batch]) -> "image" [batch, C, H, W]
//   mask generators (spade): "z" float [batch, latent_dim] and "map" int64 [batch, H, W], class
//               ids (OneHot inside) -> "image" [batch, C, H, W]
//   enhancers:  "image" float [batch, C, height, width], sides a multiple of the U-Net's
//               stride (2^depth; pad by edge replication first, as lkrt does) -> "enhanced"
//   wallpaper models (psgan): "grid" float [batch, local + global + periodic, height, width], a
//               latent grid of any number of cells (PsganGeneratorImpl::grid) -> "image" [batch, 3,
//               height x cell, width x cell]; the wave MLP (global -> wave vectors) is not in the
//               file: the grid holds the waves already (docs/export.md)
//   denoisers:  "x" float [batch, C, H, W], "t" int64 [batch] (+ "label" int64 [batch], the
//               no-class label num_classes; + "cond" float [batch, C + 2, H, W]; + "text" float
//               [batch, text width], the pooled prompt of a text-to-image model or its null_text:
//               the text encoder itself is not in the ONNX file) -> "eps" or "v"
// Linear layers are Gemm with transB = 1, upsampling is Resize (nearest, asymmetric, floor:
// PyTorch's nearest), GroupNorm is InstanceNormalization over [batch, groups, -1] and an
// affine, attention is MatMul / Softmax / MatMul, nearest downsampling (a label map at a
// SPADE block's size) is Slice with steps.
#include <string>

#include "latentkit/export/graph.h"

namespace latentkit {

constexpr int64_t kOnnxOpset = 13;

/// The serialised ModelProto, checked with onnx::checker (a failure is an internal Error).
std::string graph_to_onnx(const ModelGraph& graph, const std::string& model_name);

}  // namespace latentkit
