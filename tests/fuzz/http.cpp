// The server's side of HTTP as latentkit serve answers it after cpp-httplib has parsed the
// request: the editor's and the paint page's API on their JSON bodies, and the static files
// of serve --app on their paths (which must never leave the served folder).
#include <filesystem>
#include <memory>
#include <string>

#include "latentkit/models/registry.h"
#include "latentkit/serve/server.h"
#include "latentkit/steer/axes.h"
#include "tests/fuzz/fuzz.h"

namespace fs = std::filesystem;
using namespace latentkit;
using namespace latentkit::fuzz;

namespace {

const char* const kMethods[] = {"GET", "POST", "HEAD", "PUT"};
const char* const kEditorPaths[] = {"/api/v1/generate", "/api/v1/model", "/api/v1/axes", "/", "/editor.js", "/api/v2"};
const char* const kPaintPaths[] = {"/api/paint", "/api/paint/palette", "/api/paint/example?seed=", "/", "/paint.js"};

// The shipped models the API serves in the tests and the demo.
EditorService& editor() {
  static EditorService service(load_generator(LATENTKIT_SOURCE_DIR "/models/fashion-dcgan"),
                               read_axes(LATENTKIT_SOURCE_DIR "/models/fashion-axes.json"),
                               LATENTKIT_SOURCE_DIR "/models/fashion-dcgan");
  return service;
}

PaintService& paint() {
  static PaintService service(LATENTKIT_SOURCE_DIR "/models/shapes-spade");
  return service;
}

// The answer to bad input is 4xx; 5xx means the server failed on it.
void check(const HttpReply& reply, const std::string& what) {
  if (reply.status >= 500) {
    std::fprintf(stderr, "latentkit_fuzz: %s answered %d: %s\n", what.c_str(), reply.status, reply.body.c_str());
    std::abort();
  }
}

}  // namespace

// The first byte picks the method and the path; the rest is the body.
LATENTKIT_FUZZ_TARGET(http, "API request bodies: the editor's and the paint page's handle(method, path, body)") {
  if (size < 1) return;
  const std::string method = kMethods[data[0] & 3];
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 0x80) {
    std::string path = kPaintPaths[(data[0] >> 2) % 5];
    if (path.back() == '=') path += body.substr(0, 24);
    check(paint().handle(method, path, body), method + " " + path);
  } else {
    const std::string path = kEditorPaths[(data[0] >> 2) % 6];
    check(editor().handle(method, path, body), method + " " + path);
  }
}

// A served folder with a file, a sub-folder, a hidden file and links out of it; beside it a
// secret that no path may reach.
LATENTKIT_FUZZ_TARGET(static, "static file paths (serve --app): static_file_reply must stay inside the folder") {
  static const fs::path root = [] {
    const fs::path dir = fs::path(scratch_dir()) / "site";
    fs::create_directories(dir / "sub");
    write_scratch("site/index.html", reinterpret_cast<const uint8_t*>("index"), 5);
    write_scratch("site/sub/page.js", reinterpret_cast<const uint8_t*>("page"), 4);
    write_scratch("site/.hidden", reinterpret_cast<const uint8_t*>("hidden"), 6);
    write_scratch("secret.txt", reinterpret_cast<const uint8_t*>("SECRET"), 6);
    std::error_code ec;
    fs::create_symlink("../secret.txt", dir / "link.txt", ec);
    fs::create_directory_symlink("..", dir / "up", ec);
    return dir;
  }();
  const std::string path(reinterpret_cast<const char*>(data), size);
  for (const char* method : {"GET", "HEAD", "POST"}) {
    const HttpReply reply = static_file_reply(root.string(), method, path);
    check(reply, std::string(method) + " " + path);
    // 200 with a file's bytes (a 404 may quote the path, and the path may hold any text).
    if (reply.status == 200 && (reply.body == "SECRET" || reply.body == "hidden")) {
      std::fprintf(stderr, "latentkit_fuzz: static path %s reached a file outside the folder or a hidden one\n", path.c_str());
      std::abort();
    }
  }
}
