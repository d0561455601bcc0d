#pragma once
// Measurements a person would take of a small centred image, each with a name that
// stage 1's rules use (configs/rules/fashion.yaml) and stage 2's learners may take too.
//
// Pixels are read as intensity in [0, 1] (colour channels averaged); a pixel "has ink" when
// its intensity is above ink_threshold. Rows and columns are split into thirds of the image.
//
//   mass            mean intensity of the whole image
//   ink             share of pixels with ink
//   brightness      mean intensity of the pixels with ink
//   top bottom left right   bounding box of the ink, as fractions of height / width
//   height width    bounding box size, as fractions of the image's height / width
//   aspect          bounding box height / width, in pixels
//   fill            share of the bounding box with ink
//   mass_top mass_middle mass_bottom    share of the intensity in each third of the rows
//   mass_left mass_center mass_right    share of the intensity in each third of the columns
//   center_row center_col   centre of mass, as fractions of height / width
//   symmetry        left-right mirror symmetry: 1 - sum|x - mirror(x)| / (2 sum x)
//   symmetry_ud     the same for the up-down mirror
//   span_top span_middle span_bottom    mean width (first to last ink pixel) of the rows
//                   in each third, as a fraction of the image's width
//   holes           share of the rows' spans without ink (gaps between straps or legs)
//   holes_bottom    the same, bottom third only
//   gap_bottom      intensity of the two centre columns in the bottom third, relative to
//                   the bottom third's mean (near 0 between two trouser legs)

#include "models/classic/features.h"

namespace strata::classic {

struct ImageMeasurementOptions {
  double ink_threshold = 0.2;  // intensity in [0, 1] above which a pixel has ink
};

void read_options(config::Reader& r, ImageMeasurementOptions& o);

// uint8 [N, C, H, W] -> float [N, names.size()], in image_measurement_names() order.
torch::Tensor measure_images(const torch::Tensor& images, const ImageMeasurementOptions& o);
const std::vector<std::string>& image_measurement_names();

class ImageMeasurements : public FeatureExtractor {
 public:
  explicit ImageMeasurements(ImageMeasurementOptions o) : o_(o) {}
  std::string type() const override { return "image_measurements"; }
  torch::Tensor transform(const Examples& x) const override {
    return measure_images(images_of(x, type()), o_);
  }
  std::vector<std::string> names() const override { return image_measurement_names(); }

 private:
  ImageMeasurementOptions o_;
};

}  // namespace strata::classic
