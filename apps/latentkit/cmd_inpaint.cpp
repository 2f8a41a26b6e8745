// Image to image. latentkit inpaint, uncrop, restore: with a diffusion model (RePaint on an
// unconditional model, Palette on one trained with --tasks, SDEdit for restoring).
// latentkit enhance: with a pix2pix model, one pass of its U-Net on an image of any size.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>

#include "apps/latentkit/commands.h"
#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/image.h"
#include "latentkit/data/degrade.h"
#include "latentkit/models/diffusion.h"
#include "latentkit/models/pix2pix.h"
#include "latentkit/models/registry.h"

namespace latentkit::app {
namespace {

struct ImageParams {
  std::string run, image, out, sheet, class_name;
  ImageToImageOptions options;
  int64_t n = 1;
  uint64_t seed = 0;
  int threads = 0;
  // inpaint
  std::string mask = "center";
  // uncrop
  std::string side = "right";
  double amount = 0.5;
  // restore
  std::string degrade;
  // colorize
  std::string task = "colorize";
  bool extract = false, free_luma = false;
};

std::unique_ptr<DdpmModel> load_diffusion(const std::string& run, const std::string& command) {
  std::unique_ptr<Generator> g = load_generator(run);
  auto* d = dynamic_cast<DdpmModel*>(g.get());
  check_input(d != nullptr, run + " is a " + g->family() + " model; " + command +
                                " needs a diffusion model (latentkit train --model ddpm --tasks inpaint,restore,colorize,lineart)");
  g.release();
  return std::unique_ptr<DdpmModel>(d);
}

// Reads an image as [1, C, H, W] in [-1, 1] with the model's channels: RGBA kept for an RGBA
// model and composited onto white for an RGB one, RGB given an opaque alpha, gray made color;
// color for a gray model is an Error. Square images of another size are resized to the model's.
torch::Tensor read_model_image(const DdpmModel& model, const std::string& path, int64_t* native_size) {
  const auto shape = model.image_shape();
  const int channels = static_cast<int>(shape[0]);
  Image image = read_image(path);
  if (image.channels < channels || (image.channels == 4 && channels == 3)) image = convert_channels(image, channels);
  check_input(image.channels == channels, path + " has " + std::to_string(image.channels) +
                                              " channel(s); the model works on " + std::to_string(channels) +
                                              (channels == 1 ? " (gray)" : channels == 3 ? " (RGB)" : " (RGBA)") +
                                              ": convert the image first");
  check_input(image.width == image.height, path + " is " + std::to_string(image.width) + "x" +
                                               std::to_string(image.height) + "; give a square image");
  *native_size = image.width;
  if (image.width != shape[1]) image = resize_center_crop(image, static_cast<int>(shape[1]));
  return image_to_tensor(image).unsqueeze(0);
}

// The mask: a kind (center, box, strokes) or a PNG (white = fill) of the image's size.
torch::Tensor read_mask(const ImageParams& p, int64_t native, int64_t size, torch::Generator& rng) {
  for (const char* kind : {"center", "box", "strokes"}) {
    if (p.mask == kind) return random_masks(kind, 1, size, size, rng);
  }
  check_input(path_exists(p.mask), "--mask must be center, box, strokes or a PNG file; " + p.mask + " not found");
  Image m = convert_channels(read_image(p.mask), 1);
  check_input(m.width == native && m.height == native,
              "the mask " + p.mask + " is " + std::to_string(m.width) + "x" + std::to_string(m.height) +
                  " but the image is " + std::to_string(native) + "x" + std::to_string(native) +
                  "; they must be the same size");
  if (m.width != size) m = resize_center_crop(m, static_cast<int>(size));
  return (image_to_tensor(m).unsqueeze(0) > 0).to(torch::kFloat32);  // mid-gray and up fill
}

void write_result(const ImageParams& p, const torch::Tensor& input, const torch::Tensor& results, const char* what) {
  write_png(p.out, results.size(0) == 1 ? tensor_to_image(results[0]) : make_grid(results));
  std::fprintf(stderr, "wrote %s (%s, %lld image%s)\n", p.out.c_str(), what, static_cast<long long>(results.size(0)),
               results.size(0) == 1 ? "" : "s");
  if (!p.sheet.empty()) {
    write_png(p.sheet, make_grid(torch::cat({input, results}), static_cast<int>(results.size(0) + 1)));
    std::fprintf(stderr, "wrote %s (input, then the result%s)\n", p.sheet.c_str(), results.size(0) == 1 ? "" : "s");
  }
}

ImageToImageOptions prepare(ImageParams& p, DdpmModel& model, StepProgress& progress) {
  ImageToImageOptions o = p.options;
  if (!p.class_name.empty()) {
    check_input(model.num_classes() > 0, p.run + " is not class-conditional: --class needs a cddpm model");
    o.labels = torch::full({p.n}, parse_class(p.class_name, run_class_names(read_json(p.run + "/config.json")),
                                              model.num_classes()),
                           torch::kInt64);
  }
  o.on_step = progress.callback();
  return o;
}

void run_fill(ImageParams& p, bool uncrop) {
  std::unique_ptr<DdpmModel> model = load_diffusion(p.run, uncrop ? "uncrop" : "inpaint");
  torch::NoGradGuard no_grad;
  torch::Generator rng = make_rng(p.seed);
  int64_t native = 0;
  torch::Tensor image = read_model_image(*model, p.image, &native);
  const int64_t size = model->image_shape()[1];
  torch::Tensor fill = uncrop ? side_mask(size, size, p.side, p.amount) : read_mask(p, native, size, rng);
  const std::string method = resolve_image_method(*model, "inpaint", p.options.method);
  StepProgress progress(method);
  ImageToImageOptions o = prepare(p, *model, progress);
  torch::Tensor images = image.expand({p.n, -1, -1, -1}).contiguous();
  torch::Tensor out = inpaint_image(*model, images, fill, o, rng);
  progress.finish();
  // The sheet shows the input with the area to fill in mid-gray.
  write_result(p, torch::where(fill > 0.5, torch::zeros_like(image), image), out, method.c_str());
}

void run_restore(ImageParams& p) {
  std::unique_ptr<DdpmModel> model = load_diffusion(p.run, "restore");
  torch::NoGradGuard no_grad;
  torch::Generator rng = make_rng(p.seed);
  int64_t native = 0;
  torch::Tensor image = read_model_image(*model, p.image, &native);
  if (!p.degrade.empty()) image = degrade(image, p.degrade, rng);
  const std::string method = resolve_image_method(*model, "restore", p.options.method);
  StepProgress progress(method);
  ImageToImageOptions o = prepare(p, *model, progress);
  torch::Tensor out = restore_image(*model, image.expand({p.n, -1, -1, -1}).contiguous(), o, rng);
  progress.finish();
  write_result(p, image, out, method.c_str());
}

// colorize (gray to color) or lineart (a drawing to color): the input made gray, or read as a
// drawing (dark strokes), or with --extract a color image's own line art.
void run_colorize(ImageParams& p) {
  std::unique_ptr<DdpmModel> model = load_diffusion(p.run, p.task);
  torch::NoGradGuard no_grad;
  torch::Generator rng = make_rng(p.seed);
  int64_t native = 0;
  torch::Tensor image = read_model_image(*model, p.image, &native);
  const int64_t channels = model->image_shape()[0];
  check_input(p.task == "lineart" || channels >= 3, p.run + " is a gray model: colorize needs a color one");
  check_input(!p.extract || p.task == "lineart", "--extract is for --task lineart (it draws a color image's line art first)");
  check_input(!p.free_luma || p.task == "colorize", "--free-luma is for --task colorize (line art has no luma to keep)");
  torch::Tensor input = p.task == "colorize" ? to_gray(image) : p.extract ? line_art(image) : sketch_line_art(image, channels);
  resolve_image_method(*model, p.task, p.options.method);
  StepProgress progress(p.task);
  ImageToImageOptions o = prepare(p, *model, progress);
  o.keep_luma = !p.free_luma;
  torch::Tensor out = colorize_image(*model, input.expand({p.n, -1, -1, -1}).contiguous(), p.task, o, rng);
  progress.finish();
  write_result(p, input, out, p.task.c_str());
}

struct EnhanceParams {
  std::string run, image, out, sheet, degrade;
  int64_t scale = 1, tile = 256;
  uint64_t seed = 0;
  int threads = 0;
};

void run_enhance(const EnhanceParams& p) {
  const int threads = torch::get_num_threads();
  Pix2pixRun run = load_pix2pix(p.run);
  const int64_t channels = run.options.channels();
  Image image = read_image(p.image);
  if (image.channels != channels) {
    std::fprintf(stderr, "note: %s has %d channel(s); converted to %s for this %s model\n", p.image.c_str(), image.channels,
                 channels == 1 ? "gray" : channels == 3 ? "RGB" : "RGBA", channels == 1 ? "gray" : "colour");
    image = convert_channels(image, static_cast<int>(channels));
  }
  torch::NoGradGuard no_grad;
  torch::Tensor x = image_to_tensor(image).unsqueeze(0);
  if (p.scale > 1) {
    namespace F = torch::nn::functional;
    x = F::interpolate(x, F::InterpolateFuncOptions().scale_factor(std::vector<double>{double(p.scale), double(p.scale)})
                              .mode(torch::kNearest)
                              .recompute_scale_factor(false));
  }
  torch::Tensor original = x;
  if (!p.degrade.empty()) {
    torch::Generator rng = make_rng(p.seed);
    x = degrade_for_tasks(x, {p.degrade}, rng);
  }
  const bool trained = run.tasks.empty() || std::find(run.tasks.begin(), run.tasks.end(), "superres") != run.tasks.end();
  if (p.scale > 1 && !trained) {
    std::fprintf(stderr, "note: %s was not trained for superres; --scale only enlarges the input for it\n", p.run.c_str());
  }
  const auto start = std::chrono::steady_clock::now();
  torch::Tensor out = enhance_image(*run.net, x, p.tile);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  write_png(p.out, tensor_to_image(out[0]));
  std::fprintf(stderr, "wrote %s (%lldx%lld, %.3f s on %d thread%s%s)\n", p.out.c_str(), static_cast<long long>(x.size(3)),
               static_cast<long long>(x.size(2)), seconds, threads, threads == 1 ? "" : "s",
               p.tile > 0 && (x.size(2) > p.tile || x.size(3) > p.tile) ? ", tiled" : "");
  if (!p.sheet.empty()) {
    torch::Tensor row = p.degrade.empty() ? torch::cat({x, out}) : torch::cat({original, x, out});
    write_png(p.sheet, make_grid(row, static_cast<int>(row.size(0))));
    std::fprintf(stderr, "wrote %s (%s)\n", p.sheet.c_str(),
                 p.degrade.empty() ? "input, enhanced" : "original, degraded, enhanced");
  }
}

CLI::App* add_common(CLI::App& app, const char* name, const char* help, ImageParams& p) {
  CLI::App* cmd = app.add_subcommand(name, help);
  cmd->add_option("--run", p.run, "diffusion run folder (latentkit train --model ddpm)")->required();
  cmd->add_option("--image", p.image, "input image (PNG or JPEG) with the model's channels")->required();
  cmd->add_option("--out", p.out, "PNG to write (a grid when --n > 1)")->required();
  cmd->add_option("--sheet", p.sheet, "also write the input beside the results");
  cmd->add_option("--n", p.n, "how many results to draw (they differ where the model has freedom)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--steps", p.options.steps, "sampling steps (the sampler's, or RePaint's strided steps)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  add_enum_option(cmd, "--sampler", p.options.sampler, sampler_names(),
                  "palette, sdedit: ddim, ddpm (ancestral, all T steps) or dpmpp (DPM-Solver++(2M), second order)");
  cmd->add_option("--guidance", p.options.guidance, "classifier-free guidance weight (1: none): on the class (cddpm with --class), else on the image condition "
                  "(palette methods of a model trained with --uncond-share)")
      ->check(CLI::Range(0.0, 20.0))
      ->capture_default_str();
  cmd->add_option("--class", p.class_name, "cddpm: the class (name or index); default: no class");
  cmd->add_option("--seed", p.seed, "seed of the noise")->capture_default_str();
  return cmd;
}

}  // namespace

void add_image_to_image_commands(CLI::App& app) {
  auto fill = std::make_shared<ImageParams>();
  CLI::App* inpaint = add_common(app, "inpaint", "Fill a masked part of an image with a diffusion model", *fill);
  inpaint->add_option("--mask", fill->mask, "center, box, strokes (a random mask) or a PNG of the image's size, white = fill")
      ->capture_default_str();
  auto add_fill_method = [](CLI::App* cmd, ImageParams& p) {
    cmd->add_option("--method", p.options.method,
                    "auto (palette when the model was trained with --tasks inpaint, else repaint), repaint "
                    "(unconditional model, known pixels pasted in at every step) or palette (conditional model)")
        ->check(CLI::IsMember({"auto", "repaint", "palette"}))
        ->capture_default_str();
    cmd->add_option("--resample", p.options.resample, "repaint: passes per step (jumps back and forth)")
        ->check(CLI::Range(1, 50))
        ->capture_default_str();
  };
  add_fill_method(inpaint, *fill);
  inpaint->footer(
      "Examples:\n  latentkit inpaint --run models/fashion-ddpm --image shirt.png --mask center --out filled.png\n"
      "  latentkit inpaint --run models/fashion-ddpm --image shirt.png --mask hole.png --method repaint --n 4 "
      "--out fills.png --sheet sheet.png");
  torch_command(inpaint, fill->threads, Work::kShort, [fill]() { run_fill(*fill, false); });

  auto crop = std::make_shared<ImageParams>();
  CLI::App* uncrop = add_common(app, "uncrop",
                                "Regenerate one side of an image's frame from the rest (outpainting)", *crop);
  uncrop->add_option("--side", crop->side, "the side to regenerate: left, right, top or bottom")
      ->check(CLI::IsMember({"left", "right", "top", "bottom"}))
      ->capture_default_str();
  uncrop->add_option("--amount", crop->amount, "how much of the frame to regenerate, (0, 1)")
      ->check(CLI::Range(0.01, 0.99))
      ->capture_default_str();
  add_fill_method(uncrop, *crop);
  uncrop->footer("Example:\n  latentkit uncrop --run models/fashion-ddpm --image shoe.png --side right --amount 0.5 --out wider.png");
  torch_command(uncrop, crop->threads, Work::kShort, [crop]() { run_fill(*crop, true); });

  auto fix = std::make_shared<ImageParams>();
  CLI::App* restore = add_common(app, "restore", "Restore an image with JPEG artefacts, noise or blur", *fix);
  restore->add_option("--method", fix->options.method,
                      "auto (palette when the model was trained with --tasks restore, else sdedit), palette or sdedit "
                      "(noise the image part way and denoise it)")
      ->check(CLI::IsMember({"auto", "palette", "sdedit"}))
      ->capture_default_str();
  restore->add_option("--strength", fix->options.strength, "sdedit: how far to noise the input, (0, 1]")
      ->check(CLI::Range(0.01, 1.0))
      ->capture_default_str();
  restore->add_option("--degrade", fix->degrade,
                      "first degrade the input (to try it out): blur, noise, jpeg, lowres, exposure, retouch or mixed")
      ->check(CLI::IsMember(degradation_kinds()));
  restore->footer(
      "Examples:\n  latentkit restore --run models/fashion-ddpm --image blurry.png --out sharp.png\n"
      "  latentkit restore --run models/fashion-ddpm --image clean.png --degrade jpeg --out restored.png --sheet sheet.png");
  torch_command(restore, fix->threads, Work::kShort, [fix]() { run_restore(*fix); });

  auto paint = std::make_shared<ImageParams>();
  CLI::App* colorize = add_common(app, "colorize",
                                  "Color a gray image or a line drawing with a diffusion model (Palette's colorization)", *paint);
  colorize->add_option("--task", paint->task,
                       "colorize (the image is made gray first; a gray image stays as it is) or lineart (the image is a "
                       "drawing: dark strokes on white or transparent)")
      ->check(CLI::IsMember({"colorize", "lineart"}))
      ->capture_default_str();
  colorize->add_flag("--extract", paint->extract, "lineart: draw the line art of a color image first (to try a model out)");
  colorize->add_flag("--free-luma", paint->free_luma,
                     "colorize: let the model change the input's brightness too (by default every step keeps the gray "
                     "input's luma, so only the colors are drawn)");
  colorize->footer(
      "Examples:\n  latentkit data preview --data emoji --split test --n 1 --seed 3 --as gray --out gray.png\n"
      "  latentkit colorize --run runs/emoji-colorize --image gray.png --n 4 --out colored.png --sheet sheet.png\n"
      "  latentkit colorize --run runs/emoji-colorize --task lineart --image sketch.png --n 4 --out colored.png");
  torch_command(colorize, paint->threads, Work::kShort, [paint]() { run_colorize(*paint); });

  auto e = std::make_shared<EnhanceParams>();
  CLI::App* enhance = app.add_subcommand("enhance", "Enhance an image of any size with a pix2pix model (deblur, denoise, "
                                                    "dejpeg, superres, exposure, retouch, colorize)");
  enhance->add_option("--run", e->run, "pix2pix run folder (latentkit train --model pix2pix)")->required();
  enhance->add_option("--image", e->image, "input image (PNG or JPEG), any size; converted to the model's channels")->required();
  enhance->add_option("--out", e->out, "PNG to write, the input's size (times --scale)")->required();
  enhance->add_option("--sheet", e->sheet, "also write the input (and the original, with --degrade) beside the result");
  enhance->add_option("--scale", e->scale, "superres: enlarge the input by this factor (nearest) before enhancing")
      ->check(CLI::Range(1, 8))
      ->capture_default_str();
  enhance->add_option("--tile", e->tile, "larger images go through in overlapping tiles of this size (0: whole)")
      ->check(CLI::Range(0, 4096))
      ->capture_default_str();
  std::vector<std::string> tasks = enhance_tasks();
  tasks.push_back("colorize");
  tasks.push_back("lineart");
  enhance->add_option("--degrade", e->degrade, "first damage the input the way a task undoes (to try a model out)")
      ->check(CLI::IsMember(tasks));
  enhance->add_option("--seed", e->seed, "seed of --degrade")->capture_default_str();
  enhance->footer(
      "Examples:\n  latentkit enhance --run models/fashion-enhance --image blurry.png --out sharp.png\n"
      "  latentkit enhance --run models/fashion-enhance --image small.png --scale 4 --out large.png\n"
      "  latentkit enhance --run models/fashion-enhance --image item.png --degrade dejpeg --out fixed.png --sheet sheet.png");
  torch_command(enhance, e->threads, Work::kShort, [e]() { run_enhance(*e); });
}

}  // namespace latentkit::app
