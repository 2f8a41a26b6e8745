#pragma once
// JSON from outside (files, request bodies) as the library reads it; core/files.h's
// read_json reads a file through it.
#include <string>

#include <nlohmann/json.hpp>

namespace latentkit {

/// Parses JSON text from source (a path, "body"): a syntax error is an Error naming it, and
/// so is a float beyond +-2^31. nlohmann's get<int>() and get<int64_t>() cast a float, which
/// is undefined behaviour out of range (UBSan found it through the fuzzer), and no field of
/// ours needs such a number.
nlohmann::json parse_json(const std::string& text, const std::string& source);

/// The bound parse_json puts on floats (2^31). The CLI refuses option values at or beyond it,
/// so that every number a run folder stores reads back.
constexpr double kJsonNumberLimit = 2147483648.0;

/// Throws a bad-input Error naming source when j holds a float parse_json would refuse: a
/// writer checks with it that what it writes reads back.
void check_json_numbers(const nlohmann::json& j, const std::string& source);

}  // namespace latentkit
