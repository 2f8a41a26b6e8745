// Noise schedules, the forward process, DDIM / DDPM steps, DPM-Solver++(2M), RePaint and
// Palette inpainting, and the ddpm family behind the Generator interface.
#include "latentkit/models/diffusion.h"

#include <cmath>
#include <map>

#include <gtest/gtest.h>

#include "latentkit/core/error.h"
#include "latentkit/core/grid.h"
#include "latentkit/data/degrade.h"

#include "test_util.h"

namespace latentkit {
namespace {

using test_util::error_of;

TEST(Schedule, LinearMatchesItsClosedForm) {
  NoiseSchedule s = make_schedule(ScheduleKind::kLinear, 1000);
  ASSERT_EQ(s.steps(), 1000);
  EXPECT_NEAR(s.betas[0].item<double>(), 1e-4, 1e-15);
  EXPECT_NEAR(s.betas[999].item<double>(), 0.02, 1e-15);
  // prod_{i <= t} (1 - beta_i), computed apart (Python, pure floats).
  EXPECT_NEAR(s.ab(0), 0.9999, 1e-15);
  EXPECT_NEAR(s.ab(499), 0.07858724288177821, 1e-12);
  EXPECT_NEAR(s.ab(999), 4.0358297653756754e-05, 1e-15);
  EXPECT_EQ(s.ab(-1), 1.0);
  double prod = 1.0;
  for (int t = 0; t < 1000; ++t) {
    prod *= 1.0 - (1e-4 + (0.02 - 1e-4) * t / 999.0);
    if (t % 97 == 0) {
      EXPECT_NEAR(s.ab(t), prod, 1e-12 * std::max(prod, 1e-3)) << t;
    }
  }
  // Fewer steps scale the betas so the ends stay alike (improved DDPM).
  EXPECT_NEAR(make_schedule(ScheduleKind::kLinear, 100).betas[0].item<double>(), 1e-3, 1e-15);
}

TEST(Schedule, CosineMatchesItsClosedForm) {
  const int64_t T = 1000;
  NoiseSchedule s = make_schedule(ScheduleKind::kCosine, T);
  auto f = [&](double u) { return std::pow(std::cos((u / T + 0.008) / 1.008 * M_PI / 2), 2); };
  for (int64_t t : {0, 1, 10, 250, 499, 750, 990, 998}) EXPECT_NEAR(s.ab(t), f(t + 1) / f(0), 1e-12) << t;
  EXPECT_NEAR(s.ab(499), 0.49384359044063775, 1e-12);
  // The last beta is clipped to 0.999 (f(T) is ~0), so alpha_bar ends just above 0.
  EXPECT_DOUBLE_EQ(s.betas[T - 1].item<double>(), 0.999);
  EXPECT_NEAR(s.ab(T - 1), 2.4287669070348567e-09, 1e-18);
  EXPECT_TRUE((s.betas.slice(0, 1) >= 0).all().item<bool>());
  EXPECT_TRUE((s.alpha_bar.slice(0, 1) < s.alpha_bar.slice(0, 0, -1)).all().item<bool>());
}

TEST(Schedule, BadKindsAreErrors) {
  EXPECT_EQ(error_of([] { schedule_names().parse("quadratic"); }), "unknown --schedule 'quadratic' (expected linear or cosine)");
  EXPECT_EQ(prediction_names().parse("v"), Prediction::kV);
  EXPECT_NE(error_of([] { make_schedule(ScheduleKind::kLinear, 1); }).find("timesteps"), std::string::npos);
  NoiseSchedule s = make_schedule(ScheduleKind::kLinear, 10);
  EXPECT_NE(error_of([&] { s.ab(10); }).find("outside"), std::string::npos);
}

TEST(ForwardProcess, HasTheRightMeanAndVariance) {
  // q(x_t | x_0) = N(sqrt(ab) x0, (1 - ab) I), on 200,000 draws per step.
  NoiseSchedule s = make_schedule(ScheduleKind::kLinear, 1000);
  torch::manual_seed(5);
  const int64_t n = 200000;
  for (int64_t t : {0, 100, 500, 999}) {
    torch::Tensor x0 = torch::full({n, 1, 1, 1}, 0.7);
    torch::Tensor x = q_sample(s, x0, torch::full({n}, t, torch::kInt64), torch::randn({n, 1, 1, 1}));
    const double ab = s.ab(t), sd = std::sqrt((1 - ab) / n);
    EXPECT_NEAR(x.mean().item<double>(), std::sqrt(ab) * 0.7, 5 * sd + 1e-6) << t;
    EXPECT_NEAR(x.var().item<double>(), 1 - ab, 5 * (1 - ab) * std::sqrt(2.0 / n) + 1e-7) << t;
  }
  // One t per image.
  torch::Tensor x0 = torch::ones({2, 1, 2, 2});
  torch::Tensor x = q_sample(s, x0, torch::tensor({0, 999}), torch::zeros({2, 1, 2, 2}));
  EXPECT_NEAR(x[0].mean().item<double>(), std::sqrt(s.ab(0)), 1e-6);
  EXPECT_NEAR(x[1].mean().item<double>(), std::sqrt(s.ab(999)), 1e-6);
}

TEST(ForwardProcess, VPredictionRoundTrips) {
  NoiseSchedule s = make_schedule(ScheduleKind::kCosine, 1000);
  torch::manual_seed(1);
  torch::Tensor x0 = torch::rand({4, 1, 3, 3}) * 2 - 1, noise = torch::randn({4, 1, 3, 3});
  torch::Tensor t = torch::tensor({0, 300, 700, 999});
  torch::Tensor x_t = q_sample(s, x0, t, noise);
  EXPECT_TRUE(torch::allclose(eps_from_v(s, x_t, t, v_target(s, x0, t, noise)), noise, 1e-4, 1e-4));
}

TEST(Samplers, TimestepsAreEvenAndDescending) {
  EXPECT_EQ(sampling_timesteps(1000, 5), (std::vector<int64_t>{800, 600, 400, 200, 0}));
  const std::vector<int64_t> fifty = sampling_timesteps(1000, 50);  // DDIM's: 980, 960, ..., 0
  ASSERT_EQ(fifty.size(), 50u);
  EXPECT_EQ(fifty.front(), 980);
  EXPECT_EQ(fifty[1], 960);
  EXPECT_EQ(fifty.back(), 0);
  EXPECT_EQ(sampling_timesteps(10, 50), (std::vector<int64_t>{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}));
  EXPECT_EQ(sampling_timesteps(1000, 3, 400), (std::vector<int64_t>{400, 200, 0}));
  EXPECT_EQ(sampling_timesteps(1000, 1), (std::vector<int64_t>{0}));
  EXPECT_EQ(sampling_timesteps(1000, 1000).front(), 999);
}

TEST(Samplers, DdimStepWithEtaZeroIsExactGivenTheTrueNoise) {
  // A stub model that knows the noise: one step from t to any earlier step lands exactly on
  // q's mean path, sqrt(ab_prev) x0 + sqrt(1 - ab_prev) eps, and to t = -1 on x0 itself.
  NoiseSchedule s = make_schedule(ScheduleKind::kLinear, 1000);
  torch::manual_seed(2);
  torch::Tensor x0 = torch::rand({3, 1, 4, 4}) * 1.8 - 0.9, eps = torch::randn({3, 1, 4, 4});
  for (auto [t, t_prev] : std::vector<std::pair<int64_t, int64_t>>{{999, 500}, {500, 499}, {10, -1}, {999, -1}}) {
    torch::Tensor x_t = q_sample(s, x0, torch::full({3}, t, torch::kInt64), eps);
    torch::Tensor back = ddim_step(s, x_t, t, t_prev, eps, 0.0, {});
    torch::Tensor expect = std::sqrt(s.ab(t_prev)) * x0 + std::sqrt(1 - s.ab(t_prev)) * eps;
    EXPECT_LT((back - expect).abs().max().item<double>(), 2e-5) << t << " -> " << t_prev;
  }
  // A whole DDIM run with the stub ends on x0.
  EpsFunction oracle = [&](const torch::Tensor& x, int64_t t) {
    return (x - std::sqrt(s.ab(t)) * x0) / std::sqrt(1 - s.ab(t));
  };
  torch::Generator rng = make_rng(0);
  SampleOptions o;
  o.steps = 20;
  torch::Tensor x_T = q_sample(s, x0, torch::full({3}, int64_t{999}), eps);
  EXPECT_LT((diffusion_sample(s, oracle, x_T, o, rng) - x0).abs().max().item<double>(), 1e-4);
}

TEST(Samplers, DdimWithEtaOneIsTheDdpmPosterior) {
  // Over consecutive steps, eta = 1 gives DDPM's posterior q(x_{t-1} | x_t, x0): mean
  // sqrt(ab_{t-1}) beta_t / (1 - ab_t) x0 + sqrt(alpha_t) (1 - ab_{t-1}) / (1 - ab_t) x_t,
  // variance beta~_t = (1 - ab_{t-1}) / (1 - ab_t) beta_t.
  NoiseSchedule s = make_schedule(ScheduleKind::kCosine, 1000);
  torch::manual_seed(3);
  torch::Tensor x0 = torch::rand({2, 1, 3, 3}) - 0.5, eps = torch::randn({2, 1, 3, 3}), z = torch::randn({2, 1, 3, 3});
  for (int64_t t : {1, 400, 900}) {
    const double ab = s.ab(t), ab_prev = s.ab(t - 1), beta = s.betas[t].item<double>();
    torch::Tensor x_t = q_sample(s, x0, torch::full({2}, t), eps);
    torch::Tensor mean = std::sqrt(ab_prev) * beta / (1 - ab) * x0 + std::sqrt(1 - beta) * (1 - ab_prev) / (1 - ab) * x_t;
    torch::Tensor expect = mean + std::sqrt((1 - ab_prev) / (1 - ab) * beta) * z;
    EXPECT_LT((ddim_step(s, x_t, t, t - 1, eps, 1.0, z) - expect).abs().max().item<double>(), 1e-4) << t;
  }
  EXPECT_NE(error_of([&] { ddim_step(s, x0, 5, 4, eps, 1.0, {}); }).find("needs noise"), std::string::npos);
  EXPECT_NE(error_of([&] { ddim_step(s, x0, 5, 5, eps, 0.0, {}); }).find("back in time"), std::string::npos);
}

TEST(Samplers, ClippingKeepsThePredictedImageInRange) {
  NoiseSchedule s = make_schedule(ScheduleKind::kLinear, 1000);
  torch::Tensor x_t = torch::full({1, 1, 2, 2}, 3.0);
  torch::Tensor out = ddim_step(s, x_t, 10, -1, torch::zeros({1, 1, 2, 2}), 0.0, {}, true);
  EXPECT_TRUE(torch::allclose(out, torch::ones({1, 1, 2, 2})));
  EXPECT_GT(ddim_step(s, x_t, 10, -1, torch::zeros({1, 1, 2, 2}), 0.0, {}, false).min().item<double>(), 2.9);
}

// The golden values of the DPM-Solver++(2M) tests come from an implementation written apart
// from latentkit (Python, NumPy, float64: the paper's Algorithm 2 in the data prediction, on
// the closed-form schedules), run once; the numbers are committed here.

// A closed-form "model": eps(x, t) = 0.8 x_i + 0.15 x_{i+1} - 0.1 x_{i+3} + 0.2 cos(pi t / T)
// w_i over the 8 values of x (indices mod 8, w_i = i mod 3 - 1).
EpsFunction linear_eps(int64_t T) {
  return [T](const torch::Tensor& x, int64_t t) {
    torch::Tensor flat = x.reshape({-1});
    torch::Tensor w = torch::tensor({-1.f, 0.f, 1.f, -1.f, 0.f, 1.f, -1.f, 0.f});
    torch::Tensor e = 0.8 * flat + 0.15 * torch::roll(flat, {-1}) - 0.1 * torch::roll(flat, {-3}) +
                      0.2 * std::cos(M_PI * double(t) / double(T)) * w;
    return e.view(x.sizes());
  };
}

torch::Tensor golden_x_T() {  // 1.5 sin(1.3 k + 0.2), k = 0..7
  return torch::tensor({0.2980039962f, 1.4962424799f, 0.5024822252f, -1.2274156666f, -1.1591467313f, 0.6072748809f,
                        1.4840373699f, 0.1866816353f})
      .view({2, 1, 2, 2});
}

torch::Tensor sample_with(const NoiseSchedule& s, const EpsFunction& eps, const torch::Tensor& x, Sampler sampler,
                          int64_t steps, bool clip = true, int64_t start = -1) {
  SampleOptions o;
  o.sampler = sampler;
  o.steps = steps;
  o.clip = clip;
  o.start = start;
  torch::Generator rng = make_rng(0);
  return diffusion_sample(s, eps, x, o, rng);
}

void expect_values(const torch::Tensor& got, const std::vector<double>& expected, double tolerance) {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(expected.size()));
  torch::Tensor flat = got.reshape({-1}).to(torch::kFloat64);
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(flat[i].item<double>(), expected[i], tolerance) << i;
}

TEST(Samplers, DpmppMatchesAnIndependentImplementation) {
  NoiseSchedule cosine = make_schedule(ScheduleKind::kCosine, 1000), linear = make_schedule(ScheduleKind::kLinear, 1000);
  const EpsFunction eps = linear_eps(1000);
  const torch::Tensor x = golden_x_T();
  // 10 steps (995, 896, ..., 100), clipped: two values end on the clip; unclipped.
  expect_values(sample_with(cosine, eps, x, Sampler::kDpmpp, 10),
                {-0.3744215399, 0.8442705519, 0.7515524500, -0.5031396354, -1.0, 0.1979589850, 1.0, 0.5138558917}, 2e-5);
  expect_values(sample_with(cosine, eps, x, Sampler::kDpmpp, 10, false),
                {-9.7224341903, -3.4055502965, 11.8837809318, 0.6558565876, -5.9707252222, -1.6801019364, 3.5865454604,
                 8.3446616232},
                1e-4);
  // SDEdit's start: 400, 300, 200, 100.
  expect_values(sample_with(cosine, eps, x, Sampler::kDpmpp, 4, true, 400),
                {0.1427847968, 0.9686979052, 0.3730670459, -0.6245773114, -0.8543423402, 0.2446494475, 1.0, 0.1433532506},
                2e-5);
  // 20 steps on the linear schedule, unclipped.
  expect_values(sample_with(linear, eps, x, Sampler::kDpmpp, 20, false),
                {-1.3567903901, -0.4671393189, 2.1725992303, 0.3727673844, -1.3929567479, -0.9005389600, 1.4690959498,
                 2.3408628704},
                5e-5);
}

TEST(Samplers, DpmppTakesItsOwnTimeSteps) {
  // From where x_T is noise (lambda >= -5.1: T - 1 on the linear schedule, 995 on the
  // cosine one) down to start / n: every call on the way down.
  NoiseSchedule s = make_schedule(ScheduleKind::kCosine, 1000), linear = make_schedule(ScheduleKind::kLinear, 1000);
  EXPECT_EQ(dpmpp_timesteps(s, 10), (std::vector<int64_t>{995, 896, 796, 697, 597, 498, 398, 299, 199, 100}));
  EXPECT_EQ(dpmpp_timesteps(linear, 10), (std::vector<int64_t>{999, 899, 799, 699, 599, 500, 400, 300, 200, 100}));
  EXPECT_EQ(dpmpp_timesteps(s, 4, 400), (std::vector<int64_t>{400, 300, 200, 100}));
  EXPECT_EQ(dpmpp_timesteps(linear, 50, 9), (std::vector<int64_t>{9, 8, 7, 6, 5, 4, 3, 2, 1}));  // at most one a step
  EXPECT_EQ(dpmpp_timesteps(s, 3, 0), (std::vector<int64_t>{0}));
  EXPECT_EQ(sampling_timesteps(1000, 4), (std::vector<int64_t>{750, 500, 250, 0}));  // DDIM's, unchanged
  // One step is the data prediction at the first step, clipped.
  const EpsFunction eps = linear_eps(1000);
  const torch::Tensor x = golden_x_T();
  const torch::Tensor x0 = ((x - std::sqrt(1 - s.ab(995)) * eps(x, 995)) / std::sqrt(s.ab(995))).clamp(-1, 1);
  EXPECT_TRUE(torch::equal(sample_with(s, eps, x, Sampler::kDpmpp, 1), x0));
  expect_values(sample_with(s, eps, golden_x_T(), Sampler::kDdim, 2),
                {-0.1650380026, 0.7267681168, 0.5539663127, -0.4283470930, -0.7854195590, 0.1774106997, 1.0, 0.1208551786},
                2e-5);
}

TEST(Samplers, DpmppEndsOnTheImageGivenTheTrueNoise) {
  // With the true noise the data prediction is x0 at every step, so every update stays on
  // q's mean path and the last one returns x0.
  NoiseSchedule s = make_schedule(ScheduleKind::kCosine, 1000);
  torch::manual_seed(2);
  torch::Tensor x0 = torch::rand({3, 1, 4, 4}) * 1.8 - 0.9, noise = torch::randn({3, 1, 4, 4});
  EpsFunction oracle = [&](const torch::Tensor& x, int64_t t) {
    return (x - std::sqrt(s.ab(t)) * x0) / std::sqrt(1 - s.ab(t));
  };
  torch::Tensor x_T = q_sample(s, x0, torch::full({3}, int64_t{995}), noise);
  EXPECT_LT((sample_with(s, oracle, x_T, Sampler::kDpmpp, 10) - x0).abs().max().item<double>(), 1e-4);
}

TEST(Samplers, DpmppLandsCloserToAGaussianThanDdim) {
  // Data N(mu, sd^2) per pixel has the exact noise prediction eps(x, t) = s_t (x - a_t mu) /
  // (a_t^2 sd^2 + s_t^2), and the probability-flow ODE carries x_t's marginal N(a_t mu, a_t^2
  // sd^2 + s_t^2) onto the data. The samplers are then affine in x, so the images of
  // mean +- std at the first step are the samples' mean +- std: exact, no sampling noise.
  NoiseSchedule s = make_schedule(ScheduleKind::kCosine, 1000);
  const torch::Tensor mu = torch::tensor({-0.5, 0.0, 0.3, 0.6}, torch::kFloat64).view({1, 1, 2, 2});
  const torch::Tensor sd = torch::tensor({0.1, 0.2, 0.4, 0.8}, torch::kFloat64).view({1, 1, 2, 2});
  EpsFunction exact = [&](const torch::Tensor& x, int64_t t) {
    const double a = std::sqrt(s.ab(t)), var = 1 - s.ab(t);
    return std::sqrt(var) * (x - a * mu) / (a * a * sd * sd + var);
  };
  struct Expected {
    int64_t steps;
    std::vector<double> ddim, dpmpp;  // sample std / sd (golden, from the implementation apart)
  };
  for (const Expected& e : {Expected{10, {0.5374777946, 0.7198431774, 0.8369369484, 0.8882958134},
                                     {0.4983021995, 0.7476861464, 0.9196660442, 0.9785490608}},
                            Expected{20, {0.7288584467, 0.8507581946, 0.9148978677, 0.9408045024},
                                     {0.7300398871, 0.9145961081, 0.9887637653, 0.9987512434}}}) {
    std::map<Sampler, torch::Tensor> ratio;
    for (Sampler sampler : {Sampler::kDdim, Sampler::kDpmpp}) {
      // x_T's marginal at the sampler's own first step.
      const int64_t t0 = sampler == Sampler::kDdim ? sampling_timesteps(1000, e.steps)[0] : dpmpp_timesteps(s, e.steps)[0];
      const double a0 = std::sqrt(s.ab(t0));
      const torch::Tensor mean0 = a0 * mu, std0 = (a0 * a0 * sd * sd + 1 - a0 * a0).sqrt();
      torch::Tensor hi = sample_with(s, exact, mean0 + std0, sampler, e.steps, false);
      torch::Tensor lo = sample_with(s, exact, mean0 - std0, sampler, e.steps, false);
      EXPECT_LT(((hi + lo) / 2 - mu).abs().max().item<double>(), 1e-9) << e.steps;  // the mean is exact
      ratio[sampler] = (hi - lo) / 2 / sd;
    }
    expect_values(ratio[Sampler::kDdim], e.ddim, 1e-8);
    expect_values(ratio[Sampler::kDpmpp], e.dpmpp, 1e-8);
    // Closer on average over the four pixels; at 10 steps the narrowest (sd 0.1) comes out a
    // little narrower than DDIM's (0.50 against 0.54 of its width).
    EXPECT_LT((ratio[Sampler::kDpmpp] - 1).abs().sum().item<double>(), (ratio[Sampler::kDdim] - 1).abs().sum().item<double>())
        << e.steps;
  }
}

TEST(Samplers, SamplerNamesAndDpmppErrors) {
  EXPECT_EQ(sampler_names().parse("dpmpp"), Sampler::kDpmpp);
  EXPECT_EQ(error_of([] { sampler_names().parse("euler"); }), "unknown --sampler 'euler' (expected ddim, ddpm or dpmpp)");
  NoiseSchedule s = make_schedule(ScheduleKind::kCosine, 100);
  SampleOptions o;
  o.sampler = Sampler::kDpmpp;
  o.eta = 0.5;
  torch::Generator rng = make_rng(0);
  EXPECT_EQ(error_of([&] { diffusion_sample(s, linear_eps(100), golden_x_T(), o, rng); }),
            "--eta is for --sampler ddim; dpmpp is deterministic (eta 0)");
}

// A tiny U-Net model, random weights: enough to run every path.
DdpmModel tiny_model(std::vector<std::string> tasks = {}, int64_t classes = 0) {
  DdpmOptions o;
  o.unet.channels(1).image_size(8).width(8).mults({1, 2}).groups(4).num_classes(classes);
  o.timesteps = 50;
  o.sample_steps = 4;
  o.tasks = std::move(tasks);
  validate_ddpm_options(o);
  torch::manual_seed(11);
  return DdpmModel(UNet(o.unet), o);
}

TEST(Inpainting, RepaintAndPaletteLeaveKnownPixelsUntouched) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(4);
  torch::Tensor images = torch::rand({2, 1, 8, 8}) * 2 - 1;
  torch::Tensor fill = torch::zeros({1, 1, 8, 8});
  fill.slice(2, 2, 6).slice(3, 1, 5).fill_(1.0);
  const torch::Tensor known = (fill < 0.5).expand_as(images);
  DdpmModel plain = tiny_model();
  ImageToImageOptions o;
  o.steps = 5;
  o.resample = 3;
  torch::Generator rng = make_rng(1);
  torch::Tensor a = inpaint_image(plain, images, fill, o, rng);
  EXPECT_TRUE(torch::equal(a.masked_select(known), images.masked_select(known)));
  EXPECT_GT((a - images).abs().masked_select(~known).mean().item<double>(), 0.05);  // the hole was redrawn
  EXPECT_EQ(resolve_image_method(plain, "inpaint", "auto"), "repaint");
  DdpmModel palette = tiny_model({"inpaint"});
  EXPECT_EQ(resolve_image_method(palette, "inpaint", "auto"), "palette");
  torch::Tensor b = inpaint_image(palette, images, fill, o, rng);
  EXPECT_TRUE(torch::equal(b.masked_select(known), images.masked_select(known)));
  EXPECT_NE(error_of([&] { resolve_image_method(plain, "inpaint", "palette"); }).find("--tasks inpaint"),
            std::string::npos);
}

