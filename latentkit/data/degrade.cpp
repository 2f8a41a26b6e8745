#include "latentkit/data/degrade.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "latentkit/core/error.h"
#include "latentkit/core/grid.h"

namespace latentkit {
namespace {

double uniform(torch::Generator& rng, double lo, double hi) {
  return lo + (hi - lo) * torch::rand({1}, rng).item<double>();
}

int64_t randint(torch::Generator& rng, int64_t lo, int64_t hi) {  // [lo, hi]
  return lo + torch::randint(hi - lo + 1, {1}, rng).item<int64_t>();
}

void check_images(const torch::Tensor& images, const std::string& what) {
  check_input(images.dim() == 4 && images.is_floating_point(), what + ": expected float images [N, C, H, W]");
}

// Draws a thick segment from (y0, x0) to (y1, x1) into mask [H, W].
void draw_stroke(torch::Tensor& mask, double y0, double x0, double y1, double x1, double radius) {
  const int64_t h = mask.size(0), w = mask.size(1);
  torch::Tensor ys = torch::arange(h, torch::kFloat32).view({h, 1}).expand({h, w});
  torch::Tensor xs = torch::arange(w, torch::kFloat32).view({1, w}).expand({h, w});
  const double dy = y1 - y0, dx = x1 - x0, len2 = std::max(dy * dy + dx * dx, 1e-9);
  torch::Tensor u = (((ys - y0) * dy + (xs - x0) * dx) / len2).clamp(0, 1);
  torch::Tensor dist2 = (ys - (y0 + u * dy)).square() + (xs - (x0 + u * dx)).square();
  mask.masked_fill_(dist2 <= radius * radius, 1.0);
}

torch::Tensor one_mask(const std::string& kind, int64_t h, int64_t w, torch::Generator& rng) {
  if (kind == "center") return center_mask(h, w)[0][0];
  if (kind == "side") {
    static const std::array<const char*, 4> sides{"left", "right", "top", "bottom"};
    return side_mask(h, w, sides[randint(rng, 0, 3)], uniform(rng, 0.2, 0.5))[0][0];
  }
  torch::Tensor mask = torch::zeros({h, w});
  if (kind == "box") {
    const double area = uniform(rng, 0.1, 0.5), aspect = std::exp(uniform(rng, -0.7, 0.7));
    const int64_t bh = std::clamp<int64_t>(std::llround(std::sqrt(area * h * w * aspect)), 1, h);
    const int64_t bw = std::clamp<int64_t>(std::llround(std::sqrt(area * h * w / aspect)), 1, w);
    const int64_t y = randint(rng, 0, h - bh), x = randint(rng, 0, w - bw);
    mask.slice(0, y, y + bh).slice(1, x, x + bw).fill_(1.0);
    return mask;
  }
  if (kind == "strokes") {
    const int64_t strokes = randint(rng, 2, 5);
    const double radius = std::max(1.0, 0.06 * static_cast<double>(std::min(h, w)));
    for (int64_t i = 0; i < strokes; ++i) {
      draw_stroke(mask, uniform(rng, 0, h - 1), uniform(rng, 0, w - 1), uniform(rng, 0, h - 1), uniform(rng, 0, w - 1),
                  radius * uniform(rng, 0.8, 1.6));
    }
    return mask;
  }
  throw Error("unknown mask '" + kind + "' (expected center, box, strokes, side or mixed)");
}

// The IJG base quantisation tables (JPEG standard, Annex K), row-major 8x8.
const std::array<int, 64> kLuma = {16, 11, 10, 16, 24,  40,  51,  61,  12, 12, 14, 19, 26,  58,  60,  55,
                                   14, 13, 16, 24, 40,  57,  69,  56,  14, 17, 22, 29, 51,  87,  80,  62,
                                   18, 22, 37, 56, 68,  109, 103, 77,  24, 35, 55, 64, 81,  104, 113, 92,
                                   49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99};
const std::array<int, 64> kChroma = {17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
                                     24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
                                     99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
                                     99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99};

torch::Tensor quant_table(const std::array<int, 64>& base, int quality) {
  const int scale = quality < 50 ? 5000 / quality : 200 - 2 * quality;
  torch::Tensor q = torch::empty({8, 8});
  for (int i = 0; i < 64; ++i) q.view({64})[i] = static_cast<float>(std::clamp((base[i] * scale + 50) / 100, 1, 255));
  return q;
}

torch::Tensor dct_matrix() {  // orthonormal DCT-II, D[k][n]
  torch::Tensor d = torch::empty({8, 8}, torch::kFloat64);
  for (int k = 0; k < 8; ++k) {
    for (int n = 0; n < 8; ++n) {
      d[k][n] = (k == 0 ? std::sqrt(1.0 / 8) : std::sqrt(2.0 / 8)) * std::cos(M_PI * (2 * n + 1) * k / 16.0);
    }
  }
  return d.to(torch::kFloat32);
}

// plane: [N, H, W] in 0..255 - 128 with H, W multiples of 8.
torch::Tensor quantise_plane(const torch::Tensor& plane, const torch::Tensor& table) {
  const int64_t n = plane.size(0), h = plane.size(1), w = plane.size(2);
  static const torch::Tensor d = dct_matrix();
  torch::Tensor blocks = plane.view({n, h / 8, 8, w / 8, 8}).permute({0, 1, 3, 2, 4});  // [N, by, bx, 8, 8]
  torch::Tensor coef = torch::matmul(torch::matmul(d, blocks), d.t());
  coef = torch::round(coef / table) * table;
  torch::Tensor back = torch::matmul(torch::matmul(d.t(), coef), d);
  return back.permute({0, 1, 3, 2, 4}).reshape({n, h, w});
}

// One image's retouching (see degrade): each part with probability 0.6, at least one.
torch::Tensor retouch(torch::Tensor x, torch::Generator& rng) {
  const bool colour = x.size(1) == 3;
  std::array<bool, 4> parts{};
  while (std::none_of(parts.begin(), parts.end(), [](bool b) { return b; })) {
    for (bool& part : parts) part = uniform(rng, 0, 1) < 0.6;
    if (!colour) parts[2] = false;
  }
  if (parts[0]) x = adjust_exposure(x, uniform(rng, -0.8, 0.8), 1.0);
  if (parts[1]) x = adjust_contrast(x, std::exp(uniform(rng, -0.6, 0.6)));
  if (parts[2]) {
    torch::Tensor gains = torch::exp(torch::rand({1, 3, 1, 1}, rng) * 0.5 - 0.25);
    x = (((x + 1) / 2 * gains).clamp(0, 1)) * 2 - 1;
  }
  if (parts[3]) x = vignette(x, uniform(rng, 0.2, 0.6));
  return x;
}

}  // namespace

torch::Tensor center_mask(int64_t h, int64_t w, double fraction) {
  check_input(fraction > 0 && fraction <= 1, "center mask: fraction must be in (0, 1]");
  const int64_t side = std::max<int64_t>(1, std::llround(fraction * static_cast<double>(std::min(h, w))));
  torch::Tensor mask = torch::zeros({1, 1, h, w});
  const int64_t y = (h - side) / 2, x = (w - side) / 2;
  mask.slice(2, y, y + side).slice(3, x, x + side).fill_(1.0);
  return mask;
}

torch::Tensor side_mask(int64_t h, int64_t w, const std::string& side, double amount) {
  check_input(amount > 0 && amount < 1, "--amount must be in (0, 1), got " + std::to_string(amount));
  torch::Tensor mask = torch::zeros({1, 1, h, w});
  const int64_t rows = std::max<int64_t>(1, std::llround(amount * h)), cols = std::max<int64_t>(1, std::llround(amount * w));
  if (side == "left") {
    mask.slice(3, 0, cols).fill_(1.0);
  } else if (side == "right") {
    mask.slice(3, w - cols, w).fill_(1.0);
  } else if (side == "top") {
    mask.slice(2, 0, rows).fill_(1.0);
  } else if (side == "bottom") {
    mask.slice(2, h - rows, h).fill_(1.0);
  } else {
    throw Error("--side must be left, right, top or bottom, got '" + side + "'");
  }
  return mask;
}

const std::vector<std::string>& mask_kinds() {
  static const std::vector<std::string> kinds{"center", "box", "strokes", "side", "mixed"};
  return kinds;
}

torch::Tensor random_masks(const std::string& kind, int64_t n, int64_t h, int64_t w, torch::Generator& rng) {
  static const std::array<const char*, 4> mixed{"box", "strokes", "side", "center"};
  std::vector<torch::Tensor> masks;
  for (int64_t i = 0; i < n; ++i) masks.push_back(one_mask(kind == "mixed" ? mixed[randint(rng, 0, 3)] : kind, h, w, rng));
  return torch::stack(masks).unsqueeze(1);
}

torch::Tensor gaussian_blur(const torch::Tensor& images, double sigma) {
  check_images(images, "blur");
  check_input(sigma > 0, "blur: sigma must be > 0");
  const int64_t radius = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(3 * sigma)));
  const int64_t c = images.size(1);
  torch::Tensor x = torch::arange(-radius, radius + 1, torch::kFloat32);
  torch::Tensor k = torch::exp(-x.square() / (2 * sigma * sigma));
  k = k / k.sum();
  namespace F = torch::nn::functional;
  const int64_t pad = std::min({radius, images.size(2) - 1, images.size(3) - 1});
  torch::Tensor out = F::pad(images, F::PadFuncOptions({pad, pad, pad, pad}).mode(torch::kReflect));
  if (pad < radius) out = F::pad(out, F::PadFuncOptions({radius - pad, radius - pad, radius - pad, radius - pad}).mode(torch::kReplicate));
  out = F::conv2d(out, k.view({1, 1, 1, -1}).repeat({c, 1, 1, 1}), F::Conv2dFuncOptions().groups(c));
  return F::conv2d(out, k.view({1, 1, -1, 1}).repeat({c, 1, 1, 1}), F::Conv2dFuncOptions().groups(c));
}

