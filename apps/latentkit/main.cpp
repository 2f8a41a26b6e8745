// latentkit: one program, one subcommand per capability. Errors from the library are
// printed on stderr; bad input exits 2, internal failures exit 1.
#include <cstdio>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "apps/latentkit/commands.h"
#include "latentkit/core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"latentkit " LATENTKIT_VERSION ": train, measure, steer and ship generative image models", "latentkit"};
  app.set_version_flag("--version", LATENTKIT_VERSION);
  app.require_subcommand(1);
  app.footer("Run 'latentkit COMMAND --help' for the options of a command.");
  latentkit::app::add_train_command(app);
  latentkit::app::add_generate_command(app);
  latentkit::app::add_data_command(app);
  latentkit::app::add_classifier_command(app);
  latentkit::app::add_clip_command(app);
  latentkit::app::add_segmenter_command(app);
  latentkit::app::add_eval_command(app);
  latentkit::app::add_report_command(app);
  latentkit::app::add_axes_command(app);
  latentkit::app::add_edit_command(app);
  latentkit::app::add_serve_command(app);
  latentkit::app::add_encode_commands(app);
  latentkit::app::add_export_command(app);
  latentkit::app::add_codec_commands(app);
  latentkit::app::add_image_to_image_commands(app);
  latentkit::app::add_wallpaper_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::RequiredError& e) {
    // A command with subcommands given none ("latentkit", "latentkit axes"): its help lists them.
    if (std::string(e.what()).find("subcommand") == std::string::npos) return app.exit(e) == 0 ? 0 : 2;
    const CLI::App* at = &app;
    while (!at->get_subcommands().empty()) at = at->get_subcommands().front();
    std::fprintf(stderr, "%s\n\n%s", e.what(), at->help().c_str());
    return 2;
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  } catch (const latentkit::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return e.exit_code();
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "internal error (LibTorch): %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "internal error: %s\n", e.what());
    return 1;
  }
  return 0;
}
