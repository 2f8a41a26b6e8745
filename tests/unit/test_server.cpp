#include "tests/unit/test_util.h"
#include "latentkit/serve/server.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "latentkit/core/error.h"

using namespace latentkit;
using latentkit::test_util::TempDir;

namespace {

void write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

}  // namespace

TEST(StaticFiles, ServesTheFolderAndNothingOutsideIt) {
  TempDir dir;
  const std::string app = dir.file("app/index.html");
  write(app, "<!doctype html>");
  write(dir.file("app/models/m.lkm"), std::string("LKRT\0\1", 6));
  write(dir.file("app/lkrt-wasm.wasm"), "\0asm");
  write(dir.file("app/.secret"), "key");
  write(dir.file("outside.txt"), "private");
  const std::string root = std::filesystem::path(app).parent_path().string();
  std::filesystem::create_symlink(dir.file("outside.txt"), root + "/link.txt");

  HttpReply r = static_file_reply(root, "GET", "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "<!doctype html>");
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  r = static_file_reply(root, "GET", "/models/m.lkm");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, std::string("LKRT\0\1", 6));  // binary, byte for byte
  EXPECT_EQ(r.content_type, "application/octet-stream");
  EXPECT_EQ(static_file_reply(root, "GET", "/lkrt-wasm.wasm").content_type, "application/wasm");
  EXPECT_EQ(static_file_reply(root, "HEAD", "/index.html").status, 200);
  EXPECT_EQ(static_file_reply(root, "GET", "/models/").status, 404);  // a folder with no index.html

  // Decoded paths that leave the folder, hidden files, links out of it: all 404.
  for (const char* path : {"/../outside.txt", "/models/../../outside.txt", "/.secret", "/link.txt", "/missing.js",
                           "", "relative", "/a\\..\\..\\outside.txt", "/..", "/./index.html"}) {
    const HttpReply bad = static_file_reply(root, "GET", path);
    EXPECT_EQ(bad.status, 404) << path;
    EXPECT_EQ(bad.body.find("private"), std::string::npos) << path;
  }
  EXPECT_EQ(static_file_reply(root, "POST", "/index.html").status, 405);  // no inference route
  EXPECT_EQ(static_file_reply(dir.file("nowhere"), "GET", "/").status, 404);
  ServeOptions options;
  EXPECT_THROW(serve_folder(dir.file("nowhere"), options), Error);  // before it listens
}