torch::Tensor jpeg_artifacts(const torch::Tensor& images, int quality) {
  check_images(images, "jpeg");
  check_input(quality >= 1 && quality <= 100, "jpeg: quality must be in 1..100");
  const int64_t c = images.size(1), h = images.size(2), w = images.size(3);
  check_input(c == 1 || c == 3, "jpeg: images must have 1 or 3 channels");
  namespace F = torch::nn::functional;
  const int64_t ph = (8 - h % 8) % 8, pw = (8 - w % 8) % 8;
  torch::Tensor x = F::pad((images.to(torch::kFloat32) + 1) * 127.5, F::PadFuncOptions({0, pw, 0, ph}).mode(torch::kReplicate));
  torch::Tensor luma = quant_table(kLuma, quality), chroma = quant_table(kChroma, quality);
  torch::Tensor out;
  if (c == 1) {
    out = quantise_plane(x.select(1, 0) - 128, luma).unsqueeze(1) + 128;
  } else {
    torch::Tensor r = x.select(1, 0), g = x.select(1, 1), b = x.select(1, 2);
    torch::Tensor y = 0.299 * r + 0.587 * g + 0.114 * b;
    torch::Tensor cb = -0.168736 * r - 0.331264 * g + 0.5 * b;
    torch::Tensor cr = 0.5 * r - 0.418688 * g - 0.081312 * b;
    y = quantise_plane(y - 128, luma) + 128;
    cb = quantise_plane(cb, chroma);
    cr = quantise_plane(cr, chroma);
    out = torch::stack({y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb}, 1);
  }
  out = out.clamp(0, 255).round().slice(2, 0, h).slice(3, 0, w);
  return (out / 127.5 - 1).to(images.scalar_type());
}

