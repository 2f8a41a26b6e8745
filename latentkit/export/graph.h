#pragma once
// A model as a graph of inference ops over values, BatchNorm folded away: what the ONNX and
// .lkm writers consume. The ops are the runtime's (lkrt_ops.h), so the exporter, the
// writer and the loader share one table. extract_graph reads the graph off a trained
// model; run_graph runs it with LibTorch, so the extraction is checked against the model
// itself before any writer sees it.
//
// Value i is the output of op i; ops read values before them; the last op's value is the
// model's output. Every value is [N, C, H, W] in run_graph (a vector is [N, C, 1, 1]).
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <lkrt.h>
#include <lkrt_ops.h>
#include <torch/torch.h>

#include "latentkit/data/labelmaps.h"
#include "latentkit/models/generator.h"
#include "latentkit/models/pix2pix.h"
#include "latentkit/models/psgan.h"
#include "latentkit/models/spade.h"
#include "latentkit/models/text.h"

namespace latentkit {

using lkrt::Op;
using lkrt::InputRole;

struct GraphOp {
  GraphOp(Op op_, std::vector<int64_t> inputs_ = {}) : op(op_), inputs(std::move(inputs_)) {}  // NOLINT: implicit
  Op op;
  std::vector<int64_t> inputs;  // values read
  // gemm [out, in], conv [out, in, k, k], conv_transpose [in, out, k, k]: weight and bias
  // (always defined); group_norm: gamma and beta; embedding and a conditional generator's
  // latent input: the table in weight.
  torch::Tensor weight, bias;
  int64_t stride = 1, padding = 0;  // convolutions; upsample_nearest: stride is the scale; downsample_nearest: the factor
  int64_t groups = 0;               // group_norm: groups; attention: heads
  int64_t channels = 0;             // input: image / condition / text / grid channels, label map classes; group_norm, attention: channels
  int64_t dim = 0;                  // timestep_embedding
  InputRole role = InputRole::kLatent;
  double alpha = 0, beta = 0;       // leaky slope; affine a, b; group_norm eps; attention scale
  std::vector<int64_t> shape;       // reshape: per-image shape
};

/// What the schedule and sampler of a denoiser need (lkrt::DiffusionInfo).
struct GraphDiffusion {
  uint32_t schedule = 2, timesteps = 1000, prediction = 0, tasks = 0, sample_steps = 50;
};

/// A wallpaper model's parts beside its network (lkrt::WallpaperInfo): the grid's channels,
/// the wave MLP (Linear weights [out, in]) and the named moods of RUN/moods.json.
struct GraphWallpaper {
  int64_t local_dim = 0, global_dim = 0, periodic_dim = 0, cell = 0, reach = 0;
  torch::Tensor weight1, bias1, weight2, bias2;  // [hidden, G], [hidden], [2P, hidden], [2P]
  std::vector<std::pair<std::string, torch::Tensor>> moods;  // name, shift float [G]
};

struct ModelGraph {
  std::string family;
  lkrt_kind kind = LKRT_KIND_GENERATOR;
  int64_t latent_dim = 0;   // generators, mask generators: z; denoisers: C x H x W; enhancers: 0
  int64_t num_classes = 0;  // denoisers: plus a no-class row in their embedding; mask generators: the map's classes
  std::array<int64_t, 3> image_shape{};  // {C, H, W}: the output, or the image in and out
  int64_t pad_multiple = 1;              // enhancers: input sides padded to a multiple of this
  GraphDiffusion diffusion;
  std::vector<GraphOp> ops;
  // Text-to-image denoisers (t2i): the text encoder, its "no prompt" vector and the
  // tokenizer's vocabulary, beside the graph: the U-Net reads the pooled prompt through an
  // input of role kText. The .lkm holds them in its text section; empty for other models.
  TextEncoder text_encoder{nullptr};
  torch::Tensor null_text;  // [text width]
  std::vector<std::string> vocab;
  // Mask generators (spade): the palette of their label maps, which the .lkm carries so that
  // a device can draw it; empty for other models.
  MapPalette palette;
  // Wallpaper models (psgan): the graph maps a latent grid of any size to pixels (input role
  // kGrid); the wave MLP and the moods travel beside it in the .lkm's wallpaper section.
  GraphWallpaper wallpaper;

