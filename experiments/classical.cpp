#include "experiments/classical.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>

#include "core/checkpoint.h"
#include "core/clock.h"
#include "core/data/fashion_mnist.h"
#include "core/data/image_folder.h"
#include "core/data/spam_assassin.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/registry.h"
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

// ---- datasets: one small loader per `data.dataset` -------------------------------------

// A dataset's classes, and a split's examples (a stratified subset when per_class > 0).
struct Dataset {
  std::function<std::vector<std::string>(const DataOptions&)> classes;
  std::function<LabelledSet(const DataOptions&, const std::string& split, int64_t per_class,
                            uint64_t seed)>
      load;
};

LabelledSet image_subset(data::ImageSet set, const DataOptions& o, int64_t per_class,
                         uint64_t seed) {
  if (!o.classes.empty()) set = data::only_classes(set, o.classes);
  set = data::stratified_subset(set, per_class, seed);
  return LabelledSet{set.images, {}, set.labels};
}

Dataset fashion_mnist_dataset() {
  return {[](const DataOptions&) { return data::fashion_mnist_classes(); },
          [](const DataOptions& o, const std::string& split, int64_t per_class, uint64_t seed) {
            return image_subset(data::load_fashion_mnist(split), o, per_class, seed);
          }};
}

Dataset image_folder_dataset() {
  return {[](const DataOptions& o) { return data::image_folder_classes(o.train_dir); },
          [](const DataOptions& o, const std::string& split, int64_t per_class, uint64_t seed) {
            const std::string& dir = split == "train" ? o.train_dir : o.test_dir;
            data::ImageFolderOptions folder = o.folder;
            // Labels by the training split's class names, whatever folders the split has.
            folder.classes = data::image_folder_classes(o.train_dir);
            return image_subset(data::load_image_folder(dir, folder), o, per_class, seed);
          }};
}

Dataset spam_assassin_dataset() {
  return {[](const DataOptions&) { return data::spam_assassin_classes(); },
          [](const DataOptions&, const std::string& split, int64_t per_class, uint64_t seed) {
            auto set = data::stratified_subset(data::load_spam_assassin(split), per_class, seed);
            return LabelledSet{{}, std::move(set.texts), set.labels};
          }};
}

const Registry<Dataset()>& datasets() {
  static const Registry<Dataset()> registry = [] {
    Registry<Dataset()> r("dataset");
    r.add("fashion_mnist", fashion_mnist_dataset);
    r.add("imagefolder", image_folder_dataset);
    r.add("spam_assassin", spam_assassin_dataset);
    return r;
  }();
  return registry;
}

