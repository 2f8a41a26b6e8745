#include "latentkit/serve/server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "latentkit/core/base64.h"
#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/json.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/image.h"
#include "latentkit/core/signals.h"
#include "latentkit/data/captions.h"
#include "latentkit/data/dataset.h"
#include "latentkit/models/diffusion.h"
#include "latentkit/models/registry.h"
#include "latentkit/serve/web_assets.h"

namespace latentkit {
namespace {

// Moves and latent entries beyond this are not edits but mistakes (the prior's mass lies
// within a few units).
constexpr double kMaxValue = 100.0;
constexpr int64_t kMaxSeed = (int64_t{1} << 53);
// Diffusion models in the editor: DPM-Solver++ in this many steps unless the request says.
constexpr int64_t kDiffusionSteps = 20;

// JSON text of a reply: bytes that are not UTF-8 (a request's, quoted in an error) become
// U+FFFD instead of an exception.
std::string json_text(const nlohmann::json& body) {
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

HttpReply json_reply(int status, const nlohmann::json& body) { return {status, "application/json", json_text(body)}; }
HttpReply error_reply(int status, const std::string& message) { return json_reply(status, {{"error", message}}); }

double finite_number(const nlohmann::json& value, const std::string& what) {
  check_input(value.is_number(), what + " must be a number, got " + value.dump().substr(0, 40));
  const double v = value.get<double>();
  check_input(std::isfinite(v) && std::abs(v) <= kMaxValue,
              what + " must be finite and at most " + std::to_string(static_cast<int>(kMaxValue)) + " in size");
  return v;
}

// Content types of the files a static web app holds; others are application/octet-stream.
std::string content_type_of(const std::string& path) {
  static const std::vector<std::pair<std::string, std::string>> kTypes = {
      {".html", "text/html; charset=utf-8"},  {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},          {".wasm", "application/wasm"},
      {".png", "image/png"},                  {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},                {".svg", "image/svg+xml"},
      {".txt", "text/plain; charset=utf-8"},  {".md", "text/plain; charset=utf-8"},
      {".ts", "text/plain; charset=utf-8"},   {".ico", "image/x-icon"}};
  for (const auto& [ext, type] : kTypes) {
    if (path.size() >= ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0) return type;
  }
  return "application/octet-stream";
}

// --- connections ----------------------------------------------------------------------
//
// httplib 0.11 (Debian 12) reads a request with a timeout per read only: a client that sends
// one byte every few seconds holds a worker for ever, and a fixed pool of workers is soon all
// held; a request line or a header block without a newline grows without bound. GuardedServer
// replaces its per-connection loop (a private virtual of httplib::Server, meant to be
// overridden, as its SSLServer does) with one that reads through GuardedStream, and
// ConnectionPool gives every connection its own thread (up to ServeOptions::workers), so a
// few slow clients cannot hold every thread that answers.

using Clock = std::chrono::steady_clock;

// An idle kept-alive connection closes after this: an open browser tab holds one, which
// Ctrl-C would wait out.
constexpr int kKeepAliveMs = 1000;
constexpr int kMaxRequestsPerConnection = 100;
// A request's line and headers together; httplib refuses a single line over 8 KiB anyway.
constexpr size_t kMaxHead = 64 * 1024;
constexpr int kWriteTimeoutMs = 5000;
// After a refusal the client may still be sending: what it sends is read and dropped for this
// long before the socket closes, so the answer is not lost to a TCP reset.
constexpr int kLingerMs = 1000;
constexpr int kPollSliceMs = 100;

// Set by a handler on its connection's thread: close the connection after this reply (a 401
// answered before the body was read).
thread_local bool t_close_connection = false;

int ms_until(Clock::time_point t) {
  return static_cast<int>(std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count()));
}

// poll() for one event on one socket: > 0 ready, 0 timed out, < 0 error.
int poll_one(int sock, short events, int timeout_ms) {
  pollfd p{sock, events, 0};
  for (;;) {
    const int r = ::poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    return r;
  }
}

void address_of(int sock, bool peer, std::string& ip, int& port) {
  sockaddr_storage a{};
  socklen_t n = sizeof a;
  ip.clear();
  port = 0;
  if ((peer ? ::getpeername(sock, reinterpret_cast<sockaddr*>(&a), &n) : ::getsockname(sock, reinterpret_cast<sockaddr*>(&a), &n)) != 0) return;
  char text[INET6_ADDRSTRLEN] = {0};
  if (a.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&a);
    ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    port = ntohs(v4->sin_port);
  } else if (a.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&a);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    port = ntohs(v6->sin6_port);
  }
  ip = text;
}

// One connection's socket as httplib reads and writes it, with the limits of one request:
// its line, headers and body within request_timeout_ms, no gap over read_gap_ms, at most
// max_bytes. Past a limit a read is the end of the stream: httplib answers 400 (or 413, 414)
// for what it has, and the connection closes after the reply.
class GuardedStream : public httplib::Stream {
 public:
  GuardedStream(int sock, const ServeOptions& options, const std::atomic<int>& listening)
      : sock_(sock), options_(options), listening_(listening) {}

  // Limits start again for the next request on the connection.
  void begin_request(size_t max_bytes) {
    deadline_ = Clock::now() + std::chrono::milliseconds(options_.request_timeout_ms);
    max_bytes_ = max_bytes;
    read_ = end_ - pos_;  // bytes of this request read ahead with the last one
    cut_ = false;
  }
  bool cut() const { return cut_; }
  bool buffered() const { return pos_ < end_; }

