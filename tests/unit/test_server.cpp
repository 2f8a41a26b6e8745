#include "tests/unit/test_util.h"
#include "latentkit/serve/server.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "latentkit/core/base64.h"
#include "latentkit/core/error.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/image.h"
#include "latentkit/data/captions.h"
#include "latentkit/data/dataset.h"
#include "latentkit/models/dcgan.h"
#include "latentkit/models/diffusion.h"
#include "latentkit/models/generator.h"
#include "latentkit/train/spade_trainer.h"

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

namespace {

// A tiny spade run (16 px, scenes palette), trained for one step: the paint page's model.
std::string tiny_spade_run(const TempDir& dir) {
  SpadeTrainOptions o;
  o.loop.out = dir.str() + "/spade";
  o.loop.data.spec = "shapes-scenes:8";
  o.loop.data.size = 16;
  o.model.width(4).d_width(4).latent_dim(8);
  o.loop.epochs = 1;
  o.loop.batch = 8;
  o.loop.max_steps = 1;
  o.loop.seed = 3;
  o.loop.threads = 1;
  o.loop.sample_count = 2;
  train_spade(o, false);
  return o.loop.out;
}

std::string map_json(const std::vector<int64_t>& ids) { return nlohmann::json(ids).dump(); }

// The PNG inside a data URL.
Image data_url_png(const std::string& url) {
  const std::string prefix = "data:image/png;base64,";
  EXPECT_EQ(url.rfind(prefix, 0), 0u) << url.substr(0, 40);
  return decode_png(base64_decode(url.substr(prefix.size())), "reply");
}

}  // namespace

TEST(PaintService, PaletteExamplesAndPictures) {
  TempDir dir;
  const std::string run = tiny_spade_run(dir);
  PaintService service(run);

  // The palette: the scenes classes with their colors, the map size and the latent size.
  const HttpReply pr = service.handle("GET", "/api/paint/palette", "");
  ASSERT_EQ(pr.status, 200) << pr.body;
  const nlohmann::json palette = reply_json(pr);
  EXPECT_EQ(palette["size"], 16);
  EXPECT_EQ(palette["palette"], "scenes");
  EXPECT_EQ(palette["latent_dim"], 8);
  EXPECT_EQ(palette["max_n"], 4);
  const nlohmann::json classes = nlohmann::json::parse(
      R"([{"index": 0, "name": "background", "color": "#000000"}, {"index": 1, "name": "square", "color": "#ff0000"},
          {"index": 2, "name": "circle", "color": "#00ff00"}, {"index": 3, "name": "triangle", "color": "#0000ff"}])");
  EXPECT_EQ(palette["classes"], classes);

  // Examples: the run's test split (shapes-scenes:8 -> 8 maps), seed K is map K mod 8.
  DataOptions test_data;
  test_data.spec = "shapes-scenes:8";
  test_data.size = 16;
  test_data.split = "test";
  const torch::Tensor truth = load_dataset(test_data).maps;
  const nlohmann::json e3 = reply_json(service.handle("GET", "/api/paint/example?seed=3", ""));
  EXPECT_EQ(e3["count"], 8);
  EXPECT_EQ(e3["index"], 3);
  EXPECT_EQ(e3["size"], 16);
  const std::vector<int64_t> map3 = e3["map"].get<std::vector<int64_t>>();
  ASSERT_EQ(map3.size(), 256u);
  const torch::Tensor want = truth[3].to(torch::kInt64).flatten().contiguous();
  EXPECT_EQ(map3, std::vector<int64_t>(want.data_ptr<int64_t>(), want.data_ptr<int64_t>() + 256));
  EXPECT_EQ(reply_json(service.handle("GET", "/api/paint/example?seed=11", ""))["map"], e3["map"]);
  EXPECT_EQ(reply_json(service.handle("GET", "/api/paint/example", ""))["index"], 0);
  EXPECT_NE(reply_json(service.handle("GET", "/api/paint/example?seed=4", ""))["map"], e3["map"]);

  // Pictures: n PNGs of 16x16, the images spade_generate draws with the seed's latents (those
  // of generate --mask --seed --n), the same for the same request.
  const std::string body = R"({"map": )" + map_json(map3) + R"(, "seed": 5, "n": 2})";
  const HttpReply r = service.handle("POST", "/api/paint", body);
  ASSERT_EQ(r.status, 200) << r.body;
  const nlohmann::json j = reply_json(r);
  ASSERT_EQ(j["images"].size(), 2u);
  EXPECT_GE(j["ms"].get<double>(), 0.0);
  SpadeRun model = load_spade(run);
  torch::Generator rng = make_rng(5);
  const torch::Tensor z = torch::randn({2, 8}, rng);
  const torch::Tensor expected = spade_generate(*model.net, truth.slice(0, 3, 4).expand({2, 16, 16}), z);
  for (int i = 0; i < 2; ++i) {
    const Image png = data_url_png(j["images"][i]);
    EXPECT_EQ(png.width, 16);
    EXPECT_EQ(png.height, 16);
    EXPECT_EQ(j["images"][i], "data:image/png;base64," + base64_encode(encode_png(tensor_to_image(expected[i])))) << i;
  }
  EXPECT_NE(j["images"][0], j["images"][1]);  // one style latent each
  EXPECT_EQ(reply_json(service.handle("POST", "/api/paint", body))["images"], j["images"]);
  // Another seed, another map: other pictures. Defaults: seed 0, one picture.
  const nlohmann::json other_seed =
      reply_json(service.handle("POST", "/api/paint", R"({"map": )" + map_json(map3) + R"(, "seed": 6, "n": 2})"));
  EXPECT_NE(other_seed["images"][0], j["images"][0]);
  std::vector<int64_t> painted = map3;
  std::fill(painted.begin(), painted.begin() + 128, 2);  // the top half a circle
  const nlohmann::json other_map =
      reply_json(service.handle("POST", "/api/paint", R"({"map": )" + map_json(painted) + R"(, "seed": 5, "n": 2})"));
  EXPECT_NE(other_map["images"][0], j["images"][0]);
  const nlohmann::json one = reply_json(service.handle("POST", "/api/paint", R"({"map": )" + map_json(map3) + "}"));
  EXPECT_EQ(one["images"].size(), 1u);
  EXPECT_EQ(one["seed"], 0);

  // The page and its files; the editor's page is not this run's.
  const HttpReply page = service.handle("GET", "/", "");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("paint.js"), std::string::npos);
  EXPECT_EQ(service.handle("GET", "/paint.js", "").content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(service.handle("GET", "/paint.css", "").status, 200);
  EXPECT_EQ(service.handle("GET", "/editor.css", "").status, 200);
  EXPECT_EQ(service.handle("GET", "/editor.js", "").status, 404);
  EXPECT_EQ(service.handle("GET", "/api/v1/model", "").status, 404);
  EXPECT_EQ(service.handle("GET", "/api/paint", "").status, 405);
  EXPECT_EQ(service.handle("POST", "/api/paint/palette", "").status, 405);
  EXPECT_GE(service.max_body(), 3u * 256u);
}

