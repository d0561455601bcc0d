#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <set>

#include "core/config.h"
#include "core/errors.h"
#include "models/bert/bert.h"
#include "models/bert/bert_config.h"
#include "models/registry.h"
#include "tests/models/parity.h"

// Last: glog (through LibTorch) also defines CHECK, and Catch's must win.
#include <catch2/catch.hpp>

using namespace strata;
using namespace strata::models;

namespace {

BertOptions debug_options() { return bert_size("debug").dropout(0.0); }  // L2 H2 C64 T64 V256

torch::Tensor random_tokens(int64_t B, int64_t T, int64_t V, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randint(V, {B, T}, gen, torch::kInt64);
}

}  // namespace

TEST_CASE("bert: shapes, Hugging Face names, gradients", "[bert]") {
  torch::manual_seed(0);
  Bert model(debug_options());
  std::set<std::string> names;
  for (const auto& p : model->named_parameters()) names.insert(p.key());
  for (const char* n : {"bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight",
                        "bert.embeddings.token_type_embeddings.weight", "bert.embeddings.LayerNorm.weight",
                        "bert.encoder.layer.0.attention.self.query.weight",
                        "bert.encoder.layer.0.attention.self.value.bias",
                        "bert.encoder.layer.1.attention.output.dense.weight",
                        "bert.encoder.layer.1.attention.output.LayerNorm.bias",
                        "bert.encoder.layer.1.intermediate.dense.weight", "bert.encoder.layer.1.output.dense.bias",
                        "bert.encoder.layer.1.output.LayerNorm.weight", "bert.pooler.dense.weight",
                        "cls.predictions.bias", "cls.predictions.transform.dense.weight",
                        "cls.predictions.transform.LayerNorm.bias"}) {
    INFO(n);
    CHECK(names.count(n) == 1);
  }
  CHECK(names.size() == 5 + 2 * 16 + 2 + 5);

  Batch batch;
  batch.input = random_tokens(2, 12, 256, 1);
  batch.segment = torch::cat({torch::zeros({2, 6}, torch::kInt64), torch::ones({2, 6}, torch::kInt64)}, 1);
  auto logits = model->forward(batch);
  CHECK(logits.sizes() == torch::IntArrayRef({2, 12, 256}));
  auto hidden = model->hidden_states(batch.input, batch.segment);
  CHECK(hidden.sizes() == torch::IntArrayRef({2, 12, 64}));
  auto pooled = model->pooled(hidden);
  CHECK(pooled.sizes() == torch::IntArrayRef({2, 64}));
  auto loss = torch::nn::functional::cross_entropy(logits.view({-1, 256}), random_tokens(2, 12, 256, 2).view({-1})) +
              pooled.sum();
  loss.backward();
  for (const auto& p : model->named_parameters()) {
    INFO(p.key());
    REQUIRE(p.value().grad().defined());
    CHECK(p.value().grad().abs().sum().item<double>() > 0);
  }
  CHECK(model->num_params() == model->num_params(true) - 64 * 64 - 2 * 64);
}

TEST_CASE("bert: padding keys change nothing for the real tokens", "[bert]") {
  torch::manual_seed(0);
  Bert model(debug_options());
  model->eval();
  torch::NoGradGuard no_grad;
  auto ids = random_tokens(1, 10, 256, 3);
  auto alone = model->hidden_states(ids);  // [1, 10, C]

  // The same sequence padded to 16 with arbitrary ids, in a batch with a full-length row.
  auto padded = torch::cat({ids, random_tokens(1, 6, 256, 4)}, 1);
  auto batch_ids = torch::cat({padded, random_tokens(1, 16, 256, 5)}, 0);  // [2, 16]
  auto mask = torch::ones({2, 16}, torch::kInt64);
  mask[0].narrow(0, 10, 6).zero_();
  auto out = model->hidden_states(batch_ids, {}, mask);
  CHECK(test::max_abs_diff(out[0].narrow(0, 0, 10), alone[0]) < 1e-5);
  // Without the mask the padding does leak in.
  auto unmasked = model->hidden_states(batch_ids);
  CHECK(test::max_abs_diff(unmasked[0].narrow(0, 0, 10), alone[0]) > 1e-3);
  // The second row is the same as on its own.
  CHECK(test::max_abs_diff(out[1], model->hidden_states(batch_ids.narrow(0, 1, 1))[0]) < 1e-5);
}