  bool is_readable() const override { return buffered() || poll_one(sock_, POLLIN, 0) > 0; }
  bool is_writable() const override { return poll_one(sock_, POLLOUT, 0) > 0; }

  ssize_t read(char* ptr, size_t size) override {
    if (!buffered()) {
      const ssize_t n = fill();
      if (n <= 0) return n;
    }
    const size_t n = std::min(size, end_ - pos_);
    std::memcpy(ptr, buffer_ + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    const Clock::time_point until = Clock::now() + std::chrono::milliseconds(kWriteTimeoutMs);
    for (;;) {
      if (listening_ == INVALID_SOCKET) return -1;
      const int ready = poll_one(sock_, POLLOUT, std::min(kPollSliceMs, ms_until(until)));
      if (ready < 0) return -1;
      if (ready == 0) {
        if (Clock::now() >= until) return -1;
        continue;
      }
      const ssize_t n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
      if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      return n;
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { address_of(sock_, true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address_of(sock_, false, ip, port); }
  socket_t socket() const override { return sock_; }

 private:
  // Reads what the socket has into the buffer: > 0 bytes, 0 the end (the peer's, or a limit
  // passed), < 0 an error or the server stopping.
  ssize_t fill() {
    if (cut_) return 0;
    if (read_ >= max_bytes_) {
      cut_ = true;
      return 0;
    }
    const Clock::time_point gap = Clock::now() + std::chrono::milliseconds(options_.read_gap_ms);
    for (;;) {
      if (listening_ == INVALID_SOCKET) return -1;
      const Clock::time_point until = std::min(deadline_, gap);
      if (Clock::now() >= until) {
        cut_ = true;
        return 0;
      }
      const int ready = poll_one(sock_, POLLIN, std::min(kPollSliceMs, ms_until(until)));
      if (ready < 0) return -1;
      if (ready == 0) continue;
      const ssize_t n = ::recv(sock_, buffer_, std::min(sizeof buffer_, max_bytes_ - read_), 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      if (n <= 0) return n;
      read_ += static_cast<size_t>(n);
      pos_ = 0;
      end_ = static_cast<size_t>(n);
      return n;
    }
  }

  int sock_;
  const ServeOptions& options_;
  const std::atomic<int>& listening_;
  Clock::time_point deadline_;
  size_t max_bytes_ = 0, read_ = 0;
  bool cut_ = false;
  char buffer_[4096];
  size_t pos_ = 0, end_ = 0;
};

class GuardedServer : public httplib::Server {
 public:
  explicit GuardedServer(const ServeOptions& options) : options_(options) {}

  // httplib listens with a backlog of 5: 64 clients reconnecting at once lose SYNs and wait
  // out the 1 s and 3 s retransmits (wrk -c 64 saw a p99 of 2.7 s). listen() again widens it.
  void widen_backlog() { ::listen(svr_sock_, SOMAXCONN); }

 private:
  // httplib's loop over the requests of one connection (process_server_socket), with limits.
  bool process_and_close_socket(socket_t sock) override {
    GuardedStream stream(sock, options_, svr_sock_);
    bool ok = false;
    for (int count = kMaxRequestsPerConnection; count > 0 && svr_sock_ != INVALID_SOCKET; --count) {
      if (!stream.buffered() && !wait_for_request(sock)) break;
      stream.begin_request(kMaxHead + options_.max_body + 1);
      bool closed = false;
      t_close_connection = false;
      ok = process_request(stream, count == 1, closed, nullptr);
      if (!ok || closed || stream.cut() || t_close_connection) break;
    }
    close_gracefully(sock);
    return ok;
  }

  // Waits up to kKeepAliveMs for the next request's first byte (or the peer's close).
  bool wait_for_request(int sock) const {
    const Clock::time_point until = Clock::now() + std::chrono::milliseconds(kKeepAliveMs);
    while (svr_sock_ != INVALID_SOCKET) {
      const int ready = poll_one(sock, POLLIN, std::min(kPollSliceMs, ms_until(until)));
      if (ready != 0) return ready > 0;
      if (Clock::now() >= until) return false;
    }
    return false;
  }

  // Our side closes first; what the client still sends is dropped until it closes too (or
  // kLingerMs), so that its unread bytes do not turn our close into a reset that loses the reply.
  void close_gracefully(int sock) const {
    ::shutdown(sock, SHUT_WR);
    const Clock::time_point until = Clock::now() + std::chrono::milliseconds(kLingerMs);
    char sink[4096];
    while (svr_sock_ != INVALID_SOCKET && Clock::now() < until) {
      if (poll_one(sock, POLLIN, std::min(kPollSliceMs, ms_until(until))) <= 0) continue;
      const ssize_t n = ::recv(sock, sink, sizeof sink, 0);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) break;
    }
    ::close(sock);
  }

  ServeOptions options_;
};

// Every connection on its own thread, up to max_threads (idle ones are reused, and end after
// kIdleThreadMs); more wait in order for one. httplib's ThreadPool has a fixed few, which
// slow clients can hold all of.
class ConnectionPool : public httplib::TaskQueue {
 public:
  explicit ConnectionPool(size_t max_threads) : max_threads_(max_threads) {}
  ~ConnectionPool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back(std::move(fn));
    if (jobs_.size() > idle_ && live_ < max_threads_) {
      ++live_;
      std::thread([this] { work(); }).detach();
    }
    ready_.notify_one();
  }

  // Runs what is queued (each connection sees the server stopping and closes), then waits
  // for every thread to end.
  void shutdown() override {
    std::unique_lock<std::mutex> lock(mutex_);
    stopping_ = true;
    ready_.notify_all();
    ended_.wait(lock, [this] { return live_ == 0; });
  }

 private:
  // A thread's stack (std::regex recurses over a long path) stays resident while it lives:
  // threads left from a burst of connections end when idle.
  static constexpr int kIdleThreadMs = 5000;

  void work() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      ++idle_;
      ready_.wait_for(lock, std::chrono::milliseconds(kIdleThreadMs), [this] { return stopping_ || !jobs_.empty(); });
      --idle_;
      if (jobs_.empty()) break;  // stopping, or idle too long
      std::function<void()> job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
    --live_;
    ended_.notify_all();
  }

  const size_t max_threads_;
  std::mutex mutex_;
  std::condition_variable ready_, ended_;
  std::deque<std::function<void()>> jobs_;
  size_t live_ = 0, idle_ = 0;
  bool stopping_ = false;
};

// --- tokens -----------------------------------------------------------------------------

bool token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '~' || c == '-';
}

std::string trim(const std::string& text) {
  const size_t a = text.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  return text.substr(a, text.find_last_not_of(" \t") - a + 1);
}

// Where a ?token= link redirects: the same path and query without the token, always a path
// on this server ("//host" or a backslash would send the browser elsewhere).
std::string target_without_token(const std::string& target) {
  const size_t question = target.find('?');
  std::string path = target.substr(0, question);
  if (path.empty() || path[0] != '/' || path.find('\\') != std::string::npos) path = "/";
  path = "/" + path.substr(std::min(path.find_first_not_of('/'), path.size()));
  std::string query;
  if (question != std::string::npos) {
    std::stringstream pairs(target.substr(question + 1));
    for (std::string pair; std::getline(pairs, pair, '&');) {
      if (pair.empty() || pair == "token" || pair.rfind("token=", 0) == 0) continue;
      query += (query.empty() ? "?" : "&") + pair;
    }
  }
  return path + query;
}

// With a token, every request carries it (or gets 401) before anything else reads it.
void require_token(httplib::Server& server, const std::string& token) {
  if (token.empty()) return;
  using Response = httplib::Server::HandlerResponse;
  server.set_pre_routing_handler([token](const httplib::Request& req, httplib::Response& res) {
    const TokenCheck check = check_token(token, req.local_port, req.get_header_value("Authorization"),
                                         req.get_header_value("Cookie"), req.get_param_value("token"));
    if (check == TokenCheck::kPass) return Response::Unhandled;
    if (check == TokenCheck::kSetCookie) {
      if (req.method != "GET" && req.method != "HEAD") return Response::Unhandled;
      // The page keeps working on the cookie; the address bar and history lose the token.
      res.status = 303;
      res.set_header("Location", target_without_token(req.target));
      res.set_header("Set-Cookie", token_cookie_name(req.local_port) + "=" + token + "; Path=/; HttpOnly; SameSite=Strict");
      res.set_header("Cache-Control", "no-store");
      res.set_header("Referrer-Policy", "no-referrer");
      return Response::Handled;
    }
    res.status = 401;
    res.set_header("WWW-Authenticate", "Bearer");
    // The body (if any) is not read: the connection cannot carry another request.
    res.set_header("Connection", "close");
    t_close_connection = true;
    res.set_content(nlohmann::json{{"error", "this server needs its token: send Authorization: Bearer TOKEN, or open "
                                             "the page once as /?token=TOKEN (latentkit serve printed that address)"}}
                        .dump(),
                    "application/json");
    return Response::Handled;
  });
}

// The settings both services share, and answer on GET, POST, PUT and DELETE.
void configure(httplib::Server& server, const ServeOptions& options, const httplib::Server::Handler& answer) {
  check_input(options.port >= 0 && options.port <= 65535, "port must lie in [0, 65535]");
  check_input(options.workers >= 1, "workers must be at least 1");
  server.new_task_queue = [n = options.workers] { return new ConnectionPool(static_cast<size_t>(n)); };
  // One byte over the limit is enough to tell an oversize body; httplib stops reading there.
  server.set_payload_max_length(options.max_body + 1);
  // httplib sends headers and body in two writes; with Nagle's algorithm the body waits for
  // the browser's delayed ACK on a kept-alive connection: 44 ms per image instead of 1.4.
  server.set_tcp_nodelay(true);
  // What the Keep-Alive header tells clients; GuardedServer keeps to these.
  server.set_keep_alive_timeout(kKeepAliveMs / 1000);
  server.set_keep_alive_max_count(kMaxRequestsPerConnection);
  require_token(server, options.token);
  // No limit here on the requests answered at once: the model decodes one image at a time
  // anyway, and a cheap request (the page, /api/v1/model) must not queue behind 64 of them.
  server.Get(".*", answer);
  server.Post(".*", answer);
  server.Put(".*", answer);
  server.Delete(".*", answer);
  server.Patch(".*", answer);
}

// "http://HOST:PORT/", with the token when there is one: the address to open.
std::string address(const ServeOptions& options, int port) {
  const std::string host = options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host;
  return "http://" + host + ":" + std::to_string(port) + "/" + (options.token.empty() ? "" : "?token=" + options.token);
}

// Binds, prints the address, serves until SIGINT / SIGTERM (or stop_requested()).
void listen_until_stopped(GuardedServer& server, const ServeOptions& options, const std::string& what,
                          const std::function<void(int)>& on_listening) {
  check_serve_access(options);
  int port = options.port;
  if (port == 0) {
    port = server.bind_to_any_port(options.host);
  } else if (!server.bind_to_port(options.host, port)) {
    port = -1;
  }
  check_input(port > 0, "cannot listen on " + options.host + ":" + std::to_string(options.port) +
                            " (in use, or not an address of this machine); try another --port");
  server.widen_backlog();
  install_stop_handlers();
  std::atomic<bool> done{false};
  std::thread watcher([&server, &done] {
    for (int tick = 1; !done && !stop_requested(); ++tick) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      // Each connection thread frees into its own malloc arena, which glibc keeps: without
      // this the RSS climbs by ~100 MiB under bench/serve_load.sh and stays there.
      if (tick % 50 == 0) malloc_trim(0);
    }
    server.stop();
  });
  std::fprintf(stderr, "%s at %s (Ctrl-C stops)\n", what.c_str(), address(options, port).c_str());
  if (on_listening) on_listening(port);
  server.listen_after_bind();
  done = true;
  watcher.join();
}

}  // namespace

