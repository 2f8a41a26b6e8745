// latentkit generate: sample a trained generator into a grid, single PNGs or a latent strip.
#include <cctype>
#include <cstdio>
#include <memory>
#include <sstream>

#include "apps/latentkit/commands.h"
#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/image.h"
#include "latentkit/data/labelmaps.h"
#include "latentkit/models/diffusion.h"
#include "latentkit/models/registry.h"
#include "latentkit/models/spade.h"

namespace latentkit::app {
namespace {

struct GenerateParams {
  std::string run;
  int64_t n = 64;
  uint64_t seed = 0;
  std::string out;
  std::string each;
  double truncation = 0.0;
  std::vector<uint64_t> interpolate;
  int64_t steps = 10;
  int columns = 0;
  std::string class_name;
  int64_t per_class = 0;
  // diffusion models
  SampleOptions sampling;
  double guidance = 1.0;
  std::vector<CLI::Option*> diffusion_options;
  int threads = 0;
  bool grid = false;
  // text-to-image models
  std::vector<std::string> prompts;
  std::vector<std::string> interpolate_prompts;
  // mask-to-image (spade) models
  std::string mask;
};

void write_images(const GenerateParams& p, const torch::Tensor& images, int columns) {
  if (!p.out.empty()) {
    // One image is the image itself; a grid (with its border) for several, or with --grid.
    write_png(p.out, images.size(0) == 1 && !p.grid ? tensor_to_image(images[0]) : make_grid(images, columns));
    std::fprintf(stderr, "wrote %s (%lld images)\n", p.out.c_str(), static_cast<long long>(images.size(0)));
  }
  if (!p.each.empty()) {
    make_dirs(p.each);
    for (int64_t i = 0; i < images.size(0); ++i) {
      char name[32];
      std::snprintf(name, sizeof(name), "/%05lld.png", static_cast<long long>(i));
      write_png(p.each + name, tensor_to_image(images[i]));
    }
    std::fprintf(stderr, "wrote %lld PNGs to %s/\n", static_cast<long long>(images.size(0)), p.each.c_str());
  }
}

// spade: --n images of one label map, a style latent each, or a strip of --steps from the
// latent of seed A to that of seed B (--interpolate).
void generate_from_map(const GenerateParams& p) {
  check_input(!p.mask.empty(), p.run + " is a spade model: it draws from a label map; give --mask map.png "
                                       "(latentkit data preview --data shapes-scenes --as map --n 1 --out map.png makes one)");
  check_input(p.prompts.empty() && p.interpolate_prompts.empty() && p.class_name.empty() && p.per_class == 0,
              "a spade model takes --mask and a style seed; --prompt, --class and --per-class are for other models");
  for (CLI::Option* option : p.diffusion_options) {
    check_input(option->count() == 0, option->get_name() + " is for diffusion models; " + p.run + " is a spade model");
  }
  SpadeRun run = load_spade(p.run);
  const torch::Tensor map = read_label_map(p.mask, map_palette(run.options.palette()), run.options.image_size());
  const int64_t dim = run.options.latent_dim();
  torch::Tensor z;
  int columns = p.columns;
  if (!p.interpolate.empty()) {
    torch::Generator rng_a = make_rng(p.interpolate[0]), rng_b = make_rng(p.interpolate[1]);
    z = slerp_path(torch::randn({dim}, rng_a), torch::randn({dim}, rng_b), p.steps);
    if (columns == 0) columns = static_cast<int>(p.steps);
  } else {
    torch::Generator rng = make_rng(p.seed);
    z = torch::randn({p.n, dim}, rng);
  }
  write_images(p, spade_generate(*run.net, map.unsqueeze(0).expand({z.size(0), -1, -1}), z), columns);
}

// t2i: one row of --n images per prompt (the same x_T in every row), or a strip of --steps
// images from prompt A to prompt B (their text embeddings blended, one x_T).
torch::Tensor generate_from_text(const GenerateParams& p, DdpmModel& model, int& columns) {
  const bool strip = !p.interpolate_prompts.empty();
  const std::vector<std::string>& prompts = strip ? p.interpolate_prompts : p.prompts;
  const torch::Tensor tokens = model.tokenize(prompts);  // empty and too long prompts are errors first
  for (const std::string& prompt : prompts) {
    std::istringstream warnings(model.options().tokenizer.warnings(prompt));
    for (std::string line; std::getline(warnings, line);) std::fprintf(stderr, "warning: %s\n", line.c_str());
  }
  torch::Tensor text = model.encode_prompts(tokens);
  const auto shape = model.image_shape();
  torch::Generator rng = make_rng(p.seed);
  torch::Tensor z;
  if (strip) {
    torch::Tensor w = torch::linspace(0, 1, p.steps).unsqueeze(1);
    text = (1 - w) * text[0] + w * text[1];
    z = model.sample_latent(1, rng, p.truncation).repeat({p.steps, 1});
    if (columns == 0) columns = static_cast<int>(p.steps);
  } else {
    const auto rows = static_cast<int64_t>(prompts.size());
    z = model.sample_latent(p.n, rng, p.truncation).repeat({rows, 1});
    text = text.repeat_interleave(p.n, 0);
    if (columns == 0 && rows > 1) columns = static_cast<int>(p.n);
  }
  SampleOptions so = p.sampling;
  StepProgress progress(sampler_names().name(so.sampler));
  so.on_step = progress.callback();
  torch::Generator noise = make_rng(p.seed + 1);
  torch::Tensor images = model.sample_text(z.view({z.size(0), shape[0], shape[1], shape[2]}), text, so, p.guidance, noise);
  progress.finish();
  return images;
}

void run_generate(const GenerateParams& p) {
  check_input(!p.out.empty() || !p.each.empty(), "nothing to write: give --out grid.png and/or --each DIR");
  check_input(p.interpolate.empty() || p.interpolate.size() == 2,
              "--interpolate takes two seeds, A,B (e.g. --interpolate 3,8)");
  if (run_family(p.run) == "spade") return generate_from_map(p);
  check_input(p.mask.empty(), "--mask is for mask-to-image models (train --model spade); " + p.run + " is not one");
  std::unique_ptr<Generator> generator = load_generator(p.run);
  const int64_t classes = generator->num_classes();
  const bool text = !p.prompts.empty() || !p.interpolate_prompts.empty();
  check_input(!text || generator->family() == "t2i", p.run + " is a " + generator->family() +
                                                        " model: --prompt and --interpolate-prompts need a text-to-image "
                                                        "one (train --model t2i, or models/emoji-t2i)");
  check_input(p.prompts.empty() || p.interpolate_prompts.empty(), "give --prompt or --interpolate-prompts, not both");
  check_input(!text || (p.interpolate.empty() && p.class_name.empty() && p.per_class == 0),
              "--prompt and --interpolate-prompts go without --interpolate, --class and --per-class");
  check_input(classes > 0 || (p.class_name.empty() && p.per_class == 0),
              p.run + " is not a conditional model: --class and --per-class need one (train --model cgan)");
  check_input(p.class_name.empty() || p.per_class == 0, "give --class or --per-class, not both");
  torch::NoGradGuard no_grad;
  torch::Tensor z, labels;
  int columns = p.columns;
  if (text) {
    // generate_from_text draws its own starting noise per prompt row.
  } else if (!p.interpolate.empty()) {
    torch::Generator rng_a = make_rng(p.interpolate[0]);
    torch::Generator rng_b = make_rng(p.interpolate[1]);
    torch::Tensor a = generator->sample_latent(1, rng_a, p.truncation)[0];
    torch::Tensor b = generator->sample_latent(1, rng_b, p.truncation)[0];
    z = slerp_path(a, b, p.steps);
    if (columns == 0) columns = static_cast<int>(p.steps);
  } else if (p.per_class > 0) {
    // One row per class, the same latents in every row.
    torch::Generator rng = make_rng(p.seed);
    z = generator->sample_latent(p.per_class, rng, p.truncation).repeat({classes, 1});
    labels = torch::arange(classes, torch::kInt64).repeat_interleave(p.per_class);
    if (columns == 0) columns = static_cast<int>(p.per_class);
  } else {
    torch::Generator rng = make_rng(p.seed);
    z = generator->sample_latent(p.n, rng, p.truncation);
  }
  if (!p.class_name.empty()) {
    const nlohmann::json config = read_json(p.run + "/config.json");
    labels = torch::full({z.size(0)}, parse_class(p.class_name, run_class_names(config), classes), torch::kInt64);
  }
  // An interpolation keeps one class: the first unless --class names one.
  if (!labels.defined() && classes > 0 && !p.interpolate.empty()) labels = torch::zeros({z.size(0)}, torch::kInt64);
  torch::Tensor images;
  if (text) {
    images = generate_from_text(p, dynamic_cast<DdpmModel&>(*generator), columns);
  } else if (auto* diffusion = dynamic_cast<DdpmModel*>(generator.get())) {
    // x_T = z; the noise of eta > 0 and of the ddpm sampler comes from seed + 1.
    const auto shape = diffusion->image_shape();
    SampleOptions so = p.sampling;
    StepProgress progress(sampler_names().name(so.sampler));
    so.on_step = progress.callback();
    torch::Generator noise = make_rng(p.seed + 1);
    images = diffusion->sample(z.view({z.size(0), shape[0], shape[1], shape[2]}), labels, so, p.guidance, noise);
    progress.finish();
  } else {
    for (CLI::Option* option : p.diffusion_options) {
      check_input(option->count() == 0, option->get_name() + " is for diffusion models; " + p.run + " is a " +
                                            generator->family());
    }
    images = generator->decode(z, labels);
  }
  write_images(p, images, columns);
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto p = std::make_shared<GenerateParams>();
  CLI::App* cmd = app.add_subcommand("generate", "Sample images from a trained run");
  cmd->add_option("--run", p->run, "run folder (from latentkit train) or a shipped model in models/")->required();
  cmd->add_option("--n", p->n, "number of images")->check(CLI::Range(1, 4096))->capture_default_str();
  cmd->add_option("--seed", p->seed, "seed of the latent vectors")->capture_default_str();
  cmd->add_option("--out", p->out, "PNG to write: the image for --n 1, else a grid");
  cmd->add_flag("--grid", p->grid, "write a grid (with its border) also for one image");
  cmd->add_option("--each", p->each, "folder to write one PNG per image");
  cmd->add_option("--truncation", p->truncation, "truncate the Gaussian prior to [-T, T] (0: off)")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  cmd->add_option("--interpolate", p->interpolate, "A,B: a strip from the latent of seed A to that of seed B")
      ->delimiter(',')
      ->expected(2);
  cmd->add_option("--steps", p->steps, "images in an --interpolate strip")->check(CLI::Range(2, 256))->capture_default_str();
  cmd->add_option("--columns", p->columns, "images per grid row (0: square grid)")->check(CLI::Range(0, 1024))->capture_default_str();
  cmd->add_option("--class", p->class_name, "conditional models: the class, by name or index (default: classes in turn)");
  cmd->add_option("--per-class", p->per_class, "conditional models: a grid with one row of N images per class")
      ->check(CLI::Range(1, 256));
  p->diffusion_options = {
      add_enum_option(cmd, "--sampler", p->sampling.sampler, sampler_names(),
                      "diffusion: ddim (--sample-steps, --eta), ddpm (ancestral, all T steps) or dpmpp "
                      "(DPM-Solver++(2M): deterministic, second order, better than ddim at the same steps)"),
      cmd->add_option("--sample-steps", p->sampling.steps, "diffusion: steps of ddim and dpmpp")
          ->check(CLI::Range(1, 10000))
          ->capture_default_str(),
      cmd->add_option("--eta", p->sampling.eta, "diffusion: ddim's eta (0: deterministic from x_T; 1: DDPM-like)")
          ->check(CLI::Range(0.0, 1.0))
          ->capture_default_str(),
      cmd->add_flag("--no-clip", [p](int64_t) { p->sampling.clip = false; },
                    "diffusion: do not clip the predicted clean image to [-1, 1] at each step"),
      cmd->add_option("--guidance", p->guidance,
                      "cddpm, t2i: classifier-free guidance weight w, eps = eps_u + w (eps_c - eps_u) (1: none)")
          ->check(CLI::Range(0.0, 20.0))
          ->capture_default_str()};
  cmd->add_option("--prompt", p->prompts,
                  "t2i: what to draw, in words; given several times, one row of --n images per prompt (the same "
                  "starting noise in each row)");
  cmd->add_option("--interpolate-prompts", p->interpolate_prompts,
                  "t2i: A B: a strip of --steps images from prompt A to prompt B (one starting noise)")
      ->expected(2);
  cmd->add_option("--mask", p->mask,
                  "spade: the label map to draw, a PNG of the model's size in its palette's colors (docs/masks.md); "
                  "--n images, one style latent each");
  cmd->footer(
      "Examples:\n  latentkit generate --run models/fashion-dcgan --n 64 --seed 7 --out grid.png\n"
      "  latentkit generate --run models/fashion-ddpm --n 64 --sample-steps 50 --out ddpm.png\n"
      "  latentkit generate --run models/fashion-ddpm --n 64 --sampler dpmpp --sample-steps 20 --out dpmpp.png\n"
      "  latentkit generate --run models/fashion-cgan --class sneaker --n 16 --out sneakers.png\n"
      "  latentkit generate --run models/fashion-cgan --per-class 8 --out classes.png\n"
      "  latentkit generate --run models/emoji-t2i --prompt \"cat face with heart-eyes\" --guidance 3 --n 8 --out cats.png\n"
      "  latentkit generate --run models/shapes-spade --mask map.png --n 4 --out drawn.png\n"
      "  latentkit generate --run models/emoji-t2i --interpolate-prompts \"red apple\" \"green apple\" --out strip.png");
  torch_command(cmd, p->threads, Work::kShort, [p]() { run_generate(*p); });
}

}  // namespace latentkit::app
