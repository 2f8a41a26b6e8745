// latentkit export: a trained generator as ONNX or .lkm (the on-device runtime's format).
#include <cmath>
#include <cstdio>
#include <memory>

#include "apps/latentkit/commands.h"
#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/hash.h"
#include "latentkit/export/graph.h"
#include "latentkit/export/lkm.h"
#include "latentkit/export/onnx.h"
#include "latentkit/models/registry.h"

namespace latentkit::app {
namespace {

struct ExportParams {
  std::string run, format, out, weights = "fp32", vectors;
  int64_t vector_count = 4;
  int threads = 0;
};

std::vector<double> flat(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

void run_export(const ExportParams& p) {
  check_input(p.format != "onnx" || p.weights == "fp32", "ONNX export writes fp32 weights; --weights is for --format lkm");
  check_input(!path_exists(p.run + "/config.json") || read_json(p.run + "/config.json").value("family", "") != "pix2pix",
              p.run + " is a pix2pix model; export does not take those yet (the runtime's graph has no skip "
                      "connections): run it with latentkit enhance");
  std::unique_ptr<Generator> generator = load_generator(p.run);
  GeneratorGraph graph = extract_graph(*generator);

  // The extracted graph (BatchNorm folded) must reproduce the model before anything is written.
  torch::Generator rng = make_rng(0);
  torch::Tensor z = generator->sample_latent(p.vector_count, rng);
  torch::Tensor labels = graph.num_classes > 0 ? torch::arange(p.vector_count, torch::kInt64).remainder(graph.num_classes)
                                               : torch::Tensor();
  torch::Tensor expected;
  {
    torch::NoGradGuard no_grad;
    expected = generator->decode(z, labels);
  }
  const double error = (run_graph(graph, z, labels) - expected).abs().max().item<double>();
  if (!(error < 1e-4)) {
    throw Error("the exported graph does not reproduce the model (max error " + std::to_string(error) + ")",
                ErrorKind::kInternal);
  }

  const std::string id = file_sha256(p.run + "/model.pt").substr(0, 16);
  const std::string bytes = p.format == "onnx" ? graph_to_onnx(graph, p.run) : graph_to_lkm(graph, p.weights, id);
  write_file_atomic(p.out, bytes);
  std::fprintf(stderr, "wrote %s: %s, %s weights, %lld parameters, %zu bytes (%zu ops; folded graph matches the model to %.1e)\n",
               p.out.c_str(), graph.family.c_str(), p.format == "onnx" ? "fp32" : p.weights.c_str(),
               static_cast<long long>(graph.parameter_count()), bytes.size(), graph.ops.size(), error);
  if (!p.vectors.empty()) {
    nlohmann::json v = {{"run", p.run},
                        {"model_id", id},
                        {"shape", {graph.image_shape[0], graph.image_shape[1], graph.image_shape[2]}},
                        {"z", nlohmann::json::array()},
                        {"labels", nlohmann::json::array()},
                        {"images", nlohmann::json::array()}};
    for (int64_t i = 0; i < p.vector_count; ++i) {
      v["z"].push_back(flat(z[i]));
      v["labels"].push_back(labels.defined() ? labels[i].item<int64_t>() : -1);
      v["images"].push_back(flat(expected[i]));
    }
    write_json(p.vectors, v);
    std::fprintf(stderr, "wrote %s: %lld latents and LibTorch's images for them (parity checks)\n", p.vectors.c_str(),
                 static_cast<long long>(p.vector_count));
  }
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto p = std::make_shared<ExportParams>();
  CLI::App* cmd = app.add_subcommand("export", "Export a generator to ONNX or to .lkm for the on-device runtime (lkrt)");
  cmd->add_option("--run", p->run, "run folder of the generator")->required();
  cmd->add_option("--format", p->format, "onnx (opset 13, for ONNX Runtime and mobile runtimes) or lkm (latentkit's runtime)")
      ->required()
      ->check(CLI::IsMember({"onnx", "lkm"}));
  cmd->add_option("--out", p->out, "file to write")->required();
  cmd->add_option("--weights", p->weights, "lkm: fp32, fp16 or int8 (per output channel, fp32 scales)")
      ->check(CLI::IsMember({"fp32", "fp16", "int8"}))
      ->capture_default_str();
  cmd->add_option("--vectors", p->vectors,
                  "also write a JSON of seeded latents and LibTorch's images for them, to check another runtime against");
  cmd->add_option("--vector-count", p->vector_count, "latents in --vectors")->check(CLI::Range(1, 1000))->capture_default_str();
  cmd->footer(
      "Examples:\n  latentkit export --run models/fashion-dcgan --format onnx --out gen.onnx\n"
      "  latentkit export --run models/fashion-dcgan --format lkm --weights int8 --out gen.lkm\n"
      "  lkrt gen.lkm --seed 3 --out x.png");
  torch_command(cmd, p->threads, Work::kShort, [p]() { run_export(*p); });
}

}  // namespace latentkit::app