bool is_loopback_host(const std::string& host) {
  std::string lower = host;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower == "localhost") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  }
  return false;
}

void check_serve_access(const ServeOptions& options) {
  const std::string& t = options.token;
  if (!t.empty()) {
    check_input(t.size() >= 16 && t.size() <= 256 && std::all_of(t.begin(), t.end(), token_char),
                "--token must be 16 to 256 characters of A-Z a-z 0-9 . _ ~ - (make one with: openssl rand -hex 16)");
  }
  check_input(!t.empty() || is_loopback_host(options.host),
              "--host " + options.host + " is not a loopback address, so anyone who can reach this machine could use "
              "the server: give --token (or LATENTKIT_SERVE_TOKEN), e.g. --token $(openssl rand -hex 16), or "
              "leave out --host");
}

bool constant_time_equal(const std::string& a, const std::string& b) {
  if (b.empty()) return a.empty();
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i % b.size()]);
  }
  return diff == 0;
}

std::string token_cookie_name(int port) { return "latentkit_token_" + std::to_string(port); }

TokenCheck check_token(const std::string& token, int port, const std::string& authorization,
                       const std::string& cookie, const std::string& query_token) {
  if (!query_token.empty() && constant_time_equal(query_token, token)) return TokenCheck::kSetCookie;
  bool pass = false;
  const std::string scheme = authorization.substr(0, 7);
  if (scheme.size() == 7 && (scheme == "Bearer " || scheme == "bearer ")) {
    pass |= constant_time_equal(trim(authorization.substr(7)), token);
  }
  const std::string name = token_cookie_name(port) + "=";
  std::stringstream pairs(cookie);
  for (std::string pair; std::getline(pairs, pair, ';');) {
    pair = trim(pair);
    if (pair.compare(0, name.size(), name) == 0) pass |= constant_time_equal(pair.substr(name.size()), token);
  }
  return pass ? TokenCheck::kPass : TokenCheck::kRefuse;
}

