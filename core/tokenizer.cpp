#include "core/tokenizer.h"

#include <dlfcn.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_set>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/checkpoint.h"
#include "core/errors.h"
#include "core/paths.h"
#include "core/sniff.h"
#include "core/tokenizer/spm_shim/strata_spm.h"
#include "core/wordpiece.h"

namespace fs = std::filesystem;

namespace strata {
namespace {

// --- Loading the shim ------------------------------------------------------------------

// The shim's entry points, resolved once per process.
struct Shim {
  decltype(&strata_spm_abi_version) abi_version = nullptr;
  decltype(&strata_spm_train) train = nullptr;
  decltype(&strata_spm_load) load = nullptr;
  decltype(&strata_spm_free_model) free_model = nullptr;
  decltype(&strata_spm_encode) encode = nullptr;
  decltype(&strata_spm_encode_pieces) encode_pieces = nullptr;
  decltype(&strata_spm_decode) decode = nullptr;
  decltype(&strata_spm_vocab_size) vocab_size = nullptr;
  decltype(&strata_spm_unk_id) unk_id = nullptr;
  decltype(&strata_spm_bos_id) bos_id = nullptr;
  decltype(&strata_spm_eos_id) eos_id = nullptr;
  decltype(&strata_spm_pad_id) pad_id = nullptr;
  decltype(&strata_spm_piece_to_id) piece_to_id = nullptr;
  decltype(&strata_spm_id_to_piece) id_to_piece = nullptr;
  decltype(&strata_spm_free_buffer) free_buffer = nullptr;
};

std::vector<std::string> shim_candidates() {
  std::vector<std::string> paths;
  if (const char* env = std::getenv("STRATA_SPM_SHIM"); env != nullptr && *env != '\0') {
    paths.emplace_back(env);
  }
#ifdef STRATA_SPM_SHIM_PATH
  paths.emplace_back(STRATA_SPM_SHIM_PATH);
#endif
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    paths.push_back((exe.parent_path() / "lib" / "libstrata_spm.so").string());
    paths.push_back((exe.parent_path().parent_path() / "lib" / "libstrata_spm.so").string());
  }
  return paths;
}

// A fresh link namespace keeps SentencePiece's protobuf away from LibTorch's. Where
// dlmopen fails, RTLD_DEEPBIND also kept the two apart in the test docs/building.md records.
void* open_isolated(const std::string& path, std::string& why) {
  if (void* handle = dlmopen(LM_ID_NEWLM, path.c_str(), RTLD_NOW | RTLD_LOCAL)) return handle;
  why = dlerror();
  if (void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND)) return handle;
  why += "; dlopen: ";
  why += dlerror();
  return nullptr;
}

template <typename F>
bool bind(void* handle, const char* name, F& fn) {
  fn = reinterpret_cast<F>(dlsym(handle, name));
  return fn != nullptr;
}

bool bind_all(void* handle, Shim& s) {
  return bind(handle, "strata_spm_abi_version", s.abi_version) &&
         bind(handle, "strata_spm_train", s.train) && bind(handle, "strata_spm_load", s.load) &&
         bind(handle, "strata_spm_free_model", s.free_model) &&
         bind(handle, "strata_spm_encode", s.encode) &&
         bind(handle, "strata_spm_encode_pieces", s.encode_pieces) &&
         bind(handle, "strata_spm_decode", s.decode) &&
         bind(handle, "strata_spm_vocab_size", s.vocab_size) &&
         bind(handle, "strata_spm_unk_id", s.unk_id) &&
         bind(handle, "strata_spm_bos_id", s.bos_id) &&
         bind(handle, "strata_spm_eos_id", s.eos_id) &&
         bind(handle, "strata_spm_pad_id", s.pad_id) &&
         bind(handle, "strata_spm_piece_to_id", s.piece_to_id) &&
         bind(handle, "strata_spm_id_to_piece", s.id_to_piece) &&
         bind(handle, "strata_spm_free_buffer", s.free_buffer);
}

