#include "latentkit/models/registry.h"

#include <map>
#include <sstream>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/models/dcgan.h"
#include "latentkit/models/diffusion.h"
#include "latentkit/models/psgan.h"
#include "latentkit/models/vae.h"

namespace latentkit {
namespace {

std::unique_ptr<Generator> make_dcgan(const nlohmann::json& config, const std::string& run_dir) {
  DcganGenerator net(dcgan_options_from_json(config.at("model")));
  load_module(*net, run_dir + "/model.pt");
  net->eval();
  return std::make_unique<DcganModel>(net);
}

std::unique_ptr<Generator> make_vae(const nlohmann::json& config, const std::string& run_dir) {
  Vae net(vae_options_from_json(config.at("model")));
  load_module(*net, run_dir + "/model.pt");
  net->eval();
  return std::make_unique<VaeModel>(net);
}

std::unique_ptr<Generator> make_ddpm(const nlohmann::json& config, const std::string& run_dir) {
  DdpmOptions options = ddpm_options_from_json(config.at("model"));
  UNet net(options.unet);
  load_module(*net, run_dir + "/model.pt");
  return std::make_unique<DdpmModel>(net, options);
}

std::unique_ptr<Generator> make_psgan(const nlohmann::json& config, const std::string& run_dir) {
  PsganGenerator net(psgan_options_from_json(config.at("model")));
  load_module(*net, run_dir + "/model.pt");
  net->eval();
  return std::make_unique<PsganModel>(net);
}

const std::map<std::string, GeneratorFactory>& factories() {
  static const std::map<std::string, GeneratorFactory> table = {
      {"cddpm", make_ddpm},
      {"cgan", make_dcgan},
      {"cvae", make_vae},
      {"dcgan", make_dcgan},
      {"dcgan-upsample", make_dcgan},
      {"ddpm", make_ddpm},
      {"psgan", make_psgan},
      {"t2i", make_ddpm},
      {"vae", make_vae},
  };
  return table;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace

std::vector<std::string> generator_families() {
  std::vector<std::string> names;
  for (const auto& entry : factories()) names.push_back(entry.first);
  return names;
}

std::unique_ptr<Generator> load_generator(const std::string& run_dir) {
  check_input(path_exists(run_dir), "run folder " + run_dir + " not found (train one with: latentkit train --out " + run_dir + ")");
  check_input(path_exists(run_dir + "/config.json"),
              run_dir + " is not a run folder: it has no config.json (expected the --out folder of latentkit train)");
  check_input(path_exists(run_dir + "/model.pt"),
              run_dir + "/model.pt not found: the run has not finished its first epoch; use --resume to continue it, or wait");
  nlohmann::json config = read_json(run_dir + "/config.json");
  std::string family = config.value("family", "");
  check_input(family != "pix2pix", run_dir + " is a pix2pix model: it maps images to images and has no latent space; "
                                   "use it with latentkit enhance --run " + run_dir + " --image IN.png --out OUT.png");
  check_input(family != "spade", run_dir + " is a spade model: it draws images from label maps; use it with latentkit "
                                 "generate --run " + run_dir + " --mask MAP.png --out OUT.png");
  auto it = factories().find(family);
  check_input(it != factories().end(), run_dir + "/config.json: unknown model family '" + family +
                                           "' (this latentkit knows: " + join(generator_families()) + ")");
  return it->second(config, run_dir);
}

nlohmann::json read_trained_run(const std::string& run_dir, const std::string& family, const std::string& what,
                                const std::string& command) {
  const std::string hint = " (train one with: " + command + " --out " + run_dir + ")";
  check_input(path_exists(run_dir), what + " run " + run_dir + " not found" + hint);
  check_input(path_exists(run_dir + "/config.json"), run_dir + " is not a run folder: it has no config.json" + hint);
  check_input(path_exists(run_dir + "/model.pt"), run_dir + "/model.pt not found: the run has not finished its first "
                                                            "epoch; continue it with " + command + " --resume --out " + run_dir);
  nlohmann::json config = read_json(run_dir + "/config.json");
  const std::string found = config.value("family", "");
  check_input(found == family, run_dir + " holds a '" + found + "' run, not a " + what + " (expected the --out folder of " +
                                   command + ")");
  check_input(config.contains("model"), run_dir + "/config.json has no \"model\" section; it must be the one " + command +
                                            " wrote");
  return config;
}

std::string run_family(const std::string& run_dir) {
  if (!path_exists(run_dir + "/config.json")) return "";
  const nlohmann::json config = read_json(run_dir + "/config.json");
  return config.is_object() && config.contains("family") && config["family"].is_string() ? config["family"].get<std::string>()
                                                                                         : "";
}

std::vector<std::string> run_class_names(const nlohmann::json& config) {
  if (!config.contains("classes")) return {};
  return config.at("classes").get<std::vector<std::string>>();
}

ConditionOn run_condition_on(const nlohmann::json& config) {
  const nlohmann::json train = config.value("train", nlohmann::json::object());
  if (!train.is_object() || !train.contains("condition_on") || !train["condition_on"].is_string()) return ConditionOn::kClass;
  return condition_on_names().parse(train["condition_on"].get<std::string>());
}

void save_module(const torch::nn::Module& module, const std::string& path) {
  torch::serialize::OutputArchive archive;
  module.save(archive);
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomic(path, bytes.str());
}

void load_module(torch::nn::Module& module, torch::serialize::InputArchive& archive, const std::string& source) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected;
  for (const auto& item : module.named_parameters()) expected.emplace_back(item.key(), item.value().sizes().vec());
  for (const auto& item : module.named_buffers()) expected.emplace_back(item.key(), item.value().sizes().vec());
  module.load(archive);
  auto params = module.named_parameters();
  auto buffers = module.named_buffers();
  for (const auto& [name, sizes] : expected) {
    const torch::Tensor* found = params.find(name);
    if (!found) found = buffers.find(name);
    if (!found || found->sizes().vec() != sizes) {
      throw Error(source + ": weights do not fit this model (" + name + " is " +
                  (found ? c10::str(found->sizes()) : std::string("missing")) + " in the file, the model needs " +
                  c10::str(c10::IntArrayRef(sizes)) + "); was it written for another configuration?");
    }
  }
}

void load_module(torch::nn::Module& module, const std::string& path) {
  check_input(path_exists(path), path + " not found");
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    load_module(module, archive, path);
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    throw Error(path + ": not a latentkit weights file for this model, or corrupt (" + what.substr(0, 200) + ")");
  }
}

}  // namespace latentkit
