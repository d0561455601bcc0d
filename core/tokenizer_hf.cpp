#include "core/tokenizer_hf.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "core/errors.h"

namespace strata {
namespace {

using ordered_json = nlohmann::ordered_json;

// The fields of sentencepiece_model.proto (proto2) that decide how text becomes ids.
struct SpmPiece {
  std::string piece;
  float score = 0;
  int type = 1;  // NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6
};
enum PieceType { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

struct SpmModel {
  std::vector<SpmPiece> pieces;  // by id
  int model_type = 1;            // TrainerSpec.model_type: UNIGRAM 1, BPE 2, WORD 3, CHAR 4
  bool split_by_whitespace = true, treat_whitespace_as_suffix = false, byte_fallback = false;
  std::string charsmap;  // NormalizerSpec.precompiled_charsmap
  bool add_dummy_prefix = true, remove_extra_whitespaces = true, escape_whitespaces = true;
};

// Protocol Buffers' wire format (varints, length-delimited fields, fixed32/64), enough to
// walk a message and skip what is not needed.
class WireReader {
 public:
  WireReader(std::string_view data, const std::string& path) : data_(data), path_(path) {}

  bool done() const { return at_ >= data_.size(); }

  // The next field's number and wire type.
  std::pair<uint64_t, int> key() {
    const uint64_t k = varint();
    return {k >> 3, int(k & 7)};
  }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      need(1);
      const auto byte = static_cast<uint8_t>(data_[at_++]);
      v |= uint64_t(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return v;
    }
    fail("a varint longer than 10 bytes");
  }

  std::string_view bytes() {
    const uint64_t n = varint();
    need(n);
    const auto out = data_.substr(at_, n);
    at_ += n;
    return out;
  }

  float fixed32_float() {
    need(4);
    float f;
    std::memcpy(&f, data_.data() + at_, 4);  // little-endian, as x86 and the wire are
    at_ += 4;
    return f;
  }

  void skip(int wire) {
    switch (wire) {
      case 0: varint(); return;
      case 1: need(8), at_ += 8; return;
      case 2: bytes(); return;
      case 5: need(4), at_ += 4; return;
      default: fail(fmt::format("wire type {}", wire));
    }
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw InputError(fmt::format("{}: not a SentencePiece model ({} at byte {})", path_, what, at_));
  }

 private:
  void need(uint64_t n) const {
    if (n > data_.size() - at_) fail("truncated field");
  }

