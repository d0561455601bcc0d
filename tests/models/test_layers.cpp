#include <torch/torch.h>

#include <cmath>

#include "core/precision.h"
#include "models/layers/attention.h"
#include "models/layers/lm_head.h"
#include "tests/models/parity.h"

// Last: glog (through LibTorch) also defines CHECK, and Catch's must win.
#include <catch2/catch.hpp>

using namespace strata;
using namespace strata::models;

TEST_CASE("layers: chunked linear cross-entropy equals the unfused computation", "[layers]") {
  torch::manual_seed(0);
  // V = 65536 gives 16-row chunks, so 40 rows take three chunks, the last one short.
  for (int64_t V : {300, 65536}) {
    for (bool with_bias : {false, true}) {
      DYNAMIC_SECTION("V " << V << " bias " << with_bias) {
        const int64_t N = 40, C = 24;
        auto hidden = torch::randn({N, C}, torch::requires_grad());
        auto weight = (torch::randn({V, C}) * 0.1).requires_grad_();
        auto bias = with_bias ? (torch::randn({V}) * 0.1).requires_grad_() : torch::Tensor();
        auto targets = torch::randint(V, {N});
        targets[3] = -100;
        targets.narrow(0, 17, 5).fill_(-100);

        std::vector<torch::Tensor> inputs = {hidden, weight};
        if (with_bias) inputs.push_back(bias);
        auto reference = torch::nn::functional::cross_entropy(
            torch::nn::functional::linear(hidden, weight, bias), targets,
            torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
        auto expected = torch::autograd::grad({reference * 3.0}, inputs);
        auto fused = linear_cross_entropy(hidden, weight, bias, targets);
        CHECK(std::abs(fused.item<double>() - reference.item<double>()) < 1e-5);
        auto got = torch::autograd::grad({fused * 3.0}, inputs);  // a non-unit upstream gradient
        for (size_t i = 0; i < got.size(); ++i) CHECK(test::max_abs_diff(got[i], expected[i]) < 1e-5);

        torch::NoGradGuard no_grad;
        CHECK(std::abs(linear_cross_entropy(hidden, weight, bias, targets).item<double>() -
                       reference.item<double>()) < 1e-5);
      }
    }
  }
}

TEST_CASE("layers: linear cross-entropy under bf16 autocast: bf16 products, an fp32 loss",
          "[layers][precision]") {
  torch::manual_seed(0);
  const int64_t N = 40, C = 32, V = 300;
  auto hidden = torch::randn({N, C}, torch::requires_grad());
  auto weight = (torch::randn({V, C}) * 0.1).requires_grad_();
  auto bias = (torch::randn({V}) * 0.1).requires_grad_();
  auto targets = torch::randint(V, {N});
  targets[5] = -100;
  // The reference: the bf16 logits of autocast's linear, then cross-entropy in fp32.
  auto logits = torch::nn::functional::linear(hidden.to(torch::kBFloat16),
                                              weight.to(torch::kBFloat16), bias.to(torch::kBFloat16));
  auto reference = torch::nn::functional::cross_entropy(logits.to(torch::kFloat), targets);
  auto expected = torch::autograd::grad({reference}, {hidden, weight, bias});
  torch::Tensor fused;
  {
    AutocastGuard autocast(torch::Device(torch::kCPU), true);
    fused = linear_cross_entropy(hidden, weight, bias, targets);
  }
  CHECK(fused.scalar_type() == torch::kFloat);
  CHECK(std::abs(fused.item<double>() - reference.item<double>()) < 1e-4);
  auto got = torch::autograd::grad({fused}, {hidden, weight, bias});
  for (size_t i = 0; i < got.size(); ++i) {
    INFO(i);
    CHECK(got[i].scalar_type() == torch::kFloat);
    CHECK(test::max_abs_diff(got[i], expected[i]) < 2e-2 * expected[i].abs().max().item<double>());
  }
}

TEST_CASE("layers: linear cross-entropy stays exact when a target's probability underflows", "[layers]") {
  // Row 0's target logit is 200 below the largest: its softmax probability is 0 in float,
  // but its loss is about 200 and finite.
  torch::manual_seed(1);
  const int64_t N = 4, C = 8, V = 50;
  auto weight = torch::randn({V, C}).requires_grad_();
  auto hidden = torch::randn({N, C});
  {
    torch::NoGradGuard no_grad;
    hidden[0] = weight[7].detach() * 60.0 - weight[3].detach() * 60.0;
  }
  hidden.requires_grad_();
  auto targets = torch::tensor({3, 1, 2, 9}, torch::kLong);
  auto logits = torch::nn::functional::linear(hidden, weight);
  REQUIRE((logits[0].max() - logits[0][3]).item<double>() > 150.0);
  auto reference = torch::nn::functional::cross_entropy(logits, targets);
  auto fused = linear_cross_entropy(hidden, weight, {}, targets);
  CHECK(std::isfinite(fused.item<double>()));
  CHECK(std::abs(fused.item<double>() - reference.item<double>()) < 1e-3 * reference.item<double>());
  auto expected = torch::autograd::grad({reference}, {hidden, weight});
  auto got = torch::autograd::grad({fused}, {hidden, weight});
  for (size_t i = 0; i < got.size(); ++i) CHECK(test::max_abs_diff(got[i], expected[i]) < 1e-4);
}

TEST_CASE("layers: sdpa and eager attention equal softmax(q k^T / sqrt(hs) + mask) v", "[layers]") {
  torch::manual_seed(0);
  const int64_t B = 2, T = 9, C = 12, H = 3, hs = C / H;
  auto reference = [&](const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                       const torch::Tensor& bias) {  // [B, T, C] each -> [B, T, C]
    auto heads = [&](const torch::Tensor& t) { return t.view({B, T, H, hs}).transpose(1, 2); };
    auto att = torch::matmul(heads(q), heads(k).transpose(-2, -1)) / std::sqrt(double(hs));
    if (bias.defined()) att = att + bias;
    return torch::matmul(att.softmax(-1), heads(v)).transpose(1, 2).reshape({B, T, C});
  };
  CausalMask causal(16);
  auto causal_mask = causal.for_queries(0, T, torch::TensorOptions());
  auto padding = torch::ones({B, T}, torch::kInt64);
  padding[1].narrow(0, 6, 3).zero_();
  AttentionMask padding_mask;
  padding_mask.bias = padding_bias(padding, torch::kFloat32);
  for (const auto& [name, mask] : {std::make_pair("causal", causal_mask), std::make_pair("padding", padding_mask),
                                   std::make_pair("none", AttentionMask{})}) {
    DYNAMIC_SECTION(name) {
      auto qkv = torch::randn({B, T, 3 * C}, torch::requires_grad());
      auto gy = torch::randn({B, T, C});
      auto parts = qkv.split(C, 2);
      auto bias = mask.bias;
      if (mask.causal)  // the causal mask is left to the kernel
        bias = torch::zeros({T, T}).masked_fill(torch::ones({T, T}, torch::kBool).triu(1), -INFINITY);
      auto expected = reference(parts[0], parts[1], parts[2], bias);
      auto expected_grad = torch::autograd::grad({expected}, {qkv}, {gy})[0];

      for (auto impl : {AttentionImplementation::kSdpa, AttentionImplementation::kEager}) {
        INFO((impl == AttentionImplementation::kSdpa ? "sdpa" : "eager"));
        auto packed = attend_packed(qkv, H, mask, 0.0, true, impl);
        CHECK(test::max_abs_diff(packed, expected) < 1e-5);
        CHECK(test::max_abs_diff(torch::autograd::grad({packed}, {qkv}, {gy})[0], expected_grad) < 1e-5);

        auto split = attend_split(parts[0], parts[1], parts[2], H, mask, 0.0, true, impl);
        CHECK(test::max_abs_diff(split, expected) < 1e-5);
        CHECK(test::max_abs_diff(torch::autograd::grad({split}, {qkv}, {gy})[0], expected_grad) < 1e-5);
      }
    }
  }
}