Shim load_shim() {
  std::string tried;
  for (const auto& path : shim_candidates()) {
    tried += (tried.empty() ? " " : "; ") + path;
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
      tried += " (not found)";
      continue;
    }
    std::string why;
    void* handle = open_isolated(path, why);
    if (handle == nullptr) {
      tried += " (" + why + ")";
      continue;
    }
    // The handle stays open for the life of the process: models point into it.
    Shim s;
    if (!bind_all(handle, s)) {
      tried += " (missing symbols: not a strata_spm library)";
      continue;
    }
    if (s.abi_version() != STRATA_SPM_ABI_VERSION) {
      tried += " (interface version " + std::to_string(s.abi_version()) + ", expected " +
               std::to_string(STRATA_SPM_ABI_VERSION) + ")";
      continue;
    }
    return s;
  }
  throw std::runtime_error(
      "cannot load the SentencePiece shim libstrata_spm.so (set STRATA_SPM_SHIM to its path); "
      "tried:" +
      tried);
}

const Shim& shim() {
  static const Shim instance = load_shim();
  return instance;
}

// Buffers from the shim belong to its own C runtime and go back through it.
struct ShimFree {
  void operator()(void* p) const {
    if (p != nullptr) shim().free_buffer(p);
  }
};
template <typename T>
using ShimBuffer = std::unique_ptr<T, ShimFree>;

std::string take_error(char* err) {
  ShimBuffer<char> owned(err);
  return err != nullptr ? std::string(err) : std::string("unknown SentencePiece error");
}

// --- Helpers ------------------------------------------------------------------------------

// Cores this process may run on. (core/run.h has the same, but pulls in LibTorch.)
int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? sep : "") + items[i];
  return out;
}

std::string flag(bool b) { return b ? "true" : "false"; }

std::string flag(double d) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", d);
  return buf;
}

void check_symbols(const char* name, const std::vector<std::string>& symbols) {
  for (const auto& s : symbols) {
    if (s.empty() || s.find(',') != std::string::npos) {
      throw InputError(std::string("tokenizer ") + name + " entry '" + s +
                       "' must be non-empty and hold no comma");
    }
  }
}

// SentencePiece's flag names and string values for the options.
std::vector<std::pair<std::string, std::string>> trainer_flags(const TokenizerTrainOptions& o) {
  int threads = o.num_threads > 0 ? static_cast<int>(o.num_threads) : usable_cores();
  std::vector<std::pair<std::string, std::string>> flags = {
      {"model_type", o.model_type},
      {"vocab_size", std::to_string(o.vocab_size)},
      {"character_coverage", flag(o.character_coverage)},
      {"unk_id", std::to_string(o.unk_id)},
      {"bos_id", std::to_string(o.bos_id)},
      {"eos_id", std::to_string(o.eos_id)},
      {"pad_id", std::to_string(o.pad_id)},
      {"input_sentence_size", std::to_string(o.input_sentence_size)},
      {"shuffle_input_sentence", flag(o.shuffle_input_sentence)},
      {"max_sentence_length", std::to_string(o.max_sentence_length)},
      {"num_threads", std::to_string(threads)},
      {"normalization_rule_name", o.normalization_rule_name},
      {"remove_extra_whitespaces", flag(o.remove_extra_whitespaces)},
      {"add_dummy_prefix", flag(o.add_dummy_prefix)},
      {"split_digits", flag(o.split_digits)},
      {"byte_fallback", flag(o.byte_fallback)},
      {"hard_vocab_limit", flag(o.hard_vocab_limit)},
      {"minloglevel", o.verbose ? "0" : "2"},
  };
  std::vector<std::string> symbols = o.user_defined_symbols;
  if (o.keep_newlines && std::find(symbols.begin(), symbols.end(), "\n") == symbols.end()) {
    symbols.push_back("\n");
  }
  if (!symbols.empty()) flags.emplace_back("user_defined_symbols", join(symbols, ","));
  if (!o.control_symbols.empty()) {
    flags.emplace_back("control_symbols", join(o.control_symbols, ","));
  }
  return flags;
}

