#include "core/data/token_shards.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/checkpoint.h"
#include "core/errors.h"
#include "core/hash.h"
#include "core/json_input.h"
#include "core/sniff.h"

namespace fs = std::filesystem;

namespace strata::data {
namespace {

// The window of row `row` in global micro-batch `k`: a pure function of (seed, k, row).
uint64_t window_hash(uint64_t seed, int64_t k, int64_t row) {
  uint64_t h = splitmix64(seed ^ 0x7374726174612d77ULL);  // "strata-w"
  h = splitmix64(h ^ uint64_t(k));
  return splitmix64(h ^ uint64_t(row));
}

}  // namespace

// --- The manifest --------------------------------------------------------------------------

std::string manifest_path(const std::string& data_dir) {
  return (fs::path(data_dir) / "manifest.json").string();
}

std::string token_dtype(int64_t vocab_size) { return vocab_size <= 65536 ? "uint16" : "uint32"; }

int64_t dtype_bytes(const std::string& dtype) {
  if (dtype == "uint16") return 2;
  if (dtype == "uint32") return 4;
  throw InputError("unknown token dtype '" + dtype + "' (valid: uint16, uint32)");
}

nlohmann::json ShardManifest::to_json() const {
  nlohmann::json j;
  j["version"] = version;
  j["tokenizer"] = tokenizer;
  j["tokenizer_hash"] = tokenizer_hash;
  j["vocab_size"] = vocab_size;
  j["eos_id"] = eos_id;
  j["dtype"] = dtype;
  j["splits"] = nlohmann::json::object();
  for (const auto& [name, s] : splits) {
    nlohmann::json files = nlohmann::json::array();
    for (const auto& f : s.files) files.push_back({{"path", f.path}, {"tokens", f.tokens}});
    j["splits"][name] = {
        {"tokens", s.tokens}, {"documents", s.documents}, {"bytes", s.bytes}, {"files", files}};
  }
  j["request"] = request;
  j["info"] = info;
  return j;
}

ShardManifest ShardManifest::from_json(const nlohmann::json& j, const std::string& where) {
  ShardManifest m;
  try {
    m.version = int(json_int64(j.at("version"), "data manifest " + where, "version"));
    if (m.version != kVersion) {
      throw InputError("data manifest " + where + " has version " + std::to_string(m.version) +
                       ", this Strata reads version " + std::to_string(kVersion) +
                       " (prepare the corpus again)");
    }
    m.tokenizer = j.at("tokenizer").get<std::string>();
    m.tokenizer_hash = j.at("tokenizer_hash").get<std::string>();
    m.vocab_size = json_int64(j.at("vocab_size"), "data manifest " + where, "vocab_size");
    m.eos_id = json_int64(j.at("eos_id"), "data manifest " + where, "eos_id");
    m.dtype = j.at("dtype").get<std::string>();
    dtype_bytes(m.dtype);
    for (const auto& [name, s] : j.at("splits").items()) {
      SplitShards split;
      split.tokens = json_int64(s.at("tokens"), "data manifest " + where, "splits." + name + ".tokens");
      split.documents = json_int64(s.at("documents"), "data manifest " + where, "splits." + name + ".documents");
      split.bytes = json_int64(s.at("bytes"), "data manifest " + where, "splits." + name + ".bytes");
      int64_t sum = 0;
      for (const auto& f : s.at("files")) {
        split.files.push_back({f.at("path").get<std::string>(),
                               json_int64(f.at("tokens"), "data manifest " + where, "splits." + name + ".files.tokens")});
        sum += split.files.back().tokens;
      }
      if (sum != split.tokens) {
        throw InputError("data manifest " + where + ": split " + name +
                         " lists shards that do not add up to its token count");
      }
      m.splits[name] = std::move(split);
    }
    m.request = j.value("request", nlohmann::json::object());
    m.info = j.value("info", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    throw InputError("data manifest " + where + " is damaged: " + e.what());
  }
  return m;
}

ShardManifest ShardManifest::read(const std::string& data_dir) {
  const std::string path = manifest_path(data_dir);
  std::ifstream in(path);
  if (!in) throw InputError("no prepared corpus in " + data_dir + " (" + path + " is missing)");
  std::stringstream text;
  text << in.rdbuf();
  return from_json(parse_json_input(text.str(), "data manifest " + path, "a JSON manifest"), path);
}

void ShardManifest::write(const std::string& data_dir) const {
  write_file_atomic(manifest_path(data_dir), to_json().dump(2) + "\n");
}

// --- TokenStream ---------------------------------------------------------------------------

struct TokenStream::Mapped {
  struct Region {
    const unsigned char* data = nullptr;
    size_t bytes = 0;
    int64_t begin = 0;  // first token's offset in the stream
    int64_t tokens = 0;
  };
  std::vector<Region> regions;
  int64_t size = 0;
  int64_t width = 2;  // bytes per token
  int64_t vocab_size = 0;
  int64_t eos_id = -1;
  std::string split;

  ~Mapped() {
    for (auto& r : regions) munmap(const_cast<unsigned char*>(r.data), r.bytes);
  }
};

TokenStream TokenStream::open(const std::string& data_dir, const std::string& split) {
  const ShardManifest m = ShardManifest::read(data_dir);
  auto it = m.splits.find(split);
  if (it == m.splits.end()) {
    throw InputError("prepared corpus " + data_dir + " has no split '" + split + "'");
  }
  auto mapped = std::make_shared<Mapped>();
  mapped->width = dtype_bytes(m.dtype);
  mapped->vocab_size = m.vocab_size;
  mapped->eos_id = m.eos_id;
  mapped->split = split;
  for (const auto& f : it->second.files) {
    if (f.tokens == 0) continue;
    const std::string path = (fs::path(data_dir) / f.path).string();
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      refuse_impostor(path, "a token shard");  // a dangling git-annex link
      throw InputError("token shard missing or unreadable: " + path);
    }
    struct stat st {};
    const size_t want = size_t(f.tokens) * size_t(mapped->width);
    if (fstat(fd, &st) != 0 || size_t(st.st_size) != want) {
      ::close(fd);
      // Raw tokens have no signature, so a stand-in is looked for only once the size is
      // wrong: then a Git LFS pointer or an HTML page is named for what it is.
      refuse_impostor(path, "a token shard");
      throw InputError("token shard " + path +
                       " is truncated or damaged: " + std::to_string(st.st_size) +
                       " bytes, the manifest says " + std::to_string(want));
    }
    void* addr = mmap(nullptr, want, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    if (addr == MAP_FAILED) throw std::runtime_error("cannot mmap token shard " + path);
    madvise(addr, want, MADV_WILLNEED);  // start reading it into the page cache now
    mapped->regions.push_back(
        {static_cast<const unsigned char*>(addr), want, mapped->size, f.tokens});
    mapped->size += f.tokens;
  }
  TokenStream s;
  s.mapped_ = std::move(mapped);
  return s;
}

int64_t TokenStream::size() const { return mapped_->size; }
int64_t TokenStream::vocab_size() const { return mapped_->vocab_size; }
int64_t TokenStream::eos_id() const { return mapped_->eos_id; }
const std::string& TokenStream::split() const { return mapped_->split; }

void TokenStream::read(int64_t offset, int64_t count, int64_t* out) const {
  const Mapped& m = *mapped_;
  TORCH_CHECK(offset >= 0 && count >= 0 && offset + count <= m.size, "token range [", offset, ", ",
              offset + count, ") outside split ", m.split, " of ", m.size, " tokens");
  if (count == 0) return;
  auto region = std::upper_bound(m.regions.begin(), m.regions.end(), offset,
                                 [](int64_t o, const Mapped::Region& r) { return o < r.begin; });
  --region;  // the region holding `offset`
  while (count > 0) {
    const int64_t local = offset - region->begin;
    const int64_t n = std::min(count, region->tokens - local);
    if (m.width == 2) {
      const auto* p = reinterpret_cast<const uint16_t*>(region->data) + local;
      for (int64_t i = 0; i < n; ++i) out[i] = p[i];
    } else {
      const auto* p = reinterpret_cast<const uint32_t*>(region->data) + local;
      for (int64_t i = 0; i < n; ++i) out[i] = p[i];
    }
    out += n;
    offset += n;
    count -= n;
    ++region;
  }
}

std::vector<int64_t> TokenStream::read(int64_t offset, int64_t count) const {
  std::vector<int64_t> out(size_t(std::max<int64_t>(count, 0)));
  read(offset, count, out.data());
  return out;
}

std::vector<int64_t> TokenStream::counts() const {
  const Mapped& m = *mapped_;
  std::vector<int64_t> counts(size_t(m.vocab_size), 0);
  auto tally = [&](uint32_t id) {
    TORCH_CHECK(id < uint32_t(m.vocab_size), "token id ", id, " in split ", m.split,
                " is outside the vocabulary of ", m.vocab_size);
    ++counts[id];
  };
  for (const auto& r : m.regions) {
    if (m.width == 2) {
      const auto* p = reinterpret_cast<const uint16_t*>(r.data);
      for (int64_t i = 0; i < r.tokens; ++i) tally(p[i]);
    } else {
      const auto* p = reinterpret_cast<const uint32_t*>(r.data);
      for (int64_t i = 0; i < r.tokens; ++i) tally(p[i]);
    }
  }
  return counts;
}

// --- TokenShardBatches ---------------------------------------------------------------------

TokenShardBatches::TokenShardBatches(TokenStream stream, TokenBatchOptions options)
    : stream_(std::move(stream)), options_(options) {
  const auto& o = options_;
  if (o.block_size < 1)
    throw InputError("block_size must be positive, got " + std::to_string(o.block_size));
  if (o.batch_size < 1)
    throw InputError("batch_size must be positive, got " + std::to_string(o.batch_size));
  if (o.shard.world < 1 || o.shard.rank < 0 || o.shard.rank >= o.shard.world) {
    throw InputError("bad data-parallel rank " + std::to_string(o.shard.rank) + " of world " +
                     std::to_string(o.shard.world));
  }
  if (o.batch_size % o.shard.world != 0) {
    throw InputError("batch_size " + std::to_string(o.batch_size) +
                     " must be divisible by the number of processes (" +
                     std::to_string(o.shard.world) + ") so that every rank takes an equal share");
  }
  if (stream_.size() < o.block_size + 1) {
    throw InputError("split " + stream_.split() + " holds " + std::to_string(stream_.size()) +
                     " tokens, fewer than block_size + 1 = " + std::to_string(o.block_size + 1) +
                     " (use a larger corpus or a shorter block_size)");
  }
}

std::vector<int64_t> TokenShardBatches::window_starts(int64_t k) const {
  const uint64_t starts = uint64_t(stream_.size() - options_.block_size);  // windows that fit
  std::vector<int64_t> out(size_t(options_.batch_size));
  for (int64_t r = 0; r < options_.batch_size; ++r) {
    out[size_t(r)] = int64_t(window_hash(options_.seed, k, r) % starts);
  }
  return out;
}

Batch TokenShardBatches::batch_at(int64_t k) const {
  const int64_t B = options_.batch_size, T = options_.block_size;
  const int64_t from = B * options_.shard.rank / options_.shard.world;
  const int64_t to = B * (options_.shard.rank + 1) / options_.shard.world;
  const auto starts = window_starts(k);
  auto windows = torch::empty({to - from, T + 1}, torch::kLong);  // [b, T+1]
  int64_t* p = windows.data_ptr<int64_t>();
  for (int64_t r = from; r < to; ++r)
    stream_.read(starts[size_t(r)], T + 1, p + (r - from) * (T + 1));
  Batch batch;
  batch.input = windows.slice(1, 0, T).contiguous();       // [b, T]
  batch.target = windows.slice(1, 1, T + 1).contiguous();  // [b, T]
  return batch;
}

Batch TokenShardBatches::next() { return batch_at(counter_++); }

int64_t TokenShardBatches::batches_per_epoch() const {
  return std::max<int64_t>(1, stream_.size() / (options_.batch_size * options_.block_size));
}

nlohmann::json TokenShardBatches::state() const {
  // Only micro_batch is needed to resume; the rest says what it counts in.
  return {{"micro_batch", counter_},
          {"seed", options_.seed},
          {"batch_size", options_.batch_size},
          {"block_size", options_.block_size}};
}

void TokenShardBatches::load_state(const nlohmann::json& state) {
  counter_ = json_int64(state.at("micro_batch"), "state.json", "data.micro_batch");
}

// --- Held-out windows ----------------------------------------------------------------------

HeldOutWindows::HeldOutWindows(TokenStream stream, int64_t block_size, int64_t max_windows)
    : stream_(std::move(stream)), block_size_(block_size) {
  if (block_size < 1)
    throw InputError("block_size must be positive, got " + std::to_string(block_size));
  const int64_t total = stream_.size() > block_size ? (stream_.size() - 1) / block_size : 0;
  if (total == 0) {
    throw InputError("held-out split " + stream_.split() + " holds " +
                     std::to_string(stream_.size()) + " tokens, fewer than block_size + 1 = " +
                     std::to_string(block_size + 1) + " for one evaluation window");
  }
  const int64_t n = max_windows > 0 ? std::min(total, max_windows) : total;
  starts_.reserve(size_t(n));
  for (int64_t j = 0; j < n; ++j) starts_.push_back(j * total / n * block_size);
}

Batch HeldOutWindows::batch(int64_t first, int64_t count) const {
  const int64_t T = block_size_;
  TORCH_CHECK(first >= 0 && count >= 0 && first + count <= size(), "held-out windows out of range");
  auto windows = torch::empty({count, T + 1}, torch::kLong);  // [n, T+1]
  int64_t* p = windows.data_ptr<int64_t>();
  for (int64_t i = 0; i < count; ++i)
    stream_.read(starts_[size_t(first + i)], T + 1, p + i * (T + 1));
  Batch batch;
  batch.input = windows.slice(1, 0, T).contiguous();       // [n, T]
  batch.target = windows.slice(1, 1, T + 1).contiguous();  // [n, T]
  return batch;
}

std::vector<int64_t> HeldOutWindows::targets() const {
  std::vector<int64_t> out(static_cast<size_t>(tokens()));
  for (int64_t i = 0; i < size(); ++i)
    stream_.read(starts_[size_t(i)] + 1, block_size_, out.data() + i * block_size_);
  return out;
}

HeldOutLoss held_out_loss(Network& model, Objective& objective, const HeldOutWindows& windows,
                          int64_t batch_size, torch::Device device, ShardOptions shard) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  const int64_t n = windows.size();
  const int64_t from = n * shard.rank / shard.world, to = n * (shard.rank + 1) / shard.world;
  HeldOutLoss total;
  for (int64_t i = from; i < to; i += batch_size) {
    Batch batch = windows.batch(i, std::min(batch_size, to - i)).to(device);
    LossOutput out = objective.compute(model, batch);
    if (out.count == 0) continue;
    total.loss_sum += out.loss.item<double>() * double(out.count);
    total.tokens += out.count;
  }
  model.train(was_training);
  return total;
}

double unigram_baseline(const TokenStream& train, const HeldOutWindows& held_out) {
  const std::vector<int64_t> counts = train.counts();
  const double V = double(counts.size());
  const double N = double(train.size());
  double nats = 0.0;
  const auto targets = held_out.targets();
  for (int64_t t : targets) {
    const double c = t >= 0 && t < int64_t(counts.size()) ? double(counts[size_t(t)]) : 0.0;
    nats -= std::log((c + 1.0) / (N + V));
  }
  return targets.empty() ? 0.0 : nats / double(targets.size());
}

HeldOutEvaluator::HeldOutEvaluator(std::string name, HeldOutWindows windows,
                                   std::shared_ptr<Objective> objective, int64_t batch_size,
                                   torch::Device device, double unigram_loss)
    : name_(std::move(name)),
      windows_(std::move(windows)),
      objective_(std::move(objective)),
      batch_size_(batch_size),
      device_(device),
      unigram_loss_(unigram_loss) {}

double icl_score(CausalLM& model, const HeldOutWindows& windows, int64_t batch_size,
                 torch::Device device) {
  const int64_t T = windows.block_size();
  const int64_t early_from = (8 * T + 50) / 100, early_to = (12 * T + 50) / 100;
  const int64_t late_from = (80 * T + 50) / 100;
  if (T < 13 || early_to <= early_from || windows.size() == 0) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  torch::NoGradGuard no_grad;
  auto per_position = torch::zeros({T}, torch::kDouble);
  for (int64_t i = 0; i < windows.size(); i += batch_size) {
    Batch batch = windows.batch(i, std::min(batch_size, windows.size() - i)).to(device);
    auto scores = model.score(batch.input, batch.target);
    per_position += -scores.logprobs.to(torch::kCPU, torch::kDouble).sum(0);
  }
  per_position /= double(windows.size());
  const double late = per_position.slice(0, late_from, T).mean().item<double>();
  const double early = per_position.slice(0, early_from, early_to).mean().item<double>();
  return late - early;
}

Metrics HeldOutEvaluator::evaluate(Network& model) {
  const HeldOutLoss loss = held_out_loss(model, *objective_, windows_, batch_size_, device_);
  Metrics m = {{"eval/" + name_ + "/loss", loss.mean()},
               {"eval/" + name_ + "/ppl", loss.perplexity()}};
  if (!std::isnan(unigram_loss_)) m["eval/" + name_ + "/unigram_loss"] = unigram_loss_;
  if (CausalLM* lm = model.causal_lm()) {
    const bool was_training = model.is_training();
    model.eval();
    const double score = icl_score(*lm, windows_, batch_size_, device_);
    model.train(was_training);
    if (!std::isnan(score)) m["eval/" + name_ + "/icl_score"] = score;
  }
  return m;
}

}  // namespace strata::data
