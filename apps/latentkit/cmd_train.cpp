// latentkit train: parse, validate, call the family's trainer; --nproc starts the ranks of a
// data-parallel job as child processes of this one.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <thread>

#include "apps/latentkit/commands.h"
#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/data/degrade.h"
#include "latentkit/train/checkpoint.h"
#include "latentkit/train/ddpm_trainer.h"
#include "latentkit/train/gan_trainer.h"
#include "latentkit/train/pix2pix_trainer.h"
#include "latentkit/train/vae_trainer.h"

namespace latentkit::app {
namespace {

struct TrainParams {
  TrainLoopOptions loop = GanTrainOptions().loop;  // the flags every family shares; the help shows the GAN's defaults
  LoopFlags flags;
  std::string model = "dcgan";
  // Family flags, bound here and copied into the family's options by its fill.
  GanTrainOptions gan;  // --loss, --gp-weight, --label-smoothing
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
  // pix2pix
  Pix2pixTrainOptions pix2pix;
  std::vector<std::string> enhance;
  bool no_residual = false;
  CLI::Option* dropout_option = nullptr;
  // distributed
  int nproc = 1;
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
  }, train_gan);
}

void run_ddpm(const TrainParams& p) {
  run_family(p, p.ddpm, read_ddpm_run_options, [&](DdpmTrainOptions& o) {
    o.model.unet.width(p.width_option->count() > 0 ? p.width : 32)
        .mults(p.mults)
        .num_classes(p.model == "cddpm" ? 1 : 0);  // count from the data
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
    if (o.tasks.size() == 1 && o.tasks[0] == "all") o.tasks = enhance_tasks();
    o.model.width(p.width_option->count() > 0 ? p.width : 32).residual(!p.no_residual);
    if (p.dropout_option->count() > 0) o.model.dropout(p.ddpm.model.unet.dropout());
  }, train_pix2pix);
}

void run_vae(const TrainParams& p) {
  run_family(p, VaeTrainOptions(), read_vae_run_options, [&](VaeTrainOptions& o) {
    o.loop.batch = 64;  // the command's default since the first VAE, not the library's 128
    if (p.latent_option->count() > 0) o.model.latent_dim(p.latent_dim);
    if (p.width_option->count() > 0) o.model.width(p.width);
    o.model.beta(p.beta).recon(p.recon).num_classes(p.model == "cvae" ? 1 : 0);  // count from the data
    o.condition_on = p.condition_on;
  }, train_vae);
}

// This program's arguments, as the kernel has them.
std::vector<std::string> own_arguments() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  for (size_t start = 0; start < all.size();) {
    const size_t end = all.find('\0', start);
    args.push_back(all.substr(start, end - start));
    start = end == std::string::npos ? all.size() : end + 1;
  }
  return args;
}

volatile sig_atomic_t g_launcher_signal = 0;
void on_launcher_signal(int signal) { g_launcher_signal = signal; }

