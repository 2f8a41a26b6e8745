#pragma once
// Denoising diffusion (DDPM, Ho et al. 2020; DDIM, Song et al. 2021; DPM-Solver++, Lu et al.
// 2022): noise schedules, the forward process, the samplers, inpainting of an unconditional model (RePaint, Lugmayr et
// al. 2022), image-to-image with a conditional one (Palette, Saharia et al. 2022) and the
// "ddpm" family behind the common Generator interface (latent = x_T, decoded by DDIM).
//
// Time steps are 0-based: x_t for t in [0, T) has alpha_bar[t] = prod_{s <= t} (1 - beta_s);
// t = -1 stands for the clean image (alpha_bar = 1).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "latentkit/core/names.h"
#include "latentkit/data/captions.h"

#include "latentkit/models/generator.h"
#include "latentkit/models/unet.h"

namespace latentkit {

/// betas and alpha_bar as float64 [T].
/// The noise schedule's shape (--schedule): linear or cosine.
enum class ScheduleKind { kLinear, kCosine };
const NameTable<ScheduleKind>& schedule_names();
/// What the U-Net predicts (--prediction): eps (the noise) or v.
enum class Prediction { kEps, kV };
const NameTable<Prediction>& prediction_names();

struct NoiseSchedule {
  ScheduleKind kind = ScheduleKind::kLinear;
  torch::Tensor betas, alpha_bar;

