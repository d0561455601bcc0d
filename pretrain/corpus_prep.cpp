#include "pretrain/corpus_prep.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/clock.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/run.h"
#include "pretrain/chunked_encode.h"

namespace fs = std::filesystem;

namespace strata::pretrain {
namespace {

using Clock = std::chrono::steady_clock;

struct Fnv1a64 {
  uint64_t h = 0xcbf29ce484222325ULL;
  void add(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) {
      h ^= p[i];
      h *= 0x100000001b3ULL;
    }
  }
  void add(const std::string& s) { add(s.data(), s.size() + 1); }  // with the NUL: a separator
  std::string hex() const {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "fnv1a64:%016llx", static_cast<unsigned long long>(h));
    return buf;
  }
};

// What the shards depend on from the corpus: every document's id, split and text.
std::string corpus_fingerprint(const data::Corpus& corpus) {
  Fnv1a64 f;
  for (const auto& d : corpus.documents) {
    f.add(d.id);
    f.add(data::split_name(d.split));
    f.add(d.text);
  }
  return f.hex();
}

// The trainer options that change the model (not threads or logging).
nlohmann::json tokenizer_request(const TokenizerTrainOptions& o) {
  return {{"model_type", o.model_type},
          {"vocab_size", o.vocab_size},
          {"character_coverage", o.character_coverage},
          {"user_defined_symbols", o.user_defined_symbols},
          {"control_symbols", o.control_symbols},
          {"unk_id", o.unk_id},
          {"bos_id", o.bos_id},
          {"eos_id", o.eos_id},
          {"pad_id", o.pad_id},
          {"input_sentence_size", o.input_sentence_size},
          {"shuffle_input_sentence", o.shuffle_input_sentence},
          {"max_sentence_length", o.max_sentence_length},
          {"normalization_rule_name", o.normalization_rule_name},
          {"remove_extra_whitespaces", o.remove_extra_whitespaces},
          {"add_dummy_prefix", o.add_dummy_prefix},
          {"split_digits", o.split_digits},
          {"byte_fallback", o.byte_fallback},
          {"hard_vocab_limit", o.hard_vocab_limit},
          {"keep_newlines", o.keep_newlines}};
}

// True when dir holds a complete preparation of exactly this request.
bool matches(const std::string& dir, const nlohmann::json& request, data::ShardManifest& out) {
  std::error_code ec;
  if (!fs::is_regular_file(data::manifest_path(dir), ec)) return false;
  try {
    data::ShardManifest m = data::ShardManifest::read(dir);
    if (m.request != request) return false;
    if (file_hash((fs::path(dir) / m.tokenizer).string()) != m.tokenizer_hash) return false;
    const int64_t width = data::dtype_bytes(m.dtype);
    for (const auto& [name, split] : m.splits) {
      for (const auto& f : split.files) {
        auto size = fs::file_size(fs::path(dir) / f.path, ec);
        if (ec || int64_t(size) != f.tokens * width) return false;
      }
    }
    out = std::move(m);
    return true;
  } catch (const InputError&) {
    return false;  // damaged: prepare again
  }
}

// Removes what an earlier preparation left, manifest first, so nothing half-written is
// ever taken for complete.
void clear_previous(const std::string& dir) {
  std::error_code ec;
  fs::remove(data::manifest_path(dir), ec);
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::end(it); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const bool shard = name.size() > 4 && (name.rfind(".bin") == name.size() - 4 ||
                                           name.find(".bin.tmp") != std::string::npos);
    for (const char* split : {"train-", "validation-", "test-"}) {
      if (shard && name.rfind(split, 0) == 0) {
        std::error_code ignored;
        fs::remove(it->path(), ignored);
      }
    }
  }
}

void copy_file_atomic(const std::string& from, const std::string& to) {
  std::error_code ec;
  const std::string tmp = to + ".tmp";
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing, ec);
  if (!ec) fs::rename(tmp, to, ec);
  if (ec)
    throw InputError("cannot copy tokenizer model " + from + " to " + to + ": " + ec.message());
}