void check_train_inputs(const std::vector<std::string>& files, const std::string& model_prefix,
                        const TokenizerTrainOptions& o) {
  static const std::unordered_set<std::string> kModelTypes = {"bpe", "unigram", "char", "word"};
  if (kModelTypes.count(o.model_type) == 0) {
    throw InputError("unknown tokenizer model_type '" + o.model_type +
                     "' (valid: bpe, unigram, char, word)");
  }
  if (o.vocab_size < 1) {
    throw InputError("tokenizer vocab_size must be positive, got " + std::to_string(o.vocab_size));
  }
  if (o.character_coverage <= 0 || o.character_coverage > 1) {
    throw InputError("tokenizer character_coverage must be in (0, 1], got " +
                     flag(o.character_coverage));
  }
  check_symbols("user_defined_symbols", o.user_defined_symbols);
  check_symbols("control_symbols", o.control_symbols);
  if (model_prefix.empty()) throw InputError("tokenizer model prefix is empty");
  if (files.empty()) throw InputError("tokenizer training needs at least one input file");
  for (const auto& f : files) {
    std::error_code ec;
    if (!fs::is_regular_file(f, ec)) throw InputError("tokenizer training file not found: " + f);
    if (!std::ifstream(f)) throw InputError("tokenizer training file cannot be read: " + f);
  }
}

}  // namespace

// --- Tokenizer ----------------------------------------------------------------------------

namespace {

bool is_wordpiece_file(const std::string& path) { return has_extension(path, ".txt"); }

// WordPiece options from Hugging Face's tokenizer_config.json beside vocab.txt, if any.
WordPieceOptions wordpiece_options(const std::string& vocab_path) {
  WordPieceOptions o;
  const fs::path config = fs::path(vocab_path).parent_path() / "tokenizer_config.json";
  std::error_code ec;
  if (!fs::exists(config, ec)) return o;
  std::ifstream in(config);
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) throw InputError(config.string() + ": not a JSON object");
  auto flag = [&](const char* key, bool& out) {
    if (!j.contains(key) || j[key].is_null()) return;
    if (!j[key].is_boolean()) throw InputError(config.string() + ": '" + key + "' must be true or false");
    out = j[key].get<bool>();
  };
  flag("do_lower_case", o.lowercase);
  flag("tokenize_chinese_chars", o.handle_chinese_chars);
  if (j.contains("strip_accents") && !j["strip_accents"].is_null()) {
    bool strip = false;
    flag("strip_accents", strip);
    o.strip_accents = strip;
  }
  if (j.contains("unk_token") && j["unk_token"].is_string()) o.unk_token = j["unk_token"].get<std::string>();
  return o;
}

}  // namespace

std::string Tokenizer::find_in(const std::string& dir) {
  std::error_code ec;
  for (const char* name : {"tokenizer.model", "vocab.txt"}) {
    const fs::path p = fs::path(dir) / name;
    if (fs::exists(p, ec)) return p.string();
  }
  return "";
}

void Tokenizer::save_to(const std::string& dir) const {
  std::ifstream in(path_, std::ios::binary);
  if (!in) throw InputError("cannot read tokenizer " + path_);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!wordpiece_) {
    write_file_atomic((fs::path(dir) / "tokenizer.model").string(), bytes);
    return;
  }
  write_file_atomic((fs::path(dir) / "vocab.txt").string(), bytes);
  const WordPieceOptions& o = wordpiece_->options();
  nlohmann::json config = {{"tokenizer_class", "BertTokenizer"},
                           {"do_lower_case", o.lowercase},
                           {"tokenize_chinese_chars", o.handle_chinese_chars},
                           {"strip_accents", nullptr},
                           {"unk_token", o.unk_token}};
  if (o.strip_accents) config["strip_accents"] = *o.strip_accents;
  const std::pair<const char*, const char*> specials[] = {
      {"cls_token", "[CLS]"}, {"sep_token", "[SEP]"}, {"pad_token", "[PAD]"}, {"mask_token", "[MASK]"}};
  for (const auto& [key, piece] : specials) {
    if (wordpiece_->has_piece(piece)) config[key] = piece;
  }
  write_file_atomic((fs::path(dir) / "tokenizer_config.json").string(), config.dump(2) + "\n");
}

