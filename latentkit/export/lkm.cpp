#include "latentkit/export/lkm.h"

#include <stdexcept>

#include <lkrt_writer.h>

#include "latentkit/core/error.h"

namespace latentkit {
namespace {

int32_t i32(int64_t v) {
  check_input(v >= 0 && v <= INT32_MAX, "a size of " + std::to_string(v) + " does not fit the .lkm format");
  return static_cast<int32_t>(v);
}

lkrt_weight_type weight_type(const std::string& weights) {
  if (weights == "fp32") return LKRT_WEIGHT_FP32;
  if (weights == "fp16") return LKRT_WEIGHT_FP16;
  if (weights == "int8") return LKRT_WEIGHT_INT8;
  throw Error("unknown weight type '" + weights + "' (expected fp32, fp16 or int8)");
}

}  // namespace

std::string graph_to_lkm(const GeneratorGraph& g, const std::string& weights, const std::string& model_id) {
  const lkrt_weight_type type = weight_type(weights);
  lkrt::ModelWriter w;
  try {
    w.set_info({model_id, i32(g.latent_dim), i32(g.image_shape[0]), i32(g.image_shape[1]), i32(g.image_shape[2])});
    if (g.embedding.defined()) {
      w.add_input(g.embedding.data_ptr<float>(), i32(g.embedding.size(0)), i32(g.embedding.size(1)));
    } else {
      w.add_input();
    }
    for (const GraphOp& op : g.ops) {
      switch (op.kind) {
        case OpKind::kGemm:
          w.add_gemm(op.weight.data_ptr<float>(), i32(op.weight.size(0)), i32(op.weight.size(1)),
                     op.bias.data_ptr<float>(), type);
          break;
        case OpKind::kConv:
          w.add_conv2d(op.weight.data_ptr<float>(), i32(op.weight.size(0)), i32(op.weight.size(1)),
                       i32(op.weight.size(2)), i32(op.stride), i32(op.padding), op.bias.data_ptr<float>(), type);
          break;
        case OpKind::kConvTranspose:
          w.add_conv_transpose2d(op.weight.data_ptr<float>(), i32(op.weight.size(0)), i32(op.weight.size(1)),
                                 i32(op.weight.size(2)), i32(op.stride), i32(op.padding), op.bias.data_ptr<float>(), type);
          break;
        case OpKind::kUpsampleNearest: w.add_upsample_nearest(i32(op.stride)); break;
        case OpKind::kRelu: w.add_activation(lkrt::Activation::kRelu); break;
        case OpKind::kLeakyRelu:
          w.add_activation(lkrt::Activation::kLeakyRelu, static_cast<float>(op.alpha));
          break;
        case OpKind::kTanh: w.add_activation(lkrt::Activation::kTanh); break;
        case OpKind::kSigmoid: w.add_activation(lkrt::Activation::kSigmoid); break;
        case OpKind::kAffine: w.add_affine(static_cast<float>(op.alpha), static_cast<float>(op.beta)); break;
        case OpKind::kReshape: {
          check_input(!op.shape.empty() && op.shape.size() <= 3, "a reshape to " + std::to_string(op.shape.size()) +
                                                                     " dimensions does not fit the .lkm format");
          std::vector<int64_t> s = op.shape;
          s.resize(3, 1);
          w.add_reshape(i32(s[0]), i32(s[1]), i32(s[2]));
          break;
        }
      }
    }
    return w.serialize();
  } catch (const std::invalid_argument& e) {
    throw Error(std::string("the model does not fit the .lkm format: ") + e.what(), ErrorKind::kInternal);
  } catch (const std::runtime_error& e) {
    throw Error(std::string("the .lkm writer refused the model: ") + e.what(), ErrorKind::kInternal);
  }
}

}  // namespace latentkit
