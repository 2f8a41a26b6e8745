#include "tests/unit/test_util.h"
#include "latentkit/eval/evaluate.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/eval/npy.h"
#include "latentkit/eval/report.h"
#include "latentkit/models/classifier.h"
#include "latentkit/models/dcgan.h"
#include "latentkit/models/registry.h"

using namespace latentkit;
using latentkit::test_util::make_temp_dir;
namespace fs = std::filesystem;

namespace {

// An untrained classifier run on 3 classes: features that differ between image sets are
// all these tests need.
std::string tiny_classifier(const std::string& dir) {
  torch::manual_seed(3);
  ClassifierOptions o;
  o.channels(3).image_size(32).num_classes(3).width(8).feature_dim(8);
  Classifier model(o);
  make_dirs(dir);
  save_module(*model, dir + "/model.pt");
  write_json(dir + "/config.json", {{"family", "classifier"},
                                    {"model", classifier_options_to_json(o)},
                                    {"classes", {"square", "circle", "triangle"}}});
  return dir;
}

EvalOptions small_options(const std::string& dir) {
  EvalOptions o;
  o.features = tiny_classifier(dir + "/classifier");
  o.n = 200;
  o.kid_subsets = 10;
  o.kid_subset_size = 50;
  o.is_splits = 2;
  o.threads = 1;
  o.batch = 64;
  o.cache_dir = dir + "/cache";
  return o;
}

}  // namespace

TEST(Evaluate, IdenticalFeatureSetsScoreAsIdentical) {
  torch::manual_seed(0);
  FeatureBatch a;
  a.features = torch::randn({300, 6});
  a.probs = torch::softmax(torch::randn({300, 4}), 1);
  EvalOptions o;
  o.kid_subsets = 5;
  o.kid_subset_size = 100;
  o.is_splits = 3;
  nlohmann::json s = score_features(a, a, o);
  EXPECT_NEAR(s["fid"].get<double>(), 0.0, 1e-6);
  EXPECT_NEAR(s["precision"].get<double>(), 1.0, 1e-12);
  EXPECT_NEAR(s["recall"].get<double>(), 1.0, 1e-12);
  EXPECT_NEAR(s["kl"]["kl"].get<double>(), 0.0, 1e-9);
  // Unbiased: centred on 0 for one distribution (sampling noise of 5 subsets of 100).
  EXPECT_LT(std::abs(s["kid"]["mean"].get<double>()), 0.15);
  EXPECT_GT(s["is"]["mean"].get<double>(), 1.0);
}

TEST(Evaluate, ShiftedFeaturesScoreTheShift) {
  torch::manual_seed(1);
  FeatureBatch a, b;
  a.features = torch::randn({400, 5}, torch::kFloat64).to(torch::kFloat32);
  b.features = a.features + 3.0;  // same covariance: FID = |mu1 - mu2|^2 = 5 * 9
  EvalOptions o;
  o.metrics = {"fid", "pr", "kid"};
  o.kid_subsets = 5;
  o.kid_subset_size = 100;
  nlohmann::json s = score_features(a, b, o);
  EXPECT_NEAR(s["fid"].get<double>(), 45.0, 1e-6);
  EXPECT_GT(s["kid"]["mean"].get<double>(), 5.0) << "far above the noise of identical sets";
  EXPECT_LT(s["precision"].get<double>(), 0.2) << "a set far from the reference is outside its manifold";
  EXPECT_FALSE(s.contains("is")) << "only the metrics asked for";
}