TEST_CASE("bert: options from YAML through the registry", "[bert][config]") {
  auto doc = config::Document::parse("model:\n  type: bert\n  size: debug\n  n_embd: 32\n", "run.yaml");
  auto root = doc.root();
  auto section = root.child("model");
  std::string type;
  section.read("type", type);
  auto net = models::networks().make(type, section.where("type"), section);
  root.finish();
  auto bert = std::dynamic_pointer_cast<BertImpl>(net);
  REQUIRE(bert);
  CHECK(bert->options().n_embd() == 32);
  CHECK(bert->options().n_layer() == 2);
  CHECK(bert_size("bert-base").n_layer() == 12);
  CHECK(bert_size("bert-base").vocab_size() == 30522);
  CHECK_THROWS_AS(bert_size("bert-huge"), InputError);
  CHECK(bert->options().activation() == "gelu");  // the default, unchanged

  auto d = config::Document::parse("model:\n  size: debug\n  activation: gelu_new\n", "run.yaml");
  auto r = d.root().child("model");
  CHECK(read_bert_options(r).activation() == "gelu_new");
  auto bad = config::Document::parse("model:\n  size: debug\n  activation: relu\n", "run.yaml");
  auto b = bad.root().child("model");
  CHECK_THROWS_WITH(read_bert_options(b), Catch::Contains("activation") && Catch::Contains("gelu_new"));
}

TEST_CASE("bert: MLM parity with an independent Python PyTorch BERT", "[bert][parity]") {
  torch::manual_seed(42);
  auto options = debug_options();
  Bert model(options);
  const int64_t B = 4, T = 24, V = options.vocab_size();
  auto ids = random_tokens(B, T, V, 20);
  auto segment = torch::cat({torch::zeros({B, 12}, torch::kInt64), torch::ones({B, 12}, torch::kInt64)}, 1);
  auto mask = torch::ones({B, T}, torch::kInt64);
  mask[1].narrow(0, 18, 6).zero_();  // two padded rows
  mask[3].narrow(0, 9, 15).zero_();
  // MLM targets: about 15% of the real positions, -100 elsewhere.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(21);
  auto chosen = (torch::rand({B, T}, gen) < 0.15).logical_and(mask.eq(1));
  chosen[0][0] = true;
  auto targets = torch::where(chosen, random_tokens(B, T, V, 22), torch::full({B, T}, -100, torch::kInt64));

  nlohmann::json cfg = {{"family", "bert"},
                        {"vocab_size", V},
                        {"block_size", options.block_size()},
                        {"type_vocab_size", options.type_vocab_size()},
                        {"n_layer", options.n_layer()},
                        {"n_head", options.n_head()},
                        {"n_embd", options.n_embd()},
                        {"layer_norm_eps", options.layer_norm_eps()},
                        {"steps", 3},
                        {"lr", 1e-3},
                        {"betas", {0.9, 0.95}},
                        {"weight_decay", 0.1},
                        {"threads", 1}};
  test::TempDir dir("bert-parity");
  auto py = test::run_python_reference(
      dir.path, cfg, test::named_parameters_of(*model),
      {{"ids", ids}, {"segment", segment}, {"attention_mask", mask}, {"targets", targets}});
  Batch batch{ids, targets, segment, mask};
  {  // The training loss (head on masked positions only, fused) is the logits' cross-entropy.
    auto reference = torch::nn::functional::cross_entropy(
        model->forward(batch).view({-1, V}), targets.view({-1}),
        torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
    auto expected = torch::autograd::grad({reference}, model->parameters(), {}, false, false, true);
    auto fused = model->loss(batch);
    CHECK(std::abs(fused.item<double>() - reference.item<double>()) < 1e-5);
    auto got = torch::autograd::grad({fused}, model->parameters(), {}, false, false, true);
    for (size_t i = 0; i < got.size(); ++i) {
      if (!expected[i].defined()) {  // the pooler is not on the MLM path
        CHECK(!got[i].defined());
        continue;
      }
      CHECK(test::max_abs_diff(got[i], expected[i]) < 1e-6);
    }
  }
  auto ours = test::train_steps(*model, [&] { return model->forward(batch); },
                                [&] { return model->loss(batch); }, cfg);

  REQUIRE(ours.losses.size() == 4);
  test::check_against_python(ours, py, *model);
}
