#pragma once
// Histograms of oriented gradients (Dalal and Triggs), computed as scikit-image's
// skimage.feature.hog computes them, for a whole batch of images at once.
//
// Per image: centred gradients (zero on the border rows and columns); per pixel an
// unsigned orientation in [0, 180) and a magnitude; per cell of pixels_per_cell pixels a
// histogram of `orientations` bins (hard binning, magnitudes summed, divided by the cell's
// pixel count); per block of cells_per_block cells, sliding by one cell, the cells'
// histograms normalised together. Output order is scikit-image's
// [block row, block col, cell row, cell col, orientation], so features agree with
// hog(image, feature_vector=True) to float precision (tests/models/classic/test_hog.cpp).
// Colour images take, per pixel, the channel with the largest gradient, as scikit-image does.

#include <torch/torch.h>

#include <string>
#include <vector>

#include "models/classic/features.h"

namespace strata::classic {

struct HogOptions {
  int64_t orientations = 9;                       // bins over 0..180 degrees
  std::vector<int64_t> pixels_per_cell = {8, 8};  // rows, cols (scikit-image's defaults)
  std::vector<int64_t> cells_per_block = {3, 3};  // rows, cols
  std::string block_norm = "L2-Hys";              // L1 | L1-sqrt | L2 | L2-Hys
};

void read_options(config::Reader& r, HogOptions& o);

// The length of one image's descriptor for images of height h and width w.
int64_t hog_size(const HogOptions& o, int64_t h, int64_t w);

// images: uint8 [N, C, H, W] -> float [N, hog_size]. Chunks of images are spread over the
// intra-op threads; each chunk is a handful of whole-batch tensor operations.
torch::Tensor hog(const torch::Tensor& images, const HogOptions& o);

class HogFeatures : public FeatureExtractor {
 public:
  explicit HogFeatures(HogOptions o) : o_(std::move(o)) {}
  std::string type() const override { return "hog"; }
  void fit(const Examples& train) override;
  torch::Tensor transform(const Examples& x) const override;
  std::vector<std::string> names() const override;
  nlohmann::json state() const override;
  void load_state(const nlohmann::json& state) override;

 private:
  HogOptions o_;
  int64_t height_ = 0, width_ = 0;  // seen in fit(), for names()
};

}  // namespace strata::classic
