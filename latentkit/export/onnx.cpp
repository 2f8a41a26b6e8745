#include "latentkit/export/onnx.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include "latentkit/core/error.h"

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

// A value with a symbolic batch dimension and fixed others.
void add_value(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list, const std::string& name, int type,
               const std::vector<int64_t>& dims) {
  onnx::ValueInfoProto* v = list->Add();
  v->set_name(name);
  onnx::TypeProto_Tensor* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(type);
  onnx::TensorShapeProto* shape = t->mutable_shape();
  shape->add_dim()->set_dim_param("batch");
  for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
}

void conv_attributes(onnx::NodeProto* n, const GraphOp& op) {
  const int64_t k = op.weight.size(2);
  set_ints(n, "kernel_shape", {k, k});
  set_ints(n, "strides", {op.stride, op.stride});
  set_ints(n, "pads", {op.padding, op.padding, op.padding, op.padding});
}

}  // namespace

std::string graph_to_onnx(const GeneratorGraph& g, const std::string& model_name) {
  onnx::ModelProto model;
  model.set_ir_version(onnx::IR_VERSION);
  model.set_producer_name("latentkit");
  model.set_producer_version(LATENTKIT_VERSION);
  model.set_doc_string(model_name);
  onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  onnx::GraphProto* graph = model.mutable_graph();
  graph->set_name(g.family + "_generator");
  OnnxBuilder b(graph);

  add_value(graph->mutable_input(), "z", onnx::TensorProto::FLOAT, {g.latent_dim});
  std::string x = "z";
  if (g.embedding.defined()) {
    add_value(graph->mutable_input(), "label", onnx::TensorProto::INT64, {});
    onnx::NodeProto* gather = b.node("Gather", {b.initializer(g.embedding), "label"});
    set_int(gather, "axis", 0);
    onnx::NodeProto* concat = b.node("Concat", {"z", gather->output(0)});
    set_int(concat, "axis", 1);
    x = b.last();
  }
  for (const GraphOp& op : g.ops) {
    switch (op.kind) {
      case OpKind::kGemm: {
        onnx::NodeProto* n = b.node("Gemm", {x, b.initializer(op.weight), b.initializer(op.bias)});
        set_int(n, "transB", 1);
        break;
      }
      case OpKind::kConv:
        conv_attributes(b.node("Conv", {x, b.initializer(op.weight), b.initializer(op.bias)}), op);
        break;
      case OpKind::kConvTranspose:
        conv_attributes(b.node("ConvTranspose", {x, b.initializer(op.weight), b.initializer(op.bias)}), op);
        break;
      case OpKind::kUpsampleNearest: {
        const float s = static_cast<float>(op.stride);
        // asymmetric + floor is PyTorch's "nearest": out[i] = in[floor(i / s)].
        onnx::NodeProto* n = b.node("Resize", {x, "", b.initializer(torch::tensor({1.0f, 1.0f, s, s}))});
        set_string(n, "mode", "nearest");
        set_string(n, "coordinate_transformation_mode", "asymmetric");
        set_string(n, "nearest_mode", "floor");
        break;
      }
      case OpKind::kRelu: b.node("Relu", {x}); break;
      case OpKind::kLeakyRelu: set_float(b.node("LeakyRelu", {x}), "alpha", static_cast<float>(op.alpha)); break;
      case OpKind::kTanh: b.node("Tanh", {x}); break;
      case OpKind::kSigmoid: b.node("Sigmoid", {x}); break;
      case OpKind::kAffine: {
        b.node("Mul", {x, b.initializer(torch::tensor(static_cast<float>(op.alpha)))});
        const std::string scaled = b.last();
        b.node("Add", {scaled, b.initializer(torch::tensor(static_cast<float>(op.beta)))});
        break;
      }
      case OpKind::kReshape: {
        std::vector<int64_t> shape = {-1};
        shape.insert(shape.end(), op.shape.begin(), op.shape.end());
        b.node("Reshape", {x, b.initializer(torch::tensor(shape, torch::kInt64))});
        break;
      }
    }
    x = b.last();
  }
  // The last node's output is the graph's output "image".
  graph->mutable_node(graph->node_size() - 1)->set_output(0, "image");
  add_value(graph->mutable_output(), "image", onnx::TensorProto::FLOAT,
            {g.image_shape[0], g.image_shape[1], g.image_shape[2]});
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