EditorService::EditorService(std::unique_ptr<Generator> generator, AxisSet axes, std::string run)
    : generator_(std::move(generator)), axes_(std::move(axes)), run_(std::move(run)) {
  check_input(axes_.latent_dim == generator_->latent_dim(),
              "the axes were fitted for a " + std::to_string(axes_.latent_dim) + "-dim latent, but the model's has " +
                  std::to_string(generator_->latent_dim()));
  if (generator_->num_classes() > 0) class_names_ = run_class_names(read_json(run_ + "/config.json"));
  diffusion_ = dynamic_cast<DdpmModel*>(generator_.get());
}

nlohmann::json EditorService::model_info() const {
  const auto shape = generator_->image_shape();
  return {{"family", generator_->family()},
          {"latent_dim", generator_->latent_dim()},
          {"num_classes", generator_->num_classes()},
          {"class_names", class_names_},
          {"image_shape", {shape[0], shape[1], shape[2]}},
          {"run", run_},
          {"version", LATENTKIT_VERSION},
          // Diffusion models: their sampler's defaults; a text-to-image model's prompt limits.
          {"diffusion", diffusion_ ? nlohmann::json{{"sampler", "dpmpp"}, {"steps", kDiffusionSteps}} : nlohmann::json()},
          {"text", diffusion_ && diffusion_->net()->has_text()
                       ? nlohmann::json{{"max_tokens", diffusion_->options().tokenizer.max_tokens()},
                                        {"vocab_size", diffusion_->options().tokenizer.vocab_size()}}
                       : nlohmann::json()}};
}

nlohmann::json EditorService::axes_info() const {
  nlohmann::json axes = nlohmann::json::array();
  for (const Axis& a : axes_.axes) {
    // A class axis shows its top-class AUC where the fit measured one: with many classes the
    // accuracy at p > 0.5 is near 1 for every rare class and tells them apart from nothing.
    const bool auc = a.details.contains("auc");
    const nlohmann::json quality = {{"metric", auc ? "auc" : a.metric},
                                    {"value", auc ? a.details.at("auc").get<double>() : a.quality}};
    axes.push_back({{"name", a.name},
                    {"label", a.label},
                    {"kind", a.kind},
                    {"source", a.source},
                    {"quality", quality},
                    {"slider", {-3, 3}}});
  }
  return {{"axes", axes}};
}

nlohmann::json EditorService::generate(const nlohmann::json& request) {
  return model_thread_.run([&] { return generate_here(request); });
}