Tokenizer Tokenizer::load(const std::string& path) {
  std::error_code ec;
  if (is_wordpiece_file(path)) {
    if (!fs::is_regular_file(path, ec)) throw InputError("tokenizer vocabulary not found: " + path);
    refuse_impostor(path, "a WordPiece vocabulary");
    auto wp = std::make_shared<const WordPieceTokenizer>(WordPieceTokenizer::load(path, wordpiece_options(path)));
    return Tokenizer(std::move(wp), path);
  }
  if (!fs::exists(path, ec)) {
    refuse_impostor(path, "a SentencePiece model");  // a dangling git-annex link
    throw InputError("tokenizer model not found: " + path);
  }
  if (!fs::is_regular_file(path, ec)) throw InputError("tokenizer model is not a file: " + path);
  refuse_impostor(path, "a SentencePiece model");
  const Shim& s = shim();
  char* err = nullptr;
  strata_spm_model* raw = s.load(path.c_str(), &err);
  if (raw == nullptr) {
    throw InputError("tokenizer model " + path +
                     " is damaged or not a SentencePiece model: " + take_error(err));
  }
  return Tokenizer(std::shared_ptr<strata_spm_model>(raw, s.free_model), path);
}

void Tokenizer::train(const std::vector<std::string>& files, const std::string& model_prefix,
                      const TokenizerTrainOptions& options) {
  check_train_inputs(files, model_prefix, options);
  fs::path dir = fs::path(model_prefix).parent_path();
  std::error_code ec;
  if (!dir.empty() && !fs::is_directory(dir, ec) && !fs::create_directories(dir, ec)) {
    throw InputError("cannot create the directory for tokenizer model " + model_prefix +
                     ".model: " + ec.message());
  }

  auto flags = trainer_flags(options);
  std::vector<const char*> keys, values, paths;
  for (const auto& [k, v] : flags) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  for (const auto& f : files) paths.push_back(f.c_str());

  char* err = nullptr;
  if (shim().train(paths.data(), static_cast<int>(paths.size()), model_prefix.c_str(), keys.data(),
                   values.data(), static_cast<int>(keys.size()), &err) != 0) {
    throw InputError("tokenizer training failed (" + model_prefix + ".model from " +
                     std::to_string(files.size()) + " file(s)): " + take_error(err));
  }
}

std::vector<int> Tokenizer::encode(const std::string& text) const {
  if (wordpiece_) return wordpiece_->encode(text);
  int* ids = nullptr;
  size_t n = 0;
  char* err = nullptr;
  if (shim().encode(model_.get(), text.data(), text.size(), &ids, &n, &err) != 0) {
    throw std::runtime_error("SentencePiece encode failed (" + path_ + "): " + take_error(err));
  }
  ShimBuffer<int> owned(ids);
  return std::vector<int>(ids, ids + n);
}

std::vector<std::string> Tokenizer::encode_pieces(const std::string& text) const {
  if (wordpiece_) return wordpiece_->encode_pieces(text);
  char* packed = nullptr;
  size_t size = 0, n = 0;
  char* err = nullptr;
  if (shim().encode_pieces(model_.get(), text.data(), text.size(), &packed, &size, &n, &err) != 0) {
    throw std::runtime_error("SentencePiece encode failed (" + path_ + "): " + take_error(err));
  }
  ShimBuffer<char> owned(packed);
  std::vector<std::string> pieces;
  pieces.reserve(n);
  for (size_t pos = 0; pieces.size() < n && pos < size;) {
    pieces.emplace_back(packed + pos);  // NUL-terminated
    pos += pieces.back().size() + 1;
  }
  return pieces;
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  if (wordpiece_) {
    const std::string& prefix = wordpiece_->options().continuing_subword_prefix;
    std::string text;
    for (int id : ids) {
      const std::string& piece = wordpiece_->id_to_piece(id);
      if (piece.rfind(prefix, 0) == 0) {
        text += piece.substr(prefix.size());
      } else {
        if (!text.empty()) text += ' ';
        text += piece;
      }
    }
    return text;
  }
  char* text = nullptr;
  size_t len = 0;
  char* err = nullptr;
  if (shim().decode(model_.get(), ids.data(), ids.size(), &text, &len, &err) != 0) {
    throw InputError("cannot decode with tokenizer " + path_ + ": " + take_error(err));
  }
  ShimBuffer<char> owned(text);
  return std::string(text, len);
}

