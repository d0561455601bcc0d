#include "core/freeze.h"

#include <fmt/format.h>
#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>

#include "core/errors.h"

namespace strata {

const config::EnumNames<FreezeType>& freeze_type_names() {
  static const config::EnumNames<FreezeType> names = {
      {"none", FreezeType::kNone},
      {"frozen_base", FreezeType::kFrozenBase},
      {"freeze_first_n", FreezeType::kFreezeFirstN},
      {"patterns", FreezeType::kPatterns},
      {"gradual_unfreeze", FreezeType::kGradualUnfreeze},
      {"lora", FreezeType::kLoRA}};
  return names;
}

void read_options(config::Reader r, FreezeOptions& o) {
  r.read_enum("policy", o.policy, freeze_type_names());
  const std::string policy = config::enum_name(o.policy, freeze_type_names());
  // A key another policy uses is refused when it is set to anything but its default (the
  // resolved config.yaml of a run lists every key with its value).
  const FreezeOptions defaults;
  if (r.has("n")) r.read("n", o.n, config::Range::at_least(1));
  r.read("train", o.train);
  r.read("freeze", o.freeze);
  if (r.has("every")) r.read("every", o.every, config::Range::at_least(1));
  if (r.has("rank")) r.read("rank", o.lora_rank, config::Range::at_least(1));
  r.read("alpha", o.lora_alpha, config::Range::positive());
  r.read("targets", o.lora_targets);
  auto only_for = [&](const char* key, FreezeType type, bool is_set) {
    if (is_set && o.policy != type) {
      r.fail(key, fmt::format("is not used by policy {} (only by {})", policy,
                              config::enum_name(type, freeze_type_names())));
    }
  };
  only_for("n", FreezeType::kFreezeFirstN, o.n != defaults.n);
  only_for("train", FreezeType::kPatterns, !o.train.empty());
  only_for("freeze", FreezeType::kPatterns, !o.freeze.empty());
  only_for("every", FreezeType::kGradualUnfreeze, o.every != defaults.every);
  only_for("rank", FreezeType::kLoRA, o.lora_rank != defaults.lora_rank);
  only_for("alpha", FreezeType::kLoRA, o.lora_alpha != defaults.lora_alpha);
  only_for("targets", FreezeType::kLoRA, o.lora_targets != defaults.lora_targets);
  if (o.lora_targets.empty()) r.fail("targets", "must name at least one Linear layer");
  std::string bn = o.bn_train ? "train" : "frozen";
  r.read_choice("bn", bn, {"frozen", "train"});
  o.bn_train = bn == "train";
  r.read("lr_decay", o.lr_decay, config::Range::between(0, 1));
  if (o.lr_decay <= 0.0) r.fail("lr_decay", "must be above 0");
  if (o.policy == FreezeType::kFreezeFirstN && o.n <= 0) r.fail("n", "is required by freeze_first_n");
  if (o.policy == FreezeType::kGradualUnfreeze && o.every <= 0) {
    r.fail("every", "is required by gradual_unfreeze (steps between unfreezing one more block)");
  }
  if (o.policy == FreezeType::kPatterns && o.train.empty() && o.freeze.empty()) {
    r.fail("policy", "patterns needs a `train` or a `freeze` list of parameter-name patterns");
  }
  r.finish();
}

namespace {

bool glob(const std::string& pattern, const std::string& name) {
  return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

class LayerFreeze : public FreezePolicy {
 public:
  LayerFreeze(FreezeOptions o, std::vector<std::string> names, std::vector<std::string> head,
              const std::string& where)
      : o_(std::move(o)), head_(std::move(head)), blocks_(count_blocks(names)) {
    for (const auto& name : names) places_[name] = layer_place(name, head_);
    if (o_.policy == FreezeType::kFreezeFirstN && o_.n > blocks_) {
      throw InputError(fmt::format("{}: 'n' {} is more than the model's {} blocks", where, o_.n, blocks_));
    }
    for (const auto* list : {&o_.train, &o_.freeze}) {
      for (const auto& pattern : *list) {
        if (std::none_of(names.begin(), names.end(), [&](const auto& n) { return glob(pattern, n); })) {
          throw InputError(fmt::format("{}: pattern '{}' matches no parameter of the model", where,
                                       pattern));
        }
      }
    }
  }

  bool apply(int64_t step, Network& model) override {
    if (o_.policy == FreezeType::kGradualUnfreeze) unfrozen_ = std::min(blocks_ + 1, step / o_.every);
    bool changed = false;
    for (auto& p : model.named_parameters()) {
      const bool train = trains(p.key());
      if (p.value().requires_grad() != train) {
        p.value().set_requires_grad(train);
        changed = true;
      }
    }
    return changed;
  }

  void set_modes(Network& model) const override { apply_frozen_modes(model, o_.bn_train); }

  nlohmann::json state() const override {
    nlohmann::json j = {{"policy", config::enum_name(o_.policy, freeze_type_names())},
                        {"lr_decay", o_.lr_decay}};
    if (o_.policy == FreezeType::kGradualUnfreeze) j["unfrozen_units"] = unfrozen_;
    return j;
  }

  void load_state(const nlohmann::json& state) override {
    const std::string mine = config::enum_name(o_.policy, freeze_type_names());
    const std::string saved = state.is_object() && state.contains("policy") && state["policy"].is_string()
                                  ? state["policy"].get<std::string>()
                                  : "";
    if (saved != mine) {
      throw InputError(fmt::format(
          "the checkpoint was trained with freeze policy '{}', this run's is '{}'", saved, mine));
    }
    if (state.contains("unfrozen_units") && state["unfrozen_units"].is_number_integer()) {
      unfrozen_ = state["unfrozen_units"].get<int64_t>();
    }
  }

  double lr_scale(const std::string& name) const override {
    if (o_.lr_decay == 1.0) return 1.0;
    const LayerPlace p = place(name);
    switch (p.kind) {
      case LayerKind::kHead:
      case LayerKind::kTop:
        return 1.0;
      case LayerKind::kBlock:
        return std::pow(o_.lr_decay, double(blocks_ - p.block));
      case LayerKind::kEmbedding:
        return std::pow(o_.lr_decay, double(blocks_ + 1));
    }
    return 1.0;
  }

 private:
  LayerPlace place(const std::string& name) const {
    auto it = places_.find(name);
    return it != places_.end() ? it->second : layer_place(name, head_);
  }

  bool trains(const std::string& name) const {
    const LayerPlace p = place(name);
    if (p.kind == LayerKind::kHead) return true;
    switch (o_.policy) {
      case FreezeType::kNone:
        return true;
      case FreezeType::kFrozenBase:
        return false;
      case FreezeType::kLoRA:
        return name.find(".lora_") != std::string::npos;
      case FreezeType::kFreezeFirstN:
        return !(p.kind == LayerKind::kEmbedding || (p.kind == LayerKind::kBlock && p.block < o_.n));
      case FreezeType::kPatterns: {
        bool train = o_.train.empty() ||
                     std::any_of(o_.train.begin(), o_.train.end(), [&](const auto& g) { return glob(g, name); });
        if (std::any_of(o_.freeze.begin(), o_.freeze.end(), [&](const auto& g) { return glob(g, name); }))
          train = false;
        return train;
      }
      case FreezeType::kGradualUnfreeze: {
        // Unit 0 is the top and the last block, unit L the embeddings.
        int64_t unit = 0;
        if (p.kind == LayerKind::kBlock) unit = std::max<int64_t>(0, blocks_ - 1 - p.block);
        if (p.kind == LayerKind::kEmbedding) unit = blocks_;
        return unit < unfrozen_;
      }
    }
    return true;
  }

  FreezeOptions o_;
  std::vector<std::string> head_;
  int64_t blocks_;
  std::map<std::string, LayerPlace> places_;
  int64_t unfrozen_ = 0;
};

}  // namespace

LayerPlace layer_place(const std::string& name, const std::vector<std::string>& head_prefixes) {
  for (const auto& prefix : head_prefixes) {
    if (name.starts_with(prefix)) return {LayerKind::kHead, -1};
  }
  static const std::regex block(R"((?:^|\.)(?:h|layer|layers)\.(\d+)\.)");
  static const std::regex conv(R"(^(?:conv|bn)(\d+)\.)");
  std::smatch m;
  if (std::regex_search(name, m, block)) return {LayerKind::kBlock, std::stoll(m[1].str())};
  if (std::regex_search(name, m, conv)) return {LayerKind::kBlock, std::stoll(m[1].str()) - 1};
  for (const char* e : {"wte", "wpe", "embeddings"}) {
    if (name.find(e) != std::string::npos) return {LayerKind::kEmbedding, -1};
  }
  return {LayerKind::kTop, -1};
}

int64_t count_blocks(const std::vector<std::string>& names) {
  int64_t blocks = 0;
  for (const auto& name : names) {
    const LayerPlace p = layer_place(name, {});
    if (p.kind == LayerKind::kBlock) blocks = std::max(blocks, p.block + 1);
  }
  return blocks;
}

namespace {

// 0: no parameters; 1: all frozen; 2: some train.
int frozen_state(torch::nn::Module& m) {
  bool any = false;
  for (const auto& p : m.parameters()) {
    if (p.requires_grad()) return 2;
    any = true;
  }
  return any ? 1 : 0;
}

bool is_batch_norm(torch::nn::Module& m) {
  return m.as<torch::nn::BatchNorm1d>() || m.as<torch::nn::BatchNorm2d>() ||
         m.as<torch::nn::BatchNorm3d>();
}

void set_frozen_children(torch::nn::Module& m, bool bn_train) {
  for (const auto& child : m.children()) {
    const int state = frozen_state(*child);
    if (state == 1) {
      child->eval();
      if (bn_train) {
        for (const auto& sub : child->modules(/*include_self=*/true)) {
          if (is_batch_norm(*sub)) sub->train();
        }
      }
    } else if (state == 2) {
      set_frozen_children(*child, bn_train);
    }
  }
}

}  // namespace

void apply_frozen_modes(torch::nn::Module& model, bool bn_train) {
  if (!model.is_training()) return;
  model.train();
  set_frozen_children(model, bn_train);
}

std::shared_ptr<FreezePolicy> make_freeze_policy(const FreezeOptions& options, Network& model,
                                                 std::vector<std::string> head_prefixes,
                                                 const std::string& where) {
  if (options.policy == FreezeType::kNone && options.lr_decay == 1.0) return nullptr;
  std::vector<std::string> names;
  for (const auto& p : model.named_parameters()) names.push_back(p.key());
  return std::make_shared<LayerFreeze>(options, names, std::move(head_prefixes), where);
}

}  // namespace strata
