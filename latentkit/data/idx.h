#pragma once
// IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed.
#include <string>

#include <torch/torch.h>

#include "latentkit/data/dataset.h"

namespace latentkit {

/// Reads an IDX file of unsigned bytes (type 0x08). Returns uint8 with the file's dims.
/// A `.gz` file is decompressed (zlib). Missing file, wrong magic, unsupported type,
/// truncated data or a corrupt gzip stream each throw Error naming the file.
torch::Tensor read_idx(const std::string& path);

/// Loads {split}-images-idx3-ubyte[.gz] and {split}-labels-idx1-ubyte[.gz] from dir, where
/// split "train" is "train" and "test" is "t10k". Images come back [N, 1, 28, 28]
/// ([N, 1, H, W] for other sizes). The counts in the two files must match. IDX files carry
/// no class names, so classes are named "0", "1", ... up to the largest label.
Dataset load_idx_dir(const std::string& dir, const std::string& split);

/// As above, with every error starting "source: " and ending with "; hint", so a caller
/// that knows where the files came from (an installed package) can say how to fix them.
Dataset load_idx_dir(const std::string& dir, const std::string& split,
                     const std::string& source, const std::string& hint);

}  // namespace latentkit
