#include "tests/unit/test_util.h"
#include "latentkit/serve/server.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "latentkit/core/error.h"
#include "latentkit/data/captions.h"
#include "latentkit/models/dcgan.h"
#include "latentkit/models/diffusion.h"

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

namespace {

// A small text-to-image model (random weights) and its editor service.
std::unique_ptr<DdpmModel> tiny_t2i() {
  torch::manual_seed(31);
  DdpmOptions o;
  o.tokenizer = Tokenizer({"grinning face", "cat face with heart-eyes", "red heart"}, 6);
  o.unet.channels(4).image_size(8).width(8).mults({1, 2}).groups(4).text(
      TextEncoderOptions().vocab_size(o.tokenizer.vocab_size()).max_tokens(6).width(16).layers(1).heads(2));
  o.timesteps = 50;
  validate_ddpm_options(o);
  UNet net(o.unet);
  torch::NoGradGuard no_grad;
  for (auto& p : net->parameters()) p.add_(torch::randn_like(p) * 0.1);
  return std::make_unique<DdpmModel>(net, o);
}

nlohmann::json reply_json(const HttpReply& r) { return nlohmann::json::parse(r.body); }

}  // namespace

TEST(EditorService, TextToImageFromAPrompt) {
  AxisSet none;
  none.latent_dim = 4 * 8 * 8;
  EditorService service(tiny_t2i(), none, "runs/tiny-t2i");
  const nlohmann::json info = service.model_info();
  EXPECT_EQ(info["family"], "t2i");
  EXPECT_EQ(info["text"]["max_tokens"], 6);
  EXPECT_EQ(info["text"]["vocab_size"], 2 + 7);  // <pad> <unk> cat eyes face grinning heart red with
  EXPECT_EQ(info["diffusion"]["steps"], 20);

  auto post = [&](const std::string& body) { return service.handle("POST", "/api/v1/generate", body); };
  const HttpReply a = post(R"({"seed": 4, "prompt": "Cat face with kat eyes", "guidance": 3, "steps": 4})");
  ASSERT_EQ(a.status, 200) << a.body;
  const nlohmann::json ja = reply_json(a);
  EXPECT_EQ(ja["prompt"], "Cat face with kat eyes");
  ASSERT_EQ(ja["warnings"].size(), 1u);
  EXPECT_EQ(ja["warnings"][0], "unknown word 'kat' (nearest known: cat, face, heart)");
  EXPECT_EQ(ja["width"], 8);
  EXPECT_EQ(ja["image"].get<std::string>().rfind("data:image/png;base64,", 0), 0u);
  // The same request draws the same image; another prompt, guidance or sampler another one.
  EXPECT_EQ(reply_json(post(R"({"seed": 4, "prompt": "Cat face with kat eyes", "guidance": 3, "steps": 4})"))["image"], ja["image"]);
  for (const std::string other : {R"({"seed": 4, "prompt": "red heart", "guidance": 3, "steps": 4})",
                                  R"({"seed": 4, "prompt": "Cat face with kat eyes", "guidance": 1, "steps": 4})",
                                  R"({"seed": 4, "prompt": "Cat face with kat eyes", "guidance": 3, "steps": 4, "sampler": "ddim"})",
                                  R"({"seed": 4, "steps": 4})", R"({"seed": 4, "prompt": "", "steps": 4})"}) {
    const HttpReply r = post(other);
    ASSERT_EQ(r.status, 200) << other << ": " << r.body;
    EXPECT_NE(reply_json(r)["image"], ja["image"]) << other;
    EXPECT_EQ(reply_json(r)["warnings"].size(), other.find("kat") != std::string::npos ? 1u : 0u) << other;
  }
  // No prompt and an empty prompt are the same "no prompt" sample.
  EXPECT_EQ(reply_json(post(R"({"seed": 4, "steps": 4})"))["image"], reply_json(post(R"({"seed": 4, "prompt": "", "steps": 4})"))["image"]);
  // Bad requests: 400 with the reason.
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"seed": 4, "prompt": " ?! "})", "the prompt is empty"},
      {R"({"seed": 4, "prompt": "a b c d e f g"})", "the prompt has 7 words; this model reads at most 6"},
      {R"({"seed": 4, "prompt": 3})", "prompt must be a string"},
      {R"({"seed": 4, "prompt": "red", "guidance": 30})", "guidance must be in [0, 20]"},
      {R"({"seed": 4, "steps": 0})", "steps must be an integer in [1, 250]"},
      {R"({"seed": 4, "sampler": "ddpm"})", "sampler must be"},
      {R"({"seed": 4, "class": 1})", "this model has no classes"},
  };
  for (const auto& [body, message] : bad) {
    const HttpReply r = post(body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_NE(r.body.find(message), std::string::npos) << body << ": " << r.body;
  }
}

TEST(EditorService, APromptForAModelWithoutTextIsRefused) {
  torch::manual_seed(32);
  auto gan = std::make_unique<DcganModel>(DcganGenerator(DcganOptions().latent_dim(4).width(4)));
  AxisSet none;
  none.latent_dim = 4;
  EditorService service(std::move(gan), none, "runs/gan");
  EXPECT_TRUE(service.model_info()["text"].is_null());
  const HttpReply r = service.handle("POST", "/api/v1/generate", R"({"seed": 1, "prompt": "a cat"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("this model does not take a prompt"), std::string::npos) << r.body;
  const HttpReply g = service.handle("POST", "/api/v1/generate", R"({"seed": 1, "guidance": 2})");
  EXPECT_EQ(g.status, 400);
  EXPECT_NE(g.body.find("for diffusion models"), std::string::npos) << g.body;
  EXPECT_EQ(service.handle("POST", "/api/v1/generate", R"({"seed": 1})").status, 200);
}
