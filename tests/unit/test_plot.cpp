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

// ---- heat maps ----

namespace latentkit {
namespace {

constexpr uint8_t kFullRed[3] = {214, 39, 40};
constexpr uint8_t kFullBlue[3] = {31, 119, 180};
constexpr uint8_t kGrey[3] = {200, 200, 200};

// Mean x and y of the pixels of exactly `color`; {-1, -1} when there are none.
std::pair<double, double> centre_of(const Image& image, const uint8_t* color) {
  double sx = 0, sy = 0;
  int count = 0;
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      if (is_color(image, x, y, color)) {
        sx += x;
        sy += y;
        ++count;
      }
    }
  }
  return count == 0 ? std::pair<double, double>{-1, -1} : std::pair<double, double>{sx / count, sy / count};
}

// The message of the bad-input Error f throws ("" and a failure otherwise).
template <typename F>
std::string heatmap_error(F f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadInput);
    return e.what();
  }
  ADD_FAILURE() << "expected an Error";
  return "";
}

TEST(PlotHeatmap, SizeGrowsWithRowsAndColumns) {
  auto render = [](int rows, int columns) {
    return render_heatmap(std::vector<std::vector<double>>(rows, std::vector<double>(columns, 0.5)),
                          std::vector<std::string>(rows, "axis"), std::vector<std::string>(columns, "f"), "");
  };
  Image one = render(1, 1), two = render(1, 2), three = render(1, 3);
  EXPECT_EQ(one.channels, 3);
  EXPECT_GT(two.width, one.width);
  EXPECT_EQ(three.width - two.width, two.width - one.width) << "one cell width per column";
  EXPECT_GE(two.width - one.width, 20) << "room for \"-0.00\"";
  Image tall = render(4, 1);
  EXPECT_EQ(tall.width, one.width);
  EXPECT_EQ(tall.height - one.height, 3 * 22) << "22 pixels a row";
  // A long title widens the picture, never narrows it.
  Image titled = render_heatmap({{0.5}}, {"axis"}, {"f"}, std::string(60, 'T'));
  EXPECT_GT(titled.width, one.width);
  EXPECT_EQ(titled.height, one.height);
}

TEST(PlotHeatmap, PositiveIsRedNegativeIsBlueNanIsGrey) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Image image = render_heatmap({{2.0, -2.0, nan}, {-2.0, 2.0, 0.0}}, {"a", "b"}, {"x", "y", "z"}, "effects");
  auto red = centre_of(image, kFullRed), blue = centre_of(image, kFullBlue), grey = centre_of(image, kGrey);
  ASSERT_GE(red.first, 0);
  ASSERT_GE(blue.first, 0);
  ASSERT_GE(grey.first, 0);
  // Red cells at (0, 0) and (1, 1), blue at (0, 1) and (1, 0): the same centre, a checkerboard.
  EXPECT_NEAR(red.first, blue.first, 2.0);
  EXPECT_NEAR(red.second, blue.second, 2.0);
  EXPECT_GT(grey.first, red.first + 20) << "the NaN cell is in the third column";
  EXPECT_LT(grey.second, red.second - 5) << "and the first row";
  EXPECT_GT(count_color(image, kFullRed, 0, image.width), 2 * 200);
  EXPECT_GT(count_color(image, kFullBlue, 0, image.width), 2 * 200);
  EXPECT_GT(count_color(image, kGrey, 0, image.width), 200);

  Image rows = render_heatmap({{1.0}, {-1.0}}, {"up", "down"}, {"f"}, "");
  EXPECT_LT(centre_of(rows, kFullRed).second + 15, centre_of(rows, kFullBlue).second) << "row 0 on top";
  Image columns = render_heatmap({{-1.0, 1.0}}, {"r"}, {"f", "g"}, "");
  EXPECT_LT(centre_of(columns, kFullBlue).first + 15, centre_of(columns, kFullRed).first) << "column 0 on the left";
}

