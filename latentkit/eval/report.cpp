#include "latentkit/eval/report.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "latentkit/core/base64.h"
#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/core/grid.h"
#include "latentkit/core/image.h"
#include "latentkit/eval/evaluate.h"
#include "latentkit/models/registry.h"

namespace latentkit {
namespace {

std::string escape_html(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string png_img(const std::string& png_bytes, const std::string& alt, int width) {
  return "<img alt=\"" + escape_html(alt) + "\" width=\"" + std::to_string(width) +
         "\" src=\"data:image/png;base64," + base64_encode(png_bytes) + "\">";
}

std::string fixed(double value, int digits) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.*f", digits, value);
  return text;
}

std::string score_cell(const nlohmann::json& scores, const std::string& key) {
  if (!scores.contains(key)) return "&ndash;";
  const nlohmann::json& v = scores[key];
  if (v.is_number()) return fixed(v.get<double>(), key == "fid" ? 3 : 4);
  if (v.contains("mean")) return fixed(v["mean"].get<double>(), key == "kid" ? 5 : 3) + " &plusmn; " +
                                 fixed(v["std"].get<double>(), key == "kid" ? 5 : 3);
  if (v.contains("kl"))
    return fixed(v["kl"].get<double>(), 4) + " (" + std::to_string(v["classes_covered"].get<int64_t>()) + "/" +
           std::to_string(v["classes"].get<int64_t>()) + " classes)";
  return escape_html(v.dump());
}

std::string last_log_line(const std::string& path) {
  if (!path_exists(path)) return "";
  std::istringstream lines(read_file(path));
  std::string line, last;
  while (std::getline(lines, line))
    if (!line.empty()) last = line;
  return last;
}

}  // namespace

std::string render_report(const std::string& run_dir) {
  std::unique_ptr<Generator> generator = load_generator(run_dir);
  nlohmann::json config = read_json(run_dir + "/config.json");
  std::string samples;
  {
    torch::NoGradGuard no_grad;
    torch::Generator rng = make_rng(0);
    samples = encode_png(make_grid(generator->decode(generator->sample_latent(64, rng)), 8));
  }
  std::ostringstream html;
  html << "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>latentkit report: "
       << escape_html(run_dir) << "</title>\n<style>\n"
       << "body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}\n"
       << "h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}\n"
       << "table{border-collapse:collapse}td,th{padding:.3em .9em;border-bottom:1px solid #eee;text-align:left}\n"
       << "th{background:#f6f6f6}img{image-rendering:pixelated;border:1px solid #ddd}\n"
       << "pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:.85em}.note{color:#666}\n"
       << ".row{display:flex;gap:2em;flex-wrap:wrap;align-items:flex-start}\n</style></head><body>\n";
  html << "<h1>latentkit report: " << escape_html(run_dir) << "</h1>\n";
  auto shape = generator->image_shape();
  html << "<p>" << escape_html(generator->family()) << " generator, latent " << generator->latent_dim() << ", images "
       << shape[0] << "&times;" << shape[1] << "&times;" << shape[2] << ", trained on <code>"
       << escape_html(config.at("data").value("spec", std::string("?"))) << "</code>";
  std::string last = last_log_line(run_dir + "/train.jsonl");
  if (!last.empty()) {
    nlohmann::json row = nlohmann::json::parse(last, nullptr, false);
    if (!row.is_discarded()) html << " for " << row.value("step", int64_t{0}) << " steps";
  }
  html << ".</p>\n";

  html << "<div class=\"row\"><div><h2>Samples</h2>" << png_img(samples, "64 samples, seed 0", 400)
       << "<p class=\"note\">64 samples, latents from seed 0: <code>latentkit generate --run "
       << escape_html(run_dir) << " --n 64 --seed 0 --out grid.png</code></p></div>\n";
  if (path_exists(run_dir + "/losses.png"))
    html << "<div><h2>Losses</h2>" << png_img(read_file(run_dir + "/losses.png"), "loss curves", 520) << "</div>";
  html << "</div>\n<h2>Metrics</h2>\n";
  if (path_exists(run_dir + "/eval.json")) {
    nlohmann::json eval = read_json(run_dir + "/eval.json");
    const nlohmann::json& scores = eval.at("scores");
    nlohmann::json floor = eval.contains("floor") ? eval["floor"] : nlohmann::json::object();
    html << "<table><tr><th>metric</th><th>this model</th><th>floor: real vs real</th></tr>\n";
    const std::pair<const char*, const char*> rows[] = {{"fid", "FID &darr;"},   {"kid", "KID &darr;"},
                                                        {"is", "Inception Score &uarr;"}, {"precision", "precision &uarr;"},
                                                        {"recall", "recall &uarr;"},      {"kl", "class KL &darr;"}};
    for (const auto& [key, label] : rows) {
      if (!scores.contains(key)) continue;
      html << "<tr><td>" << label << "</td><td>" << score_cell(scores, key) << "</td><td>" << score_cell(floor, key)
           << "</td></tr>\n";
    }
    html << "</table>\n<p class=\"note\">Settings of this evaluation:</p><pre>"
         << escape_html(eval.at("settings").dump(2)) << "</pre>\n";
  } else {
    html << "<p class=\"note\">No eval.json yet: run <code>latentkit eval --run " << escape_html(run_dir)
         << "</code> and make the report again.</p>\n";
  }
  html << "<h2>Configuration</h2><pre>" << escape_html(config.dump(2)) << "</pre>\n";
  html << "<p class=\"note\">Made by latentkit " << LATENTKIT_VERSION << ".</p>\n</body></html>\n";
  return html.str();
}

}  // namespace latentkit
