#include "latentkit/core/files.h"
#include "latentkit/core/json.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <system_error>

#include "latentkit/core/error.h"

namespace latentkit {
namespace {

namespace fs = std::filesystem;

constexpr const char* kAtomicTempTag = ".tmp.";

std::string errno_text(int err) { return std::strerror(err); }

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

// What a failed write says. A full disk (ENOSPC, or EDQUOT for a full quota) names the folder,
// its free bytes and the next step, so that a user sees the disk and not a broken file.
std::string write_failure(const std::string& path, const std::string& what, int err, size_t needed) {
  if (err == ENOSPC || err == EDQUOT) {
    fs::path dir = fs::path(path).parent_path();
    if (dir.empty()) dir = ".";
    std::error_code ec;
    const fs::space_info space = fs::space(dir, ec);
    std::string free_bytes = ec ? std::string("unknown") : std::to_string(space.available);
    return "cannot write " + path + ": the disk holding " + dir.string() + " is full (" + errno_text(err) + ": " +
           free_bytes + " bytes free, " + std::to_string(needed) + " needed); free space there and run again" +
           " (training: continue with --resume)";
  }
  return "cannot write " + path + ": " + what + errno_text(err) + "; check free disk space and permissions";
}

void write_all(int fd, const std::string& bytes, const std::string& temp_path,
               const std::string& path) {
  const char* data = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd, data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::unlink(temp_path.c_str());
      throw Error(write_failure(path, "", err, bytes.size()), ErrorKind::kInternal);
    }
    data += n;
    left -= static_cast<size_t>(n);
  }
}

void fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

std::string atomic_temp_path(const std::string& path) {
  const fs::path target(path);
  return (target.parent_path() / ("." + target.filename().string() + kAtomicTempTag + std::to_string(::getpid())))
      .string();
}

bool is_atomic_temp_name(const std::string& name) {
  const size_t tag = name.rfind(kAtomicTempTag);
  if (name.size() < 2 || name[0] != '.' || tag == std::string::npos || tag < 2) return false;
  const size_t digits = tag + std::strlen(kAtomicTempTag);
  return digits < name.size() && name.find_first_not_of("0123456789", digits) == std::string::npos;
}

int remove_atomic_temp_files(const std::string& dir) {
  int removed = 0;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return 0;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file(ec) || !is_atomic_temp_name(name)) continue;
    // A writer that is still alive (or a pid that does not fit) keeps its file.
    const long long pid = std::atoll(name.c_str() + name.rfind(kAtomicTempTag) + std::strlen(kAtomicTempTag));
    if (pid <= 0 || pid > std::numeric_limits<pid_t>::max() || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    if (fs::remove(entry.path(), ec)) ++removed;
  }
  return removed;
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  fs::path target(path);
  fs::path dir = target.parent_path();
  std::string name = target.filename().string();
  check_input(!name.empty(), "cannot write '" + path + "': the path names a folder, not a file");
  // Outputs such as --out runs/new/grid.png get their folder, as users expect.
  if (!dir.empty() && !fs::exists(dir)) make_dirs(dir.string());
  std::string temp_path = atomic_temp_path(path);

  FileDescriptor fd(::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) {
    int err = errno;
    if (err == ENOSPC || err == EDQUOT) throw Error(write_failure(path, "", err, bytes.size()), ErrorKind::kInternal);
    throw Error("cannot write " + path + ": " + errno_text(err) +
                (err == ENOENT ? "; create the folder first" : "; check the folder's permissions"));
  }
  write_all(fd.get(), bytes, temp_path, path);
  if (::fsync(fd.get()) != 0) {
    int err = errno;
    ::unlink(temp_path.c_str());
    throw Error(write_failure(path, "fsync failed: ", err, bytes.size()), ErrorKind::kInternal);
  }
  if (::close(fd.release()) != 0) {
    int err = errno;
    ::unlink(temp_path.c_str());
    throw Error(write_failure(path, "close failed: ", err, bytes.size()), ErrorKind::kInternal);
  }
  if (::rename(temp_path.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(temp_path.c_str());
    throw Error("cannot write " + path + ": rename failed: " + errno_text(err) +
                "; check the folder's permissions");
  }
  fsync_dir(dir.empty() ? std::string(".") : dir.string());
}

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    throw Error("cannot read " + path + ": it is a folder, expected a file");
  }
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    int err = errno;
    throw Error("cannot read " + path + ": " + errno_text(err));
  }
  std::string bytes;
  char buffer[1 << 16];
  while (true) {
    ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      throw Error("cannot read " + path + ": " + errno_text(err));
    }
    if (n == 0) break;
    bytes.append(buffer, static_cast<size_t>(n));
  }
  return bytes;
}

void make_dirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec == std::errc::no_space_on_device) {
    throw Error("cannot create folder " + path + ": the disk is full (" + ec.message() + "); free space there and run again",
                ErrorKind::kInternal);
  }
  if (ec) {
    throw Error("cannot create folder " + path + ": " + ec.message() +
                "; check the parent folder's permissions");
  }
  if (!fs::is_directory(path, ec)) {
    throw Error("cannot create folder " + path + ": a file with that name exists");
  }
}

bool path_exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

void check_json_numbers(const nlohmann::json& j, const std::string& source) {
  if (j.is_number_float()) {
    const double v = j.get<double>();
    check_input(v > -kJsonNumberLimit && v < kJsonNumberLimit, source + ": the number " + j.dump() + " is out of range (|x| < 2^31)");
  } else if (j.is_structured()) {
    for (const auto& item : j) check_json_numbers(item, source);
  }
}

nlohmann::json parse_json(const std::string& text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // syntax, and numbers past a double's range
    throw Error(source + ": not valid JSON (" + e.what() + ")");
  }
  check_json_numbers(j, source);
  return j;
}

nlohmann::json read_json(const std::string& path) {
  try {
    return parse_json(read_file(path), path);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + "; fix or regenerate the file", e.kind());
  }
}

// Strings that are not UTF-8 (a folder's name, a prompt) are written with U+FFFD for their
// bad bytes rather than failing the write.
constexpr auto kReplaceBadUtf8 = nlohmann::json::error_handler_t::replace;

void write_json(const std::string& path, const nlohmann::json& value) {
  write_file_atomic(path, value.dump(2, ' ', false, kReplaceBadUtf8) + "\n");
}

void append_jsonl(const std::string& path, const nlohmann::json& value) {
  std::string line = value.dump(-1, ' ', false, kReplaceBadUtf8) + "\n";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    int err = errno;
    throw Error("cannot append to " + path + ": " + errno_text(err) +
                (err == ENOENT ? "; create the folder first" : "; check permissions"));
  }
  FileDescriptor guard(fd);
  // A line cut short by a full disk is taken back, so the file still holds whole lines.
  struct stat before {};
  const bool sized = ::fstat(fd, &before) == 0;
  const char* data = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd, data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      if (sized && left < line.size()) {
        const int cut = ::ftruncate(fd, before.st_size);  // best effort: trim_train_log skips a cut line too
        (void)cut;
      }
      throw Error(err == ENOSPC || err == EDQUOT ? write_failure(path, "", err, line.size())
                                                 : "cannot append to " + path + ": " + errno_text(err),
                  ErrorKind::kInternal);
    }
    data += n;
    left -= static_cast<size_t>(n);
  }
}

std::string default_cache_dir() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/latentkit";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/latentkit";
  return ".latentkit-cache";
}

}  // namespace latentkit