TEST(PlotHeatmap, TheScaleIsSymmetricAroundWhite) {
  // max |value| = 4: 1 is a quarter of the way from white to red, -2 half way to blue.
  const uint8_t quarter_red[3] = {245, 201, 201};  // 255 + 0.25 (214 - 255), ...
  const uint8_t half_blue[3] = {143, 187, 218};    // 255 + 0.5 (31 - 255), ...; 217.5 rounds up
  Image image = render_heatmap({{1.0, -2.0, 4.0}}, {"r"}, {"a", "b", "c"}, "");
  EXPECT_GT(count_color(image, quarter_red, 0, image.width), 200);
  EXPECT_GT(count_color(image, half_blue, 0, image.width), 200);
  EXPECT_GT(count_color(image, kFullRed, 0, image.width), 200);
  EXPECT_EQ(count_color(image, kFullBlue, 0, image.width), 0);
  // A fixed scale: the same 1.0 and 4.0 against +-4, and 8 saturates.
  Image fixed = render_heatmap({{1.0, 8.0}}, {"r"}, {"a", "b"}, "", 4.0);
  EXPECT_GT(count_color(fixed, quarter_red, 0, fixed.width), 200);
  EXPECT_GT(count_color(fixed, kFullRed, 0, fixed.width), 200);
  Image alone = render_heatmap({{1.0}}, {"r"}, {"a"}, "", 4.0);
  EXPECT_EQ(count_color(alone, kFullRed, 0, alone.width), 0) << "1 of 4 is not full red";
  // Infinities are not finite: grey, and they do not stretch the scale.
  Image inf = render_heatmap({{std::numeric_limits<double>::infinity(), 1.0}}, {"r"}, {"a", "b"}, "");
  EXPECT_GT(count_color(inf, kGrey, 0, inf.width), 200);
  EXPECT_GT(count_color(inf, kFullRed, 0, inf.width), 200);
  // All NaN: no colour at all, and no crash.
  Image empty = render_heatmap({{std::nan(""), std::nan("")}}, {"r"}, {"a", "b"}, "");
  EXPECT_GT(count_color(empty, kGrey, 0, empty.width), 400);
}

TEST(PlotHeatmap, ColumnLabelsAreCutToTwelveCharacters) {
  Image long_label = render_heatmap({{1.0}}, {"r"}, {"abcdefghijklmnopqrstuvwxyz"}, "");
  Image other_tail = render_heatmap({{1.0}}, {"r"}, {"abcdefghijkXYZ"}, "");
  EXPECT_EQ(long_label.width, other_tail.width);
  EXPECT_TRUE(long_label.pixels == other_tail.pixels) << "both are drawn as \"abcdefghijk.\"";
  Image twelve = render_heatmap({{1.0}}, {"r"}, {"abcdefghijkl"}, "");
  EXPECT_FALSE(twelve.pixels == long_label.pixels) << "12 characters are kept whole";
}

TEST(PlotHeatmap, BadMatricesAreErrors) {
  EXPECT_NE(heatmap_error([] { render_heatmap({}, {}, {}, ""); }).find("empty"), std::string::npos);
  EXPECT_NE(heatmap_error([] { render_heatmap({{}}, {"r"}, {}, ""); }).find("empty"), std::string::npos);
  const std::string labels = heatmap_error([] { render_heatmap({{1, 2}}, {"r"}, {"a"}, ""); });
  EXPECT_NE(labels.find("1x2 values but 1 row and 1 column labels"), std::string::npos) << labels;
  EXPECT_NE(heatmap_error([] { render_heatmap({{1, 2}}, {"r", "s"}, {"a", "b"}, ""); }).find("labels"),
            std::string::npos);
  EXPECT_NE(heatmap_error([] { render_heatmap({{1, 2}, {3}}, {"r", "s"}, {"a", "b"}, ""); }).find("rows differ"),
            std::string::npos);
}

}  // namespace
}  // namespace latentkit
