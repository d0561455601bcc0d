#include "experiments/train.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include "core/checkpoint.h"
#include "core/data/fashion_mnist.h"
#include "core/data/loader.h"
#include "core/distributed.h"
#include "core/errors.h"
#include "core/evaluator.h"
#include "core/log.h"
#include "core/objectives.h"
#include "core/run.h"
#include "core/trainer.h"
#include "models/registry.h"

namespace strata::experiments {

namespace {

// ---- options readers (the config layer) -------------------------------------------------

void read_options(config::Reader r, TrainerOptions& o, int64_t& batch_size) {
  r.read("batch_size", batch_size, config::Range::at_least(1));
  r.read("max_steps", o.max_steps, config::Range::non_negative());
  r.read("epochs", o.epochs, config::Range::non_negative());
  r.read("grad_accum", o.grad_accum, config::Range::at_least(1));
  r.read("clip", o.clip, config::Range::non_negative());
  r.read("log_every", o.log_every, config::Range::at_least(1));
  r.read("eval_every", o.eval_every, config::Range::non_negative());
  r.read("checkpoint_every", o.checkpoint_every, config::Range::non_negative());
  r.read("keep_last", o.keep_last, config::Range::non_negative());
  r.finish();
}

void read_options(config::Reader r, OptimizerOptions& o) {
  r.read_choice("type", o.type, {"adam", "adamw", "sgd"});
  r.read("lr", o.lr, config::Range::positive());
  r.read("betas", o.betas);
  if (o.betas.size() != 2 || o.betas[0] < 0 || o.betas[0] >= 1 || o.betas[1] < 0 ||
      o.betas[1] >= 1) {
    r.fail("betas", "must be two numbers in [0, 1), as in [0.9, 0.95]");
  }
  r.read("eps", o.eps, config::Range::positive());
  r.read("weight_decay", o.weight_decay, config::Range::non_negative());
  r.read("momentum", o.momentum, config::Range::between(0, 1));
  r.read("no_decay", o.no_decay);
  r.finish();
}

void read_options(config::Reader r, ScheduleOptions& o) {
  r.read_choice("type", o.type, {"constant", "cosine", "linear"});
  r.read("warmup_steps", o.warmup_steps, config::Range::non_negative());
  r.read("min_lr_ratio", o.min_lr_ratio, config::Range::between(0, 1));
  r.finish();
}

// Labelled images for a classifier: a built-in dataset with optional subsets.
struct ImageDataOptions {
  std::string dataset = "fashion_mnist";
  std::vector<std::string> classes;  // empty: all
  int64_t labels_per_class = 0;      // 0: all
  int64_t eval_batch_size = 1000;
};

void read_options(config::Reader r, ImageDataOptions& o) {
  r.read_choice("dataset", o.dataset, {"fashion_mnist"});
  r.read("classes", o.classes);
  r.read("labels_per_class", o.labels_per_class, config::Range::non_negative());
  r.read("eval_batch_size", o.eval_batch_size, config::Range::at_least(1));
  r.finish();
}

struct ObjectiveOptions {
  std::string type = "classification";
  double label_smoothing = 0.0;
};

void read_options(config::Reader r, ObjectiveOptions& o) {
  r.read_choice("type", o.type, {"classification"});
  r.read("label_smoothing", o.label_smoothing, config::Range::between(0, 1));
  r.finish();
}

void write_json(const std::string& path, const nlohmann::json& j) {
  write_file_atomic(path, j.dump(2) + "\n");
}

}  // namespace

nlohmann::json train_document(const config::Document& doc) {
  config::Reader root = doc.root();
  RunOptions run;
  read_options(root, run);
  const torch::Device device = setup_run(run);  // seeds before the model is initialised

  config::Reader model_section = root.child("model");
  std::string type;
  model_section.required("type", type);
  std::shared_ptr<Network> model =
      models::networks().make(type, model_section.where("type"), model_section);

  ImageDataOptions data_options;
  read_options(root.child("data"), data_options);
  ObjectiveOptions objective_options;
  read_options(root.child("objective"), objective_options);
  OptimizerOptions optimizer_options;
  read_options(root.child("optimizer"), optimizer_options);
  ScheduleOptions schedule_options;
  read_options(root.child("schedule"), schedule_options);
  TrainerOptions trainer_options;
  int64_t batch_size = 64;
  read_options(root.child("trainer"), trainer_options, batch_size);
  root.finish();

  // Data (a missing data file is bad input too, and found before out_dir is touched).
  auto train_set = data::load_fashion_mnist("train");
  auto test_set = data::load_fashion_mnist("test");
  if (!data_options.classes.empty()) {
    train_set = data::only_classes(train_set, data_options.classes);
    test_set = data::only_classes(test_set, data_options.classes);
  }
  train_set = data::stratified_subset(train_set, data_options.labels_per_class, run.seed);

  const DistributedEnv env = distributed_env();
  const bool rank0 = env.rank == 0;
  if (rank0) prepare_run_dir(run);
  auto sync = join_process_group(env, device);
  const std::string config_yaml = doc.resolved_yaml();
  if (rank0) write_file_atomic(run.out_dir + "/config.yaml", config_yaml);

  model->to(device);
  int64_t params = 0;
  for (const auto& p : model->parameters()) params += p.numel();
  log::info("model: {} ({} parameters), train: {} examples, test: {} examples", type, params,
            train_set.size(), test_set.size());

  TrainerParts parts;
  parts.model = model;
  parts.objective = std::make_shared<ClassificationObjective>(objective_options.label_smoothing);
  parts.train = std::make_shared<data::ImageBatches>(
      train_set, batch_size, uint64_t(run.seed), nullptr,
      data::ShardOptions{env.rank, env.world});
  parts.sync = sync;
  parts.evaluator = std::make_shared<ClassificationEvaluator>(
      data_options.dataset, data::to_float(test_set.images), test_set.labels,
      data_options.eval_batch_size, device);
  parts.device = device;
  parts.out_dir = run.out_dir;
  parts.config_yaml = config_yaml;

  Trainer trainer(trainer_options, optimizer_options, schedule_options, parts);
  log::info("training {} steps ({} per epoch), batch {}", trainer.total_steps(),
            trainer.steps_per_epoch(), batch_size);
  nlohmann::json last = trainer.run(run.resume);

  nlohmann::json results = {{"model", type},
                            {"model_num_parameters", params},
                            {"step", last.value("step", int64_t(0))},
                            {"split", "test"},
                            {"results", nlohmann::json::object()}};
  for (const auto& [key, value] : last.items()) {
    if (key.rfind("eval/", 0) == 0) results["results"][key] = value;
  }
  if (rank0) write_json(run.out_dir + "/results.json", results);
  return results;
}

void train(const std::string& config_path, const std::vector<std::string>& overrides) {
  train_document(config::Document::load(config_path, overrides));
}

}  // namespace strata::experiments
