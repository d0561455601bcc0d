#include "finetune/classifier.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "core/errors.h"
#include "models/bert/bert.h"
#include "models/cnn/cnn.h"
#include "models/gpt/gpt.h"

namespace strata::finetune {

ClassifierImpl::ClassifierImpl(std::shared_ptr<Network> base, const HeadOptions& options)
    : base_(std::move(base)), options_(options) {
  // Which of the base's children its features() use, by family.
  std::function<bool(const std::string&)> keep;
  if (dynamic_cast<models::GPTImpl*>(base_.get())) {
    head_name_ = "score";
    keep = [](const std::string& n) { return n == "transformer"; };
  } else if (dynamic_cast<models::BertImpl*>(base_.get())) {
    head_name_ = "classifier";
    keep = [](const std::string& n) { return n == "bert"; };
  } else if (dynamic_cast<models::CNNImpl*>(base_.get())) {
    head_name_ = "classifier";
    keep = [](const std::string& n) { return n.starts_with("conv") || n.starts_with("bn"); };
  } else {
    throw InputError("head: a classification head sits on a gpt, bert or cnn model");
  }
  for (const auto& child : base_->named_children()) {
    if (keep(child.key())) {
      register_module(child.key(), child.value());
      kept_.push_back(child.key());
    } else {
      dropped_.push_back(child.key());
    }
  }
  // BERT's cls.predictions.bias is a parameter of a child module; a CNN has none of its
  // own: nothing registered directly on the base is needed by features().
  for (const auto& p : base_->named_parameters(/*recurse=*/false)) dropped_.push_back(p.key());
  dropout_ = register_module("dropout", torch::nn::Dropout(options_.dropout));
  head_ = register_module(head_name_, torch::nn::Linear(base_->num_features(), options_.num_classes));
}

torch::Tensor ClassifierImpl::features(const Batch& batch, Pooling pooling) {
  if (before_forward_) before_forward_();
  return base_->features(batch, pooling);
}

torch::Tensor ClassifierImpl::forward(const Batch& batch) {
  return head_(dropout_(features(batch, options_.pooling)));
}

void ClassifierImpl::train(bool on) {
  Network::train(on);
  base_->train(on);
}

std::vector<SummaryRow> ClassifierImpl::summary() {
  std::vector<SummaryRow> rows;
  auto row = [&](const std::string& name, torch::nn::Module& m, const std::string& type) {
    SummaryRow r{name, type, "", 0, 0};
    for (const auto& p : m.parameters()) {
      r.params += p.numel();
      if (p.requires_grad()) r.trainable += p.numel();
    }
    rows.push_back(r);
  };
  for (const auto& name : kept_) {
    auto m = named_children()[name];
    // Transformer stacks: one row per block, so frozen and trainable blocks show.
    bool expanded = false;
    for (const auto& sub : m->named_modules(name, /*include_self=*/false)) {
      const std::string& n = sub.key();
      const auto dots = std::count(n.begin(), n.end(), '.');
      const bool block = (n.find(".h.") != std::string::npos || n.find(".layer.") != std::string::npos) &&
                         std::isdigit(static_cast<unsigned char>(n.back())) && dots == (n.find(".encoder.") != std::string::npos ? 3 : 2);
      if (block) {
        row(n, *sub.value(), "Block");
        expanded = true;
      }
    }
    if (!expanded) {
      row(name, *m, "Module");
    } else {
      // What is not in a block (embeddings, final norms, pooler), as one row.
      SummaryRow rest{name + " (other)", "Module", "", 0, 0};
      for (const auto& p : m->named_parameters()) {
        const std::string& n = p.key();
        if (n.find("h.") == 0 || n.find("encoder.layer.") == 0) continue;
        rest.params += p.value().numel();
        if (p.value().requires_grad()) rest.trainable += p.value().numel();
      }
      rows.push_back(rest);
    }
  }
  row(head_name_, *head_, fmt::format("Linear({}, {})", base_->num_features(), options_.num_classes));
  return rows;
}

}  // namespace strata::finetune