torch::Tensor add_noise(const torch::Tensor& images, double sigma, torch::Generator& rng) {
  check_images(images, "noise");
  return (images + sigma * torch::randn(images.sizes(), rng)).clamp(-1, 1);
}

torch::Tensor pixelate(const torch::Tensor& images, int64_t factor) {
  check_images(images, "pixelate");
  check_input(factor >= 1, "pixelate: factor must be >= 1");
  namespace F = torch::nn::functional;
  const int64_t h = images.size(2), w = images.size(3);
  const std::vector<int64_t> small{std::max<int64_t>(1, (h + factor / 2) / factor), std::max<int64_t>(1, (w + factor / 2) / factor)};
  torch::Tensor low = F::adaptive_avg_pool2d(images, F::AdaptiveAvgPool2dFuncOptions(small));
  return F::interpolate(low, F::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).mode(torch::kNearest));
}

torch::Tensor adjust_exposure(const torch::Tensor& images, double ev, double gamma) {
  check_images(images, "exposure");
  check_input(gamma > 0, "exposure: gamma must be > 0");
  torch::Tensor u = ((images + 1) / 2 * std::pow(2.0, ev)).clamp(0, 1).pow(gamma);
  return u * 2 - 1;
}

torch::Tensor adjust_contrast(const torch::Tensor& images, double c) {
  check_images(images, "contrast");
  torch::Tensor mean = images.mean({1, 2, 3}, true);
  return (mean + c * (images - mean)).clamp(-1, 1);
}

