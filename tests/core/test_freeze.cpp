// Freeze policies on a real model: which parameters train at which step, the learning rate
// each block gets, and what the optimizer holds.

#include "core/freeze.h"

#include <torch/torch.h>

#include <cmath>
#include <map>
#include <string>

#include "core/errors.h"
#include "core/optim.h"
#include "core/trainer.h"
#include "finetune/classifier.h"
#include "models/gpt/gpt.h"

// Last: glog (through LibTorch) also defines CHECK, and Catch's must win.
#include <catch2/catch.hpp>

using namespace strata;

namespace {

// A debug GPT (2 blocks) under a two-class head ("score.").
finetune::Classifier make_classifier() {
  torch::manual_seed(0);
  auto gpt = std::make_shared<models::GPTImpl>(models::gpt_size("debug"));
  finetune::HeadOptions head;
  head.num_classes = 2;
  return finetune::Classifier(gpt, head);
}

std::map<std::string, bool> trainable(Network& model) {
  std::map<std::string, bool> out;
  for (const auto& p : model.named_parameters()) out[p.key()] = p.value().requires_grad();
  return out;
}

FreezeOptions policy(FreezeType type) {
  FreezeOptions o;
  o.policy = type;
  return o;
}

// Trains `steps` optimizer steps on random tokens through the trainer's order of calls
// (apply, rebuild on change, step) and returns the weights before and after.
std::pair<NamedTensors, NamedTensors> train_steps(finetune::Classifier& model, FreezePolicy& freeze,
                                                  int64_t steps) {
  NamedTensors before;
  for (const auto& [n, t] : model_tensors(*model)) before.emplace_back(n, t.detach().clone());
  OptimizerOptions oo;
  oo.weight_decay = 0.1;  // decay must not touch frozen weights either
  freeze.apply(0, *model);
  Optimizer opt(model_tensors(*model), oo, [&](const std::string& n) { return freeze.lr_scale(n); });
  for (int64_t s = 0; s < steps; ++s) {
    if (freeze.apply(s, *model)) opt.rebuild(model_tensors(*model));
    opt.zero_grad();
    Batch b{torch::randint(0, 256, {4, 16}, torch::kLong), torch::randint(0, 2, {4}, torch::kLong), {}, {}};
    model->loss(b).backward();
    opt.step();
  }
  NamedTensors after;
  for (const auto& [n, t] : model_tensors(*model)) after.emplace_back(n, t.detach().clone());
  return {before, after};
}

std::map<std::string, bool> changed(const std::pair<NamedTensors, NamedTensors>& w) {
  std::map<std::string, bool> out;
  for (size_t i = 0; i < w.first.size(); ++i) {
    out[w.first[i].first] = !torch::equal(w.first[i].second, w.second[i].second);
  }
  return out;
}

}  // namespace

TEST_CASE("freeze: parameters are placed in embeddings, blocks, top and head", "[freeze]") {
  const std::vector<std::string> head = {"score."};
  CHECK(layer_place("transformer.wte.weight", head).kind == LayerKind::kEmbedding);
  CHECK(layer_place("bert.embeddings.LayerNorm.weight", head).kind == LayerKind::kEmbedding);
  auto b = layer_place("transformer.h.1.attn.c_attn.weight", head);
  CHECK(b.kind == LayerKind::kBlock);
  CHECK(b.block == 1);
  CHECK(layer_place("bert.encoder.layer.11.output.dense.bias", head).block == 11);
  CHECK(layer_place("conv2.weight", head).block == 1);
  CHECK(layer_place("transformer.ln_f.weight", head).kind == LayerKind::kTop);
  CHECK(layer_place("score.weight", head).kind == LayerKind::kHead);
}

