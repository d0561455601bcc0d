#include "finetune/lora.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "core/errors.h"

namespace strata::finetune {

LoRA::LoRA(torch::nn::Module& model, const FreezeOptions& o, const std::vector<std::string>& skip_prefixes)
    : scale_(o.lora_alpha / double(o.lora_rank)) {
  for (const auto& item : model.named_modules()) {
    const std::string& name = item.key();
    auto* linear = dynamic_cast<torch::nn::LinearImpl*>(item.value().get());
    if (linear == nullptr) continue;
    if (std::any_of(skip_prefixes.begin(), skip_prefixes.end(),
                    [&](const std::string& p) { return name.compare(0, p.size(), p) == 0 || name + "." == p; })) {
      continue;
    }
    const std::string last = name.substr(name.rfind('.') == std::string::npos ? 0 : name.rfind('.') + 1);
    if (std::find(o.lora_targets.begin(), o.lora_targets.end(), last) == o.lora_targets.end()) continue;
    torch::Tensor weight = linear->named_parameters(/*recurse=*/false)["weight"];
    const int64_t out = weight.size(0), in = weight.size(1);
    torch::Tensor a = torch::empty({o.lora_rank, in}, weight.options());
    torch::nn::init::kaiming_uniform_(a, std::sqrt(5.0));
    torch::Tensor b = torch::zeros({out, o.lora_rank}, weight.options());
    a = linear->register_parameter("lora_A", a);
    b = linear->register_parameter("lora_B", b);
    adapted_.push_back({linear, weight, a, b});
  }
  if (adapted_.empty()) {
    std::string names;
    for (const auto& t : o.lora_targets) names += (names.empty() ? "" : ", ") + t;
    throw InputError(fmt::format("freeze.targets: no Linear layer of the model is named one of [{}]", names));
  }
}

void LoRA::refresh() {
  for (auto& m : adapted_) m.linear->weight = m.weight + scale_ * torch::mm(m.b, m.a);
}

NamedTensors merge_lora(const NamedTensors& tensors, double scale) {
  std::map<std::string, torch::Tensor> by_name(tensors.begin(), tensors.end());
  const std::string a_suffix = ".lora_A";
  NamedTensors out;
  for (const auto& [name, t] : tensors) {
    if (name.find(".lora_") != std::string::npos) continue;
    torch::Tensor value = t;
    const std::string suffix = ".weight";
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      const std::string base = name.substr(0, name.size() - suffix.size());
      auto a = by_name.find(base + ".lora_A"), b = by_name.find(base + ".lora_B");
      if (a != by_name.end() && b != by_name.end()) value = t + scale * torch::mm(b->second, a->second);
    }
    out.emplace_back(name, value);
  }
  for (const auto& [name, t] : tensors) {
    if (name.size() > a_suffix.size() && name.compare(name.size() - a_suffix.size(), a_suffix.size(), a_suffix) == 0) {
      const std::string base = name.substr(0, name.size() - a_suffix.size());
      if (!by_name.count(base + ".weight") || !by_name.count(base + ".lora_B")) {
        throw InputError(fmt::format("LoRA adapter '{}' has no weight or lora_B to merge into", name));
      }
    }
  }
  return out;
}

}  // namespace strata::finetune
