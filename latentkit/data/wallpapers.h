#pragma once
// Wallpapers: random crops at a few scales from large images, for the spatial generators
// (models/psgan.h) that make a wallpaper of any size from a crop-trained network.
//   wallpapers        Debian's openly licensed wallpaper packages (plasma-workspace-wallpapers,
//                     GPL-2+; mate-backgrounds), a fixed list of files with a fixed split
//                     (docs/data.md lists each file, its license and its split)
//   wallpapers:DIR    any folder of large PNG / JPEG images; every 8th file (sorted by path)
//                     is the test split
// Each image is scaled so its shorter side is crop x 3, crop x 4 and crop x 6 (three
// scales), and `crops_per_scale` crops of crop x crop are drawn from each scale at
// positions fixed by (seed, file, scale): the same data on every machine and run.
#include <cstdint>
#include <string>
#include <vector>

#include "latentkit/data/dataset.h"

namespace latentkit {

/// One wallpaper of the built-in set.
struct WallpaperFile {
  std::string package;  // the Debian package that installs it
  std::string path;     // absolute path once installed
  std::string title;    // e.g. "Altai" or "Altai (dark)"
  bool test;            // in the test split
};

/// The built-in set, in order; paths are under $LATENTKIT_WALLPAPERS_ROOT (default "/").
std::vector<WallpaperFile> builtin_wallpapers();

/// wallpapers or wallpapers:DIR.
bool is_wallpapers_spec(const std::string& spec);

/// The scales, as multiples of the crop size: the shorter side of the scaled image.
const std::vector<int>& wallpaper_scales();

/// Loads options.split as RGB crops of options.size (0: 64) pixels: uint8 [N, 3, S, S],
/// labels = the source file's index in the split (class_names: the files' titles).
/// A missing package or file is an Error naming it and the fix (scripts/setup).
Dataset load_wallpapers(const DataOptions& options, int64_t crops_per_scale = 48);

}  // namespace latentkit
