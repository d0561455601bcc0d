#include "finetune/task_data.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "core/data/subset.h"
#include "core/errors.h"
#include "tasks/evaluate.h"

namespace strata::finetune {

void read_options(config::Reader& r, TaskDataOptions& o) {
  r.required("task", o.task);
  r.read("task_dir", o.task_dir);
  r.read("labels_per_class", o.labels_per_class, config::Range::non_negative());
  r.read("validation", o.validation, config::Range::between(0, 0.9));
  r.read("max_length", o.max_length, config::Range::at_least(2));
  r.read("eval_batch_size", o.eval_batch_size, config::Range::at_least(1));
  r.read("test_limit", o.test_limit, config::Range::non_negative());
}

namespace {

std::vector<TextExample> examples_of(const tasks::Task& task, const std::vector<nlohmann::json>& docs,
                                     const std::string& split, std::vector<std::string>& choices) {
  std::vector<TextExample> out;
  out.reserve(docs.size());
  const bool has_choices = !task.config().doc_to_choice.empty() || !task.config().choice_list.empty();
  for (size_t i = 0; i < docs.size(); ++i) {
    const std::string where = fmt::format("{} document {}", split, i);
    TextExample e;
    e.text = task.doc_to_text(docs[i], where);
    tasks::Target t = task.doc_to_target(docs[i], where);
    if (has_choices) {
      auto c = task.doc_to_choice(docs[i], where);
      if (choices.empty()) choices = c;
      if (c != choices) {
        throw InputError(fmt::format("{}: {} has other choices than the first document; a "
                                     "classification head needs one set of classes",
                                     task.config().file, where));
      }
      e.label = t.index;
    }
    e.target = task.config().target_delimiter + task.target_text(docs[i], where);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

std::pair<torch::Tensor, torch::Tensor> carve_validation(const torch::Tensor& labels,
                                                         const torch::Tensor& index, int64_t num_classes,
                                                         double fraction, uint64_t seed) {
  std::vector<std::vector<int64_t>> by_class(size_t(std::max<int64_t>(num_classes, 0)));
  auto gen = at::detail::createCPUGenerator(seed * 7919ULL + 17);
  auto order = torch::randperm(index.size(0), gen, torch::kLong);
  auto idx = index.to(torch::kLong).contiguous();
  auto lab = labels.to(torch::kLong).contiguous();
  for (int64_t j = 0; j < order.size(0); ++j) {
    const int64_t i = idx[order[j].item<int64_t>()].item<int64_t>();
    const int64_t c = lab[i].item<int64_t>();
    if (c >= 0 && c < num_classes) by_class[size_t(c)].push_back(i);
  }
  std::vector<int64_t> keep, held;
  for (const auto& members : by_class) {
    int64_t n_val = int64_t(double(members.size()) * fraction + 0.5);
    if (fraction > 0 && n_val == 0 && members.size() >= 2) n_val = 1;
    for (size_t j = 0; j < members.size(); ++j) (int64_t(j) < n_val ? held : keep).push_back(members[j]);
  }
  std::sort(keep.begin(), keep.end());
  std::sort(held.begin(), held.end());
  return {torch::tensor(keep, torch::kLong), torch::tensor(held, torch::kLong)};
}

TaskExamples task_examples(const tasks::Task& task, const TaskDataOptions& o, uint64_t seed) {
  const auto& c = task.config();
  if (c.training_split.empty()) {
    throw InputError(fmt::format("{}: fine-tuning needs a training_split", c.file));
  }
  TaskExamples out;
  std::vector<TextExample> train = examples_of(task, task.split(c.training_split), c.training_split, out.choices);
  std::vector<TextExample> test = examples_of(task, task.eval_docs(), task.eval_split(), out.choices);
  if (o.test_limit > 0 && int64_t(test.size()) > o.test_limit) {
    // A seeded sample (the same for every run), not the first documents: a split may be
    // ordered by class.
    auto gen = at::detail::createCPUGenerator(1234);
    auto order = std::get<0>(torch::randperm(int64_t(test.size()), gen, torch::kLong)
                                 .slice(0, 0, o.test_limit)
                                 .sort());
    std::vector<TextExample> kept;
    for (int64_t j = 0; j < order.size(0); ++j) kept.push_back(test[size_t(order[j].item<int64_t>())]);
    test = std::move(kept);
  }
  const int64_t k = int64_t(out.choices.size());
  if (k == 0 && (o.labels_per_class > 0 || o.validation > 0)) {
    throw InputError(fmt::format("{}: labels_per_class and validation need targets that name one "
                                 "of doc_to_choice",
                                 c.file));
  }
  if (k > 0) {
    std::vector<int64_t> labels;
    for (const auto& e : train) labels.push_back(e.label);
    auto label_tensor = torch::tensor(labels, torch::kLong);
    torch::Tensor index = o.labels_per_class > 0
                              ? data::stratified_indices(label_tensor, k, o.labels_per_class, seed)
                              : torch::arange(int64_t(train.size()));
    auto [keep, held] = carve_validation(label_tensor, index, k, o.validation, seed);
    for (int64_t j = 0; j < keep.size(0); ++j) out.train.push_back(train[size_t(keep[j].item<int64_t>())]);
    for (int64_t j = 0; j < held.size(0); ++j) out.validation.push_back(train[size_t(held[j].item<int64_t>())]);
  } else {
    out.train = std::move(train);
  }
  out.test = std::move(test);
  if (out.train.empty()) throw InputError(fmt::format("{}: no training examples", c.file));
  return out;
}

namespace {

Batch pack(const std::vector<std::vector<int>>& inputs, const std::vector<std::vector<int64_t>>& targets,
           const std::vector<int64_t>& labels) {
  const int64_t n = int64_t(inputs.size());
  int64_t t = 1;
  for (const auto& row : inputs) t = std::max<int64_t>(t, int64_t(row.size()));
  auto input = torch::zeros({n, t}, torch::kLong);
  auto mask = torch::zeros({n, t}, torch::kLong);
  auto in = input.accessor<int64_t, 2>();
  auto m = mask.accessor<int64_t, 2>();
  torch::Tensor target;
  if (!targets.empty()) {
    target = torch::full({n, t}, -100, torch::kLong);
    auto tg = target.accessor<int64_t, 2>();
    for (int64_t i = 0; i < n; ++i)
      for (size_t j = 0; j < targets[size_t(i)].size(); ++j) tg[i][int64_t(j)] = targets[size_t(i)][j];
  } else {
    target = torch::tensor(labels, torch::kLong);
  }
  for (int64_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < inputs[size_t(i)].size(); ++j) {
      in[i][int64_t(j)] = inputs[size_t(i)][j];
      m[i][int64_t(j)] = 1;
    }
  }
  return Batch{input, target, {}, mask};
}

}  // namespace

Framing framing(const Tokenizer& tokenizer, const std::string& type) {
  Framing f;
  if (type != "bert") return f;
  const int cls = tokenizer.piece_to_id("[CLS]");
  if (cls != tokenizer.unk_id()) f.first = cls;
  if (tokenizer.kind() == TokenizerKind::kWordPiece) f.last = tokenizer.eos_id();
  return f;
}

Batch classification_rows(const std::vector<TextExample>& examples, const Tokenizer& tokenizer,
                          int64_t max_length, Framing framing) {
  const int64_t room = max_length - (framing.first >= 0) - (framing.last >= 0);
  if (room < 1) throw InputError(fmt::format("data.max_length {} leaves no room for the text", max_length));
  std::vector<std::vector<int>> inputs;
  std::vector<int64_t> labels;
  for (size_t i = 0; i < examples.size(); ++i) {
    if (examples[i].label < 0) {
      throw InputError(fmt::format("example {}: its target names none of the choices", i));
    }
    std::vector<int> text = tokenizer.encode(examples[i].text);
    if (int64_t(text.size()) > room) text.resize(size_t(room));
    std::vector<int> ids;
    if (framing.first >= 0) ids.push_back(framing.first);
    ids.insert(ids.end(), text.begin(), text.end());
    if (framing.last >= 0) ids.push_back(framing.last);
    if (ids.empty()) ids.push_back(0);  // an empty text: one (masked-in) token to pool
    inputs.push_back(std::move(ids));
    labels.push_back(examples[i].label);
  }
  return pack(inputs, {}, labels);
}

Batch prompt_completion_rows(const std::vector<TextExample>& examples, const Tokenizer& tokenizer,
                             int64_t max_length) {
  std::vector<std::vector<int>> inputs;
  std::vector<std::vector<int64_t>> targets;
  const auto codec = tasks::tokenizer_codec(tokenizer);
  for (size_t i = 0; i < examples.size(); ++i) {
    // The pair split as eval scores it (tasks::encode_pair), not the target encoded alone.
    const tasks::EncodedPair pair = tasks::encode_pair(*codec, examples[i].text, examples[i].target);
    std::vector<int> prompt(pair.context.begin(), pair.context.end());
    std::vector<int> target(pair.continuation.begin(), pair.continuation.end());
    if (target.empty()) throw InputError(fmt::format("example {}: the target has no tokens", i));
    if (int64_t(target.size()) > max_length) {
      throw InputError(fmt::format("example {}: the target alone is {} tokens, more than "
                                   "data.max_length {}",
                                   i, target.size(), max_length));
    }
    const int64_t room = max_length + 1 - int64_t(target.size());
    if (int64_t(prompt.size()) > room) prompt.erase(prompt.begin(), prompt.end() - room);
    std::vector<int> seq = prompt;
    seq.insert(seq.end(), target.begin(), target.end());
    // Position j predicts seq[j + 1]; only the target's tokens count.
    std::vector<int> input(seq.begin(), seq.end() - 1);
    std::vector<int64_t> tgt(input.size(), -100);
    for (size_t j = 0; j < input.size(); ++j) {
      if (j + 1 >= prompt.size()) tgt[j] = seq[j + 1];
    }
    if (input.empty()) input.push_back(seq[0]);  // an empty prompt: nothing to predict from
    inputs.push_back(std::move(input));
    targets.push_back(std::move(tgt));
  }
  return pack(inputs, targets, {});
}

}  // namespace strata::finetune
