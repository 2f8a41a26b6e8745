#include "latentkit/core/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "latentkit/core/error.h"

namespace latentkit {
namespace {

constexpr Rgb kWhite{255, 255, 255};
constexpr Rgb kText{34, 34, 34};
constexpr Rgb kAxis{60, 60, 60};
constexpr Rgb kGrid{225, 225, 225};
constexpr Rgb kLegendBorder{200, 200, 200};

// matplotlib's tab10.
constexpr Rgb kPalette[] = {{31, 119, 180}, {255, 127, 14},  {44, 160, 44},  {214, 39, 40},
                            {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                            {188, 189, 34},  {23, 190, 207}};

constexpr int kGlyphWidth = 5;
constexpr int kGlyphHeight = 7;
constexpr int kGlyphRows = 8;
constexpr int kGlyphAdvance = 6;

// 5x7 glyphs for ASCII 32..126: five columns each, bit 0 is the top row; bit 7 is the
// descender row of g, j, p, q and y.
constexpr uint8_t kFont[95][5] = {
    {0x00, 0x00, 0x00, 0x00, 0x00}, {0x00, 0x00, 0x5F, 0x00, 0x00}, {0x00, 0x07, 0x00, 0x07, 0x00},
    {0x14, 0x7F, 0x14, 0x7F, 0x14}, {0x24, 0x2A, 0x7F, 0x2A, 0x12}, {0x23, 0x13, 0x08, 0x64, 0x62},
    {0x36, 0x49, 0x55, 0x22, 0x50}, {0x00, 0x05, 0x03, 0x00, 0x00}, {0x00, 0x1C, 0x22, 0x41, 0x00},
    {0x00, 0x41, 0x22, 0x1C, 0x00}, {0x08, 0x2A, 0x1C, 0x2A, 0x08}, {0x08, 0x08, 0x3E, 0x08, 0x08},
    {0x00, 0x50, 0x30, 0x00, 0x00}, {0x08, 0x08, 0x08, 0x08, 0x08}, {0x00, 0x60, 0x60, 0x00, 0x00},
    {0x20, 0x10, 0x08, 0x04, 0x02}, {0x3E, 0x51, 0x49, 0x45, 0x3E}, {0x00, 0x42, 0x7F, 0x40, 0x00},
    {0x42, 0x61, 0x51, 0x49, 0x46}, {0x21, 0x41, 0x45, 0x4B, 0x31}, {0x18, 0x14, 0x12, 0x7F, 0x10},
    {0x27, 0x45, 0x45, 0x45, 0x39}, {0x3C, 0x4A, 0x49, 0x49, 0x30}, {0x01, 0x71, 0x09, 0x05, 0x03},
    {0x36, 0x49, 0x49, 0x49, 0x36}, {0x06, 0x49, 0x49, 0x29, 0x1E}, {0x00, 0x36, 0x36, 0x00, 0x00},
    {0x00, 0x56, 0x36, 0x00, 0x00}, {0x08, 0x14, 0x22, 0x41, 0x00}, {0x14, 0x14, 0x14, 0x14, 0x14},
    {0x00, 0x41, 0x22, 0x14, 0x08}, {0x02, 0x01, 0x51, 0x09, 0x06}, {0x32, 0x49, 0x79, 0x41, 0x3E},
    {0x7E, 0x11, 0x11, 0x11, 0x7E}, {0x7F, 0x49, 0x49, 0x49, 0x36}, {0x3E, 0x41, 0x41, 0x41, 0x22},
    {0x7F, 0x41, 0x41, 0x22, 0x1C}, {0x7F, 0x49, 0x49, 0x49, 0x41}, {0x7F, 0x09, 0x09, 0x09, 0x01},
    {0x3E, 0x41, 0x49, 0x49, 0x7A}, {0x7F, 0x08, 0x08, 0x08, 0x7F}, {0x00, 0x41, 0x7F, 0x41, 0x00},
    {0x20, 0x40, 0x41, 0x3F, 0x01}, {0x7F, 0x08, 0x14, 0x22, 0x41}, {0x7F, 0x40, 0x40, 0x40, 0x40},
    {0x7F, 0x02, 0x0C, 0x02, 0x7F}, {0x7F, 0x04, 0x08, 0x10, 0x7F}, {0x3E, 0x41, 0x41, 0x41, 0x3E},
    {0x7F, 0x09, 0x09, 0x09, 0x06}, {0x3E, 0x41, 0x51, 0x21, 0x5E}, {0x7F, 0x09, 0x19, 0x29, 0x46},
    {0x46, 0x49, 0x49, 0x49, 0x31}, {0x01, 0x01, 0x7F, 0x01, 0x01}, {0x3F, 0x40, 0x40, 0x40, 0x3F},
    {0x1F, 0x20, 0x40, 0x20, 0x1F}, {0x3F, 0x40, 0x38, 0x40, 0x3F}, {0x63, 0x14, 0x08, 0x14, 0x63},
    {0x07, 0x08, 0x70, 0x08, 0x07}, {0x61, 0x51, 0x49, 0x45, 0x43}, {0x00, 0x7F, 0x41, 0x41, 0x00},
    {0x02, 0x04, 0x08, 0x10, 0x20}, {0x00, 0x41, 0x41, 0x7F, 0x00}, {0x04, 0x02, 0x01, 0x02, 0x04},
    {0x40, 0x40, 0x40, 0x40, 0x40}, {0x00, 0x01, 0x02, 0x04, 0x00}, {0x20, 0x54, 0x54, 0x54, 0x78},
    {0x7F, 0x48, 0x44, 0x44, 0x38}, {0x38, 0x44, 0x44, 0x44, 0x20}, {0x38, 0x44, 0x44, 0x48, 0x7F},
    {0x38, 0x54, 0x54, 0x54, 0x18}, {0x08, 0x7E, 0x09, 0x01, 0x02}, {0x18, 0xA4, 0xA4, 0xA4, 0x7C},
    {0x7F, 0x08, 0x04, 0x04, 0x78}, {0x00, 0x44, 0x7D, 0x40, 0x00}, {0x40, 0x80, 0x84, 0x7D, 0x00},
    {0x7F, 0x10, 0x28, 0x44, 0x00}, {0x00, 0x41, 0x7F, 0x40, 0x00}, {0x7C, 0x04, 0x18, 0x04, 0x78},
    {0x7C, 0x08, 0x04, 0x04, 0x78}, {0x38, 0x44, 0x44, 0x44, 0x38}, {0xFC, 0x24, 0x24, 0x24, 0x18},
    {0x18, 0x24, 0x24, 0x24, 0xFC}, {0x7C, 0x08, 0x04, 0x04, 0x08}, {0x48, 0x54, 0x54, 0x54, 0x20},
    {0x04, 0x3F, 0x44, 0x40, 0x20}, {0x3C, 0x40, 0x40, 0x20, 0x7C}, {0x1C, 0x20, 0x40, 0x20, 0x1C},
    {0x3C, 0x40, 0x30, 0x40, 0x3C}, {0x44, 0x28, 0x10, 0x28, 0x44}, {0x1C, 0xA0, 0xA0, 0xA0, 0x7C},
    {0x44, 0x64, 0x54, 0x4C, 0x44}, {0x00, 0x08, 0x36, 0x41, 0x00}, {0x00, 0x00, 0x7F, 0x00, 0x00},
    {0x00, 0x41, 0x36, 0x08, 0x00}, {0x08, 0x04, 0x08, 0x10, 0x08},
};

struct Rect {
  int left, top, right, bottom;  // inclusive
  bool contains(int x, int y) const { return x >= left && x <= right && y >= top && y <= bottom; }
};

class Canvas {
 public:
  Canvas(int width, int height) : image_(width, height, 3, 255) {}

  void set(int x, int y, Rgb color) {
    if (x < 0 || y < 0 || x >= image_.width || y >= image_.height) return;
    image_.at(x, y, 0) = color.r;
    image_.at(x, y, 1) = color.g;
    image_.at(x, y, 2) = color.b;
  }
  void set_clipped(int x, int y, Rgb color, const Rect& clip) {
    if (clip.contains(x, y)) set(x, y, color);
  }
  void fill(const Rect& rect, Rgb color) {
    for (int y = rect.top; y <= rect.bottom; ++y) {
      for (int x = rect.left; x <= rect.right; ++x) set(x, y, color);
    }
  }
  void horizontal(int x0, int x1, int y, Rgb color) {
    for (int x = std::min(x0, x1); x <= std::max(x0, x1); ++x) set(x, y, color);
  }
  void vertical(int x, int y0, int y1, Rgb color) {
    for (int y = std::min(y0, y1); y <= std::max(y0, y1); ++y) set(x, y, color);
  }
  void box(const Rect& rect, Rgb color) {
    horizontal(rect.left, rect.right, rect.top, color);
    horizontal(rect.left, rect.right, rect.bottom, color);
    vertical(rect.left, rect.top, rect.bottom, color);
    vertical(rect.right, rect.top, rect.bottom, color);
  }
  // Bresenham with a 2x2 brush, clipped to `clip`.
  void line(int x0, int y0, int x1, int y1, Rgb color, const Rect& clip) {
    int dx = std::abs(x1 - x0);
    int dy = -std::abs(y1 - y0);
    int sx = x0 < x1 ? 1 : -1;
    int sy = y0 < y1 ? 1 : -1;
    int error = dx + dy;
    while (true) {
      set_clipped(x0, y0, color, clip);
      set_clipped(x0 + 1, y0, color, clip);
      set_clipped(x0, y0 + 1, color, clip);
      set_clipped(x0 + 1, y0 + 1, color, clip);
      if (x0 == x1 && y0 == y1) break;
      int twice = 2 * error;
      if (twice >= dy) {
        error += dy;
        x0 += sx;
      }
      if (twice <= dx) {
        error += dx;
        y0 += sy;
      }
    }
  }
  void text(int x, int y, const std::string& text, Rgb color, int scale) {
    for (char ch : text) {
      int code = static_cast<unsigned char>(ch);
      if (code < 32 || code > 126) code = '?';
      const uint8_t* glyph = kFont[code - 32];
      for (int column = 0; column < kGlyphWidth; ++column) {
        for (int row = 0; row < kGlyphRows; ++row) {
          if ((glyph[column] >> row & 1) == 0) continue;
          for (int dy = 0; dy < scale; ++dy) {
            for (int dx = 0; dx < scale; ++dx) set(x + column * scale + dx, y + row * scale + dy, color);
          }
        }
      }
      x += kGlyphAdvance * scale;
    }
  }
  int count_other_than(const Rect& rect, Rgb a, Rgb b) const {
    int count = 0;
    for (int y = std::max(rect.top, 0); y <= std::min(rect.bottom, image_.height - 1); ++y) {
      for (int x = std::max(rect.left, 0); x <= std::min(rect.right, image_.width - 1); ++x) {
        uint8_t r = image_.at(x, y, 0), g = image_.at(x, y, 1), bl = image_.at(x, y, 2);
        bool is_a = r == a.r && g == a.g && bl == a.b;
        bool is_b = r == b.r && g == b.g && bl == b.b;
        if (!is_a && !is_b) ++count;
      }
    }
    return count;
  }
  Image take() { return std::move(image_); }

 private:
  Image image_;
};

int text_width(const std::string& text, int scale) {
  if (text.empty()) return 0;
  return (static_cast<int>(text.size()) * kGlyphAdvance - 1) * scale;
}

struct Range {
  double lo, hi;
};

Range widen_if_flat(double lo, double hi) {
  if (hi > lo) return {lo, hi};
  double delta = std::abs(lo) > 0.0 ? std::abs(lo) * 0.1 : 1.0;
  return {lo - delta, hi + delta};
}

// About `target` ticks at 1, 2, 2.5 or 5 times a power of ten inside [lo, hi].
std::vector<double> nice_ticks(Range range, int target, double* step_out) {
  double span = range.hi - range.lo;
  double rough = span / std::max(1, target);
  double magnitude = std::pow(10.0, std::floor(std::log10(rough)));
  double step = magnitude;
  double best = 1e300;
  for (double factor : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    double candidate = factor * magnitude;
    double count = std::floor(range.hi / candidate) - std::ceil(range.lo / candidate) + 1;
    double miss = std::abs(count - target);
    if (miss < best) {
      best = miss;
      step = candidate;
    }
  }
  *step_out = step;
  std::vector<double> ticks;
  double first = std::ceil(range.lo / step - 1e-9) * step;
  for (int i = 0; i < 100; ++i) {
    double value = first + i * step;
    if (value > range.hi + step * 1e-9) break;
    if (std::abs(value) < step * 1e-9) value = 0.0;
    ticks.push_back(value);
  }
  return ticks;
}

std::string tick_label(double value, double step) {
  char buffer[64];
  double largest = std::max(std::abs(value), step);
  if (value == 0.0) return "0";
  if (largest >= 1e6 || step < 1e-4) {
    int digits = std::max(1, static_cast<int>(std::ceil(std::log10(largest / step))) + 1);
    std::snprintf(buffer, sizeof(buffer), "%.*g", std::min(digits, 10), value);
    std::string text = buffer;
    size_t e = text.find('e');
    if (e != std::string::npos) {
      std::string mantissa = text.substr(0, e);
      std::string exponent = text.substr(e + 1);
      bool negative = !exponent.empty() && exponent[0] == '-';
      if (!exponent.empty() && (exponent[0] == '-' || exponent[0] == '+')) exponent.erase(0, 1);
      while (exponent.size() > 1 && exponent[0] == '0') exponent.erase(0, 1);
      text = mantissa + "e" + (negative ? "-" : "") + exponent;
    }
    return text;
  }
  int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  if (std::abs(step * std::pow(10.0, decimals) - std::round(step * std::pow(10.0, decimals))) > 1e-6) {
    ++decimals;
  }
  std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, value);
  return buffer;
}

struct Point {
  double x, y;
};

// The plot with headroom x the data's y range left free above the data, and in
// *legend_hides the curve pixels the legend covers.
Image draw_line_plot(const std::vector<PlotSeries>& series, const std::string& title, const std::string& x_label,
                     int width, int height, double headroom, int* legend_hides) {
  *legend_hides = 0;
  check_input(width >= 160 && height >= 120,
              "render_line_plot: the plot must be at least 160x120 pixels, got " +
                  std::to_string(width) + "x" + std::to_string(height));
  std::vector<std::vector<Point>> points(series.size());
  bool any = false;
  double x_lo = 0, x_hi = 0, y_lo = 0, y_hi = 0;
  for (size_t s = 0; s < series.size(); ++s) {
    const PlotSeries& one = series[s];
    check_input(one.x.empty() || one.x.size() == one.y.size(),
                "render_line_plot: series '" + one.name + "' has " + std::to_string(one.x.size()) +
                    " x values and " + std::to_string(one.y.size()) + " y values");
    for (size_t i = 0; i < one.y.size(); ++i) {
      double x = one.x.empty() ? static_cast<double>(i) : one.x[i];
      double y = one.y[i];
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      points[s].push_back({x, y});
      if (!any) {
        x_lo = x_hi = x;
        y_lo = y_hi = y;
        any = true;
      }
      x_lo = std::min(x_lo, x);
      x_hi = std::max(x_hi, x);
      y_lo = std::min(y_lo, y);
      y_hi = std::max(y_hi, y);
    }
  }
  Range x_range{0.0, 1.0};
  Range y_range{0.0, 1.0};
  if (any) {
    x_range = widen_if_flat(x_lo, x_hi);
    y_range = widen_if_flat(y_lo, y_hi);
    double margin = (y_range.hi - y_range.lo) * 0.05;
    y_range = {y_range.lo - margin, y_range.hi + margin + headroom * (y_range.hi - y_range.lo)};
  }

  int scale = std::max(1, std::min(width / 400, height / 240));
  int title_scale = scale + 1;
  while (title_scale > 1 && text_width(title, title_scale) > width - 8) --title_scale;
  int glyph_height = kGlyphHeight * scale;
  double x_step = 1.0, y_step = 1.0;
  std::vector<double> x_ticks = nice_ticks(x_range, std::clamp(width / (70 * scale), 2, 8), &x_step);
  std::vector<double> y_ticks = nice_ticks(y_range, std::clamp(height / (45 * scale), 2, 6), &y_step);
  std::vector<std::string> y_labels;
  int y_label_width = 0;
  for (double tick : y_ticks) {
    y_labels.push_back(tick_label(tick, y_step));
    y_label_width = std::max(y_label_width, text_width(y_labels.back(), scale));
  }

  int pad = 8 * scale;
  int tick_length = 4 * scale;
  Rect plot;
  plot.left = pad + y_label_width + tick_length + 4 * scale;
  plot.top = title.empty() ? pad + glyph_height / 2 : pad + kGlyphHeight * title_scale + pad;
  plot.right = width - 1 - 2 * pad;
  plot.bottom = height - 1 - (pad + tick_length + 4 * scale + glyph_height) -
                (x_label.empty() ? 0 : glyph_height + 6 * scale);
  if (plot.right - plot.left < 20 || plot.bottom - plot.top < 20) {
    throw Error("render_line_plot: " + std::to_string(width) + "x" + std::to_string(height) +
                " leaves no room for the plot area; use a larger size");
  }

  auto to_px = [&](double x) {
    return plot.left + (x - x_range.lo) / (x_range.hi - x_range.lo) * (plot.right - plot.left);
  };
  auto to_py = [&](double y) {
    return plot.bottom - (y - y_range.lo) / (y_range.hi - y_range.lo) * (plot.bottom - plot.top);
  };

  Canvas canvas(width, height);
  for (size_t i = 0; i < y_ticks.size(); ++i) {
    int py = static_cast<int>(std::lround(to_py(y_ticks[i])));
    canvas.horizontal(plot.left, plot.right, py, kGrid);
    canvas.horizontal(plot.left - tick_length, plot.left - 1, py, kAxis);
    canvas.text(plot.left - tick_length - 3 * scale - text_width(y_labels[i], scale),
                py - glyph_height / 2, y_labels[i], kText, scale);
  }
  int x_label_top = plot.bottom + tick_length + 4 * scale;
  for (double tick : x_ticks) {
    int px = static_cast<int>(std::lround(to_px(tick)));
    canvas.vertical(px, plot.top, plot.bottom, kGrid);
    canvas.vertical(px, plot.bottom + 1, plot.bottom + tick_length, kAxis);
    std::string label = tick_label(tick, x_step);
    int left = px - text_width(label, scale) / 2;
    left = std::clamp(left, 0, std::max(0, width - text_width(label, scale)));
    canvas.text(left, x_label_top, label, kText, scale);
  }
  canvas.box(plot, kAxis);

  if (!title.empty()) {
    int title_width = text_width(title, title_scale);
    canvas.text(std::max(0, (width - title_width) / 2), pad, title, kText, title_scale);
  }
  if (!x_label.empty()) {
    int center = (plot.left + plot.right) / 2;
    canvas.text(center - text_width(x_label, scale) / 2, x_label_top + glyph_height + 6 * scale,
                x_label, kText, scale);
  }

  Rect inside{plot.left + 1, plot.top + 1, plot.right - 1, plot.bottom - 1};
  for (size_t s = 0; s < series.size(); ++s) {
    Rgb color = kPalette[s % (sizeof(kPalette) / sizeof(kPalette[0]))];
    const std::vector<Point>& line = points[s];
    if (line.size() == 1) {
      int px = static_cast<int>(std::lround(to_px(line[0].x)));
      int py = static_cast<int>(std::lround(to_py(line[0].y)));
      for (int dy = -2; dy <= 2; ++dy) {
        for (int dx = -2; dx <= 2; ++dx) canvas.set_clipped(px + dx, py + dy, color, inside);
      }
      continue;
    }
    for (size_t i = 1; i < line.size(); ++i) {
      canvas.line(static_cast<int>(std::lround(to_px(line[i - 1].x))),
                  static_cast<int>(std::lround(to_py(line[i - 1].y))),
                  static_cast<int>(std::lround(to_px(line[i].x))),
                  static_cast<int>(std::lround(to_py(line[i].y))), color, inside);
    }
  }

  if (!any) {
    std::string message = "no data";
    canvas.text((plot.left + plot.right - text_width(message, scale * 2)) / 2,
                (plot.top + plot.bottom - glyph_height * 2) / 2, message, kText, scale * 2);
  }

  std::vector<size_t> named;
  int name_width = 0;
  for (size_t s = 0; s < series.size(); ++s) {
    if (series[s].name.empty()) continue;
    named.push_back(s);
    name_width = std::max(name_width, text_width(series[s].name, scale));
  }
  if (!named.empty()) {
    int swatch = 20 * scale;
    int row_height = glyph_height + 5 * scale;
    int inner = 6 * scale;
    int legend_width = inner + swatch + 5 * scale + name_width + inner;
    int legend_height = inner * 2 + row_height * static_cast<int>(named.size()) - 5 * scale;
    int gap = 6 * scale;
    int left_x = plot.left + gap;
    int right_x = std::max(left_x, plot.right - gap - legend_width);
    int top_y = plot.top + gap;
    int bottom_y = std::max(top_y, plot.bottom - gap - legend_height);
    // The corner that hides the fewest plotted pixels, top right first on ties.
    Rect legend{};
    int fewest = -1;
    for (auto [x, y] : {std::pair{right_x, top_y}, std::pair{left_x, top_y},
                        std::pair{right_x, bottom_y}, std::pair{left_x, bottom_y}}) {
      Rect candidate{x, y, std::min(x + legend_width, plot.right - 1), y + legend_height};
      int hidden = canvas.count_other_than(candidate, kWhite, kGrid);
      if (fewest < 0 || hidden < fewest) {
        fewest = hidden;
        legend = candidate;
      }
    }
    *legend_hides = fewest;
    canvas.fill(legend, kWhite);
    canvas.box(legend, kLegendBorder);
    for (size_t k = 0; k < named.size(); ++k) {
      size_t s = named[k];
      Rgb color = kPalette[s % (sizeof(kPalette) / sizeof(kPalette[0]))];
      int row_top = legend.top + inner + static_cast<int>(k) * row_height;
      int middle = row_top + glyph_height / 2;
      for (int t = 0; t < 2 * scale; ++t) {
        canvas.horizontal(legend.left + inner, legend.left + inner + swatch, middle - scale + t, color);
      }
      canvas.text(legend.left + inner + swatch + 5 * scale, row_top, series[s].name, kText, scale);
    }
  }
  return canvas.take();
}

}  // namespace

Image render_line_plot(const std::vector<PlotSeries>& series, const std::string& title,
                       const std::string& x_label, int width, int height) {
  // When every corner of the plot has curves under it (short runs fill the area), the data
  // moves down to leave a free band for the legend at the top.
  int hides = 0;
  Image image = draw_line_plot(series, title, x_label, width, height, 0.0, &hides);
  for (double headroom : {0.35, 0.7, 1.2}) {
    if (hides == 0) break;
    image = draw_line_plot(series, title, x_label, width, height, headroom, &hides);
  }
  return image;
}

Image render_heatmap(const std::vector<std::vector<double>>& values, const std::vector<std::string>& row_labels,
                     const std::vector<std::string>& column_labels, const std::string& title, double scale_max) {
  const int rows = static_cast<int>(values.size());
  const int columns = rows > 0 ? static_cast<int>(values[0].size()) : 0;
  check_input(rows > 0 && columns > 0, "heat map: the matrix is empty");
  check_input(static_cast<int>(row_labels.size()) == rows && static_cast<int>(column_labels.size()) == columns,
              "heat map: " + std::to_string(rows) + "x" + std::to_string(columns) + " values but " +
                  std::to_string(row_labels.size()) + " row and " + std::to_string(column_labels.size()) +
                  " column labels");
  double top = scale_max;
  for (const std::vector<double>& row : values) {
    check_input(static_cast<int>(row.size()) == columns, "heat map: rows differ in length");
    if (scale_max <= 0) {
      for (double v : row) {
        if (std::isfinite(v)) top = std::max(top, std::abs(v));
      }
    }
  }
  if (top <= 0) top = 1;
  auto cut = [](const std::string& s) { return s.size() > 12 ? s.substr(0, 11) + "." : s; };
  int label_width = 0;
  for (const std::string& l : row_labels) label_width = std::max(label_width, text_width(l, 1));
  int cell_width = text_width("-0.00", 1) + 10;
  for (const std::string& l : column_labels) cell_width = std::max(cell_width, text_width(cut(l), 1) + 8);
  const int cell_height = 22, margin = 12, title_height = 28, header_height = 18;
  const int left = margin + label_width + 8, grid_top = margin + title_height + header_height;
  const int width = std::max(left + columns * cell_width + margin, margin * 2 + text_width(title, 2));
  const int height = grid_top + rows * cell_height + margin;
  Canvas canvas(width, height);
  canvas.text(margin, margin, title, kText, 2);
  for (int c = 0; c < columns; ++c) {
    const std::string l = cut(column_labels[static_cast<size_t>(c)]);
    canvas.text(left + c * cell_width + (cell_width - text_width(l, 1)) / 2, grid_top - header_height + 4, l, kText, 1);
  }
  for (int r = 0; r < rows; ++r) {
    const int y = grid_top + r * cell_height;
    const std::string& l = row_labels[static_cast<size_t>(r)];
    canvas.text(left - 8 - text_width(l, 1), y + (cell_height - kGlyphHeight) / 2, l, kText, 1);
    for (int c = 0; c < columns; ++c) {
      const double v = values[static_cast<size_t>(r)][static_cast<size_t>(c)];
      const int x = left + c * cell_width;
      Rgb color{200, 200, 200};
      std::string text = "-";
      if (std::isfinite(v)) {
        // White at 0, towards red (214, 39, 40) or blue (31, 119, 180) with |v| / top.
        const double t = std::min(1.0, std::abs(v) / top);
        const Rgb end = v >= 0 ? Rgb{214, 39, 40} : Rgb{31, 119, 180};
        auto mix = [t](uint8_t e) { return static_cast<uint8_t>(std::lround(255 + t * (e - 255.0))); };
        color = {mix(end.r), mix(end.g), mix(end.b)};
        char buffer[32];
        std::snprintf(buffer, sizeof(buffer), std::abs(v) >= 9.995 ? "%.0f" : "%.2f", v);
        text = buffer;
      }
      canvas.fill({x, y, x + cell_width - 1, y + cell_height - 1}, color);
      canvas.box({x, y, x + cell_width - 1, y + cell_height - 1}, kWhite);
      const Rgb ink = std::isfinite(v) && std::abs(v) / top > 0.6 ? kWhite : kText;
      canvas.text(x + (cell_width - text_width(text, 1)) / 2, y + (cell_height - kGlyphHeight) / 2, text, ink, 1);
    }
  }
  return canvas.take();
}

}  // namespace latentkit
