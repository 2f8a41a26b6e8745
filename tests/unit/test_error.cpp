#include "latentkit/core/error.h"

#include <gtest/gtest.h>

using latentkit::Error;
using latentkit::ErrorKind;

TEST(Error, BadInputExitsTwoInternalExitsOne) {
  EXPECT_EQ(Error("x").exit_code(), 2);
  EXPECT_EQ(Error("x", ErrorKind::kInternal).exit_code(), 1);
  EXPECT_STREQ(Error("file.png is truncated").what(), "file.png is truncated");
}

TEST(Error, CheckInputThrowsOnlyWhenFalse) {
  EXPECT_NO_THROW(latentkit::check_input(true, "unused"));
  try {
    latentkit::check_input(false, "--batch must be >= 2");
    FAIL() << "check_input(false) did not throw";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "--batch must be >= 2");
    EXPECT_EQ(e.kind(), ErrorKind::kBadInput);
  }
}
