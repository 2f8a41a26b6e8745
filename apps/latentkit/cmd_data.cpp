// latentkit data info | preview: look at a dataset before training on it.
#include <cstdio>
#include <memory>
#include <set>

#include <nlohmann/json.hpp>

#include "apps/latentkit/commands.h"
#include "latentkit/core/error.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/image.h"
#include "latentkit/data/dataset.h"
#include "latentkit/data/degrade.h"
#include "latentkit/data/labelmaps.h"
#include "latentkit/models/generator.h"

namespace latentkit::app {

int64_t parse_class(const std::string& text, const std::vector<std::string>& names, int64_t count) {
  auto listing = [&] {
    std::string all;
    for (size_t i = 0; i < names.size(); ++i) all += (i ? ", " : "") + std::to_string(i) + " " + names[i];
    return all.empty() ? "0.." + std::to_string(count - 1) : all;
  };
  for (size_t i = 0; i < names.size(); ++i) {
    std::string a = names[i], b = text;
    for (char& c : a) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (char& c : b) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (a == b) return static_cast<int64_t>(i);
  }
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos && text.size() < 10) {
    const int64_t index = std::stoll(text);
    if (index < count) return index;
  }
  throw Error("unknown class '" + text + "'; the classes are: " + listing());
}

void add_data_options(CLI::App* command, DataOptions& options) {
  command->add_option("--data", options.spec,
                      "fashion-mnist | idx:DIR | folder:DIR | shapes[:COUNT] | shapes-scenes[:COUNT] | emoji[:google|twitter] | wallpapers[:DIR] (crops of large images); pix2pix pairs: folder:A_DIR,B_DIR | pairs:DIR (A|B side by side)")
      ->capture_default_str();
  command->add_option("--split", options.split, "train or test")
      ->check(CLI::IsMember({"train", "test"}))
      ->capture_default_str();
  command->add_option("--size", options.size, "resize images to SIZE x SIZE (0: native size)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  command->add_option("--channels", options.channels, "1 (gray), 3 (RGB) or 4 (RGBA); 0: native (RGBA for emoji and folders with alpha)")
      ->check(CLI::IsMember({0, 1, 3, 4}))
      ->capture_default_str();
  command->add_option("--background", options.background,
                      "composite transparent images onto white, black or #rrggbb (RGB out); default: keep alpha");
  command->add_option("--limit", options.limit, "use only the first N images (0: all)")
      ->check(at_least(0))
      ->capture_default_str();
  command->add_option("--data-seed", options.seed, "seed that generates procedural data (shapes)")
      ->capture_default_str();
}

namespace {

struct DataParams {
  DataOptions data;
  int64_t n = 64;
  uint64_t seed = 0;
  std::string out;
  std::string as = "image";
  bool json = false;
  int threads = 0;
};

void run_info(const DataParams& p) {
  Dataset d = load_dataset(p.data);
  torch::Tensor pixels = d.images.to(torch::kFloat32);
  nlohmann::json info = {
      {"spec", d.spec}, {"split", p.data.split}, {"count", d.size()},
      {"shape", {d.channels(), d.height(), d.width()}},
      {"pixel_mean", pixels.mean().item<double>()}, {"pixel_std", pixels.std().item<double>()}};
  if (!d.class_names.empty()) {
    torch::Tensor counts = torch::bincount(d.labels, {}, static_cast<int64_t>(d.class_names.size()));
    nlohmann::json classes = nlohmann::json::array();
    for (size_t i = 0; i < d.class_names.size(); ++i)
      classes.push_back({{"index", i}, {"name", d.class_names[i]}, {"count", counts[i].item<int64_t>()}});
    info["classes"] = classes;
  }
  if (!d.factor_names.empty()) info["factors"] = d.factor_names;
  for (const Labeling& l : d.labelings) {
    const torch::Tensor counts = torch::bincount(l.labels, {}, static_cast<int64_t>(l.class_names.size()));
    nlohmann::json classes = nlohmann::json::object();
    for (size_t i = 0; i < l.class_names.size(); ++i) classes[l.class_names[i]] = counts[static_cast<int64_t>(i)].item<int64_t>();
    info["labelings"][l.name] = classes;
  }
  if (d.channels() == 4) info["alpha_coverage"] = pixels.select(1, 3).mean().item<double>() / 255.0;
  if (!d.texts.empty()) {
    std::set<std::string> names;
    for (const ImageText& t : d.texts) names.insert(t.name);
    info["distinct_names"] = names.size();
  }
  if (p.json) {
    std::printf("%s\n", info.dump(2).c_str());
    return;
  }
  std::printf("data      %s (%s split)\n", d.spec.c_str(), p.data.split.c_str());
  std::printf("images    %lld of %lldx%lldx%lld (C x H x W), uint8\n", static_cast<long long>(d.size()),
              static_cast<long long>(d.channels()), static_cast<long long>(d.height()),
              static_cast<long long>(d.width()));
  std::printf("pixels    mean %.2f, std %.2f (0..255)\n", info["pixel_mean"].get<double>(),
              info["pixel_std"].get<double>());
  if (info.contains("classes")) {
    std::printf("classes   %zu\n", d.class_names.size());
    for (const auto& c : info["classes"])
      std::printf("  %2d %-16s %lld\n", c["index"].get<int>(), c["name"].get<std::string>().c_str(),
                  static_cast<long long>(c["count"].get<int64_t>()));
  }
  if (info.contains("alpha_coverage")) {
    std::printf("alpha     RGBA, premultiplied; mean coverage %.3f\n", info["alpha_coverage"].get<double>());
  }
  if (info.contains("labelings")) {
    std::printf("labels   ");
    for (const Labeling& l : d.labelings) {
      std::printf(" %s (%zu)%s", l.name.c_str(), l.class_names.size(), &l == &d.labelings.back() ? "\n" : ",");
    }
    std::printf("          (--condition-on NAME; data info --json lists every class)\n");
  }
  if (info.contains("distinct_names")) {
    std::printf("texts     %zu named things, e.g. \"%s\"\n", info["distinct_names"].get<size_t>(), d.texts[0].name.c_str());
  }
  if (info.contains("factors")) {
    std::printf("factors  ");
    for (const auto& name : d.factor_names) std::printf(" %s", name.c_str());
    std::printf("\n");
  }
}

void run_preview(const DataParams& p) {
  Dataset d = load_dataset(p.data);
  int64_t n = std::min<int64_t>(p.n, d.size());
  torch::Generator rng = make_rng(p.seed);
  torch::Tensor indices = torch::randperm(d.size(), rng).slice(0, 0, n);
  // One image is written as it is (no grid border), ready as input to other commands.
  torch::Tensor images = normalize_images(d.images.index_select(0, indices));
  if (p.as == "gray") images = to_gray(images);
  if (p.as == "lineart") images = line_art(images);
  if (p.as == "map") {  // the data's own maps (shapes-scenes) or its region maps
    ensure_maps(d);
    const MapPalette& palette = map_palette(d.map_palette);
    torch::Tensor maps = d.maps.index_select(0, indices);
    if (n == 1) write_label_map(p.out, maps[0], palette);
    else write_png(p.out, make_grid(map_images(maps, palette)));
    std::fprintf(stderr, "wrote %s (%lld %s map%s of %s, seed %llu; classes: %s)\n", p.out.c_str(),
                 static_cast<long long>(n), palette.name.c_str(), n == 1 ? "" : "s", d.spec.c_str(),
                 static_cast<unsigned long long>(p.seed), palette.describe().c_str());
    return;
  }
  write_png(p.out, n == 1 ? tensor_to_image(images[0]) : make_grid(images));
  std::fprintf(stderr, "wrote %s (%lld random image%s of %s%s, seed %llu)\n", p.out.c_str(), static_cast<long long>(n),
               n == 1 ? "" : "s", d.spec.c_str(), p.as == "image" ? "" : (", as " + p.as).c_str(),
               static_cast<unsigned long long>(p.seed));
}

}  // namespace

void add_data_command(CLI::App& app) {
  CLI::App* data = app.add_subcommand("data", "Inspect a dataset: counts, classes, a grid of samples");
  data->require_subcommand(1);

  auto info_params = std::make_shared<DataParams>();
  CLI::App* info = data->add_subcommand("info", "Print the size, shape, classes and pixel statistics of a dataset");
  add_data_options(info, info_params->data);
  info->add_flag("--json", info_params->json, "print JSON on stdout");
  torch_command(info, info_params->threads, Work::kShort, [info_params]() { run_info(*info_params); });

  auto preview_params = std::make_shared<DataParams>();
  CLI::App* preview = data->add_subcommand("preview", "Write a grid of random images from a dataset");
  add_data_options(preview, preview_params->data);
  preview->add_option("--n", preview_params->n, "number of images")->check(CLI::Range(1, 1024))->capture_default_str();
  preview->add_option("--seed", preview_params->seed, "which random images")->capture_default_str();
  preview->add_option("--out", preview_params->out, "PNG file to write")->required();
  preview->add_option("--as", preview_params->as,
                      "image; gray (what colorize starts from); lineart (black outlines of the color regions and the "
                      "silhouette: what the lineart task starts from); map (the label map in its palette's colors: "
                      "shapes-scenes' own, or the region map of color data; what generate --mask takes)")
      ->check(CLI::IsMember({"image", "gray", "lineart", "map"}))
      ->capture_default_str();
  torch_command(preview, preview_params->threads, Work::kShort, [preview_params]() { run_preview(*preview_params); });
}

}  // namespace latentkit::app
