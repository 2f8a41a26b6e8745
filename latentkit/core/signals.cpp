#include "latentkit/core/signals.h"

#include <atomic>
#include <csignal>

namespace latentkit {
namespace {

std::atomic<int> g_stop{0};

void on_signal(int signal) {
  if (g_stop.fetch_add(1) >= 1 && signal == SIGINT) {
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
  }
}

}  // namespace

void install_stop_handlers() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

bool stop_requested() { return g_stop.load() > 0; }
void request_stop() { g_stop.store(1); }
void clear_stop_request() { g_stop.store(0); }

}  // namespace latentkit
