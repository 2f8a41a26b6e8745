#include "latentkit/core/hash.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "latentkit/core/error.h"

using namespace latentkit;
namespace fs = std::filesystem;

TEST(Hash, MatchesTheFipsVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Hash, PadsAtEveryLengthAroundABlock) {
  // One million 'a' (the FIPS long-message vector) crosses many blocks and chunk edges.
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // 55, 56 and 64 bytes: the padding needs one block, two blocks, and a full extra block.
  EXPECT_EQ(sha256_hex(std::string(55, 'a')), "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  EXPECT_EQ(sha256_hex(std::string(56, 'a')), "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  EXPECT_EQ(sha256_hex(std::string(64, 'a')), "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

TEST(Hash, FileDigestEqualsTheDigestOfItsBytes) {
  fs::path path = fs::temp_directory_path() / ("latentkit_test_hash_" + std::to_string(::getpid()));
  std::string bytes;
  for (int i = 0; i < 3 * (1 << 20) + 17; ++i) bytes += static_cast<char>(i * 31 + 7);  // crosses 1 MiB chunks
  std::ofstream(path, std::ios::binary) << bytes;
  EXPECT_EQ(file_sha256(path.string()), sha256_hex(bytes));
  fs::remove(path);
  EXPECT_THROW(file_sha256(path.string()), Error);
}
