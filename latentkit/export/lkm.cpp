#include "latentkit/export/lkm.h"

#include <stdexcept>
#include <utility>

#include <lkrt_writer.h>

#include "latentkit/core/error.h"

namespace latentkit {
namespace {

int32_t i32(int64_t v) {
  check_input(v >= 0 && v <= INT32_MAX, "a size of " + std::to_string(v) + " does not fit the .lkm format");
  return static_cast<int32_t>(v);
}

// The text section: the encoder's options, vocabulary and weights (contiguous fp32 copies
// kept alive in keep until the writer has copied them).
void write_text_encoder(lkrt::ModelWriter& w, const ModelGraph& g, lkrt_weight_type type, std::vector<torch::Tensor>& keep) {
  TextEncoderImpl& e = *g.text_encoder.ptr();
  const TextEncoderOptions& o = e.options;
  auto f = [&](const torch::Tensor& t) {
    keep.push_back(t.detach().to(torch::kFloat32).contiguous().clone());
    return keep.back().data_ptr<float>();
  };
  lkrt::TextEncoderInfo info;
  info.max_tokens = i32(o.max_tokens());
  info.width = i32(o.width());
  info.layers = i32(o.layers());
  info.heads = i32(o.heads());
  info.eps = static_cast<float>(e.ln_out->options.eps());
  info.vocab = g.vocab;
  lkrt::TextEncoderWeights weights;
  weights.token = f(e.token->weight);
  weights.position = f(e.position);
  weights.ln_out_weight = f(e.ln_out->weight);
  weights.ln_out_bias = f(e.ln_out->bias);
  weights.null_text = f(g.null_text);
  for (const auto& module : *e.blocks) {
    TextBlockImpl& b = *module->as<TextBlock>();
    check_input(b.ln1->options.eps() == e.ln_out->options.eps() && b.ln2->options.eps() == e.ln_out->options.eps(),
                "the .lkm text section has one LayerNorm epsilon for the whole encoder");
    weights.layers.push_back({f(b.ln1->weight), f(b.ln1->bias), f(b.qkv->weight), f(b.qkv->bias), f(b.proj->weight),
                              f(b.proj->bias), f(b.ln2->weight), f(b.ln2->bias), f(b.fc1->weight), f(b.fc1->bias),
                              f(b.fc2->weight), f(b.fc2->bias)});
  }
  w.set_text_encoder(info, weights, type);
}

lkrt_weight_type weight_type(const std::string& weights) {
  if (weights == "fp32") return LKRT_WEIGHT_FP32;
  if (weights == "fp16") return LKRT_WEIGHT_FP16;
  if (weights == "int8") return LKRT_WEIGHT_INT8;
  throw Error("unknown weight type '" + weights + "' (expected fp32, fp16 or int8)");
}

}  // namespace

std::string graph_to_lkm(const ModelGraph& g, const std::string& weights, const std::string& model_id) {
  const lkrt_weight_type requested = weight_type(weights);
  // int8 keeps the output layer in fp32: its errors go straight to the pixels, and it is
  // small (fashion-enhance: 1.1e-3 normalised error with it in int8, 5.3e-4 without, for
  // 3 KB more).
  int64_t output_layer = -1;
  for (size_t i = 0; i < g.ops.size(); ++i)
    if (g.ops[i].op == Op::kGemm || g.ops[i].op == Op::kConv2d || g.ops[i].op == Op::kConvTranspose2d)
      output_layer = static_cast<int64_t>(i);
  lkrt::ModelWriter w;
  auto f = [](const torch::Tensor& t) { return t.data_ptr<float>(); };
  std::vector<torch::Tensor> keep;
  try {
    w.set_info({model_id, i32(g.latent_dim), i32(g.image_shape[0]), i32(g.image_shape[1]), i32(g.image_shape[2])});
    if (g.kind == LKRT_KIND_ENHANCER) w.set_enhancer(i32(g.pad_multiple));
    if (g.kind == LKRT_KIND_DENOISER) {
      const GraphDiffusion& d = g.diffusion;
      w.set_denoiser({d.schedule, d.timesteps, d.prediction, d.tasks, d.sample_steps, uint32_t(g.num_classes)});
      if (g.text_encoder) write_text_encoder(w, g, requested, keep);
    }
    lkrt::WallpaperInfo wallpaper;
    if (g.kind == LKRT_KIND_WALLPAPER) {
      const GraphWallpaper& p = g.wallpaper;
      wallpaper.local_dim = i32(p.local_dim);
      wallpaper.global_dim = i32(p.global_dim);
      wallpaper.periodic_dim = i32(p.periodic_dim);
      wallpaper.hidden = i32(p.periodic_dim > 0 ? p.weight1.size(0) : 0);
      wallpaper.cell = i32(p.cell);
      wallpaper.reach = i32(p.reach);
      if (p.periodic_dim > 0) {
        const torch::Tensor* parts[4] = {&p.weight1, &p.bias1, &p.weight2, &p.bias2};
        for (const torch::Tensor* t : parts) keep.push_back(t->to(torch::kFloat32).contiguous());
        const size_t k = keep.size() - 4;
        wallpaper.weight1 = f(keep[k]), wallpaper.bias1 = f(keep[k + 1]), wallpaper.weight2 = f(keep[k + 2]),
        wallpaper.bias2 = f(keep[k + 3]);
      }
      for (const auto& [name, shift] : p.moods) {
        const torch::Tensor c = shift.to(torch::kFloat32).contiguous();
        wallpaper.moods.push_back({name, std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel())});
      }
      w.set_wallpaper(wallpaper);
    }
    if (g.kind == LKRT_KIND_MASK_GENERATOR) {
      check_input(g.palette.size() == g.num_classes, "a mask generator's palette must name each of its classes");
      w.set_mask_generator({g.palette.name, g.palette.class_names, g.palette.colors});
    }
    for (size_t index = 0; index < g.ops.size(); ++index) {
      const GraphOp& op = g.ops[index];
      auto in = [&](size_t k) { return lkrt::ModelWriter::Value(op.inputs.at(k)); };
      const lkrt_weight_type type =
          requested == LKRT_WEIGHT_INT8 && static_cast<int64_t>(index) == output_layer ? LKRT_WEIGHT_FP32 : requested;
      switch (op.op) {
        case Op::kInput:
          if (op.role != InputRole::kLatent)
            w.input(op.role, i32(op.channels));
          else if (op.weight.defined())
            w.input_latent(f(op.weight), i32(op.weight.size(0)), i32(op.weight.size(1)));
          else
            w.input_latent();
          break;
        case Op::kGemm:
          w.gemm(in(0), f(op.weight), i32(op.weight.size(0)), i32(op.weight.size(1)), f(op.bias), type);
          break;
        case Op::kConv2d:
          w.conv2d(in(0), f(op.weight), i32(op.weight.size(0)), i32(op.weight.size(1)), i32(op.weight.size(2)),
                   i32(op.stride), i32(op.padding), f(op.bias), type);
          break;
        case Op::kConvTranspose2d:
          w.conv_transpose2d(in(0), f(op.weight), i32(op.weight.size(0)), i32(op.weight.size(1)), i32(op.weight.size(2)),
                             i32(op.stride), i32(op.padding), f(op.bias), type);
          break;
        case Op::kUpsampleNearest: w.upsample_nearest(in(0), i32(op.stride)); break;
        case Op::kRelu: w.activation(in(0), lkrt::Activation::kRelu); break;
        case Op::kLeakyRelu: w.activation(in(0), lkrt::Activation::kLeakyRelu, static_cast<float>(op.alpha)); break;
        case Op::kTanh: w.activation(in(0), lkrt::Activation::kTanh); break;
        case Op::kSigmoid: w.activation(in(0), lkrt::Activation::kSigmoid); break;
        case Op::kSilu: w.activation(in(0), lkrt::Activation::kSilu); break;
        case Op::kAffine: w.affine(in(0), static_cast<float>(op.alpha), static_cast<float>(op.beta)); break;
        case Op::kReshape: {
          check_input(!op.shape.empty() && op.shape.size() <= 3, "a reshape to " + std::to_string(op.shape.size()) +
                                                                     " dimensions does not fit the .lkm format");
          std::vector<int64_t> s = op.shape;
          s.resize(3, 1);
          w.reshape(in(0), i32(s[0]), i32(s[1]), i32(s[2]));
          break;
        }
        case Op::kGroupNorm:
          w.group_norm(in(0), i32(op.groups), i32(op.channels), static_cast<float>(op.alpha), f(op.weight), f(op.bias));
          break;
        case Op::kAdd: w.add(in(0), in(1)); break;
        case Op::kMul: w.mul(in(0), in(1)); break;
        case Op::kDownsampleNearest: w.downsample_nearest(in(0), i32(op.stride)); break;
        case Op::kConcat: {
          std::vector<lkrt::ModelWriter::Value> parts;
          for (size_t k = 0; k < op.inputs.size(); ++k) parts.push_back(in(k));
          w.concat(parts);
          break;
        }
        case Op::kAttention: w.attention(in(0), i32(op.channels), i32(op.groups), static_cast<float>(op.alpha)); break;
        case Op::kTimestepEmbedding: w.timestep_embedding(in(0), i32(op.dim)); break;
        case Op::kEmbedding: w.embedding(in(0), f(op.weight), i32(op.weight.size(0)), i32(op.weight.size(1))); break;
        default: throw Error(std::string("the .lkm writer has no op ") + lkrt::op_name(op.op), ErrorKind::kInternal);
      }
    }
    return w.serialize();
  } catch (const std::invalid_argument& e) {
    throw Error(std::string("the model does not fit the .lkm format: ") + e.what(), ErrorKind::kInternal);
  } catch (const std::runtime_error& e) {
    throw Error(std::string("the .lkm writer refused the model: ") + e.what(), ErrorKind::kInternal);
  }
}