std::string Tokenizer::decode_continuation(const std::vector<int>& prompt,
                                           const std::vector<int>& continuation) const {
  if (continuation.empty()) return "";
  std::vector<int> all = prompt;
  all.insert(all.end(), continuation.begin(), continuation.end());
  const std::string whole = decode(all);
  const std::string head = decode(prompt);
  size_t common = 0;
  while (common < head.size() && common < whole.size() && head[common] == whole[common]) {
    ++common;
  }
  // Back to the start of a UTF-8 character, so the new text never begins mid-character.
  if (common < head.size()) {
    while (common > 0 && (static_cast<unsigned char>(whole[common]) & 0xC0) == 0x80) --common;
  }
  return whole.substr(common);
}

// SentencePiece's encoder only reads a loaded model, and its authors state that one
// processor may encode from many threads at once (google/sentencepiece#207, #657; its own
// Python batch encoder in 0.1.97 shares one processor across native threads). So the
// threads share the model and take texts from a common counter.
std::vector<std::vector<int>> Tokenizer::encode_batch(const std::vector<std::string>& texts,
                                                      int threads) const {
  std::vector<std::vector<int>> out(texts.size());
  size_t n_threads = static_cast<size_t>(threads > 0 ? threads : usable_cores());
  n_threads = std::min(n_threads, texts.size());
  if (n_threads <= 1) {
    for (size_t i = 0; i < texts.size(); ++i) out[i] = encode(texts[i]);
    return out;
  }
  std::atomic<size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto work = [&] {
    try {
      for (size_t i = next++; i < texts.size(); i = next++) out[i] = encode(texts[i]);
    } catch (...) {
      std::lock_guard<std::mutex> lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      next = texts.size();
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 0; t < n_threads; ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
  return out;
}

namespace {
int special_id(const WordPieceTokenizer& wp, const char* piece) {
  return wp.has_piece(piece) ? wp.piece_to_id(piece) : -1;
}
}  // namespace

int Tokenizer::vocab_size() const {
  return wordpiece_ ? wordpiece_->vocab_size() : shim().vocab_size(model_.get());
}
int Tokenizer::bos_id() const {
  return wordpiece_ ? special_id(*wordpiece_, "[CLS]") : shim().bos_id(model_.get());
}
int Tokenizer::eos_id() const {
  return wordpiece_ ? special_id(*wordpiece_, "[SEP]") : shim().eos_id(model_.get());
}
int Tokenizer::pad_id() const {
  return wordpiece_ ? special_id(*wordpiece_, "[PAD]") : shim().pad_id(model_.get());
}
int Tokenizer::unk_id() const {
  return wordpiece_ ? wordpiece_->piece_to_id(wordpiece_->options().unk_token) : shim().unk_id(model_.get());
}

int Tokenizer::piece_to_id(const std::string& piece) const {
  if (wordpiece_) return wordpiece_->piece_to_id(piece);
  return shim().piece_to_id(model_.get(), piece.data(), piece.size());
}

std::string Tokenizer::id_to_piece(int id) const {
  if (wordpiece_) return wordpiece_->id_to_piece(id);
  size_t len = 0;
  const char* piece = shim().id_to_piece(model_.get(), id, &len);
  if (piece == nullptr) {
    throw InputError("id " + std::to_string(id) + " is outside the vocabulary of tokenizer " +
                     path_ + " [0, " + std::to_string(vocab_size()) + ")");
  }
  return std::string(piece, len);
}

}  // namespace strata
