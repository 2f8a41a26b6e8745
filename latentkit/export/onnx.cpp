#include "latentkit/export/onnx.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <limits>

#include "latentkit/core/error.h"
#include "latentkit/models/unet.h"

namespace latentkit {
namespace {

class OnnxBuilder {
 public:
  explicit OnnxBuilder(onnx::GraphProto* graph) : graph_(graph) {}

  std::string initializer(const torch::Tensor& t) {
    torch::Tensor c = t.contiguous();
    const std::string name = "w" + std::to_string(count_++);
    onnx::TensorProto* p = graph_->add_initializer();
    p->set_name(name);
    for (int64_t d : c.sizes()) p->add_dims(d);
    if (c.scalar_type() == torch::kInt64) {
      p->set_data_type(onnx::TensorProto::INT64);
      p->set_raw_data(c.data_ptr(), static_cast<size_t>(c.numel()) * sizeof(int64_t));
    } else {
      c = c.to(torch::kFloat32);
      p->set_data_type(onnx::TensorProto::FLOAT);
      p->set_raw_data(c.data_ptr(), static_cast<size_t>(c.numel()) * sizeof(float));
    }
    return name;
  }

  onnx::NodeProto* node(const std::string& type, const std::vector<std::string>& inputs) {
    onnx::NodeProto* n = graph_->add_node();
    n->set_op_type(type);
    n->set_name(type + "_" + std::to_string(count_));
    for (const std::string& in : inputs) n->add_input(in);
    last_ = "t" + std::to_string(count_++);
    n->add_output(last_);
    return n;
  }

  const std::string& last() const { return last_; }
  std::string constant(const std::vector<int64_t>& v) { return initializer(torch::tensor(v, torch::kInt64)); }

 private:
  onnx::GraphProto* graph_;
  int count_ = 0;
  std::string last_;
};

void set_ints(onnx::NodeProto* n, const std::string& name, std::vector<int64_t> values) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

void set_int(onnx::NodeProto* n, const std::string& name, int64_t value) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

void set_float(onnx::NodeProto* n, const std::string& name, float value) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(value);
}

void set_string(onnx::NodeProto* n, const std::string& name, const std::string& value) {
  onnx::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(value);
}

// A value with a symbolic batch dimension; other dimensions fixed, or symbolic where < 0
// (-1 "height", -2 "width"; -3 "image_height", -4 "image_width": a wallpaper's pixels).
void add_value(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list, const std::string& name, int type,
               const std::vector<int64_t>& dims) {
  onnx::ValueInfoProto* v = list->Add();
  v->set_name(name);
  onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(type);
  onnx::TensorShapeProto* shape = t->mutable_shape();
  shape->add_dim()->set_dim_param("batch");
  for (int64_t d : dims) {
    if (d >= 0)
      shape->add_dim()->set_dim_value(d);
    else
      shape->add_dim()->set_dim_param(d == -1 ? "height" : d == -2 ? "width" : d == -3 ? "image_height" : "image_width");
  }
}

// [batch, n] -> [batch, n, 1, 1]: vectors are 4-d, as in run_graph.
std::string as_map(OnnxBuilder& b, const std::string& x) {
  b.node("Reshape", {x, b.constant({0, -1, 1, 1})});
  return b.last();
}

void conv_attributes(onnx::NodeProto* n, const GraphOp& op) {
  const int64_t k = op.weight.size(2);
  set_ints(n, "kernel_shape", {k, k});
  set_ints(n, "strides", {op.stride, op.stride});
  set_ints(n, "pads", {op.padding, op.padding, op.padding, op.padding});
}

}  // namespace