TEST(Inpainting, RepaintWithAnOracleRecoversTheImage) {
  // With the true x0's noise as the model, RePaint's unknown pixels end on x0 too.
  NoiseSchedule s = make_schedule(ScheduleKind::kLinear, 200);
  torch::manual_seed(6);
  torch::Tensor x0 = torch::rand({1, 1, 6, 6}) * 1.6 - 0.8, fill = torch::zeros({1, 1, 6, 6});
  fill.slice(2, 0, 3).fill_(1.0);
  EpsFunction oracle = [&](const torch::Tensor& x, int64_t t) {
    return (x - std::sqrt(s.ab(t)) * x0) / std::sqrt(1 - s.ab(t));
  };
  torch::Generator rng = make_rng(2);
  RepaintOptions o;
  o.steps = 10;
  o.resample = 2;
  torch::Tensor out = repaint(s, oracle, x0, fill, torch::randn({1, 1, 6, 6}), o, rng);
  EXPECT_LT((out - x0).abs().max().item<double>(), 1e-4);
}

TEST(Inpainting, BadInputIsAClearError) {
  DdpmModel m = tiny_model();
  torch::Generator rng = make_rng(1);
  ImageToImageOptions o;
  torch::Tensor images = torch::zeros({1, 1, 8, 8});
  EXPECT_NE(error_of([&] { inpaint_image(m, images, torch::zeros({1, 1, 8, 8}), o, rng); }, true).find("nothing to fill"),
            std::string::npos);
  EXPECT_NE(error_of([&] { inpaint_image(m, images, torch::ones({1, 1, 6, 6}), o, rng); }, true).find("same size"),
            std::string::npos);
  EXPECT_NE(error_of([&] { inpaint_image(m, torch::zeros({1, 3, 8, 8}), torch::ones({1, 1, 8, 8}), o, rng); }, true)
                .find("3 channel(s)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { restore_image(m, torch::zeros({1, 1, 9, 9}), o, rng); }, true).find("9x9"), std::string::npos);
}

TEST(Restoring, SdeditAndPaletteRun) {
  torch::NoGradGuard no_grad;
  DdpmModel plain = tiny_model(), palette = tiny_model({"restore"});
  EXPECT_EQ(resolve_image_method(plain, "restore", "auto"), "sdedit");
  EXPECT_EQ(resolve_image_method(palette, "restore", "auto"), "palette");
  torch::Generator rng = make_rng(3);
  ImageToImageOptions o;
  o.steps = 4;
  torch::Tensor x = torch::rand({2, 1, 8, 8}) * 2 - 1;
  for (DdpmModel* m : {&plain, &palette}) {
    torch::Tensor out = restore_image(*m, x, o, rng);
    EXPECT_EQ(out.sizes(), x.sizes());
    EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
  }
  // SDEdit at a tiny strength barely moves the image.
  o.method = "sdedit";
  o.strength = 0.02;
  EXPECT_LT((restore_image(plain, x, o, rng) - x).abs().mean().item<double>(), 0.1);
}

TEST(Colorizing, EveryStepKeepsTheInputsLumaAndAlpha) {
  torch::NoGradGuard no_grad;
  DdpmOptions opts;
  opts.unet.channels(4).image_size(8).width(8).mults({1, 2}).groups(4);
  opts.timesteps = 50;
  opts.sample_steps = 4;
  opts.tasks = {"colorize"};
  opts.prediction = Prediction::kV;
  validate_ddpm_options(opts);
  torch::manual_seed(11);
  DdpmModel model(UNet(opts.unet), opts);
  // Small weights, so the predicted x0 stays in range (nothing clipped) and the luma is exact.
  for (torch::Tensor& p : model.net()->parameters()) p.mul_(0.05);
  // Mid-range colors on an opaque disc with a transparent corner, premultiplied.
  torch::Tensor alpha = torch::ones({2, 1, 8, 8});
  alpha.slice(2, 0, 2).slice(3, 0, 2).fill_(0);
  torch::Tensor rgb = (torch::rand({2, 3, 8, 8}) * 0.6 + 0.2) * alpha;
  const torch::Tensor gray = to_gray(torch::cat({rgb, alpha}, 1) * 2 - 1);
  ImageToImageOptions o;
  o.steps = 4;
  torch::Generator rng = make_rng(5);
  const torch::Tensor kept = colorize_image(model, gray, "colorize", o, rng);
  o.keep_luma = false;
  rng = make_rng(5);
  const torch::Tensor free = colorize_image(model, gray, "colorize", o, rng);
  EXPECT_TRUE(torch::equal(kept.slice(1, 3, 4), gray.slice(1, 3, 4)));
  // Where nothing was clipped the luma is the input's, exactly up to round-off; a random
  // network left free draws its own.
  const torch::Tensor unclipped = ((kept.slice(1, 0, 3).abs() < 0.999).all(1, true) & (alpha > 0)).expand({-1, 1, -1, -1});
  ASSERT_GT(unclipped.sum().item<int64_t>(), 50);
  const torch::Tensor err = (luma(kept.slice(1, 0, 3)) - gray.slice(1, 0, 1)).abs().masked_select(unclipped);
  EXPECT_LT(err.max().item<double>(), 1e-4);
  EXPECT_GT((luma(free.slice(1, 0, 3)) - gray.slice(1, 0, 1)).abs().mean().item<double>(), 0.05);
}

TEST(ImageToImage, PaletteAndSdeditTakeTheSampler) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(4);
  torch::Tensor images = torch::rand({2, 1, 8, 8}) * 2 - 1;
  torch::Tensor fill = torch::zeros({1, 1, 8, 8});
  fill.slice(2, 2, 6).slice(3, 1, 5).fill_(1.0);
  const torch::Tensor known = (fill < 0.5).expand_as(images);
  DdpmModel palette = tiny_model({"inpaint", "restore"});
  ImageToImageOptions o;
  o.steps = 6;
  std::map<Sampler, torch::Tensor> filled;
  for (Sampler sampler : {Sampler::kDdim, Sampler::kDpmpp}) {
    o.sampler = sampler;
    torch::Generator rng = make_rng(1);  // the same x_T for both
    filled[sampler] = inpaint_image(palette, images, fill, o, rng);
    EXPECT_TRUE(torch::equal(filled[sampler].masked_select(known), images.masked_select(known)));
  }
  EXPECT_GT((filled[Sampler::kDpmpp] - filled[Sampler::kDdim]).abs().max().item<double>(), 1e-3);
  // The sampler is the one in SampleOptions: the same result by hand.
  torch::Generator rng = make_rng(1);
  torch::Tensor x_T = torch::randn(images.sizes(), rng);
  torch::Tensor by_hand = sample_with(palette.schedule(), palette.eps_function({}, 1.0, inpaint_condition(images, fill)),
                                      x_T, Sampler::kDpmpp, 6);
  EXPECT_TRUE(torch::allclose(filled[Sampler::kDpmpp], torch::where(fill.expand_as(images) > 0.5, by_hand, images)));
  // RePaint keeps its own steps.
  o.method = "repaint";
  EXPECT_EQ(error_of([&] { inpaint_image(palette, images, fill, o, rng); }),
            "--sampler dpmpp is for --method palette; repaint takes its own steps (--steps, --resample)");
  // SDEdit and the restore task run dpmpp; SDEdit at a tiny strength barely moves the image.
  o.method = "sdedit";
  o.strength = 0.02;
  EXPECT_LT((restore_image(palette, images, o, rng) - images).abs().mean().item<double>(), 0.1);
  o.method = "palette";
  torch::Tensor restored = restore_image(palette, images, o, rng);
  EXPECT_EQ(restored.sizes(), images.sizes());
  EXPECT_LE(restored.abs().max().item<double>(), 1.0);
}

TEST(Conditions, PaletteConditionChannels) {
  torch::Tensor image = torch::full({1, 1, 2, 2}, 0.5), fill = torch::tensor({1.f, 0.f, 0.f, 0.f}).view({1, 1, 2, 2});
  torch::Tensor c = inpaint_condition(image, fill);
  ASSERT_EQ(c.sizes(), (std::vector<int64_t>{1, 3, 2, 2}));
  EXPECT_TRUE(torch::equal(c[0][0], torch::tensor({0.f, 0.5f, 0.5f, 0.5f}).view({2, 2})));
  EXPECT_TRUE(torch::equal(c[0][1], 1 - fill[0][0]));
  EXPECT_EQ(c[0][2].abs().sum().item<float>(), 0.f);
  torch::Tensor r = restore_condition(image);
  EXPECT_TRUE(torch::equal(r[0][0], image[0][0]));
  EXPECT_EQ(r[0][2].min().item<float>(), 1.f);
}

TEST(DdpmModel, DecodeIsDeterministicDdimFromXT) {
  torch::NoGradGuard no_grad;
  DdpmModel m = tiny_model();
  EXPECT_EQ(m.latent_dim(), 64);
  EXPECT_EQ(m.family(), "ddpm");
  torch::Generator rng = make_rng(9);
  torch::Tensor z = m.sample_latent(3, rng);
  torch::Tensor a = m.decode(z), b = m.decode(z);
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{3, 1, 8, 8}));
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_LE(a.abs().max().item<double>(), 1.0);
  // The same as the sampler run by hand with the model's steps.
  SampleOptions o;
  o.steps = 4;
  torch::Tensor by_hand = diffusion_sample(m.schedule(), m.eps_function({}, 1.0), z.view({3, 1, 8, 8}), o, rng);
  EXPECT_TRUE(torch::allclose(a, by_hand));
  EXPECT_NE(error_of([&] { m.decode(torch::zeros({1, 10})); }).find("x_T flattened"), std::string::npos);
}