// --nproc N: this process becomes the launcher of an N-rank job on this host, like torchrun.
// Each rank is this program again with the same arguments (less --nproc) plus --rank,
// --world-size and --master (127.0.0.1 and a free port, unless --master was given), and
// --threads cores / N unless --threads was given. A signal to the launcher reaches the
// ranks as SIGTERM (a terminal's Ctrl-C reaches them itself): they stop together after a
// checkpoint. When a rank fails, the others end on their own within the timeout (their
// collectives fail); any still running after that are killed.
void launch_local_job(const TrainParams& p) {
  const int n = p.nproc;
  check_input(p.loop.dist.world_size == 1,
              "--nproc starts the ranks on this host itself; to join a job across hosts give --rank, --world-size and "
              "--master instead");
  const std::string master =
      p.flags.given("--master") ? p.loop.dist.master : "127.0.0.1:" + std::to_string(free_local_port());
  std::vector<std::string> base;
  const std::vector<std::string> args = own_arguments();
  check_input(!args.empty(), "--nproc: cannot read this program's arguments from /proc/self/cmdline");
  // The arguments less the ones each rank gets its own value of (and their values).
  for (size_t i = 1; i < args.size(); ++i) {
    bool own = false;
    for (const char* flag : {"--nproc", "--master", "--rank", "--world-size"}) {
      if (args[i] == flag) {
        own = true;
        ++i;  // and its value
      } else if (args[i].rfind(std::string(flag) + "=", 0) == 0) {
        own = true;
      }
      if (own) break;
    }
    if (!own) base.push_back(args[i]);
  }
  const int threads = p.flags.given("--threads") ? p.loop.threads
                                                 : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / n);
  if (!p.flags.given("--threads")) base.insert(base.end(), {"--threads", std::to_string(threads)});
  std::fprintf(stderr, "starting %d ranks on this host (master %s, %d thread%s each)\n", n, master.c_str(), threads,
               threads == 1 ? "" : "s");
  std::fflush(stderr);
  for (int sig : {SIGINT, SIGTERM}) std::signal(sig, on_launcher_signal);
  std::map<pid_t, int> ranks;
  for (int r = 0; r < n; ++r) {
    std::vector<std::string> child = base;
    child.insert(child.begin(), args[0]);
    child.insert(child.end(), {"--rank", std::to_string(r), "--world-size", std::to_string(n), "--master", master});
    std::vector<char*> argv;
    for (auto& a : child) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    check_input(pid >= 0, "--nproc: cannot start rank " + std::to_string(r));
    if (pid == 0) {
      for (int sig : {SIGINT, SIGTERM}) std::signal(sig, SIG_DFL);
      ::execv("/proc/self/exe", argv.data());
      std::perror("latentkit --nproc: exec");
      ::_exit(127);
    }
    ranks[pid] = r;
  }
  int failed_rank = -1, failed_code = 0;
  bool killed = false;
  auto failed_at = std::chrono::steady_clock::now();
  const auto grace = std::chrono::duration<double>(p.loop.dist.timeout_seconds + 10);
  while (!ranks.empty()) {
    if (g_launcher_signal != 0) {
      for (const auto& [pid, r] : ranks) ::kill(pid, SIGTERM);
      g_launcher_signal = 0;
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0 && ranks.count(pid)) {
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      if (code != 0 && failed_rank < 0) {
        failed_rank = ranks[pid];
        failed_code = code;
        failed_at = std::chrono::steady_clock::now();
        std::fprintf(stderr, "rank %d exited with code %d; the other ranks end within the timeout (%g s)\n",
                     failed_rank, code, p.loop.dist.timeout_seconds);
      }
      ranks.erase(pid);
      continue;
    }
    if (failed_rank >= 0 && !killed && std::chrono::steady_clock::now() - failed_at > grace) {
      for (const auto& [other, r] : ranks) {
        std::fprintf(stderr, "rank %d still runs after the timeout: killed\n", r);
        ::kill(other, SIGKILL);
      }
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (failed_rank >= 0) {
    const auto latest = latest_checkpoint(p.loop.out);
    throw Error("the job failed: rank " + std::to_string(failed_rank) + " exited with code " +
                    std::to_string(failed_code) + " (its message is above)" +
                    (latest ? "; the last checkpoint, " + *latest + ", is intact: continue with --resume" : ""),
                failed_code == 2 ? ErrorKind::kBadInput : ErrorKind::kInternal);
  }
}

void run_train(TrainParams& p) {
  if (p.nproc > 1) return launch_local_job(p);
  const std::string& out = p.loop.out;
  const std::string family =
      p.flags.resume() ? (path_exists(out + "/config.json") ? read_json(out + "/config.json").value("family", "") : "") : p.model;
  check_input(p.enhance.empty() || family == "pix2pix",
              "--task is for --model pix2pix (a diffusion model takes --tasks inpaint,restore)");
  if (family == "vae" || family == "cvae") return run_vae(p);
  if (family == "ddpm" || family == "cddpm") return run_ddpm(p);
  if (family == "pix2pix") return run_pix2pix(p);
  run_gan(p);
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto p = std::make_shared<TrainParams>();
  CLI::App* cmd = app.add_subcommand("train", "Train a generative model into a run folder");
  cmd->add_option("--model", p->model,
                  "model family: dcgan | dcgan-upsample | cgan (class-conditional DCGAN) | vae | cvae (class-conditional "
                  "VAE) | ddpm (diffusion U-Net) | cddpm (class-conditional diffusion, classifier-free guidance) | pix2pix "
                  "(image-to-image enhancer: U-Net + PatchGAN)")
      ->check(CLI::IsMember({"dcgan", "dcgan-upsample", "cgan", "vae", "cvae", "ddpm", "cddpm", "pix2pix"}))
      ->capture_default_str();
  p->flags.bind(cmd, p->loop);
  cmd->get_option("--epochs")->description("passes over the data (vae, ddpm, pix2pix default 10)");
  cmd->get_option("--batch")->description("images per step, for all ranks together (pix2pix default 32)");
  cmd->get_option("--lr")->description("Adam learning rate (both networks; vae default 0.001, ddpm 0.0004)");
  DdpmTrainOptions& d = p->ddpm;
  cmd->add_option("--schedule", d.model.schedule, "ddpm: noise schedule, linear or cosine")
      ->check(CLI::IsMember({"linear", "cosine"}))
      ->capture_default_str();
  cmd->add_option("--timesteps", d.model.timesteps, "ddpm: diffusion steps T")->check(CLI::Range(10, 10000))->capture_default_str();
  cmd->add_option("--prediction", d.model.prediction, "ddpm: what the U-Net predicts, eps (the noise) or v")
      ->check(CLI::IsMember({"eps", "v"}))
      ->capture_default_str();
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
  task_names.push_back("all");
  cmd->add_option("--task", p->enhance,
                  "pix2pix: what to undo, making pairs by degrading --data: deblur, denoise, dejpeg, superres, exposure, "
                  "retouch (exposure, contrast, colour cast, vignetting), a list (deblur,denoise) or all; none for paired "
                  "data (folder:A_DIR,B_DIR or pairs:DIR)")
      ->delimiter(',')
      ->check(CLI::IsMember(task_names));
  cmd->add_option("--l1-weight", x.l1_weight, "pix2pix: weight of the L1 term beside the GAN loss (lambda)")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  cmd->add_option("--depth", x.model.depth(), "pix2pix: U-Net levels (0: from the size, 4 at 28 px, 8 at 256)")
      ->check(CLI::Range(0, 8))
      ->capture_default_str();
  cmd->add_option("--d-layers", x.model.d_layers(), "pix2pix: PatchGAN strided layers (0: 1 under 16 px, 2 under 64, else 3)")
      ->check(CLI::Range(0, 5))
      ->capture_default_str();
  cmd->add_flag("--no-residual", p->no_residual, "pix2pix: tanh output instead of input + correction");
  cmd->add_option("--tasks", p->tasks,
                  "ddpm: also train image-to-image (Palette) for these tasks: inpaint, restore or inpaint,restore "
                  "(condition channels beside x_t; the inpainting loss is inside the mask)")
      ->delimiter(',')
      ->check(CLI::IsMember({"inpaint", "restore"}));
  cmd->add_option("--uncond-share", d.uncond_share, "ddpm with --tasks: share of images trained with no condition")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  cmd->add_option("--label-dropout", d.label_dropout, "cddpm: share of steps trained without the label (for guidance)")
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
                  "cgan, cvae, cddpm: what the label is (class: the data's classes; hue: shapes' hue in 6 buckets)");
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
  cmd->add_flag("--no-ema", p->no_ema, "do not keep an exponential moving average of the generator");
  cmd->add_option("--ema-decay", p->ema_decay, "decay of the generator (or U-Net) EMA")->check(CLI::Range(0.0, 0.99999))->capture_default_str();
  p->latent_option = cmd->add_option("--latent-dim", p->latent_dim, "size of the latent vector z (vae default 16)")
                         ->check(CLI::Range(1, 4096))
                         ->capture_default_str();
  p->width_option = cmd->add_option("--width", p->width, "base channel width of the networks (ngf / ndf; vae, ddpm and pix2pix default 32)")
                        ->check(CLI::Range(4, 1024))
                        ->capture_default_str();
  cmd->add_option("--nproc", p->nproc,
                  "data-parallel: start N ranks on this host (c10d / Gloo), each on its share of --batch")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->footer(
      "Examples:\n  latentkit train --model dcgan --data fashion-mnist --epochs 5 --seed 1 --out runs/fashion\n"
      "  latentkit train --model cgan --loss hinge --data fashion-mnist --epochs 5 --seed 1 --out runs/fashion-cgan\n"
      "  latentkit train --model vae --data fashion-mnist --epochs 10 --seed 1 --out runs/fashion-vae\n"
      "  latentkit train --model ddpm --tasks inpaint,restore --uncond-share 0.5 --data fashion-mnist --epochs 6 --out runs/fashion-ddpm\n"
      "  latentkit train --model pix2pix --task all --data fashion-mnist --epochs 5 --out runs/fashion-enhance\n"
      "  latentkit train --model pix2pix --data folder:photos/raw,photos/edited --size 128 --out runs/retouch\n"
      "  latentkit train --model ddpm --data fashion-mnist --epochs 6 --nproc 2 --out runs/ddpm-2   (2 ranks here)\n"
      "  latentkit train ... --rank 1 --world-size 2 --master 10.0.0.1:29500   (rank 1 of a job across hosts)\n"
      "Ctrl-C saves a checkpoint and exits; --resume continues exactly where it stopped.");
  torch_command(cmd, p->loop.threads, Work::kLong, [p]() { run_train(*p); },
                "CPU threads (0: all cores; with --nproc, cores / N each)");
}

}  // namespace latentkit::app