TEST(Evaluate, TwoImageSetsEndToEndWithCacheAndDumps) {
  std::string dir = make_temp_dir("evaluate_sets");
  EvalOptions o = small_options(dir);
  o.a = "shapes:200@train";
  o.b = "shapes:200@test";
  o.dump_features = dir + "/a.npy";
  o.save_stats = dir + "/b.npy";
  nlohmann::json r = evaluate(o);
  const nlohmann::json& s = r["scores"];
  EXPECT_GT(s["fid"].get<double>(), 0.0);
  EXPECT_LT(s["fid"].get<double>(), 1.0) << "two draws of the same shapes distribution are close";
  EXPECT_EQ(s["kl"]["classes"], 3);
  EXPECT_GE(s["kl"]["kl"].get<double>(), 0.0);
  EXPECT_EQ(r["settings"]["extractor_hash"].get<std::string>().size(), 64u);
  EXPECT_EQ(read_npy(dir + "/a.npy").sizes(), (std::vector<int64_t>{200, 8}));
  EXPECT_EQ(read_npy(dir + "/b.probs.npy").sizes(), (std::vector<int64_t>{200, 3}));

  // The saved features stand in for the set: same scores without touching the images.
  EvalOptions again = o;
  again.a = dir + "/a.npy";
  again.b = dir + "/b.npy";
  again.dump_features.clear();
  again.save_stats.clear();
  nlohmann::json r2 = evaluate(again);
  EXPECT_NEAR(r2["scores"]["fid"].get<double>(), s["fid"].get<double>(), 1e-9);
  EXPECT_NEAR(r2["scores"]["precision"].get<double>(), s["precision"].get<double>(), 1e-12);

  // A second evaluation against the same reference reads it from the cache.
  nlohmann::json r3 = evaluate(o);
  EXPECT_TRUE(r3["settings"]["b"]["cached"].get<bool>());
  EXPECT_NEAR(r3["scores"]["fid"].get<double>(), s["fid"].get<double>(), 1e-9);
  fs::remove_all(dir);
}

TEST(Evaluate, RunFolderWritesEvalJsonWithTheFloorAndAReport) {
  std::string dir = make_temp_dir("evaluate_run");
  std::string run = dir + "/run";
  DcganOptions g;
  g.channels(3).image_size(32).latent_dim(8).width(8);
  torch::manual_seed(0);
  DcganGenerator net(g);
  make_dirs(run);
  save_module(*net, run + "/model.pt");
  write_json(run + "/config.json", {{"family", "dcgan"}, {"model", dcgan_options_to_json(g)},
                                    {"data", {{"spec", "shapes:300"}, {"size", 32}, {"channels", 3}, {"seed", 0}}}});
  EvalOptions o = small_options(dir);
  o.run = run;
  nlohmann::json r = evaluate(o);
  nlohmann::json saved = read_json(run + "/eval.json");
  EXPECT_EQ(saved["scores"], r["scores"]);
  EXPECT_EQ(saved["settings"]["reference"]["split"], "test");
  EXPECT_EQ(saved["settings"]["n"], 200);
  ASSERT_TRUE(saved.contains("floor"));
  EXPECT_LT(saved["floor"]["fid"].get<double>(), saved["scores"]["fid"].get<double>())
      << "an untrained generator scores worse than real data against real data";
  std::string table = format_eval_table(r);
  EXPECT_NE(table.find("FID"), std::string::npos);
  EXPECT_NE(table.find("floor"), std::string::npos);

  std::string html = render_report(run);
  EXPECT_NE(html.find("data:image/png;base64,"), std::string::npos);
  EXPECT_NE(html.find("floor: real vs real"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos) << "self-contained";
  fs::remove_all(dir);
}

TEST(Evaluate, BadRequestsAreClearErrors) {
  std::string dir = make_temp_dir("evaluate_bad");
  EvalOptions o = small_options(dir);
  EXPECT_THROW(evaluate(o), Error) << "neither --run nor --a/--b";
  o.a = "shapes:100";
  EXPECT_THROW(evaluate(o), Error) << "--a without --b";
  o.b = "shapes:100";
  o.metrics = {"fid", "sharpness"};
  EXPECT_THROW(evaluate(o), Error) << "unknown metric";
  o.metrics = {"fid"};
  o.n = 500;
  try {
    evaluate(o);
    FAIL() << "asked for more images than the set has";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fewer than the 500"), std::string::npos) << e.what();
  }
  o.features = dir + "/nothing";
  EXPECT_THROW(evaluate(o), Error);
  fs::remove_all(dir);
}
