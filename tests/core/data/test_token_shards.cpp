// Token shards read through mmap: counter-based sampling that resumes from one number,
// data-parallel slices that add up to the global batch, fixed held-out windows, and the
// unigram baseline. The shards here are written by hand (token i is i mod V), so every
// window can be checked against arithmetic.

#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "core/data/token_shards.h"
#include "core/errors.h"
#include "models/gpt/gpt.h"
#include "tests/support/temp_dir.h"

namespace fs = std::filesystem;
using namespace strata;
using namespace strata::data;

using strata::testing::TempDir;

namespace {

// Writes split `name` as shards of the given sizes holding `tokens` in order.
void write_split(const std::string& dir, ShardManifest& m, const std::string& name,
                 const std::vector<int64_t>& tokens, const std::vector<int64_t>& shard_sizes) {
  SplitShards split;
  size_t at = 0;
  for (size_t i = 0; i < shard_sizes.size(); ++i) {
    const std::string file = name + "-0000" + std::to_string(i) + ".bin";
    std::ofstream out(fs::path(dir) / file, std::ios::binary);
    for (int64_t n = 0; n < shard_sizes[i]; ++n, ++at) {
      if (m.dtype == "uint16") {
        const uint16_t v = uint16_t(tokens[at]);
        out.write(reinterpret_cast<const char*>(&v), 2);
      } else {
        const uint32_t v = uint32_t(tokens[at]);
        out.write(reinterpret_cast<const char*>(&v), 4);
      }
    }
    split.files.push_back({file, shard_sizes[i]});
    split.tokens += shard_sizes[i];
  }
  REQUIRE(at == tokens.size());
  m.splits[name] = split;
}

std::vector<int64_t> modular(int64_t n, int64_t vocab, int64_t offset = 0) {
  std::vector<int64_t> t(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) t[size_t(i)] = (i + offset) % vocab;
  return t;
}

// A data directory whose train split is 0, 1, ..., V-1, 0, 1, ... across three shards.
ShardManifest make_data(const std::string& dir, int64_t vocab = 1000) {
  ShardManifest m;
  m.vocab_size = vocab;
  m.eos_id = 2;
  m.dtype = token_dtype(vocab);
  m.tokenizer_hash = "fnv1a64:0";
  write_split(dir, m, "train", modular(5000, vocab), {1200, 3000, 800});
  write_split(dir, m, "validation", modular(1001, vocab, 17), {600, 401});
  write_split(dir, m, "test", {}, {});
  m.write(dir);
  return m;
}

// A model that predicts every token with the same probability.
class UniformModel : public Network {
 public:
  explicit UniformModel(int64_t vocab) : vocab_(vocab) {
    weight_ = register_parameter("weight", torch::zeros({1}));
  }
  torch::Tensor forward(const Batch& batch) override {
    return torch::zeros({batch.input.size(0), batch.input.size(1), vocab_}) * weight_;  // [B, T, V]
  }

 private:
  int64_t vocab_;
  torch::Tensor weight_;
};

TokenBatchOptions options(int64_t B, int64_t T, uint64_t seed, int64_t rank = 0,
                          int64_t world = 1) {
  TokenBatchOptions o;
  o.batch_size = B;
  o.block_size = T;
  o.seed = seed;
  o.shard = ShardOptions{rank, world};
  return o;
}

}  // namespace

TEST_CASE("shards: manifest round trip and mmap reads across shard boundaries", "[shards]") {
  TempDir dir("shards");
  const ShardManifest written = make_data(dir.path);
  const ShardManifest read = ShardManifest::read(dir.path);
  CHECK(read.to_json() == written.to_json());
  CHECK(read.dtype == "uint16");

  const TokenStream train = TokenStream::open(dir.path, "train");
  CHECK(train.size() == 5000);
  CHECK(train.vocab_size() == 1000);
  CHECK(train.eos_id() == 2);
  CHECK(train.read(1190, 20) == modular(20, 1000, 190));      // shard 0 -> 1
  CHECK(train.read(1100, 3000) == modular(3000, 1000, 100));  // through shard 1 into 2
  CHECK(train.read(4990, 10) == modular(10, 1000, 990));
  CHECK(train.counts()[0] == 5);
  CHECK(TokenStream::open(dir.path, "test").size() == 0);
  CHECK_THROWS_AS(TokenStream::open(dir.path, "dev"), InputError);

  CHECK(token_dtype(65536) == "uint16");
  CHECK(token_dtype(65537) == "uint32");
}

