#include "experiments/classical.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/checkpoint.h"
#include "core/data/fashion_mnist.h"
#include "core/data/image_folder.h"
#include "core/data/spam_assassin.h"
#include "core/errors.h"
#include "core/log.h"
#include "models/classic/features.h"
#include "models/classic/learner.h"
#include "models/classic/select.h"
#include "models/rules/rules.h"

namespace fs = std::filesystem;

namespace strata::experiments {

namespace {

struct DataOptions {
  std::string dataset = "fashion_mnist";
  std::vector<std::string> classes;  // empty: all
  int64_t labels_per_class = 0;  // 0: every training example
  int64_t validation = 5000;     // spam_assassin: 500
  int64_t test_per_class = 0;    // 0: the whole test set
  std::string train_dir, test_dir;  // imagefolder
  data::ImageFolderOptions folder{{28, 28}, "grayscale"};
};

void read_options(config::Reader r, DataOptions& o) {
  r.read_choice("dataset", o.dataset, {"fashion_mnist", "imagefolder", "spam_assassin"});
  // About a tenth of spam_assassin's 4,800 training messages.
  if (o.dataset == "spam_assassin") o.validation = 500;
  r.read("classes", o.classes);
  if (o.dataset == "spam_assassin" && !o.classes.empty()) {
    r.fail("classes", "is only for image datasets (spam_assassin's classes are ham and spam)");
  }
  r.read("labels_per_class", o.labels_per_class, config::Range::non_negative());
  r.read("validation", o.validation, config::Range::non_negative());
  r.read("test_per_class", o.test_per_class, config::Range::non_negative());
  if (o.dataset == "imagefolder") {
    r.require("train_dir");
    r.require("test_dir");
    r.read("train_dir", o.train_dir);
    r.read("test_dir", o.test_dir);
    r.read("target_size", o.folder.target_size);
    r.read_choice("color_mode", o.folder.color_mode, {"rgb", "grayscale"});
    // Relative folders are relative to the config file, like a task's data files.
    auto base = fs::path(r.source_file()).parent_path();
    for (auto* dir : {&o.train_dir, &o.test_dir}) {
      if (fs::path(*dir).is_relative() && !fs::exists(*dir)) *dir = (base / *dir).string();
    }
  }
  r.finish();
}

// Examples of an image or a text dataset (one of the two is set), with their labels.
struct LabelledSet {
  torch::Tensor images;            // uint8 [N, C, H, W]
  std::vector<std::string> texts;  // one document each
  torch::Tensor labels;            // int64 [N]
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  classic::Examples examples() const { return {images, texts}; }
};

// The examples at `index` (int64 [M]), in that order.
LabelledSet take(const LabelledSet& s, const torch::Tensor& index) {
  LabelledSet out;
  if (s.images.defined()) out.images = s.images.index_select(0, index);
  out.labels = s.labels.index_select(0, index);
  if (!s.texts.empty()) {
    auto idx = index.contiguous();
    const int64_t* p = idx.data_ptr<int64_t>();
    for (int64_t i = 0; i < idx.numel(); ++i) out.texts.push_back(s.texts[size_t(p[i])]);
  }
  return out;
}

struct Split {
  LabelledSet train, validation, test;
};

std::vector<std::string> all_classes(const DataOptions& o) {
  if (o.dataset == "spam_assassin") return data::spam_assassin_classes();
  return o.dataset == "fashion_mnist" ? data::fashion_mnist_classes()
                                      : data::image_folder_classes(o.train_dir);
}

// The training and test examples, each a stratified subset when the options ask for one.
std::pair<LabelledSet, LabelledSet> load_train_test(const DataOptions& o, uint64_t seed) {
  if (o.dataset == "spam_assassin") {
    auto texts = [&](const std::string& split, int64_t per_class) {
      auto set = data::stratified_subset(data::load_spam_assassin(split), per_class, seed);
      return LabelledSet{{}, std::move(set.texts), set.labels};
    };
    return {texts("train", o.labels_per_class), texts("test", o.test_per_class)};
  }
  auto images = [&](const std::string& split, int64_t per_class) {
    auto set = o.dataset == "fashion_mnist"
                   ? data::load_fashion_mnist(split)
                   : data::load_image_folder(split == "train" ? o.train_dir : o.test_dir, o.folder);
    if (!o.classes.empty()) set = data::only_classes(set, o.classes);
    set = data::stratified_subset(set, per_class, seed);
    return LabelledSet{set.images, {}, set.labels};
  };
  return {images("train", o.labels_per_class), images("test", o.test_per_class)};
}

// Stratified subsets and a seeded validation split, the same for every stage and learner.
Split load_data(const DataOptions& o, uint64_t seed) {
  Split s;
  auto [train, test] = load_train_test(o, seed);
  s.test = std::move(test);
  if (o.validation >= train.size()) {
    throw InputError(fmt::format("data.validation: {} leaves nothing to train on ({} examples)",
                                 o.validation, train.size()));
  }
  auto gen = at::detail::createCPUGenerator(seed ^ 0x9e3779b97f4a7c15ULL);
  auto order = torch::randperm(train.size(), gen, torch::kLong);
  s.validation = take(train, std::get<0>(order.slice(0, 0, o.validation).sort()));
  s.train = take(train, std::get<0>(order.slice(0, o.validation).sort()));
  return s;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

nlohmann::json test_metrics(const torch::Tensor& predicted, const torch::Tensor& labels,
                            const std::vector<std::string>& classes) {
  const double n = double(labels.numel());
  const double acc = classic::accuracy(predicted, labels);
  nlohmann::json per_class = nlohmann::json::object();
  for (size_t c = 0; c < classes.size(); ++c) {
    auto mask = labels == int64_t(c);
    auto count = mask.sum().item<int64_t>();
    if (count > 0) {
      per_class[classes[c]] = predicted.masked_select(mask).eq(int64_t(c)).sum().item<double>() / count;
    }
  }
  return {{"acc", acc}, {"acc_stderr", n > 1 ? std::sqrt(acc * (1 - acc) / (n - 1)) : 0.0},
          {"n", int64_t(n)}, {"per_class", per_class}};
}

void write_json(const std::string& path, const nlohmann::json& j) {
  write_file_atomic(path, j.dump(2) + "\n");
}

// Rebuilds a learner from state.json's {"type", "hyperparameters"} (resume).
std::unique_ptr<classic::Learner> learner_from_state(const nlohmann::json& s, config::Reader& at) {
  std::map<std::string, std::string> values;
  for (auto it = s.at("hyperparameters").begin(); it != s.at("hyperparameters").end(); ++it) {
    values[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
  }
  classic::GridPoint params(values, at);
  return classic::learners().make(s.at("type").get<std::string>(), at.where(), params);
}

}  // namespace

bool is_classical(const std::string& model_type) {
  return model_type == "rules" || model_type == "classic" || model_type == "select";
}

nlohmann::json train_classical(const config::Document& doc, config::Reader& root,
                               const RunOptions& run) {
  // ---- read and check the whole config before any work ----
  DataOptions data_options;
  read_options(root.child("data"), data_options);
  const auto classes = data_options.classes.empty() ? all_classes(data_options) : data_options.classes;

  auto m = root.child("model");
  std::string type;
  m.require("type");
  m.read_choice("type", type, {"rules", "classic", "select"});
  m.require("features");
  auto extractor = classic::make_extractor(m.child("features"));
  std::unique_ptr<classic::Learner> learner;
  std::vector<classic::Candidate> candidates;
  std::optional<rules::RuleClassifier> rule_set;
  bool refit = false, print_means = false;
  if (type == "classic") {
    m.require("learner");
    learner = classic::make_learner(m.child("learner"));
  } else if (type == "select") {
    candidates = classic::read_candidates(m);
    m.read("refit", refit);
  } else {
    if (extractor->names().empty()) {
      m.fail("features", "rules need features named before any data is seen "
                         "(image_measurements, text_measurements)");
    }
    rule_set.emplace(rules::read_rules(m, extractor->names(), classes));
    m.read("print_class_means", print_means);
  }
  m.finish();
  root.finish();

  const std::string out = run.out_dir;
  fs::create_directories(out);
  write_file_atomic(out + "/config.yaml", doc.resolved_yaml());
  // Resuming a finished fit: the checkpoint's model is scored again instead of refitted.
  const std::string resume_from = run.resume ? latest_checkpoint(out) : "";
  nlohmann::json saved;
  if (!resume_from.empty()) {
    std::ifstream in(resume_from + "/state.json");
    saved = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (saved.is_discarded() || !saved.contains("step") || saved.value("model", "") != type) {
      throw InputError(fmt::format("{}/state.json: missing, damaged or not a '{}' model",
                                   resume_from, type));
    }
  }
  MetricsWriter metrics(out + "/metrics.jsonl",
                        saved.is_null() ? -1 : saved["step"].get<int64_t>() - 1);

  // ---- data and features ----
  auto t0 = std::chrono::steady_clock::now();
  Split split = load_data(data_options, uint64_t(run.seed));
  const int64_t K = int64_t(classes.size());
  log::info("data: {} train, {} validation, {} test examples, {} classes ({:.1f}s)",
            split.train.size(), split.validation.size(), split.test.size(), K, seconds_since(t0));
  t0 = std::chrono::steady_clock::now();
  extractor->fit(split.train.examples());
  auto x_train = extractor->transform(split.train.examples());
  auto x_val = extractor->transform(split.validation.examples());
  auto x_test = extractor->transform(split.test.examples());
  const double feature_s = seconds_since(t0);
  log::info("features: {} ({} per example) in {:.1f}s", extractor->type(), x_train.size(1), feature_s);

  nlohmann::json results = {
      {"model", type},
      {"stage", type == "rules" ? 1 : 2},
      {"dataset", data_options.dataset},
      {"classes", classes},
      {"who_extracts_features", "a person"},
      {"who_decides", type == "rules" ? "a person" : "the machine"},
      {"features", {{"type", extractor->type()}, {"dim", x_train.size(1)}, {"seconds", feature_s}}},
      {"train_examples", split.train.size()},
      {"validation_examples", split.validation.size()},
      {"labelled_examples", type == "rules" ? 0 : split.train.size() + split.validation.size()},
      {"seed", run.seed}};

  // ---- fit, select or (rules) only score ----
  torch::Tensor test_pred;
  int64_t step = 1;
  nlohmann::json state = {{"model", type}, {"classes", classes},
                          {"features", {{"type", extractor->type()}, {"state", extractor->state()}}}};
  std::function<void(const std::string&)> write_model;
  if (type == "rules") {
    if (print_means) {
      log::info("training-set mean of each feature per class:\n{}",
                rules::class_means_table(x_train, split.train.labels, extractor->names(), classes));
    }
    t0 = std::chrono::steady_clock::now();
    auto decided = rule_set->decided_by(x_test);
    test_pred = rule_set->predict(x_test);
    results["predict_seconds"] = seconds_since(t0);
    results["fit_seconds"] = 0.0;
    const double val_acc = classic::accuracy(rule_set->predict(x_val), split.validation.labels);
    results["validation"] = {{"acc", val_acc}};
    // How many test examples each rule decided, and how often it was right.
    nlohmann::json table = nlohmann::json::array();
    std::string lines;
    const auto& rs = rule_set->rules();
    for (size_t r = 0; r <= rs.size(); ++r) {
      auto mask = decided == int64_t(r);
      int64_t n = mask.sum().item<int64_t>();
      double right = n ? test_pred.masked_select(mask).eq(split.test.labels.masked_select(mask))
                             .sum().item<double>() / double(n)
                       : 0.0;
      std::string cond = r < rs.size() ? rs[r].condition : "(default)";
      std::string label = r < rs.size() ? rs[r].label : rule_set->default_label();
      table.push_back({{"if", cond}, {"then", label}, {"decided", n}, {"precision", right}});
      lines += fmt::format("  {:>5}  {:>6.3f}  {:<12} {}\n", n, right, label, cond);
    }
    results["rules"] = table;
    log::info("rules on the test set (examples decided, precision, class, condition):\n{}", lines);
    metrics.write({{"step", step}, {"eval/validation/acc", val_acc}});
  } else {
    bool loaded = false;
    if (!saved.is_null()) {
      if (!saved.contains("learner")) {
        throw InputError(fmt::format("{}/state.json: no learner recorded", resume_from));
      }
      learner = learner_from_state(saved.at("learner"), m);
      learner->load(resume_from + "/model." + learner->format());
      step = saved["step"].get<int64_t>();
      log::info("resumed: loaded {} from {}", learner->type(), resume_from);
      loaded = true;
    }
    if (type == "select" && !loaded) {
      log::info("trying {} candidates on {} training examples, scored on {} validation examples",
                candidates.size(), split.train.size(), split.validation.size());
      auto selection = classic::select(
          std::move(candidates), x_train, split.train.labels, x_val, split.validation.labels, K,
          uint64_t(run.seed), [&](size_t i, const classic::SelectionRow& row) {
            log::info("  [{}] {} {}: val acc {:.4f} (fit {:.1f}s)", i + 1, row.learner, row.params,
                      row.validation_acc, row.fit_s);
            metrics.write({{"step", int64_t(i + 1)}, {"learner", row.learner},
                           {"params", row.params}, {"fit_s", row.fit_s},
                           {"eval/validation/acc", row.validation_acc}});
          });
      log::info("model selection (validation accuracy):\n{}", classic::format_table(selection));
      nlohmann::json table = nlohmann::json::array();
      for (const auto& row : selection.table) {
        table.push_back({{"learner", row.learner}, {"params", row.params},
                         {"validation_acc", row.validation_acc}, {"fit_s", row.fit_s},
                         {"predict_s", row.predict_s}});
      }
      results["selection"] = table;
      results["validation"] = {{"acc", selection.table[selection.best].validation_acc}};
      results["fit_seconds"] = selection.table[selection.best].fit_s;
      learner = std::move(selection.model);
      step = int64_t(selection.table.size()) + 1;
      if (refit) {
        log::info("refitting {} on training + validation examples", learner->type());
        t0 = std::chrono::steady_clock::now();
        learner->fit(torch::cat({x_train, x_val}),
                     torch::cat({split.train.labels, split.validation.labels}), K,
                     uint64_t(run.seed));
        results["fit_seconds"] = seconds_since(t0);
      }
    } else if (!loaded) {
      log::info("fitting {} ({}) on {} examples", learner->type(),
                classic::describe(learner->hyperparameters()), split.train.size());
      t0 = std::chrono::steady_clock::now();
      learner->fit(x_train, split.train.labels, K, uint64_t(run.seed));
      const double fit_s = seconds_since(t0);
      results["fit_seconds"] = fit_s;
      log::info("fitted in {:.1f}s", fit_s);
      if (split.validation.size() > 0) {
        results["validation"] = {{"acc", classic::accuracy(learner->predict(x_val),
                                                           split.validation.labels)}};
      }
    }
    t0 = std::chrono::steady_clock::now();
    test_pred = learner->predict(x_test);
    results["predict_seconds"] = seconds_since(t0);
    results["learner"] = {{"type", learner->type()}, {"hyperparameters", learner->hyperparameters()}};
    state["learner"] = results["learner"];
    classic::Learner* fitted = learner.get();
    write_model = [fitted](const std::string& dir) { fitted->save(dir + "/model." + fitted->format()); };
  }

  results["test"] = test_metrics(test_pred, split.test.labels, classes);
  const double acc = results["test"]["acc"].get<double>();
  // The neural runs' layout too (experiments/train.cpp), so one reader serves both.
  results["split"] = "test";
  results["results"] = {{"eval/" + data_options.dataset + "/acc", acc},
                        {"eval/" + data_options.dataset + "/acc_stderr", results["test"]["acc_stderr"]}};
  log::info("test accuracy: {:.4f} on {} examples", acc, split.test.size());

  nlohmann::json row = {{"step", step}, {"eval/test/acc", acc}};
  if (results.contains("validation")) row["eval/validation/acc"] = results["validation"]["acc"];
  if (results.contains("fit_seconds") && results["fit_seconds"].get<double>() > 0) {
    row["fit_s"] = results["fit_seconds"];
    row["examples_per_s"] = double(split.train.size()) / results["fit_seconds"].get<double>();
  }
  metrics.write(row);

  state["step"] = step;
  state["metrics"] = row;
  CheckpointContents contents;
  contents.state = state;
  contents.config_yaml = doc.resolved_yaml();
  contents.write_extra = write_model;
  Checkpointer checkpointer(out, /*keep_last=*/1);
  results["checkpoint"] = checkpointer.save(step, contents);
  write_json(out + "/results.json", results);
  return results;
}

}  // namespace strata::experiments
