#include "models/classic/image_measurements.h"

namespace strata::classic {

namespace {

constexpr float kTiny = 1e-6f;

// [N, H, W] bool -> index of the first true element along `dim`, or 0 when there is none.
torch::Tensor first_true(const torch::Tensor& mask, int64_t dim) {
  return mask.to(torch::kByte).argmax(dim);
}
torch::Tensor last_true(const torch::Tensor& mask, int64_t dim) {
  return mask.size(dim) - 1 - first_true(mask.flip(dim), dim);
}

// Sum of x over rows [lo, hi) (dim 1) or columns (dim 2) -> [N].
torch::Tensor band_sum(const torch::Tensor& x, int64_t dim, int64_t lo, int64_t hi) {
  return x.slice(dim, lo, hi).sum({1, 2});
}

}  // namespace

void read_options(config::Reader& r, ImageMeasurementOptions& o) {
  r.read("ink_threshold", o.ink_threshold, config::Range::between(0, 1));
}

const std::vector<std::string>& image_measurement_names() {
  static const std::vector<std::string> names = {
      "mass",        "ink",         "brightness", "top",          "bottom",
      "left",        "right",       "height",     "width",        "aspect",
      "fill",        "mass_top",    "mass_middle", "mass_bottom", "mass_left",
      "mass_center", "mass_right",  "center_row", "center_col",   "symmetry",
      "symmetry_ud", "span_top",    "span_middle", "span_bottom", "holes",
      "holes_bottom", "gap_bottom"};
  return names;
}

torch::Tensor measure_images(const torch::Tensor& images, const ImageMeasurementOptions& o) {
  const int64_t H = images.size(2), W = images.size(3);
  const int64_t r1 = H / 3, r2 = 2 * H / 3, c1 = W / 3, c2 = 2 * W / 3;
  auto x = images.to(torch::kFloat).div_(255.0f).mean(1);  // [N, H, W]
  auto ink = x > float(o.ink_threshold);                    // [N, H, W]
  auto inkf = ink.to(torch::kFloat);
  auto total = x.sum({1, 2}) + kTiny;                       // [N]
  auto ink_count = inkf.sum({1, 2});

  // Bounding box of the ink, in pixels (an empty image gives the whole frame's first pixel).
  auto rows_with_ink = ink.any(2), cols_with_ink = ink.any(1);  // [N, H], [N, W]
  auto top = first_true(rows_with_ink, 1).to(torch::kFloat);
  auto bottom = last_true(rows_with_ink, 1).to(torch::kFloat);
  auto left = first_true(cols_with_ink, 1).to(torch::kFloat);
  auto right = last_true(cols_with_ink, 1).to(torch::kFloat);
  auto box_h = (bottom - top + 1).clamp_min(1), box_w = (right - left + 1).clamp_min(1);

  // Each row's span: from its first to its last ink pixel (0 for a row without ink).
  auto row_has = ink.any(2).to(torch::kFloat);                               // [N, H]
  auto span = (last_true(ink, 2) - first_true(ink, 2) + 1).to(torch::kFloat) * row_has;
  auto row_ink = inkf.sum(2);                                                // [N, H]
  auto gaps = span - row_ink;  // background pixels between a row's first and last ink

  auto rows = torch::arange(H, torch::kFloat), cols = torch::arange(W, torch::kFloat);
  auto bottom_third = x.slice(1, r2, H);
  auto centre = bottom_third.slice(2, W / 2 - 1, W / 2 + 1).mean({1, 2});

  std::vector<torch::Tensor> columns = {
      x.mean({1, 2}),                                            // mass
      inkf.mean({1, 2}),                                         // ink
      (x * inkf).sum({1, 2}) / (ink_count + kTiny),              // brightness
      top / H,                                                   // top
      (bottom + 1) / H,                                          // bottom
      left / W,                                                  // left
      (right + 1) / W,                                           // right
      box_h / H,                                                 // height
      box_w / W,                                                 // width
      box_h / box_w,                                             // aspect
      ink_count / (box_h * box_w),                               // fill
      band_sum(x, 1, 0, r1) / total,                             // mass_top
      band_sum(x, 1, r1, r2) / total,                            // mass_middle
      band_sum(x, 1, r2, H) / total,                             // mass_bottom
      band_sum(x, 2, 0, c1) / total,                             // mass_left
      band_sum(x, 2, c1, c2) / total,                            // mass_center
      band_sum(x, 2, c2, W) / total,                             // mass_right
      (x.sum(2) * rows).sum(1) / total / H,                      // center_row
      (x.sum(1) * cols).sum(1) / total / W,                      // center_col
      1 - (x - x.flip(2)).abs().sum({1, 2}) / (2 * total),       // symmetry
      1 - (x - x.flip(1)).abs().sum({1, 2}) / (2 * total),       // symmetry_ud
      span.slice(1, 0, r1).mean(1) / W,                          // span_top
      span.slice(1, r1, r2).mean(1) / W,                         // span_middle
      span.slice(1, r2, H).mean(1) / W,                          // span_bottom
      gaps.sum(1) / (span.sum(1) + kTiny),                       // holes
      gaps.slice(1, r2, H).sum(1) / (span.slice(1, r2, H).sum(1) + kTiny),  // holes_bottom
      centre / (bottom_third.mean({1, 2}) + kTiny),              // gap_bottom
  };
  return torch::stack(columns, 1);
}

}  // namespace strata::classic
