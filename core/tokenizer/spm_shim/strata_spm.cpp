// strata_spm: SentencePiece behind the C interface of strata_spm.h. Nothing from here may
// throw across the boundary or hand out std:: types: every entry point catches and turns
// failures into an error string.

#include "strata_spm.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

struct strata_spm_model {
  sentencepiece::SentencePieceProcessor sp;
};

namespace {

namespace spm = sentencepiece;

// SentencePiece's line limit when the caller sets none (its own default).
constexpr size_t kDefaultMaxSentenceLength = 4192;

char* copy_to_buffer(std::string_view s) {
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out == nullptr) throw std::bad_alloc();
  std::memcpy(out, s.data(), s.size());
  out[s.size()] = '\0';
  return out;
}

// A failed SentencePiece check reads "Internal: ./src/trainer_interface.cc(660) [(a) == (b)]
// Vocabulary size too high ...". The user needs the sentence after the bracket, or the
// check itself where no sentence follows.
std::string user_message(const spm::util::Status& status) {
  std::string text = status.ToString();
  size_t open = text.find(") [");
  size_t close = text.find("] ", open == std::string::npos ? 0 : open);
  if (text.find(".cc(") == std::string::npos || open == std::string::npos ||
      close == std::string::npos || close < open) {
    return text;
  }
  size_t rest = text.find_first_not_of(' ', close + 2);
  if (rest != std::string::npos) return text.substr(rest);
  return "check failed: " + text.substr(open + 3, close - open - 3);
}

void check(const spm::util::Status& status) {
  if (!status.ok()) throw std::runtime_error(user_message(status));
}

template <typename F>
int guarded(char** err, F&& body) {
  if (err != nullptr) *err = nullptr;
  try {
    body();
    return 0;
  } catch (const std::exception& e) {
    if (err != nullptr) *err = copy_to_buffer(e.what());
  } catch (...) {
    if (err != nullptr) *err = copy_to_buffer("unknown error in SentencePiece");
  }
  return 1;
}

// Feeds the trainer the lines of the input files. SentencePiece drops every line longer
// than max_sentence_length, and whole documents often sit on one line (a State of the Union
// address is one 50 KB line), so such a line is cut into pieces at whitespace instead, one
// whitespace character consumed at each cut. Pieces never span whitespace when
// split_by_whitespace is on (the default), so the cut loses nothing the trainer would use.
class LineChunks final : public spm::SentenceIterator {
 public:
  LineChunks(std::vector<std::string> files, size_t max_bytes)
      : files_(std::move(files)), max_bytes_(std::max<size_t>(max_bytes, 1)) {
    Next();
  }

  bool done() const override { return done_; }
  const std::string& value() const override { return value_; }
  spm::util::Status status() const override { return status_; }
  size_t count() const { return count_; }

  void Next() override {
    while (pos_ >= line_.size()) {
      if (!read_line()) {
        done_ = true;
        return;
      }
    }
    size_t end = line_.size();
    size_t next = end;
    if (end - pos_ > max_bytes_) {
      size_t limit = pos_ + max_bytes_;  // the piece is [pos_, cut), cut <= limit
      size_t space = line_.find_last_of(" \t", limit);
      if (space != std::string::npos && space > pos_) {
        end = space;
        next = space + 1;
      } else {
        end = limit;  // no whitespace: cut at a UTF-8 character boundary
        while (end > pos_ && (static_cast<unsigned char>(line_[end]) & 0xC0) == 0x80) --end;
        if (end == pos_) end = limit;
        next = end;
      }
    }
    value_.assign(line_, pos_, end - pos_);
    pos_ = next;
    ++count_;
  }

 private:
  bool read_line() {
    for (;;) {
      if (!in_.is_open()) {
        if (file_index_ >= files_.size()) return false;
        const std::string& path = files_[file_index_++];
        in_.open(path, std::ios::binary);
        if (!in_) {
          status_ = spm::util::Status(spm::util::StatusCode::kNotFound,
                                      "cannot read training file '" + path + "'");
          return false;
        }
      }
      if (std::getline(in_, line_)) {
        pos_ = 0;
        return true;
      }
      in_.close();
      in_.clear();
    }
  }

  std::vector<std::string> files_;
  size_t max_bytes_;
  size_t file_index_ = 0;
  std::ifstream in_;
  std::string line_;
  size_t pos_ = 0;
  std::string value_;
  bool done_ = false;
  size_t count_ = 0;
  spm::util::Status status_;
};