nlohmann::json EditorService::generate_here(const nlohmann::json& request) {
  const auto start = std::chrono::steady_clock::now();
  check_input(request.is_object(), "the request body must be a JSON object");
  for (const auto& [key, value] : request.items()) {
    check_input(key == "seed" || key == "z" || key == "moves" || key == "locks" || key == "class" ||
                    key == "truncation" || key == "prompt" || key == "guidance" || key == "steps" || key == "sampler",
                "unknown field '" + key + "' (expected seed or z, moves, locks, class, truncation, and for diffusion "
                "models prompt, guidance, steps, sampler)");
  }
  const bool text = diffusion_ && diffusion_->net()->has_text();
  check_input(!request.contains("prompt") || text, "this model does not take a prompt (a text-to-image run, t2i, does)");
  check_input(diffusion_ || !(request.contains("guidance") || request.contains("steps") || request.contains("sampler")),
              "guidance, steps and sampler are for diffusion models; this is a " + generator_->family());
  check_input(request.contains("seed") != request.contains("z"), "give exactly one of \"seed\" and \"z\"");
  const int64_t dim = generator_->latent_dim();
  torch::Tensor z;
  if (request.contains("seed")) {
    const nlohmann::json& seed = request["seed"];
    check_input(seed.is_number_integer() && seed.get<int64_t>() >= 0 && seed.get<int64_t>() <= kMaxSeed,
                "seed must be an integer in [0, 2^53]");
    double truncation = 0;
    if (request.contains("truncation")) {
      truncation = finite_number(request["truncation"], "truncation");
      check_input(truncation >= 0, "truncation must be >= 0");
    }
    torch::Generator rng = make_rng(static_cast<uint64_t>(seed.get<int64_t>()));
    z = generator_->sample_latent(1, rng, truncation);
  } else {
    const nlohmann::json& values = request["z"];
    check_input(values.is_array() && static_cast<int64_t>(values.size()) == dim,
                "z must be an array of " + std::to_string(dim) + " numbers");
    std::vector<float> v;
    for (const nlohmann::json& x : values) v.push_back(static_cast<float>(finite_number(x, "every entry of z")));
    z = torch::tensor(v, torch::kFloat32).unsqueeze(0);
  }
  std::vector<std::pair<size_t, double>> moves;
  if (request.contains("moves")) {
    check_input(request["moves"].is_object(), "moves must be an object {\"axis\": amount, ...}");
    for (const auto& [name, amount] : request["moves"].items()) {
      moves.emplace_back(find_axis(axes_, name), finite_number(amount, "the move along '" + name + "'"));
    }
  }
  std::vector<size_t> locks;
  if (request.contains("locks")) {
    check_input(request["locks"].is_array(), "locks must be an array of axis names");
    for (const nlohmann::json& name : request["locks"]) {
      check_input(name.is_string(), "locks must be an array of axis names");
      locks.push_back(find_axis(axes_, name.get<std::string>()));
    }
  }
  torch::Tensor labels;
  if (request.contains("class")) {
    check_input(generator_->num_classes() > 0, "this model has no classes; leave out \"class\"");
    const nlohmann::json& c = request["class"];
    check_input(c.is_number_integer() && c.get<int64_t>() >= 0 && c.get<int64_t>() < generator_->num_classes(),
                "class must be an integer in [0, " + std::to_string(generator_->num_classes()) + ")");
    labels = torch::tensor({c.get<int64_t>()}, torch::kInt64);
  }
  // Diffusion: the sampler, and a text-to-image model's prompt (none, or empty: no prompt).
  Sampler sampler = Sampler::kDpmpp;
  int64_t steps = kDiffusionSteps;
  double guidance = 1.0;
  std::string prompt;
  std::vector<std::string> warnings;
  if (diffusion_) {
    if (request.contains("sampler")) {
      const nlohmann::json& name = request["sampler"];
      check_input(name.is_string() && (name == "ddim" || name == "dpmpp"), "sampler must be \"ddim\" or \"dpmpp\"");
      sampler = sampler_names().parse(name.get<std::string>());
    }
    if (request.contains("steps")) {
      const nlohmann::json& n = request["steps"];
      check_input(n.is_number_integer() && n.get<int64_t>() >= 1 && n.get<int64_t>() <= 250, "steps must be an integer in [1, 250]");
      steps = n.get<int64_t>();
    }
    if (request.contains("guidance")) {
      guidance = finite_number(request["guidance"], "guidance");
      check_input(guidance >= 0 && guidance <= 20, "guidance must be in [0, 20]");
    }
    if (request.contains("prompt")) {
      check_input(request["prompt"].is_string() && request["prompt"].get<std::string>().size() <= 1000,
                  "prompt must be a string of at most 1000 bytes");
      prompt = request["prompt"].get<std::string>();
    }
    if (text && !prompt.empty()) {
      const Tokenizer& tokenizer = diffusion_->options().tokenizer;
      labels = tokenizer.encode_batch({prompt});  // an Error (400) for no words or too many
      std::stringstream lines(tokenizer.warnings(prompt));
      for (std::string line; std::getline(lines, line);) warnings.push_back(line);
    }
  }
  torch::Tensor edited = apply_moves(axes_, z, moves, locks);
  torch::Tensor image;
  {
    torch::NoGradGuard no_grad;
    if (diffusion_) diffusion_->set_decode(sampler, steps, guidance);
    image = generator_->decode(edited, labels)[0];
  }
  const Image png = tensor_to_image(image);
  const std::string data = "data:image/png;base64," + base64_encode(encode_png(png));
  auto to_vector = [](const torch::Tensor& t) {
    torch::Tensor c = t.to(torch::kFloat64).contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  };
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  nlohmann::json reply = {{"image", data},       {"z", to_vector(z[0])},   {"edited_z", to_vector(edited[0])},
                          {"width", png.width}, {"height", png.height}, {"ms", ms}};
  if (text) {
    reply["prompt"] = prompt;
    reply["warnings"] = warnings;
  }
  return reply;
}

