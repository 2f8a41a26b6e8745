#include "latentkit/core/plot.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "latentkit/core/error.h"

namespace latentkit {
namespace {

constexpr uint8_t kBlue[3] = {31, 119, 180};
constexpr uint8_t kOrange[3] = {255, 127, 14};

bool is_color(const Image& image, int x, int y, const uint8_t* color) {
  return image.at(x, y, 0) == color[0] && image.at(x, y, 1) == color[1] && image.at(x, y, 2) == color[2];
}

int count_color(const Image& image, const uint8_t* color, int x0, int x1) {
  int count = 0;
  for (int y = 0; y < image.height; ++y) {
    for (int x = x0; x < x1; ++x) count += is_color(image, x, y, color) ? 1 : 0;
  }
  return count;
}

// Mean row of the pixels of `color` in columns [x0, x1); -1 when there are none.
double mean_row(const Image& image, const uint8_t* color, int x0, int x1) {
  double sum = 0.0;
  int count = 0;
  for (int y = 0; y < image.height; ++y) {
    for (int x = x0; x < x1; ++x) {
      if (is_color(image, x, y, color)) {
        sum += y;
        ++count;
      }
    }
  }
  return count == 0 ? -1.0 : sum / count;
}

int dark_pixels(const Image& image, int y0, int y1, int x0, int x1) {
  int count = 0;
  for (int y = y0; y < y1; ++y) {
    for (int x = x0; x < x1; ++x) {
      if (image.at(x, y, 0) < 100 && image.at(x, y, 1) < 100 && image.at(x, y, 2) < 100) ++count;
    }
  }
  return count;
}

PlotSeries rising(const std::string& name) {
  PlotSeries series{name, {}, {}};
  for (int i = 0; i <= 50; ++i) {
    series.x.push_back(i * 10);
    series.y.push_back(0.1 * i);
  }
  return series;
}

TEST(Plot, ReturnsRequestedSize) {
  Image image = render_line_plot({rising("d_loss")}, "losses", "step", 640, 360);
  EXPECT_EQ(image.width, 640);
  EXPECT_EQ(image.height, 360);
  EXPECT_EQ(image.channels, 3);
  EXPECT_EQ(image.at(0, 0, 0), 255);
  EXPECT_EQ(image.at(639, 359, 2), 255);
}

TEST(Plot, SeriesUseDistinctColours) {
  PlotSeries falling{"g_loss", {0, 1, 2, 3}, {3, 2, 1, 0}};
  Image image = render_line_plot({rising("d_loss"), falling}, "", "step");
  EXPECT_GT(count_color(image, kBlue, 0, image.width), 200);
  EXPECT_GT(count_color(image, kOrange, 0, image.width), 200);
}

TEST(Plot, RisingSeriesIsHigherOnTheRight) {
  Image image = render_line_plot({rising("")}, "", "", 800, 480);
  int third = image.width / 3;
  double left = mean_row(image, kBlue, 0, third);
  double right = mean_row(image, kBlue, 2 * third, image.width);
  ASSERT_GT(left, 0.0);
  ASSERT_GT(right, 0.0);
  EXPECT_LT(right + 100, left);
}

TEST(Plot, TitleDrawsDarkPixelsInTheTopBand) {
  Image with = render_line_plot({rising("loss")}, "LOSS", "step", 800, 480);
  // A short centred title: dark pixels in the middle of the top band, none at its ends
  // (the axes box, which spans the width, starts below the band).
  EXPECT_GT(dark_pixels(with, 0, 40, 300, 500), 100);
  EXPECT_EQ(dark_pixels(with, 0, 40, 0, 300), 0);
  EXPECT_EQ(dark_pixels(with, 0, 40, 500, 800), 0);
  Image without = render_line_plot({rising("loss")}, "", "step", 800, 480);
  EXPECT_EQ(dark_pixels(without, 0, 12, 0, 800), 0);
}

TEST(Plot, NonFiniteAndDegenerateInputsDoNotCrash) {
  double nan = std::numeric_limits<double>::quiet_NaN();
  double inf = std::numeric_limits<double>::infinity();
  PlotSeries only_nan{"nan", {0, 1, 2}, {nan, nan, inf}};
  Image image = render_line_plot({only_nan}, "nan", "step");
  EXPECT_EQ(image.width, 800);
  EXPECT_EQ(count_color(image, kBlue, 0, image.width - 200), 0);

  Image empty = render_line_plot({}, "empty", "step");
  EXPECT_EQ(empty.height, 480);

  PlotSeries single{"one", {5}, {2.5}};
  Image one = render_line_plot({single}, "", "");
  EXPECT_GE(count_color(one, kBlue, 0, one.width), 25);

  PlotSeries flat{"flat", {0, 1, 2, 3}, {1, 1, 1, 1}};
  double middle = mean_row(render_line_plot({flat}, "", ""), kBlue, 0, 500);
  EXPECT_GT(middle, 100);
  EXPECT_LT(middle, 380);

  PlotSeries gaps{"gaps", {0, 1, 2, 3}, {0, nan, 2, 3}};
  EXPECT_GT(count_color(render_line_plot({gaps}, "", ""), kBlue, 0, 800), 100);
}

TEST(Plot, MismatchedSeriesIsAnError) {
  PlotSeries bad{"bad", {0, 1}, {1, 2, 3}};
  EXPECT_THROW(render_line_plot({bad}, "", ""), Error);
  EXPECT_THROW(render_line_plot({}, "", "", 10, 10), Error);
}

}  // namespace
}  // namespace latentkit
