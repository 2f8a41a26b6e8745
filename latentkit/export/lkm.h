#pragma once
// A model graph as a .lkm file for the on-device runtime (runtime/, docs/file-format.md),
// written with the runtime's own dependency-free writer.
#include <string>

#include "latentkit/export/graph.h"

namespace latentkit {

/// The .lkm bytes. weights: "fp32", "fp16" or "int8" (per output channel, fp32 scales);
/// model_id: a short identifier stored in the header (the exporter uses a hash of model.pt).
std::string graph_to_lkm(const ModelGraph& graph, const std::string& weights, const std::string& model_id);

}  // namespace latentkit
