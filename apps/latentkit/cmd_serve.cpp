// latentkit serve: the latent editor in the browser, GauGAN's paint page for a spade run, or
// (--app) the static browser app.
#include <cstdio>
#include <memory>

#include "apps/latentkit/commands.h"
#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/models/registry.h"
#include "latentkit/serve/server.h"
#include "latentkit/steer/axes.h"

namespace latentkit::app {
namespace {

struct ServeParams {
  std::string run, axes, app;
  ServeOptions server;
  int threads = 1;
};

void run_serve(const ServeParams& p) {
  check_serve_access(p.server);  // before a model loads
  if (!p.app.empty()) {
    check_input(p.run.empty() && p.axes.empty(),
                "--app serves the static app alone (models run in the page); leave out --run and --axes");
    check_input(path_exists(p.app), "app folder " + p.app + " not found; build it with: scripts/build app");
    serve_folder(p.app, p.server);
    return;
  }
  check_input(!p.run.empty(), "give --run (and --axes) for the editor, or --app for the browser app");
  const int threads = torch::get_num_threads();
  if (run_family(p.run) == "spade") {
    check_input(p.axes.empty(), p.run + " is a spade run: its page paints a label map (no latent sliders); leave out --axes");
    PaintService service(p.run);
    std::fprintf(stderr, "serving %s: paint a %lldx%lld label map, %d thread%s per request\n", p.run.c_str(),
                 static_cast<long long>(service.model().options.image_size()),
                 static_cast<long long>(service.model().options.image_size()), threads, threads == 1 ? "" : "s");
    serve_paint(service, p.server);
    return;
  }
  std::unique_ptr<Generator> generator = load_generator(p.run);
  AxisSet axes;  // none: the editor without sliders (a text-to-image run has its prompt box)
  if (p.axes.empty())
    axes.latent_dim = generator->latent_dim();
  else
    axes = read_axes(p.axes);
  EditorService service(std::move(generator), std::move(axes), p.run);
  std::fprintf(stderr, "serving %s with %s, %d thread%s per image\n", p.run.c_str(),
               p.axes.empty() ? "no axes" : p.axes.c_str(), threads, threads == 1 ? "" : "s");
  serve_editor(service, p.server);
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto p = std::make_shared<ServeParams>();
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Edit generated images with sliders in the browser, paint label maps for a spade run, or serve the browser app (--app)");
  cmd->add_option("--run", p->run, "generator run folder (the editor; a spade run gets the paint page)");
  cmd->add_option("--axes", p->axes, "axes file from axes fit (the editor's sliders; without it, no sliders)");
  cmd->add_option("--app", p->app,
                  "serve the browser app in this folder instead: static files only, the models run in the page "
                  "(scripts/build app writes build/app)")
      ->expected(0, 1)
      ->default_str("build/app");
  cmd->add_option("--host", p->server.host, "address to listen on (loopback unless told otherwise)")
      ->capture_default_str();
  cmd->add_option("--port", p->server.port, "port (0: any free one)")->check(CLI::Range(0, 65535))->capture_default_str();
  cmd->add_option("--token", p->server.token,
                  "every request must carry this (Authorization: Bearer TOKEN, or the cookie that opening the "
                  "printed /?token=TOKEN address sets); required when --host is not loopback. Set it from the "
                  "environment to keep it out of ps")
      ->envname("LATENTKIT_SERVE_TOKEN");
  cmd->add_option("--workers", p->server.workers,
                  "connections served at once, each on a thread of its own (more wait their turn; a client that "
                  "takes over 10 s to send a request is cut off)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->footer(
      "Examples:\n  latentkit serve --run models/fashion-dcgan --axes models/fashion-axes.json --port 8080\n"
      "then open http://127.0.0.1:8080/ . The JSON API is described in docs/http-api.md.\n"
      "  latentkit serve --run models/emoji-t2i\n"
      "a text-to-image run: a prompt box (and sliders too with --axes).\n"
      "  latentkit serve --run runs/shapes-spade --threads 2\n"
      "a spade run: paint a label map, see the images drawn from it as you paint (docs/masks.md).\n"
      "  scripts/build app && latentkit serve --app --port 8080\n"
      "serves build/app/: generate, enhance, sample and placeholders in WebAssembly, no inference route.\n"
      "  LATENTKIT_SERVE_TOKEN=$(openssl rand -hex 16) latentkit serve --run models/fashion-dcgan --host 0.0.0.0\n"
      "on every interface: each request needs the token; open the printed http://...?token=... address once.");
  torch_command(cmd, p->threads, Work::kShort, [p]() { run_serve(*p); },
                "CPU threads per image (0: all cores); one is fastest for one small image");
}

}  // namespace latentkit::app
