#include "experiments/finetune.h"

#include <fmt/format.h>

#include <filesystem>
#include <limits>
#include <set>

#include "core/data/fashion_mnist.h"
#include "core/checkpoint.h"
#include "core/data/rows.h"
#include "core/errors.h"
#include "core/freeze.h"
#include "core/log.h"
#include "core/trainer_state.h"
#include "experiments/recipe.h"
#include "finetune/classifier.h"
#include "finetune/lora.h"
#include "finetune/pretrained.h"
#include "finetune/task_data.h"
#include "tasks/task.h"
#include "tasks/task_evaluator.h"

namespace fs = std::filesystem;

namespace strata::experiments {

namespace {

// The test split is scored once, at the end (on the best weights when trainer.best_metric
// is set); the validation split at trainer.eval_every.
constexpr int64_t kAtTheEnd = std::numeric_limits<int64_t>::max() / 2;

enum class HeadType { kClassification, kPromptCompletion };

const config::EnumNames<HeadType>& head_type_names() {
  static const config::EnumNames<HeadType> names = {{"classification", HeadType::kClassification},
                                                    {"prompt_completion", HeadType::kPromptCompletion}};
  return names;
}

const config::EnumNames<Pooling>& pooling_names() {
  static const config::EnumNames<Pooling> names = {{"default", Pooling::kDefault},
                                                   {"first", Pooling::kFirst},
                                                   {"last", Pooling::kLast},
                                                   {"mean", Pooling::kMean}};
  return names;
}

// Every section of a fine-tuning config, read and checked before anything is loaded.
struct FinetunePlan {
  RunPlan plan;  // the sections every run shares (run, optimizer, schedule, trainer, ...)
  finetune::InitOptions init;
  std::string model_type;                  // model.type when given: must match the checkpoint
  std::vector<std::string> model_overrides;  // over the checkpoint's model section
  HeadType head = HeadType::kClassification;
  finetune::HeadOptions head_options;
  bool is_task = false;  // data.task: text; else labelled images
  finetune::TaskDataOptions task;
  double image_validation = 0.0;
  FreezeOptions freeze;
  std::string freeze_where = "freeze";
};

FinetunePlan plan_finetune(const config::Document& doc) {
  FinetunePlan f;
  RunPlan& plan = f.plan;
  plan.doc = &doc;
  config::Reader root = doc.root();
  read_options(root, plan.run);
  finetune::read_options(root.child("init"), f.init);
  {
    config::Reader m = root.child("model");
    m.read("type", f.model_type);
    if (m.has("dropout")) {
      double dropout = 0.0;
      m.read("dropout", dropout, config::Range::between(0, 1));
      f.model_overrides.push_back(fmt::format("dropout={}", dropout));
    }
    m.finish();  // anything else would change the checkpoint's architecture
  }
  {
    config::Reader h = root.child("head");
    h.read_enum("type", f.head, head_type_names());
    h.read_enum("pooling", f.head_options.pooling, pooling_names());
    h.read("dropout", f.head_options.dropout, config::Range::between(0, 1));
    // (Compared with the defaults: a run's resolved config.yaml lists every key.)
    const finetune::HeadOptions defaults;
    const bool pooling = f.head_options.pooling != defaults.pooling, dropout = f.head_options.dropout != defaults.dropout;
    if (f.head == HeadType::kPromptCompletion && (pooling || dropout)) {
      h.fail(pooling ? "pooling" : "dropout", "is for a classification head, not prompt_completion");
    }
    h.finish();
  }
  config::Reader data = root.child("data");
  plan.data_where = data.where();
  f.is_task = data.has("task");
  if (f.is_task) {
    finetune::read_options(data, f.task);
    if (f.head == HeadType::kPromptCompletion && f.task.validation > 0) {
      data.fail("validation", "is for a classification head; prompt_completion scores the test split");
    }
  } else {
    if (f.head == HeadType::kPromptCompletion) {
      data.fail("task", "prompt_completion trains on a task's text: name one with data.task");
    }
    read_options(data, plan.images);
    data.read("validation", f.image_validation, config::Range::between(0, 0.9));
  }
  data.finish();
  if (root.has("freeze")) {
    config::Reader fr = root.child("freeze");
    f.freeze_where = fr.where();
    read_options(fr, f.freeze);
  }
  read_options(root.child("optimizer"), plan.optimizer);
  read_options(root.child("schedule"), plan.schedule);
  read_options(root.child("trainer"), plan.trainer, plan.batch);
  read_options(root.child("distributed"), plan.distributed);
  root.finish();
  return f;
}


}  // namespace

namespace {

// What a fine-tuning run trains: the data, the model under its head (weights not loaded
// yet), the objective and the evaluators.
struct Assembled {
  finetune::PretrainedBase base;
  TrainingData data;
  std::shared_ptr<Network> model;
  std::shared_ptr<Objective> objective;
  std::vector<ScheduledEvaluator> evaluators;
  std::vector<std::string> new_prefixes, dropped_prefixes;
  Batch train_rows;
  std::shared_ptr<finetune::LoRA> lora;  // freeze.policy lora
};

// The base under a new classification head of f.head_options.num_classes classes: the
// model, the head's prefix (fresh weights) and the base's parts the head leaves out.
void attach_classifier(const FinetunePlan& f, Assembled& a) {
  auto classifier = finetune::Classifier(a.base.network, f.head_options);
  a.model = classifier.ptr();
  a.new_prefixes = {classifier->head_prefix()};
  for (const auto& d : classifier->dropped()) a.dropped_prefixes.push_back(d + ".");
  a.dropped_prefixes.insert(a.dropped_prefixes.end(), classifier->dropped().begin(), classifier->dropped().end());
}

// Text fine-tuning (data.task): the task's examples through the checkpoint's tokenizer, under
// a classification head or as prompt-completion pairs.
void assemble_text(FinetunePlan& f, Assembled& a, const torch::Device& device, const data::ShardOptions& shard) {
  const RunPlan& plan = f.plan;
  const uint64_t seed = uint64_t(plan.run.seed);
  if (a.base.tokenizer_path.empty()) {
    throw InputError(fmt::format("init.from: {} has no tokenizer (tokenizer.model or vocab.txt); text "
                                 "fine-tuning needs the checkpoint's tokenizer (or init.tokenizer)",
                                 a.base.checkpoint_dir));
  }
  finetune::check_tokenizer(f.init, a.base);
  auto tokenizer = Tokenizer::load(a.base.tokenizer_path);
  tasks::Task task = tasks::Task::load(tasks::find_task_file(f.task.task, f.task.task_dir));
  finetune::TaskExamples ex = finetune::task_examples(task, f.task, seed);
  const int64_t context = a.base.network->context_length();
  const int64_t max_length = context > 0 ? std::min(f.task.max_length, context) : f.task.max_length;
  if (f.head == HeadType::kPromptCompletion) {
    if (a.base.network->causal_lm() == nullptr) {
      throw InputError(fmt::format("head.type prompt_completion needs a causal LM; init.from is a '{}'",
                                   a.base.type));
    }
    a.model = a.base.network;
    a.objective = std::make_shared<finetune::PromptCompletionObjective>();
    a.train_rows = finetune::prompt_completion_rows(ex.train, tokenizer, max_length);
    tasks::TaskEvalOptions eval;
    eval.tasks = {task.name()};
    eval.num_fewshot = {0};
    eval.limit = f.task.test_limit;
    eval.batch_size = f.task.eval_batch_size;
    eval.seed = seed;
    eval.task_dir = f.task.task_dir;
    eval.loaded = {task};
    a.evaluators.push_back({std::make_shared<tasks::TaskEvaluator>(eval, a.base.tokenizer_path), 0});
  } else {
    if (ex.choices.size() < 2) {
      throw InputError(fmt::format("{}: a classification head needs doc_to_choice with two or more "
                                   "classes",
                                   task.config().file));
    }
    f.head_options.num_classes = int64_t(ex.choices.size());
    attach_classifier(f, a);
    a.objective = std::make_shared<ClassificationObjective>();
    const finetune::Framing framing = finetune::framing(tokenizer, a.base.type);
    const Pooling pooling = f.head_options.pooling;
    if (a.base.type == "bert" && framing.first < 0 && (pooling == Pooling::kDefault || pooling == Pooling::kFirst)) {
      throw InputError(fmt::format(
          "init.from: {} is a BERT, whose head reads position 0 as its [CLS] token, and tokenizer "
          "{} has no [CLS] piece: position 0 would be the text's first word; use a tokenizer "
          "with [CLS], or head.pooling: mean",
          a.base.checkpoint_dir, a.base.tokenizer_path));
    }
    a.train_rows = finetune::classification_rows(ex.train, tokenizer, max_length, framing);
    if (!ex.validation.empty()) {
      Batch v = finetune::classification_rows(ex.validation, tokenizer, max_length, framing);
      a.evaluators.push_back({std::make_shared<ClassificationEvaluator>("validation", v.input, v.target,
                                                                        f.task.eval_batch_size, device,
                                                                        v.attention_mask),
                              0});
    }
    Batch t = finetune::classification_rows(ex.test, tokenizer, max_length, framing);
    auto test = std::make_shared<ClassificationEvaluator>("test", t.input, t.target, f.task.eval_batch_size,
                                                          device, t.attention_mask);
    test->set_per_class(true);
    a.evaluators.push_back({test, kAtTheEnd});
  }
  a.data.train = std::make_shared<data::RowBatches>(a.train_rows, plan.batch.batch_size, seed, shard);
  a.data.tokenizer_path = a.base.tokenizer_path;
  a.data.vocab_size = tokenizer.vocab_size();
  a.data.write_extra = [tokenizer](const std::string& dir) { tokenizer.save_to(dir); };
  a.data.describe = fmt::format("task {}: {} train, {} validation, {} test examples{}", task.name(),
                                ex.train.size(), ex.validation.size(), ex.test.size(),
                                ex.choices.empty() ? "" : fmt::format(", classes {}", fmt::join(ex.choices, "/")));
  a.data.info = {{"task", task.name()},
                 {"train_examples", ex.train.size()},
                 {"validation_examples", ex.validation.size()},
                 {"test_examples", ex.test.size()}};
}

// Image fine-tuning: labelled images under a classification head.
void assemble_images(FinetunePlan& f, Assembled& a, const torch::Device& device, const data::ShardOptions& shard) {
  const RunPlan& plan = f.plan;
  const uint64_t seed = uint64_t(plan.run.seed);
  const ImageDataOptions& o = plan.images;
  auto [train_set, test_set] = image_sets(o, seed);
  const int64_t k = o.classes.empty() ? 10 : int64_t(o.classes.size());
  auto [keep, held] = finetune::carve_validation(train_set.labels, torch::arange(train_set.size()), k,
                                                 f.image_validation, seed);
  auto val_set = data::select(train_set, held);
  train_set = data::select(train_set, keep);
  f.head_options.num_classes = k;
  attach_classifier(f, a);
  a.objective = std::make_shared<ClassificationObjective>(plan.objective.label_smoothing);
  a.data.train = std::make_shared<data::ImageBatches>(train_set, plan.batch.batch_size, seed, nullptr, shard);
  a.train_rows = Batch{data::to_float(train_set.images.narrow(0, 0, std::min<int64_t>(2, train_set.size()))),
                       train_set.labels.narrow(0, 0, std::min<int64_t>(2, train_set.size())), {}, {}};
  if (val_set.size() > 0) {
    a.evaluators.push_back({std::make_shared<ClassificationEvaluator>("validation", data::to_float(val_set.images),
                                                                      val_set.labels, o.eval_batch_size, device),
                            0});
  }
  auto test = std::make_shared<ClassificationEvaluator>("test", data::to_float(test_set.images), test_set.labels,
                                                        o.eval_batch_size, device);
  test->set_per_class(true);
  a.evaluators.push_back({test, kAtTheEnd});
  a.data.describe = fmt::format("{}: {} train, {} validation, {} test images", o.dataset, train_set.size(),
                                val_set.size(), test_set.size());
  a.data.info = {{"train_examples", train_set.size()},
                 {"validation_examples", val_set.size()},
                 {"test_examples", test_set.size()}};
}

Assembled assemble(FinetunePlan& f, const torch::Device& device, const data::ShardOptions& shard) {
  RunPlan& plan = f.plan;
  Assembled a;
  a.base = finetune::load_base(f.init, f.model_overrides, uint64_t(plan.run.seed));
  if (!f.model_type.empty() && f.model_type != a.base.type) {
    throw InputError(fmt::format("{}: model.type '{}' but init.from is a '{}' checkpoint",
                                 plan.doc->file(), f.model_type, a.base.type));
  }
  plan.model_type = a.base.type;
  if (f.is_task) {
    assemble_text(f, a, device, shard);
  } else {
    assemble_images(f, a, device, shard);
  }
  a.data.info["init_from"] = a.base.checkpoint_dir;
  a.data.info["pretrained"] = f.init.pretrained;
  return a;
}

// init.from's weights into the model (or none, from scratch), reported in the log.
void load_pretrained(const FinetunePlan& f, Assembled& a) {
  const auto& base = a.base;
  auto& model = a.model;
  const auto& plan = f.plan;
  if (f.init.pretrained) {
    auto report = finetune::load_by_name(*model, base.tensors, a.new_prefixes, a.dropped_prefixes, f.init.ignore,
                                         base.checkpoint_dir + "/model.safetensors");
    finetune::log_report(report, base.checkpoint_dir);
  } else {
    log::info("from scratch: the architecture (and any tokenizer) of {}, fresh weights (seed {})",
              base.checkpoint_dir, plan.run.seed);
  }
}

// freeze.policy lora: the adapters, added after the pre-trained weights are in (they are
// not in the checkpoint) and recomputed before every forward of the classifier.
void add_lora(const FinetunePlan& f, Assembled& a) {
  if (f.freeze.policy != FreezeType::kLoRA) return;
  auto classifier = std::dynamic_pointer_cast<finetune::ClassifierImpl>(a.model);
  if (!classifier) {
    throw InputError(fmt::format("{}: policy lora needs a classification head (head.type)", f.freeze_where));
  }
  a.lora = std::make_shared<finetune::LoRA>(*a.model, f.freeze, a.new_prefixes);
  classifier->set_before_forward([lora = a.lora] { lora->refresh(); });
  log::info("LoRA: rank {}, alpha {}, on {} Linear layers", f.freeze.lora_rank, f.freeze.lora_alpha,
            a.lora->num_adapters());
}

}  // namespace

nlohmann::json finetune_document(const config::Document& doc) {
  FinetunePlan f = plan_finetune(doc);
  RunContext ctx = start_run(f.plan);
  Assembled a = assemble(f, ctx.device, data::ShardOptions{ctx.env.rank, ctx.env.world});
  load_pretrained(f, a);
  add_lora(f, a);
  check_model_fits(*a.model, a.train_rows, f.plan.model_type, f.plan.data_where);
  auto freeze = make_freeze_policy(f.freeze, *a.model, a.new_prefixes, f.freeze_where);
  return run_training(f.plan, ctx, a.data, a.model, a.objective, a.evaluators, freeze);
}

void check_finetune_document(const config::Document& doc) { plan_finetune(doc); }

std::shared_ptr<Network> finetune_model(const config::Document& doc, const std::string& checkpoint_dir) {
  FinetunePlan f = plan_finetune(doc);
  Assembled a = assemble(f, torch::kCPU, data::ShardOptions{});
  if (checkpoint_dir.empty()) {
    load_pretrained(f, a);
    add_lora(f, a);
    auto freeze = make_freeze_policy(f.freeze, *a.model, a.new_prefixes, f.freeze_where);
    if (freeze) {
      freeze->apply(0, *a.model);
      a.model->train();  // the modes training starts in (summary shows them)
      freeze->set_modes(*a.model);
    }
    return a.model;
  }
  add_lora(f, a);
  CheckpointContents c = load_checkpoint(checkpoint_dir);
  load_model_tensors(*a.model, c.model, checkpoint_dir + "/model.safetensors");
  const TrainerState state = TrainerState::from_json(c.state, checkpoint_dir + "/state.json");
  std::set<std::string> frozen(state.frozen.begin(), state.frozen.end());
  for (auto& p : a.model->named_parameters()) p.value().set_requires_grad(frozen.count(p.key()) == 0);
  return a.model;
}

}  // namespace strata::experiments