// Training sets process-wide SentencePiece state (the log level), so one at a time.
std::mutex train_mutex;

}  // namespace

extern "C" {

int strata_spm_abi_version(void) { return STRATA_SPM_ABI_VERSION; }

int strata_spm_train(const char* const* files, int n_files, const char* model_prefix,
                     const char* const* keys, const char* const* values, int n_options,
                     char** err) {
  return guarded(err, [&] {
    std::lock_guard<std::mutex> lock(train_mutex);
    std::unordered_map<std::string, std::string> kwargs;
    for (int i = 0; i < n_options; ++i) kwargs[keys[i]] = values[i];
    kwargs["model_prefix"] = model_prefix;

    size_t max_bytes = kDefaultMaxSentenceLength;
    if (auto it = kwargs.find("max_sentence_length"); it != kwargs.end()) {
      max_bytes = std::stoul(it->second);
    }

    LineChunks lines(std::vector<std::string>(files, files + n_files), max_bytes);
    auto status = spm::SentencePieceTrainer::Train(kwargs, &lines);
    check(lines.status());
    if (lines.count() == 0) throw std::runtime_error("the training files hold no text");
    check(status);
  });
}

strata_spm_model* strata_spm_load(const char* path, char** err) {
  strata_spm_model* model = nullptr;
  guarded(err, [&] {
    auto loaded = std::make_unique<strata_spm_model>();
    check(loaded->sp.Load(path));
    model = loaded.release();
  });
  return model;
}

void strata_spm_free_model(strata_spm_model* model) { delete model; }

int strata_spm_encode(const strata_spm_model* model, const char* text, size_t len, int** ids,
                      size_t* n_ids, char** err) {
  *ids = nullptr;
  *n_ids = 0;
  return guarded(err, [&] {
    std::vector<int> out;
    check(model->sp.Encode(std::string_view(text, len), &out));
    if (out.empty()) return;
    *ids = static_cast<int*>(std::malloc(out.size() * sizeof(int)));
    if (*ids == nullptr) throw std::bad_alloc();
    std::memcpy(*ids, out.data(), out.size() * sizeof(int));
    *n_ids = out.size();
  });
}

int strata_spm_encode_pieces(const strata_spm_model* model, const char* text, size_t len,
                             char** pieces, size_t* size, size_t* n_pieces, char** err) {
  *pieces = nullptr;
  *size = 0;
  *n_pieces = 0;
  return guarded(err, [&] {
    std::vector<std::string> out;
    check(model->sp.Encode(std::string_view(text, len), &out));
    std::string packed;
    for (const auto& p : out) {
      packed += p;
      packed += '\0';
    }
    *pieces = copy_to_buffer(packed);
    *size = packed.size();
    *n_pieces = out.size();
  });
}

int strata_spm_decode(const strata_spm_model* model, const int* ids, size_t n_ids, char** text,
                      size_t* len, char** err) {
  *text = nullptr;
  *len = 0;
  return guarded(err, [&] {
    const int vocab = model->sp.GetPieceSize();
    for (size_t i = 0; i < n_ids; ++i) {
      if (ids[i] < 0 || ids[i] >= vocab) {
        throw std::runtime_error("id " + std::to_string(ids[i]) +
                                 " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
      }
    }
    std::string out;
    check(model->sp.Decode(std::vector<int>(ids, ids + n_ids), &out));
    *text = copy_to_buffer(out);
    *len = out.size();
  });
}

int strata_spm_vocab_size(const strata_spm_model* model) { return model->sp.GetPieceSize(); }
int strata_spm_unk_id(const strata_spm_model* model) { return model->sp.unk_id(); }
int strata_spm_bos_id(const strata_spm_model* model) { return model->sp.bos_id(); }
int strata_spm_eos_id(const strata_spm_model* model) { return model->sp.eos_id(); }
int strata_spm_pad_id(const strata_spm_model* model) { return model->sp.pad_id(); }

int strata_spm_piece_to_id(const strata_spm_model* model, const char* piece, size_t len) {
  return model->sp.PieceToId(std::string_view(piece, len));
}

const char* strata_spm_id_to_piece(const strata_spm_model* model, int id, size_t* len) {
  if (id < 0 || id >= model->sp.GetPieceSize()) {
    *len = 0;
    return nullptr;
  }
  const std::string& piece = model->sp.IdToPiece(id);
  *len = piece.size();
  return piece.c_str();
}

void strata_spm_free_buffer(void* buffer) { std::free(buffer); }

}  // extern "C"