nlohmann::json axes_for_runtime(const AxisSet& set, const ModelGraph& graph, const std::string& model_id,
                                const std::string& run, const std::string& source) {
  check_input(graph.kind == LKRT_KIND_GENERATOR,
              source + ": feature axes move a generator's latent; " + run + " is not a generator");
  check_input(set.latent_dim == graph.latent_dim, source + ": the axes were fitted for a " +
                                                      std::to_string(set.latent_dim) + "-dim latent, but " + run +
                                                      " has " + std::to_string(graph.latent_dim));
  AxisSet out;
  out.latent_dim = set.latent_dim;
  out.meta = {{"model_id", model_id}, {"run", run}, {"axes", source}, {"fitted_on", set.meta.value("run", "")}};
  for (const Axis& a : set.axes) {
    Axis b = a;
    // 7 decimals keep the unit length to 1e-6 and make the file a third of its size.
    b.direction = (a.direction.to(torch::kFloat64) * 1e7).round() / 1e7;
    b.details = nlohmann::json::object();
    if (a.details.is_object() && a.details.contains("bias")) b.details["bias"] = a.details["bias"];
    // A class axis with a top-class AUC shows that, as the editor does (serve).
    if (a.details.is_object() && a.details.contains("auc")) {
      b.metric = "auc";
      b.quality = a.details["auc"].get<double>();
    }
    out.axes.push_back(std::move(b));
  }
  return axes_to_json(out);
}

std::string axes_path_beside(const std::string& model_path) {
  const std::string ext = ".lkm";
  const bool lkm = model_path.size() > ext.size() && model_path.compare(model_path.size() - ext.size(), ext.size(), ext) == 0;
  return (lkm ? model_path.substr(0, model_path.size() - ext.size()) : model_path) + ".axes.json";
}

}  // namespace latentkit
