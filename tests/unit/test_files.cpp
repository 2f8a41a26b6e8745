#include "latentkit/core/files.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "latentkit/core/error.h"
#include "latentkit/core/json.h"
#include "tests/unit/test_util.h"

namespace latentkit {
namespace {

namespace fs = std::filesystem;
using test_util::expect_error;

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device device;
    dir_ = fs::temp_directory_path() /
           ("latentkit_files_" + std::to_string(::getpid()) + "_" + std::to_string(device()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

TEST_F(FilesTest, AtomicWriteReplacesContentAndLeavesNoTempFile) {
  std::string target = path("out.bin");
  write_file_atomic(target, "first version");
  EXPECT_EQ(read_file(target), "first version");
  std::string binary("a\0b\xff", 4);
  write_file_atomic(target, binary);
  EXPECT_EQ(read_file(target), binary);
  int entries = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    ++entries;
    EXPECT_EQ(entry.path().filename().string(), "out.bin");
  }
  EXPECT_EQ(entries, 1);
}

TEST_F(FilesTest, AtomicWriteCreatesAMissingFolder) {
  std::string target = path("missing/deeper/out.bin");
  write_file_atomic(target, "x");
  EXPECT_EQ(read_file(target), "x");
}

TEST_F(FilesTest, AtomicWriteBelowAFileThrowsNamingIt) {
  write_file_atomic(path("plain"), "not a folder");
  std::string target = path("plain/out.bin");
  try {
    write_file_atomic(target, "x");
    FAIL() << "expected Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("plain"), std::string::npos) << e.what();
  }
}

TEST_F(FilesTest, ReadMissingFileNamesThePath) {
  std::string missing = path("config.json");
  try {
    read_file(missing);
    FAIL() << "expected Error";
  } catch (const Error& e) {
    std::string message = e.what();
    EXPECT_NE(message.find("cannot read " + missing), std::string::npos) << message;
    EXPECT_NE(message.find("No such file"), std::string::npos) << message;
    EXPECT_EQ(e.exit_code(), 2);
  }
}

TEST_F(FilesTest, ReadEmptyFile) {
  write_file_atomic(path("empty"), "");
  EXPECT_EQ(read_file(path("empty")), "");
}

TEST_F(FilesTest, MakeDirsAndPathExists) {
  std::string nested = path("a/b/c");
  EXPECT_FALSE(path_exists(nested));
  make_dirs(nested);
  EXPECT_TRUE(path_exists(nested));
  EXPECT_TRUE(fs::is_directory(nested));
  make_dirs(nested);
  write_file_atomic(path("file"), "x");
  EXPECT_THROW(make_dirs(path("file")), Error);
}

TEST_F(FilesTest, JsonRoundTrip) {
  nlohmann::json value = {{"model", "dcgan"}, {"latent_dim", 100}, {"lr", 0.0002},
                          {"sizes", {1, 2, 3}}, {"nested", {{"ok", true}}}};
  std::string target = path("config.json");
  write_json(target, value);
  EXPECT_EQ(read_json(target), value);
  std::string text = read_file(target);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  EXPECT_NE(text.find("\n  \"latent_dim\": 100"), std::string::npos) << text;
}

TEST_F(FilesTest, ReadJsonParseErrorNamesTheFile) {
  std::string target = path("broken.json");
  write_file_atomic(target, "{\"a\": ");
  try {
    read_json(target);
    FAIL() << "expected Error";
  } catch (const Error& e) {
    std::string message = e.what();
    EXPECT_NE(message.find(target), std::string::npos) << message;
    EXPECT_NE(message.find("not valid JSON"), std::string::npos) << message;
  }
}

TEST_F(FilesTest, ParseJsonBoundsFloatsAt2To31) {
  EXPECT_EQ(parse_json("[2147483647.5, -2147483647.5]", "t").size(), 2u);
  expect_error([] { parse_json("{\"a\": [1, 2147483648.0]}", "t"); }, {"t: the number 2147483648.0 is out of range"});
  expect_error([] { parse_json("-4.7e39", "t"); }, {"out of range"});
  // Integers are nlohmann's own (int64/uint64), whose casts are defined: only floats are bounded.
  EXPECT_EQ(parse_json("9007199254740993", "t").get<int64_t>(), 9007199254740993);
}

TEST_F(FilesTest, AppendJsonlAppendsLines) {
  std::string target = path("train.jsonl");
  append_jsonl(target, {{"step", 1}, {"loss", 0.5}});
  append_jsonl(target, {{"step", 2}, {"loss", 0.25}});
  std::string text = read_file(target);
  EXPECT_EQ(text, "{\"loss\":0.5,\"step\":1}\n{\"loss\":0.25,\"step\":2}\n");
}

TEST_F(FilesTest, AtomicTempPathIsADotFileBesideTheTarget) {
  const std::string temp = atomic_temp_path(path("model.pt"));
  EXPECT_EQ(temp, path(".model.pt.tmp." + std::to_string(::getpid())));
  EXPECT_TRUE(is_atomic_temp_name(fs::path(temp).filename().string()));
  EXPECT_TRUE(is_atomic_temp_name(".step-0000014.pt.tmp.4242"));
  EXPECT_FALSE(is_atomic_temp_name("step-0000014.pt"));
  EXPECT_FALSE(is_atomic_temp_name(".step-0000014.pt.tmp."));      // no pid
  EXPECT_FALSE(is_atomic_temp_name(".step-0000014.pt.tmp.12a"));   // not a pid
  EXPECT_FALSE(is_atomic_temp_name("notes.tmp.12"));              // not a dot file
  EXPECT_FALSE(is_atomic_temp_name(".tmp.12"));                   // no name
}

TEST_F(FilesTest, RemoveAtomicTempFilesDeletesThoseOfDeadWritersOnly) {
  // A pid that was alive and is no more: a child that has exited and been waited for.
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  const std::string dead = std::to_string(child), alive = std::to_string(::getpid());
  write_file_atomic(path("model.pt"), "weights");
  write_file_atomic(path(".model.pt.tmp." + dead), "half");
  write_file_atomic(path(".latest.tmp." + dead), "step-");
  write_file_atomic(path(".config.json.tmp." + alive), "kept: its writer is alive");
  write_file_atomic(path(".hidden"), "kept");
  write_file_atomic(path("sub/.x.tmp." + dead), "kept: a subfolder");
  EXPECT_EQ(remove_atomic_temp_files(dir_.string()), 2);
  EXPECT_EQ(read_file(path("model.pt")), "weights");
  EXPECT_FALSE(path_exists(path(".model.pt.tmp." + dead)));
  EXPECT_FALSE(path_exists(path(".latest.tmp." + dead)));
  EXPECT_TRUE(path_exists(path(".config.json.tmp." + alive)));
  EXPECT_TRUE(path_exists(path(".hidden")));
  EXPECT_TRUE(path_exists(path("sub/.x.tmp." + dead)));
  EXPECT_EQ(remove_atomic_temp_files(dir_.string()), 0);
  EXPECT_EQ(remove_atomic_temp_files(path("missing")), 0);
}

TEST_F(FilesTest, AppendOnAFullDiskNamesTheFolderAsFull) {
  // /dev/full answers every write with ENOSPC, as a full disk does.
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  try {
    append_jsonl("/dev/full", {{"step", 1}});
    FAIL() << "a write to a full disk succeeded";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("cannot write /dev/full: the disk holding /dev is full (No space left on device: "),
              std::string::npos) << message;
    EXPECT_NE(message.find("bytes free, 11 needed)"), std::string::npos) << message;  // {"step":1} and a newline
    EXPECT_EQ(message.find('\n'), std::string::npos) << "one line: " << message;
    EXPECT_EQ(e.exit_code(), 1);
  }
}

}  // namespace
}  // namespace latentkit
