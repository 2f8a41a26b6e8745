#pragma once
// latentkit report: one self-contained HTML page about a run (images inlined as data:
// URLs, no external resources): samples, loss curves, metrics next to the floor, settings.
#include <string>

namespace latentkit {

/// Builds the page for a run folder. Samples 64 images from the run's generator (seed 0).
/// Metrics come from RUN/eval.json when it exists; the page says how to make it otherwise.
std::string render_report(const std::string& run_dir);

}  // namespace latentkit