void train_tokenizer(const data::Corpus& corpus, const CorpusPrepOptions& o, int threads) {
  // SentencePiece reads lines from files: the train split, one document after another.
  const std::string text_path = (fs::path(o.out_dir) / "tokenizer-train.txt").string();
  {
    std::ofstream out(text_path, std::ios::binary);
    for (const auto* d : corpus.split(data::Split::kTrain)) {
      out << d->text;
      if (d->text.empty() || d->text.back() != '\n') out << '\n';
    }
    if (!out) throw InputError("cannot write " + text_path);
  }
  TokenizerTrainOptions t = o.tokenizer;
  if (t.num_threads <= 0) t.num_threads = threads;
  try {
    Tokenizer::train({text_path}, (fs::path(o.out_dir) / "tokenizer").string(), t);
  } catch (const InputError& e) {
    std::error_code ec;
    fs::remove(text_path, ec);
    const std::string why = e.what();
    if (why.find("ocabulary size") != std::string::npos ||
        why.find("vocab_size") != std::string::npos) {
      throw InputError("tokenizer vocab_size " + std::to_string(t.vocab_size) +
                       " is larger than corpus '" + corpus.name + "' supports (" +
                       std::to_string(corpus.bytes(data::Split::kTrain)) +
                       " bytes of training text); lower vocab_size. SentencePiece: " + why);
    }
    throw;
  }
  std::error_code ec;
  fs::remove(text_path, ec);
}

// Writes one split's tokens into shards of at most shard_tokens, each under a temporary
// name until it is complete.
class ShardWriter {
 public:
  ShardWriter(std::string dir, std::string split, int64_t width, int64_t shard_tokens)
      : dir_(std::move(dir)),
        split_(std::move(split)),
        width_(width),
        shard_tokens_(shard_tokens) {}
  ~ShardWriter() {
    if (file_ != nullptr) std::fclose(file_);
  }

  void append(const std::vector<int>& ids) {
    size_t i = 0;
    while (i < ids.size()) {
      if (file_ == nullptr) open_next();
      const size_t room = size_t(shard_tokens_ - in_shard_);
      const size_t n = std::min(room, ids.size() - i);
      write(ids.data() + i, n);
      i += n;
      in_shard_ += int64_t(n);
      if (in_shard_ == shard_tokens_) close_current();
    }
  }

  data::SplitShards finish() {
    if (file_ != nullptr) close_current();
    return std::move(result_);
  }

 private:
  std::string name(size_t index) const {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "-%05zu.bin", index);
    return split_ + buf;
  }

  void open_next() {
    current_ = (fs::path(dir_) / name(result_.files.size())).string();
    file_ = std::fopen((current_ + ".tmp").c_str(), "wb");
    if (file_ == nullptr) throw InputError("cannot write token shard " + current_ + ".tmp");
    in_shard_ = 0;
  }

  void write(const int* ids, size_t n) {
    buffer_.resize(n * size_t(width_));
    if (width_ == 2) {
      auto* p = reinterpret_cast<uint16_t*>(buffer_.data());
      for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint16_t>(ids[i]);
    } else {
      auto* p = reinterpret_cast<uint32_t*>(buffer_.data());
      for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint32_t>(ids[i]);
    }
    if (std::fwrite(buffer_.data(), 1, buffer_.size(), file_) != buffer_.size()) {
      throw InputError("cannot write token shard " + current_ + " (disk full?)");
    }
  }

  void close_current() {
    const bool ok = std::fflush(file_) == 0 && fsync(fileno(file_)) == 0;
    std::fclose(file_);
    file_ = nullptr;
    std::error_code ec;
    if (ok) fs::rename(current_ + ".tmp", current_, ec);
    if (!ok || ec) throw InputError("cannot write token shard " + current_);
    result_.files.push_back({fs::path(current_).filename().string(), in_shard_});
    result_.tokens += in_shard_;
  }

  std::string dir_, split_;
  int64_t width_, shard_tokens_;
  std::FILE* file_ = nullptr;
  std::string current_;
  int64_t in_shard_ = 0;
  std::vector<char> buffer_;
  data::SplitShards result_;
};

// Texts go to the encoder in groups of about this many bytes, so token memory stays bounded
// on corpora larger than this one while every core still gets many documents.
constexpr int64_t kGroupBytes = int64_t(64) << 20;
// Documents are encoded in pieces of about this size where that is exact (chunked_encode.h).
constexpr size_t kPieceBytes = 1024;

