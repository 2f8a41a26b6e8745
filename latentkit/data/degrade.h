#pragma once
// Masks and degradations for image-to-image work (inpainting, uncropping, restoration),
// shared by the diffusion and pix2pix trainers and commands. Images are float [N, C, H, W]
// in [-1, 1]; masks are float [N, 1, H, W] with 1 = to be filled. Everything random draws
// from the rng it is given, so a seed fixes it.
#include <cstdint>
#include <functional>
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

/// RGBA images (premultiplied): fn applied to the color (as it shows on black), alpha kept and
/// the color clamped to it. Other images: fn(images).
torch::Tensor on_color(const torch::Tensor& images, const std::function<torch::Tensor(const torch::Tensor&)>& fn);
/// The luma (ITU-R 601) of RGB or RGBA images in each color channel; alpha kept.
torch::Tensor to_gray(const torch::Tensor& images);
/// Color images ([N, 3 or 4, H, W]) moved onto a gray image's luma and alpha (gray as to_gray
/// makes it): each pixel's R, G and B shift by one value (their luma weights sum to 1), so
/// to_gray(with_luma(x, g)) == g up to round-off; the chroma is x's. Not clamped.
torch::Tensor with_luma(const torch::Tensor& images, const torch::Tensor& gray);
/// Line art: black lines on white, opaque, in the images' channels ([N, C, H, W]). A pixel is a
/// line where the Sobel gradient (scaled so a step of 1 between flat areas reads 1) of any
/// color channel (premultiplied, as it shows on black) or of alpha reaches `threshold`: the
/// outlines of the color regions and of the silhouette, about 2 px wide.
torch::Tensor line_art(const torch::Tensor& images, double threshold = 0.2);
/// A drawing a person made (dark strokes on a light or transparent ground) as line_art draws
/// it: composited onto white, its luma below the middle is a line. Returns `channels` channels.
torch::Tensor sketch_line_art(const torch::Tensor& images, int64_t channels);
/// Gaussian blur with standard deviation sigma (pixels), reflect padding.
torch::Tensor gaussian_blur(const torch::Tensor& images, double sigma);
/// JPEG's lossy part at a quality of 1..100 (IJG tables and scaling): 8x8 blocks (the image
/// padded by edge replication), DCT, quantisation, inverse; colour images in YCbCr with the
/// chrominance table on Cb and Cr (no subsampling).
torch::Tensor jpeg_artifacts(const torch::Tensor& images, int quality);
/// Adds Gaussian noise of standard deviation sigma (in [-1, 1] units) and clamps.
torch::Tensor add_noise(const torch::Tensor& images, double sigma, torch::Generator& rng);

/// Shrinks by `factor` (area average) and scales back up with nearest neighbours: the look
/// of a small image shown large, which super-resolution undoes. Sizes need not divide.
torch::Tensor pixelate(const torch::Tensor& images, int64_t factor);
/// Exposure and tone in [0, 1] units: u -> clamp(u * 2^ev, 0, 1)^gamma.
torch::Tensor adjust_exposure(const torch::Tensor& images, double ev, double gamma);
/// Contrast around each image's mean: u -> mean + c (u - mean), clamped.
torch::Tensor adjust_contrast(const torch::Tensor& images, double c);
/// Darkens the corners: u -> u (1 - strength r^2), r = 1 at the corners.
torch::Tensor vignette(const torch::Tensor& images, double strength);

/// Degrades each image, its parameters drawn from rng:
///   blur      Gaussian, sigma 0.6..1.6
///   noise     Gaussian, sigma 0.1..0.3
///   jpeg      quality 5..30
///   lowres    pixelate by 2, 3 or 4
///   exposure  ev -1.5..-0.4 or 0.4..1.2 (under or over), gamma e^(-0.3..0.3)
///   retouch   a mix to undo, each part with probability 0.6 (at least one): exposure
///             (ev -0.8..0.8), contrast (e^(-0.6..0.6)), colour cast (RGB: gains
///             e^(-0.25..0.25) per channel) and vignetting (0.2..0.6)
///   gray      the luma in every color channel (what colorize undoes; color data only)
///   lineart   line_art (what the lineart task draws from)
///   mixed     each image one of blur, noise and jpeg, at random
/// RGBA images (premultiplied): blur and lowres filter all four channels; the others change
/// the color and keep alpha. Unknown kinds are Errors.
torch::Tensor degrade(const torch::Tensor& images, const std::string& kind, torch::Generator& rng);
/// The degradation kinds degrade knows.
const std::vector<std::string>& degradation_kinds();

/// The enhancement tasks of pix2pix that apply to any image (`--task all`), each named for the
/// degradation it undoes: deblur (blur), denoise (noise), dejpeg (jpeg), superres (lowres),
/// exposure and retouch. colorize (gray, Palette's fourth task) and lineart (line art to the
/// image) are named on their own: colorize needs color data, lineart draws what is not there.
const std::vector<std::string>& enhance_tasks();
/// The degradation kind a task undoes; an unknown task is an Error listing the tasks.
std::string task_degradation(const std::string& task);
/// Degrades each image for one of `tasks`, chosen at random per image.
torch::Tensor degrade_for_tasks(const torch::Tensor& images, const std::vector<std::string>& tasks,
                                torch::Generator& rng);

}  // namespace latentkit
