// LoRA on a real model: the adapted model starts as the pre-trained one, only the adapters
// and the head train, the frozen weights stay bit for bit, and merging the adapters into the
// weights gives the same logits without them.

#include "finetune/lora.h"

#include <torch/torch.h>

#include <map>
#include <string>

#include "core/freeze.h"
#include "core/optim.h"
#include "core/trainer.h"
#include "finetune/classifier.h"
#include "models/gpt/gpt.h"

// Last: glog (through LibTorch) also defines CHECK, and Catch's must win.
#include <catch2/catch.hpp>

using namespace strata;

namespace {

finetune::Classifier make_classifier(uint64_t seed) {
  torch::manual_seed(seed);
  auto gpt = std::make_shared<models::GPTImpl>(models::gpt_size("debug"));
  finetune::HeadOptions head;
  head.num_classes = 2;
  return finetune::Classifier(gpt, head);
}

}  // namespace

TEST_CASE("lora: adapters train, the base stays, merged weights give the same logits", "[finetune][lora]") {
  auto model = make_classifier(0);
  model->eval();
  Batch batch{torch::randint(0, 256, {3, 12}, torch::kLong), torch::randint(0, 2, {3}, torch::kLong), {}, {}};
  const torch::Tensor before = model->forward(batch).detach();

  FreezeOptions o;
  o.policy = FreezeType::kLoRA;
  o.lora_rank = 2;
  o.lora_alpha = 4;
  o.lora_targets = {"c_attn", "c_fc"};
  auto lora = std::make_shared<finetune::LoRA>(*model, o, std::vector<std::string>{"score."});
  CHECK(lora->num_adapters() == 4);  // 2 blocks x (c_attn, c_fc)
  model->set_before_forward([lora] { lora->refresh(); });
  CHECK(torch::allclose(model->forward(batch), before));  // B = 0: the pre-trained model

  auto freeze = make_freeze_policy(o, *model, {"score."});
  freeze->apply(0, *model);
  std::map<std::string, torch::Tensor> start;
  for (const auto& p : model->named_parameters()) start[p.key()] = p.value().detach().clone();
  OptimizerOptions oo;
  oo.lr = 0.01;
  Optimizer opt(model_tensors(*model), oo);
  for (const auto& g : opt.groups()) {
    for (const auto& n : g.names) {
      INFO(n);
      CHECK((n.find(".lora_") != std::string::npos || n.rfind("score.", 0) == 0));
    }
  }
  model->train();
  for (int s = 0; s < 3; ++s) {
    opt.zero_grad();
    model->loss(batch).backward();
    opt.step();
  }
  for (const auto& p : model->named_parameters()) {
    INFO(p.key());
    const bool trains = p.key().find(".lora_") != std::string::npos || p.key().rfind("score.", 0) == 0;
    const bool same = torch::equal(start[p.key()], p.value());
    if (p.key().find("lora_A") != std::string::npos) continue;  // A moves once B is nonzero
    CHECK(same == !trains);
  }

  model->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor adapted = model->forward(batch);
  CHECK_FALSE(torch::allclose(adapted, before));
  // Merged: the same classifier without adapters, loaded from the merged tensors.
  NamedTensors merged = finetune::merge_lora(model_tensors(*model), lora->scale());
  for (const auto& [n, t] : merged) CHECK(n.find("lora") == std::string::npos);
  auto plain = make_classifier(1);
  load_model_tensors(*plain, merged, "merged");
  plain->eval();
  CHECK(torch::allclose(plain->forward(batch), adapted, 1e-5, 1e-5));
}