torch::Tensor vignette(const torch::Tensor& images, double strength) {
  check_images(images, "vignette");
  const int64_t h = images.size(2), w = images.size(3);
  torch::Tensor y = torch::linspace(-1, 1, h).view({h, 1}), x = torch::linspace(-1, 1, w).view({1, w});
  torch::Tensor r2 = (y.square() + x.square()) / 2;  // 1 at the corners
  torch::Tensor u = (images + 1) / 2 * (1 - strength * r2);
  return u * 2 - 1;
}

const std::vector<std::string>& degradation_kinds() {
  static const std::vector<std::string> kinds{"blur", "noise", "jpeg", "lowres", "exposure", "retouch", "gray", "lineart", "mixed"};
  return kinds;
}

torch::Tensor on_color(const torch::Tensor& images, const std::function<torch::Tensor(const torch::Tensor&)>& fn) {
  if (images.size(1) != 4) return fn(images);
  const torch::Tensor alpha = images.slice(1, 3, 4);
  return torch::cat({torch::minimum(fn(images.slice(1, 0, 3)), alpha), alpha}, 1);
}

torch::Tensor to_gray(const torch::Tensor& images) {
  check_images(images, "gray");
  check_input(images.size(1) >= 3, "colorize: the images are gray already; it needs color data (RGB or RGBA)");
  torch::Tensor out = luma(images.slice(1, 0, 3)).expand({-1, 3, -1, -1});
  return images.size(1) == 4 ? torch::cat({out, images.slice(1, 3, 4)}, 1) : out.contiguous();
}

torch::Tensor with_luma(const torch::Tensor& images, const torch::Tensor& gray) {
  check_images(images, "with_luma");
  check_input(images.size(1) >= 3 && images.sizes() == gray.sizes(),
              "with_luma: expected color images and a gray image of the same shape [N, 3 or 4, H, W]");
  torch::Tensor rgb = images.slice(1, 0, 3) + (gray.slice(1, 0, 1) - luma(images.slice(1, 0, 3)));
  return images.size(1) == 4 ? torch::cat({rgb, gray.slice(1, 3, 4)}, 1) : rgb;
}

torch::Tensor line_art(const torch::Tensor& images, double threshold) {
  check_images(images, "lineart");
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  // Sobel in x and y on every channel at once ([0, 1] units), divided by 4 so a unit step reads 1.
  torch::Tensor u = ((images + 1) / 2).reshape({n * c, 1, h, w});
  torch::Tensor gx = torch::tensor({-1.f, 0.f, 1.f, -2.f, 0.f, 2.f, -1.f, 0.f, 1.f}).view({1, 1, 3, 3}) / 4;
  torch::Tensor padded = torch::replication_pad2d(u, {1, 1, 1, 1});
  torch::Tensor dx = torch::conv2d(padded, gx), dy = torch::conv2d(padded, gx.transpose(2, 3));
  torch::Tensor magnitude = (dx.square() + dy.square()).sqrt().view({n, c, h, w});
  torch::Tensor line = (std::get<0>(magnitude.max(1, true)) >= threshold).to(torch::kFloat32);
  torch::Tensor out = (1 - 2 * line).expand({n, c, h, w}).clone();
  if (c == 4) out.slice(1, 3, 4).fill_(1.0);
  return out;
}

