#include "latentkit/models/pix2pix.h"

#include <algorithm>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/models/dcgan.h"
#include "latentkit/models/registry.h"

namespace latentkit {
namespace {

namespace nn = torch::nn;

nn::Conv2d conv4(int64_t in, int64_t out, int64_t stride) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, 4).stride(stride).padding(1));
}

}  // namespace

void Pix2pixOptions::validate() const {
  check_input(channels() == 1 || channels() == 3 || channels() == 4, "pix2pix: channels must be 1, 3 or 4, got " + std::to_string(channels()));
  check_input(image_size() >= 8 && image_size() <= 1024,
              "pix2pix: image size " + std::to_string(image_size()) + " must be in 8..1024");
  check_input(width() >= 4 && width() <= 512, "pix2pix: --width must be in 4..512");
  check_input(depth() >= 0 && depth() <= 8, "pix2pix: --depth must be in 1..8 (0: from the image size)");
  check_input(dropout() >= 0 && dropout() < 1, "pix2pix: dropout must be in [0, 1)");
  check_input(d_layers() >= 0 && d_layers() <= 5, "pix2pix: --d-layers must be in 1..5 (0: from the image size)");
  // The PatchGAN's strided layers halve the size, its two last convolutions take 1 each.
  auto logits = [](int64_t size, int64_t layers) {
    for (int64_t i = 0; i < layers; ++i) size /= 2;
    return size - 2;
  };
  int64_t least = 8;
  while (logits(least, patch_layers()) < 1) ++least;
  check_input(logits(image_size(), patch_layers()) >= 1,
              "pix2pix: the PatchGAN with --d-layers " + std::to_string(patch_layers()) + " needs images of at least " +
                  std::to_string(least) + " px, these are " + std::to_string(image_size()));
}

int64_t Pix2pixOptions::levels() const {
  if (depth() > 0) return depth();
  int64_t d = 0;
  while ((int64_t{2} << d) <= image_size() && d < 8) ++d;
  return d;
}

int64_t Pix2pixOptions::patch_layers() const {
  if (d_layers() > 0) return d_layers();
  return image_size() < 16 ? 1 : image_size() < 64 ? 2 : 3;
}

nlohmann::json pix2pix_options_to_json(const Pix2pixOptions& o) {
  return {{"channels", o.channels()}, {"image_size", o.image_size()}, {"width", o.width()},
          {"depth", o.levels()},      {"dropout", o.dropout()},       {"d_layers", o.patch_layers()},
          {"residual", o.residual()}};
}

Pix2pixOptions pix2pix_options_from_json(const nlohmann::json& m) {
  Pix2pixOptions o;
  o.channels(m.at("channels").get<int64_t>())
      .image_size(m.at("image_size").get<int64_t>())
      .width(m.at("width").get<int64_t>())
      .depth(m.at("depth").get<int64_t>())
      .dropout(m.at("dropout").get<double>())
      .d_layers(m.at("d_layers").get<int64_t>())
      .residual(m.at("residual").get<bool>());
  o.validate();
  return o;
}

Pix2pixGeneratorImpl::Pix2pixGeneratorImpl(Pix2pixOptions options_) : options(std::move(options_)) {
  options.validate();
  reset();
}

void Pix2pixGeneratorImpl::reset() {
  const int64_t depth = options.levels(), c = options.channels();
  auto width = [&](int64_t i) { return options.width() * std::min<int64_t>(int64_t{1} << i, 8); };
  down = register_module("down", nn::ModuleList());
  up = register_module("up", nn::ModuleList());
  for (int64_t i = 0; i < depth; ++i) {
    nn::Sequential block;
    if (i > 0) block->push_back(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)));
    block->push_back(conv4(i == 0 ? c : width(i - 1), width(i), 2));
    if (i > 0 && i < depth - 1) block->push_back(nn::BatchNorm2d(width(i)));
    down->push_back(block);
  }
  for (int64_t i = 0; i < depth; ++i) {
    const int64_t in = i == depth - 1 ? width(i) : 2 * width(i), out = i == 0 ? c : width(i - 1);
    nn::Sequential block;
    block->push_back(nn::ReLU());
    block->push_back(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(in, out, 4).stride(2).padding(1)));
    if (i > 0) block->push_back(nn::BatchNorm2d(out));
    // pix2pix's dropout: the up-blocks at 1/16 of the size and below, under the innermost
    // (at 256 px the three blocks of 16x16 to 4x4; none in a 4-level U-Net).
    if (i >= std::max<int64_t>(4, depth - 4) && i <= depth - 2 && options.dropout() > 0) {
      block->push_back(nn::Dropout(options.dropout()));
    }
    if (i == 0 && !options.residual()) block->push_back(nn::Tanh());
    up->push_back(block);
  }
  dcgan_init_weights(*down);  // not *this: a module under construction is not in a shared_ptr yet
  dcgan_init_weights(*up);
  if (options.residual()) {
    auto last = up[0]->as<nn::Sequential>()->ptr(1)->as<nn::ConvTranspose2d>();
    torch::NoGradGuard no_grad;
    last->weight.zero_();
    last->bias.zero_();
  }
}

