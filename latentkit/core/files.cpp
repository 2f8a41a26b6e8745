#include "latentkit/core/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "latentkit/core/error.h"

namespace latentkit {
namespace {

namespace fs = std::filesystem;

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
      throw Error("cannot write " + path + ": " + errno_text(err) +
                      "; check free disk space and permissions",
                  ErrorKind::kInternal);
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

void write_file_atomic(const std::string& path, const std::string& bytes) {
  fs::path target(path);
  fs::path dir = target.parent_path();
  std::string name = target.filename().string();
  check_input(!name.empty(), "cannot write '" + path + "': the path names a folder, not a file");
  // Outputs such as --out runs/new/grid.png get their folder, as users expect.
  if (!dir.empty() && !fs::exists(dir)) make_dirs(dir.string());
  fs::path temp = dir / ("." + name + ".tmp." + std::to_string(::getpid()));
  std::string temp_path = temp.string();

  FileDescriptor fd(::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) {
    int err = errno;
    throw Error("cannot write " + path + ": " + errno_text(err) +
                (err == ENOENT ? "; create the folder first" : "; check the folder's permissions"));
  }
  write_all(fd.get(), bytes, temp_path, path);
  if (::fsync(fd.get()) != 0) {
    int err = errno;
    ::unlink(temp_path.c_str());
    throw Error("cannot write " + path + ": fsync failed: " + errno_text(err),
                ErrorKind::kInternal);
  }
  if (::close(fd.release()) != 0) {
    int err = errno;
    ::unlink(temp_path.c_str());
    throw Error("cannot write " + path + ": close failed: " + errno_text(err),
                ErrorKind::kInternal);
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

nlohmann::json read_json(const std::string& path) {
  std::string text = read_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(path + ": not valid JSON (" + e.what() + "); fix or regenerate the file");
  }
}

void write_json(const std::string& path, const nlohmann::json& value) {
  write_file_atomic(path, value.dump(2) + "\n");
}

void append_jsonl(const std::string& path, const nlohmann::json& value) {
  std::string line = value.dump() + "\n";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    int err = errno;
    throw Error("cannot append to " + path + ": " + errno_text(err) +
                (err == ENOENT ? "; create the folder first" : "; check permissions"));
  }
  FileDescriptor guard(fd);
  const char* data = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd, data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      throw Error("cannot append to " + path + ": " + errno_text(err), ErrorKind::kInternal);
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
