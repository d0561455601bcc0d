#pragma once
// The steps a neural training run is assembled from, in the order `strata train` calls
// them:
//
//   RunPlan plan = plan_run(doc);            // read and check every section; nothing done yet
//   RunContext ctx = start_run(plan);        // threads, device, ranks; the run dir is checked
//   TrainingData data = prepare_data(plan, ctx);       // data sets (and a corpus's tokenizer)
//   auto objective = make_objective(plan, data);
//   auto evaluators = make_evaluators(plan, ctx, data, objective);
//   auto model = make_model(plan, data);     // sized from the data; checked against it
//   return run_training(plan, ctx, data, model, objective, evaluators);
//
// Fine-tuning and later experiments call the same steps and replace the ones they change
// (a pre-trained model, a task's data, its evaluators).

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/data/loader.h"
#include "core/data/token_shards.h"  // HeldOutWindows
#include "core/distributed.h"
#include "core/evaluator.h"
#include "core/network.h"
#include "core/objectives.h"
#include "core/optim.h"
#include "core/run.h"
#include "core/schedule.h"
#include "core/tokenizer.h"
#include "core/trainer.h"
#include "tasks/task_evaluator.h"

namespace strata::experiments {

// `data:` for a classifier: a built-in labelled image set, with optional subsets.
struct ImageDataOptions {
  std::string dataset = "fashion_mnist";
  std::vector<std::string> classes;  // empty: all
  int64_t labels_per_class = 0;      // 0: all
  int64_t eval_batch_size = 1000;
};
void read_options(config::Reader& r, ImageDataOptions& o);

// `data:` for a language model: a corpus, its tokenizer and token shards; or `shards:`, a
// data directory prepared before (manifest.json and <split>-NNNNN.bin, core/data/
// token_shards.h), used as it is, e.g. tokens made by another tool. A shard directory
// without tokenizer.model trains and evaluates held-out loss, but cannot run eval_tasks.
struct CorpusDataOptions {
  std::vector<std::string> corpus;
  std::string shards;           // a prepared data directory; excludes corpus and tokenizer
  std::string data_dir;         // where shards go; default <out_dir>/data
  std::string tokenizer_model;  // an existing SentencePiece model to reuse
  TokenizerTrainOptions tokenizer;
  int64_t block_size = 128;    // T of every training window
  int64_t eval_windows = 200;  // held-out windows scored at each evaluation
  int64_t eval_batch_size = 16;
};
void read_options(config::Reader& r, CorpusDataOptions& o);

// Every section of a neural run's config, read and checked before anything is prepared.
struct RunPlan {
  const config::Document* doc = nullptr;
  RunOptions run;
  std::string model_type;
  bool is_corpus = false;  // data.corpus or data.shards: a language model; else images
  ImageDataOptions images;
  CorpusDataOptions corpus;
  ObjectiveOptions objective;
  OptimizerOptions optimizer;
  ScheduleOptions schedule;
  TrainerOptions trainer;
  BatchOptions batch;
  DistributedOptions distributed;
  tasks::TaskEvalOptions eval_tasks;  // `eval_tasks:`, in-context tasks during pre-training
  std::string data_where;  // "file.yaml:12" of the data section, for messages
};

// Reads the run's config (not the model section, which the model's factory reads once
// the data has sized it). A bad value is an InputError naming its place.
RunPlan plan_run(const config::Document& doc);

// The process a run trains in.
struct RunContext {
  torch::Device device = torch::kCPU;
  DistributedEnv env;
  std::shared_ptr<GradientSync> sync;  // null for one process
  bool rank0() const { return env.rank == 0; }
  // Runs `work` on rank 0 only. Every rank then waits at a barrier; if rank 0 failed, it
  // rethrows there and the other ranks stop with an InputError pointing at its log.
  void on_rank0(const std::function<void()>& work) const;
};

// Sets threads, seed and device, joins the process group and refuses an out_dir that
// holds checkpoints without resume or overwrite (before any time is spent on data).
RunContext start_run(const RunPlan& plan);

// What a run trains on, whichever kind of data it is.
struct TrainingData {
  std::shared_ptr<data::BatchSource> train;
  // Held-out data, for the evaluators: labelled images ...
  torch::Tensor eval_inputs, eval_labels;
  // ... or token windows of the validation split.
  std::shared_ptr<data::HeldOutWindows> held_out;
  double unigram_loss = 0.0;          // the held-out loss of a unigram model (nats/token)
  std::string tokenizer_path;         // a corpus's SentencePiece model; "" for images
  int64_t vocab_size = 0;             // the tokenizer's; 0 for images
  std::function<void(const std::string&)> write_extra;  // tokenizer.model beside weights
  nlohmann::json info = nlohmann::json::object();       // reported in results.json
  std::string describe;                                 // one line for the log
};

// Loads (images) or prepares on rank 0 (corpus -> tokenizer -> shards) the training data
// and its held-out split; sets model.vocab_size's default to the tokenizer's.
TrainingData prepare_data(const RunPlan& plan, const RunContext& ctx);
// data.dataset's train and test splits, only data.classes (relabelled 0..K-1) when given,
// the train split cut to data.labels_per_class (stratified, seeded with `seed`).
std::pair<data::ImageSet, data::ImageSet> image_sets(const ImageDataOptions& o, uint64_t seed);
TrainingData image_data(const RunPlan& plan, const RunContext& ctx);
TrainingData corpus_data(const RunPlan& plan, const RunContext& ctx);

std::shared_ptr<Objective> make_objective(const RunPlan& plan, const TrainingData& data);

// Held-out loss and perplexity (corpus) or test accuracy (images), at trainer.eval_every;
// the in-context tasks of `eval_tasks:` at their own cadence.
std::vector<ScheduledEvaluator> make_evaluators(const RunPlan& plan, const RunContext& ctx,
                                                const TrainingData& data,
                                                const std::shared_ptr<Objective>& objective);

// Builds model.type from its section (seeded, so the weights do not depend on how the data
// was made) and checks it against the data: a window longer than the model's context, or
// a tokenizer larger than the model's vocabulary, is an InputError.
std::shared_ptr<Network> make_model(const RunPlan& plan, const TrainingData& data);

// A few rows of `rows` through the model's loss without gradients: a model that does not
// fit the data (shapes, class ids, token ids) is an InputError naming `model_type` and
// `where`, before anything is written.
void check_model_fits(Network& model, const Batch& rows, const std::string& model_type,
                      const std::string& where);

// Writes config.yaml, trains (resuming when asked), writes results.json; returns it.
// `freeze`: which parameters train at each step (fine-tuning); null: all of them.
nlohmann::json run_training(const RunPlan& plan, const RunContext& ctx, const TrainingData& data,
                            const std::shared_ptr<Network>& model,
                            const std::shared_ptr<Objective>& objective,
                            const std::vector<ScheduledEvaluator>& evaluators,
                            const std::shared_ptr<FreezePolicy>& freeze = nullptr);

}  // namespace strata::experiments
