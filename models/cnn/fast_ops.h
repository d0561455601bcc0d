#pragma once
// The CNN's CPU fast path: a first conv block as one fused kernel.
//
// conv -> max-pool -> ReLU on a small-channel input (the image itself) is the most
// memory-bound part of the stage-3 model: its conv output [B, 32, 26, 26] is the largest
// tensor of the network, and the plain path writes it, reads it to pool, writes a zeroed
// gradient of the same size and reads it twice more in backward. The fused kernel computes
// each pooling window's convolutions in registers and keeps only the pooled, rectified
// output and the argmax of each window (one byte per value). Its backward needs no input
// gradient (the input is data) and recomputes the weight gradient from the saved argmax.
//
// It computes the same function as relu(max_pool2d(conv2d(x, w, b), p)), with PyTorch's
// max-pool tie rule (the first maximum in the window wins) and NaN propagation; only the
// summation order differs (results agree to float rounding, tests/models/test_cnn.cpp).

#include <torch/torch.h>

namespace strata::models::fast {

// Whether conv_pool_relu can stand in for this block: CPU float32 tensors, an input that
// needs no gradient with at most 4 channels, a square kernel and a pool window of 2 to 15.
bool conv_pool_relu_applies(const torch::Tensor& x, const torch::Tensor& weight, int64_t pool);

// relu(max_pool2d(conv2d(x, weight, bias), pool)) for a stride-1 conv without padding
// (pad x first for "same"). x [B, C_in, H, W], weight [C_out, C_in, k, k], bias [C_out]
// or undefined -> [B, C_out, (H - k + 1) / pool, (W - k + 1) / pool], channels-last.
// Differentiable in weight and bias.
torch::Tensor conv_pool_relu(const torch::Tensor& x, const torch::Tensor& weight,
                             const torch::Tensor& bias, int64_t pool);

}  // namespace strata::models::fast