  std::string_view data_;
  size_t at_ = 0;
  const std::string& path_;
};

SpmModel read_model(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot be read", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string data = buffer.str();
  SpmModel m;
  WireReader model(data, path);
  while (!model.done()) {
    const auto [field, wire] = model.key();
    if (field == 1 && wire == 2) {  // repeated SentencePiece pieces
      WireReader r(model.bytes(), path);
      SpmPiece p;
      while (!r.done()) {
        const auto [f, w] = r.key();
        if (f == 1 && w == 2) p.piece = std::string(r.bytes());
        else if (f == 2 && w == 5) p.score = r.fixed32_float();
        else if (f == 3 && w == 0) p.type = int(r.varint());
        else r.skip(w);
      }
      m.pieces.push_back(std::move(p));
    } else if (field == 2 && wire == 2) {  // TrainerSpec
      WireReader r(model.bytes(), path);
      while (!r.done()) {
        const auto [f, w] = r.key();
        if (w != 0) {
          r.skip(w);
          continue;
        }
        const uint64_t v = r.varint();
        if (f == 3) m.model_type = int(v);
        else if (f == 22) m.split_by_whitespace = v != 0;
        else if (f == 24) m.treat_whitespace_as_suffix = v != 0;
        else if (f == 35) m.byte_fallback = v != 0;
      }
    } else if (field == 3 && wire == 2) {  // NormalizerSpec
      WireReader r(model.bytes(), path);
      while (!r.done()) {
        const auto [f, w] = r.key();
        if (f == 2 && w == 2) m.charsmap = std::string(r.bytes());
        else if (f == 3 && w == 0) m.add_dummy_prefix = r.varint() != 0;
        else if (f == 4 && w == 0) m.remove_extra_whitespaces = r.varint() != 0;
        else if (f == 5 && w == 0) m.escape_whitespaces = r.varint() != 0;
        else r.skip(w);
      }
    } else {
      model.skip(wire);
    }
  }
  if (m.pieces.empty()) model.fail("no pieces");
  if (m.model_type != 2) {
    throw InputError(fmt::format("{}: a SentencePiece {} model; Hugging Face tokenizer files are "
                                 "written for BPE models only",
                                 path, m.model_type == 1 ? "unigram" : "word or char"));
  }
  if (m.treat_whitespace_as_suffix || !m.split_by_whitespace || !m.escape_whitespaces) {
    throw InputError(fmt::format("{}: trained with treat_whitespace_as_suffix, without "
                                 "split_by_whitespace or without escape_whitespaces; Hugging "
                                 "Face tokenizer files are written for the defaults only",
                                 path));
  }
  return m;
}

std::string base64(std::string_view in) {
  static constexpr char kTable[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (size_t i = 0; i < in.size(); i += 3) {
    const size_t n = std::min<size_t>(3, in.size() - i);
    uint32_t v = 0;
    for (size_t j = 0; j < 3; ++j) v = (v << 8) | (j < n ? static_cast<uint8_t>(in[i + j]) : 0);
    for (size_t j = 0; j < 4; ++j) out += j <= n ? kTable[(v >> (18 - 6 * j)) & 63] : '=';
  }
  return out;
}

// The length in bytes of the UTF-8 character that starts with `lead`.
size_t utf8_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xe) return 3;
  if ((lead >> 3) == 0x1e) return 4;
  return 1;
}

// Every split of a normal piece into two normal pieces is a merge, ranked by the merged
// piece's score (highest first), then by the merged piece's id and the halves' ids.
ordered_json bpe_merges(const SpmModel& m) {
  std::unordered_map<std::string_view, int> normal;
  for (size_t id = 0; id < m.pieces.size(); ++id) {
    if (m.pieces[id].type == kNormal) normal.emplace(m.pieces[id].piece, int(id));
  }
  struct Merge {
    float score;
    int merged, left, right;
  };
  std::vector<Merge> merges;
  for (const auto& [piece, id] : normal) {
    for (size_t cut = utf8_length(piece[0]); cut < piece.size();
         cut += utf8_length(static_cast<unsigned char>(piece[cut]))) {
      const auto left = normal.find(piece.substr(0, cut));
      const auto right = normal.find(piece.substr(cut));
      if (left != normal.end() && right != normal.end()) {
        merges.push_back({m.pieces[id].score, id, left->second, right->second});
      }
    }
  }
  std::sort(merges.begin(), merges.end(), [](const Merge& a, const Merge& b) {
    return std::tie(b.score, a.merged, a.left, a.right) < std::tie(a.score, b.merged, b.left, b.right);
  });
  ordered_json out = ordered_json::array();
  for (const auto& x : merges) out.push_back({m.pieces[x.left].piece, m.pieces[x.right].piece});
  return out;
}

const SpmPiece* first_of_type(const SpmModel& m, int type) {
  for (const auto& p : m.pieces)
    if (p.type == type) return &p;
  return nullptr;
}

}  // namespace