  int64_t steps() const { return betas.size(0); }
  /// alpha_bar at t, 1 for t = -1.
  double ab(int64_t t) const;
};

/// linear: betas evenly spaced from 1e-4 to 0.02 (scaled by 1000 / T, as in improved DDPM);
/// cosine (Nichol & Dhariwal 2021): alpha_bar(t) = f(t + 1) / f(0), f(u) = cos^2((u / T + s)
/// / (1 + s) pi / 2), s = 0.008, with each beta clipped to 0.999.
NoiseSchedule make_schedule(ScheduleKind kind, int64_t steps);

/// q(x_t | x_0): sqrt(ab_t) x0 + sqrt(1 - ab_t) noise, t int64 [N] (one per image).
torch::Tensor q_sample(const NoiseSchedule& s, const torch::Tensor& x0, const torch::Tensor& t,
                       const torch::Tensor& noise);
/// The v-prediction target (Salimans & Ho 2022): sqrt(ab_t) noise - sqrt(1 - ab_t) x0.
torch::Tensor v_target(const NoiseSchedule& s, const torch::Tensor& x0, const torch::Tensor& t,
                       const torch::Tensor& noise);
/// Epsilon from a v prediction at x_t: sqrt(ab_t) v + sqrt(1 - ab_t) x_t.
torch::Tensor eps_from_v(const NoiseSchedule& s, const torch::Tensor& x_t, const torch::Tensor& t,
                         const torch::Tensor& v);

/// n time steps from T - T/n (DDIM's uniform spacing; T - 1 when n >= T) or from `start`
/// down to 0, evenly spaced, descending, no repeats.
std::vector<int64_t> sampling_timesteps(int64_t T, int64_t n, int64_t start = -1);

/// One DDIM step from x_t at step t to step t_prev < t (-1: the clean image), given the
/// predicted noise eps: x0 = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t) (clipped to [-1, 1]
/// when clip, with eps recomputed from it), sigma = eta sqrt((1 - ab_prev) / (1 - ab_t))
/// sqrt(1 - ab_t / ab_prev), x_prev = sqrt(ab_prev) x0 + sqrt(1 - ab_prev - sigma^2) eps +
/// sigma noise. eta = 1 over consecutive steps is DDPM's ancestral step with the posterior
/// variance beta~_t. noise may be undefined when eta = 0.
torch::Tensor ddim_step(const NoiseSchedule& s, const torch::Tensor& x_t, int64_t t, int64_t t_prev,
                        const torch::Tensor& eps, double eta, const torch::Tensor& noise, bool clip = true);

/// The predicted noise for a batch x_t at one time step t.
using EpsFunction = std::function<torch::Tensor(const torch::Tensor& x_t, int64_t t)>;

/// The sampler (--sampler): ddim (steps, eta), ddpm (ancestral, every one of T steps) or
/// dpmpp (DPM-Solver++(2M), steps; deterministic).
enum class Sampler { kDdim, kDdpm, kDpmpp };
const NameTable<Sampler>& sampler_names();

/// DPM-Solver++ starts no noisier than lambda = log(alpha / sigma) = -5.1 (diffusers'
/// lambda_min_clipped for the cosine schedule): at the cosine schedule's T - 1, alpha is
/// 5e-5, and dividing by it to predict x0 would multiply the network's error 20,000 times.
constexpr double kDpmppLambdaMin = -5.1;

/// DPM-Solver++'s n time steps: start (unless given, the last step whose lambda is at least
/// kDpmppLambdaMin: T - 1 on the linear schedule, 995 of 1000 on the cosine one), then evenly
/// spaced down to start / n, rounded (diffusers' "linspace" spacing without its last point);
/// n is capped at start so that they are distinct. The sample is the data prediction at the
/// last of them.
std::vector<int64_t> dpmpp_timesteps(const NoiseSchedule& s, int64_t n, int64_t start = -1);

// DPM-Solver++(2M) (Lu et al. 2022, the multistep second-order solver on the data
// prediction; diffusers' DPMSolverMultistepScheduler with solver_order 2, dpmsolver++,
// midpoint, linspace time steps, final sigma 0, lower_order_final). lkrt's sampler mirrors
// these formulas exactly.
//
// Time steps t_0 > t_1 > ... > t_{n-1} are dpmpp_timesteps: unlike DDIM's grid (which
// starts at T - T/n and spends its last call at t = 0), it starts where x_T is pure noise
// and spends every call on the way down; with a_t = sqrt(ab_t), s_t = sqrt(1 - ab_t) and
// lambda_t = log(a_t) - log(s_t), step i from x at t = t_i is (scalars in double):
//   x0_i = (x - s_t eps(x, t)) / a_t, clamped to [-1, 1] when clip: the data prediction (eps
//          through EpsFunction, so guidance and v-prediction are already in it)
//   i = n - 1: the sample is x0_i (to sigma = 0, lambda = +inf: the first-order update's
//          limit; a second-order step there would divide by an infinite h)
//   else, to t' = t_{i+1}:
//          h = lambda_t' - lambda_t
//          D = x0_i                                   first order: i = 0
//          D = x0_i + (x0_i - x0_{i-1}) / (2 r),      second order: 0 < i < n - 1, with
//              r = (lambda_t - lambda_{t_{i-1}}) / h  x0_{i-1} the previous step's data prediction
//          x' = (s_t' / s_t) x - a_t' (exp(-h) - 1) D (exp(-h) - 1 computed as expm1(-h))
// Measured on fashion-ddpm (bench/diffusion_samplers.sh, n = 2,000, the same x_T): this
// grid takes FID at 10 steps from 71.1 (on DDIM's grid) to 53.7, at 20 from 41.8 to 37.7
// (DDIM at 50: 33.9). `start` (SDEdit) begins the same scheme at x_start.

struct SampleOptions {
  Sampler sampler = Sampler::kDdim;
  int64_t steps = 50;  // ddim and dpmpp; ddpm takes every step
  double eta = 0.0;    // ddim only
  bool clip = true;    // clip the predicted x0 to [-1, 1]
  int64_t start = -1;  // start at this step instead of T - 1 (SDEdit: x is then x_start)
  std::function<void(int64_t done, int64_t total)> on_step;  // progress, after each step
};

/// Runs the sampler from x (x_T, or x_start) to an image. rng draws the noise of eta > 0
/// and of ddpm; DDIM with eta = 0 and dpmpp are deterministic (dpmpp with eta > 0 is an Error).
torch::Tensor diffusion_sample(const NoiseSchedule& s, const EpsFunction& eps, torch::Tensor x,
                               const SampleOptions& options, torch::Generator& rng);

struct RepaintOptions {
  int64_t steps = 50;    // strided time steps
  int64_t resample = 5;  // passes per step (RePaint's r): r - 1 jumps back to x_t and again
  double eta = 1.0;      // 1: RePaint's ancestral steps; 0: DDIM steps
  std::function<void(int64_t done, int64_t total)> on_step;
};

/// RePaint: fills the pixels where fill = 1 ([N, 1, H, W] or [N, C, H, W], values 0 or 1)
/// with an unconditional model, from x_T; at every step the known pixels are x0 noised to
/// the step and pasted in, and each step is resampled `resample` times (a jump back to x_t
/// through q(x_t | x_prev)). Returns x0 where fill = 0, exactly.
torch::Tensor repaint(const NoiseSchedule& s, const EpsFunction& eps, const torch::Tensor& x0,
                      const torch::Tensor& fill, torch::Tensor x, const RepaintOptions& options,
                      torch::Generator& rng);

/// A DDPM run's settings beside its U-Net (config.json "model").
struct DdpmOptions {
  UNetOptions unet;
  ScheduleKind schedule = ScheduleKind::kCosine;
  int64_t timesteps = 1000;
  Prediction prediction = Prediction::kEps;
  // Image-to-image tasks the model is also trained for (Palette): inpaint, restore, colorize
  // (from to_gray) and lineart (from line_art). The U-Net then sees C + 2 condition
  // channels: the condition image, the known-pixel map and a flag that is 1 for the tasks
  // that take a whole image (restore, colorize, lineart); all zeros asks for an
  // unconditional sample.
  std::vector<std::string> tasks;
  int64_t sample_steps = 50;        // DDIM steps of decode()
  Tokenizer tokenizer;              // text-conditional models (unet.text): their vocabulary
};

/// ddpm, cddpm (num_classes > 0) or t2i (text).
std::string ddpm_family(const UNetOptions& unet);

nlohmann::json ddpm_options_to_json(const DdpmOptions& options);
DdpmOptions ddpm_options_from_json(const nlohmann::json& model);
/// Throws Error naming the bad value; sets unet.cond_channels from the tasks.
void validate_ddpm_options(DdpmOptions& options);

/// The Palette tasks a diffusion model can be trained for: inpaint, restore, colorize, lineart.
const std::vector<std::string>& palette_tasks();

/// The condition of the Palette tasks, [N, C + 2, H, W]. inpaint: the image where fill = 0
/// (0 where it is to be filled), 1 - fill, 0. restore (colorize, lineart): the degraded (gray, line art) image, 0, 1.
torch::Tensor inpaint_condition(const torch::Tensor& image, const torch::Tensor& fill);
torch::Tensor restore_condition(const torch::Tensor& degraded);

/// The "ddpm" family (and its conditional forms cddpm, on classes, and t2i, on text): the EMA
/// U-Net, its schedule, and classifier-free guidance. A text model's "labels" are prompt
/// tokens, int64 [N, L] from options().tokenizer (undefined: no prompt).
class DdpmModel : public Generator {
 public:
  DdpmModel(UNet net, DdpmOptions options);
  std::string family() const override { return ddpm_family(options_.unet); }
  int64_t latent_dim() const override;
  int64_t num_classes() const override { return options_.unet.num_classes(); }
  std::array<int64_t, 3> image_shape() const override;
  /// DDIM (options().sample_steps, eta 0, unless set_decode chose otherwise) from x_T = z
  /// viewed as [N, C, H, W]; labels pick the classes of a conditional model (in turn when
  /// undefined).
  torch::Tensor decode(const torch::Tensor& z, const torch::Tensor& labels = {}) override;

