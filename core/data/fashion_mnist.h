#pragma once
// Fashion-MNIST from the Debian package's IDX files (dataset-fashion-mnist).
//
// 60,000 training and 10,000 test images, 28x28 grey, 10 classes. Images stay uint8 in
// memory (47 MB for the training set); batches are converted to float on the way out.

#include <torch/torch.h>

#include <string>
#include <vector>

namespace strata::data {

constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

struct ImageSet {
  torch::Tensor images;  // uint8 [N, C, H, W]
  torch::Tensor labels;  // int64 [N]
  std::vector<std::string> classes;
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

const std::vector<std::string>& fashion_mnist_classes();

// `split` is "train" or "test". Missing files are an InputError naming the package.
ImageSet load_fashion_mnist(const std::string& split, const std::string& dir = kFashionMnistDir);

// The examples at `index` (int64 [M]), in that order.
ImageSet select(const ImageSet& set, const torch::Tensor& index);

// Up to `per_class` examples of each class, drawn with a seeded permutation and kept in
// their original order; per_class <= 0 keeps everything. Nested for growing sizes: the
// subset for 100 per class is contained in the one for 500.
ImageSet stratified_subset(const ImageSet& set, int64_t per_class, uint64_t seed);

// Keeps only the listed classes (by name), relabelled 0..K-1 in the listed order.
ImageSet only_classes(const ImageSet& set, const std::vector<std::string>& names);

// uint8 images -> float in [0, 1].
torch::Tensor to_float(const torch::Tensor& images);

}  // namespace strata::data