TEST_CASE("freeze: each policy changes exactly the parameters it should", "[freeze]") {
  SECTION("frozen_base: only the head") {
    auto model = make_classifier();
    auto freeze = make_freeze_policy(policy(FreezeType::kFrozenBase), *model, {"score."});
    auto diff = changed(train_steps(model, *freeze, 3));
    for (const auto& [name, moved] : diff) {
      INFO(name);
      CHECK(moved == (name.rfind("score.", 0) == 0));
    }
  }
  SECTION("freeze_first_n: embeddings and block 0 frozen, block 1, ln_f and the head train") {
    auto model = make_classifier();
    auto o = policy(FreezeType::kFreezeFirstN);
    o.n = 1;
    auto freeze = make_freeze_policy(o, *model, {"score."});
    auto diff = changed(train_steps(model, *freeze, 3));
    for (const auto& [name, moved] : diff) {
      INFO(name);
      const bool frozen = name.find("wte") != std::string::npos || name.find("wpe") != std::string::npos ||
                          name.find(".h.0.") != std::string::npos;
      CHECK(moved == !frozen);
    }
  }
  SECTION("patterns: train and freeze lists") {
    auto model = make_classifier();
    auto o = policy(FreezeType::kPatterns);
    o.train = {"transformer.h.1.*"};
    o.freeze = {"*.ln_*"};
    auto freeze = make_freeze_policy(o, *model, {"score."});
    auto t = trainable(*model);
    freeze->apply(0, *model);
    t = trainable(*model);
    CHECK(t["transformer.h.1.attn.c_attn.weight"]);
    CHECK_FALSE(t["transformer.h.1.ln_1.weight"]);
    CHECK_FALSE(t["transformer.h.0.attn.c_attn.weight"]);
    CHECK_FALSE(t["transformer.wte.weight"]);
    CHECK(t["score.weight"]);
    auto diff = changed(train_steps(model, *freeze, 2));
    CHECK(diff["transformer.h.1.mlp.c_fc.weight"]);
    CHECK_FALSE(diff["transformer.h.1.ln_2.bias"]);
    CHECK_FALSE(diff["transformer.h.0.mlp.c_fc.weight"]);
  }
  SECTION("a pattern that matches nothing is refused") {
    auto model = make_classifier();
    auto o = policy(FreezeType::kPatterns);
    o.freeze = {"transformer.blocks.*"};
    CHECK_THROWS_AS(make_freeze_policy(o, *model, {"score."}), InputError);
  }
  SECTION("freeze_first_n beyond the model's blocks is refused") {
    auto model = make_classifier();
    auto o = policy(FreezeType::kFreezeFirstN);
    o.n = 3;
    CHECK_THROWS_AS(make_freeze_policy(o, *model, {"score."}), InputError);
  }
}

TEST_CASE("freeze: gradual unfreezing follows its schedule, top down", "[freeze]") {
  auto model = make_classifier();
  auto o = policy(FreezeType::kGradualUnfreeze);
  o.every = 2;
  auto freeze = make_freeze_policy(o, *model, {"score."});
  auto at = [&](int64_t step) {
    freeze->apply(step, *model);
    return trainable(*model);
  };
  auto t = at(0);
  CHECK(t["score.weight"]);
  CHECK_FALSE(t["transformer.ln_f.weight"]);
  CHECK_FALSE(t["transformer.h.1.attn.c_attn.weight"]);
  t = at(1);
  CHECK_FALSE(t["transformer.h.1.attn.c_attn.weight"]);
  t = at(2);  // unit 0: the top and the last block
  CHECK(t["transformer.ln_f.weight"]);
  CHECK(t["transformer.h.1.attn.c_attn.weight"]);
  CHECK_FALSE(t["transformer.h.0.attn.c_attn.weight"]);
  t = at(4);  // unit 1: block 0
  CHECK(t["transformer.h.0.attn.c_attn.weight"]);
  CHECK_FALSE(t["transformer.wte.weight"]);
  t = at(6);  // unit 2: the embeddings; everything trains
  for (const auto& [name, on] : t) {
    INFO(name);
    CHECK(on);
  }
  CHECK(freeze->state()["unfrozen_units"] == 3);
  // The position is restored from state.json; another policy's state is refused.
  auto again = make_freeze_policy(o, *model, {"score."});
  again->load_state(freeze->state());
  CHECK(again->state() == freeze->state());
  auto other = make_freeze_policy(policy(FreezeType::kFrozenBase), *model, {"score."});
  CHECK_THROWS_AS(other->load_state(freeze->state()), InputError);
}