TEST(DdpmModel, DecodeWithDpmppGuidanceAndVPrediction) {
  torch::NoGradGuard no_grad;
  DdpmModel m = tiny_model({}, 3);
  torch::Generator rng = make_rng(9);
  torch::Tensor z = m.sample_latent(2, rng), labels = torch::tensor({0, 2});
  torch::Tensor x_T = z.view({2, 1, 8, 8});
  torch::Tensor ddim = m.decode(z, labels);
  m.set_decode(Sampler::kDpmpp, 6, 3.0);
  torch::Tensor dpmpp = m.decode(z, labels);
  EXPECT_GT((dpmpp - ddim).abs().max().item<double>(), 1e-3);
  // dpmpp sees only the guided noise, eps_u + w (eps_c - eps_u).
  EpsFunction cond = m.eps_function(labels, 1.0), uncond = m.eps_function({}, 1.0);
  EpsFunction guided = [&](const torch::Tensor& x, int64_t t) {
    torch::Tensor u = uncond(x, t);
    return u + 3.0 * (cond(x, t) - u);
  };
  EXPECT_TRUE(torch::allclose(dpmpp, sample_with(m.schedule(), guided, x_T, Sampler::kDpmpp, 6), 1e-4, 1e-5));
  EXPECT_NE(error_of([&] { m.set_decode(Sampler::kDdpm, 6, 1.0); }).find("ddim or dpmpp"), std::string::npos);
  // A v-prediction model: the sampler gets eps_from_v of the U-Net's output.
  DdpmOptions o = m.options();
  o.prediction = Prediction::kV;
  DdpmModel v(m.net(), o);
  SampleOptions so;
  so.sampler = Sampler::kDpmpp;
  so.steps = 6;
  torch::Tensor from_v = v.sample(x_T, labels, so, 1.0, rng);
  EpsFunction by_hand = [&](const torch::Tensor& x, int64_t t) {
    torch::Tensor tt = torch::full({x.size(0)}, t, torch::kInt64);
    return eps_from_v(v.schedule(), x, tt, v.net()->forward(x, tt, labels, {}));
  };
  EXPECT_TRUE(torch::allclose(from_v, sample_with(v.schedule(), by_hand, x_T, Sampler::kDpmpp, 6), 1e-4, 1e-5));
}