  /// Appends op and returns its value.
  int64_t add(GraphOp op);
  int64_t parameter_count() const;
};

/// The inference graph of a loaded generator (dcgan, dcgan-upsample, cgan, vae, cvae), with
/// every BatchNorm folded into the layer before it. Other families: a clear Error.
ModelGraph extract_graph(Generator& generator);
/// The graph of a pix2pix generator: an enhancer.
ModelGraph extract_enhancer_graph(Pix2pixGeneratorImpl& net);
/// The graph of a spade generator: a mask generator (z and a label map). Each SPADE
/// normalisation's BatchNorm (eval: x s + t per channel) is folded into its gamma and beta
/// convolutions, with the "1 +": (x s + t)(1 + gamma) + beta = x gamma' + beta', gamma' =
/// s (1 + gamma), beta' = beta + t (1 + gamma); the map is one-hot at the image size and
/// downsampled (nearest) once per smaller block size.
ModelGraph extract_mask_generator_graph(SpadeGeneratorImpl& net);
/// The graph of a psgan generator: a wallpaper model. Its stack of transposed convolutions
/// (BatchNorm folded, tanh at the end) on a grid of any size; moods: name and shift [global_dim].
ModelGraph extract_wallpaper_graph(PsganGeneratorImpl& net, std::vector<std::pair<std::string, torch::Tensor>> moods = {});
/// The moods of a psgan run, RUN/moods.json's "moods": [{"name", "shift": [global_dim]}] (other
/// keys ignored); none when the file does not exist. A malformed file is an Error.
std::vector<std::pair<std::string, torch::Tensor>> read_wallpaper_moods(const std::string& path, int64_t global_dim);
/// A run's model as export reads it: a pix2pix run's generator (an enhancer), a spade run's
/// (a mask generator), or any other family's Generator (a ddpm / cddpm's is a denoiser, a
/// psgan's a wallpaper model, with the moods of RUN/moods.json).
struct RunModel {
  Pix2pixGenerator enhancer{nullptr};
  SpadeGenerator spade{nullptr};
  std::unique_ptr<Generator> generator;
  std::vector<std::pair<std::string, torch::Tensor>> moods;
};
/// Loads RUN by its family (a clear Error for what cannot be loaded).
RunModel load_run_model(const std::string& run_dir);
ModelGraph extract_graph(RunModel& model);
ModelGraph extract_run_graph(const std::string& run_dir);

/// mse(got - want) / mse(want): the parity measure of export and its tests.
double normalised_error(const torch::Tensor& got, const torch::Tensor& want);

/// The inputs of one run of a graph: z [N, latent_dim] (generators, mask generators), labels
/// int64 [N] (conditional ones; a denoiser's no-class label is num_classes), image [N, C, H, W]
/// (enhancers, x_t of denoisers), t int64 [N], cond [N, C + 2, H, W] (denoisers with tasks),
/// text [N, text width] (text-to-image denoisers: pooled prompts, or null_text) and maps
/// uint8 or int64 [N, H, W] (mask generators: class ids) and grid [N, channels, cells_h, cells_w]
/// (wallpaper models: PsganGeneratorImpl::grid).
struct GraphInputs {
  torch::Tensor z, labels, image, t, cond, text, maps, grid;
};

/// Runs the graph with LibTorch: images [N, C, H, W] (generators, enhancers) or the
/// network's output (denoisers). Equals the model up to round-off.
torch::Tensor run_graph(const ModelGraph& graph, const GraphInputs& inputs);

}  // namespace latentkit