TEST(PaintService, BadRequestsGetOneLineSayingWhatWasExpected) {
  TempDir dir;
  PaintService service(tiny_spade_run(dir));
  const std::string zeros = map_json(std::vector<int64_t>(256, 0));
  std::vector<int64_t> five(256, 0);
  five[37] = 5;
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "the body is not JSON"},
      {"{\"map\": [0, 1", "the body is not JSON"},
      {"[1, 2]", "the request body must be a JSON object {\"map\": [256 class ids, row by row]"},
      {"{}", "give \"map\": 256 class ids (the 16x16 label map, row by row)"},
      {R"({"map": "abc"})", "map must be an array of 256 class ids (the 16x16 label map, row by row), got string"},
      {R"({"map": [0, 1, 2]})", "map has 3 entries; expected 256 class ids (16x16, row by row)"},
      {R"({"map": )" + map_json(five) + "}",
       "map[37] (x 5, y 2) is 5; expected a class id in [0, 4): 0 background, 1 square, 2 circle, 3 triangle"},
      {R"({"map": )" + map_json(std::vector<int64_t>(256, -1)) + "}", "map[0] (x 0, y 0) is -1; expected a class id"},
      {R"({"map": )" + zeros + R"(, "n": 5})", "n must be an integer in [1, 4], got 5"},
      {R"({"map": )" + zeros + R"(, "n": 0})", "n must be an integer in [1, 4], got 0"},
      {R"({"map": )" + zeros + R"(, "n": "2"})", "n must be an integer in [1, 4], got \"2\""},
      {R"({"map": )" + zeros + R"(, "seed": -1})", "seed must be an integer in [0, 2^53], got -1"},
      {R"({"map": )" + zeros + R"(, "seed": 1.5})", "seed must be an integer in [0, 2^53], got 1.5"},
      {R"({"map": )" + zeros + R"(, "style": 1})", "unknown field 'style'; expected {\"map\""},
  };
  for (const auto& [body, message] : bad) {
    const HttpReply r = service.handle("POST", "/api/paint", body);
    EXPECT_EQ(r.status, 400) << body.substr(0, 80);
    EXPECT_EQ(r.content_type, "application/json");
    const std::string error = reply_json(r)["error"];
    EXPECT_NE(error.find(message), std::string::npos) << body.substr(0, 80) << ": " << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
  // A float id among integers.
  std::string floats = zeros;
  floats.replace(1, 1, "0.5");
  EXPECT_NE(reply_json(service.handle("POST", "/api/paint", R"({"map": )" + floats + "}"))["error"].get<std::string>().find(
                "map[0] (x 0, y 0) is 0.5; expected a class id in [0, 4)"),
            std::string::npos);
  // The example's seed: a non-negative integer, no other parameter.
  for (const std::string target : {"/api/paint/example?seed=-1", "/api/paint/example?seed=abc",
                                    "/api/paint/example?seed=", "/api/paint/example?seed=99999999999999999",
                                    "/api/paint/example?page=2", "/api/paint/example?seed"}) {
    const HttpReply r = service.handle("GET", target, "");
    EXPECT_EQ(r.status, 400) << target;
    EXPECT_NE(r.body.find(target.find("page") != std::string::npos || target.back() == 'd' ? "expected /api/paint/example?seed=K"
                                                                                          : "the example seed must be an integer in [0, 2^53]"),
              std::string::npos)
        << target << ": " << r.body;
  }
  // Still serving after all of it.
  EXPECT_EQ(service.handle("POST", "/api/paint", R"({"map": )" + zeros + "}").status, 200);
  // Not a spade run: a clear error.
  EXPECT_THROW(PaintService(dir.file("nowhere")), Error);
}
