#include "core/data/augment.h"

#include <cmath>

#include "core/errors.h"

namespace strata::data {

void read_options(config::Reader& r, AugmentOptions& o) {
  r.read("rescale", o.rescale);
  r.read("rotation_range", o.rotation_range, config::Range::between(0, 180));
  r.read("width_shift_range", o.width_shift_range, config::Range::between(0, 1));
  r.read("height_shift_range", o.height_shift_range, config::Range::between(0, 1));
  r.read("horizontal_flip", o.horizontal_flip);
  r.read_choice("fill_mode", o.fill_mode, {"nearest", "constant"});
}

bool moves_pixels(const AugmentOptions& o) {
  return o.rotation_range > 0 || o.width_shift_range > 0 || o.height_shift_range > 0 ||
         o.horizontal_flip;
}

torch::Tensor augment(const torch::Tensor& images, const AugmentOptions& o, at::Generator& gen) {
  if (images.dim() != 4 || !images.is_floating_point()) {
    throw std::invalid_argument("augment: expects float images [B, C, H, W]");
  }
  auto x = o.rescale == 1.0 ? images : images * o.rescale;
  if (!moves_pixels(o)) return x;
  const int64_t B = x.size(0);
  const double H = double(x.size(2)), W = double(x.size(3));
  auto uniform = [&](double range) {  // U(-range, range), [B], on the CPU
    return (torch::rand({B}, gen, torch::dtype(torch::kDouble)) * 2 - 1) * range;
  };
  auto angle = uniform(o.rotation_range) * (M_PI / 180.0);
  // affine_grid works in normalised coordinates ([-1, 1] across each side): a shift of
  // s * W pixels is 2 s there.
  auto tx = uniform(o.width_shift_range) * 2;
  auto ty = uniform(o.height_shift_range) * 2;
  auto flip = o.horizontal_flip
                  ? torch::where(torch::rand({B}, gen, torch::dtype(torch::kDouble)) < 0.5, -1.0, 1.0)
                  : torch::ones({B}, torch::kDouble);
  // Each output pixel samples the input at R * F * p + t, where F mirrors x and R turns by
  // the angle in pixel units (hence the H / W factors on the normalised axes).
  auto c = angle.cos(), s = angle.sin();
  auto theta = torch::stack({torch::stack({c * flip, -s * (H / W), tx}, 1),
                             torch::stack({s * (W / H) * flip, c, ty}, 1)},
                            1);  // [B, 2, 3]
  theta = theta.to(x.options());
  auto grid = torch::nn::functional::affine_grid(theta, x.sizes(), /*align_corners=*/false);
  namespace F = torch::nn::functional;
  auto sample = F::GridSampleFuncOptions().mode(torch::kBilinear).align_corners(false);
  if (o.fill_mode == "nearest") {
    sample.padding_mode(torch::kBorder);
  } else {
    sample.padding_mode(torch::kZeros);
  }
  return F::grid_sample(x, grid, sample);
}

}  // namespace strata::data
