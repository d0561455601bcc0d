#pragma once
// The output projection and the cross-entropy loss in one chunked step, for language-model
// heads with a large vocabulary (GPT's tied lm_head, BERT's MLM decoder).
//
// loss = mean over rows with target != ignore_index of
//        cross_entropy(hidden @ weight^T + bias, target)
//
// Computed the usual way, logits [N, V] are materialised and then passed over five more
// times (log_softmax, nll, and their backwards, one of which fills a fresh [N, V] tensor
// with zeros); at N = 2048 and V = 4096 each pass is 32 MB of fresh memory. Here the rows
// go through in chunks of a few MB that stay in the last-level cache: each chunk's logits are computed,
// turned into the loss and, in the same visit, into their gradient (softmax - one_hot),
// which is multiplied back into d hidden and accumulated into d weight right away. The
// whole [N, V] tensor never exists. Same FLOPs as the unfused version. Gradients are
// computed only when grad mode is on and an input requires them.

#include <torch/torch.h>

namespace strata::models {

// hidden [N, C], weight [V, C], bias [V] or undefined, targets [N] int64 -> scalar loss
// (at least fp32). Under autocast the products run in the autocast dtype, the softmax and
// the loss in fp32, as torch.autocast runs a linear layer and cross_entropy.
// Differentiable in hidden, weight and bias (not twice).
torch::Tensor linear_cross_entropy(const torch::Tensor& hidden, const torch::Tensor& weight,
                                   const torch::Tensor& bias, const torch::Tensor& targets,
                                   int64_t ignore_index = -100);

}  // namespace strata::models
