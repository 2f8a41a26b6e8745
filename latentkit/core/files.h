#pragma once
// File helpers. Every output file is written atomically: a temp file beside the target,
// fsync, rename, so a crash never leaves a half-written file where a good one was.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace latentkit {

/// Writes bytes to path atomically (temp file in the same folder, fsync, rename, fsync dir),
/// creating the folder first when it does not exist. A full disk (ENOSPC, EDQUOT) is an
/// Error (internal kind) naming the folder and its free bytes; the temp file is removed.
void write_file_atomic(const std::string& path, const std::string& bytes);
/// The temp file write_file_atomic writes before its rename: FOLDER/.NAME.tmp.PID.
std::string atomic_temp_path(const std::string& path);
/// Whether a file name is one of atomic_temp_path's (".NAME.tmp.DIGITS").
bool is_atomic_temp_name(const std::string& name);
/// Deletes the temp files that dead writers (killed mid-write) left in a folder, not in its
/// subfolders; a file whose writer's pid is alive stays. Returns how many went.
int remove_atomic_temp_files(const std::string& dir);
/// Reads a whole file; throws Error naming the file when it is missing or unreadable.
std::string read_file(const std::string& path);
/// Creates a folder and its parents; throws Error when that fails.
void make_dirs(const std::string& path);
bool path_exists(const std::string& path);
/// Where caches live: $XDG_CACHE_HOME/latentkit, else ~/.cache/latentkit, else
/// ./.latentkit-cache.
std::string default_cache_dir();

/// Reads a JSON file; a missing file or a parse error is an Error naming the file.
nlohmann::json read_json(const std::string& path);
/// Writes JSON (indented by 2) atomically.
void write_json(const std::string& path, const nlohmann::json& value);
/// Appends one line of compact JSON to a .jsonl file (flushes; not atomic by nature). A line
/// cut short by a full disk is truncated away, and the Error names the folder as full.
void append_jsonl(const std::string& path, const nlohmann::json& value);

}  // namespace latentkit