  /// The predicted noise at x_t: labels (or the no-class label where undefined, or -1; a
  /// text model's tokens, or no prompt) with guidance w: eps_u + w (eps_c - eps_u) (w = 1:
  /// conditional alone); cond for tasks. A model with neither classes nor text guides on
  /// its image condition instead: eps_u is then the step with no condition (all zeros, as
  /// training drops it with --uncond-share).
  /// A text model takes its prompts already encoded as text ([N, D], from encode_prompts)
  /// in place of tokens.
  EpsFunction eps_function(const torch::Tensor& labels, double guidance, const torch::Tensor& cond = {},
                           const torch::Tensor& text = {});
  /// Samples n images (labels as in decode) from x_T drawn from rng.
  torch::Tensor sample(const torch::Tensor& x_T, const torch::Tensor& labels, const SampleOptions& options,
                       double guidance, torch::Generator& rng);
  bool has_task(const std::string& task) const;

  /// Text models: prompts -> tokens [N, max_tokens] (Errors for an empty or too long prompt;
  /// unknown words are kUnknownToken, see options().tokenizer.warnings).
  torch::Tensor tokenize(const std::vector<std::string>& prompts) const;
  /// Text models: tokens [N, L] -> the U-Net's text input [N, D] (the pooled prompt).
  torch::Tensor encode_prompts(const torch::Tensor& tokens);
  /// Text models: samples from x_T with text [N, D] (from encode_prompts; blends of them too).
  torch::Tensor sample_text(const torch::Tensor& x_T, const torch::Tensor& text, const SampleOptions& options,
                            double guidance, torch::Generator& rng);