TEST(DdpmModel, GuidanceCombinesConditionalAndUnconditional) {
  torch::NoGradGuard no_grad;
  DdpmModel m = tiny_model({}, 3);
  EXPECT_EQ(m.family(), "cddpm");
  torch::Tensor x = torch::randn({2, 1, 8, 8}), labels = torch::tensor({0, 2});
  torch::Tensor c = m.eps_function(labels, 1.0)(x, 20), u = m.eps_function({}, 1.0)(x, 20);
  torch::Tensor g = m.eps_function(labels, 3.0)(x, 20);
  EXPECT_TRUE(torch::allclose(g, u + 3.0 * (c - u), 1e-4, 1e-5));
  EXPECT_FALSE(torch::allclose(c, u));
}

TEST(DdpmModel, GuidanceOnTheImageConditionOfAModelWithoutClasses) {
  torch::NoGradGuard no_grad;
  DdpmModel m = tiny_model({"restore"});
  torch::Tensor x = torch::randn({2, 1, 8, 8});
  torch::Tensor cond = restore_condition(torch::rand({2, 1, 8, 8}) * 2 - 1);
  torch::Tensor c = m.eps_function({}, 1.0, cond)(x, 20), u = m.eps_function({}, 1.0, torch::zeros_like(cond))(x, 20);
  torch::Tensor g = m.eps_function({}, 2.5, cond)(x, 20);
  EXPECT_TRUE(torch::allclose(g, u + 2.5 * (c - u), 1e-4, 1e-5));
  EXPECT_FALSE(torch::allclose(c, u));
  // With no condition there is nothing to guide on: the weight changes nothing.
  EXPECT_TRUE(torch::allclose(m.eps_function({}, 2.5)(x, 20), u, 1e-5, 1e-6));
}

}  // namespace
}  // namespace latentkit

