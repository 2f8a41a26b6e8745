#pragma once
// The latent editor over HTTP: the page in web/ (embedded in the binary) and a JSON API
// under /api/v1 (docs/http-api.md) to generate images from a seed or a latent, moved
// along feature axes with others locked; a text-to-image model's from a prompt too.
// For a spade run, GauGAN's paint demo instead: web/paint.html and /api/paint.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "latentkit/core/threads.h"
#include "latentkit/data/labelmaps.h"
#include "latentkit/models/generator.h"
#include "latentkit/models/spade.h"
#include "latentkit/steer/axes.h"

namespace latentkit {

class DdpmModel;

struct ServeOptions {
  std::string host = "127.0.0.1";  // loopback unless told otherwise
  int port = 8080;                 // 0: any free port
  size_t max_body = 64 * 1024;     // larger request bodies get 400
  /// Connections served at once, each on a thread of its own (a slow client holds one of
  /// these, and is cut after request_timeout_ms); more wait their turn.
  int workers = 256;
  /// Every request must carry it (docs/http-api.md, "Tokens"); empty: none, allowed on a
  /// loopback host only.
  std::string token;
  /// A request's line, headers and body must arrive within this, with no gap over
  /// read_gap_ms; a client that is slower gets 400 and its connection closed.
  int request_timeout_ms = 10000;
  int read_gap_ms = 3000;
};

/// 127.0.0.0/8, ::1 (or ::ffff:127.x.y.z) and "localhost": only this machine can connect.
bool is_loopback_host(const std::string& host);

/// Checks host and token before anything loads: a token is 16 to 256 characters of
/// A-Z a-z 0-9 . _ ~ - (it goes into URLs and cookies as it is), and a host that is not
/// loopback needs one. An Error (bad input) saying what to do otherwise.
void check_serve_access(const ServeOptions& options);

/// a == b in a time that depends only on a's length (a: what the client sent).
bool constant_time_equal(const std::string& a, const std::string& b);

/// What a request with these credentials gets from the server on `port` with `token`
/// (non-empty): the Authorization header ("Bearer T"), the Cookie header (the cookie
/// token_cookie_name(port)), the query's token parameter.
enum class TokenCheck {
  kPass,          // a matching bearer token or cookie
  kSetCookie,     // a matching ?token=: set the cookie and redirect to the URL without it
  kRefuse,        // missing or wrong: 401
};
TokenCheck check_token(const std::string& token, int port, const std::string& authorization,
                       const std::string& cookie, const std::string& query_token);
/// The cookie that carries the token for the server on `port` (one per port: two servers on
/// one machine do not overwrite each other's).
std::string token_cookie_name(int port);

/// One answer of the API: status, content type and body.
struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

class EditorService {
 public:
  /// The axes must fit the generator's latent size (else an Error).
  EditorService(std::unique_ptr<Generator> generator, AxisSet axes, std::string run);

  /// Answers method + path (+ body) for the API and the embedded page; never throws:
  /// bad requests get 400 with {"error": "..."}, unknown paths 404, internal failures 500.
  HttpReply handle(const std::string& method, const std::string& path, const std::string& body);

  nlohmann::json model_info() const;
  nlohmann::json axes_info() const;
  /// The POST /api/v1/generate body -> its reply JSON. Throws Error (bad input) on a bad request.
  /// Runs on the service's model thread, one request at a time.
  nlohmann::json generate(const nlohmann::json& request);

 private:
  nlohmann::json generate_here(const nlohmann::json& request);

  std::unique_ptr<Generator> generator_;
  AxisSet axes_;
  std::string run_;
  std::vector<std::string> class_names_;
  DdpmModel* diffusion_ = nullptr;  // the generator, when it is a diffusion model (ddpm, cddpm, t2i)
  SerialThread model_thread_;       // every request's LibTorch work, one at a time
};

/// GauGAN's paint demo for a spade run: paint a label map in the page, see what the model
/// draws from it (docs/http-api.md, "Paint"). The model loads once; the example maps (the
/// run's data, test split) on the first GET /api/paint/example.
class PaintService {
 public:
  /// Most images one POST /api/paint draws.
  static constexpr int64_t kMaxImages = 4;
  /// Example maps kept from the run's test split (example seed K shows map K mod their count).
  static constexpr int64_t kMaxExamples = 256;

  /// Loads the spade run (load_spade: a run of another family is an Error).
  explicit PaintService(std::string run);

  /// Answers method + target (path, and a query for /api/paint/example) + body, as
  /// EditorService::handle does: never throws; 400 {"error": "..."} for bad requests.
  HttpReply handle(const std::string& method, const std::string& target, const std::string& body);

  /// GET /api/paint/palette: size, palette, classes (index, name, color), latent_dim.
  nlohmann::json palette_info() const;
  /// GET /api/paint/example?seed=K: {"map": [S*S ids], "index": K mod M, "count": M, "size": S}.
  /// Like paint, runs on the service's model thread.
  nlohmann::json example(int64_t seed);
  /// The POST /api/paint body -> {"images": [PNG data URLs], "ms": ...}. Throws Error (bad input).
  nlohmann::json paint(const nlohmann::json& request);
  /// The largest body POST /api/paint needs (a map of the model's size in JSON), for ServeOptions.
  size_t max_body() const;
  const SpadeRun& model() const { return model_; }

 private:
  nlohmann::json example_here(int64_t seed);
  nlohmann::json paint_here(const nlohmann::json& request);

  std::string run_;
  SpadeRun model_;
  const MapPalette* palette_ = nullptr;
  torch::Tensor examples_;  // uint8 [M, S, S]; undefined until the first example request
  SerialThread model_thread_;  // example and paint, one at a time
};

/// Serves the paint page and /api/paint until SIGINT / SIGTERM, as serve_editor does; bodies
/// up to max(options.max_body, service.max_body()).
void serve_paint(PaintService& service, const ServeOptions& options, const std::function<void(int)>& on_listening = {});

/// GET (or HEAD) path answered from the files under root, as a static file server does: "/"
/// and folders give their index.html; a path that leaves root (.., a link out of it), a
/// hidden file or a missing one is 404; other methods 405. Never throws.
HttpReply static_file_reply(const std::string& root, const std::string& method, const std::string& path);

/// Serves the files under root (the browser app: scripts/build app writes build/app/) and
/// nothing else, until SIGINT / SIGTERM, as serve_editor does. A missing root or one with
/// no index.html is an Error.
void serve_folder(const std::string& root, const ServeOptions& options, const std::function<void(int)>& on_listening = {});

/// Serves the editor until SIGINT / SIGTERM (or stop_requested()). Prints the address on
/// stderr once it listens; on_listening(port), when given, is called then too.
void serve_editor(EditorService& service, const ServeOptions& options,
                  const std::function<void(int)>& on_listening = {});

}  // namespace latentkit