HttpReply EditorService::handle(const std::string& method, const std::string& path, const std::string& body) {
  try {
    if (path.rfind("/api/", 0) == 0) {
      if (method == "GET" && path == "/api/v1/model") return json_reply(200, model_info());
      if (method == "GET" && path == "/api/v1/axes") return json_reply(200, axes_info());
      if (path == "/api/v1/generate") {
        if (method != "POST") return error_reply(405, "use POST for /api/v1/generate");
        // A syntax error or a number out of range is a bad-input Error: 400, below.
        return json_reply(200, generate(parse_json(body, "malformed JSON in the request body")));
      }
      return error_reply(404, "no such API path: " + method + " " + path +
                                  " (try GET /api/v1/model, GET /api/v1/axes, POST /api/v1/generate)");
    }
    if (method == "GET") {
      const std::string file = path == "/" ? "/index.html" : path;
      for (const WebAsset& asset : web_assets()) {
        if (file == asset.path) return {200, asset.content_type, std::string(asset.data, asset.size)};
      }
    }
    return {404, "text/plain; charset=utf-8", "not found: " + path + "\n"};
  } catch (const Error& e) {
    return error_reply(e.kind() == ErrorKind::kBadInput ? 400 : 500, e.what());
  } catch (const std::exception& e) {
    return error_reply(500, std::string("internal error: ") + e.what());
  }
}

namespace {

// Serves answer(request) for the editor and the paint page: bodies over max_body, and
// httplib's own refusals, get the JSON error the API documents.
void serve_api(const std::function<HttpReply(const httplib::Request&)>& answer, const ServeOptions& options,
               const std::string& what, const std::function<void(int)>& on_listening) {
  GuardedServer server(options);
  const size_t max_body = options.max_body;
  configure(server, options, [&answer, max_body](const httplib::Request& req, httplib::Response& res) {
    HttpReply reply = req.body.size() > max_body
                          ? error_reply(400, "request body over " + std::to_string(max_body) + " bytes")
                          : answer(req);
    res.status = reply.status;
    res.set_content(reply.body, reply.content_type.c_str());
  });
  // httplib's own refusals (413 for a body over the limit, 400 for a malformed request)
  // get a JSON message too; 413 is reported as the 400 the API documents.
  server.set_error_handler([max_body](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413) {
      res.status = 400;
      // Debian's httplib (a shared library, its limits built in) refuses form bodies over
      // 8 KiB before ours applies; `curl -d` labels JSON as a form, and a 64x64 map is larger.
      const bool form = req.get_header_value("Content-Type").rfind("application/x-www-form-urlencoded", 0) == 0;
      const std::string message =
          form ? "a form-encoded body over 8192 bytes; send the JSON as Content-Type: application/json "
                 "(curl -H 'Content-Type: application/json' -d ...)"
               : "request body over " + std::to_string(max_body) + " bytes";
      res.set_content(json_text(nlohmann::json{{"error", message}}), "application/json");
    } else {
      res.set_content(json_text(nlohmann::json{{"error", "bad request (HTTP " + std::to_string(res.status) + ")"}}),
                      "application/json");
    }
  });
  listen_until_stopped(server, options, what, on_listening);
}

}  // namespace

void serve_editor(EditorService& service, const ServeOptions& options, const std::function<void(int)>& on_listening) {
  serve_api([&service](const httplib::Request& req) { return service.handle(req.method, req.path, req.body); },
            options, "editor", on_listening);
}

// --- paint (spade) ------------------------------------------------------------------------

namespace {

// The files of the paint page; "/" is paint.html. editor.css gives it the editor's look.
const WebAsset* paint_asset(const std::string& path) {
  const std::string file = path == "/" ? "/paint.html" : path;
  if (file != "/paint.html" && file != "/paint.js" && file != "/paint.css" && file != "/editor.css") return nullptr;
  for (const WebAsset& asset : web_assets()) {
    if (file == asset.path) return &asset;
  }
  return nullptr;
}

std::string hex_color(const std::array<uint8_t, 4>& rgba) {
  if (rgba[3] == 0) return "transparent";
  char text[8];
  std::snprintf(text, sizeof text, "#%02x%02x%02x", rgba[0], rgba[1], rgba[2]);
  return text;
}

// "0 background, 1 square, ..." for messages about class ids.
std::string class_list(const MapPalette& palette) {
  std::string list;
  for (size_t k = 0; k < palette.class_names.size(); ++k) {
    list += (k ? ", " : "") + std::to_string(k) + " " + palette.class_names[k];
  }
  return list;
}

// A decimal integer in [0, 2^53] from a query value; anything else is an Error naming `what`.
int64_t parse_seed(const std::string& text, const std::string& what) {
  const bool digits = !text.empty() && text.size() <= 16 &&
                      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  check_input(digits && std::stoll(text) <= kMaxSeed,
              what + " must be an integer in [0, 2^53], got '" + text.substr(0, 40) + "'");
  return std::stoll(text);
}

}  // namespace

PaintService::PaintService(std::string run) : run_(std::move(run)), model_(load_spade(run_)) {
  palette_ = &map_palette(model_.options.palette());
  check_input(palette_->size() == model_.options.classes(),
              run_ + "/config.json: the model has " + std::to_string(model_.options.classes()) + " classes but its " +
                  palette_->name + " palette " + std::to_string(palette_->size()) + "; retrain it with latentkit train --model spade");
}

