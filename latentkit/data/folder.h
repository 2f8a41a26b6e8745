#pragma once
// A folder of images: the torchvision ImageFolder convention (one subfolder per class).
#include <string>

#include "latentkit/data/dataset.h"

namespace latentkit {

/// Reads every .png / .jpg / .jpeg under dir (sorted by path). Subfolders of dir are the
/// classes, in sorted order; images directly in dir get class 0 and no class names when
/// there are no subfolders. Each image is resized (shorter side) and centre-cropped to
/// size x size and converted to `channels` (1 or 3). An empty folder, a missing folder
/// or an unreadable image is an Error naming the path.
Dataset load_image_folder(const std::string& dir, int size, int channels);

}  // namespace latentkit
