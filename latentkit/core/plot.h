#pragma once
// Line plots drawn by the project itself (no Python): loss curves for losses.png.
#include <string>
#include <vector>

#include "latentkit/core/image.h"

namespace latentkit {

struct PlotSeries {
  std::string name;
  std::vector<double> x;
  std::vector<double> y;
};

/// Renders series as lines on axes with ticks, tick labels, a title, an x-axis label and
/// a legend (a built-in bitmap font; no font files). Non-finite points are skipped.
Image render_line_plot(const std::vector<PlotSeries>& series, const std::string& title,
                       const std::string& x_label, int width = 800, int height = 480);

}  // namespace latentkit
