#pragma once
// Token shards: a prepared corpus on disk, and the batches and held-out windows read from it.
//
// A data directory (pretrain/corpus_prep writes it) holds
//   manifest.json                 what is below, and the request that made it
//   tokenizer.model               the SentencePiece model the tokens come from
//   <split>-00000.bin, ...        raw little-endian token ids (uint16 when vocab_size is at
//                                 most 65536, else uint32), documents in corpus order, each
//                                 followed by the EOS id; at most shard_tokens per file
// for the splits train, validation and test. Files are read through mmap, so a batch is a
// copy of B windows out of the page cache and never waits on a reader.
//
// Sampling is counter-based: the windows of micro-batch k (k = step * grad_accum + micro)
// are a pure function of (seed, k, row), so a resumed run needs only k, and a rank reads
// only its own rows of the global batch.

#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/causal_lm.h"
#include "core/data/loader.h"
#include "core/evaluator.h"
#include "core/network.h"
#include "core/objectives.h"

namespace strata::data {

// --- The manifest --------------------------------------------------------------------------

struct ShardFile {
  std::string path;  // relative to the data directory
  int64_t tokens = 0;
};

struct SplitShards {
  std::vector<ShardFile> files;
  int64_t tokens = 0;  // EOS included
  int64_t documents = 0;
  int64_t bytes = 0;  // text bytes before tokenization
};

struct ShardManifest {
  static constexpr int kVersion = 1;
  int version = kVersion;
  std::string tokenizer = "tokenizer.model";  // relative to the data directory
  std::string tokenizer_hash;                 // "fnv1a64:<hex>" of the model file
  int64_t vocab_size = 0;
  int64_t eos_id = -1;
  std::string dtype;                          // "uint16" | "uint32"
  std::map<std::string, SplitShards> splits;  // "train", "validation", "test"
  nlohmann::json request;  // corpus, its fingerprint and the options: what reuse compares
  nlohmann::json info;     // not compared: timings, thread count, the tokenizer's origin

  nlohmann::json to_json() const;
  static ShardManifest from_json(const nlohmann::json& j, const std::string& where);
  // Reads data_dir/manifest.json; missing or damaged is an InputError naming it.
  static ShardManifest read(const std::string& data_dir);
  // Writes data_dir/manifest.json atomically.
  void write(const std::string& data_dir) const;
};

std::string manifest_path(const std::string& data_dir);
// "uint16" when every id fits in 16 bits, else "uint32".
std::string token_dtype(int64_t vocab_size);
int64_t dtype_bytes(const std::string& dtype);

// --- One split, memory-mapped ---------------------------------------------------------------

// A split's shards as one stream of tokens. Copies share the mappings.
class TokenStream {
 public:
  // Maps every shard of `split`; a missing, truncated or oversized shard is an InputError.
  static TokenStream open(const std::string& data_dir, const std::string& split);

  int64_t size() const;  // tokens
  int64_t vocab_size() const;
  int64_t eos_id() const;
  const std::string& split() const;
  // Copies tokens [offset, offset + count) as int64, across shard boundaries.
  void read(int64_t offset, int64_t count, int64_t* out) const;
  std::vector<int64_t> read(int64_t offset, int64_t count) const;
  // Occurrences of each id in [0, vocab_size) over the whole split.
  std::vector<int64_t> counts() const;

 private:
  struct Mapped;
  std::shared_ptr<const Mapped> mapped_;
};

// --- Training batches -----------------------------------------------------------------------

struct TokenBatchOptions {
  // T: tokens per row. The caller checks it against the model's own block_size (a longer
  // sequence than the model's context is an input error there).
  int64_t block_size = 256;
  int64_t batch_size = 8;  // B: rows of one global micro-batch, summed over every rank
  uint64_t seed = 0;
  ShardOptions shard;  // this rank takes rows [B*rank/world, B*(rank+1)/world)
};

// Random windows of block_size + 1 tokens: Batch{input [b, T], target [b, T]} with target
// the input shifted by one (b = B / world on each rank). Windows may cross document
// boundaries (the EOS between documents marks them), as in GPT-2, nanoGPT and llm.c.
class TokenShardBatches : public BatchSource {
 public:
  // The split must hold at least block_size + 1 tokens and B must divide by world
  // (InputErrors otherwise).
  TokenShardBatches(TokenStream stream, TokenBatchOptions options);

