#include "latentkit/core/base64.h"

#include <gtest/gtest.h>

#include "latentkit/core/error.h"

using namespace latentkit;

TEST(Base64, Rfc4648TestVectors) {
  const char* plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  const char* coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(base64_encode(plain[i]), coded[i]);
    EXPECT_EQ(base64_decode(coded[i]), plain[i]);
  }
}

TEST(Base64, UrlAlphabetHasNoPaddingAndRoundTrips) {
  std::string bytes = {char(0xfb), char(0xff), char(0xbf), 'a'};
  EXPECT_EQ(base64_encode(bytes), "+/+/YQ==");
  EXPECT_EQ(base64url_encode(bytes), "-_-_YQ");
  EXPECT_EQ(base64_decode("-_-_YQ"), bytes);
}

TEST(Base64, RejectsForeignCharacters) { EXPECT_THROW(base64_decode("Zm9v!"), Error); }
