#include "tests/unit/test_util.h"
#include "latentkit/models/registry.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "latentkit/core/error.h"
#include "latentkit/core/files.h"
#include "latentkit/models/dcgan.h"

using namespace latentkit;
using latentkit::test_util::error_of;
using latentkit::test_util::make_temp_dir;
namespace fs = std::filesystem;

TEST(Registry, KnowsBothDcganPresets) {
  auto families = generator_families();
  EXPECT_NE(std::find(families.begin(), families.end(), "dcgan"), families.end());
  EXPECT_NE(std::find(families.begin(), families.end(), "dcgan-upsample"), families.end());
}

TEST(Registry, LoadsARunFolderAndDecodesItsWeights) {
  std::string run = make_temp_dir("registry_load");
  DcganOptions o;
  o.preset("dcgan-upsample").channels(3).image_size(32).latent_dim(8).width(8);
  torch::manual_seed(0);
  DcganGenerator net(o);
  save_module(*net, run + "/model.pt");
  write_json(run + "/config.json", {{"family", "dcgan-upsample"}, {"model", dcgan_options_to_json(o)}});

  auto generator = load_generator(run);
  EXPECT_EQ(generator->latent_dim(), 8);
  EXPECT_EQ(generator->image_shape(), (std::array<int64_t, 3>{3, 32, 32}));
  torch::NoGradGuard no_grad;
  torch::Tensor z = torch::randn({2, 8});
  net->eval();
  EXPECT_TRUE(torch::equal(generator->decode(z), net->forward(z)));
  fs::remove_all(run);
}

TEST(Registry, BadRunFoldersAreClearErrors) {
  std::string run = make_temp_dir("registry_bad");
  EXPECT_NE(error_of([&] { load_generator(run + "/nope"); }).find("not found"), std::string::npos);
  EXPECT_NE(error_of([&] { load_generator(run); }).find("no config.json"), std::string::npos);
  write_json(run + "/config.json", {{"family", "stylegan9"}});
  write_file_atomic(run + "/model.pt", "not weights");
  std::string unknown = error_of([&] { load_generator(run); });
  EXPECT_NE(unknown.find("unknown model family 'stylegan9'"), std::string::npos);
  EXPECT_NE(unknown.find("dcgan"), std::string::npos) << "lists the known families";

  DcganOptions o;
  o.width(8);
  write_json(run + "/config.json", {{"family", "dcgan"}, {"model", dcgan_options_to_json(o)}});
  EXPECT_NE(error_of([&] { load_generator(run); }).find("model.pt"), std::string::npos);
  fs::remove_all(run);
}

TEST(Registry, WeightsOfAnotherShapeAreRefused) {
  std::string run = make_temp_dir("registry_shape");
  DcganOptions small;
  small.width(8);
  DcganOptions large;
  large.width(16);
  DcganGenerator a(small);
  DcganGenerator b(large);
  save_module(*a, run + "/w.pt");
  EXPECT_THROW(load_module(*b, run + "/w.pt"), Error);
  fs::remove_all(run);
}

TEST(Registry, ConditionOnDefaultsToClass) {
  EXPECT_EQ(run_condition_on({{"train", {{"condition_on", "hue"}}}}), ConditionOn::kHue);
  EXPECT_EQ(run_condition_on({{"train", {{"epochs", 3}}}}), ConditionOn::kClass);
  EXPECT_EQ(run_condition_on(nlohmann::json::object()), ConditionOn::kClass) << "a config without a train section";
  EXPECT_EQ(run_condition_on({{"train", 7}}), ConditionOn::kClass);
}
