#pragma once
// Masks and degradations for image-to-image work (inpainting, uncropping, restoration),
// shared by the diffusion and pix2pix trainers and commands. Images are float [N, C, H, W]
// in [-1, 1]; masks are float [N, 1, H, W] with 1 = to be filled. Everything random draws
// from the rng it is given, so a seed fixes it.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace latentkit {

/// The centre square of side round(fraction x the shorter side), [1, 1, H, W].
torch::Tensor center_mask(int64_t height, int64_t width, double fraction = 0.5);
/// The outer `amount` (0..1) of the image on one side (left, right, top, bottom): what
/// uncropping extends the image into. [1, 1, H, W].
torch::Tensor side_mask(int64_t height, int64_t width, const std::string& side, double amount);
/// n masks of a kind: center, box (a random rectangle of 10% to 50% of the area), strokes
/// (2 to 5 thick random line segments), side (a random side, 20% to 50%), or mixed (each
/// mask one of box, strokes, side and center at random). [n, 1, H, W].
torch::Tensor random_masks(const std::string& kind, int64_t n, int64_t height, int64_t width, torch::Generator& rng);
/// The mask kinds random_masks knows, for help text and errors.
const std::vector<std::string>& mask_kinds();

/// Gaussian blur with standard deviation sigma (pixels), reflect padding.
torch::Tensor gaussian_blur(const torch::Tensor& images, double sigma);
/// JPEG's lossy part at a quality of 1..100 (IJG tables and scaling): 8x8 blocks (the image
/// padded by edge replication), DCT, quantisation, inverse; colour images in YCbCr with the
/// chrominance table on Cb and Cr (no subsampling).
torch::Tensor jpeg_artifacts(const torch::Tensor& images, int quality);
/// Adds Gaussian noise of standard deviation sigma (in [-1, 1] units) and clamps.
torch::Tensor add_noise(const torch::Tensor& images, double sigma, torch::Generator& rng);

/// Degrades each image: blur (sigma 0.6..1.6), noise (sigma 0.1..0.3), jpeg (quality 5..30)
/// or mixed (each image one of the three, at random). Unknown kinds are Errors.
torch::Tensor degrade(const torch::Tensor& images, const std::string& kind, torch::Generator& rng);
/// The degradation kinds degrade knows.
const std::vector<std::string>& degradation_kinds();

}  // namespace latentkit
