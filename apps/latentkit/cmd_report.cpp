// latentkit report: a self-contained HTML page about a run.
#include <cstdio>
#include <memory>

#include "apps/latentkit/commands.h"
#include "latentkit/core/files.h"
#include "latentkit/eval/report.h"

namespace latentkit::app {
namespace {

struct ReportParams {
  std::string run;
  std::string out;  // default RUN/report.html
  int threads = 0;
};

void run_report(const ReportParams& p) {
  std::string out = p.out.empty() ? p.run + "/report.html" : p.out;
  write_file_atomic(out, render_report(p.run));
  std::fprintf(stderr, "wrote %s\n", out.c_str());
}

}  // namespace

void add_report_command(CLI::App& app) {
  auto p = std::make_shared<ReportParams>();
  CLI::App* cmd = app.add_subcommand("report", "Write one self-contained HTML page about a run");
  cmd->add_option("--run", p->run, "run folder")->required();
  cmd->add_option("--out", p->out, "HTML file to write (default RUN/report.html)");
  cmd->footer("Example:\n  latentkit eval --run models/fashion-dcgan && latentkit report --run models/fashion-dcgan");
  torch_command(cmd, p->threads, Work::kShort, [p]() { run_report(*p); });
}

}  // namespace latentkit::app