std::string hf_tokenizer_json(const std::string& model_path) {
  const SpmModel m = read_model(model_path);
  const std::string meta = "\xe2\x96\x81";  // U+2581, SentencePiece's escaped space
  const SpmPiece* unk = first_of_type(m, kUnknown);
  const bool byte_fallback = m.byte_fallback || first_of_type(m, kByte) != nullptr;

  // A user-defined piece of white space other than " " ("\n": keep_newlines): SentencePiece
  // keeps it whole before normalising, inside the text; as an added token, transformers
  // would split the text around it and prepend and strip each part apart. So it is no added
  // token: it stands in for itself as a private-use character through the normalisers
  // (which would make it a space), and the BPE model, which has no merge for it, keeps it
  // one piece.
  std::vector<std::pair<std::string, std::string>> protect;  // piece, its stand-in
  auto is_protected = [&](const std::string& piece) {
    return std::any_of(protect.begin(), protect.end(), [&](const auto& p) { return p.first == piece; });
  };
  for (const auto& p : m.pieces) {
    if (p.type == kUserDefined && !p.piece.empty() && p.piece.find_first_not_of("\n\t\r\f\v") == std::string::npos) {
      const char32_t cp = 0xE000 + char32_t(protect.size());  // U+E000.. in UTF-8
      std::string stand_in = {char(0xE0 | (cp >> 12)), char(0x80 | ((cp >> 6) & 0x3F)), char(0x80 | (cp & 0x3F))};
      protect.emplace_back(p.piece, stand_in);
    }
  }

  ordered_json added = ordered_json::array();
  ordered_json vocab = ordered_json::object();
  for (size_t id = 0; id < m.pieces.size(); ++id) {
    const auto& p = m.pieces[id];
    vocab[p.piece] = id;
    if (is_protected(p.piece)) continue;
    if (p.type == kUnknown || p.type == kControl || p.type == kUserDefined) {
      added.push_back({{"id", id},
                       {"content", p.piece},
                       {"single_word", false},
                       {"lstrip", false},
                       {"rstrip", false},
                       {"normalized", false},
                       {"special", p.type != kUserDefined}});
    }
  }

  ordered_json normalizers = ordered_json::array();
  for (const auto& [piece, stand_in] : protect) {
    normalizers.push_back({{"type", "Replace"}, {"pattern", {{"String", piece}}}, {"content", stand_in}});
  }
  if (!m.charsmap.empty()) {
    normalizers.push_back({{"type", "Precompiled"}, {"precompiled_charsmap", base64(m.charsmap)}});
  }
  if (m.remove_extra_whitespaces) {
    normalizers.push_back({{"type", "Replace"}, {"pattern", {{"Regex", " {2,}"}}}, {"content", " "}});
    normalizers.push_back({{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}});
  }
  if (m.add_dummy_prefix) normalizers.push_back({{"type", "Prepend"}, {"prepend", meta}});
  normalizers.push_back({{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", meta}});
  for (const auto& [piece, stand_in] : protect) {
    normalizers.push_back({{"type", "Replace"}, {"pattern", {{"String", stand_in}}}, {"content", piece}});
  }

  ordered_json decoders = ordered_json::array();
  // SentencePiece decodes <unk> as its unk_surface, " \u2047 " by default.
  if (unk != nullptr) {
    decoders.push_back(
        {{"type", "Replace"}, {"pattern", {{"String", unk->piece}}}, {"content", " \xe2\x81\x87 "}});
  }
  decoders.push_back({{"type", "Replace"}, {"pattern", {{"String", meta}}}, {"content", " "}});
  if (byte_fallback) decoders.push_back({{"type", "ByteFallback"}});
  decoders.push_back({{"type", "Fuse"}});
  if (m.add_dummy_prefix) {
    decoders.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
  }

  ordered_json out;
  out["version"] = "1.0";
  out["truncation"] = nullptr;
  out["padding"] = nullptr;
  out["added_tokens"] = added;
  out["normalizer"] = {{"type", "Sequence"}, {"normalizers", normalizers}};
  out["pre_tokenizer"] = {
      {"type", "Metaspace"}, {"replacement", meta}, {"prepend_scheme", "never"}, {"split", true}};
  out["post_processor"] = nullptr;
  out["decoder"] = {{"type", "Sequence"}, {"decoders", decoders}};
  out["model"] = {{"type", "BPE"},
                  {"dropout", nullptr},
                  {"unk_token", unk != nullptr ? ordered_json(unk->piece) : ordered_json(nullptr)},
                  {"continuing_subword_prefix", nullptr},
                  {"end_of_word_suffix", nullptr},
                  {"fuse_unk", true},
                  {"byte_fallback", byte_fallback},
                  {"ignore_merges", false},
                  {"vocab", vocab},
                  {"merges", bpe_merges(m)}};
  return out.dump(1) + "\n";
}

std::string hf_tokenizer_config_json(const std::string& model_path, int64_t model_max_length) {
  const SpmModel m = read_model(model_path);
  ordered_json out;
  out["tokenizer_class"] = "PreTrainedTokenizerFast";
  // Strata's ids are the text's alone: no <s> or </s> added around them.
  out["add_bos_token"] = false;
  out["add_eos_token"] = false;
  out["clean_up_tokenization_spaces"] = false;
  out["model_max_length"] = model_max_length;
  // The special pieces, by SentencePiece's ids: <unk>, then <s> and </s> when the model has
  // them (Strata's defaults: unk 0, bos 1, eos 2).
  std::vector<const SpmPiece*> control;
  for (const auto& p : m.pieces)
    if (p.type == kControl) control.push_back(&p);
  if (const SpmPiece* unk = first_of_type(m, kUnknown)) out["unk_token"] = unk->piece;
  for (const auto* p : control) {
    if (p->piece == "<s>") out["bos_token"] = p->piece;
    if (p->piece == "</s>") out["eos_token"] = p->piece;
    if (p->piece == "<pad>") out["pad_token"] = p->piece;
  }
  return out.dump(2) + "\n";
}

}  // namespace strata
