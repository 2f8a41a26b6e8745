/// The ops of a .lkm graph and their names: one table shared by the exporter
/// (latentkit/export), the writer (lkrt_writer.h) and the loader (src/ops.cpp).
/// docs/file-format.md describes each op's inputs, parameters and tensors.
#ifndef LKRT_OPS_H
#define LKRT_OPS_H

#include <cstddef>
#include <cstdint>

namespace lkrt {

/// The numbers are the file's: append only.
enum class Op : uint32_t {
  kInput = 1,
  kGemm = 2,
  kConv2d = 3,
  kConvTranspose2d = 4,
  kUpsampleNearest = 5,
  kRelu = 6,
  kLeakyRelu = 7,
  kTanh = 8,
  kSigmoid = 9,
  kAffine = 10,
  kReshape = 11,
  // Format version 2.
  kSilu = 12,
  kGroupNorm = 13,
  kAdd = 14,
  kConcat = 15,
  kAttention = 16,
  kTimestepEmbedding = 17,
  kEmbedding = 18,
  // Mask generators (SPADE), format version 4.
  kMul = 19,
  kDownsampleNearest = 20,
  kCount  // one past the last
};

/// Index: the op's number; 0 is no op.
constexpr const char* kOpNames[] = {
    "?",        "input",   "gemm",         "conv2d",  "conv_transpose2d", "upsample_nearest", "relu",
    "leaky_relu", "tanh",  "sigmoid",      "affine",  "reshape",          "silu",             "group_norm",
    "add",      "concat",  "attention",    "timestep_embedding", "embedding", "mul",
    "downsample_nearest",
};
static_assert(sizeof kOpNames / sizeof kOpNames[0] == size_t(Op::kCount), "a name for every op");

inline const char* op_name(Op op) { return uint32_t(op) < uint32_t(Op::kCount) ? kOpNames[uint32_t(op)] : "?"; }

/// What an input op reads from the caller (its first int parameter).
enum class InputRole : uint32_t {
  kLatent = 0,     // z [latent_dim], followed by row `label` of the op's embedding table if it has one
  kImage = 1,      // the image to enhance, or x_t of a denoiser: [channels, H, W]
  kTimestep = 2,   // a denoiser's time step t, as [1, 1, 1]
  kLabel = 3,      // a class label, as [1, 1, 1], read by an embedding op
  kCondition = 4,  // a denoiser's image condition (Palette): [channels (int parameter 1), H, W]
  kText = 5,       // a text-to-image denoiser's prompt embedding: [text width (int parameter 1), 1, 1]
  kLabelMap = 6,   // a mask generator's label map, one-hot: [classes (int parameter 1), H, W]; the
                   // caller gives class ids, one per pixel (lkrt_generate_map)
  kGrid = 7,       // a wallpaper model's latent grid (format version 5): [local + global + periodic
                   // (int parameter 1), cells high, cells wide], any number of cells (lkrt_wallpaper.h)
  kCount
};

/// Elementwise ops an exporter can put after a layer; the loader fuses them into it.
inline bool is_elementwise(Op op) {
  return op == Op::kRelu || op == Op::kLeakyRelu || op == Op::kTanh || op == Op::kSigmoid || op == Op::kAffine ||
         op == Op::kSilu;
}

}  // namespace lkrt

#endif