data::SplitShards write_split(const data::Corpus& corpus, data::Split split, const Tokenizer& tok,
                              const CorpusPrepOptions& o, int64_t width, bool in_pieces,
                              int threads) {
  ShardWriter writer(o.out_dir, data::split_name(split), width, o.shard_tokens);
  const auto docs = corpus.split(split);
  const int eos = tok.eos_id();
  int64_t bytes = 0;
  for (size_t first = 0; first < docs.size();) {
    std::vector<const std::string*> texts;
    int64_t group = 0;
    for (; first < docs.size() && (texts.empty() || group < kGroupBytes); ++first) {
      texts.push_back(&docs[first]->text);
      group += int64_t(docs[first]->text.size());
    }
    auto ids = encode_documents(tok, texts, in_pieces, kPieceBytes, threads);
    for (auto& doc : ids) {
      doc.push_back(eos);
      writer.append(doc);
    }
    bytes += group;
  }
  data::SplitShards shards = writer.finish();
  shards.documents = int64_t(docs.size());
  shards.bytes = bytes;
  return shards;
}

std::string human_count(int64_t n) {
  if (n >= 10'000'000) return std::to_string(n / 1'000'000) + "M";
  if (n >= 10'000) return std::to_string(n / 1'000) + "k";
  return std::to_string(n);
}

}  // namespace

std::string file_hash(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot read " + path);
  Fnv1a64 f;
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), std::streamsize(buf.size()));
    f.add(buf.data(), size_t(in.gcount()));
  }
  return f.hex();
}

data::ShardManifest write_token_shards(const std::string& dir,
                                       const std::map<std::string, torch::Tensor>& splits,
                                       int64_t vocab_size, int64_t eos_id, int64_t shard_tokens) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw InputError("cannot create data directory " + dir + ": " + ec.message());
  data::ShardManifest m;
  m.vocab_size = vocab_size;
  m.eos_id = eos_id;
  m.dtype = data::token_dtype(vocab_size);
  m.info = {{"origin", "write_token_shards (no tokenizer)"}};
  for (const auto& [name, tokens] : splits) {
    auto ids = tokens.to(torch::kCPU).to(torch::kInt).contiguous().view({-1});
    if (ids.numel() > 0 && (ids.min().item<int>() < 0 || ids.max().item<int64_t>() >= vocab_size)) {
      throw InputError(fmt::format("write_token_shards: split {} has ids outside [0, {})", name,
                                   vocab_size));
    }
    ShardWriter writer(dir, name, data::dtype_bytes(m.dtype), shard_tokens);
    writer.append(std::vector<int>(ids.data_ptr<int>(), ids.data_ptr<int>() + ids.numel()));
    m.splits[name] = writer.finish();
    m.splits[name].documents = 1;
  }
  m.write(dir);
  return m;
}

std::string PreparedCorpus::tokenizer_path() const {
  return (fs::path(dir) / manifest.tokenizer).string();
}

TokenizerTrainOptions with_mlm_symbols(TokenizerTrainOptions o) {
  if (o.pad_id < 0) {
    int64_t id = 0;
    while (id == o.unk_id || id == o.bos_id || id == o.eos_id) ++id;
    o.pad_id = id;
  }
  for (const char* s : {"[MASK]", "[CLS]", "[SEP]"}) {
    if (std::find(o.user_defined_symbols.begin(), o.user_defined_symbols.end(), s) ==
        o.user_defined_symbols.end()) {
      o.user_defined_symbols.emplace_back(s);
    }
  }
  return o;
}

