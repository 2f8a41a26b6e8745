#pragma once
// A model graph as a .lkm file for the on-device runtime (runtime/, docs/file-format.md),
// written with the runtime's own dependency-free writer; and the feature axes a page needs
// beside it.
#include <string>

#include <nlohmann/json.hpp>

#include "latentkit/export/graph.h"
#include "latentkit/steer/axes.h"

namespace latentkit {

/// The .lkm bytes. weights: "fp32", "fp16" or "int8" (per output channel, fp32 scales);
/// model_id: a short identifier stored in the header (the exporter uses a hash of model.pt).
std::string graph_to_lkm(const ModelGraph& graph, const std::string& weights, const std::string& model_id);

/// The axes of a generator as the browser app reads them beside its .lkm: still an axes file
/// (axes_from_json reads it), with only what moving latents and locking needs: per axis its
/// name, label, kind, source, quality, slope, the bias of its fit (details.bias) and its
/// direction to 7 decimals; meta holds the model's id (the .lkm header's), the run and where
/// the axes came from. An axis set fitted for another latent size is an Error.
nlohmann::json axes_for_runtime(const AxisSet& set, const ModelGraph& graph, const std::string& model_id,
                                const std::string& run, const std::string& source);

/// Where the axes go beside a model file: "gen.lkm" -> "gen.axes.json" (any other name gets
/// ".axes.json" appended).
std::string axes_path_beside(const std::string& model_path);

}  // namespace latentkit