TEST_CASE("freeze: frozen modules train in eval mode, unfrozen ones go back to train mode",
          "[freeze]") {
  auto model = make_classifier();
  auto o = policy(FreezeType::kGradualUnfreeze);
  o.every = 2;
  auto freeze = make_freeze_policy(o, *model, {"score."});
  std::map<std::string, std::shared_ptr<torch::nn::Module>> modules;
  for (const auto& m : model->named_modules("", false)) modules[m.key()] = m.value();
  REQUIRE(modules.count("transformer.h.0") == 1);
  model->train();
  auto at = [&](int64_t step) {
    freeze->apply(step, *model);
    model->eval();  // an evaluation in between resets every mode ...
    model->train();
    freeze->set_modes(*model);  // ... and the trainer puts the frozen ones back
  };
  at(0);
  CHECK(model->is_training());
  CHECK(modules["score"]->is_training());
  CHECK_FALSE(modules["transformer.h.0"]->is_training());
  CHECK_FALSE(modules["transformer.h.1"]->is_training());
  at(2);  // the top and block 1 unfrozen
  CHECK(modules["transformer.h.1"]->is_training());
  CHECK_FALSE(modules["transformer.h.0"]->is_training());
  at(6);
  for (const auto& [name, m] : modules) {
    INFO(name);
    CHECK(m->is_training());
  }
  // A model in eval mode is left alone.
  model->eval();
  freeze->set_modes(*model);
  CHECK_FALSE(modules["score"]->is_training());
}

TEST_CASE("freeze: layer-wise decay gives each block its learning rate", "[freeze]") {
  auto model = make_classifier();
  auto o = policy(FreezeType::kNone);
  o.lr_decay = 0.5;
  auto freeze = make_freeze_policy(o, *model, {"score."});
  REQUIRE(freeze != nullptr);
  // L = 2 blocks: block 1 at 0.5, block 0 at 0.25, the embeddings at 0.125.
  CHECK(freeze->lr_scale("score.weight") == 1.0);
  CHECK(freeze->lr_scale("transformer.ln_f.weight") == 1.0);
  CHECK(freeze->lr_scale("transformer.h.1.mlp.c_fc.weight") == 0.5);
  CHECK(freeze->lr_scale("transformer.h.0.mlp.c_fc.weight") == 0.25);
  CHECK(freeze->lr_scale("transformer.wte.weight") == 0.125);

  // The optimizer's groups carry the scales, and a step moves each block by its rate:
  // with SGD (no momentum history yet) the update is exactly -lr * scale * grad.
  OptimizerOptions oo;
  oo.type = OptimizerType::kSGD;
  oo.lr = 0.1;
  freeze->apply(0, *model);
  Optimizer opt(model_tensors(*model), oo, [&](const std::string& n) { return freeze->lr_scale(n); });
  std::map<double, int64_t> params_by_scale;
  for (const auto& g : opt.groups()) params_by_scale[g.lr_scale] += int64_t(g.params.size());
  CHECK(params_by_scale.size() == 4);
  CHECK(opt.groups_json()["groups"][0].contains("lr_scale"));
  auto w = model->named_parameters()["transformer.h.0.mlp.c_fc.weight"];
  auto before = w.detach().clone();
  opt.zero_grad();
  Batch b{torch::randint(0, 256, {4, 16}, torch::kLong), torch::randint(0, 2, {4}, torch::kLong), {}, {}};
  model->loss(b).backward();
  auto grad = w.grad().clone();
  opt.step();
  CHECK(torch::allclose(w.detach(), before - 0.1 * 0.25 * grad, 1e-6, 1e-7));
}

TEST_CASE("freeze: the optimizer holds no frozen parameter", "[freeze]") {
  auto model = make_classifier();
  auto freeze = make_freeze_policy(policy(FreezeType::kFrozenBase), *model, {"score."});
  freeze->apply(0, *model);
  Optimizer opt(model_tensors(*model), OptimizerOptions());
  int64_t held = 0;
  for (const auto& g : opt.groups()) {
    for (const auto& n : g.names) {
      INFO(n);
      CHECK(n.rfind("score.", 0) == 0);
      ++held;
    }
  }
  CHECK(held == 2);
}
