#include "models/cnn/fast_ops.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <vector>

// The loops below are written so that the compiler vectorises the innermost one, over
// output channels. The build targets baseline x86-64 (SSE2); on x86-64 with GCC each loop
// function is also compiled for AVX2+FMA and AVX-512, and the loader picks the best one
// the CPU supports.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define STRATA_VECTOR_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define STRATA_VECTOR_CLONES
#endif

namespace strata::models::fast {
namespace {

// Sizes of one conv_pool_relu call. Input and output are channels-last, so a pixel's
// channels are contiguous: x[b][h][w][ci], y[b][ph][pw][co], arg like y.
struct Geometry {
  int64_t B, C_in, H, W;  // input
  int64_t C_out, k;       // kernel
  int64_t p;              // pool window and stride
  int64_t PH, PW;         // pooled output
  int64_t taps() const { return k * k * C_in; }
};

Geometry geometry(const torch::Tensor& x, const torch::Tensor& weight, int64_t pool) {
  Geometry g;
  g.B = x.size(0), g.C_in = x.size(1), g.H = x.size(2), g.W = x.size(3);
  g.C_out = weight.size(0), g.k = weight.size(2), g.p = pool;
  g.PH = (g.H - g.k + 1) / pool;
  g.PW = (g.W - g.k + 1) / pool;
  return g;
}

// Forward for pooled rows [r0, r1), r = b * PH + ph. w is [k, k, C_in, C_out].
STRATA_VECTOR_CLONES
void forward_rows(const Geometry& g, const float* x, const float* w, const float* bias,
                  float* y, uint8_t* arg, int64_t r0, int64_t r1) {
  const int64_t C = g.C_out;
  std::vector<float> acc(C), best(C);
  std::vector<int32_t> best_at(C);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t b = r / g.PH, ph = r % g.PH;
    for (int64_t pw = 0; pw < g.PW; ++pw) {
      for (int64_t d = 0; d < g.p * g.p; ++d) {  // window position, row-major
        const int64_t oh = ph * g.p + d / g.p, ow = pw * g.p + d % g.p;
        for (int64_t c = 0; c < C; ++c) acc[c] = bias ? bias[c] : 0.0f;
        for (int64_t ky = 0; ky < g.k; ++ky) {
          const float* x_row = x + ((b * g.H + oh + ky) * g.W + ow) * g.C_in;
          const float* w_row = w + ky * g.k * g.C_in * C;
          for (int64_t t = 0; t < g.k * g.C_in; ++t) {  // (kx, ci) along the row
            const float v = x_row[t];
            const float* w_t = w_row + t * C;
            for (int64_t c = 0; c < C; ++c) acc[c] += v * w_t[c];
          }
        }
        if (d == 0) {
          for (int64_t c = 0; c < C; ++c) best[c] = acc[c], best_at[c] = 0;
        } else {
          // PyTorch's rule: a later value wins only if strictly greater, or NaN.
          for (int64_t c = 0; c < C; ++c) {
            const bool take = acc[c] > best[c] || std::isnan(acc[c]);
            best[c] = take ? acc[c] : best[c];
            best_at[c] = take ? int32_t(d) : best_at[c];
          }
        }
      }
      const int64_t o = ((b * g.PH + ph) * g.PW + pw) * C;
      for (int64_t c = 0; c < C; ++c) {
        const float v = best[c];
        y[o + c] = (v > 0.0f || std::isnan(v)) ? v : 0.0f;  // ReLU, NaN kept
        arg[o + c] = uint8_t(best_at[c]);
      }
    }
  }
}

// Weight and bias gradients of pooled rows [r0, r1), accumulated into dw [k, k, C_in,
// C_out] and db [C_out]. The conv output's gradient is grad_y at each window's argmax
// where the ReLU passed (y > 0), and zero elsewhere.
STRATA_VECTOR_CLONES
void backward_rows(const Geometry& g, const float* x, const float* y, const uint8_t* arg,
                   const float* grad_y, float* dw, float* db, int64_t r0, int64_t r1) {
  const int64_t C = g.C_out;
  std::vector<float> gy(C), gd(C);
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t b = r / g.PH, ph = r % g.PH;
    for (int64_t pw = 0; pw < g.PW; ++pw) {
      const int64_t o = ((b * g.PH + ph) * g.PW + pw) * C;
      for (int64_t c = 0; c < C; ++c) {
        gy[c] = y[o + c] > 0.0f ? grad_y[o + c] : 0.0f;
        db[c] += gy[c];
      }
      for (int64_t d = 0; d < g.p * g.p; ++d) {
        const int64_t oh = ph * g.p + d / g.p, ow = pw * g.p + d % g.p;
        for (int64_t c = 0; c < C; ++c) gd[c] = arg[o + c] == d ? gy[c] : 0.0f;
        for (int64_t ky = 0; ky < g.k; ++ky) {
          const float* x_row = x + ((b * g.H + oh + ky) * g.W + ow) * g.C_in;
          float* dw_row = dw + ky * g.k * g.C_in * C;
          for (int64_t t = 0; t < g.k * g.C_in; ++t) {
            const float v = x_row[t];
            float* dw_t = dw_row + t * C;
            for (int64_t c = 0; c < C; ++c) dw_t[c] += v * gd[c];
          }
        }
      }
    }
  }
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct ConvPoolReLU : public torch::autograd::Function<ConvPoolReLU> {
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor x, torch::Tensor weight,
                               torch::Tensor bias, int64_t pool) {
    const Geometry g = geometry(x, weight, pool);
    x = x.contiguous(at::MemoryFormat::ChannelsLast);             // [B, H, W, C_in] in memory
    auto w = weight.permute({2, 3, 1, 0}).contiguous();          // [k, k, C_in, C_out]
    auto b = bias.defined() ? bias.contiguous() : torch::Tensor();
    auto out_options = x.options().memory_format(at::MemoryFormat::ChannelsLast);
    auto y = torch::empty({g.B, g.C_out, g.PH, g.PW}, out_options);  // [B, PH, PW, C_out] in memory
    auto arg = torch::empty({g.B, g.PH, g.PW, g.C_out}, x.options().dtype(torch::kUInt8));

    const float* x_p = x.data_ptr<float>();
    const float* w_p = w.data_ptr<float>();
    const float* b_p = b.defined() ? b.data_ptr<float>() : nullptr;
    float* y_p = y.data_ptr<float>();
    uint8_t* arg_p = arg.data_ptr<uint8_t>();
    at::parallel_for(0, g.B * g.PH, 1, [&](int64_t r0, int64_t r1) {
      forward_rows(g, x_p, w_p, b_p, y_p, arg_p, r0, r1);
    });

    ctx->save_for_backward({x, y, arg});
    ctx->saved_data["k"] = g.k;
    ctx->saved_data["pool"] = pool;
    ctx->saved_data["has_bias"] = bias.defined();
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const bool want_w = ctx->needs_input_grad(1);
    const bool want_b = ctx->saved_data["has_bias"].toBool() && ctx->needs_input_grad(2);
    if (!want_w && !want_b) return {torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};

    auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];    // channels-last input
    const torch::Tensor& y = saved[1];    // pooled, rectified output
    const torch::Tensor& arg = saved[2];  // argmax in each window
    const int64_t k = ctx->saved_data["k"].toInt();
    Geometry g;
    g.B = x.size(0), g.C_in = x.size(1), g.H = x.size(2), g.W = x.size(3);
    g.C_out = y.size(1), g.k = k, g.p = ctx->saved_data["pool"].toInt();
    g.PH = y.size(2), g.PW = y.size(3);
    auto grad_y = grad_outputs[0].contiguous(at::MemoryFormat::ChannelsLast);

