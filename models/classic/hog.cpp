#include "models/classic/hog.h"

#include <fmt/format.h>

#include <cmath>

#include "core/errors.h"
#include "models/classic/threads.h"

namespace strata::classic {

namespace {

constexpr int64_t kGrad = 255;            // uint8 gradients lie in [-255, 255]
constexpr int64_t kSide = 2 * kGrad + 1;  // one side of the lookup table

// Python's a % b for floats (numpy.remainder): the result takes the divisor's sign.
double py_mod(double a, double b) {
  double mod = std::fmod(a, b);
  if (mod != 0.0) {
    if ((b < 0) != (mod < 0)) mod += b;
  } else {
    mod = std::copysign(0.0, b);
  }
  return mod;
}

// Gradients of uint8 images are integers in [-255, 255], so each pixel's magnitude and
// orientation bin come from a 511 x 511 table built once, with the very operations
// scikit-image uses (hypot, arctan2 in degrees modulo 180, float bin edges). That keeps
// the binning identical to scikit-image's and takes all trigonometry out of the batch.
struct GradientTable {
  torch::Tensor magnitude;  // float [511 * 511]
  torch::Tensor bin;        // int64 [511 * 511]; a pixel in no bin has magnitude 0
};

GradientTable gradient_table(int64_t orientations) {
  auto magnitude = torch::empty({kSide * kSide}, torch::kFloat);
  auto bin = torch::empty({kSide * kSide}, torch::kLong);
  auto* m = magnitude.data_ptr<float>();
  auto* b = bin.data_ptr<int64_t>();
  // scikit-image's Cython keeps the bin width and edges in C floats.
  const float per_bin = static_cast<float>(180.0 / double(orientations));
  std::vector<double> edges(orientations + 1);
  for (int64_t i = 0; i <= orientations; ++i) edges[i] = per_bin * static_cast<float>(i);
  for (int64_t gr = -kGrad; gr <= kGrad; ++gr) {
    for (int64_t gc = -kGrad; gc <= kGrad; ++gc) {
      const int64_t k = (gr + kGrad) * kSide + (gc + kGrad);
      double angle = py_mod(std::atan2(double(gr), double(gc)) * (180.0 / M_PI), 180.0);
      int64_t found = -1;
      for (int64_t i = 0; i < orientations; ++i) {
        if (angle >= edges[i] && angle < edges[i + 1]) {
          found = i;
          break;
        }
      }
      m[k] = found < 0 ? 0.0f : static_cast<float>(std::hypot(double(gr), double(gc)));
      b[k] = found < 0 ? 0 : found;
    }
  }
  return {magnitude, bin};
}

struct Geometry {
  int64_t cell_rows, cell_cols, cells_r, cells_c, block_rows, block_cols, blocks_r, blocks_c;
};

Geometry geometry(const HogOptions& o, int64_t h, int64_t w) {
  Geometry g{o.pixels_per_cell[0], o.pixels_per_cell[1], 0, 0,
             o.cells_per_block[0], o.cells_per_block[1], 0, 0};
  g.cells_r = h / g.cell_rows;
  g.cells_c = w / g.cell_cols;
  g.blocks_r = g.cells_r - g.block_rows + 1;
  g.blocks_c = g.cells_c - g.block_cols + 1;
  if (g.blocks_r < 1 || g.blocks_c < 1) {
    throw InputError(fmt::format(
        "hog: a {}x{} image holds {}x{} cells of {}x{} pixels, fewer than one block of {}x{} "
        "cells",
        h, w, g.cells_r, g.cells_c, g.cell_rows, g.cell_cols, g.block_rows, g.block_cols));
  }
  return g;
}

// [B, blocks, cells_per_block * orientations] -> normalised, as scikit-image's
// _hog_normalize_block (eps = 1e-5).
torch::Tensor normalize_blocks(const torch::Tensor& blocks, const std::string& method) {
  constexpr float eps = 1e-5f;
  if (method == "L1") return blocks / (blocks.abs().sum(-1, true) + eps);
  if (method == "L1-sqrt") return (blocks / (blocks.abs().sum(-1, true) + eps)).sqrt();
  auto l2 = [&](const torch::Tensor& v) {
    return v / (v.square().sum(-1, true) + eps * eps).sqrt();
  };
  if (method == "L2") return l2(blocks);
  return l2(l2(blocks).clamp_max(0.2f));  // L2-Hys: L2, clip at 0.2, L2 again
}

// One chunk of images: uint8 [B, C, H, W] -> float [B, hog_size].
torch::Tensor hog_chunk(const torch::Tensor& images, const HogOptions& o, const Geometry& g,
                        const GradientTable& table, const torch::Tensor& cell_of_pixel) {
  const int64_t B = images.size(0), H = images.size(2), W = images.size(3);
  auto x = images.to(torch::kInt32);
  // Centred differences; the first and last row (column) have no gradient.
  auto g_row = torch::zeros_like(x);
  auto g_col = torch::zeros_like(x);
  g_row.slice(2, 1, H - 1).copy_(x.slice(2, 2, H) - x.slice(2, 0, H - 2));
  g_col.slice(3, 1, W - 1).copy_(x.slice(3, 2, W) - x.slice(3, 0, W - 2));
  if (x.size(1) > 1) {  // per pixel, the channel with the strongest gradient
    auto strongest = (g_row * g_row + g_col * g_col).argmax(1, /*keepdim=*/true);
    g_row = g_row.gather(1, strongest);
    g_col = g_col.gather(1, strongest);
  }
  // Only whole cells count: crop to cells_r * cell_rows by cells_c * cell_cols.
  const int64_t h = g.cells_r * g.cell_rows, w = g.cells_c * g.cell_cols;
  auto key = ((g_row.select(1, 0).slice(1, 0, h).slice(2, 0, w) + kGrad) * kSide +
              (g_col.select(1, 0).slice(1, 0, h).slice(2, 0, w) + kGrad))
                 .to(torch::kLong)
                 .reshape({B, h * w});                                      // [B, h*w]
  auto magnitude = table.magnitude.index_select(0, key.view(-1)).view({B, h * w});
  auto bin = table.bin.index_select(0, key.view(-1)).view({B, h * w});
  auto slot = cell_of_pixel.unsqueeze(0) * o.orientations + bin;          // [B, h*w]
  auto hist = torch::zeros({B, g.cells_r * g.cells_c * o.orientations}, torch::kFloat);
  hist.scatter_add_(1, slot, magnitude);
  hist.div_(float(g.cell_rows * g.cell_cols));
  // Blocks of cells sliding by one cell, in scikit-image's order.
  auto blocks = hist.view({B, g.cells_r, g.cells_c, o.orientations})
                    .unfold(1, g.block_rows, 1)
                    .unfold(2, g.block_cols, 1)  // [B, blocks_r, blocks_c, O, br, bc]
                    .permute({0, 1, 2, 4, 5, 3})  // [B, blocks_r, blocks_c, br, bc, O]
                    .reshape({B, g.blocks_r * g.blocks_c,
                              g.block_rows * g.block_cols * o.orientations});
  return normalize_blocks(blocks, o.block_norm)
      .reshape({B, g.blocks_r * g.blocks_c * g.block_rows * g.block_cols * o.orientations});
}

}  // namespace

void read_options(config::Reader& r, HogOptions& o) {
  r.read("orientations", o.orientations, config::Range::between(1, 180));
  r.read("pixels_per_cell", o.pixels_per_cell);
  r.read("cells_per_block", o.cells_per_block);
  r.read_choice("block_norm", o.block_norm, {"L1", "L1-sqrt", "L2", "L2-Hys"});
  auto pair = [&](const char* key, std::vector<int64_t>& v) {
    if (v.size() == 1) v.push_back(v.front());  // one number: square
    if (v.size() != 2 || v[0] < 1 || v[1] < 1) r.fail(key, "must be one positive integer or [rows, cols]");
  };
  pair("pixels_per_cell", o.pixels_per_cell);
  pair("cells_per_block", o.cells_per_block);
}

int64_t hog_size(const HogOptions& o, int64_t h, int64_t w) {
  auto g = geometry(o, h, w);
  return g.blocks_r * g.blocks_c * g.block_rows * g.block_cols * o.orientations;
}

torch::Tensor hog(const torch::Tensor& images, const HogOptions& o) {
  if (images.dim() != 4 || images.scalar_type() != torch::kUInt8) {
    throw InputError("hog: expects uint8 images [N, C, H, W]");
  }
  const int64_t N = images.size(0), H = images.size(2), W = images.size(3);
  const auto g = geometry(o, H, W);
  const auto table = gradient_table(o.orientations);
  // Which cell each pixel of the cropped image falls in.
  auto rows = torch::arange(g.cells_r * g.cell_rows).div(g.cell_rows, "floor");
  auto cols = torch::arange(g.cells_c * g.cell_cols).div(g.cell_cols, "floor");
  auto cell_of_pixel = (rows.unsqueeze(1) * g.cells_c + cols.unsqueeze(0)).reshape({-1});

  auto out = torch::empty({N, hog_size(o, H, W)}, torch::kFloat);
  if (N == 0) return out;
  auto input = images.contiguous();
  // Chunks of images, dealt round-robin to the workers (models/classic/threads.h).
  constexpr int64_t kChunk = 512;
  const int64_t chunks = (N + kChunk - 1) / kChunk;
  const int workers = int(std::min<int64_t>(at::get_num_threads(), chunks));
  run_workers(workers, [&](int w) {
    for (int64_t c = w; c < chunks; c += workers) {
      const int64_t lo = c * kChunk, hi = std::min(N, lo + kChunk);
      out.slice(0, lo, hi).copy_(hog_chunk(input.slice(0, lo, hi), o, g, table, cell_of_pixel));
    }
  });
  return out;
}

void HogFeatures::fit(const Examples& train) {
  const auto& images = images_of(train, "hog");
  height_ = images.size(2);
  width_ = images.size(3);
}

torch::Tensor HogFeatures::transform(const Examples& x) const { return hog(images_of(x, "hog"), o_); }

std::vector<std::string> HogFeatures::names() const {
  std::vector<std::string> out;
  if (height_ == 0) return out;
  auto g = geometry(o_, height_, width_);
  for (int64_t br = 0; br < g.blocks_r; ++br)
    for (int64_t bc = 0; bc < g.blocks_c; ++bc)
      for (int64_t cr = 0; cr < g.block_rows; ++cr)
        for (int64_t cc = 0; cc < g.block_cols; ++cc)
          for (int64_t k = 0; k < o_.orientations; ++k)
            out.push_back(fmt::format("hog_b{}_{}_c{}_{}_o{}", br, bc, cr, cc, k));
  return out;
}

nlohmann::json HogFeatures::state() const { return {{"height", height_}, {"width", width_}}; }

void HogFeatures::load_state(const nlohmann::json& state) {
  height_ = state.value("height", int64_t(0));
  width_ = state.value("width", int64_t(0));
}

}  // namespace strata::classic
