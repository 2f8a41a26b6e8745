#pragma once
// The emoji set: the 64x64 RGBA images of emoji-datasource-google (Noto Emoji, Apache-2.0)
// and emoji-datasource-twitter (Twemoji, CC-BY 4.0), version 16.0.0, which scripts/setup
// installs from npm into node_modules/. docs/data.md has the labels, the split and the
// attribution the images need.
#include <string>
#include <vector>

#include "latentkit/data/dataset.h"

namespace latentkit {

/// emoji (both vendors), emoji:google or emoji:twitter.
bool is_emoji_spec(const std::string& spec);

/// The vendors a spec names, in label order; an unknown vendor is an Error listing the
/// valid ones.
std::vector<std::string> emoji_vendors(const std::string& spec);

/// The test split holds every base emoji (all its skin tones, both vendors) whose SHA-1 of
/// its short_name, read as one big-endian integer, is 0 mod 10.
bool emoji_in_test_split(const std::string& short_name);

/// The folder of an npm package with the file `marker` in it: under $LATENTKIT_EMOJI_DIR (a
/// node_modules folder) if set, else the first node_modules/ with it in the working folder,
/// the executable's folder, or a folder above either. A missing package is an Error naming
/// the places looked in and scripts/setup as the fix.
std::string npm_package_dir(const std::string& package, const std::string& marker);
/// npm_package_dir of emoji-datasource-<vendor> (marker emoji.json).
std::string emoji_package_dir(const std::string& vendor);

/// Loads options.split of the set, emoji by emoji in Unicode order, each base image then its
/// skin tones, each in every vendor asked for. Images uint8 [N, 4, S, S] premultiplied,
/// S = options.size: 64 (native, also 0), 32 or 16 (area averages). labels = category; the
/// labelings category (9), subcategory, vendor (google, twitter) and skin-tone (none, light,
/// medium-light, medium, medium-dark, dark; for two people, the first one's); texts hold each
/// emoji's name and short names. A missing or damaged package (no emoji.json, a truncated PNG,
/// a wrong image size) is an Error naming the file.
Dataset load_emoji(const DataOptions& options);

}  // namespace latentkit
