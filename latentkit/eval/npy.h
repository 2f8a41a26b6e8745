#pragma once
// NumPy .npy files (format version 1.0), so features can be read by anyone's tools.
#include <string>

#include <torch/torch.h>

namespace latentkit {

/// Writes a float32, float64, int64 or uint8 tensor (C order, little-endian) atomically.
void write_npy(const std::string& path, const torch::Tensor& tensor);
/// Reads a .npy of those dtypes (little-endian, C order); anything else is a clear Error.
torch::Tensor read_npy(const std::string& path);

}  // namespace latentkit
