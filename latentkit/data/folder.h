#pragma once
// A folder of images: the torchvision ImageFolder convention (one subfolder per class), and
// paired images for image-to-image training (pix2pix).
#include <string>
#include <vector>

#include "latentkit/data/dataset.h"

namespace latentkit {

/// The .png / .jpg / .jpeg files under dir, recursively, sorted by path; dot-named files and
/// folders are skipped. A folder that cannot be listed is an Error naming source.
std::vector<std::string> images_under(const std::string& dir, const std::string& source);

/// Reads every .png / .jpg / .jpeg under dir (sorted by path). Subfolders of dir are the
/// classes, in sorted order; images directly in dir get class 0 and no class names when
/// there are no subfolders. Each image is resized (shorter side) and centre-cropped to
/// size x size: RGBA (premultiplied) when any file has alpha, else RGB. An empty folder, a
/// missing folder or an unreadable image is an Error naming the path.
Dataset load_image_folder(const std::string& dir, int size);

/// Input images a and targets b, uint8 [N, C, size, size] each, pair i in row i; names[i]
/// is pair i's file (relative to its folder).
struct ImagePairs {
  torch::Tensor a, b;
  std::vector<std::string> names;
};

/// Pairs from the --data spec of image-to-image training:
///   folder:A_DIR,B_DIR   aligned folders: A_DIR/x.png is the input for B_DIR/x.png (files
///                        matched by relative path without the extension, so x.jpg pairs
///                        with x.png); a file without a partner is an Error that names it
///   pairs:DIR            side by side (the pix2pix convention): each image is A | B, split
///                        at half its width
/// Each image is resized and centre-cropped to options.size (required) and converted to
/// options.channels (0: 3). options.limit keeps the first pairs.
ImagePairs load_image_pairs(const DataOptions& options);
/// True for the specs load_image_pairs reads.
bool is_pairs_spec(const std::string& spec);

}  // namespace latentkit