std::string graph_to_onnx(const ModelGraph& g, const std::string& model_name) {
  onnx::ModelProto model;
  model.set_ir_version(onnx::IR_VERSION);
  model.set_producer_name("latentkit");
  model.set_producer_version(LATENTKIT_VERSION);
  model.set_doc_string(model_name);
  onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  onnx::GraphProto* graph = model.mutable_graph();
  graph->set_name(g.family + (g.kind == LKRT_KIND_GENERATOR        ? "_generator"
                              : g.kind == LKRT_KIND_MASK_GENERATOR ? "_mask_generator"
                              : g.kind == LKRT_KIND_ENHANCER       ? "_enhancer"
                              : g.kind == LKRT_KIND_WALLPAPER      ? "_wallpaper"
                                                                   : "_denoiser"));
  OnnxBuilder b(graph);
  const auto [C, H, W] = g.image_shape;
  const bool enhancer = g.kind == LKRT_KIND_ENHANCER;
  const std::vector<int64_t> image_dims = enhancer                          ? std::vector<int64_t>{C, -1, -2}
                                          : g.kind == LKRT_KIND_WALLPAPER ? std::vector<int64_t>{C, -3, -4}
                                                                          : std::vector<int64_t>{C, H, W};

  std::vector<std::string> values;  // the ONNX name of each value
  for (const GraphOp& op : g.ops) {
    auto v = [&](size_t k) { return values[static_cast<size_t>(op.inputs[k])]; };
    switch (op.op) {
      case Op::kInput:
        switch (op.role) {
          case InputRole::kLatent:
            add_value(graph->mutable_input(), "z", onnx::TensorProto::FLOAT, {g.latent_dim});
            if (op.weight.defined()) {
              add_value(graph->mutable_input(), "label", onnx::TensorProto::INT64, {});
              onnx::NodeProto* gather = b.node("Gather", {b.initializer(op.weight), "label"});
              set_int(gather, "axis", 0);
              set_int(b.node("Concat", {"z", gather->output(0)}), "axis", 1);
              as_map(b, b.last());
            } else {
              as_map(b, "z");
            }
            break;
          case InputRole::kImage: {
            const std::string name = enhancer ? "image" : "x";
            add_value(graph->mutable_input(), name, onnx::TensorProto::FLOAT, image_dims);
            values.push_back(name);
            continue;
          }
          case InputRole::kGrid:  // any number of cells: the image is cell times larger
            add_value(graph->mutable_input(), "grid", onnx::TensorProto::FLOAT, {op.channels, -1, -2});
            values.push_back("grid");
            continue;
          case InputRole::kCondition:
            add_value(graph->mutable_input(), "cond", onnx::TensorProto::FLOAT, {op.channels, H, W});
            values.push_back("cond");
            continue;
          case InputRole::kTimestep:  // read as int64 [batch] by timestep_embedding
            add_value(graph->mutable_input(), "t", onnx::TensorProto::INT64, {});
            values.push_back("t");
            continue;
          case InputRole::kLabel:  // read as int64 [batch] by embedding
            add_value(graph->mutable_input(), "label", onnx::TensorProto::INT64, {});
            values.push_back("label");
            continue;
          case InputRole::kText:  // the pooled prompt [batch, width], as a [batch, width, 1, 1] map
            add_value(graph->mutable_input(), "text", onnx::TensorProto::FLOAT, {op.channels});
            as_map(b, "text");
            break;
          case InputRole::kLabelMap: {  // class ids int64 [batch, H, W] -> one-hot float [batch, classes, H, W]
            add_value(graph->mutable_input(), "map", onnx::TensorProto::INT64, {H, W});
            set_int(b.node("OneHot", {"map", b.constant({op.channels}), b.initializer(torch::tensor({0.0f, 1.0f}))}), "axis", 1);
            break;
          }
          default: throw Error("ONNX export: unknown input role", ErrorKind::kInternal);
        }
        break;
      case Op::kGemm: {
        b.node("Flatten", {v(0)});
        set_int(b.node("Gemm", {b.last(), b.initializer(op.weight), b.initializer(op.bias)}), "transB", 1);
        as_map(b, b.last());
        break;
      }
      case Op::kConv2d:
        conv_attributes(b.node("Conv", {v(0), b.initializer(op.weight), b.initializer(op.bias)}), op);
        break;
      case Op::kConvTranspose2d:
        conv_attributes(b.node("ConvTranspose", {v(0), b.initializer(op.weight), b.initializer(op.bias)}), op);
        break;
      case Op::kUpsampleNearest: {
        const float s = static_cast<float>(op.stride);
        // asymmetric + floor is PyTorch's "nearest": out[i] = in[floor(i / s)].
        onnx::NodeProto* n = b.node("Resize", {v(0), "", b.initializer(torch::tensor({1.0f, 1.0f, s, s}))});
        set_string(n, "mode", "nearest");
        set_string(n, "coordinate_transformation_mode", "asymmetric");
        set_string(n, "nearest_mode", "floor");
        break;
      }
      case Op::kRelu: b.node("Relu", {v(0)}); break;
      case Op::kLeakyRelu: set_float(b.node("LeakyRelu", {v(0)}), "alpha", static_cast<float>(op.alpha)); break;
      case Op::kTanh: b.node("Tanh", {v(0)}); break;
      case Op::kSigmoid: b.node("Sigmoid", {v(0)}); break;
      case Op::kSilu: {
        const std::string gate = b.node("Sigmoid", {v(0)})->output(0);
        b.node("Mul", {v(0), gate});
        break;
      }
      case Op::kAffine: {
        const std::string scaled = b.node("Mul", {v(0), b.initializer(torch::tensor(static_cast<float>(op.alpha)))})->output(0);
        b.node("Add", {scaled, b.initializer(torch::tensor(static_cast<float>(op.beta)))});
        break;
      }
      case Op::kReshape: {
        std::vector<int64_t> shape = {-1};
        shape.insert(shape.end(), op.shape.begin(), op.shape.end());
        shape.resize(4, 1);
        b.node("Reshape", {v(0), b.constant(shape)});
        break;
      }
      case Op::kGroupNorm: {
        // InstanceNormalization over [batch, groups, -1] is GroupNorm without its affine.
        const std::string grouped = b.node("Reshape", {v(0), b.constant({0, op.groups, -1})})->output(0);
        onnx::NodeProto* norm = b.node("InstanceNormalization", {grouped, b.initializer(torch::ones({op.groups})),
                                                                 b.initializer(torch::zeros({op.groups}))});
        set_float(norm, "epsilon", static_cast<float>(op.alpha));
        const std::string shape = b.node("Shape", {v(0)})->output(0);
        const std::string back = b.node("Reshape", {norm->output(0), shape})->output(0);
        const std::string scaled = b.node("Mul", {back, b.initializer(op.weight.view({1, -1, 1, 1}))})->output(0);
        b.node("Add", {scaled, b.initializer(op.bias.view({1, -1, 1, 1}))});
        break;
      }
      case Op::kAdd: b.node("Add", {v(0), v(1)}); break;
      case Op::kMul: b.node("Mul", {v(0), v(1)}); break;
      case Op::kDownsampleNearest: {  // in[i f][j f]: Slice with steps over the sides
        const int64_t end = std::numeric_limits<int64_t>::max();
        b.node("Slice", {v(0), b.constant({0, 0}), b.constant({end, end}), b.constant({2, 3}), b.constant({op.stride, op.stride})});
        break;
      }
      case Op::kConcat: {
        std::vector<std::string> parts;
        for (size_t k = 0; k < op.inputs.size(); ++k) parts.push_back(v(k));
        set_int(b.node("Concat", parts), "axis", 1);
        break;
      }
      case Op::kAttention: {
        // qkv [N, 3C, H, W] -> q, k, v [N, heads, d, HW]; softmax(scale q^T k) over the keys.
        const int64_t heads = op.groups, d = op.channels / heads;
        const std::string split = b.node("Reshape", {v(0), b.constant({0, 3, heads, d, -1})})->output(0);
        std::string part[3];
        for (int64_t i = 0; i < 3; ++i) {
          onnx::NodeProto* n = b.node("Gather", {split, b.constant({i})});
          set_int(n, "axis", 1);
          part[i] = b.node("Squeeze", {n->output(0), b.constant({1})})->output(0);
        }
        onnx::NodeProto* qt = b.node("Transpose", {part[0]});
        set_ints(qt, "perm", {0, 1, 3, 2});
        const std::string scores = b.node("MatMul", {qt->output(0), part[1]})->output(0);
        const std::string scaled = b.node("Mul", {scores, b.initializer(torch::tensor(static_cast<float>(op.alpha)))})->output(0);
        onnx::NodeProto* softmax = b.node("Softmax", {scaled});
        set_int(softmax, "axis", -1);
        onnx::NodeProto* wt = b.node("Transpose", {softmax->output(0)});
        set_ints(wt, "perm", {0, 1, 3, 2});
        const std::string out = b.node("MatMul", {part[2], wt->output(0)})->output(0);  // [N, heads, d, HW]
        // Back to [N, C, H, W]: the batch and sides of the input.
        const std::string in_shape = b.node("Shape", {v(0)})->output(0);
        const std::string batch = b.node("Slice", {in_shape, b.constant({0}), b.constant({1})})->output(0);
        const std::string sides = b.node("Slice", {in_shape, b.constant({2}), b.constant({4})})->output(0);
        onnx::NodeProto* shape = b.node("Concat", {batch, b.constant({op.channels}), sides});
        set_int(shape, "axis", 0);
        b.node("Reshape", {out, shape->output(0)});
        break;
      }
      case Op::kTimestepEmbedding: {
        // [sin(t f), cos(t f)] with latentkit's frequencies (float32, as timestep_embedding).
        const torch::Tensor freqs = timestep_frequencies(op.dim).view({1, -1});
        onnx::NodeProto* cast = b.node("Cast", {v(0)});
        set_int(cast, "to", onnx::TensorProto::FLOAT);
        const std::string column = b.node("Reshape", {cast->output(0), b.constant({-1, 1})})->output(0);
        const std::string args = b.node("Mul", {column, b.initializer(freqs)})->output(0);
        std::vector<std::string> parts = {b.node("Sin", {args})->output(0), b.node("Cos", {args})->output(0)};
        if (op.dim % 2) parts.push_back(b.node("Mul", {column, b.initializer(torch::zeros({1, 1}))})->output(0));
        set_int(b.node("Concat", parts), "axis", 1);
        as_map(b, b.last());
        break;
      }
      case Op::kEmbedding: {
        set_int(b.node("Gather", {b.initializer(op.weight), v(0)}), "axis", 0);
        as_map(b, b.last());
        break;
      }
      default: throw Error(std::string("ONNX export: no ONNX form for ") + lkrt::op_name(op.op), ErrorKind::kInternal);
    }
    values.push_back(b.last());
  }
  // The last node's output is the graph's output.
  const std::string output = g.kind == LKRT_KIND_GENERATOR || g.kind == LKRT_KIND_MASK_GENERATOR || g.kind == LKRT_KIND_WALLPAPER
                                 ? "image"
                             : enhancer                    ? "enhanced"
                             : g.diffusion.prediction == 1 ? "v"
                                                           : "eps";
  graph->mutable_node(graph->node_size() - 1)->set_output(0, output);
  add_value(graph->mutable_output(), output, onnx::TensorProto::FLOAT, image_dims);
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw Error(std::string("the exported ONNX model fails onnx::checker: ") + e.what(), ErrorKind::kInternal);
  }
  std::string bytes;
  check_input(model.SerializeToString(&bytes), "could not serialise the ONNX model");
  return bytes;
}

}  // namespace latentkit