TEST_CASE("shards: uint32 tokens for large vocabularies", "[shards]") {
  TempDir dir("shards");
  ShardManifest m;
  m.vocab_size = 100000;
  m.eos_id = 2;
  m.dtype = token_dtype(m.vocab_size);
  REQUIRE(m.dtype == "uint32");
  write_split(dir.path, m, "train", modular(300, 100000, 99900), {100, 200});
  m.write(dir.path);
  const TokenStream s = TokenStream::open(dir.path, "train");
  CHECK(s.read(95, 10) == modular(10, 100000, 99995));
}

TEST_CASE("shards: damaged data directories are input errors", "[shards]") {
  TempDir dir("shards");
  CHECK_THROWS_WITH(TokenStream::open(dir.path, "train"), Catch::Contains("no prepared corpus"));
  make_data(dir.path);
  fs::resize_file(fs::path(dir.path) / "train-00001.bin", 100);
  CHECK_THROWS_WITH(TokenStream::open(dir.path, "train"), Catch::Contains("truncated"));
  std::ofstream(fs::path(dir.path) / "manifest.json") << "{\"version\": 1, \"tok";
  CHECK_THROWS_WITH(ShardManifest::read(dir.path), Catch::Contains("invalid JSON"));
}

TEST_CASE("shards: a stand-in shard or manifest is named for what it is", "[shards]") {
  TempDir dir("shards");
  make_data(dir.path);
  const auto shard = (fs::path(dir.path) / "train-00001.bin").string();
  std::ofstream(shard, std::ios::binary)
      << "version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 400\n";
  CHECK_THROWS_WITH(TokenStream::open(dir.path, "train"),
                    shard + ": a Git LFS pointer, not the file itself; run `git lfs pull`");
  std::ofstream(shard, std::ios::binary) << "<!DOCTYPE html><html><body>Not Found</body></html>";
  CHECK_THROWS_WITH(TokenStream::open(dir.path, "train"),
                    shard + ": an HTML page, not a token shard");

  const auto manifest = (fs::path(dir.path) / "manifest.json").string();
  std::ofstream(manifest) << "version https://git-lfs.github.com/spec/v1\noid sha256:0\n";
  CHECK_THROWS_WITH(ShardManifest::read(dir.path), Catch::Contains("a Git LFS pointer"));
  std::ofstream(manifest) << R"({"version": 1, "version": 2})";
  CHECK_THROWS_WITH(ShardManifest::read(dir.path), Catch::Contains("duplicate key 'version'"));
}

TEST_CASE("shards: windows are shifted pairs, sampled from (seed, counter) alone", "[shards]") {
  TempDir dir("shards");
  make_data(dir.path);
  const TokenStream train = TokenStream::open(dir.path, "train");
  TokenShardBatches a(train, options(8, 16, 42));
  CHECK(a.block_size() == 16);
  CHECK(a.batches_per_epoch() == 5000 / (8 * 16));

  Batch first = a.next();
  REQUIRE(first.input.sizes() == torch::IntArrayRef({8, 16}));
  REQUIRE(first.target.sizes() == torch::IntArrayRef({8, 16}));
  CHECK(first.input.scalar_type() == torch::kLong);
  // Token i is i mod V: each row counts up by one, and the target is the next token.
  CHECK(torch::equal(first.target, torch::remainder(first.input + 1, 1000)));
  CHECK(torch::equal(first.input.select(1, 15),
                     torch::remainder(first.input.select(1, 0) + 15, 1000)));
  std::set<int64_t> starts;
  for (int64_t s : a.window_starts(0)) {
    CHECK(s >= 0);
    CHECK(s + 17 <= 5000);
    starts.insert(s);
  }
  CHECK(starts.size() > 4);  // spread out, not one window repeated

  // The same seed gives the same stream; another seed another one.
  TokenShardBatches same(train, options(8, 16, 42)), other(train, options(8, 16, 43));
  CHECK(torch::equal(same.next().input, first.input));
  CHECK_FALSE(torch::equal(other.next().input, first.input));

  // Resume: the counter is the whole state.
  std::vector<Batch> uninterrupted;
  for (int i = 0; i < 6; ++i) uninterrupted.push_back(a.next());
  TokenShardBatches b(train, options(8, 16, 42));
  for (int i = 0; i < 4; ++i) b.next();
  const nlohmann::json state = b.state();
  CHECK(state.at("micro_batch") == 4);
  TokenShardBatches resumed(train, options(8, 16, 42));
  resumed.load_state(nlohmann::json::parse(state.dump()));
  CHECK(torch::equal(resumed.next().input, uninterrupted[3].input));
  CHECK(torch::equal(resumed.next().target, uninterrupted[4].target));
}

