#pragma once
// The editor page's files (web/), embedded at build time by cmake/embed_web.cmake.
#include <cstddef>
#include <string>
#include <vector>

namespace latentkit {

struct WebAsset {
  const char* path;          // "/index.html", "/editor.js", ...
  const char* content_type;  // "text/html; charset=utf-8", ...
  const char* data;
  size_t size;
};

const std::vector<WebAsset>& web_assets();

}  // namespace latentkit