size_t PaintService::max_body() const {
  // Up to 3 bytes per id ("13,") and room for the other fields.
  const auto s = static_cast<size_t>(model_.options.image_size());
  return 3 * s * s + 4096;
}

nlohmann::json PaintService::palette_info() const {
  nlohmann::json classes = nlohmann::json::array();
  for (int64_t k = 0; k < palette_->size(); ++k) {
    classes.push_back({{"index", k},
                       {"name", palette_->class_names[static_cast<size_t>(k)]},
                       {"color", hex_color(palette_->colors[static_cast<size_t>(k)])}});
  }
  return {{"size", model_.options.image_size()}, {"palette", palette_->name},    {"classes", classes},
          {"latent_dim", model_.options.latent_dim()}, {"channels", model_.options.channels()},
          {"max_n", kMaxImages}, {"family", "spade"}, {"run", run_}};
}

nlohmann::json PaintService::example(int64_t seed) {
  return model_thread_.run([&] { return example_here(seed); });
}

nlohmann::json PaintService::paint(const nlohmann::json& request) {
  return model_thread_.run([&] { return paint_here(request); });
}

nlohmann::json PaintService::example_here(int64_t seed) {
  const int64_t s = model_.options.image_size();
  if (!examples_.defined()) {
    const std::string config = run_ + "/config.json";
    try {
      DataOptions data = data_options_from_json(read_json(config).at("data"), config);
      data.split = "test";
      data.limit = data.limit > 0 ? std::min(data.limit, kMaxExamples) : kMaxExamples;
      Dataset test = load_dataset(data);
      ensure_maps(test);
      check_input(test.map_palette == palette_->name, "its maps are in the " + test.map_palette +
                                                          " palette, the model's in " + palette_->name);
      check_input(test.size() > 0, "its test split is empty");
      examples_ = test.maps.size(1) == s ? test.maps : resize_maps(test.maps, s);
    } catch (const std::exception& e) {
      // Not the request's fault: the run's data is missing or foreign on this machine.
      throw Error("example maps come from " + config + "'s data (test split), which cannot be loaded: " + e.what(),
                  ErrorKind::kInternal);
    }
  }
  const int64_t count = examples_.size(0);
  const torch::Tensor map = examples_[seed % count];
  const torch::Tensor ids = map.to(torch::kInt64).contiguous();
  const int64_t* p = ids.data_ptr<int64_t>();
  return {{"map", std::vector<int64_t>(p, p + ids.numel())},
          {"index", seed % count},
          {"count", count},
          {"size", s}};
}