TEST_CASE("shards: two ranks take different slots that together are the global batch", "[shards]") {
  TempDir dir("shards");
  make_data(dir.path);
  const TokenStream train = TokenStream::open(dir.path, "train");
  TokenShardBatches one(train, options(8, 16, 7));
  TokenShardBatches rank0(train, options(8, 16, 7, 0, 2)), rank1(train, options(8, 16, 7, 1, 2));
  for (int step = 0; step < 5; ++step) {
    Batch global = one.next(), b0 = rank0.next(), b1 = rank1.next();
    CHECK(b0.size() == 4);
    CHECK(b1.size() == 4);
    CHECK(torch::equal(torch::cat({b0.input, b1.input}), global.input));
    CHECK(torch::equal(torch::cat({b0.target, b1.target}), global.target));
  }
  // Disjoint by slot: rank r serves rows [4r, 4r + 4) of the same global windows.
  const auto starts = one.window_starts(9);
  Batch b1 = rank1.batch_at(9);
  for (int64_t r = 0; r < 4; ++r) {
    CHECK(b1.input[r][0].item<int64_t>() == starts[size_t(4 + r)] % 1000);
  }
  CHECK_THROWS_WITH(TokenShardBatches(train, options(6, 16, 7, 0, 4)),
                    Catch::Contains("divisible"));
  CHECK_THROWS_WITH(TokenShardBatches(train, options(8, 5000, 7)),
                    Catch::Contains("block_size + 1"));
}

TEST_CASE("shards: held-out windows, held-out loss and the unigram baseline", "[shards]") {
  TempDir dir("shards");
  make_data(dir.path);
  const TokenStream train = TokenStream::open(dir.path, "train");
  const TokenStream val = TokenStream::open(dir.path, "validation");

  // 1001 tokens, T = 100: windows start at 0, 100, ..., 900 and never overlap.
  HeldOutWindows all(val, 100);
  CHECK(all.size() == 10);
  CHECK(all.tokens() == 1000);
  Batch b = all.batch(0, 10);
  CHECK(b.input.sizes() == torch::IntArrayRef({10, 100}));
  CHECK(b.input[3][0].item<int64_t>() == (300 + 17) % 1000);
  CHECK(torch::equal(b.target, torch::remainder(b.input + 1, 1000)));
  const auto targets = all.targets();
  CHECK(targets.size() == 1000);
  CHECK(std::set<int64_t>(targets.begin(), targets.end()).size() == 1000);  // each token once

  // At most 4 windows: spread evenly, the same every time.
  HeldOutWindows some(val, 100, 4);
  CHECK(some.size() == 4);
  CHECK(some.batch(1, 1).input[0][0].item<int64_t>() == (200 + 17) % 1000);
  CHECK(torch::equal(some.batch(0, 4).input, HeldOutWindows(val, 100, 4).batch(0, 4).input));
  CHECK_THROWS_WITH(HeldOutWindows(val, 1001), Catch::Contains("fewer than block_size + 1"));

  // Train holds every id 5 times (N = 5000, V = 1000): add-one gives p = 6 / 6000 for each.
  CHECK(unigram_baseline(train, all) == Approx(std::log(1000.0)).epsilon(1e-12));

  // A model that says nothing scores ln V, the same as a flat unigram; batches of any size.
  UniformModel model(1000);
  CausalLMObjective objective;
  HeldOutLoss loss = held_out_loss(model, objective, all, 3, torch::kCPU);
  CHECK(loss.tokens == 1000);
  CHECK(loss.mean() == Approx(std::log(1000.0)).epsilon(1e-6));
  CHECK(loss.perplexity() == Approx(1000.0).epsilon(1e-5));
  // Two ranks split the windows; their sums add up to the whole.
  HeldOutLoss l0 = held_out_loss(model, objective, all, 4, torch::kCPU, {0, 2});
  HeldOutLoss l1 = held_out_loss(model, objective, all, 4, torch::kCPU, {1, 2});
  CHECK(l0.tokens + l1.tokens == 1000);
  CHECK(l0.loss_sum + l1.loss_sum == Approx(loss.loss_sum));

  HeldOutEvaluator evaluator("validation", all, std::make_shared<CausalLMObjective>(), 8,
                             torch::kCPU, unigram_baseline(train, all));
  const Metrics m = evaluator.evaluate(model);
  CHECK(m.at("eval/validation/loss") == Approx(std::log(1000.0)).epsilon(1e-6));
  CHECK(m.count("eval/validation/ppl") == 1);
  CHECK(m.at("eval/validation/unigram_loss") == Approx(std::log(1000.0)));
}

