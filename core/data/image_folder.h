#pragma once
// Image-folder datasets, Keras's flow_from_directory: root/<class>/<image>, one folder per
// class, classes in sorted order. PNG, JPEG, BMP and GIF are decoded with stb_image
// (libstb-dev) and resized to target_size (bilinear, antialiased). A file that cannot be
// decoded is skipped, and the log says how many were and names the first. Hidden folders
// and files (.ipynb_checkpoints/, ._photo.png) are neither classes nor images
// (core/data/listing.h).

#include <string>
#include <vector>

#include "core/data/fashion_mnist.h"

namespace strata::data {

struct ImageFolderOptions {
  std::vector<int64_t> target_size = {256, 256};  // H, W (Keras's default)
  std::string color_mode = "rgb";                 // rgb | grayscale
  // The classes labels index, by name (a test split takes its training split's, so that a
  // test folder that lacks a class keeps the others' labels); empty: the folders under root.
  std::vector<std::string> classes;
};

// The class folders under `root`, sorted. A missing root or one without class folders is
// an InputError.
std::vector<std::string> image_folder_classes(const std::string& root);

// uint8 [N, C, H, W] images (C = 3 for rgb, 1 for grayscale), labels indexing o.classes (or
// image_folder_classes order when it is empty); files in each class in name order. A class
// folder not among o.classes is an InputError naming it. `skipped`, when given, receives the
// number of files that could not be decoded.
ImageSet load_image_folder(const std::string& root, const ImageFolderOptions& o = {},
                           int64_t* skipped = nullptr);

}  // namespace strata::data