  Batch next() override;
  // The rows of micro-batch `k` on this rank, without moving the counter.
  Batch batch_at(int64_t k) const;
  // Start offsets of the global micro-batch `k`'s B windows (every rank's rows).
  std::vector<int64_t> window_starts(int64_t k) const;

  // One "epoch" is as many windows as the split has tokens: tokens / (B * T).
  int64_t batches_per_epoch() const override;
  nlohmann::json state() const override;  // {"micro_batch": k}
  void load_state(const nlohmann::json& state) override;

  int64_t block_size() const { return options_.block_size; }
  int64_t micro_batch() const { return counter_; }
  const TokenStream& stream() const { return stream_; }

 private:
  TokenStream stream_;
  TokenBatchOptions options_;
  int64_t counter_ = 0;
};

// --- Held-out evaluation ------------------------------------------------------------------

// Fixed windows of a held-out split: window i starts at token i * T, so the windows do not
// overlap and every target token is predicted once. With more than max_windows windows,
// max_windows of them are taken evenly spread over the split (0: all).
class HeldOutWindows {
 public:
  HeldOutWindows(TokenStream stream, int64_t block_size, int64_t max_windows = 0);

  int64_t size() const { return int64_t(starts_.size()); }  // windows
  int64_t block_size() const { return block_size_; }
  int64_t tokens() const { return size() * block_size_; }  // target tokens
  // Windows [first, first + count): input and target [count, T].
  Batch batch(int64_t first, int64_t count) const;
  // Every target token, in window order [size() * T].
  std::vector<int64_t> targets() const;
  const TokenStream& stream() const { return stream_; }

 private:
  TokenStream stream_;
  int64_t block_size_;
  std::vector<int64_t> starts_;
};

struct HeldOutLoss {
  double loss_sum = 0.0;  // summed over counted tokens, in nats
  int64_t tokens = 0;
  double mean() const { return tokens > 0 ? loss_sum / double(tokens) : 0.0; }
  double perplexity() const { return std::exp(mean()); }
};

// The objective's loss over the windows, in eval mode without gradients, weighted by the
// tokens each batch counts. With shard.world > 1 this rank scores windows
// [N*rank/world, N*(rank+1)/world) and the caller sums loss_sum and tokens over ranks.
HeldOutLoss held_out_loss(Network& model, Objective& objective, const HeldOutWindows& windows,
                          int64_t batch_size, torch::Device device, ShardOptions shard = {});

// Cross-entropy in nats per token of a unigram model with add-one smoothing,
// p(w) = (count_train(w) + 1) / (N_train + V), on the held-out windows' target tokens.
double unigram_baseline(const TokenStream& train, const HeldOutWindows& held_out);

// The in-context learning score of Olsson et al. (2022, "In-context Learning and Induction
// Heads", sec. 2: the loss at token 500 minus the loss at token 50 of 512): the mean
// next-token loss (nats) over window positions [0.8T, T) minus that over [0.08T, 0.12T),
// on the held-out windows, for a causal LM (negative: later tokens, which see more
// context, are predicted better). NaN when T < 13 (the early range would be empty).
double icl_score(CausalLM& model, const HeldOutWindows& windows, int64_t batch_size,
                 torch::Device device);

// held_out_loss as an Evaluator: eval/<name>/loss and eval/<name>/ppl, plus
// eval/<name>/unigram_loss when given one (NaN: none), and eval/<name>/icl_score
// (icl_score above) when the model is a causal LM.
class HeldOutEvaluator : public Evaluator {
 public:
  HeldOutEvaluator(std::string name, HeldOutWindows windows, std::shared_ptr<Objective> objective,
                   int64_t batch_size, torch::Device device,
                   double unigram_loss = std::numeric_limits<double>::quiet_NaN());
  Metrics evaluate(Network& model) override;

 private:
  std::string name_;
  HeldOutWindows windows_;
  std::shared_ptr<Objective> objective_;
  int64_t batch_size_;
  torch::Device device_;
  double unigram_loss_;
};

}  // namespace strata::data