torch::Tensor Pix2pixGeneratorImpl::forward(const torch::Tensor& images) {
  check_input(images.dim() == 4 && images.size(1) == options.channels(),
              "pix2pix: expected images [N, " + std::to_string(options.channels()) + ", H, W]");
  const int64_t depth = options.levels(), h = images.size(2), w = images.size(3);
  const torch::Tensor x = pad_to_multiple(images, int64_t{1} << depth);
  const int64_t ph = x.size(2) - h, pw = x.size(3) - w;
  std::vector<torch::Tensor> skips;
  torch::Tensor y = x;
  for (int64_t i = 0; i < depth; ++i) {
    y = down[i]->as<nn::Sequential>()->forward(y);
    skips.push_back(y);
  }
  y = up[depth - 1]->as<nn::Sequential>()->forward(y);
  for (int64_t i = depth - 2; i >= 0; --i) y = up[i]->as<nn::Sequential>()->forward(torch::cat({y, skips[i]}, 1));
  if (options.residual()) y = y + x;
  return y.slice(2, ph / 2, ph / 2 + h).slice(3, pw / 2, pw / 2 + w);
}

PatchDiscriminatorImpl::PatchDiscriminatorImpl(Pix2pixOptions options_) : options(std::move(options_)) {
  options.validate();
  reset();
}

void PatchDiscriminatorImpl::reset() {
  const int64_t n = options.patch_layers(), w = options.width();
  auto lrelu = [] { return nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)); };
  main = register_module("main", nn::Sequential());
  main->push_back(conv4(2 * options.channels(), w, 2));
  main->push_back(lrelu());
  int64_t prev = w;
  for (int64_t i = 1; i <= n; ++i) {
    const int64_t next = w * std::min<int64_t>(int64_t{1} << i, 8);
    main->push_back(conv4(prev, next, i < n ? 2 : 1));
    main->push_back(nn::BatchNorm2d(next));
    main->push_back(lrelu());
    prev = next;
  }
  main->push_back(conv4(prev, 1, 1));
  dcgan_init_weights(*main);
}

torch::Tensor PatchDiscriminatorImpl::forward(const torch::Tensor& input, const torch::Tensor& output) {
  return main->forward(torch::cat({input, output}, 1));
}

torch::Tensor pad_to_multiple(const torch::Tensor& images, int64_t multiple) {
  namespace F = nn::functional;
  const int64_t ph = (multiple - images.size(2) % multiple) % multiple, pw = (multiple - images.size(3) % multiple) % multiple;
  if (ph + pw == 0) return images;
  return F::pad(images, F::PadFuncOptions({pw / 2, pw - pw / 2, ph / 2, ph - ph / 2}).mode(torch::kReplicate));
}

Pix2pixRun load_pix2pix(const std::string& run_dir) {
  check_input(path_exists(run_dir), "run folder " + run_dir + " not found");
  check_input(path_exists(run_dir + "/config.json"),
              run_dir + " is not a run folder: it has no config.json (train one with: latentkit train --model pix2pix --out " +
                  run_dir + ")");
  nlohmann::json config = read_json(run_dir + "/config.json");
  const std::string family = config.value("family", "");
  check_input(family == "pix2pix", run_dir + " is a " + family +
                                       " run; enhance needs a pix2pix model (latentkit train --model pix2pix --task ...)");
  Pix2pixRun run;
  try {
    run.options = pix2pix_options_from_json(config.at("model"));
    run.tasks = config.at("train").value("tasks", std::vector<std::string>{});
  } catch (const nlohmann::json::exception& e) {
    throw Error(run_dir + "/config.json is malformed (" + e.what() + "); it must be the one latentkit train wrote");
  }
  check_input(path_exists(run_dir + "/model.pt"),
              run_dir + "/model.pt not found: the run has not finished its first epoch; use --resume to continue it");
  run.net = Pix2pixGenerator(run.options);
  load_module(*run.net, run_dir + "/model.pt");
  run.net->eval();
  return run;
}

torch::Tensor apply_tiled(const std::function<torch::Tensor(const torch::Tensor&)>& fn, const torch::Tensor& image,
                          int64_t tile, int64_t overlap) {
  const int64_t h = image.size(2), w = image.size(3);
  if (tile <= 0 || (h <= tile && w <= tile)) return fn(image);
  check_input(overlap >= 0 && overlap < tile, "tiling: the overlap must be smaller than the tile");
  auto starts = [&](int64_t size) {
    std::vector<int64_t> s;
    if (size <= tile) return std::vector<int64_t>{0};
    for (int64_t p = 0; p + tile < size; p += tile - overlap) s.push_back(p);
    s.push_back(size - tile);
    return s;
  };
  auto ramp = [&](int64_t n) {  // 1 inside, falling linearly over `overlap` pixels at both ends
    torch::Tensor j = torch::arange(n, torch::kFloat32);
    return torch::minimum(torch::minimum(j + 1, n - j) / static_cast<double>(overlap + 1), torch::ones({n}));
  };
  torch::Tensor sum = torch::zeros_like(image), weight = torch::zeros({1, 1, h, w});
  for (int64_t y : starts(h)) {
    for (int64_t x : starts(w)) {
      const int64_t th = std::min(tile, h), tw = std::min(tile, w);
      torch::Tensor wt = (ramp(th).view({th, 1}) * ramp(tw).view({1, tw})).view({1, 1, th, tw});
      torch::Tensor out = fn(image.slice(2, y, y + th).slice(3, x, x + tw));
      sum.slice(2, y, y + th).slice(3, x, x + tw) += out * wt;
      weight.slice(2, y, y + th).slice(3, x, x + tw) += wt;
    }
  }
  return sum / weight;
}

torch::Tensor enhance_image(Pix2pixGeneratorImpl& net, const torch::Tensor& image, int64_t tile) {
  torch::NoGradGuard no_grad;
  return apply_tiled([&](const torch::Tensor& x) { return net.forward(x); }, image, tile, std::max<int64_t>(tile / 8, 8))
      .clamp(-1, 1);
}

}  // namespace latentkit
