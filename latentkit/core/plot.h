#pragma once
// Plots drawn by the project itself (no Python): loss curves for losses.png, heat maps
// for the edit matrices of latent axes.
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

/// Renders a matrix as a heat map: values[r][c] as a cell on a diverging scale (blue below
/// 0, white at 0, red above; symmetric, ending at +-max |value|, or +-scale_max when > 0)
/// with the value printed in it, rows and columns labelled (column labels cut to 12 characters),
/// and a title. NaN cells are grey and print "-".
Image render_heatmap(const std::vector<std::vector<double>>& values, const std::vector<std::string>& row_labels,
                     const std::vector<std::string>& column_labels, const std::string& title, double scale_max = 0);

}  // namespace latentkit
