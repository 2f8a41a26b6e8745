// latentkit export: a trained generator, enhancer (pix2pix), diffusion denoiser (ddpm,
// cddpm, t2i with its text encoder), mask generator (spade, with its palette) or wallpaper
// model (psgan, with its wave MLP and moods) as ONNX or .lkm (the on-device runtime's format).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include <lkrt.h>
#include <lkrt_wallpaper.h>

#include "apps/latentkit/commands.h"
#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/hash.h"
#include "latentkit/data/captions.h"
#include "latentkit/export/graph.h"
#include "latentkit/export/lkm.h"
#include "latentkit/export/onnx.h"
#include "latentkit/models/diffusion.h"
#include "latentkit/models/pix2pix.h"
#include "latentkit/models/psgan.h"
#include "latentkit/models/registry.h"
#include "latentkit/models/spade.h"
#include "latentkit/steer/axes.h"
#include "latentkit/steer/wallpaper.h"

namespace latentkit::app {
namespace {

struct ExportParams {
  std::string run, format, out, weights = "fp32", vectors, axes;
  int64_t vector_count = 4;
  int threads = 0;
};

std::vector<double> flat(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// Seeded inputs of the graph's kind, and the model's own outputs for them (LibTorch). A
// text-to-image model's inputs hold prompts of random vocabulary words (the last: no
// prompt) as text, token ids and the pooled embeddings LibTorch's text encoder gives them. A
// mask generator's maps are blocks of random classes (8 x 8 pixels each, so that every block
// size of the network sees several classes), z as `latentkit generate --seed 0` draws it. A
// wallpaper model's are grids of 3 x 5 cells (PsganGeneratorImpl::grid of random noise, the
// margin's coordinates), z their global vectors and waves the wave vectors LibTorch computes.
struct Vectors {
  GraphInputs in;
  torch::Tensor expected, waves;
  std::vector<std::string> prompts;
  std::vector<std::vector<int64_t>> tokens;
};

Vectors make_vectors(RunModel& m, const ModelGraph& g, int64_t n) {
  torch::NoGradGuard no_grad;
  torch::Generator rng = make_rng(0);
  Vectors v;
  const auto [C, H, W] = g.image_shape;
  if (g.kind == LKRT_KIND_ENHANCER) {
    v.in.image = torch::rand({n, C, H, W}, rng) * 2 - 1;
    v.expected = m.enhancer->forward(v.in.image);
  } else if (g.kind == LKRT_KIND_WALLPAPER) {
    PsganGeneratorImpl& net = *dynamic_cast<PsganModel&>(*m.generator).net();
    const PsganOptions& o = net.options;
    PsganLatent z;
    z.local = torch::randn({n, o.local_dim(), 3, 5}, rng);
    z.global = torch::randn({n, o.global_dim()}, rng);
    z.phase = torch::rand({n, o.periodic_dim()}, rng) * (2 * M_PI);
    z.x0 = z.y0 = -kPsganReach;
    net.eval();
    v.in.z = z.global;
    v.in.grid = net.grid(z);
    v.waves = net.waves(z.global).flatten(1);  // kx, then ky: lkrt_wallpaper_waves' order
    v.expected = net.forward(v.in.grid);
  } else if (g.kind == LKRT_KIND_MASK_GENERATOR) {
    v.in.z = torch::randn({n, g.latent_dim}, rng);
    const int64_t block = std::min<int64_t>(8, H);
    torch::Tensor coarse = torch::randint(g.num_classes, {n, (H + block - 1) / block, (W + block - 1) / block}, rng, torch::kInt64);
    v.in.maps = coarse.repeat_interleave(block, 1).repeat_interleave(block, 2).slice(1, 0, H).slice(2, 0, W).to(torch::kUInt8).contiguous();
    v.expected = spade_generate(*m.spade, v.in.maps, v.in.z);
  } else if (g.kind == LKRT_KIND_DENOISER) {
    auto& model = dynamic_cast<DdpmModel&>(*m.generator);
    v.in.image = torch::randn({n, C, H, W}, rng);
    v.in.t = torch::randint(static_cast<int64_t>(g.diffusion.timesteps), {n}, rng, torch::kInt64);
    if (g.num_classes > 0) v.in.labels = torch::arange(n, torch::kInt64).remainder(g.num_classes + 1);
    if (g.diffusion.tasks) v.in.cond = torch::rand({n, C + 2, H, W}, rng) * 2 - 1;
    if (g.text_encoder) {
      const Tokenizer& tokenizer = model.options().tokenizer;
      torch::Tensor padded = torch::full({n, tokenizer.max_tokens()}, kPadToken, torch::kInt64);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t words = i + 1 == n ? 0 : 1 + (3 * i) % std::min<int64_t>(tokenizer.max_tokens(), 6);
        torch::Tensor ids = torch::randint(2, tokenizer.vocab_size(), {words}, rng, torch::kInt64);
        std::string prompt;
        for (int64_t k = 0; k < words; ++k) prompt += (k ? " " : "") + tokenizer.vocabulary()[static_cast<size_t>(ids[k].item<int64_t>())];
        v.prompts.push_back(prompt);
        v.tokens.push_back(prompt.empty() ? std::vector<int64_t>{} : tokenizer.encode(prompt));
        for (size_t k = 0; k < v.tokens.back().size(); ++k) padded[i][static_cast<int64_t>(k)] = v.tokens.back()[k];
      }
      v.in.text = model.net()->encode_text(padded);
    }
    v.expected = model.net()->forward(v.in.image, v.in.t, v.in.labels, v.in.cond, v.in.text);
  } else {
    v.in.z = m.generator->sample_latent(n, rng);
    if (g.num_classes > 0) v.in.labels = torch::arange(n, torch::kInt64).remainder(g.num_classes);
    v.expected = m.generator->decode(v.in.z, v.in.labels);
  }
  return v;
}

// The .lkm file through lkrt on the same inputs: the runtime's normalised error against
// LibTorch, of the network, (text-to-image models) of the text encoder and (wallpaper
// models) of the wave MLP.
struct RuntimeErrors {
  double network = 0, text = 0, waves = 0;
};

RuntimeErrors runtime_error(const std::string& bytes, const ModelGraph& g, const Vectors& v) {
  lkrt::Model model(bytes.data(), bytes.size());
  RuntimeErrors errors;
  if (g.text_encoder) {
    torch::Tensor got = torch::empty_like(v.in.text).contiguous();
    for (size_t i = 0; i < v.tokens.size(); ++i) {
      const std::vector<int32_t> ids(v.tokens[i].begin(), v.tokens[i].end());
      const lkrt_status s = lkrt_encode_tokens(model.get(), ids.data(), int32_t(ids.size()),
                                               got[static_cast<int64_t>(i)].data_ptr<float>());
      check_input(s == LKRT_OK, std::string("lkrt refused the exported text encoder: ") + lkrt_last_error());
    }
    errors.text = normalised_error(got, v.in.text);
  }
  if (v.waves.defined() && v.waves.numel() > 0) {
    torch::Tensor got = torch::empty_like(v.waves).contiguous();
    for (int64_t i = 0; i < v.waves.size(0); ++i) {
      const torch::Tensor global = v.in.z[i].contiguous();
      const lkrt_status s = lkrt_wallpaper_waves(model.get(), global.data_ptr<float>(), got[i].data_ptr<float>());
      check_input(s == LKRT_OK, std::string("lkrt refused the exported wave MLP: ") + lkrt_last_error());
    }
    errors.waves = normalised_error(got, v.waves);
  }
  const int64_t n = v.expected.size(0);
  torch::Tensor got = torch::empty_like(v.expected).contiguous();
  for (int64_t i = 0; i < n; ++i) {
    float* out = got[i].data_ptr<float>();
    lkrt_status s = LKRT_OK;
    if (g.kind == LKRT_KIND_ENHANCER) {
      torch::Tensor x = v.in.image[i].contiguous();
      s = lkrt_enhance(model.get(), x.data_ptr<float>(), int32_t(x.size(1)), int32_t(x.size(2)), 0, out);
    } else if (g.kind == LKRT_KIND_DENOISER) {
      torch::Tensor x = v.in.image[i].contiguous();
      torch::Tensor c = v.in.cond.defined() ? v.in.cond[i].contiguous() : torch::Tensor();
      const int32_t label = v.in.labels.defined() ? int32_t(v.in.labels[i].item<int64_t>()) : -1;
      if (g.text_encoder) {
        torch::Tensor text = v.in.text[i].contiguous();
        s = lkrt_denoise_text(model.get(), x.data_ptr<float>(), int32_t(v.in.t[i].item<int64_t>()), text.data_ptr<float>(),
                              c.defined() ? c.data_ptr<float>() : nullptr, out);
      } else {
        s = lkrt_denoise(model.get(), x.data_ptr<float>(), int32_t(v.in.t[i].item<int64_t>()), label,
                         c.defined() ? c.data_ptr<float>() : nullptr, out);
      }
    } else if (g.kind == LKRT_KIND_WALLPAPER) {
      torch::Tensor grid = v.in.grid[i].contiguous();
      s = lkrt_wallpaper_network(model.get(), grid.data_ptr<float>(), int32_t(grid.size(1)), int32_t(grid.size(2)), out);
    } else if (g.kind == LKRT_KIND_MASK_GENERATOR) {
      torch::Tensor z = v.in.z[i].contiguous(), map = v.in.maps[i].contiguous();
      s = lkrt_generate_map(model.get(), z.data_ptr<float>(), map.data_ptr<uint8_t>(), out);
    } else {
      torch::Tensor z = v.in.z[i].contiguous();
      const int32_t label = v.in.labels.defined() ? int32_t(v.in.labels[i].item<int64_t>()) : -1;
      s = lkrt_generate(model.get(), z.data_ptr<float>(), label, out);
    }
    check_input(s == LKRT_OK, std::string("lkrt refused the exported model: ") + lkrt_last_error());
  }
  // lkrt_enhance clamps to [-1, 1]; compare with the model's clamped output.
  torch::Tensor want = g.kind == LKRT_KIND_ENHANCER ? v.expected.clamp(-1, 1) : v.expected;
  errors.network = normalised_error(got, want);
  return errors;
}

// The largest difference, in levels, between lkrt_wallpaper on the file and latentkit's
// render_wallpaper (docs/wallpapers.md steps 1-8) for a small wallpaper, plain and tileable.
int wallpaper_difference(const std::string& bytes, PsganGeneratorImpl& net) {
  lkrt::Model model(bytes.data(), bytes.size());
  int most = 0;
  for (const bool tileable : {false, true}) {
    WallpaperOptions o;
    o.width = tileable ? 128 : 90;
    o.height = tileable ? 192 : 200;
    o.scale = tileable ? 2 : 4;
    o.tileable = tileable;
    o.day = 20793.5;
    o.seed = 3;
    const Image want = render_wallpaper(net, o);
    lkrt_wallpaper_options lo;
    lkrt_wallpaper_options_init(&lo);
    lo.day = o.day, lo.seed = o.seed, lo.width = int32_t(o.width), lo.height = int32_t(o.height);
    lo.scale = int32_t(o.scale), lo.tileable = tileable;
    std::vector<uint8_t> got(size_t(o.width * o.height * 4));
    check_input(lkrt_wallpaper(model.get(), &lo, got.data()) == LKRT_OK,
                std::string("lkrt refused to draw a wallpaper from the exported file: ") + lkrt_last_error());
    for (size_t i = 0; i < size_t(o.width * o.height); ++i)
      for (size_t c = 0; c < 3; ++c) most = std::max(most, std::abs(int(got[4 * i + c]) - int(want.pixels[3 * i + c])));
  }
  return most;
}

void run_export(const ExportParams& p) {
  check_input(p.format != "onnx" || p.weights == "fp32", "ONNX export writes fp32 weights; --weights is for --format lkm");
  check_input(path_exists(p.run), "run folder " + p.run + " not found");
  // Read before any work, so that a bad axes file stops the export at once.
  const AxisSet axes = p.axes.empty() ? AxisSet{} : read_axes(p.axes);
  RunModel model = load_run_model(p.run);
  ModelGraph graph = extract_graph(model);
  const std::string id = file_sha256(p.run + "/model.pt").substr(0, 16);
  const nlohmann::json axes_json = p.axes.empty() ? nlohmann::json() : axes_for_runtime(axes, graph, id, p.run, p.axes);

  // The extracted graph (BatchNorm folded) must reproduce the model before anything is written.
  const Vectors v = make_vectors(model, graph, p.vector_count);
  const double error = normalised_error(run_graph(graph, v.in), v.expected);
  if (!(error < 1e-10)) {
    throw Error("the exported graph does not reproduce the model (normalised error " + std::to_string(error) + ")",
                ErrorKind::kInternal);
  }
  const std::string bytes = p.format == "onnx" ? graph_to_onnx(graph, p.run) : graph_to_lkm(graph, p.weights, id);
  std::string runtime_note;
  if (p.format == "lkm") {
    // And so must the runtime, on the file about to be written.
    const RuntimeErrors e = runtime_error(bytes, graph, v);
    const double bound = p.weights == "fp32" ? 1e-8 : p.weights == "fp16" ? 1e-4 : 1e-2;
    // The wave MLP is always fp32.
    if (!(e.network < bound) || !(e.text < bound) || !(e.waves < 1e-8))
      throw Error("lkrt does not reproduce the model from the exported file (normalised error " +
                      std::to_string(e.network) + (graph.text_encoder ? ", text encoder " + std::to_string(e.text) : "") +
                      (v.waves.defined() ? ", wave MLP " + std::to_string(e.waves) : "") + ", bound " +
                      std::to_string(bound) + " for " + p.weights + ")",
                  ErrorKind::kInternal);
    char buf[128];
    std::snprintf(buf, sizeof buf, "; lkrt matches it to %.1e", e.network);
    runtime_note = buf;
    if (graph.text_encoder) {
      std::snprintf(buf, sizeof buf, ", its text encoder to %.1e", e.text);
      runtime_note += buf;
    }
    if (graph.kind == LKRT_KIND_WALLPAPER) {
      // And the whole recipe: lkrt_wallpaper against latentkit wallpaper's render (fp32: within
      // a level, as the e2e test asks of the two commands).
      const int levels = wallpaper_difference(bytes, *dynamic_cast<PsganModel&>(*model.generator).net());
      if (p.weights == "fp32" && levels > 1)
        throw Error("lkrt_wallpaper differs from latentkit's render of the same wallpaper by " + std::to_string(levels) +
                        " levels (at most 1 expected)",
                    ErrorKind::kInternal);
      std::snprintf(buf, sizeof buf, ", its wave MLP to %.1e; lkrt_wallpaper is within %d level%s of latentkit's", e.waves,
                    levels, levels == 1 ? "" : "s");
      runtime_note += buf;
      if (!graph.wallpaper.moods.empty()) runtime_note += "; " + std::to_string(graph.wallpaper.moods.size()) + " moods";
    }
  }
  write_file_atomic(p.out, bytes);
  std::fprintf(stderr,
               "wrote %s: %s, %s weights, %lld parameters, %zu bytes (%zu ops; folded graph matches the model to %.1e%s, "
               "normalised error mse(a - b) / mse(a))\n",
               p.out.c_str(), graph.family.c_str(), p.format == "onnx" ? "fp32" : p.weights.c_str(),
               static_cast<long long>(graph.parameter_count()), bytes.size(), graph.ops.size(), error,
               runtime_note.c_str());
  if (!p.axes.empty()) {
    const std::string path = axes_path_beside(p.out);
    write_file_atomic(path, axes_json.dump() + "\n");  // one line: the page fetches it
    std::fprintf(stderr, "wrote %s: %zu feature axes of %s for the page beside the model\n", path.c_str(), axes.axes.size(),
                 p.axes.c_str());
  }
  if (!p.vectors.empty()) {
    const auto& shape = graph.image_shape;
    nlohmann::json j = {{"run", p.run},
                        {"model_id", id},
                        {"kind", graph.kind == LKRT_KIND_GENERATOR        ? "generator"
                                 : graph.kind == LKRT_KIND_MASK_GENERATOR ? "mask-generator"
                                 : graph.kind == LKRT_KIND_ENHANCER       ? "enhancer"
                                 : graph.kind == LKRT_KIND_WALLPAPER      ? "wallpaper"
                                                                          : "denoiser"},
                        {"shape", {shape[0], shape[1], shape[2]}},
                        {"labels", nlohmann::json::array()},
                        {"outputs", nlohmann::json::array()}};
    for (int64_t i = 0; i < p.vector_count; ++i) {
      if (v.in.z.defined()) j["z"].push_back(flat(v.in.z[i]));
      if (v.in.image.defined()) j["inputs"].push_back(flat(v.in.image[i]));
      if (v.in.grid.defined()) j["grids"].push_back(flat(v.in.grid[i]));
      if (v.in.maps.defined()) {
        const torch::Tensor ids = v.in.maps[i].to(torch::kInt64).flatten().contiguous();
        j["maps"].push_back(std::vector<int64_t>(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + ids.numel()));
      }
      if (v.in.t.defined()) j["t"].push_back(v.in.t[i].item<int64_t>());
      if (v.in.cond.defined()) j["cond"].push_back(flat(v.in.cond[i]));
      if (v.in.text.defined()) {
        j["prompts"].push_back(v.prompts[static_cast<size_t>(i)]);
        j["tokens"].push_back(v.tokens[static_cast<size_t>(i)]);
        j["text"].push_back(flat(v.in.text[i]));
      }
      j["labels"].push_back(v.in.labels.defined() ? v.in.labels[i].item<int64_t>() : -1);
      j["outputs"].push_back(flat(v.expected[i]));
    }
    write_json(p.vectors, j);
    std::fprintf(stderr, "wrote %s: %lld seeded inputs and LibTorch's outputs for them (parity checks)\n",
                 p.vectors.c_str(), static_cast<long long>(p.vector_count));
  }
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto p = std::make_shared<ExportParams>();
  CLI::App* cmd = app.add_subcommand(
      "export", "Export a generator, an enhancer (pix2pix), a diffusion model (text-to-image too), a mask-to-image model (spade) or a wallpaper model (psgan) to ONNX or to .lkm for the on-device runtime (lkrt)");
  cmd->add_option("--run", p->run, "run folder of the model")->required();
  cmd->add_option("--format", p->format, "onnx (opset 13, for ONNX Runtime and mobile runtimes) or lkm (latentkit's runtime)")
      ->required()
      ->check(CLI::IsMember({"onnx", "lkm"}));
  cmd->add_option("--out", p->out, "file to write")->required();
  cmd->add_option("--weights", p->weights, "lkm: fp32, fp16 or int8 (per output channel, fp32 scales)")
      ->check(CLI::IsMember({"fp32", "fp16", "int8"}))
      ->capture_default_str();
  cmd->add_option("--vectors", p->vectors,
                  "also write a JSON of seeded inputs (a spade run's: z and label maps of class ids) and LibTorch's outputs "
                  "for them, to check another runtime against");
  cmd->add_option("--axes", p->axes,
                  "generators: also write the feature axes of this axes.json (axes fit) beside the model, as OUT.axes.json "
                  "(OUT without .lkm): what a page needs to move latents along them and lock them")
      ->check(CLI::ExistingFile);
  cmd->add_option("--vector-count", p->vector_count, "inputs in --vectors (and in the self-check)")->check(CLI::Range(1, 1000))->capture_default_str();
  cmd->footer(
      "Examples:\n  latentkit export --run models/fashion-dcgan --format onnx --out gen.onnx\n"
      "  latentkit export --run models/fashion-dcgan --format lkm --weights int8 --out gen.lkm\n"
      "  latentkit export --run models/emoji-cgan --format lkm --weights int8 --axes models/emoji-axes.json --out emoji.lkm\n"
      "    (also writes emoji.axes.json for the browser app)\n"
      "  lkrt gen.lkm --seed 3 --out x.png\n"
      "  latentkit export --run models/fashion-enhance --format lkm --weights int8 --out enhance.lkm\n"
      "  lkrt enhance.lkm --image in.png --out out.png\n"
      "  latentkit export --run models/fashion-ddpm --format lkm --out ddpm.lkm\n"
      "  lkrt ddpm.lkm --seed 3 --steps 20 --sampler dpmpp --out x.png\n"
      "  latentkit export --run runs/emoji-t2i --format lkm --out t2i.lkm   (with its text encoder and vocabulary)\n"
      "  lkrt t2i.lkm --prompt \"cat face with heart-eyes\" --guidance 3 --steps 10 --sampler dpmpp --out cat.png\n"
      "  latentkit export --run models/shapes-spade --format lkm --weights int8 --out spade.lkm   (with its palette)\n"
      "  lkrt spade.lkm --mask map.png --seed 3 --out drawn.png\n"
      "  latentkit export --run runs/wallpapers --format lkm --weights int8 --out wallpaper.lkm   (with its moods)\n"
      "  lkrt wallpaper.lkm --size 1080x2400 --date 2026-12-06 --out wall.png");
  torch_command(cmd, p->threads, Work::kShort, [p]() { run_export(*p); });
}

}  // namespace latentkit::app
