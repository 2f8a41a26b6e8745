#include "latentkit/models/diffusion.h"

#include <algorithm>
#include <cmath>

#include "latentkit/core/error.h"
#include "latentkit/data/degrade.h"

namespace latentkit {
namespace {

// Per-image alpha_bar at t (int64 [N]) as float32 [N, 1, 1, 1].
torch::Tensor ab_at(const NoiseSchedule& s, const torch::Tensor& t) {
  return s.alpha_bar.index_select(0, t.to(torch::kInt64)).to(torch::kFloat32).view({-1, 1, 1, 1});
}

// The predicted clean image at step t >= 0 from the predicted noise, clipped when clip.
torch::Tensor predict_x0(const NoiseSchedule& s, const torch::Tensor& x_t, int64_t t, const torch::Tensor& eps, bool clip) {
  const double ab_t = s.ab(t);
  torch::Tensor x0 = (x_t - std::sqrt(1 - ab_t) * eps) / std::sqrt(ab_t);
  return clip ? x0.clamp(-1, 1) : x0;
}

// lambda_t = log(alpha_t / sigma_t) for t >= 0.
double log_snr_half(const NoiseSchedule& s, int64_t t) {
  const double ab_t = s.ab(t);
  return 0.5 * std::log(ab_t) - 0.5 * std::log(1 - ab_t);
}

// DPM-Solver++(2M) on its own time steps: the formulas are in diffusion.h.
torch::Tensor dpmpp_sample(const NoiseSchedule& s, const EpsFunction& eps, torch::Tensor x, const SampleOptions& o) {
  check_input(o.eta == 0, "--eta is for --sampler ddim; dpmpp is deterministic (eta 0)");
  const std::vector<int64_t> times = dpmpp_timesteps(s, o.steps, o.start);
  const size_t n = times.size();
  torch::Tensor x0_last;  // the previous step's data prediction
  for (size_t i = 0; i < n; ++i) {
    const int64_t t = times[i];
    torch::Tensor x0 = predict_x0(s, x, t, eps(x, t), o.clip);
    if (i + 1 == n) {
      x = x0;  // to the clean image: sigma = 0, lambda = +inf, exp(-h) = 0
    } else {
      const int64_t t_next = times[i + 1];
      const double ab_t = s.ab(t), ab_next = s.ab(t_next);
      const double lambda_t = log_snr_half(s, t), h = log_snr_half(s, t_next) - lambda_t;
      torch::Tensor d = x0;
      if (i > 0) {  // second order from the second step on
        const double r = (lambda_t - log_snr_half(s, times[i - 1])) / h;
        d = x0 + (x0 - x0_last) / (2 * r);
      }
      x = std::sqrt((1 - ab_next) / (1 - ab_t)) * x - std::sqrt(ab_next) * std::expm1(-h) * d;
    }
    x0_last = x0;
    if (o.on_step) o.on_step(static_cast<int64_t>(i + 1), static_cast<int64_t>(n));
  }
  return x;
}

}  // namespace

double NoiseSchedule::ab(int64_t t) const {
  check_input(t >= -1 && t < steps(), "diffusion: time step " + std::to_string(t) + " outside [-1, " +
                                          std::to_string(steps()) + ")");
  return t < 0 ? 1.0 : alpha_bar[t].item<double>();
}

const NameTable<ScheduleKind>& schedule_names() {
  static const NameTable<ScheduleKind> table("--schedule", {{ScheduleKind::kLinear, "linear"}, {ScheduleKind::kCosine, "cosine"}});
  return table;
}

const NameTable<Sampler>& sampler_names() {
  static const NameTable<Sampler> table("--sampler",
                                        {{Sampler::kDdim, "ddim"}, {Sampler::kDdpm, "ddpm"}, {Sampler::kDpmpp, "dpmpp"}});
  return table;
}

const NameTable<Prediction>& prediction_names() {
  static const NameTable<Prediction> table("--prediction", {{Prediction::kEps, "eps"}, {Prediction::kV, "v"}});
  return table;
}

NoiseSchedule make_schedule(ScheduleKind kind, int64_t steps) {
  check_input(steps >= 2 && steps <= 100000, "diffusion: --timesteps must be in 2..100000");
  NoiseSchedule s;
  s.kind = kind;
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  if (kind == ScheduleKind::kLinear) {
    const double scale = 1000.0 / static_cast<double>(steps);
    s.betas = torch::linspace(scale * 1e-4, scale * 0.02, steps, f64);
  } else {
    const double offset = 0.008, T = static_cast<double>(steps);
    auto f = [&](double u) {
      const double c = std::cos((u / T + offset) / (1 + offset) * M_PI / 2);
      return c * c;
    };
    s.betas = torch::empty({steps}, f64);
    auto b = s.betas.accessor<double, 1>();
    for (int64_t i = 0; i < steps; ++i) b[i] = std::min(1.0 - f(double(i + 1)) / f(double(i)), 0.999);
  }
  s.alpha_bar = torch::cumprod(1.0 - s.betas, 0);
  return s;
}

torch::Tensor q_sample(const NoiseSchedule& s, const torch::Tensor& x0, const torch::Tensor& t,
                       const torch::Tensor& noise) {
  torch::Tensor ab = ab_at(s, t);
  return ab.sqrt() * x0 + (1 - ab).sqrt() * noise;
}

torch::Tensor v_target(const NoiseSchedule& s, const torch::Tensor& x0, const torch::Tensor& t,
                       const torch::Tensor& noise) {
  torch::Tensor ab = ab_at(s, t);
  return ab.sqrt() * noise - (1 - ab).sqrt() * x0;
}

torch::Tensor eps_from_v(const NoiseSchedule& s, const torch::Tensor& x_t, const torch::Tensor& t,
                         const torch::Tensor& v) {
  torch::Tensor ab = ab_at(s, t);
  return ab.sqrt() * v + (1 - ab).sqrt() * x_t;
}

std::vector<int64_t> sampling_timesteps(int64_t T, int64_t n, int64_t start) {
  check_input(n >= 1, "diffusion: --steps must be >= 1");
  // DDIM's own spacing: 0, T/n, 2T/n, ... up to T - T/n, so the first step does not start
  // from the schedule's last, near-singular alpha_bar (cosine: 2.4e-9 at T - 1).
  if (start < 0) start = n >= T ? T - 1 : T - T / n;
  check_input(start < T, "diffusion: start step " + std::to_string(start) + " must be below T = " + std::to_string(T));
  n = std::min(n, start + 1);
  std::vector<int64_t> times;
  for (int64_t i = 0; i < n; ++i) {
    times.push_back(n == 1 ? start : static_cast<int64_t>(std::llround(double(start) * double(n - 1 - i) / double(n - 1))));
  }
  return times;
}

std::vector<int64_t> dpmpp_timesteps(const NoiseSchedule& s, int64_t n, int64_t start) {
  check_input(n >= 1, "diffusion: --steps must be >= 1");
  const int64_t T = s.steps();
  if (start < 0) {  // the last step whose lambda is at least kDpmppLambdaMin
    start = T - 1;
    while (start > 0 && log_snr_half(s, start) < kDpmppLambdaMin) --start;
  }
  check_input(start < T, "diffusion: start step " + std::to_string(start) + " must be below T = " + std::to_string(T));
  // At most one call per step of the schedule, so the rounded steps are distinct.
  n = std::max<int64_t>(1, std::min(n, start));
  std::vector<int64_t> times;
  for (int64_t i = 0; i < n; ++i) times.push_back(std::llround(double(start) * double(n - i) / double(n)));
  return times;
}

torch::Tensor ddim_step(const NoiseSchedule& s, const torch::Tensor& x_t, int64_t t, int64_t t_prev,
                        const torch::Tensor& eps, double eta, const torch::Tensor& noise, bool clip) {
  check_input(t_prev < t, "diffusion: a step must go back in time");
  const double ab_t = s.ab(t), ab_prev = s.ab(t_prev);
  torch::Tensor x0 = predict_x0(s, x_t, t, eps, clip);
  torch::Tensor e = clip ? (x_t - std::sqrt(ab_t) * x0) / std::sqrt(1 - ab_t) : eps;
  const double sigma = eta * std::sqrt((1 - ab_prev) / (1 - ab_t)) * std::sqrt(1 - ab_t / ab_prev);
  torch::Tensor x_prev = std::sqrt(ab_prev) * x0 + std::sqrt(std::max(1 - ab_prev - sigma * sigma, 0.0)) * e;
  if (sigma > 0) {
    check_input(noise.defined(), "diffusion: a step with eta > 0 needs noise");
    x_prev = x_prev + sigma * noise;
  }
  return x_prev;
}

torch::Tensor diffusion_sample(const NoiseSchedule& s, const EpsFunction& eps, torch::Tensor x,
                               const SampleOptions& o, torch::Generator& rng) {
  if (o.sampler == Sampler::kDpmpp) return dpmpp_sample(s, eps, std::move(x), o);
  const bool ddpm = o.sampler == Sampler::kDdpm;
  const int64_t ddpm_start = o.start < 0 ? s.steps() - 1 : o.start;
  const std::vector<int64_t> times =
      ddpm ? sampling_timesteps(s.steps(), ddpm_start + 1, ddpm_start) : sampling_timesteps(s.steps(), o.steps, o.start);
  const double eta = ddpm ? 1.0 : o.eta;
  for (size_t i = 0; i < times.size(); ++i) {
    const int64_t t = times[i], t_prev = i + 1 < times.size() ? times[i + 1] : -1;
    torch::Tensor noise = eta > 0 && t_prev >= 0 ? torch::randn(x.sizes(), rng) : torch::Tensor();
    x = ddim_step(s, x, t, t_prev, eps(x, t), eta, noise, o.clip);
    if (o.on_step) o.on_step(static_cast<int64_t>(i + 1), static_cast<int64_t>(times.size()));
  }
  return x;
}

torch::Tensor repaint(const NoiseSchedule& s, const EpsFunction& eps, const torch::Tensor& x0,
                      const torch::Tensor& fill, torch::Tensor x, const RepaintOptions& o, torch::Generator& rng) {
  check_input(o.resample >= 1, "repaint: --resample must be >= 1");
  const torch::Tensor filled = fill.expand_as(x0) > 0.5;
  const std::vector<int64_t> times = sampling_timesteps(s.steps(), o.steps);
  for (size_t i = 0; i < times.size(); ++i) {
    const int64_t t = times[i], t_prev = i + 1 < times.size() ? times[i + 1] : -1;
    const double ab_t = s.ab(t), ab_prev = s.ab(t_prev);
    for (int64_t r = 0; r < o.resample; ++r) {
      torch::Tensor unknown = ddim_step(s, x, t, t_prev, eps(x, t), o.eta, torch::randn(x.sizes(), rng));
      torch::Tensor known =
          t_prev < 0 ? x0 : std::sqrt(ab_prev) * x0 + std::sqrt(1 - ab_prev) * torch::randn(x.sizes(), rng);
      torch::Tensor merged = torch::where(filled, unknown, known);
      if (r + 1 == o.resample || t_prev < 0) {
        x = merged;
        break;
      }
      const double a = ab_t / ab_prev;  // q(x_t | x_prev): one jump back
      x = std::sqrt(a) * merged + std::sqrt(1 - a) * torch::randn(x.sizes(), rng);
    }
    if (o.on_step) o.on_step(static_cast<int64_t>(i + 1), static_cast<int64_t>(times.size()));
  }
  return torch::where(filled, x, x0);
}

std::string ddpm_family(const UNetOptions& unet) {
  return unet.text().vocab_size() > 0 ? "t2i" : unet.num_classes() > 0 ? "cddpm" : "ddpm";
}

nlohmann::json ddpm_options_to_json(const DdpmOptions& o) {
  nlohmann::json j = unet_options_to_json(o.unet);
  j["schedule"] = schedule_names().name(o.schedule);
  j["timesteps"] = o.timesteps;
  j["prediction"] = prediction_names().name(o.prediction);
  j["tasks"] = o.tasks;
  j["sample_steps"] = o.sample_steps;
  if (o.unet.text().vocab_size() > 0) j["tokenizer"] = o.tokenizer.to_json();
  return j;
}

DdpmOptions ddpm_options_from_json(const nlohmann::json& m) {
  DdpmOptions o;
  o.unet = unet_options_from_json(m);
  o.schedule = schedule_names().parse(m.at("schedule").get<std::string>());
  o.timesteps = m.at("timesteps").get<int64_t>();
  o.prediction = prediction_names().parse(m.at("prediction").get<std::string>());
  o.tasks = m.at("tasks").get<std::vector<std::string>>();
  o.sample_steps = m.at("sample_steps").get<int64_t>();
  if (o.unet.text().vocab_size() > 0) {
    o.tokenizer = Tokenizer::from_json(m.at("tokenizer"), "config.json");
    check_input(o.tokenizer.vocab_size() == o.unet.text().vocab_size() &&
                    o.tokenizer.max_tokens() == o.unet.text().max_tokens(),
                "config.json: the tokenizer does not match the text encoder's vocabulary and length");
  }
  validate_ddpm_options(o);
  return o;
}

void validate_ddpm_options(DdpmOptions& o) {
  check_input(o.timesteps >= 10 && o.timesteps <= 10000, "--timesteps must be in 10..10000");
  for (size_t i = 0; i < o.tasks.size(); ++i) {
    check_input(std::find(palette_tasks().begin(), palette_tasks().end(), o.tasks[i]) != palette_tasks().end(),
                "--tasks: unknown task '" + o.tasks[i] + "' (expected inpaint, restore, colorize, lineart or a list)");
    check_input(std::find(o.tasks.begin() + i + 1, o.tasks.end(), o.tasks[i]) == o.tasks.end(),
                "--tasks names " + o.tasks[i] + " twice");
  }
  check_input(o.sample_steps >= 1 && o.sample_steps <= o.timesteps, "--sample-steps must be in 1..timesteps");
  o.unet.cond_channels(o.tasks.empty() ? 0 : o.unet.channels() + 2);
  o.unet.validate();
}

const std::vector<std::string>& palette_tasks() {
  static const std::vector<std::string> tasks{"inpaint", "restore", "colorize", "lineart"};
  return tasks;
}

torch::Tensor inpaint_condition(const torch::Tensor& image, const torch::Tensor& fill) {
  torch::Tensor known = 1 - std::get<0>(fill.max(1, true)).expand({image.size(0), 1, image.size(2), image.size(3)});
  return torch::cat({image * known, known, torch::zeros_like(known)}, 1);
}

torch::Tensor restore_condition(const torch::Tensor& degraded) {
  auto flat = torch::zeros({degraded.size(0), 1, degraded.size(2), degraded.size(3)});
  return torch::cat({degraded, flat, torch::ones_like(flat)}, 1);
}

DdpmModel::DdpmModel(UNet net, DdpmOptions options)
    : net_(std::move(net)), options_(std::move(options)), schedule_(make_schedule(options_.schedule, options_.timesteps)),
      decode_steps_(options_.sample_steps) {
  net_->eval();
}

int64_t DdpmModel::latent_dim() const {
  return options_.unet.channels() * options_.unet.image_size() * options_.unet.image_size();
}

std::array<int64_t, 3> DdpmModel::image_shape() const {
  return {options_.unet.channels(), options_.unet.image_size(), options_.unet.image_size()};
}

bool DdpmModel::has_task(const std::string& task) const {
  return std::find(options_.tasks.begin(), options_.tasks.end(), task) != options_.tasks.end();
}

EpsFunction DdpmModel::eps_function(const torch::Tensor& labels, double guidance, const torch::Tensor& cond,
                                     const torch::Tensor& text_in) {
  const int64_t classes = num_classes();
  // A text model encodes its prompts once for all steps.
  torch::Tensor text = text_in;
  if (net_->has_text() && !text.defined() && labels.defined()) text = encode_prompts(labels);
  return [this, labels, guidance, cond, classes, text](const torch::Tensor& x, int64_t t) {
    const int64_t n = x.size(0);
    torch::Tensor c = cond;  // all zeros: no condition (an unconditional sample)
    if (!c.defined() && options_.unet.cond_channels() > 0) {
      c = torch::zeros({n, options_.unet.cond_channels(), x.size(2), x.size(3)});
    }
    // The conditional input and the unconditional one: a text model's prompt embedding and
    // its no-prompt vector, or a class and the no-class label (neither: unconditional).
    const bool text_model = net_->has_text();
    torch::Tensor on = text_model ? text : labels, off;
    if (text_model) off = net_->null_text.detach().unsqueeze(0).expand({n, -1});
    if (!text_model && classes > 0) off = torch::full({n}, classes, torch::kInt64);
    auto run = [&](const torch::Tensor& xs, const torch::Tensor& condition, const torch::Tensor& cs) {
      torch::Tensor tt = torch::full({xs.size(0)}, t, torch::kInt64);
      torch::Tensor out = text_model ? net_->forward(xs, tt, {}, cs, condition) : net_->forward(xs, tt, condition, cs);
      return options_.prediction == Prediction::kV ? eps_from_v(schedule_, xs, tt, out) : out;
    };
    if ((!on.defined() || !off.defined()) && guidance != 1.0 && cond.defined()) {
      // Guidance on the image condition: with it, and with none.
      std::vector<torch::Tensor> parts =
          run(torch::cat({x, x}), off.defined() ? torch::cat({off, off}) : off, torch::cat({c, torch::zeros_like(c)}))
              .chunk(2);
      return parts[1] + guidance * (parts[0] - parts[1]);
    }
    if (!on.defined() || !off.defined()) return run(x, off, c);
    if (guidance == 1.0) return run(x, on, c);
    torch::Tensor both = run(torch::cat({x, x}), torch::cat({on, off}), c.defined() ? torch::cat({c, c}) : c);
    std::vector<torch::Tensor> parts = both.chunk(2);
    return parts[1] + guidance * (parts[0] - parts[1]);
  };
}

torch::Tensor DdpmModel::sample(const torch::Tensor& x_T, const torch::Tensor& labels, const SampleOptions& options,
                                double guidance, torch::Generator& rng) {
  return diffusion_sample(schedule_, eps_function(condition(x_T.size(0), labels), guidance), x_T, options, rng);
}

torch::Tensor DdpmModel::decode(const torch::Tensor& z, const torch::Tensor& labels) {
  const auto shape = image_shape();
  check_input(z.dim() == 2 && z.size(1) == latent_dim(),
              "ddpm: expected latents [N, " + std::to_string(latent_dim()) + "] (x_T flattened)");
  SampleOptions o;
  o.sampler = decode_sampler_;
  o.steps = decode_steps_;
  torch::Generator rng = make_rng(0);  // unused: DDIM with eta 0 and dpmpp draw no noise
  return sample(z.view({z.size(0), shape[0], shape[1], shape[2]}), labels, o, decode_guidance_, rng);
}

torch::Tensor DdpmModel::tokenize(const std::vector<std::string>& prompts) const {
  check_input(net_->has_text(), "this is a " + family() + " model: prompts need a text-to-image one (train --model t2i)");
  return options_.tokenizer.encode_batch(prompts);
}

torch::Tensor DdpmModel::encode_prompts(const torch::Tensor& tokens) {
  check_input(net_->has_text(), "this is a " + family() + " model: prompts need a text-to-image one (train --model t2i)");
  torch::NoGradGuard no_grad;
  return net_->encode_text(tokens);
}

torch::Tensor DdpmModel::sample_text(const torch::Tensor& x_T, const torch::Tensor& text, const SampleOptions& options,
                                     double guidance, torch::Generator& rng) {
  check_input(text.dim() == 2 && text.size(0) == x_T.size(0) && text.size(1) == options_.unet.text().width(),
              "t2i: expected one text embedding [" + std::to_string(options_.unet.text().width()) + "] per image");
  return diffusion_sample(schedule_, eps_function({}, guidance, {}, text), x_T, options, rng);
}

torch::Tensor DdpmModel::condition(int64_t n, const torch::Tensor& labels) const {
  if (!options_.unet.text().vocab_size()) return class_labels(n, labels);
  if (!labels.defined()) return {};
  check_input(labels.dim() == 2 && labels.size(0) >= 1, "t2i: expected prompt tokens [N, L]");
  // Prompts in turn, as classes are.
  return labels.index_select(0, torch::arange(n, torch::kInt64).remainder(labels.size(0)));
}

void DdpmModel::set_decode(Sampler sampler, int64_t steps, double guidance) {
  check_input(sampler != Sampler::kDdpm, "decode is deterministic from x_T: its sampler is ddim or dpmpp, not ddpm");
  check_input(steps >= 1, "diffusion: --steps must be >= 1");
  decode_sampler_ = sampler, decode_steps_ = steps, decode_guidance_ = guidance;
}

std::string resolve_image_method(const DdpmModel& model, const std::string& task, const std::string& method) {
  const bool trained = model.has_task(task);
  if (task == "colorize" || task == "lineart") {
    check_input(method == "auto" || method == "palette", "--method for " + task + " must be auto or palette, got '" + method + "'");
    check_input(trained, "this model was not trained for " + task + " (train one with --tasks " + task + ")");
    return "palette";
  }
  const std::string other = task == "inpaint" ? "repaint" : "sdedit";
  check_input(method == "auto" || method == "palette" || method == other,
              "--method for " + task + " must be auto, palette or " + other + ", got '" + method + "'");
  if (method == "auto") return trained ? "palette" : other;
  check_input(method != "palette" || trained, "this model was not trained for " + task +
                                                  " (--method palette needs a model trained with --tasks " + task +
                                                  "); use --method " + other);
  return method;
}

namespace {

void check_images_for(const DdpmModel& model, const torch::Tensor& images, const std::string& what) {
  const auto shape = model.image_shape();
  check_input(images.dim() == 4, what + ": expected images [N, C, H, W]");
  check_input(images.size(1) == shape[0], what + ": the image has " + std::to_string(images.size(1)) +
                                              " channel(s) but the model works on " + std::to_string(shape[0]));
  check_input(images.size(2) == shape[1] && images.size(3) == shape[2],
              what + ": the image is " + std::to_string(images.size(3)) + "x" + std::to_string(images.size(2)) +
                  " but the model works on " + std::to_string(shape[2]) + "x" + std::to_string(shape[1]));
}

torch::Tensor labels_for(const DdpmModel& model, const ImageToImageOptions& o, int64_t n) {
  if (model.num_classes() == 0) return {};
  return o.labels.defined() ? o.labels : torch::full({n}, model.num_classes(), torch::kInt64);
}

}  // namespace

torch::Tensor inpaint_image(DdpmModel& model, const torch::Tensor& images, const torch::Tensor& fill_in,
                            const ImageToImageOptions& o, torch::Generator& rng) {
  check_images_for(model, images, "inpaint");
  check_input(fill_in.dim() == 4 && fill_in.size(1) == 1 && fill_in.size(2) == images.size(2) &&
                  fill_in.size(3) == images.size(3) && (fill_in.size(0) == 1 || fill_in.size(0) == images.size(0)),
              "inpaint: the mask is " + std::to_string(fill_in.size(-1)) + "x" + std::to_string(fill_in.size(-2)) +
                  " but the image is " + std::to_string(images.size(3)) + "x" + std::to_string(images.size(2)) +
                  "; they must be the same size");
  const torch::Tensor fill = (fill_in > 0.5).to(torch::kFloat32).expand({images.size(0), 1, images.size(2), images.size(3)});
  check_input(fill.flatten(1).amax(1).min().item<float>() > 0,
              "inpaint: the mask has nothing to fill (white marks the pixels to fill)");
  const std::string method = resolve_image_method(model, "inpaint", o.method);
  const torch::Tensor labels = labels_for(model, o, images.size(0));
  torch::Tensor x = torch::randn(images.sizes(), rng);
  if (method == "repaint") {
    check_input(o.sampler == Sampler::kDdim, "--sampler " + sampler_names().name(o.sampler) +
                                                 " is for --method palette; repaint takes its own steps (--steps, --resample)");
    RepaintOptions r;
    r.steps = o.steps;
    r.resample = o.resample;
    r.on_step = o.on_step;
    return repaint(model.schedule(), model.eps_function(labels, o.guidance), images, fill, x, r, rng);
  }
  SampleOptions so;
  so.sampler = o.sampler;
  so.steps = o.steps;
  so.on_step = o.on_step;
  torch::Tensor out = diffusion_sample(model.schedule(), model.eps_function(labels, o.guidance, inpaint_condition(images, fill)),
                                       x, so, rng);
  return torch::where(fill.expand_as(images) > 0.5, out, images);
}

torch::Tensor restore_image(DdpmModel& model, const torch::Tensor& degraded, const ImageToImageOptions& o,
                            torch::Generator& rng) {
  check_images_for(model, degraded, "restore");
  const std::string method = resolve_image_method(model, "restore", o.method);
  const torch::Tensor labels = labels_for(model, o, degraded.size(0));
  SampleOptions so;
  so.sampler = o.sampler;
  so.steps = o.steps;
  so.on_step = o.on_step;
  if (method == "sdedit") {
    check_input(o.strength > 0 && o.strength <= 1, "--strength must be in (0, 1]");
    const int64_t T = model.schedule().steps();
    so.start = std::clamp<int64_t>(std::llround(o.strength * T) - 1, 0, T - 1);
    so.steps = std::max<int64_t>(1, std::llround(o.steps * o.strength));
    torch::Tensor t = torch::full({degraded.size(0)}, so.start, torch::kInt64);
    torch::Tensor x = q_sample(model.schedule(), degraded, t, torch::randn(degraded.sizes(), rng));
    return diffusion_sample(model.schedule(), model.eps_function(labels, o.guidance), x, so, rng);
  }
  return diffusion_sample(model.schedule(), model.eps_function(labels, o.guidance, restore_condition(degraded)),
                          torch::randn(degraded.sizes(), rng), so, rng);
}

namespace {

// Each step's predicted x0 is moved onto the gray input's luma and alpha (with_luma) and the
// step goes on from it, by the noise that x0 implies.
EpsFunction keep_luma(const NoiseSchedule& s, EpsFunction eps, const torch::Tensor& gray) {
  return [&s, eps = std::move(eps), gray](const torch::Tensor& x_t, int64_t t) {
    const double ab = s.ab(t);
    const torch::Tensor x0 = with_luma(predict_x0(s, x_t, t, eps(x_t, t), false), gray);
    return (x_t - std::sqrt(ab) * x0) / std::sqrt(1 - ab);
  };
}

}  // namespace

torch::Tensor colorize_image(DdpmModel& model, const torch::Tensor& input, const std::string& task,
                             const ImageToImageOptions& o, torch::Generator& rng) {
  check_images_for(model, input, task);
  resolve_image_method(model, task, o.method);
  SampleOptions so;
  so.sampler = o.sampler;
  so.steps = o.steps;
  so.on_step = o.on_step;
  EpsFunction eps = model.eps_function(labels_for(model, o, input.size(0)), o.guidance, restore_condition(input));
  if (task == "colorize" && o.keep_luma) eps = keep_luma(model.schedule(), std::move(eps), input);
  torch::Tensor out = diffusion_sample(model.schedule(), eps, torch::randn(input.sizes(), rng), so, rng);
  if (task == "colorize" && input.size(1) == 4) {  // the shape is known: alpha kept, the color clamped to it
    torch::Tensor alpha = input.slice(1, 3, 4);
    out = torch::cat({torch::minimum(out.slice(1, 0, 3), alpha), alpha}, 1);
  }
  return out.clamp(-1, 1);
}

}  // namespace latentkit