torch::Tensor sketch_line_art(const torch::Tensor& images, int64_t channels) {
  check_images(images, "lineart");
  torch::Tensor u = (images + 1) / 2;
  torch::Tensor gray;
  if (u.size(1) == 1 || u.size(1) == 3) {
    gray = u.size(1) == 1 ? u : luma(u);
  } else {  // premultiplied RGBA onto white: color + (1 - alpha)
    check_input(u.size(1) == 4, "lineart: expected 1, 3 or 4 channels");
    gray = luma(u.slice(1, 0, 3) + (1 - u.slice(1, 3, 4)));
  }
  torch::Tensor line = (gray < 0.5).to(torch::kFloat32);
  torch::Tensor out = (1 - 2 * line).expand({images.size(0), channels, images.size(2), images.size(3)}).clone();
  if (channels == 4) out.slice(1, 3, 4).fill_(1.0);
  return out;
}

torch::Tensor degrade(const torch::Tensor& images, const std::string& kind, torch::Generator& rng) {
  check_images(images, "degrade");
  check_input(std::find(degradation_kinds().begin(), degradation_kinds().end(), kind) != degradation_kinds().end(),
              "unknown degradation '" + kind + "' (expected blur, noise, jpeg, lowres, exposure, retouch, gray, lineart or mixed)");
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < images.size(0); ++i) {
    torch::Tensor x = images.slice(0, i, i + 1);
    std::string k = kind;
    if (k == "mixed") k = degradation_kinds()[randint(rng, 0, 2)];
    // RGBA (premultiplied): blur and lowres filter all four channels, as resampling does; the
    // others act on the color (on_color) and keep alpha.
    if (k == "blur") out.push_back(gaussian_blur(x, uniform(rng, 0.6, 1.6)));
    if (k == "noise") out.push_back(on_color(x, [&](const torch::Tensor& c) { return add_noise(c, uniform(rng, 0.1, 0.3), rng); }));
    if (k == "jpeg") {
      const int quality = static_cast<int>(randint(rng, 5, 30));
      out.push_back(on_color(x, [&](const torch::Tensor& c) { return jpeg_artifacts(c, quality); }));
    }
    if (k == "lowres") out.push_back(pixelate(x, randint(rng, 2, 4)));
    if (k == "exposure") {
      const double ev = randint(rng, 0, 1) == 0 ? uniform(rng, -1.5, -0.4) : uniform(rng, 0.4, 1.2);
      const double gamma = std::exp(uniform(rng, -0.3, 0.3));
      out.push_back(on_color(x, [&](const torch::Tensor& c) { return adjust_exposure(c, ev, gamma); }));
    }
    if (k == "retouch") out.push_back(on_color(x, [&](const torch::Tensor& c) { return retouch(c, rng); }));
    if (k == "gray") out.push_back(to_gray(x));
    if (k == "lineart") out.push_back(line_art(x));
  }
  return torch::cat(out);
}

const std::vector<std::string>& enhance_tasks() {
  static const std::vector<std::string> tasks{"deblur", "denoise", "dejpeg", "superres", "exposure", "retouch"};
  return tasks;
}

std::string task_degradation(const std::string& task) {
  static const std::vector<std::string> tasks{"deblur", "denoise", "dejpeg", "superres", "exposure", "retouch", "colorize", "lineart"};
  static const std::vector<std::string> kinds{"blur", "noise", "jpeg", "lowres", "exposure", "retouch", "gray", "lineart"};
  auto it = std::find(tasks.begin(), tasks.end(), task);
  check_input(it != tasks.end(),
              "unknown task '" + task + "' (expected deblur, denoise, dejpeg, superres, exposure, retouch, colorize or lineart)");
  return kinds[it - tasks.begin()];
}

torch::Tensor degrade_for_tasks(const torch::Tensor& images, const std::vector<std::string>& tasks,
                                torch::Generator& rng) {
  check_images(images, "degrade");
  check_input(!tasks.empty(), "degrade: no tasks given");
  std::vector<std::string> kinds;
  for (const auto& t : tasks) kinds.push_back(task_degradation(t));
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < images.size(0); ++i) {
    const auto& kind = kinds[randint(rng, 0, static_cast<int64_t>(kinds.size()) - 1)];
    out.push_back(degrade(images.slice(0, i, i + 1), kind, rng));
  }
  return torch::cat(out);
}

}  // namespace latentkit
