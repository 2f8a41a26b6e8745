#include "latentkit/core/progress.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace latentkit {
namespace {

std::string read_all(FILE* file) {
  std::fflush(file);
  std::rewind(file);
  std::string text;
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) text.append(buffer, n);
  return text;
}

TEST(Progress, PlainLinesWhenNotATerminal) {
  FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  {
    Progress progress("train", 100, 0, file);
    EXPECT_FALSE(progress.interactive());
    progress.update(10, "epoch 1 d_loss 0.61", 64.0);
    progress.update(11, "should be throttled", 64.0);
    progress.finish("saved model.pt");
  }
  std::string text = read_all(file);
  std::fclose(file);
  EXPECT_NE(text.find("train 10/100 (10%)"), std::string::npos) << text;
  EXPECT_NE(text.find("img/s"), std::string::npos) << text;
  EXPECT_NE(text.find("epoch 1 d_loss 0.61"), std::string::npos) << text;
  EXPECT_EQ(text.find("should be throttled"), std::string::npos) << text;
  EXPECT_NE(text.find("train done 11/100 in "), std::string::npos) << text;
  EXPECT_NE(text.find("saved model.pt"), std::string::npos) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_EQ(text.back(), '\n');
}

TEST(Progress, ResumedRunShowsAbsolutePosition) {
  FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  Progress progress("train", 2700, 1200, file);
  progress.update(1234, "", 1.0);
  std::string text = read_all(file);
  std::fclose(file);
  EXPECT_NE(text.find("1234/2700 (45%)"), std::string::npos) << text;
}

TEST(Progress, FormatDuration) {
  EXPECT_EQ(Progress::format_duration(3723), "1:02:03");
  EXPECT_EQ(Progress::format_duration(65), "1:05");
  EXPECT_EQ(Progress::format_duration(12), "12s");
  EXPECT_EQ(Progress::format_duration(0), "0s");
  EXPECT_EQ(Progress::format_duration(59.6), "1:00");
  EXPECT_EQ(Progress::format_duration(-1), "?");
}

}  // namespace
}  // namespace latentkit
