#include "latentkit/export/graph.h"

#include "latentkit/core/error.h"
#include "latentkit/models/dcgan.h"
#include "latentkit/models/vae.h"

namespace latentkit {
namespace nn = torch::nn;
namespace F = torch::nn::functional;

const char* op_name(OpKind kind) {
  switch (kind) {
    case OpKind::kGemm: return "gemm";
    case OpKind::kConv: return "conv2d";
    case OpKind::kConvTranspose: return "conv_transpose2d";
    case OpKind::kUpsampleNearest: return "upsample_nearest";
    case OpKind::kRelu: return "relu";
    case OpKind::kLeakyRelu: return "leaky_relu";
    case OpKind::kTanh: return "tanh";
    case OpKind::kSigmoid: return "sigmoid";
    case OpKind::kAffine: return "affine";
    case OpKind::kReshape: return "reshape";
  }
  return "?";
}

int64_t GeneratorGraph::parameter_count() const {
  int64_t n = embedding.defined() ? embedding.numel() : 0;
  for (const GraphOp& op : ops) n += (op.weight.defined() ? op.weight.numel() : 0) + (op.bias.defined() ? op.bias.numel() : 0);
  return n;
}

namespace {

torch::Tensor detached(const torch::Tensor& t) { return t.detach().to(torch::kFloat32).contiguous().clone(); }

GraphOp layer_op(OpKind kind, const torch::Tensor& weight, const torch::Tensor& bias, int64_t out_channels) {
  GraphOp op{kind};
  op.weight = detached(weight);
  op.bias = bias.defined() ? detached(bias) : torch::zeros({out_channels});
  return op;
}

// BatchNorm (eval: running statistics) folded into the layer before it: each output
// channel o of W and b scaled by s_o = gamma_o / sqrt(var_o + eps), b_o' = (b_o - mean_o) s_o + beta_o.
void fold_batchnorm(std::vector<GraphOp>& ops, const torch::Tensor& gamma, const torch::Tensor& beta,
                    const torch::Tensor& mean, const torch::Tensor& var, double eps) {
  check_input(!ops.empty(), "a BatchNorm with no layer before it cannot be folded");
  GraphOp& op = ops.back();
  check_input(op.kind == OpKind::kGemm || op.kind == OpKind::kConv || op.kind == OpKind::kConvTranspose,
              std::string("a BatchNorm after ") + op_name(op.kind) + " cannot be folded");
  torch::Tensor scale = (detached(gamma) / (detached(var) + eps).sqrt());
  const int64_t out_dim = op.kind == OpKind::kConvTranspose ? 1 : 0;
  check_input(op.weight.size(out_dim) == scale.size(0), "BatchNorm size does not match the layer before it");
  std::vector<int64_t> view(static_cast<size_t>(op.weight.dim()), 1);
  view[static_cast<size_t>(out_dim)] = scale.size(0);
  op.weight = (op.weight * scale.view(view)).contiguous();
  op.bias = ((op.bias - detached(mean)) * scale + detached(beta)).contiguous();
}

int64_t first(const torch::ExpandingArray<2>& a) {
  check_input((*a)[0] == (*a)[1], "only square strides, paddings and kernels are exported");
  return (*a)[0];
}

template <typename Padding>
int64_t explicit_padding(const Padding& padding) {
  const auto* p = c10::get_if<torch::ExpandingArray<2>>(&padding);
  check_input(p != nullptr, "only explicit convolution paddings are exported");
  return first(*p);
}

void append_sequential(const nn::Sequential& seq, std::vector<GraphOp>& ops) {
  for (const auto& child : seq->children()) {
    if (auto* m = child->as<nn::ConvTranspose2d>()) {
      const auto& o = m->options;
      check_input(o.groups() == 1 && first(o.dilation()) == 1 && first(o.output_padding()) == 0,
                  "only plain transposed convolutions are exported");
      first(o.kernel_size());
      GraphOp op = layer_op(OpKind::kConvTranspose, m->weight, m->bias, o.out_channels());
      op.stride = first(o.stride());
      op.padding = explicit_padding(o.padding());
      ops.push_back(std::move(op));
    } else if (auto* m = child->as<nn::Conv2d>()) {
      const auto& o = m->options;
      check_input(o.groups() == 1 && first(o.dilation()) == 1, "only plain convolutions are exported");
      first(o.kernel_size());
      GraphOp op = layer_op(OpKind::kConv, m->weight, m->bias, o.out_channels());
      op.stride = first(o.stride());
      op.padding = explicit_padding(o.padding());
      ops.push_back(std::move(op));
    } else if (auto* m = child->as<nn::Linear>()) {
      ops.push_back(layer_op(OpKind::kGemm, m->weight, m->bias, m->options.out_features()));
    } else if (auto* m = child->as<nn::BatchNorm2d>()) {
      fold_batchnorm(ops, m->weight, m->bias, m->running_mean, m->running_var, m->options.eps());
    } else if (auto* m = child->as<nn::BatchNorm1d>()) {
      fold_batchnorm(ops, m->weight, m->bias, m->running_mean, m->running_var, m->options.eps());
    } else if (child->as<nn::ReLU>()) {
      ops.push_back({OpKind::kRelu});
    } else if (auto* m = child->as<nn::LeakyReLU>()) {
      GraphOp op{OpKind::kLeakyRelu};
      op.alpha = m->options.negative_slope();
      ops.push_back(op);
    } else if (child->as<nn::Tanh>()) {
      ops.push_back({OpKind::kTanh});
    } else if (child->as<nn::Sigmoid>()) {
      ops.push_back({OpKind::kSigmoid});
    } else if (auto* m = child->as<nn::Unflatten>()) {
      GraphOp op{OpKind::kReshape};
      op.shape = m->options.sizes();
      ops.push_back(op);
    } else if (auto* m = child->as<nn::Upsample>()) {
      const auto& o = m->options;
      check_input(c10::get_if<torch::enumtype::kNearest>(&o.mode()) != nullptr && o.scale_factor().has_value() &&
                      o.scale_factor()->size() == 2 && (*o.scale_factor())[0] == (*o.scale_factor())[1] &&
                      (*o.scale_factor())[0] == std::floor((*o.scale_factor())[0]),
                  "only nearest upsampling by a whole factor is exported");
      GraphOp op{OpKind::kUpsampleNearest};
      op.stride = static_cast<int64_t>((*o.scale_factor())[0]);
      ops.push_back(op);
    } else if (child->as<nn::Dropout>()) {
      // Identity at inference.
    } else {
      throw Error("cannot export a layer of type " + child->name());
    }
  }
}

}  // namespace

GeneratorGraph extract_graph(Generator& generator) {
  torch::NoGradGuard no_grad;
  GeneratorGraph g;
  g.family = generator.family();
  g.latent_dim = generator.latent_dim();
  g.num_classes = generator.num_classes();
  g.image_shape = generator.image_shape();
  if (auto* dcgan = dynamic_cast<DcganModel*>(&generator)) {
    DcganGenerator& net = dcgan->net();
    if (g.num_classes > 0) g.embedding = detached(net->embed->weight);
    const int64_t input = g.latent_dim + (g.embedding.defined() ? g.embedding.size(1) : 0);
    if (net->options.preset() == "dcgan") {
      GraphOp reshape{OpKind::kReshape};
      reshape.shape = {input, 1, 1};
      g.ops.push_back(reshape);
    }
    append_sequential(net->main, g.ops);
  } else if (auto* vae = dynamic_cast<VaeModel*>(&generator)) {
    Vae& net = vae->net();
    if (g.num_classes > 0) g.embedding = torch::eye(g.num_classes);  // one-hot
    append_sequential(net->decoder, g.ops);
    g.ops.push_back({OpKind::kSigmoid});
    GraphOp affine{OpKind::kAffine};
    affine.alpha = 2.0;  // 2 sigmoid(logits) - 1
    affine.beta = -1.0;
    g.ops.push_back(affine);
  } else {
    throw Error("a " + g.family + " model cannot be exported (exportable: dcgan, dcgan-upsample, cgan, vae, cvae)");
  }
  return g;
}

torch::Tensor run_graph(const GeneratorGraph& g, const torch::Tensor& z, const torch::Tensor& labels) {
  torch::NoGradGuard no_grad;
  check_input(z.dim() == 2 && z.size(1) == g.latent_dim, "run_graph: z must be [N, latent_dim]");
  torch::Tensor x = z.to(torch::kFloat32);
  if (g.embedding.defined()) {
    check_input(labels.defined() && labels.dim() == 1 && labels.size(0) == z.size(0), "run_graph: one label per latent");
    x = torch::cat({x, g.embedding.index_select(0, labels.to(torch::kInt64))}, 1);
  }
  const int64_t n = x.size(0);
  for (const GraphOp& op : g.ops) {
    switch (op.kind) {
      case OpKind::kGemm: x = F::linear(x, op.weight, op.bias); break;
      case OpKind::kConv:
        x = F::conv2d(x, op.weight, F::Conv2dFuncOptions().bias(op.bias).stride(op.stride).padding(op.padding));
        break;
      case OpKind::kConvTranspose:
        x = F::conv_transpose2d(
            x, op.weight, F::ConvTranspose2dFuncOptions().bias(op.bias).stride(op.stride).padding(op.padding));
        break;
      case OpKind::kUpsampleNearest:
        x = F::interpolate(x, F::InterpolateFuncOptions()
                                  .scale_factor(std::vector<double>{static_cast<double>(op.stride),
                                                                    static_cast<double>(op.stride)})
                                  .mode(torch::kNearest));
        break;
      case OpKind::kRelu: x = torch::relu(x); break;
      case OpKind::kLeakyRelu: x = F::leaky_relu(x, F::LeakyReLUFuncOptions().negative_slope(op.alpha)); break;
      case OpKind::kTanh: x = torch::tanh(x); break;
      case OpKind::kSigmoid: x = torch::sigmoid(x); break;
      case OpKind::kAffine: x = x * op.alpha + op.beta; break;
      case OpKind::kReshape: {
        std::vector<int64_t> shape = {n};
        shape.insert(shape.end(), op.shape.begin(), op.shape.end());
        x = x.reshape(shape);
        break;
      }
    }
  }
  return x;
}

}  // namespace latentkit
