#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "core/causal_lm.h"
#include "core/errors.h"
#include "models/bert/bert.h"
#include "models/cnn/cnn.h"
#include "models/gpt/gpt.h"

// Last: glog (through LibTorch) also defines CHECK, and Catch's must win.
#include <catch2/catch.hpp>

using namespace strata;

namespace {

torch::Tensor tokens(int64_t B, int64_t T, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randint(256, {B, T}, gen, torch::kInt64);
}

std::shared_ptr<models::GPTImpl> debug_gpt() {
  torch::manual_seed(0);
  auto gpt = std::make_shared<models::GPTImpl>(models::gpt_size("debug"));
  gpt->eval();
  return gpt;
}

}  // namespace

TEST_CASE("causal_lm: only causal LMs answer causal_lm(); features have each family's width",
          "[causal_lm]") {
  auto gpt = debug_gpt();
  Network& as_network = *gpt;
  REQUIRE(as_network.causal_lm() != nullptr);
  CHECK(as_network.context_length() == 64);
  CHECK(as_network.causal_lm()->vocab_size() == 256);

  models::BertImpl bert(models::bert_size("debug"));
  models::CNNImpl cnn(models::cnn_size("debug"));
  CHECK(static_cast<Network&>(bert).causal_lm() == nullptr);
  CHECK(static_cast<Network&>(cnn).causal_lm() == nullptr);
  CHECK(static_cast<Network&>(cnn).context_length() == 0);

  Batch text{tokens(3, 10, 1), {}, {}, {}};
  CHECK(as_network.features(text).sizes() == torch::IntArrayRef({3, 64}));
  CHECK(static_cast<Network&>(bert).features(text).sizes() == torch::IntArrayRef({3, 64}));
  CHECK_THROWS_AS(static_cast<Network&>(bert).features(text, Pooling::kLast), InputError);
  Batch images{torch::rand({2, 1, 28, 28}), {}, {}, {}};
  auto f = static_cast<Network&>(cnn).features(images);
  CHECK(f.sizes() == torch::IntArrayRef({2, cnn.num_features()}));
}

TEST_CASE("causal_lm: last-token and mean pooling follow the attention mask", "[causal_lm]") {
  auto hidden = torch::arange(2 * 4 * 3, torch::kFloat).view({2, 4, 3});
  auto mask = torch::tensor({1, 1, 0, 0, 1, 1, 1, 1}, torch::kLong).view({2, 4});
  auto last = pool_hidden_states(hidden, mask, Pooling::kLast);  // rows 1 and 3
  CHECK(torch::equal(last[0], hidden[0][1]));
  CHECK(torch::equal(last[1], hidden[1][3]));
  auto mean = pool_hidden_states(hidden, mask, Pooling::kMean);
  CHECK(torch::allclose(mean[0], hidden[0].narrow(0, 0, 2).mean(0)));
  CHECK(torch::allclose(mean[1], hidden[1].mean(0)));
  // A GPT's last-token features of a right-padded batch equal those of the unpadded row.
  auto gpt = debug_gpt();
  auto ids = tokens(1, 6, 2);
  Batch padded{torch::cat({ids, torch::zeros({1, 3}, torch::kLong)}, 1), {}, {},
               torch::cat({torch::ones({1, 6}, torch::kLong), torch::zeros({1, 3}, torch::kLong)}, 1)};
  CHECK(torch::allclose(gpt->features(padded), gpt->features(Batch{ids, {}, {}, {}}), 1e-5, 1e-5));
}

TEST_CASE("causal_lm: score() equals log_softmax of the full logits, with or without a cache",
          "[causal_lm]") {
  auto gpt = debug_gpt();
  CausalLM& lm = *gpt;
  auto ids = tokens(2, 12, 3);
  auto targets = ids.roll(-1, 1).clone();  // the next token; the last position is not scored
  targets.select(1, 11).fill_(-100);
  targets[0][2] = -100;  // nor one in the middle
  auto logp = torch::log_softmax(gpt->forward(ids), -1);  // [B, T, V]
  auto scores = lm.score(ids, targets);
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t t = 0; t < 12; ++t) {
      const int64_t y = targets[b][t].item<int64_t>();
      if (y == -100) {
        CHECK(scores.logprobs[b][t].item<double>() == 0.0);
        CHECK(scores.greedy[b][t].item<bool>());
        continue;
      }
      CHECK(scores.logprobs[b][t].item<double>() ==
            Approx(logp[b][t][y].item<double>()).margin(1e-5));
      CHECK(scores.greedy[b][t].item<bool>() == (logp[b][t].argmax().item<int64_t>() == y));
    }
  }
  // A shared prefix in a cache of one row, repeated for the batch, then the rest scored.
  auto prefix = ids.narrow(0, 0, 1).narrow(1, 0, 5);
  auto cache = lm.make_cache(1);
  lm.hidden_states(prefix, &cache);
  CHECK(cache.length == 5);
  ids[1].narrow(0, 0, 5).copy_(prefix[0]);  // both rows now start with the prefix
  auto full = lm.score(ids, targets);
  auto batch_cache = cache.repeat(2);
  CHECK(batch_cache.batch_size() == 2);
  auto rest = lm.score(ids.narrow(1, 5, 7), targets.narrow(1, 5, 7), &batch_cache);
  CHECK(batch_cache.length == 12);
  CHECK(cache.length == 5);  // the shared prefix is untouched
  CHECK(torch::allclose(rest.logprobs, full.logprobs.narrow(1, 5, 7), 1e-5, 1e-5));
  // clone() is independent of the original.
  auto copy = cache.clone();
  lm.hidden_states(ids.narrow(0, 0, 1).narrow(1, 5, 2), &copy);
  CHECK(copy.length == 7);
  CHECK(cache.length == 5);
  CHECK(torch::equal(copy.k[0].narrow(2, 0, 5), cache.k[0].narrow(2, 0, 5)));
}
