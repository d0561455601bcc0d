#include "experiments/train.h"

#include <fmt/format.h>

#include <exception>
#include <filesystem>

#include "core/checkpoint.h"
#include "core/data/fashion_mnist.h"
#include "core/data/token_shards.h"
#include "core/errors.h"
#include "core/flops.h"
#include "core/log.h"
#include "experiments/classical.h"
#include "experiments/finetune.h"
#include "experiments/recipe.h"
#include "models/registry.h"
#include "pretrain/corpus_prep.h"
#include "pretrain/masked_lm.h"

namespace fs = std::filesystem;

namespace strata::experiments {

// ---- the config layer -------------------------------------------------------------------

void read_options(config::Reader& r, ImageDataOptions& o) {
  r.read_choice("dataset", o.dataset, {"fashion_mnist"});
  r.read("classes", o.classes);
  r.read("labels_per_class", o.labels_per_class, config::Range::non_negative());
  r.read("eval_batch_size", o.eval_batch_size, config::Range::at_least(1));
}

void read_options(config::Reader& r, CorpusDataOptions& o) {
  if (r.has("shards")) {
    r.read("shards", o.shards);
    for (const char* key : {"corpus", "data_dir", "tokenizer"}) {
      if (r.has(key)) r.fail(key, "data.shards is a prepared data directory; give one or the other");
    }
    if (o.shards.empty()) r.fail("shards", "must name a data directory");
    if (!fs::exists(data::manifest_path(o.shards))) {
      r.fail("shards", fmt::format("'{}' has no manifest.json (core/data/token_shards.h)", o.shards));
    }
  } else {
    r.required("corpus", o.corpus);
  }
  r.read("data_dir", o.data_dir);
  r.read("block_size", o.block_size, config::Range::at_least(1));
  r.read("eval_windows", o.eval_windows, config::Range::non_negative());
  r.read("eval_batch_size", o.eval_batch_size, config::Range::at_least(1));
  config::Reader t = r.child("tokenizer");
  t.read("model", o.tokenizer_model);
  t.read_choice("model_type", o.tokenizer.model_type, {"bpe", "unigram", "char", "word"});
  t.read("vocab_size", o.tokenizer.vocab_size, config::Range::at_least(8));
  t.read("character_coverage", o.tokenizer.character_coverage, config::Range::between(0.5, 1));
  t.read("input_sentence_size", o.tokenizer.input_sentence_size, config::Range::non_negative());
  t.read("byte_fallback", o.tokenizer.byte_fallback);
  t.read("keep_newlines", o.tokenizer.keep_newlines);
  t.finish();
}

RunPlan plan_run(const config::Document& doc) {
  RunPlan plan;
  plan.doc = &doc;
  config::Reader root = doc.root();
  read_options(root, plan.run);
  root.child("model").required("type", plan.model_type);
  root.skip("model");  // the model's factory reads the rest (make_model)

  config::Reader data = root.child("data");
  plan.data_where = data.where();
  plan.is_corpus = data.has("corpus") || data.has("shards");
  if (plan.is_corpus) {
    read_options(data, plan.corpus);
  } else {
    read_options(data, plan.images);
  }
  data.finish();
  // The data decides the default objective; a contradicting one is refused.
  plan.objective.type = plan.is_corpus ? ObjectiveType::kCausalLM : ObjectiveType::kClassification;
  config::Reader objective = root.child("objective");
  read_options(objective, plan.objective);
  if (plan.is_corpus == (plan.objective.type == ObjectiveType::kClassification)) {
    objective.fail("type", plan.is_corpus ? "must be causal_lm or masked_lm for a corpus"
                                          : "must be classification for a labelled dataset");
  }
  read_options(root.child("optimizer"), plan.optimizer);
  read_options(root.child("schedule"), plan.schedule);
  read_options(root.child("trainer"), plan.trainer, plan.batch);
  read_options(root.child("distributed"), plan.distributed);
  if (root.has("eval_tasks")) {
    config::Reader eval_tasks = root.child("eval_tasks");
    if (!plan.is_corpus) eval_tasks.fail("tasks", "in-context tasks need a language model on a corpus");
    tasks::read_options(eval_tasks, plan.eval_tasks);
  }
  root.finish();
  return plan;
}

// ---- the process ------------------------------------------------------------------------

void RunContext::on_rank0(const std::function<void()>& work) const {
  std::exception_ptr failure;
  if (rank0()) {
    try {
      work();
    } catch (...) {
      failure = std::current_exception();
    }
  }
  if (sync && sync->all_reduce_mean(failure ? 1.0 : 0.0) > 0.0 && !rank0()) {
    throw InputError(fmt::format("rank {}: rank 0 stopped; its log says why", env.rank));
  }
  if (failure) std::rethrow_exception(failure);
}

RunContext start_run(const RunPlan& plan) {
  RunContext ctx;
  ctx.device = setup_run(plan.run);
  ctx.env = distributed_env();
  // One GPU per process on a node: LOCAL_RANK picks it (torchrun's convention).
  if (ctx.device.is_cuda() && torch::cuda::device_count() > 1) {
    ctx.device = torch::Device(torch::kCUDA,
                               int8_t(ctx.env.local_rank % int(torch::cuda::device_count())));
  }
  if (plan.batch.batch_size % ctx.env.world != 0) {
    throw InputError(fmt::format("trainer.batch_size {} must divide by WORLD_SIZE {}",
                                 plan.batch.batch_size, ctx.env.world));
  }
  // Every rank joins first, so the others wait for rank 0's checks and data at a barrier
  // (not by polling files a previous run may have left) and stop when rank 0 stops.
  ctx.sync = join_process_group(ctx.env, ctx.device, plan.distributed);
  ctx.on_rank0([&] { check_run_dir(plan.run); });
  return ctx;
}

// ---- data -------------------------------------------------------------------------------

std::pair<data::ImageSet, data::ImageSet> image_sets(const ImageDataOptions& o, uint64_t seed) {
  auto train_set = data::load_fashion_mnist("train");
  auto test_set = data::load_fashion_mnist("test");
  if (!o.classes.empty()) {
    train_set = data::only_classes(train_set, o.classes);
    test_set = data::only_classes(test_set, o.classes);
  }
  return {data::stratified_subset(train_set, o.labels_per_class, seed), test_set};
}

TrainingData image_data(const RunPlan& plan, const RunContext& ctx) {
  const ImageDataOptions& o = plan.images;
  auto [train_set, test_set] = image_sets(o, uint64_t(plan.run.seed));
  TrainingData d;
  d.train = std::make_shared<data::ImageBatches>(train_set, plan.batch.batch_size,
                                                 uint64_t(plan.run.seed), nullptr,
                                                 data::ShardOptions{ctx.env.rank, ctx.env.world});
  d.eval_inputs = data::to_float(test_set.images);
  d.eval_labels = test_set.labels;
  d.describe = fmt::format("{}: {} train examples, {} test examples", o.dataset,
                           train_set.size(), test_set.size());
  return d;
}

TrainingData corpus_data(const RunPlan& plan, const RunContext& ctx) {
  const CorpusDataOptions& o = plan.corpus;
  pretrain::CorpusPrepOptions prep;
  prep.corpus = o.corpus;
  prep.out_dir = o.data_dir.empty() ? plan.run.out_dir + "/data" : o.data_dir;
  prep.tokenizer_model = o.tokenizer_model;
  prep.tokenizer = o.tokenizer;
  if (plan.objective.type == ObjectiveType::kMaskedLM)
    prep.tokenizer = pretrain::with_mlm_symbols(prep.tokenizer);
  prep.threads = int(plan.run.threads > 0 ? plan.run.threads : usable_cores());
  // A resumed run keeps its own tokenizer and refuses a corpus that changed since.
  const std::string resumed = plan.run.resume ? latest_checkpoint(plan.run.out_dir) : "";
  if (!resumed.empty() && fs::exists(resumed + "/data_manifest.json")) {
    auto saved = data::ShardManifest::from_json(read_json_file(resumed + "/data_manifest.json"),
                                                resumed + "/data_manifest.json");
    prep.expected_corpus_hash = saved.request.value("corpus_hash", "");
    prep.tokenizer_model = resumed + "/tokenizer.model";
  }
  pretrain::PreparedCorpus corpus;
  if (!o.shards.empty()) {  // prepared before: read as it is, on every rank
    corpus.dir = o.shards;
    corpus.manifest = data::ShardManifest::read(o.shards);
    corpus.reused = true;
  } else {
    ctx.on_rank0([&] { corpus = pretrain::prepare_corpus(prep); });
  }
  if (!ctx.rank0() && o.shards.empty()) {  // rank 0 prepared; complete once the barrier is passed
    corpus.dir = prep.out_dir;
    corpus.manifest = data::ShardManifest::read(prep.out_dir);
  }
  auto train_stream = data::TokenStream::open(corpus.dir, "train");
  auto val_stream = data::TokenStream::open(corpus.dir, "validation");
  TrainingData d;
  d.train = std::make_shared<data::TokenShardBatches>(
      train_stream, data::TokenBatchOptions{o.block_size, plan.batch.batch_size,
                                            uint64_t(plan.run.seed),
                                            data::ShardOptions{ctx.env.rank, ctx.env.world}});
  d.held_out = std::make_shared<data::HeldOutWindows>(val_stream, o.block_size, o.eval_windows);
  d.unigram_loss = data::unigram_baseline(train_stream, *d.held_out);
  d.vocab_size = corpus.manifest.vocab_size;
  d.tokenizer_path = corpus.tokenizer_path();
  if (!o.shards.empty() && !fs::exists(d.tokenizer_path)) {
    if (!plan.eval_tasks.loaded.empty()) {
      throw InputError(fmt::format("eval_tasks: data.shards '{}' has no tokenizer.model, which "
                                   "the tasks' prompts need", o.shards));
    }
    if (plan.objective.type == ObjectiveType::kMaskedLM) {
      throw InputError(fmt::format("objective.type: masked_lm needs the tokenizer's [MASK] id; "
                                   "data.shards '{}' has no tokenizer.model", o.shards));
    }
    d.tokenizer_path.clear();
  }
  // The run's own tokenizer and data manifest go into every checkpoint.
  d.write_extra = [path = d.tokenizer_path, data_dir = corpus.dir](const std::string& dir) {
    if (!path.empty()) {
      fs::copy_file(path, dir + "/tokenizer.model", fs::copy_options::overwrite_existing);
    }
    fs::copy_file(data::manifest_path(data_dir), dir + "/data_manifest.json",
                  fs::copy_options::overwrite_existing);
  };
  d.info = {{"train_tokens", train_stream.size()},
            {"validation_tokens", d.held_out->tokens()},
            {"unigram_loss", d.unigram_loss},
            {"data_dir", corpus.dir}};
  d.describe = fmt::format("{}: {} train tokens, {} held-out tokens scored, vocab {}",
                           o.shards.empty() ? fmt::format("corpus {}", fmt::join(o.corpus, ","))
                                            : fmt::format("shards {}", o.shards), train_stream.size(), d.held_out->tokens(),
                           d.vocab_size);
  return d;
}

TrainingData prepare_data(const RunPlan& plan, const RunContext& ctx) {
  if (!plan.is_corpus) return image_data(plan, ctx);
  TrainingData d = corpus_data(plan, ctx);
  // A language model's vocabulary is its tokenizer's unless the config says otherwise.
  plan.doc->set_default("model.vocab_size", std::to_string(d.vocab_size));
  return d;
}

// ---- objective, evaluators, model -------------------------------------------------------

std::shared_ptr<Objective> make_objective(const RunPlan& plan, const TrainingData& data) {
  switch (plan.objective.type) {
    case ObjectiveType::kClassification:
      return std::make_shared<ClassificationObjective>(plan.objective.label_smoothing);
    case ObjectiveType::kCausalLM:
      return std::make_shared<CausalLMObjective>();
    case ObjectiveType::kMaskedLM: {
      auto tokenizer = Tokenizer::load(data.tokenizer_path);
      auto mlm = pretrain::masked_lm_options(tokenizer, uint64_t(plan.run.seed), /*cls_first=*/true);
      mlm.mask_prob = plan.objective.mask_prob;
      return std::make_shared<pretrain::MaskedLMObjective>(mlm);
    }
  }
  throw std::logic_error("make_objective: unhandled objective type");
}

std::vector<ScheduledEvaluator> make_evaluators(const RunPlan& plan, const RunContext& ctx,
                                                const TrainingData& data,
                                                const std::shared_ptr<Objective>& objective) {
  if (plan.is_corpus) {
    std::vector<ScheduledEvaluator> out = {
        {std::make_shared<data::HeldOutEvaluator>("validation", *data.held_out, objective,
                                                  plan.corpus.eval_batch_size, ctx.device,
                                                  data.unigram_loss),
         plan.trainer.eval_every}};
    if (!plan.eval_tasks.loaded.empty()) {
      out.push_back({std::make_shared<tasks::TaskEvaluator>(plan.eval_tasks, data.tokenizer_path),
                     plan.eval_tasks.every > 0 ? plan.eval_tasks.every : plan.trainer.eval_every});
    }
    return out;
  }
  return {{std::make_shared<ClassificationEvaluator>(plan.images.dataset, data.eval_inputs,
                                                     data.eval_labels,
                                                     plan.images.eval_batch_size, ctx.device),
           plan.trainer.eval_every}};
}

namespace {

// Two held-out examples through the model's loss, without gradients: whatever else in the
// model does not fit the data (shapes, class ids, token ids) fails here, before anything
// is written, as a bad input instead of an internal error after "training N steps".
void check_model_fits_data(Network& model, const RunPlan& plan, const TrainingData& data) {
  Batch batch;
  if (data.held_out && data.held_out->size() > 0) {
    batch = data.held_out->batch(0, 1);
  } else if (data.eval_inputs.defined() && data.eval_inputs.size(0) > 0) {
    batch = Batch{data.eval_inputs, data.eval_labels, {}, {}};
  } else {
    return;
  }
  check_model_fits(model, batch, plan.model_type, plan.data_where);
}

}  // namespace

void check_model_fits(Network& model, const Batch& rows, const std::string& model_type,
                      const std::string& where) {
  const int64_t n = std::min<int64_t>(2, rows.size());
  auto take = [&](const torch::Tensor& t) { return t.defined() ? t.narrow(0, 0, n) : t; };
  const Batch batch{take(rows.input), take(rows.target), take(rows.segment), take(rows.attention_mask)};
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  try {
    model.loss(batch);
  } catch (const c10::Error& e) {
    std::string why = e.what_without_backtrace();
    why = why.substr(0, why.find('\n'));
    throw InputError(fmt::format("model '{}' does not fit the data of {}: {}", model_type, where, why));
  }
  model.train(was_training);
}

std::shared_ptr<Network> make_model(const RunPlan& plan, const TrainingData& data) {
  torch::manual_seed(uint64_t(plan.run.seed));  // the same weights however data was made
  config::Reader section = plan.doc->root().child("model");
  std::shared_ptr<Network> model =
      models::networks().make(plan.model_type, section.where("type"), section);
  const int64_t context = model->context_length();
  if (plan.is_corpus && context > 0 && plan.corpus.block_size > context) {
    throw InputError(fmt::format("{}: 'data.block_size' {} is longer than the model's block_size {}",
                                 plan.data_where, plan.corpus.block_size, context));
  }
  if (data.vocab_size > 0 && model->vocab_size() < data.vocab_size) {
    throw InputError(fmt::format(
        "{}: 'model.vocab_size' {} is smaller than the tokenizer's {} pieces (leave it out to "
        "size the model from the tokenizer)",
        section.where("vocab_size"), model->vocab_size(), data.vocab_size));
  }
  check_model_fits_data(*model, plan, data);
  return model;
}

// ---- the run ----------------------------------------------------------------------------

namespace {

nlohmann::json results_json(const RunPlan& plan, const TrainingData& data, int64_t params,
                            const nlohmann::json& last) {
  nlohmann::json results = {{"model", plan.model_type},
                            {"model_num_parameters", params},
                            {"step", last.value("step", int64_t(0))},
                            {"split", plan.is_corpus ? "validation" : "test"},
                            {"results", nlohmann::json::object()}};
  for (const auto& [key, value] : last.items()) {
    if (key.rfind("eval/", 0) == 0) results["results"][key] = value;
    if (key.rfind("timing/", 0) == 0) results["timing"][key] = value;
  }
  if (last.contains("best_step")) results["best_step"] = last["best_step"];  // trainer.best_metric
  for (const auto& [key, value] : data.info.items()) results[key] = value;
  return results;
}

}  // namespace

nlohmann::json run_training(const RunPlan& plan, const RunContext& ctx, const TrainingData& data,
                            const std::shared_ptr<Network>& model,
                            const std::shared_ptr<Objective>& objective,
                            const std::vector<ScheduledEvaluator>& evaluators,
                            const std::shared_ptr<FreezePolicy>& freeze) {
  if (ctx.rank0()) prepare_run_dir(plan.run);
  log_run_setup(plan.run, ctx.device);
  const std::string config_yaml = plan.doc->resolved_yaml();
  if (ctx.rank0()) write_file_atomic(plan.run.out_dir + "/config.yaml", config_yaml);

  model->to(ctx.device);
  int64_t params = 0;
  for (const auto& p : model->parameters()) params += p.numel();
  log::info("model: {} ({} parameters); {}", plan.model_type, params, data.describe);
  if (freeze) {
    freeze->apply(0, *model);
    int64_t trainable = 0;
    for (const auto& p : model->parameters()) trainable += p.requires_grad() ? p.numel() : 0;
    log::info("freeze: {}; {} of {} parameters train at step 0", freeze->state().dump(), trainable, params);
  }

  TrainerOptions trainer_options = plan.trainer;
  if (plan.is_corpus && plan.batch.tokens_per_step > 0) {
    trainer_options.grad_accum = std::max<int64_t>(
        1, plan.batch.tokens_per_step / (plan.batch.batch_size * plan.corpus.block_size));
  }
  TrainerParts parts;
  parts.model = model;
  parts.objective = objective;
  parts.train = data.train;
  parts.evaluators = evaluators;
  parts.freeze = freeze;
  parts.sync = ctx.sync;
  parts.device = ctx.device;
  parts.out_dir = plan.run.out_dir;
  parts.config_yaml = config_yaml;
  parts.write_extra = data.write_extra;
  if (plan.is_corpus) parts.peak_flops = peak_flops(ctx.device);

  Trainer trainer(trainer_options, plan.optimizer, plan.schedule, parts);
  log::info("training {} steps ({} per epoch), batch {} x {} accumulated", trainer.total_steps(),
            trainer.steps_per_epoch(), plan.batch.batch_size, trainer_options.grad_accum);
  nlohmann::json results = results_json(plan, data, params, trainer.run(plan.run.resume));
  if (ctx.rank0()) write_file_atomic(plan.run.out_dir + "/results.json", results.dump(2) + "\n");
  return results;
}

// ---- strata train -----------------------------------------------------------------------

nlohmann::json train_document(const config::Document& doc) {
  if (doc.root().has("init")) return finetune_document(doc);
  std::string type;
  doc.root().child("model").required("type", type);
  if (is_classical(type)) return train_classical(doc);

  RunPlan plan = plan_run(doc);
  RunContext ctx = start_run(plan);
  TrainingData data = prepare_data(plan, ctx);
  auto objective = make_objective(plan, data);
  auto evaluators = make_evaluators(plan, ctx, data, objective);
  auto model = make_model(plan, data);
  if (!plan.eval_tasks.loaded.empty() && model->causal_lm() == nullptr) {
    throw InputError(fmt::format("{}: eval_tasks: in-context tasks need a causal LM; model.type "
                                 "'{}' is not one",
                                 plan.doc->file(), plan.model_type));
  }
  return run_training(plan, ctx, data, model, objective, evaluators);
}

void train(const std::string& config_path, const std::vector<std::string>& overrides) {
  train_document(config::Document::load(config_path, overrides));
}

}  // namespace strata::experiments