void read_options(config::Reader r, DataOptions& o) {
  r.read_choice("dataset", o.dataset, datasets().names());
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

// Stratified subsets and a seeded validation split, the same for every stage and learner.
Split load_data(const DataOptions& o, uint64_t seed) {
  const Dataset dataset = datasets().make(o.dataset, "data.dataset");
  Split s;
  LabelledSet train = dataset.load(o, "train", o.labels_per_class, seed);
  s.test = dataset.load(o, "test", o.test_per_class, seed);
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

// ---- models: one small class per `model.type` ------------------------------------------

// The features of each split, and what a model reports into.
struct FitContext {
  torch::Tensor x_train, x_val, x_test;
  const Split* split = nullptr;
  int64_t num_classes = 0;
  std::vector<std::string> classes;
  std::string data_where;  // "file.yaml:3" of the data section, for messages
  uint64_t seed = 0;
  MetricsWriter* metrics = nullptr;
  nlohmann::json* results = nullptr;
  nlohmann::json saved;     // state.json of the checkpoint a resume starts from; null: none
  std::string resume_from;  // that checkpoint's directory
  config::Reader* model_section = nullptr;
};

// Stage 1 or 2's decider, read from `model:` before any data is loaded.
class ClassicalModel {
 public:
  virtual ~ClassicalModel() = default;
  // Fits (rules: only scores) and returns the predicted test labels and the run's step.
  virtual std::pair<torch::Tensor, int64_t> fit_predict(FitContext& c) = 0;
  // The fitted learner to checkpoint; null for rules (they live in config.yaml).
  virtual classic::Learner* fitted() { return nullptr; }
  // Stage 1 (a person decides, through rules) or stage 2 (a learner decides).
  virtual int stage() const { return 2; }
};

using ClassicalModels = Registry<std::unique_ptr<ClassicalModel>(
    config::Reader&, const classic::FeatureExtractor&, const std::vector<std::string>&)>;

// Rebuilds a learner from state.json's {"type", "hyperparameters"} (resume).
std::unique_ptr<classic::Learner> learner_from_state(const nlohmann::json& s, config::Reader& at) {
  std::map<std::string, std::string> values;
  for (auto it = s.at("hyperparameters").begin(); it != s.at("hyperparameters").end(); ++it) {
    values[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
  }
  classic::GridPoint params(values, at);
  return classic::learners().make(s.at("type").get<std::string>(), at.where(), params);
}

// `rules`: a person's rules over named features, only scored.
class RulesModel : public ClassicalModel {
 public:
  RulesModel(config::Reader& m, const classic::FeatureExtractor& extractor,
             const std::vector<std::string>& classes)
      : names_(extractor.names()), classes_(classes) {
    if (names_.empty()) {
      m.fail("features", "rules need features named before any data is seen "
                         "(image_measurements, text_measurements)");
    }
    rules_.emplace(rules::read_rules(m, names_, classes));
    m.read("print_class_means", print_means_);
  }

  int stage() const override { return 1; }

  std::pair<torch::Tensor, int64_t> fit_predict(FitContext& c) override {
    const Split& split = *c.split;
    if (print_means_) {
      log::info("training-set mean of each feature per class:\n{}",
                rules::class_means_table(c.x_train, split.train.labels, names_, classes_));
    }
    auto t0 = std::chrono::steady_clock::now();
    auto decided = rules_->decided_by(c.x_test);
    torch::Tensor predicted = rules_->predict(c.x_test);
    nlohmann::json& results = *c.results;
    results["predict_seconds"] = seconds_since(t0);
    results["fit_seconds"] = 0.0;
    const double val_acc = classic::accuracy(rules_->predict(c.x_val), split.validation.labels);
    results["validation"] = {{"acc", val_acc}};
    results["rules"] = rule_table(decided, predicted, split.test.labels);
    c.metrics->write({{"step", 1}, {"eval/validation/acc", val_acc}});
    return {predicted, 1};
  }

 private:
  // How many test examples each rule decided, and how often it was right; also logged.
  nlohmann::json rule_table(const torch::Tensor& decided, const torch::Tensor& predicted,
                            const torch::Tensor& labels) const {
    nlohmann::json table = nlohmann::json::array();
    std::string lines;
    const auto& rs = rules_->rules();
    for (size_t r = 0; r <= rs.size(); ++r) {
      auto mask = decided == int64_t(r);
      int64_t n = mask.sum().item<int64_t>();
      double right = n ? predicted.masked_select(mask).eq(labels.masked_select(mask))
                                 .sum().item<double>() / double(n)
                       : 0.0;
      std::string cond = r < rs.size() ? rs[r].condition : "(default)";
      std::string label = r < rs.size() ? rs[r].label : rules_->default_label();
      table.push_back({{"if", cond}, {"then", label}, {"decided", n}, {"precision", right}});
      lines += fmt::format("  {:>5}  {:>6.3f}  {:<12} {}\n", n, right, label, cond);
    }
    log::info("rules on the test set (examples decided, precision, class, condition):\n{}", lines);
    return table;
  }

  std::vector<std::string> names_, classes_;
  std::optional<rules::RuleClassifier> rules_;
  bool print_means_ = false;
};

// What `classic` and `select` share: a learner that is fitted, or loaded on resume, then
// predicts the test set.
class LearnerModel : public ClassicalModel {
 public:
  std::pair<torch::Tensor, int64_t> fit_predict(FitContext& c) override {
    int64_t step = 1;
    if (!c.saved.is_null()) {
      if (!c.saved.contains("learner")) {
        throw InputError(fmt::format("{}/state.json: no learner recorded", c.resume_from));
      }
      learner_ = learner_from_state(c.saved.at("learner"), *c.model_section);
      learner_->load(c.resume_from + "/model." + learner_->format());
      step = c.saved["step"].get<int64_t>();
      log::info("resumed: loaded {} from {}", learner_->type(), c.resume_from);
    } else {
      require_two_classes(c);
      step = fit(c);
    }
    nlohmann::json& results = *c.results;
    auto t0 = std::chrono::steady_clock::now();
    torch::Tensor predicted = learner_->predict(c.x_test);
    results["predict_seconds"] = seconds_since(t0);
    results["learner"] = {{"type", learner_->type()},
                          {"hyperparameters", learner_->hyperparameters()}};
    return {predicted, step};
  }
  classic::Learner* fitted() override { return learner_.get(); }

 protected:
  // Every learner, not only the ones whose library checks: liblinear's solvers index a
  // second class that is not there, and the trees quietly predict the one they saw.
  static void require_two_classes(const FitContext& c) {
    auto present = std::get<0>(at::_unique(c.split->train.labels));
    if (present.numel() >= 2) return;
    const std::string name =
        present.numel() == 1 ? c.classes.at(size_t(present[0].item<int64_t>())) : "";
    throw InputError(fmt::format(
        "{}: the training examples hold {} class{}; a classifier needs at least two",
        c.data_where, present.numel(), present.numel() == 1 ? " ('" + name + "')" : "es"));
  }

  // Fits learner_; returns the run's step.
  virtual int64_t fit(FitContext& c) = 0;
  std::unique_ptr<classic::Learner> learner_;
};

// `classic`: one learner with its hyperparameters.
class SingleLearnerModel : public LearnerModel {
 public:
  SingleLearnerModel(config::Reader& m, const classic::FeatureExtractor&,
                     const std::vector<std::string>&) {
    m.require("learner");
    learner_ = classic::make_learner(m.child("learner"));
  }

 protected:
  int64_t fit(FitContext& c) override {
    const Split& split = *c.split;
    log::info("fitting {} ({}) on {} examples", learner_->type(),
              classic::describe(learner_->hyperparameters()), split.train.size());
    auto t0 = std::chrono::steady_clock::now();
    learner_->fit(c.x_train, split.train.labels, c.num_classes, c.seed);
    const double fit_s = seconds_since(t0);
    (*c.results)["fit_seconds"] = fit_s;
    log::info("fitted in {:.1f}s", fit_s);
    if (split.validation.size() > 0) {
      (*c.results)["validation"] = {
          {"acc", classic::accuracy(learner_->predict(c.x_val), split.validation.labels)}};
    }
    return 1;
  }
};

// `select`: try-and-error model selection among candidates on the validation split.
class SelectModel : public LearnerModel {
 public:
  SelectModel(config::Reader& m, const classic::FeatureExtractor&, const std::vector<std::string>&)
      : candidates_(classic::read_candidates(m)) {
    m.read("refit", refit_);
  }

 protected:
  int64_t fit(FitContext& c) override {
    const Split& split = *c.split;
    log::info("trying {} candidates on {} training examples, scored on {} validation examples",
              candidates_.size(), split.train.size(), split.validation.size());
    auto selection = classic::select(
        std::move(candidates_), c.x_train, split.train.labels, c.x_val, split.validation.labels,
        c.num_classes, c.seed, [&](size_t i, const classic::SelectionRow& row) {
          log::info("  [{}] {} {}: val acc {:.4f} (fit {:.1f}s)", i + 1, row.learner, row.params,
                    row.validation_acc, row.fit_s);
          c.metrics->write({{"step", int64_t(i + 1)}, {"learner", row.learner},
                            {"params", row.params}, {"fit_s", row.fit_s},
                            {"eval/validation/acc", row.validation_acc}});
        });
    log::info("model selection (validation accuracy):\n{}", classic::format_table(selection));
    nlohmann::json& results = *c.results;
    nlohmann::json table = nlohmann::json::array();
    for (const auto& row : selection.table) {
      table.push_back({{"learner", row.learner}, {"params", row.params},
                       {"validation_acc", row.validation_acc}, {"fit_s", row.fit_s},
                       {"predict_s", row.predict_s}});
    }
    results["selection"] = table;
    results["validation"] = {{"acc", selection.table[selection.best].validation_acc}};
    results["fit_seconds"] = selection.table[selection.best].fit_s;
    learner_ = std::move(selection.model);
    if (refit_) {
      log::info("refitting {} on training + validation examples", learner_->type());
      auto t0 = std::chrono::steady_clock::now();
      learner_->fit(torch::cat({c.x_train, c.x_val}),
                    torch::cat({split.train.labels, split.validation.labels}), c.num_classes,
                    c.seed);
      results["fit_seconds"] = seconds_since(t0);
    }
    return int64_t(selection.table.size()) + 1;
  }

 private:
  std::vector<classic::Candidate> candidates_;
  bool refit_ = false;
};

template <class Model>
std::unique_ptr<ClassicalModel> make_model(config::Reader& m, const classic::FeatureExtractor& e,
                                     const std::vector<std::string>& classes) {
  return std::make_unique<Model>(m, e, classes);
}

const ClassicalModels& classical_models() {
  static const ClassicalModels registry = [] {
    ClassicalModels r("classical model type");
    r.add("rules", make_model<RulesModel>);
    r.add("classic", make_model<SingleLearnerModel>);
    r.add("select", make_model<SelectModel>);
    return r;
  }();
  return registry;
}

// ---- the run ----------------------------------------------------------------------------

// The checkpoint a resume starts from (its state.json), or null when there is none.
nlohmann::json saved_state(const std::string& resume_from, const std::string& type) {
  if (resume_from.empty()) return nullptr;
  std::ifstream in(resume_from + "/state.json");
  auto saved = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (saved.is_discarded() || !saved.contains("step") || saved.value("model", "") != type) {
    throw InputError(
        fmt::format("{}/state.json: missing, damaged or not a '{}' model", resume_from, type));
  }
  return saved;
}

// What results.json says of every stage 1-2 run, before the model has run.
nlohmann::json base_results(const std::string& type, int stage, const DataOptions& data,
                            const std::vector<std::string>& classes,
                            const classic::FeatureExtractor& extractor, int64_t dim,
                            double feature_s, const Split& split, int64_t seed) {
  const bool rules = stage == 1;
  return {{"model", type},
          {"stage", stage},
          {"dataset", data.dataset},
          {"classes", classes},
          {"who_extracts_features", "a person"},
          {"who_decides", rules ? "a person" : "the machine"},
          {"features", {{"type", extractor.type()}, {"dim", dim}, {"seconds", feature_s}}},
          {"train_examples", split.train.size()},
          {"validation_examples", split.validation.size()},
          {"labelled_examples", rules ? 0 : split.train.size() + split.validation.size()},
          {"seed", seed}};
}

// Test metrics into results (both layouts) and the run's last metrics row.
nlohmann::json score_test(nlohmann::json& results, const torch::Tensor& predicted,
                          const Split& split, const std::vector<std::string>& classes,
                          const std::string& dataset, int64_t step) {
  results["test"] = test_metrics(predicted, split.test.labels, classes);
  const double acc = results["test"]["acc"].get<double>();
  // The neural runs' layout too (experiments/train.cpp), so one reader serves both.
  results["split"] = "test";
  results["results"] = {{"eval/" + dataset + "/acc", acc},
                        {"eval/" + dataset + "/acc_stderr", results["test"]["acc_stderr"]}};
  log::info("test accuracy: {:.4f} on {} examples", acc, split.test.size());
  nlohmann::json row = {{"step", step}, {"eval/test/acc", acc}};
  if (results.contains("validation")) row["eval/validation/acc"] = results["validation"]["acc"];
  if (results.contains("fit_seconds") && results["fit_seconds"].get<double>() > 0) {
    row["fit_s"] = results["fit_seconds"];
    row["examples_per_s"] = double(split.train.size()) / results["fit_seconds"].get<double>();
  }
  return row;
}

}  // namespace

bool is_classical(const std::string& model_type) {
  return classical_models().contains(model_type);
}

nlohmann::json train_classical(const config::Document& doc) {
  config::Reader root = doc.root();
  RunOptions run;
  read_options(root, run);
  log_run_setup(run, setup_run(run));
  prepare_run_dir(run);
  return train_classical(doc, root, run);
}

nlohmann::json train_classical(const config::Document& doc, config::Reader& root,
                               const RunOptions& run) {
  // Read and check the whole config before any work.
  DataOptions data_options;
  read_options(root.child("data"), data_options);
  const auto classes = data_options.classes.empty()
                           ? datasets().make(data_options.dataset, "data.dataset").classes(data_options)
                           : data_options.classes;
  auto m = root.child("model");
  std::string type;
  m.require("type");
  m.read_choice("type", type, classical_models().names());
  m.require("features");
  auto extractor = classic::make_extractor(m.child("features"));
  auto model = classical_models().make(type, m.where("type"), m, *extractor, classes);
  m.finish();
  root.finish();

  const std::string out = run.out_dir;
  fs::create_directories(out);
  write_file_atomic(out + "/config.yaml", doc.resolved_yaml());
  // Resuming a finished fit: the checkpoint's model is scored again instead of refitted.
  FitContext c;
  c.resume_from = run.resume ? latest_checkpoint(out) : "";
  c.saved = saved_state(c.resume_from, type);
  MetricsWriter metrics(out + "/metrics.jsonl",
                        c.saved.is_null() ? -1 : c.saved["step"].get<int64_t>() - 1);

  auto t0 = std::chrono::steady_clock::now();
  Split split = load_data(data_options, uint64_t(run.seed));
  log::info("data: {} train, {} validation, {} test examples, {} classes ({:.1f}s)",
            split.train.size(), split.validation.size(), split.test.size(), classes.size(),
            seconds_since(t0));
  t0 = std::chrono::steady_clock::now();
  extractor->fit(split.train.examples());
  c.x_train = extractor->transform(split.train.examples());
  c.x_val = extractor->transform(split.validation.examples());
  c.x_test = extractor->transform(split.test.examples());
  const double feature_s = seconds_since(t0);
  log::info("features: {} ({} per example) in {:.1f}s", extractor->type(), c.x_train.size(1),
            feature_s);

  nlohmann::json results = base_results(type, model->stage(), data_options, classes, *extractor,
                                        c.x_train.size(1), feature_s, split, run.seed);
  c.split = &split;
  c.num_classes = int64_t(classes.size());
  c.classes = classes;
  c.data_where = root.child("data").where();
  c.seed = uint64_t(run.seed);
  c.metrics = &metrics;
  c.results = &results;
  c.model_section = &m;
  auto [predicted, step] = model->fit_predict(c);
  nlohmann::json row = score_test(results, predicted, split, classes, data_options.dataset, step);
  metrics.write(row);

  nlohmann::json state = {{"model", type}, {"classes", classes}, {"step", step}, {"metrics", row},
                          {"features", {{"type", extractor->type()}, {"state", extractor->state()}}}};
  CheckpointContents contents;
  contents.config_yaml = doc.resolved_yaml();
  if (classic::Learner* fitted = model->fitted()) {
    state["learner"] = results["learner"];
    contents.write_extra = [fitted](const std::string& dir) {
      fitted->save(dir + "/model." + fitted->format());
    };
  }
  contents.state = state;
  Checkpointer checkpointer(out, /*keep_last=*/1);
  results["checkpoint"] = checkpointer.save(step, contents);
  write_file_atomic(out + "/results.json", results.dump(2) + "\n");
  return results;
}

}  // namespace strata::experiments
