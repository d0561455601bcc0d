#include "pretrain/chunked_encode.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string_view>

namespace strata::pretrain {
namespace {

// --- A minimal protobuf reader for the few fields of sentencepiece_model.proto we need ---

class ProtoReader {
 public:
  explicit ProtoReader(std::string_view data) : data_(data) {}

  // Next field: false at the end or on damaged input.
  bool next(uint32_t& field, uint32_t& wire) {
    if (pos_ >= data_.size()) return false;
    uint64_t key = 0;
    if (!varint(key)) return false;
    field = uint32_t(key >> 3);
    wire = uint32_t(key & 7);
    return true;
  }
  bool varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64 && pos_ < data_.size(); shift += 7) {
      const auto byte = static_cast<unsigned char>(data_[pos_++]);
      v |= uint64_t(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }
  bool bytes(std::string_view& out) {
    uint64_t n = 0;
    if (!varint(n) || n > data_.size() - pos_) return false;
    out = data_.substr(pos_, size_t(n));
    pos_ += size_t(n);
    return true;
  }
  bool skip(uint32_t wire) {
    uint64_t v = 0;
    std::string_view s;
    switch (wire) {
      case 0:
        return varint(v);
      case 1:
        return advance(8);
      case 2:
        return bytes(s);
      case 5:
        return advance(4);
      default:
        return false;
    }
  }

 private:
  bool advance(size_t n) {
    if (n > data_.size() - pos_) return false;
    pos_ += n;
    return true;
  }
  std::string_view data_;
  size_t pos_ = 0;
};

// The settings that decide whether encoding is word-local, with the proto's defaults.
struct WhitespaceSettings {
  bool split_by_whitespace = true;            // TrainerSpec 22
  bool treat_whitespace_as_suffix = false;    // TrainerSpec 24
  bool allow_whitespace_only_pieces = false;  // TrainerSpec 26
  std::string normalizer = "nmt_nfkc";        // NormalizerSpec 1
  bool add_dummy_prefix = true;               // NormalizerSpec 3
  bool remove_extra_whitespaces = true;       // NormalizerSpec 4
  bool escape_whitespaces = true;             // NormalizerSpec 5
  bool custom_rules = false;                  // NormalizerSpec 6 (normalization_rule_tsv)
  bool user_piece_with_space = false;         // a USER_DEFINED piece holding a space or "▁"
};

bool read_flags(std::string_view message, WhitespaceSettings& s, bool trainer) {
  ProtoReader r(message);
  uint32_t field = 0, wire = 0;
  while (r.next(field, wire)) {
    uint64_t v = 0;
    std::string_view text;
    if (trainer && wire == 0 && (field == 22 || field == 24 || field == 26)) {
      if (!r.varint(v)) return false;
      (field == 22   ? s.split_by_whitespace
       : field == 24 ? s.treat_whitespace_as_suffix
                     : s.allow_whitespace_only_pieces) = v != 0;
    } else if (!trainer && wire == 0 && (field == 3 || field == 4 || field == 5)) {
      if (!r.varint(v)) return false;
      (field == 3   ? s.add_dummy_prefix
       : field == 4 ? s.remove_extra_whitespaces
                    : s.escape_whitespaces) = v != 0;
    } else if (!trainer && wire == 2 && (field == 1 || field == 6)) {
      if (!r.bytes(text)) return false;
      if (field == 1) s.normalizer = std::string(text);
      if (field == 6) s.custom_rules = !text.empty();
    } else if (!r.skip(wire)) {
      return false;
    }
  }
  return true;
}

bool read_piece(std::string_view message, WhitespaceSettings& s) {
  ProtoReader r(message);
  uint32_t field = 0, wire = 0;
  std::string_view piece;
  uint64_t type = 1;  // NORMAL
  while (r.next(field, wire)) {
    if (field == 1 && wire == 2) {
      if (!r.bytes(piece)) return false;
    } else if (field == 3 && wire == 0) {
      if (!r.varint(type)) return false;
    } else if (!r.skip(wire)) {
      return false;
    }
  }
  if (type == 4 && (piece.find(' ') != std::string_view::npos ||
                    piece.find("\xe2\x96\x81") != std::string_view::npos)) {  // U+2581
    s.user_piece_with_space = true;
  }
  return true;
}

bool visible_ascii(char c) { return c > ' ' && c < 0x7f; }

}  // namespace

bool model_encodes_words_independently(const std::string& model_path) {
  std::ifstream in(model_path, std::ios::binary);
  if (!in) return false;
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  WhitespaceSettings s;
  ProtoReader r(data);
  uint32_t field = 0, wire = 0;
  while (r.next(field, wire)) {
    std::string_view message;
    if (wire == 2 && (field == 1 || field == 2 || field == 3)) {
      if (!r.bytes(message)) return false;
      const bool ok = field == 1 ? read_piece(message, s) : read_flags(message, s, field == 2);
      if (!ok) return false;
    } else if (!r.skip(wire)) {
      return false;
    }
  }
  const bool known_normalizer = s.normalizer == "nmt_nfkc" || s.normalizer == "nfkc" ||
                                s.normalizer == "nmt_nfkc_cf" || s.normalizer == "nfkc_cf" ||
                                s.normalizer == "identity";
  return s.split_by_whitespace && !s.treat_whitespace_as_suffix &&
         !s.allow_whitespace_only_pieces && s.escape_whitespaces && known_normalizer &&
         !s.custom_rules && !s.user_piece_with_space &&
         s.add_dummy_prefix == s.remove_extra_whitespaces;
}

std::vector<std::string> split_at_spaces(const std::string& text, size_t target) {
  target = std::max<size_t>(target, 1);
  std::vector<std::string> pieces;
  size_t start = 0;
  while (text.size() - start > target) {
    size_t cut = start + target;
    while (cut + 1 < text.size() &&
           !(text[cut] == ' ' && visible_ascii(text[cut - 1]) && visible_ascii(text[cut + 1]))) {
      ++cut;
    }
    if (cut + 1 >= text.size()) break;  // no place to cut: the rest stays whole
    pieces.push_back(text.substr(start, cut - start));
    start = cut;  // the space starts the next piece
  }
  pieces.push_back(text.substr(start));
  return pieces;
}

std::vector<std::vector<int>> encode_documents(const Tokenizer& tokenizer,
                                               const std::vector<const std::string*>& texts,
                                               bool split, size_t piece_bytes, int threads) {
  std::vector<std::string> pieces;
  std::vector<size_t> first_piece;  // of each document, then the end
  for (const std::string* t : texts) {
    first_piece.push_back(pieces.size());
    if (split && piece_bytes > 0) {
      for (auto& p : split_at_spaces(*t, piece_bytes)) pieces.push_back(std::move(p));
    } else {
      pieces.push_back(*t);
    }
  }
  first_piece.push_back(pieces.size());
  auto ids = tokenizer.encode_batch(pieces, threads);
  pieces.clear();

  std::vector<std::vector<int>> out(texts.size());
  for (size_t d = 0; d < texts.size(); ++d) {
    size_t n = 0;
    for (size_t p = first_piece[d]; p < first_piece[d + 1]; ++p) n += ids[p].size();
    out[d].reserve(n + 1);  // + the EOS a caller appends
    for (size_t p = first_piece[d]; p < first_piece[d + 1]; ++p) {
      out[d].insert(out[d].end(), ids[p].begin(), ids[p].end());
      std::vector<int>().swap(ids[p]);
    }
  }
  return out;
}

}  // namespace strata::pretrain
