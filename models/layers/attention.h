#pragma once
// Scaled dot-product attention shared by the transformer families, and its masks.
//
// Shape letters: B batch, H heads, Tq queries, Tk keys, hs head size (C / H).
//
// Two implementations, chosen per model by `attn_implementation` (the name Hugging Face
// uses for the same switch):
// - sdpa (default): at::scaled_dot_product_attention, which picks a fused kernel (flash
//   or memory-efficient on CUDA, the flash kernel on the CPU) and takes the causal case
//   without any mask tensor (Dao et al. 2022, "FlashAttention", arXiv:2205.14135).
// - eager: the explicit softmax(q k^T / sqrt(hs) + mask) v, with the scale and the additive
//   mask in one baddbmm, then softmax, then one bmm. It is the reference the fused kernels
//   are tested against.
// The causal mask is built once per model and device (CausalMask), never per step.

#include <torch/torch.h>

#include <string>
#include <vector>

namespace strata::models {

// How queries may see keys. Both fields empty: every query sees every key.
struct AttentionMask {
  // Additive mask broadcastable to [B, H, Tq, Tk]: 0 where allowed, a very negative value
  // where not. Undefined = none.
  torch::Tensor bias;
  // Lower-triangular over Tq == Tk, left to the kernel (no mask tensor is made).
  bool causal = false;
};

// The causal mask of one model: an additive [block_size, block_size] tensor made on first
// use per device and dtype and sliced afterwards. It is deliberately not a registered buffer:
// it is derived data, and checkpoints hold weights only.
class CausalMask {
 public:
  explicit CausalMask(int64_t block_size) : block_size_(block_size) {}

  // The mask for Tq queries at positions past .. past+Tq-1 over keys 0 .. past+Tq-1.
  AttentionMask for_queries(int64_t past, int64_t tq, const torch::TensorOptions& like);

 private:
  int64_t block_size_;
  torch::Tensor bias_;  // [block_size, block_size]: 0 on and below the diagonal, -inf above
};

enum class AttentionImplementation { kSdpa, kEager };

// "sdpa", "eager": the values `attn_implementation` takes.
const std::vector<std::string>& attention_implementation_names();

// The implementation a name stands for. Throws InputError on any other name.
AttentionImplementation attention_implementation(const std::string& name);

// Key padding: attention_mask [B, Tk] (1 = real token, 0 = padding) -> additive bias
// [B, 1, 1, Tk] in `dtype`.
torch::Tensor padding_bias(const torch::Tensor& attention_mask, torch::ScalarType dtype);

// softmax(q k^T / sqrt(hs) + mask) v, with dropout on the attention weights when training.
// q [B, H, Tq, hs], k and v [B, H, Tk, hs] -> [B, H, Tq, hs]. Contiguous q/k/v (or views
// whose B and H dimensions merge) spare the explicit path a copy.
torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                     const AttentionMask& mask, double dropout_p, bool training,
                     AttentionImplementation impl = AttentionImplementation::kSdpa);

// Self-attention straight from a fused projection: qkv [B, T, 3C] (q, k, v stacked on the
// last dimension, each n_head heads of hs) -> [B, T, C], ready for the output projection.
torch::Tensor attend_packed(const torch::Tensor& qkv, int64_t n_head, const AttentionMask& mask,
                            double dropout_p, bool training,
                            AttentionImplementation impl = AttentionImplementation::kSdpa);

// The same from separate projections: q, k, v [B, T, C] -> [B, T, C].
torch::Tensor attend_split(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                           int64_t n_head, const AttentionMask& mask, double dropout_p,
                           bool training,
                           AttentionImplementation impl = AttentionImplementation::kSdpa);

}  // namespace strata::models