PreparedCorpus prepare_corpus(const CorpusPrepOptions& o) {
  if (o.out_dir.empty()) throw InputError("corpus preparation needs an output directory");
  if (o.shard_tokens < 1) throw InputError("shard_tokens must be positive");
  const int threads = o.threads > 0 ? o.threads : int(usable_cores());

  const data::Corpus corpus = data::load_corpus(o.corpus, o.corpus_options);
  const std::string fingerprint = corpus_fingerprint(corpus);
  if (!o.expected_corpus_hash.empty() && fingerprint != o.expected_corpus_hash) {
    throw InputError(fmt::format(
        "corpus {}: changed since the run started (fingerprint {} then, {} now, {} documents "
        "now); resume with the run's own corpus, or start afresh with overwrite=true",
        corpus.name, o.expected_corpus_hash, fingerprint, corpus.documents.size()));
  }
  nlohmann::json request = {{"version", data::ShardManifest::kVersion},
                            {"corpus", o.corpus},
                            {"corpus_hash", fingerprint},
                            {"documents", corpus.documents.size()},
                            {"validation_fraction", o.corpus_options.validation_fraction},
                            {"test_fraction", o.corpus_options.test_fraction},
                            {"shard_tokens", o.shard_tokens}};
  if (!o.tokenizer_model.empty()) {
    std::error_code ec;
    if (!fs::is_regular_file(o.tokenizer_model, ec)) {
      throw InputError("tokenizer model not found: " + o.tokenizer_model);
    }
    request["tokenizer"] = {{"model_hash", file_hash(o.tokenizer_model)}};
  } else {
    request["tokenizer"] = {{"train", tokenizer_request(o.tokenizer)}};
  }

  PreparedCorpus result;
  result.dir = o.out_dir;
  if (!o.force && matches(o.out_dir, request, result.manifest)) {
    result.reused = true;
    if (o.verbose)
      log::info("corpus {}: reusing the prepared shards in {}", corpus.name, o.out_dir);
    return result;
  }

  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (!fs::is_directory(o.out_dir, ec))
    throw InputError("cannot create data directory " + o.out_dir);
  clear_previous(o.out_dir);

  const std::string model_path = (fs::path(o.out_dir) / "tokenizer.model").string();
  auto start = Clock::now();
  if (!o.tokenizer_model.empty()) {
    if (fs::weakly_canonical(o.tokenizer_model, ec) != fs::weakly_canonical(model_path, ec)) {
      copy_file_atomic(o.tokenizer_model, model_path);
    }
  } else {
    if (o.verbose) {
      log::info("corpus {}: training a {} tokenizer (vocab_size {}) on {} train documents",
                corpus.name, o.tokenizer.model_type, o.tokenizer.vocab_size,
                corpus.documents_in(data::Split::kTrain));
    }
    train_tokenizer(corpus, o, threads);
  }
  result.train_seconds = seconds_since(start);
  const Tokenizer tok = Tokenizer::load(model_path);
  if (tok.eos_id() < 0) {
    throw InputError(
        "tokenizer model " + (o.tokenizer_model.empty() ? model_path : o.tokenizer_model) +
        " has no EOS id, which separates documents in the shards (train it with eos_id >= 0)");
  }

  data::ShardManifest& m = result.manifest;
  m.tokenizer = "tokenizer.model";
  m.tokenizer_hash = file_hash(model_path);
  m.vocab_size = tok.vocab_size();
  m.eos_id = tok.eos_id();
  m.dtype = data::token_dtype(m.vocab_size);
  m.request = request;

  start = Clock::now();
  const bool in_pieces = model_encodes_words_independently(model_path);
  for (auto split : {data::Split::kTrain, data::Split::kValidation, data::Split::kTest}) {
    m.splits[data::split_name(split)] =
        write_split(corpus, split, tok, o, data::dtype_bytes(m.dtype), in_pieces, threads);
  }
  result.tokenize_seconds = seconds_since(start);
  result.text_bytes = corpus.bytes();
  m.info = {{"corpus_name", corpus.name},
            {"tokenizer_source", o.tokenizer_model.empty() ? "trained" : o.tokenizer_model},
            {"threads", threads},
            {"encoded_in_pieces", in_pieces},
            {"text_bytes", result.text_bytes},
            {"tokenizer_train_seconds", result.train_seconds},
            {"tokenize_seconds", result.tokenize_seconds}};
  m.write(o.out_dir);

  if (o.verbose) {
    const auto& s = m.splits;
    log::info(
        "corpus {}: {} documents, {:.1f} MB tokenized in {:.2f} s on {} threads ({:.1f} MB/s); "
        "tokens train {}, validation {}, test {} ({}, vocab {}) in {}",
        corpus.name, corpus.documents.size(), double(result.text_bytes) / 1e6,
        result.tokenize_seconds, threads,
        double(result.text_bytes) / 1e6 / std::max(result.tokenize_seconds, 1e-9),
        human_count(s.at("train").tokens), human_count(s.at("validation").tokens),
        human_count(s.at("test").tokens), m.dtype, m.vocab_size, o.out_dir);
  }
  return result;
}

}  // namespace strata::pretrain
