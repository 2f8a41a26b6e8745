// latentkit train: parse, validate, call the family's trainer (--nproc: LoopFlags::launch).
#include <cstdio>
#include <memory>

#include "apps/latentkit/commands.h"
#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/data/degrade.h"
#include "latentkit/train/ddpm_trainer.h"
#include "latentkit/train/gan_trainer.h"
#include "latentkit/train/pix2pix_trainer.h"
#include "latentkit/train/psgan_trainer.h"
#include "latentkit/train/spade_trainer.h"
#include "latentkit/train/vae_trainer.h"

namespace latentkit::app {
namespace {

struct TrainParams {
  TrainLoopOptions loop = GanTrainOptions().loop;  // the flags every family shares; the help shows the GAN's defaults
  LoopFlags flags;
  std::string model = "dcgan";
  // Family flags, bound here and copied into the family's options by its fill.
  GanTrainOptions gan;  // --loss, --gp-weight, --label-smoothing
  std::string augment = "none";
  int64_t latent_dim = 100;
  int64_t width = 64;
  bool no_ema = false;
  int64_t n_critic = 0;  // 0: 5 for wgan-gp, else 1
  std::string cond = "concat";
  ConditionOn condition_on = ConditionOn::kClass;
  double beta1 = 0.5, beta2 = 0.999, ema_decay = 0.999;
  CLI::Option *latent_option = nullptr, *width_option = nullptr;
  // vae, cvae
  double beta = 1.0;
  std::string recon = "bce";
  // ddpm, cddpm
  DdpmTrainOptions ddpm;
  std::vector<int64_t> mults{1, 2, 2};
  std::vector<std::string> tasks;
  int64_t text_width = 128, text_layers = 2;  // t2i
  // pix2pix
  Pix2pixTrainOptions pix2pix;
  std::vector<std::string> enhance;
  bool no_residual = false;
  bool no_adversarial = false;
  CLI::Option* dropout_option = nullptr;
  // spade
  SpadeTrainOptions spade;
  // psgan
  PsganTrainOptions psgan;
  // pix2pix, vae, cvae
  int64_t depth = 0;
  CLI::Option* depth_option = nullptr;
};

// A family's options: on --resume the run's own, else the family's defaults and what fill
// sets from the family flags; then the loop's flags that were given. Trains and reports.
template <typename Options, typename Read, typename Fill, typename Train>
void run_family(const TrainParams& p, Options o, Read read_saved, Fill fill, Train train) {
  if (p.flags.resume()) {
    o = read_saved(p.loop.out);
  } else {
    fill(o);
  }
  o.loop = p.flags.apply(o.loop);
  report_training(train(o, p.flags.resume()), o.loop.out, "latentkit train --resume --out " + o.loop.out,
                  o.loop.dist.rank);
}

void run_gan(const TrainParams& p) {
  run_family(p, p.gan, read_gan_run_options, [&](GanTrainOptions& o) {
    // WGAN-GP's critic has no BatchNorm: its penalty is per sample (Gulrajani et al.).
    // cgan is the dcgan preset with labels; the trainer takes the class count from the data.
    o.model.preset(p.model == "cgan" ? "dcgan" : p.model)
        .latent_dim(p.latent_dim)
        .width(p.width)
        .critic_norm(o.loss == GanLoss::kWganGp ? "none" : "batch")
        .num_classes(p.model == "cgan" ? 1 : 0)
        .conditioning(p.cond);
    o.n_critic = p.n_critic > 0 ? p.n_critic : (o.loss == GanLoss::kWganGp ? 5 : 1);
    o.ema = !p.no_ema;
    o.ema_decay = p.ema_decay;
    o.beta1 = p.beta1;
    o.beta2 = p.beta2;
    o.condition_on = p.condition_on;
    o.augment = parse_diff_augment(p.augment);
  }, train_gan);
}

void run_ddpm(const TrainParams& p) {
  run_family(p, p.ddpm, read_ddpm_run_options, [&](DdpmTrainOptions& o) {
    o.model.unet.width(p.width_option->count() > 0 ? p.width : 32)
        .mults(p.mults)
        .num_classes(p.model == "cddpm" ? 1 : 0);  // count from the data
    o.text = p.model == "t2i";
    if (o.text) o.model.unet.text(TextEncoderOptions().vocab_size(3).width(p.text_width).layers(p.text_layers));  // vocabulary from the data
    o.model.tasks = p.tasks;
    o.ema_decay = p.ema_decay;
    o.condition_on = p.condition_on;
  }, train_ddpm);
}

void run_pix2pix(const TrainParams& p) {
  run_family(p, p.pix2pix, read_pix2pix_run_options, [&](Pix2pixTrainOptions& o) {
    o.beta1 = p.beta1;
    o.beta2 = p.beta2;
    o.tasks = p.enhance;
    // all: the six tasks for any image; it may go with colorize (--task all,colorize).
    std::vector<std::string> tasks;
    for (const std::string& t : o.tasks) {
      if (t == "all") tasks.insert(tasks.end(), enhance_tasks().begin(), enhance_tasks().end());
      else tasks.push_back(t);
    }
    o.tasks = tasks;
    o.model.width(p.width_option->count() > 0 ? p.width : 32).residual(!p.no_residual);
    o.adversarial = !p.no_adversarial;
    o.model.depth(p.depth);
    if (p.dropout_option->count() > 0) o.model.dropout(p.ddpm.model.unet.dropout());
  }, train_pix2pix);
}

void run_spade(const TrainParams& p) {
  run_family(p, p.spade, read_spade_run_options, [&](SpadeTrainOptions& o) {
    if (p.latent_option->count() > 0) o.model.latent_dim(p.latent_dim);
    if (p.width_option->count() > 0) o.model.width(p.width);
    o.ema = !p.no_ema;
    o.ema_decay = p.ema_decay;
    o.augment = parse_diff_augment(p.augment);
  }, train_spade);
}

void run_psgan(const TrainParams& p) {
  run_family(p, p.psgan, read_psgan_run_options, [&](PsganTrainOptions& o) {
    if (p.latent_option->count() > 0) o.model.global_dim(p.latent_dim);
    if (p.width_option->count() > 0) o.model.width(p.width);
    o.loss = p.gan.loss;
    o.ema = !p.no_ema;
    o.ema_decay = p.ema_decay;
    o.beta1 = p.beta1;
    o.beta2 = p.beta2;
    o.augment = parse_diff_augment(p.augment);
  }, train_psgan);
}

void run_vae(const TrainParams& p) {
  run_family(p, VaeTrainOptions(), read_vae_run_options, [&](VaeTrainOptions& o) {
    o.loop.batch = 64;  // the command's default since the first VAE, not the library's 128
    if (p.latent_option->count() > 0) o.model.latent_dim(p.latent_dim);
    if (p.width_option->count() > 0) o.model.width(p.width);
    if (p.depth_option->count() > 0) o.model.depth(p.depth);
    o.model.beta(p.beta).recon(p.recon).num_classes(p.model == "cvae" ? 1 : 0);  // count from the data
    o.condition_on = p.condition_on;
  }, train_vae);
}

void run_train(TrainParams& p) {
  if (p.flags.launch(p.loop.out)) return;
  const std::string& out = p.loop.out;
  const std::string family =
      p.flags.resume() ? (path_exists(out + "/config.json") ? read_json(out + "/config.json").value("family", "") : "") : p.model;
  check_input(p.enhance.empty() || family == "pix2pix",
              "--task is for --model pix2pix (a diffusion model takes --tasks inpaint,restore,colorize,lineart)");
  if (family == "vae" || family == "cvae") return run_vae(p);
  if (family == "ddpm" || family == "cddpm" || family == "t2i") return run_ddpm(p);
  if (family == "pix2pix") return run_pix2pix(p);
  if (family == "spade") return run_spade(p);
  if (family == "psgan") return run_psgan(p);
  run_gan(p);
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto p = std::make_shared<TrainParams>();
  CLI::App* cmd = app.add_subcommand("train", "Train a generative model into a run folder");
  cmd->add_option("--model", p->model,
                  "model family: dcgan | dcgan-upsample | cgan (class-conditional DCGAN) | vae | cvae (class-conditional "
                  "VAE) | ddpm (diffusion U-Net) | cddpm (class-conditional diffusion, classifier-free guidance) | t2i "
                  "(text-to-image diffusion on the emoji set's captions, docs/text.md) | pix2pix (image-to-image enhancer: "
                  "U-Net + PatchGAN) | spade (label map + style z to image, GauGAN; docs/masks.md) | psgan (spatial generator of "
                  "any size, Periodic Spatial GAN, for wallpapers; docs/wallpapers.md)")
      ->check(CLI::IsMember({"dcgan", "dcgan-upsample", "cgan", "vae", "cvae", "ddpm", "cddpm", "t2i", "pix2pix", "spade", "psgan"}))
      ->capture_default_str();
  p->flags.bind(cmd, p->loop);
  cmd->get_option("--epochs")->description("passes over the data (vae, ddpm, pix2pix default 10; spade and psgan 20)");
  cmd->get_option("--batch")->description("images per step, for all ranks together (pix2pix and psgan default 32, spade 16)");
  cmd->get_option("--lr")->description("Adam learning rate (both networks; vae default 0.001, ddpm 0.0004)");
  DdpmTrainOptions& d = p->ddpm;
  add_enum_option(cmd, "--schedule", d.model.schedule, schedule_names(), "ddpm: noise schedule");
  cmd->add_option("--timesteps", d.model.timesteps, "ddpm: diffusion steps T")->check(CLI::Range(10, 10000))->capture_default_str();
  add_enum_option(cmd, "--prediction", d.model.prediction, prediction_names(),
                  "ddpm: what the U-Net predicts, eps (the noise) or v");
  cmd->add_option("--mults", p->mults, "ddpm: U-Net width multiplier per level (a level halves the size)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--res-blocks", d.model.unet.res_blocks(), "ddpm: ResBlocks per U-Net level")
      ->check(CLI::Range(1, 4))
      ->capture_default_str();
  p->dropout_option = cmd->add_option("--dropout", d.model.unet.dropout(), "ddpm: dropout in the ResBlocks; pix2pix: in the inner up-blocks (default 0.5)")
                          ->check(CLI::Range(0.0, 0.9))
                          ->capture_default_str();
  Pix2pixTrainOptions& x = p->pix2pix;
  std::vector<std::string> task_names = enhance_tasks();
  task_names.push_back("colorize");
  task_names.push_back("lineart");
  task_names.push_back("maps");
  task_names.push_back("all");
  cmd->add_option("--task", p->enhance,
                  "pix2pix: what to undo, making pairs by degrading --data: deblur, denoise, dejpeg, superres, exposure, "
                  "retouch (exposure, contrast, colour cast, vignetting), colorize (gray to color; color data), lineart "
                  "(line art to the image), maps (label map to image: shapes-scenes or color data's region maps), a list "
                  "(deblur,denoise) or all (the first six; all,colorize adds it); none for paired data (folder:A_DIR,B_DIR "
                  "or pairs:DIR)")
      ->delimiter(',')
      ->check(CLI::IsMember(task_names));
  cmd->add_flag("--no-adversarial", p->no_adversarial,
                "pix2pix: no discriminator, the L1 term alone (a plain L1 U-Net, the baseline pix2pix is compared with)");
  cmd->add_option("--l1-weight", x.l1_weight, "pix2pix: weight of the L1 term beside the GAN loss (lambda)")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  p->depth_option = cmd->add_option("--depth", p->depth,
                                    "pix2pix: U-Net levels (0: from the size, 4 at 28 px, 8 at 256); vae, cvae: stride-2 "
                                    "levels each way (default 2; 4 at 64 px)")
                         ->check(CLI::Range(0, 8))
                         ->capture_default_str();
  cmd->add_option("--d-layers", x.model.d_layers(), "pix2pix: PatchGAN strided layers (0: 1 under 16 px, 2 under 64, else 3)")
      ->check(CLI::Range(0, 5))
      ->capture_default_str();
  cmd->add_flag("--no-residual", p->no_residual, "pix2pix: tanh output instead of input + correction");
  cmd->add_option("--fm-weight", p->spade.fm_weight, "spade: weight of the discriminator feature-matching loss")
      ->check(CLI::Range(0.0, 1e4))
      ->capture_default_str();
  cmd->add_option("--diversity", p->spade.diversity,
                  "spade: weight of the diversity term that keeps the style z in use (0: off; DSGAN)")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  cmd->add_option("--tasks", p->tasks,
                  "ddpm: also train image-to-image (Palette) for these tasks: inpaint, restore, colorize (gray to "
                  "color), lineart (line art to color) or a list (condition channels beside x_t; the inpainting loss is "
                  "inside the mask)")
      ->delimiter(',')
      ->check(CLI::IsMember(palette_tasks()));
  cmd->add_option("--uncond-share", d.uncond_share, "ddpm with --tasks: share of images trained with no condition")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  cmd->add_option("--text-width", p->text_width, "t2i: width of the text encoder (a small Transformer)")
      ->check(CLI::Range(16, 1024))
      ->capture_default_str();
  cmd->add_option("--text-layers", p->text_layers, "t2i: Transformer layers of the text encoder")
      ->check(CLI::Range(1, 12))
      ->capture_default_str();
  cmd->add_option("--label-dropout", d.label_dropout,
                  "cddpm, t2i: share of images trained without the label or prompt (for guidance)")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  cmd->add_option("--warmup", d.warmup, "ddpm: steps of learning-rate warm-up")->check(at_least(0))->capture_default_str();
  cmd->add_option("--sample-steps", d.model.sample_steps, "ddpm: DDIM steps of samples and of generate")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  cmd->add_option("--beta", p->beta, "vae, cvae: weight of the KL term (beta-VAE)")->check(CLI::Range(0.0, 1e4))->capture_default_str();
  cmd->add_option("--recon", p->recon, "vae, cvae: reconstruction loss: bce (Bernoulli) or mse (Gaussian)")
      ->check(CLI::IsMember({"bce", "mse"}))
      ->capture_default_str();
  cmd->add_option("--cond", p->cond,
                  "cgan: how D sees the label: concat (one-hot maps beside the image), projection (projection discriminator) or acgan (auxiliary classifier)")
      ->check(CLI::IsMember({"concat", "projection", "acgan"}))
      ->capture_default_str();
  add_enum_option(cmd, "--condition-on", p->condition_on, condition_on_names(),
                  "cgan, cvae, cddpm: what the label is (class: the data's classes; hue: shapes' hue in 6 buckets; emoji: "
                  "category, subcategory, vendor or skin-tone)");
  cmd->add_option("--beta1", p->beta1, "Adam beta1")->check(CLI::Range(0.0, 0.9999))->capture_default_str();
  cmd->add_option("--beta2", p->beta2, "Adam beta2")->check(CLI::Range(0.0, 0.9999))->capture_default_str();
  add_enum_option(cmd, "--loss", p->gan.loss, gan_loss_names(),
                  "GAN loss (bce: non-saturating; wgan-gp: critic without BatchNorm, gradient penalty)");
  cmd->add_option("--n-critic", p->n_critic, "discriminator steps per generator step (0: 5 for wgan-gp, else 1)")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  cmd->add_option("--gp-weight", p->gan.gp_weight, "weight of the gradient penalty (wgan-gp)")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  cmd->add_option("--label-smoothing", p->gan.label_smoothing, "one-sided: real targets are 1 - S (bce)")
      ->check(CLI::Range(0.0, 0.49))
      ->capture_default_str();
  cmd->add_option("--augment", p->augment,
                  "gan, cgan, spade: DiffAugment before the discriminator: none, diffaug (color, translation and cutout) or "
                  "diffaug:LIST (e.g. diffaug:translation,cutout)")
      ->check([](const std::string& text) {
        try {
          parse_diff_augment(text);
          return std::string();
        } catch (const Error& e) {
          return std::string(e.what());
        }
      })
      ->capture_default_str();
  cmd->add_flag("--no-ema", p->no_ema, "do not keep an exponential moving average of the generator");
  cmd->add_option("--ema-decay", p->ema_decay, "decay of the generator (or U-Net) EMA")->check(CLI::Range(0.0, 0.99999))->capture_default_str();
  p->latent_option = cmd->add_option("--latent-dim", p->latent_dim, "size of the latent vector z (vae default 16, spade 64; psgan: its global part, default 32)")
                         ->check(CLI::Range(1, 4096))
                         ->capture_default_str();
  p->width_option = cmd->add_option("--width", p->width, "base channel width of the networks (ngf / ndf; vae, ddpm, pix2pix and spade default 32)")
                        ->check(CLI::Range(4, 1024))
                        ->capture_default_str();
  cmd->footer(
      "Examples:\n  latentkit train --model dcgan --data fashion-mnist --epochs 5 --seed 1 --out runs/fashion\n"
      "  latentkit train --model cgan --loss hinge --data fashion-mnist --epochs 5 --seed 1 --out runs/fashion-cgan\n"
      "  latentkit train --model cgan --data emoji --condition-on category --augment diffaug --out runs/emoji-cgan\n"
      "  latentkit train --model vae --data fashion-mnist --epochs 10 --seed 1 --out runs/fashion-vae\n"
      "  latentkit train --model ddpm --tasks inpaint,restore --uncond-share 0.5 --data fashion-mnist --epochs 6 --out runs/fashion-ddpm\n"
      "  latentkit train --model pix2pix --task all --data fashion-mnist --epochs 5 --out runs/fashion-enhance\n"
      "  latentkit train --model pix2pix --data folder:photos/raw,photos/edited --size 128 --out runs/retouch\n"
      "  latentkit train --model spade --data shapes-scenes --epochs 10 --out runs/shapes-spade\n"
      "  latentkit train --model psgan --data wallpapers --out runs/wallpaper\n"
      "  latentkit train --model ddpm --tasks colorize,lineart --data emoji --size 64 --out runs/emoji-colorize\n"
      "  latentkit train --model ddpm --data fashion-mnist --epochs 6 --nproc 2 --out runs/ddpm-2   (2 ranks here)\n"
      "  latentkit train ... --rank 1 --world-size 2 --master 10.0.0.1:29500   (rank 1 of a job across hosts)\n"
      "Ctrl-C saves a checkpoint and exits; --resume continues exactly where it stopped.");
  torch_command(cmd, p->loop.threads, Work::kLong, [p]() { run_train(*p); },
                "CPU threads (0: all cores; with --nproc, cores / N each)");
}

}  // namespace latentkit::app