nlohmann::json PaintService::paint_here(const nlohmann::json& request) {
  const auto start = std::chrono::steady_clock::now();
  const int64_t s = model_.options.image_size(), classes = model_.options.classes();
  const std::string side = std::to_string(s) + "x" + std::to_string(s);
  const std::string ids = std::to_string(s * s) + " class ids";
  const std::string expected = "{\"map\": [" + ids + ", row by row], \"seed\": integer, \"n\": 1.." +
                               std::to_string(kMaxImages) + "}";
  check_input(request.is_object(), "the request body must be a JSON object " + expected);
  for (const auto& [key, value] : request.items()) {
    check_input(key == "map" || key == "seed" || key == "n", "unknown field '" + key + "'; expected " + expected);
  }
  check_input(request.contains("map"), "give \"map\": " + ids + " (the " + side + " label map, row by row); expected " + expected);
  const nlohmann::json& values = request["map"];
  check_input(values.is_array(), "map must be an array of " + ids + " (the " + side + " label map, row by row), got " +
                                     std::string(values.type_name()));
  check_input(static_cast<int64_t>(values.size()) == s * s,
              "map has " + std::to_string(values.size()) + " entries; expected " + ids + " (" + side + ", row by row)");
  torch::Tensor map = torch::empty({1, s, s}, torch::kUInt8);
  uint8_t* out = map.data_ptr<uint8_t>();
  for (int64_t i = 0; i < s * s; ++i) {
    const nlohmann::json& v = values[static_cast<size_t>(i)];
    if (!(v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() < classes)) {
      throw Error("map[" + std::to_string(i) + "] (x " + std::to_string(i % s) + ", y " + std::to_string(i / s) +
                  ") is " + v.dump().substr(0, 40) + "; expected a class id in [0, " + std::to_string(classes) +
                  "): " + class_list(*palette_));
    }
    out[i] = static_cast<uint8_t>(v.get<int64_t>());
  }
  int64_t seed = 0, n = 1;
  if (request.contains("seed")) {
    const nlohmann::json& v = request["seed"];
    check_input(v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() <= kMaxSeed,
                "seed must be an integer in [0, 2^53], got " + v.dump().substr(0, 40));
    seed = v.get<int64_t>();
  }
  if (request.contains("n")) {
    const nlohmann::json& v = request["n"];
    check_input(v.is_number_integer() && v.get<int64_t>() >= 1 && v.get<int64_t>() <= kMaxImages,
                "n must be an integer in [1, " + std::to_string(kMaxImages) + "], got " + v.dump().substr(0, 40));
    n = v.get<int64_t>();
  }
  // The latents `generate --mask map.png --seed K --n N` draws, so the page and the CLI agree.
  torch::Generator rng = make_rng(static_cast<uint64_t>(seed));
  const torch::Tensor z = torch::randn({n, model_.options.latent_dim()}, rng);
  const torch::Tensor images = spade_generate(*model_.net, map.expand({n, s, s}), z);
  std::vector<std::string> pngs;
  for (int64_t i = 0; i < n; ++i) {
    pngs.push_back("data:image/png;base64," + base64_encode(encode_png(tensor_to_image(images[i]))));
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return {{"images", pngs}, {"seed", seed}, {"n", n}, {"width", s}, {"height", s}, {"ms", ms}};
}

HttpReply PaintService::handle(const std::string& method, const std::string& target, const std::string& body) {
  try {
    const size_t question = target.find('?');
    const std::string path = target.substr(0, question);
    const std::string query = question == std::string::npos ? "" : target.substr(question + 1);
    if (path.rfind("/api/", 0) == 0) {
      const std::string routes = "GET /api/paint/palette, GET /api/paint/example?seed=K, POST /api/paint";
      if (path == "/api/paint/palette" || path == "/api/paint/example") {
        if (method != "GET") return error_reply(405, "use GET for " + path);
        if (path == "/api/paint/palette") return json_reply(200, palette_info());
        int64_t seed = 0;
        std::stringstream pairs(query);
        for (std::string pair; std::getline(pairs, pair, '&');) {
          if (pair.empty()) continue;
          const size_t eq = pair.find('=');
          check_input(pair.substr(0, eq) == "seed" && eq != std::string::npos,
                      "unknown query parameter '" + pair.substr(0, 40) + "'; expected /api/paint/example?seed=K (K >= 0)");
          seed = parse_seed(pair.substr(eq + 1), "the example seed");
        }
        return json_reply(200, example(seed));
      }
      if (path == "/api/paint") {
        if (method != "POST") return error_reply(405, "use POST for /api/paint");
        nlohmann::json request;
        try {
          request = parse_json(body, "body");
        } catch (const Error& e) {  // syntax, or a number out of range
          return error_reply(400, std::string("the body is not JSON (") + e.what() +
                                      "); expected {\"map\": [class ids], \"seed\": integer, \"n\": 1..4}");
        }
        return json_reply(200, paint(request));
      }
      return error_reply(404, "no such API path: " + method + " " + path + " (this is a spade run; try " + routes + ")");
    }
    if (method == "GET") {
      if (const WebAsset* asset = paint_asset(path)) return {200, asset->content_type, std::string(asset->data, asset->size)};
    }
    return {404, "text/plain; charset=utf-8", "not found: " + path + "\n"};
  } catch (const Error& e) {
    return error_reply(e.kind() == ErrorKind::kBadInput ? 400 : 500, e.what());
  } catch (const std::exception& e) {
    return error_reply(500, std::string("internal error: ") + e.what());
  }
}

void serve_paint(PaintService& service, const ServeOptions& options, const std::function<void(int)>& on_listening) {
  ServeOptions o = options;
  o.max_body = std::max(options.max_body, service.max_body());
  serve_api(
      [&service](const httplib::Request& req) {
        // req.path is decoded; the query (the example's seed) comes from the raw target.
        const size_t question = req.target.find('?');
        return service.handle(req.method, question == std::string::npos ? req.path : req.path + req.target.substr(question),
                              req.body);
      },
      o, "paint", on_listening);
}

HttpReply static_file_reply(const std::string& root, const std::string& method, const std::string& path) {
  namespace fs = std::filesystem;
  const HttpReply not_found{404, "text/plain; charset=utf-8", "not found: " + path + "\n"};
  try {
    if (method != "GET" && method != "HEAD") {
      return {405, "text/plain; charset=utf-8", "this server has static files only: use GET\n"};
    }
    // httplib has decoded the path. Every segment must be a plain name: no "..", no hidden
    // files, no backslash or NUL; the resolved file must still lie under root (a link out
    // of the folder is not followed).
    if (path.empty() || path[0] != '/' || path.find('\\') != std::string::npos || path.find('\0') != std::string::npos) {
      return not_found;
    }
    fs::path relative;
    std::stringstream segments(path.substr(1));
    for (std::string segment; std::getline(segments, segment, '/');) {
      if (segment.empty()) continue;
      if (segment[0] == '.') return not_found;
      relative /= segment;
    }
    const fs::path base = fs::canonical(root);
    fs::path file = base / relative;
    if (fs::is_directory(file)) file /= "index.html";
    std::error_code ec;
    const fs::path resolved = fs::canonical(file, ec);
    if (ec || !fs::is_regular_file(resolved)) return not_found;
    const std::string inside = resolved.string(), prefix = base.string() + "/";
    if (inside.compare(0, prefix.size(), prefix) != 0) return not_found;
    std::ifstream in(resolved, std::ios::binary);
    std::ostringstream body;
    body << in.rdbuf();
    if (!in) return {500, "text/plain; charset=utf-8", "cannot read " + path + "\n"};
    return {200, content_type_of(resolved.string()), body.str()};
  } catch (const std::exception&) {
    return not_found;
  }
}

void serve_folder(const std::string& root, const ServeOptions& options, const std::function<void(int)>& on_listening) {
  GuardedServer server(options);
  const httplib::Server::Handler answer = [root](const httplib::Request& req, httplib::Response& res) {
    const HttpReply reply = static_file_reply(root, req.method, req.path);
    res.status = reply.status;
    // The app is rebuilt in place: the browser asks again rather than keep an old file.
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_content(reply.body, reply.content_type.c_str());
  };
  configure(server, options, answer);
  check_input(std::filesystem::is_regular_file(std::filesystem::path(root) / "index.html"),
              root + "/index.html not found: build the app with: scripts/build app (it writes build/app/)");
  listen_until_stopped(server, options, "app (" + root + ")", on_listening);
}

}  // namespace latentkit
