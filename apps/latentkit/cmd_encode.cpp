// latentkit encode and reconstruct: the encoder side of models that have one (VAE).
#include <cstdio>
#include <memory>

#include "apps/latentkit/commands.h"
#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/image.h"
#include "latentkit/models/registry.h"

namespace latentkit::app {
namespace {

std::unique_ptr<Generator> load_encoder_model(const std::string& run) {
  std::unique_ptr<Generator> generator = load_generator(run);
  check_input(generator->has_encoder(),
              run + " is a " + generator->family() + " model, which has no encoder (train --model vae)");
  return generator;
}

struct EncodeParams {
  std::string run, image, class_name;
  int threads = 0;
};

void run_encode(const EncodeParams& p) {
  std::unique_ptr<Generator> generator = load_encoder_model(p.run);
  const auto shape = generator->image_shape();
  const int64_t classes = generator->num_classes();
  check_input(classes > 0 || p.class_name.empty(), p.run + " is not a conditional model: --class needs one (cvae)");
  check_input(classes == 0 || !p.class_name.empty(),
              p.run + " is a conditional VAE: give the image's class with --class NAME");
  torch::Tensor label;
  int64_t class_index = -1;
  if (classes > 0) {
    class_index = parse_class(p.class_name, run_class_names(read_json(p.run + "/config.json")), classes);
    label = torch::full({1}, class_index, torch::kInt64);
  }
  Image image = read_image(p.image);
  check_input(image.width == shape[2] && image.height == shape[1],
              p.image + " is " + std::to_string(image.width) + "x" + std::to_string(image.height) + "; the model encodes " +
                  std::to_string(shape[2]) + "x" + std::to_string(shape[1]) + " images");
  torch::NoGradGuard no_grad;
  torch::Tensor x = image_to_tensor(convert_channels(image, static_cast<int>(shape[0]))).unsqueeze(0);
  auto [mu, log_var] = generator->posterior(x, label);
  auto values = [](const torch::Tensor& t) {
    torch::Tensor c = t[0].to(torch::kFloat64).contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  };
  nlohmann::json out = {{"image", p.image}, {"run", p.run}, {"z", values(mu)}, {"mu", values(mu)},
                        {"log_var", values(log_var)}};
  if (classes > 0) out["class"] = class_index;
  std::printf("%s\n", out.dump().c_str());
}

struct ReconstructParams {
  std::string run, out;
  DataOptions data;
  int64_t n = 16;
  uint64_t seed = 0;
  int threads = 0;
};

void run_reconstruct(ReconstructParams p) {
  std::unique_ptr<Generator> generator = load_encoder_model(p.run);
  const auto shape = generator->image_shape();
  if (p.data.size == 0) p.data.size = static_cast<int>(shape[1]);
  if (p.data.channels == 0) p.data.channels = static_cast<int>(shape[0]);
  Dataset data = load_dataset(p.data);
  check_input(data.size() >= p.n, p.data.spec + " has " + std::to_string(data.size()) + " images, fewer than --n " +
                                      std::to_string(p.n));
  torch::NoGradGuard no_grad;
  torch::Generator rng = make_rng(p.seed);
  torch::Tensor pick = torch::randperm(data.size(), rng).slice(0, 0, p.n);
  torch::Tensor x = normalize_images(data.images.index_select(0, pick));
  torch::Tensor labels;
  if (generator->num_classes() > 0) {
    condition_dataset(data, run_condition_on(read_json(p.run + "/config.json")), p.data.spec);
    check_input(static_cast<int64_t>(data.class_names.size()) == generator->num_classes(),
                p.data.spec + " has " + std::to_string(data.class_names.size()) + " classes; the model was trained on " +
                    std::to_string(generator->num_classes()));
    labels = data.labels.index_select(0, pick);
  }
  torch::Tensor recon = generator->decode(generator->posterior(x, labels).first, labels);
  // Rows of up to 8 inputs, each above its reconstructions.
  const int64_t columns = std::min<int64_t>(8, p.n);
  std::vector<torch::Tensor> rows;
  for (int64_t start = 0; start < p.n; start += columns) {
    const int64_t end = std::min(p.n, start + columns);
    torch::Tensor pad = torch::ones({columns - (end - start), shape[0], shape[1], shape[2]});
    rows.push_back(torch::cat({x.slice(0, start, end), pad}));
    rows.push_back(torch::cat({recon.slice(0, start, end), pad}));
  }
  write_png(p.out, make_grid(torch::cat(rows), static_cast<int>(columns)));
  const double mse = (recon - x).pow(2).mean().item<double>() / 4;  // on [0, 1] pixels
  std::fprintf(stderr, "wrote %s (%lld inputs above their reconstructions; mean squared error %.5f on [0, 1] pixels)\n",
               p.out.c_str(), static_cast<long long>(p.n), mse);
}

}  // namespace

void add_encode_commands(CLI::App& app) {
  auto e = std::make_shared<EncodeParams>();
  CLI::App* encode = app.add_subcommand("encode", "Print the posterior of an image (VAE): mu and log-variance as JSON");
  encode->add_option("--run", e->run, "VAE run folder")->required();
  encode->add_option("image", e->image, "PNG or JPEG of the model's size")->required();
  encode->add_option("--class", e->class_name, "conditional VAE (cvae): the image's class, by name or index");
  encode->footer("Example:\n  latentkit encode --run models/fashion-vae image.png > z.json\n"
                 "  latentkit encode --run runs/fashion-cvae --class sneaker image.png\n"
                 "z.json works with: latentkit edit --z z.json ...");
  torch_command(encode, e->threads, Work::kShort, [e]() { run_encode(*e); });

  auto r = std::make_shared<ReconstructParams>();
  CLI::App* reconstruct = app.add_subcommand("reconstruct", "Encode and decode real images (VAE): inputs above reconstructions");
  reconstruct->add_option("--run", r->run, "VAE run folder")->required();
  add_data_options(reconstruct, r->data);
  r->data.split = "test";
  reconstruct->add_option("--n", r->n, "images")->check(CLI::Range(1, 1024))->capture_default_str();
  reconstruct->add_option("--seed", r->seed, "which images (a random pick)")->capture_default_str();
  reconstruct->add_option("--out", r->out, "PNG to write")->required();
  reconstruct->footer("Example:\n  latentkit reconstruct --run models/fashion-vae --data fashion-mnist --n 16 --out recon.png");
  torch_command(reconstruct, r->threads, Work::kShort, [r]() { run_reconstruct(*r); });
}

}  // namespace latentkit::app