namespace latentkit {
namespace {

// A tiny text-to-image model: the U-Net of tiny_model with a text encoder of 16 wide.
DdpmModel tiny_text_model() {
  DdpmOptions o;
  o.tokenizer = Tokenizer({"cat face", "dog face", "red apple"}, 6);
  o.unet.channels(1).image_size(8).width(8).mults({1, 2}).groups(4).text(
      TextEncoderOptions().vocab_size(o.tokenizer.vocab_size()).max_tokens(6).width(16).layers(1).heads(2));
  o.timesteps = 50;
  o.sample_steps = 4;
  validate_ddpm_options(o);
  torch::manual_seed(12);
  UNet net(o.unet);
  torch::NoGradGuard no_grad;
  net->null_text.normal_();  // trained, it is not zero; the test must tell it from an empty prompt's mean
  return DdpmModel(net, o);
}

TEST(DdpmModel, TextGuidanceCombinesThePromptAndNoPrompt) {
  torch::NoGradGuard no_grad;
  DdpmModel m = tiny_text_model();
  EXPECT_EQ(m.family(), "t2i");
  torch::Tensor tokens = m.tokenize({"cat face", "red apple"});
  EXPECT_EQ(tokens.sizes(), (std::vector<int64_t>{2, 6}));
  torch::Tensor x = torch::randn({2, 1, 8, 8});
  torch::Tensor c = m.eps_function(tokens, 1.0)(x, 20), u = m.eps_function({}, 1.0)(x, 20);
  torch::Tensor g = m.eps_function(tokens, 3.0)(x, 20);
  EXPECT_TRUE(torch::allclose(g, u + 3.0 * (c - u), 1e-4, 1e-5));
  EXPECT_FALSE(torch::allclose(c, u));
  // No prompt is the learned null vector, also for a row of padding inside a batch.
  torch::Tensor text = m.encode_prompts(torch::cat({tokens.slice(0, 0, 1), torch::zeros({1, 6}, torch::kInt64)}));
  EXPECT_TRUE(torch::equal(text[1], m.net()->null_text));
  EXPECT_TRUE(torch::allclose(text[0], m.encode_prompts(tokens)[0]));
  // Sampling from prompts and from their embeddings is the same thing.
  SampleOptions so;
  so.steps = 3;
  torch::Generator rng = make_rng(0);
  torch::Tensor a = m.sample(x, tokens, so, 2.0, rng);
  torch::Tensor b = m.sample_text(x, m.encode_prompts(tokens), so, 2.0, rng);
  EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-6));
  // decode cycles through the prompts given, as it does through classes.
  torch::Tensor z = torch::randn({3, 64});
  torch::Tensor d = m.decode(z, tokens);
  torch::Tensor first = m.decode(z.slice(0, 2, 3), tokens.slice(0, 0, 1));
  EXPECT_TRUE(torch::allclose(d[2], first[0], 1e-5, 1e-6));
}

TEST(DdpmModel, TextErrors) {
  torch::NoGradGuard no_grad;
  DdpmModel m = tiny_text_model();
  EXPECT_THROW(m.tokenize({""}), Error);
  EXPECT_THROW(m.tokenize({"cat cat cat cat cat cat cat"}), Error);
  torch::Generator rng = make_rng(0);
  EXPECT_THROW(m.sample_text(torch::randn({2, 1, 8, 8}), torch::zeros({2, 5}), SampleOptions(), 1.0, rng), Error);
  DdpmModel plain = tiny_model();
  EXPECT_THROW(plain.tokenize({"cat"}), Error);
  // A config's tokenizer must match its text encoder.
  nlohmann::json j = ddpm_options_to_json(m.options());
  EXPECT_EQ(ddpm_options_from_json(j).tokenizer.vocabulary(), m.options().tokenizer.vocabulary());
  j["tokenizer"]["vocab"].push_back("extra");
  EXPECT_THROW(ddpm_options_from_json(j), Error);
}

}  // namespace
}  // namespace latentkit
