#include "experiments/train.h"

#include <fmt/format.h>

#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/checkpoint.h"
#include "core/data/fashion_mnist.h"
#include "core/data/loader.h"
#include "core/data/token_shards.h"
#include "core/distributed.h"
#include "core/errors.h"
#include "core/evaluator.h"
#include "core/flops.h"
#include "core/log.h"
#include "core/objectives.h"
#include "core/run.h"
#include "core/trainer.h"
#include "experiments/classical.h"
#include "models/bert/bert.h"
#include "models/gpt/gpt.h"
#include "models/registry.h"
#include "pretrain/corpus_prep.h"
#include "pretrain/masked_lm.h"

namespace fs = std::filesystem;

namespace strata::experiments {

namespace {

// ---- options readers (the config layer) -------------------------------------------------

struct BatchOptions {
  int64_t batch_size = 64;      // examples (or sequences) per micro-batch, all ranks together
  int64_t tokens_per_step = 0;  // LM: accumulate micro-batches up to this many tokens; 0: off
};

void read_options(config::Reader r, TrainerOptions& o, BatchOptions& b) {
  r.read("batch_size", b.batch_size, config::Range::at_least(1));
  r.read("tokens_per_step", b.tokens_per_step, config::Range::non_negative());
  r.read("max_steps", o.max_steps, config::Range::non_negative());
  r.read("epochs", o.epochs, config::Range::non_negative());
  r.read("grad_accum", o.grad_accum, config::Range::at_least(1));
  r.read("clip", o.clip, config::Range::non_negative());
  r.read("log_every", o.log_every, config::Range::at_least(1));
  r.read("eval_every", o.eval_every, config::Range::non_negative());
  r.read("checkpoint_every", o.checkpoint_every, config::Range::non_negative());
  r.read("keep_last", o.keep_last, config::Range::non_negative());
  r.read("trace_samples", o.trace_samples);
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

struct ObjectiveOptions {
  std::string type = "classification";
  double label_smoothing = 0.0;
  double mask_prob = 0.15;
};

void read_options(config::Reader r, ObjectiveOptions& o) {
  r.read_choice("type", o.type, {"classification", "causal_lm", "masked_lm"});
  r.read("label_smoothing", o.label_smoothing, config::Range::between(0, 1));
  r.read("mask_prob", o.mask_prob, config::Range::between(0, 1));
  r.finish();
}

// `data:` for a classifier: a built-in labelled image set with optional subsets.
struct ImageDataOptions {
  std::string dataset = "fashion_mnist";
  std::vector<std::string> classes;  // empty: all
  int64_t labels_per_class = 0;      // 0: all
  int64_t eval_batch_size = 1000;
};

void read_options(config::Reader& r, ImageDataOptions& o) {
  r.read_choice("dataset", o.dataset, {"fashion_mnist"});
  r.read("classes", o.classes);
  r.read("labels_per_class", o.labels_per_class, config::Range::non_negative());
  r.read("eval_batch_size", o.eval_batch_size, config::Range::at_least(1));
}

// `data:` for a language model: a corpus, its tokenizer and token shards.
struct CorpusDataOptions {
  std::vector<std::string> corpus;
  std::string data_dir;         // where shards go; default <out_dir>/data
  std::string tokenizer_model;  // an existing SentencePiece model to reuse
  TokenizerTrainOptions tokenizer;
  int64_t block_size = 128;    // T of every training window
  int64_t eval_windows = 200;  // held-out windows scored at each evaluation
  int64_t eval_batch_size = 16;
};

void read_options(config::Reader& r, CorpusDataOptions& o) {
  r.required("corpus", o.corpus);
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
  t.finish();
}

void write_json(const std::string& path, const nlohmann::json& j) {
  write_file_atomic(path, j.dump(2) + "\n");
}

int64_t context_length(Network& model) {
  if (auto* gpt = dynamic_cast<models::GPTImpl*>(&model)) return gpt->options().block_size();
  if (auto* bert = dynamic_cast<models::BertImpl*>(&model)) return bert->options().block_size();
  return 0;
}

// What a run trains on, whichever kind of data it is.
struct TrainingData {
  std::shared_ptr<data::BatchSource> train;
  std::shared_ptr<Evaluator> evaluator;
  std::shared_ptr<Objective> objective;
  std::function<void(const std::string&)> write_extra;  // tokenizer.model beside weights
  nlohmann::json info = nlohmann::json::object();       // reported in results.json
  std::string describe;
};

}  // namespace

nlohmann::json train_document(const config::Document& doc) {
  config::Reader root = doc.root();
  RunOptions run;
  read_options(root, run);
  config::Reader model_section = root.child("model");
  std::string type;
  model_section.required("type", type);
  if (is_classical(type)) {
    log_run_setup(run, setup_run(run));
    prepare_run_dir(run);
    return train_classical(doc, root, run);
  }

  // Read and check every section before anything is prepared or written.
  config::Reader data_section = root.child("data");
  const bool is_corpus = data_section.has("corpus");
  ImageDataOptions image_options;
  CorpusDataOptions corpus_options;
  if (is_corpus) {
    read_options(data_section, corpus_options);
  } else {
    read_options(data_section, image_options);
  }
  data_section.finish();
  ObjectiveOptions objective_options;
  objective_options.type = is_corpus ? "causal_lm" : "classification";
  config::Reader objective_section = root.child("objective");
  read_options(objective_section, objective_options);
  if (is_corpus == (objective_options.type == "classification")) {
    objective_section.fail("type", is_corpus ? "must be causal_lm or masked_lm for a corpus"
                                             : "must be classification for a labelled dataset");
  }
  OptimizerOptions optimizer_options;
  read_options(root.child("optimizer"), optimizer_options);
  ScheduleOptions schedule_options;
  read_options(root.child("schedule"), schedule_options);
  TrainerOptions trainer_options;
  BatchOptions batch;
  read_options(root.child("trainer"), trainer_options, batch);
  root.finish();

  const torch::Device device = setup_run(run);
  const DistributedEnv env = distributed_env();
  const bool rank0 = env.rank == 0;
  const data::ShardOptions shard{env.rank, env.world};
  if (batch.batch_size % env.world != 0) {
    throw InputError(fmt::format("trainer.batch_size {} must divide by WORLD_SIZE {}",
                                 batch.batch_size, env.world));
  }

  // Every rank joins first, so the others wait for rank 0's checks and data at a barrier
  // (not by polling files a previous run may have left) and stop when rank 0 stops.
  auto sync = join_process_group(env, device);
  auto on_rank0 = [&](const std::function<void()>& work) {
    std::exception_ptr failure;
    if (rank0) {
      try {
        work();
      } catch (...) {
        failure = std::current_exception();
      }
    }
    if (sync && sync->all_reduce_mean(failure ? 1.0 : 0.0) > 0.0 && !rank0) {
      throw InputError(fmt::format("rank {}: rank 0 stopped; its log says why", env.rank));
    }
    if (failure) std::rethrow_exception(failure);
  };
  on_rank0([&] { check_run_dir(run); });  // refuse before spending time on data
  // Data first: a language model's vocabulary comes from its tokenizer.
  TrainingData data;
  if (is_corpus) {
    pretrain::CorpusPrepOptions prep;
    prep.corpus = corpus_options.corpus;
    prep.out_dir =
        corpus_options.data_dir.empty() ? run.out_dir + "/data" : corpus_options.data_dir;
    prep.tokenizer_model = corpus_options.tokenizer_model;
    prep.tokenizer = corpus_options.tokenizer;
    if (objective_options.type == "masked_lm")
      prep.tokenizer = pretrain::with_mlm_symbols(prep.tokenizer);
    prep.threads = int(run.threads > 0 ? run.threads : usable_cores());
    pretrain::PreparedCorpus corpus;
    on_rank0([&] { corpus = pretrain::prepare_corpus(prep); });
    if (!rank0) {  // rank 0 prepared; its manifest is complete once the barrier is passed
      corpus.dir = prep.out_dir;
      corpus.manifest = data::ShardManifest::read(prep.out_dir);
    }
    doc.set_default("model.vocab_size", std::to_string(corpus.manifest.vocab_size));
    auto train_stream = data::TokenStream::open(corpus.dir, "train");
    auto val_stream = data::TokenStream::open(corpus.dir, "validation");
    const int64_t T = corpus_options.block_size;
    data.train = std::make_shared<data::TokenShardBatches>(
        train_stream, data::TokenBatchOptions{T, batch.batch_size, uint64_t(run.seed), shard});
    if (objective_options.type == "masked_lm") {
      auto tokenizer = Tokenizer::load(corpus.tokenizer_path());
      auto mlm = pretrain::masked_lm_options(tokenizer, uint64_t(run.seed), /*cls_first=*/true);
      mlm.mask_prob = objective_options.mask_prob;
      data.objective = std::make_shared<pretrain::MaskedLMObjective>(mlm);
    } else {
      data.objective = std::make_shared<CausalLMObjective>();
    }
    data::HeldOutWindows held_out(val_stream, T, corpus_options.eval_windows);
    double unigram = data::unigram_baseline(train_stream, held_out);
    data.evaluator = std::make_shared<data::HeldOutEvaluator>(
        "validation", held_out, data.objective, corpus_options.eval_batch_size, device, unigram);
    const std::string tokenizer_path = corpus.tokenizer_path();
    data.write_extra = [tokenizer_path](const std::string& dir) {
      fs::copy_file(tokenizer_path, dir + "/tokenizer.model", fs::copy_options::overwrite_existing);
    };
    data.info = {{"train_tokens", train_stream.size()},
                 {"validation_tokens", held_out.tokens()},
                 {"unigram_loss", unigram},
                 {"data_dir", corpus.dir}};
    data.describe = fmt::format("corpus {}: {} train tokens, {} held-out tokens scored, vocab {}",
                                fmt::join(corpus_options.corpus, ","), train_stream.size(),
                                held_out.tokens(), corpus.manifest.vocab_size);
    if (batch.tokens_per_step > 0) {
      trainer_options.grad_accum =
          std::max<int64_t>(1, batch.tokens_per_step / (batch.batch_size * T));
    }
  } else {
    auto train_set = data::load_fashion_mnist("train");
    auto test_set = data::load_fashion_mnist("test");
    if (!image_options.classes.empty()) {
      train_set = data::only_classes(train_set, image_options.classes);
      test_set = data::only_classes(test_set, image_options.classes);
    }
    train_set = data::stratified_subset(train_set, image_options.labels_per_class, run.seed);
    data.train = std::make_shared<data::ImageBatches>(train_set, batch.batch_size,
                                                      uint64_t(run.seed), nullptr, shard);
    data.evaluator = std::make_shared<ClassificationEvaluator>(
        image_options.dataset, data::to_float(test_set.images), test_set.labels,
        image_options.eval_batch_size, device);
    data.objective = std::make_shared<ClassificationObjective>(objective_options.label_smoothing);
    data.describe = fmt::format("{}: {} train examples, {} test examples", image_options.dataset,
                                train_set.size(), test_set.size());
  }

  torch::manual_seed(uint64_t(run.seed));  // the same initial weights however data was made
  std::shared_ptr<Network> model =
      models::networks().make(type, model_section.where("type"), model_section);
  if (is_corpus && context_length(*model) > 0 &&
      corpus_options.block_size > context_length(*model)) {
    throw InputError(fmt::format(
        "{}: 'data.block_size' {} is longer than the model's block_size {}",
        data_section.where("block_size"), corpus_options.block_size, context_length(*model)));
  }

  if (rank0) prepare_run_dir(run);
  log_run_setup(run, device);
  const std::string config_yaml = doc.resolved_yaml();
  if (rank0) write_file_atomic(run.out_dir + "/config.yaml", config_yaml);

  model->to(device);
  int64_t params = 0;
  for (const auto& p : model->parameters()) params += p.numel();
  log::info("model: {} ({} parameters); {}", type, params, data.describe);

  TrainerParts parts;
  parts.model = model;
  parts.objective = data.objective;
  parts.train = data.train;
  parts.evaluator = data.evaluator;
  parts.sync = sync;
  parts.device = device;
  parts.out_dir = run.out_dir;
  parts.config_yaml = config_yaml;
  parts.write_extra = data.write_extra;
  if (is_corpus) parts.peak_flops = peak_flops(device);

  Trainer trainer(trainer_options, optimizer_options, schedule_options, parts);
  log::info("training {} steps ({} per epoch), batch {} x {} accumulated", trainer.total_steps(),
            trainer.steps_per_epoch(), batch.batch_size, trainer_options.grad_accum);
  nlohmann::json last = trainer.run(run.resume);

  nlohmann::json results = {{"model", type},
                            {"model_num_parameters", params},
                            {"step", last.value("step", int64_t(0))},
                            {"split", is_corpus ? "validation" : "test"},
                            {"results", nlohmann::json::object()}};
  for (const auto& [key, value] : last.items()) {
    if (key.rfind("eval/", 0) == 0) results["results"][key] = value;
  }
  for (const auto& [key, value] : data.info.items()) results[key] = value;
  if (rank0) write_json(run.out_dir + "/results.json", results);
  return results;
}

void train(const std::string& config_path, const std::vector<std::string>& overrides) {
  train_document(config::Document::load(config_path, overrides));
}

}  // namespace strata::experiments
