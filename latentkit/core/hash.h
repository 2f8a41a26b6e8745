#pragma once
// SHA-256 (FIPS 180-4), so results can name the exact weights they were computed with
// (eval.json records the feature extractor's hash). No third-party code.
#include <string>

namespace latentkit {

/// Lowercase hex SHA-256 digest of bytes (64 characters).
std::string sha256_hex(const std::string& bytes);

/// SHA-1 digest (FIPS 180-4) of bytes, 20 bytes. Not for security: it fixes the emoji
/// data split, which is defined by it.
std::string sha1(const std::string& bytes);

/// Lowercase hex SHA-256 digest of a file's contents, read in chunks. A missing or
/// unreadable file is an Error naming it.
std::string file_sha256(const std::string& path);

}  // namespace latentkit
