#pragma once
// Base64 (RFC 4648): standard alphabet with padding for data: URLs, URL-safe without
// padding for codes that travel in URLs.
#include <string>

namespace latentkit {

std::string base64_encode(const std::string& bytes);
std::string base64url_encode(const std::string& bytes);
/// Decodes either alphabet, padded or not; throws Error on a character outside them.
std::string base64_decode(const std::string& text);

}  // namespace latentkit