    // One partial sum per chunk of rows, added in chunk order: the result does not
    // depend on which thread ran which chunk.
    const int64_t rows = g.B * g.PH;
    const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), rows));
    const int64_t per_chunk = (rows + chunks - 1) / chunks;
    const int64_t stride = g.taps() * g.C_out + g.C_out;  // dw then db
    auto partial = torch::zeros({chunks, stride}, y.options().memory_format(at::MemoryFormat::Contiguous));

    const float* x_p = x.data_ptr<float>();
    const float* y_p = y.data_ptr<float>();
    const uint8_t* arg_p = arg.data_ptr<uint8_t>();
    const float* gy_p = grad_y.data_ptr<float>();
    float* part_p = partial.data_ptr<float>();
    at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        float* dw = part_p + c * stride;
        const int64_t r0 = c * per_chunk, r1 = std::min(rows, r0 + per_chunk);
        backward_rows(g, x_p, y_p, arg_p, gy_p, dw, dw + g.taps() * g.C_out, r0, r1);
      }
    });

    auto total = partial.sum(0);  // [stride]
    torch::Tensor grad_w, grad_b;
    if (want_w) {
      grad_w = total.narrow(0, 0, g.taps() * g.C_out)
                   .view({g.k, g.k, g.C_in, g.C_out})
                   .permute({3, 2, 0, 1})  // [C_out, C_in, k, k]
                   .contiguous();
    }
    if (want_b) grad_b = total.narrow(0, g.taps() * g.C_out, g.C_out).clone();
    return {torch::Tensor(), grad_w, grad_b, torch::Tensor()};
  }
};

}  // namespace

bool conv_pool_relu_applies(const torch::Tensor& x, const torch::Tensor& weight, int64_t pool) {
  return x.device().is_cpu() && x.scalar_type() == torch::kFloat && x.dim() == 4 &&
         !x.requires_grad() && weight.device().is_cpu() &&
         weight.scalar_type() == torch::kFloat && x.size(1) <= 4 &&
         weight.size(2) == weight.size(3) && pool >= 2 && pool <= 15 &&
         x.size(2) - weight.size(2) + 1 >= pool && x.size(3) - weight.size(3) + 1 >= pool;
}

torch::Tensor conv_pool_relu(const torch::Tensor& x, const torch::Tensor& weight,
                             const torch::Tensor& bias, int64_t pool) {
  TORCH_CHECK(conv_pool_relu_applies(x, weight, pool),
              "conv_pool_relu: unsupported input (see conv_pool_relu_applies)");
  TORCH_CHECK(x.size(1) == weight.size(1), "conv_pool_relu: input has ", x.size(1),
              " channels, weight expects ", weight.size(1));
  return ConvPoolReLU::apply(x, weight, bias, pool);
}

}  // namespace strata::models::fast
