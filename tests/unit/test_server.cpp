#include "tests/unit/test_util.h"
#include "latentkit/serve/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "latentkit/core/base64.h"
#include "latentkit/core/signals.h"
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

// --- access: host and token ---------------------------------------------------------------

TEST(ServeAccess, ANonLoopbackHostNeedsAToken) {
  for (const char* host : {"127.0.0.1", "127.1.2.3", "::1", "localhost", "LOCALHOST", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(is_loopback_host(host)) << host;
  }
  for (const char* host : {"0.0.0.0", "::", "192.168.1.5", "10.0.0.1", "128.0.0.1", "example.com", "", "127.0.0.1.nip.io",
                           "localhost.example.com", "::ffff:10.0.0.1"}) {
    EXPECT_FALSE(is_loopback_host(host)) << host;
  }
  ServeOptions o;
  EXPECT_NO_THROW(check_serve_access(o));  // 127.0.0.1, no token
  o.host = "0.0.0.0";
  try {
    check_serve_access(o);
    ADD_FAILURE() << "0.0.0.0 without a token was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadInput);
    EXPECT_NE(std::string(e.what()).find("--host 0.0.0.0 is not a loopback address"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--token"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
  o.token = "0123456789abcdef";
  EXPECT_NO_THROW(check_serve_access(o));
  // Tokens go into URLs and cookies as they are: 16+ characters of a plain set.
  for (const char* bad : {"short", "0123456789abcde f", "0123456789abcdef;", "0123456789abcdef%", "0123456789abcdef\n"}) {
    o.token = bad;
    EXPECT_THROW(check_serve_access(o), Error) << bad;
  }
  o.token = std::string(257, 'a');
  EXPECT_THROW(check_serve_access(o), Error);
  ServeOptions folder;
  folder.host = "0.0.0.0";
  folder.port = 0;
  TempDir dir;
  write(dir.file("app/index.html"), "x");
  EXPECT_THROW(serve_folder(dir.str() + "/app", folder), Error);  // refused before it listens
}

TEST(ServeAccess, TokenCheck) {
  const std::string t = "s3cret-token-0123456789";
  EXPECT_TRUE(constant_time_equal(t, t));
  EXPECT_FALSE(constant_time_equal(t + "x", t));
  EXPECT_FALSE(constant_time_equal(t.substr(1), t));
  EXPECT_FALSE(constant_time_equal("", t));
  EXPECT_FALSE(constant_time_equal("S3cret-token-0123456789", t));
  EXPECT_EQ(check_token(t, 8080, "", "", ""), TokenCheck::kRefuse);
  EXPECT_EQ(check_token(t, 8080, "Bearer " + t, "", ""), TokenCheck::kPass);
  EXPECT_EQ(check_token(t, 8080, "bearer " + t, "", ""), TokenCheck::kPass);
  EXPECT_EQ(check_token(t, 8080, "Bearer " + t + "x", "", ""), TokenCheck::kRefuse);
  EXPECT_EQ(check_token(t, 8080, "Basic " + t, "", ""), TokenCheck::kRefuse);
  EXPECT_EQ(check_token(t, 8080, t, "", ""), TokenCheck::kRefuse);
  EXPECT_EQ(check_token(t, 8080, "", "a=1; latentkit_token_8080=" + t + "; b=2", ""), TokenCheck::kPass);
  EXPECT_EQ(check_token(t, 8080, "", "latentkit_token_8081=" + t, ""), TokenCheck::kRefuse);  // another server's
  EXPECT_EQ(check_token(t, 8080, "", "latentkit_token_8080=nope", ""), TokenCheck::kRefuse);
  EXPECT_EQ(check_token(t, 8080, "", "", t), TokenCheck::kSetCookie);
  EXPECT_EQ(check_token(t, 8080, "", "", "nope"), TokenCheck::kRefuse);
  EXPECT_EQ(token_cookie_name(8080), "latentkit_token_8080");
}

// --- the real HTTP server -----------------------------------------------------------------

namespace {

// A server running on a thread until this goes out of scope (request_stop()).
class RunningServer {
 public:
  // serve(on_listening) runs serve_folder / serve_editor with the callback.
  explicit RunningServer(std::function<void(const std::function<void(int)>&)> serve) {
    auto ready = std::make_shared<std::promise<int>>();
    std::future<int> port = ready->get_future();
    thread_ = std::thread([serve, ready] {
      try {
        serve([ready](int p) { ready->set_value(p); });
      } catch (...) {
        try {
          ready->set_exception(std::current_exception());
        } catch (...) {
        }
      }
    });
    try {
      port_ = port.get();
    } catch (...) {
      thread_.join();
      throw;
    }
  }
  ~RunningServer() {
    request_stop();
    thread_.join();
    clear_stop_request();
  }
  int port() const { return port_; }

 private:
  std::thread thread_;
  int port_ = 0;
};

int connect_to(int port) {
  const int sock = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(sock, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(sock);
    return -1;
  }
  return sock;
}

void send_all(int sock, const std::string& data) {
  for (size_t at = 0; at < data.size();) {
    const ssize_t n = ::send(sock, data.data() + at, data.size() - at, MSG_NOSIGNAL);
    if (n <= 0) return;  // the server closed early: what it answered is read next
    at += static_cast<size_t>(n);
  }
}

// What the server sends until it closes (or timeout_ms passes).
std::string read_all(int sock, int timeout_ms = 5000) {
  std::string reply;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buffer[4096];
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{sock, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = ::recv(sock, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    reply.append(buffer, static_cast<size_t>(n));
  }
  return reply;
}

// One raw request on its own connection; the reply as the server sent it.
std::string http_exchange(int port, const std::string& request, int timeout_ms = 5000) {
  const int sock = connect_to(port);
  if (sock < 0) return "";
  send_all(sock, request);
  std::string reply = read_all(sock, timeout_ms);
  ::close(sock);
  return reply;
}

int status_of(const std::string& reply) {
  if (reply.rfind("HTTP/1.1 ", 0) != 0 || reply.size() < 12) return -1;
  return std::stoi(reply.substr(9, 3));
}

std::string get_request(const std::string& target, const std::string& headers = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + headers + "\r\n";
}

}  // namespace

TEST(ServeHttp, StaticPathsCannotLeaveTheFolder) {
  TempDir dir;
  write(dir.file("app/index.html"), "<!doctype html>");
  write(dir.file("app/sub/page.js"), "page");
  // What no reply may hold (a 404 echoes the path, so the paths name other words).
  const std::string hidden = "HIDDEN-CONTENT", secret = "SECRET-CONTENT";
  write(dir.file("app/.hidden/x.txt"), hidden);
  write(dir.file("secret/private.txt"), secret);
  write(dir.file("private.txt"), secret);
  const std::string root = dir.str() + "/app";
  std::filesystem::create_symlink(dir.file("private.txt"), root + "/link.txt");
  std::filesystem::create_symlink(dir.str() + "/secret", root + "/linked");  // a folder inside pointing out
  std::filesystem::create_symlink(root + "/sub/page.js", root + "/inside.js");  // a link that stays inside
  std::filesystem::create_symlink(root + "/loop", root + "/loop");                // a link to itself
  ASSERT_EQ(::mkfifo((root + "/pipe").c_str(), 0600), 0);                         // reading it would block
  ServeOptions options;
  options.port = 0;
  RunningServer server([&](const std::function<void(int)>& on) { serve_folder(root, options, on); });
  const int port = server.port();

  EXPECT_EQ(status_of(http_exchange(port, get_request("/"))), 200);
  EXPECT_EQ(status_of(http_exchange(port, get_request("/sub/page.js"))), 200);
  EXPECT_EQ(status_of(http_exchange(port, get_request("/sub/%70age.js"))), 200);  // an encoded plain letter is fine
  EXPECT_EQ(status_of(http_exchange(port, get_request("/inside.js"))), 200);

  const std::string up = "/../private.txt";
  const std::vector<std::string> tricks = {
      up, "/sub/../../private.txt", "/%2e%2e/private.txt", "/%2E%2E/private.txt", "/.%2e/private.txt",
      "/%2e%2e%2fprivate.txt", "/sub%2f..%2f..%2fprivate.txt", "/..%2fprivate.txt", "/..%5cprivate.txt",
      "/%252e%252e/private.txt", "/%252e%252e%252fprivate.txt", "/..\\private.txt", "/sub\\..\\..\\private.txt",
      "/%5c..%5cprivate.txt", "//..//private.txt", "/./../private.txt", "/..;/private.txt", "/%c0%ae%c0%ae/private.txt",
      "/%e0%80%ae%e0%80%ae/private.txt", "/..%00/private.txt", "/index.html%00../../private.txt", "/%00", "/link.txt",
      "/linked/private.txt", "/linked/", "/linked", "/linked/../private.txt", "/.hidden/x.txt", "/%2ehidden/x.txt",
      "/sub/%2e%2e/%2e%2e/private.txt", "/" + dir.str() + "/private.txt", "//" + dir.str() + "/private.txt",
      "/%2f" + dir.str() + "/private.txt", "http://127.0.0.1/../private.txt", "file:///etc/passwd", "/etc/passwd",
      "/../../../../../../../../../../etc/passwd", "*", "/" + std::string(300, 'a'), "/" + std::string(4000, 'a'),
      "/" + std::string(7000, '/') + "../private.txt", "/" + std::string(20000, 'a'), "/?../../private.txt#x",
      "/sub/page.js/../../../private.txt", "/.", "/..", "/%2e", "/%2e%2e", "/loop", "/loop/x", "/pipe"};
  for (const std::string& target : tricks) {
    for (const char* method : {"GET", "HEAD"}) {
      const std::string reply = http_exchange(
          port, std::string(method) + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
      const int status = status_of(reply);
      // "/?../../private.txt" is the index with a query.
      if (target.rfind("/?", 0) == 0) {
        EXPECT_EQ(status, 200) << target;
      } else {
        EXPECT_TRUE(status >= 400 && status < 500) << method << " " << target.substr(0, 80) << ": " << reply.substr(0, 80);
      }
      EXPECT_EQ(reply.find(secret), std::string::npos) << target.substr(0, 80);
      EXPECT_EQ(reply.find(hidden), std::string::npos) << target.substr(0, 80);
    }
  }
  // Raw bytes the decoder never sees: a NUL, a tab, a bare LF in the request line.
  for (const std::string& line : {std::string("GET /..\0/private.txt HTTP/1.1", 29), std::string("GET /../private.txt\tHTTP/1.1"),
                                  std::string("GET /../private.txt HTTP/1.1\n"), std::string("GET ../private.txt HTTP/1.1"),
                                  std::string("GET /../private.txt HTTP/1.0")}) {
    const std::string reply = http_exchange(port, line + "\r\nConnection: close\r\n\r\n");
    const int status = status_of(reply);
    EXPECT_TRUE(status >= 400 && status < 500) << line << ": " << reply.substr(0, 80);
    EXPECT_EQ(reply.find(secret), std::string::npos) << line;
  }
  EXPECT_EQ(status_of(http_exchange(port, get_request("/"))), 200);  // still serving
}

TEST(ServeHttp, ATokenGuardsEveryRequest) {
  TempDir dir;
  write(dir.file("app/index.html"), "<!doctype html>");
  const std::string token = "e2e-token-0123456789";
  ServeOptions options;
  options.port = 0;
  options.token = token;
  RunningServer server([&](const std::function<void(int)>& on) { serve_folder(dir.str() + "/app", options, on); });
  const int port = server.port();

  for (const std::string& request : {get_request("/"), get_request("/", "Authorization: Bearer wrong-token-0123456789\r\n"),
                                     get_request("/?token=wrong"), get_request("/", "Cookie: latentkit_token_" + std::to_string(port) + "=x\r\n"),
                                     get_request("/", "Cookie: latentkit_token_1=" + token + "\r\n"),
                                     "POST /?token=" + token.substr(1) + " HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"}) {
    const std::string reply = http_exchange(port, request);
    EXPECT_EQ(status_of(reply), 401) << request;
    const size_t body = reply.find("\r\n\r\n");
    ASSERT_NE(body, std::string::npos) << reply;
    EXPECT_EQ(nlohmann::json::parse(reply.substr(body + 4)).at("error").get<std::string>().find("this server needs its token"), 0u)
        << reply;
    EXPECT_EQ(reply.find("<!doctype"), std::string::npos);
  }
  // A bearer token: the page. A ?token= link: a redirect without it, and the cookie.
  const std::string ok = http_exchange(port, get_request("/", "Authorization: Bearer " + token + "\r\n"));
  EXPECT_EQ(status_of(ok), 200) << ok;
  EXPECT_NE(ok.find("<!doctype html>"), std::string::npos);
  const std::string link = http_exchange(port, get_request("/index.html?a=1&token=" + token + "&b=2"));
  EXPECT_EQ(status_of(link), 303) << link;
  EXPECT_NE(link.find("Location: /index.html?a=1&b=2\r\n"), std::string::npos) << link;
  const std::string cookie = "latentkit_token_" + std::to_string(port) + "=" + token;
  EXPECT_NE(link.find("Set-Cookie: " + cookie + "; Path=/; HttpOnly; SameSite=Strict\r\n"), std::string::npos) << link;
  EXPECT_NE(http_exchange(port, get_request("//evil.example/?token=" + token)).find("Location: /evil.example/\r\n"), std::string::npos);
  const std::string with_cookie = http_exchange(port, get_request("/", "Cookie: theme=dark; " + cookie + "\r\n"));
  EXPECT_EQ(status_of(with_cookie), 200) << with_cookie;
  // Refusals come before the path is looked at: a missing file without the token is 401 too.
  EXPECT_EQ(status_of(http_exchange(port, get_request("/missing.js"))), 401);
  EXPECT_EQ(status_of(http_exchange(port, get_request("/missing.js", "Authorization: Bearer " + token + "\r\n"))), 404);
}

TEST(ServeHttp, TheEditorApiNeedsTheTokenToo) {
  torch::manual_seed(33);
  AxisSet none;
  none.latent_dim = 4;
  EditorService service(std::make_unique<DcganModel>(DcganGenerator(DcganOptions().latent_dim(4).width(4))), none, "runs/gan");
  ServeOptions options;
  options.port = 0;
  options.token = "editor-token-0123456789";
  RunningServer server([&](const std::function<void(int)>& on) { serve_editor(service, options, on); });
  const std::string body = R"({"seed": 3})";
  auto post = [&](const std::string& headers, const std::string& data) {
    return http_exchange(server.port(), "POST /api/v1/generate HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
                                   "application/json\r\nContent-Length: " +
                                       std::to_string(data.size()) + "\r\n" + headers + "\r\n" + data);
  };
  EXPECT_EQ(status_of(post("", body)), 401);
  EXPECT_EQ(status_of(http_exchange(server.port(), get_request("/api/v1/model"))), 401);
  const std::string bearer = "Authorization: Bearer editor-token-0123456789\r\n";
  const std::string ok = post(bearer, body);
  ASSERT_EQ(status_of(ok), 200) << ok.substr(0, 200);
  EXPECT_NE(ok.find("data:image/png;base64,"), std::string::npos);
  EXPECT_EQ(status_of(http_exchange(server.port(), get_request("/api/v1/model", bearer))), 200);
  EXPECT_EQ(status_of(post(bearer, "{\"seed\": ")), 400);
  const std::string big = post(bearer, std::string(options.max_body + 100, ' '));
  EXPECT_EQ(status_of(big), 400) << big.substr(0, 200);
  EXPECT_NE(big.find("request body over 65536 bytes"), std::string::npos) << big.substr(0, 300);
}

TEST(ServeHttp, SlowAndHugeRequestsGet4xxAndDoNotStarveTheServer) {
  TempDir dir;
  write(dir.file("app/index.html"), "<!doctype html>");
  ServeOptions options;
  options.port = 0;
  options.request_timeout_ms = 1500;
  options.read_gap_ms = 1000;
  RunningServer server([&](const std::function<void(int)>& on) { serve_folder(dir.str() + "/app", options, on); });
  const int port = server.port();

  // 40 slowloris connections (httplib's own pool has 8 threads), each trickling a header.
  std::vector<int> slow;
  for (int i = 0; i < 40; ++i) {
    const int sock = connect_to(port);
    ASSERT_GE(sock, 0);
    send_all(sock, "GET / HTTP/1.1\r\nHost: x\r\n");
    slow.push_back(sock);
  }
  for (int round = 0; round < 2; ++round) {
    for (int sock : slow) send_all(sock, "X-a: b\r\n");
    const auto start = std::chrono::steady_clock::now();
    const std::string reply = http_exchange(port, get_request("/"));
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(status_of(reply), 200) << reply.substr(0, 80);
    EXPECT_LT(ms, 1000.0) << "a good request waited behind slow ones";
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  // Past request_timeout_ms a slow client gets 400 and its connection closed.
  const auto start = std::chrono::steady_clock::now();
  int cut = 0;
  for (int sock : slow) {
    const std::string reply = read_all(sock, 3000);
    cut += status_of(reply) == 400;
    ::close(sock);
  }
  EXPECT_EQ(cut, 40);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 3.0);

  // Huge heads and bodies: 4xx, answered rather than dropped.
  const std::vector<std::pair<std::string, std::string>> huge = {
      {"a request line of 20 KB", "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nConnection: close\r\n\r\n"},
      {"a request line of 1 MB and no newline", "GET /" + std::string(1 << 20, 'a')},
      {"a header of 100 KB", "GET / HTTP/1.1\r\nX-Big: " + std::string(100000, 'b') + "\r\nConnection: close\r\n\r\n"},
      {"3000 headers", "GET / HTTP/1.1\r\n" + [] {
         std::string h;
         for (int i = 0; i < 3000; ++i) h += "X-" + std::to_string(i) + ": " + std::string(60, 'h') + "\r\n";
         return h;
       }() + "Connection: close\r\n\r\n"},
      {"a body of 1 MB", "POST / HTTP/1.1\r\nContent-Length: 1048576\r\nConnection: close\r\n\r\n" + std::string(1 << 20, 'x')},
      {"a chunked body of 1 MB", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n100000\r\n" +
                                     std::string(1 << 20, 'x') + "\r\n0\r\n\r\n"},
      {"a bad request line", "HELLO\r\n\r\n"},
      {"an unknown method", "BREW / HTTP/1.1\r\nConnection: close\r\n\r\n"},
      {"a bad version", "GET / HTTP/9.9\r\nConnection: close\r\n\r\n"},
      {"a bad Content-Length", "POST / HTTP/1.1\r\nContent-Length: -5\r\nConnection: close\r\n\r\n"},
      {"a bad Range", "GET / HTTP/1.1\r\nRange: bytes=9-1\r\nConnection: close\r\n\r\n"},
  };
  for (const auto& [what, request] : huge) {
    const std::string reply = http_exchange(port, request);
    const int status = status_of(reply);
    EXPECT_TRUE(status >= 400 && status < 500) << what << ": " << reply.substr(0, 80);
  }
  EXPECT_EQ(status_of(http_exchange(port, get_request("/"))), 200);  // still serving
}
