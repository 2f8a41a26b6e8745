// latentkit serve: the latent editor in the browser.
#include <cstdio>
#include <memory>

#include "apps/latentkit/commands.h"
#include "latentkit/models/registry.h"
#include "latentkit/serve/server.h"
#include "latentkit/steer/axes.h"

namespace latentkit::app {
namespace {

struct ServeParams {
  std::string run, axes;
  ServeOptions server;
  int threads = 1;
};

void run_serve(const ServeParams& p) {
  const int threads = torch::get_num_threads();
  EditorService service(load_generator(p.run), read_axes(p.axes), p.run);
  std::fprintf(stderr, "serving %s with %s, %d thread%s per image\n", p.run.c_str(), p.axes.c_str(), threads,
               threads == 1 ? "" : "s");
  serve_editor(service, p.server);
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto p = std::make_shared<ServeParams>();
  CLI::App* cmd = app.add_subcommand("serve", "Edit generated images with sliders in the browser");
  cmd->add_option("--run", p->run, "generator run folder")->required();
  cmd->add_option("--axes", p->axes, "axes file from axes fit")->required();
  cmd->add_option("--host", p->server.host, "address to listen on (loopback unless told otherwise)")
      ->capture_default_str();
  cmd->add_option("--port", p->server.port, "port (0: any free one)")->check(CLI::Range(0, 65535))->capture_default_str();
  cmd->add_option("--workers", p->server.workers, "requests served at once")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->footer(
      "Example:\n  latentkit serve --run models/fashion-dcgan --axes models/fashion-axes.json --port 8080\n"
      "then open http://127.0.0.1:8080/ . The JSON API is described in docs/http-api.md.");
  torch_command(cmd, p->threads, Work::kShort, [p]() { run_serve(*p); },
                "CPU threads per image (0: all cores); one is fastest for one small image");
}

}  // namespace latentkit::app