  const DdpmOptions& options() const { return options_; }
  const NoiseSchedule& schedule() const { return schedule_; }
  UNet& net() { return net_; }
  /// The sampler, steps and guidance that decode() uses: ddim (eta 0) or dpmpp, so decode
  /// stays deterministic from x_T (ddpm is an Error).
  void set_decode(Sampler sampler, int64_t steps, double guidance);

 private:
  /// labels as the U-Net takes them for n images: class_labels, or a text model's prompts in
  /// turn (undefined: no prompt).
  torch::Tensor condition(int64_t n, const torch::Tensor& labels) const;

  UNet net_;
  DdpmOptions options_;
  NoiseSchedule schedule_;
  Sampler decode_sampler_ = Sampler::kDdim;
  int64_t decode_steps_;
  double decode_guidance_ = 1.0;
};

/// How inpaint_image and restore_image work.
struct ImageToImageOptions {
  // inpaint: auto (palette when the model was trained for inpainting, else repaint), repaint
  // or palette. restore: auto (palette when trained for restoring, else sdedit), palette or
  // sdedit (the degraded image noised to step strength x T and denoised by the sampler).
  std::string method = "auto";
  Sampler sampler = Sampler::kDdim;  // palette and sdedit (eta 0); repaint takes ddim only
  int64_t steps = 50;                // sampler steps (palette, sdedit) or strided RePaint steps
  int64_t resample = 5;              // repaint: passes per step
  double strength = 0.5;             // sdedit: how far to noise the input, (0, 1]
  double guidance = 1.0;
  torch::Tensor labels;              // class-conditional models: int64 [N], else the no-class label
  bool keep_luma = true;             // colorize: every step keeps the gray input's luma (DDNM)
  std::function<void(int64_t done, int64_t total)> on_step;
};

/// The method `method` ("auto" included) resolves to for the task (inpaint or restore) on
/// this model; a method the model cannot do is an Error that says what to train.
std::string resolve_image_method(const DdpmModel& model, const std::string& task, const std::string& method);

/// Fills the pixels where fill = 1 (fill [N or 1, 1, H, W] of 0 and 1) in images [N, C, H, W]
/// ([-1, 1], the model's shape). Known pixels come back untouched. Bad shapes and a mask
/// with nothing to fill are Errors.
torch::Tensor inpaint_image(DdpmModel& model, const torch::Tensor& images, const torch::Tensor& fill,
                            const ImageToImageOptions& options, torch::Generator& rng);
/// Restores degraded images [N, C, H, W] (JPEG artefacts, noise, blur).
torch::Tensor restore_image(DdpmModel& model, const torch::Tensor& degraded, const ImageToImageOptions& options,
                            torch::Generator& rng);

/// colorize or lineart (Palette): images [N, C, H, W] drawn from the gray images or line art
/// `input` (to_gray, line_art or sketch_line_art; the model's shape). Colorize keeps the
/// input's alpha, and with options.keep_luma its luma too: at every step the predicted x0
/// takes the input's luma and alpha (the range-null-space projection of DDNM, Wang et al.
/// 2023), so the network only chooses what gray leaves open, the chroma. A model not
/// trained for the task is an Error that says what to train.
torch::Tensor colorize_image(DdpmModel& model, const torch::Tensor& input, const std::string& task,
                             const ImageToImageOptions& options, torch::Generator& rng);

}  // namespace latentkit
