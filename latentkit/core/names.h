#pragma once
// Enumerated options with one name table each (LibTorch spells its choices as enum values,
// not strings): the CLI's allowed values, validation, error messages and config.json all
// read the same table, so a new value is added in one place.
#include <string>
#include <utility>
#include <vector>

#include "latentkit/core/error.h"

namespace latentkit {

template <typename E>
class NameTable {
 public:
  /// what: how messages name the option, e.g. "--loss".
  NameTable(std::string what, std::vector<std::pair<E, std::string>> rows) : what_(std::move(what)), rows_(std::move(rows)) {}

  const std::string& name(E value) const {
    for (const auto& [v, n] : rows_) {
      if (v == value) return n;
    }
    throw Error(what_ + ": value " + std::to_string(static_cast<int>(value)) + " has no name", ErrorKind::kInternal);
  }
  /// The value named text; anything else is an Error listing the names.
  E parse(const std::string& text) const {
    for (const auto& [v, n] : rows_) {
      if (n == text) return v;
    }
    throw Error("unknown " + what_ + " '" + text + "' (expected " + list() + ")");
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& row : rows_) out.push_back(row.second);
    return out;
  }
  /// "bce, hinge or wgan-gp".
  std::string list() const {
    std::string out;
    for (size_t i = 0; i < rows_.size(); ++i) {
      out += (i == 0 ? "" : i + 1 == rows_.size() ? " or " : ", ") + rows_[i].second;
    }
    return out;
  }
  const std::string& what() const { return what_; }

 private:
  std::string what_;
  std::vector<std::pair<E, std::string>> rows_;
};

}  // namespace latentkit