TEST_CASE("shards: a skewed train split gives a baseline below uniform", "[shards]") {
  TempDir dir("shards");
  ShardManifest m;
  m.vocab_size = 10;
  m.eos_id = 2;
  m.dtype = "uint16";
  // Train: token 0 nine times out of ten. Validation: the same mix.
  std::vector<int64_t> train_tokens, val_tokens;
  for (int i = 0; i < 1000; ++i) train_tokens.push_back(i % 10 == 9 ? 1 : 0);
  for (int i = 0; i < 101; ++i) val_tokens.push_back(i % 10 == 9 ? 1 : 0);
  write_split(dir.path, m, "train", train_tokens, {1000});
  write_split(dir.path, m, "validation", val_tokens, {101});
  m.write(dir.path);
  const TokenStream train = TokenStream::open(dir.path, "train");
  HeldOutWindows windows(TokenStream::open(dir.path, "validation"), 10);
  // By hand: p(0) = 901/1010, p(1) = 101/1010, on targets 1..100 (10 of them are 1s).
  const double expected = -(90 * std::log(901.0 / 1010) + 10 * std::log(101.0 / 1010)) / 100;
  CHECK(unigram_baseline(train, windows) == Approx(expected).epsilon(1e-12));
  CHECK(expected < std::log(10.0));
}

TEST_CASE("shards: the in-context learning score against per-position losses by hand", "[shards]") {
  TempDir dir("shards-icl");
  make_data(dir.path);
  const TokenStream val = TokenStream::open(dir.path, "validation");
  HeldOutWindows windows(val, 100, 6);
  torch::manual_seed(5);
  strata::models::GPT model(strata::models::gpt_size("debug").vocab_size(1000).block_size(100));
  model->eval();
  const double score = strata::data::icl_score(*model->causal_lm(), windows, 4, torch::kCPU);
  // By hand: log_softmax of the full logits, the loss at each position averaged over the
  // windows, then positions [80, 100) minus positions [8, 12).
  torch::NoGradGuard no_grad;
  Batch b = windows.batch(0, windows.size());
  auto logp = torch::log_softmax(model->forward(b.input).to(torch::kDouble), -1);
  auto nll = -logp.gather(2, b.target.unsqueeze(2)).squeeze(2).mean(0);  // [T]
  const double expected = nll.slice(0, 80, 100).mean().item<double>() -
                          nll.slice(0, 8, 12).mean().item<double>();
  CHECK(score == Approx(expected).margin(1e-6));
  // Too short a window for the early range: no score.
  CHECK(std::isnan(strata::data::icl_score(*model->causal_lm(), HeldOutWindows(val, 10, 2), 4,
                                            torch::kCPU)));
}
