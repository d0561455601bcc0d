#include "core/wordpiece.h"

#include <fmt/format.h>
#include <utf8proc.h>

#include <fstream>

#include "core/errors.h"

namespace strata {
namespace {

std::vector<int32_t> code_points(const std::string& text) {
  std::vector<int32_t> out;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  utf8proc_ssize_t left = utf8proc_ssize_t(text.size());
  while (left > 0) {
    utf8proc_int32_t cp = -1;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) n = 1, cp = 0xFFFD;  // an invalid byte
    out.push_back(cp);
    p += n;
    left -= n;
  }
  return out;
}

void append_utf8(std::string& out, int32_t cp) {
  utf8proc_uint8_t buf[4];
  const auto n = utf8proc_encode_char(cp, buf);
  out.append(reinterpret_cast<const char*>(buf), size_t(n));
}

utf8proc_category_t category(int32_t cp) { return utf8proc_category(cp); }

// Rust's char::is_whitespace, which `tokenizers` runs (the White_Space property: ASCII \t-\r
// and space, U+0085, and the Zs, Zl and Zp categories). U+000B, U+000C and U+0085 are also
// controls, and clean_text removes those first.
bool is_whitespace(int32_t cp) {
  if (cp == ' ' || (cp >= '\t' && cp <= '\r') || cp == 0x85) return true;
  const auto c = category(cp);
  return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

// An "other" character that is not \t, \n or \r: Cc, Cf, Cs and Co. Unassigned code points
// (Cn) are kept, as `tokenizers` keeps them (its category tables list assigned characters only;
// checked: "a\u0379b" stays whole), and become [UNK] with their word.
bool is_control(int32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return false;
  switch (category(cp)) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO: return true;
    default: return false;
  }
}

bool is_punctuation(int32_t cp) {
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
      (cp >= 123 && cp <= 126)) {
    return true;
  }
  switch (category(cp)) {
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO: return true;
    default: return false;
  }
}

bool is_cjk(int32_t cp) {  // the CJK Unified Ideographs blocks BERT pads
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

}  // namespace

WordPieceTokenizer WordPieceTokenizer::load(const std::string& vocab_path, WordPieceOptions options) {
  std::ifstream in(vocab_path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot be read", vocab_path));
  WordPieceTokenizer t;
  t.options_ = std::move(options);
  t.path_ = vocab_path;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    t.ids_.emplace(line, int(t.pieces_.size()));  // a repeated piece keeps its first id
    t.pieces_.push_back(line);
  }
  if (t.pieces_.empty()) throw InputError(fmt::format("{}: an empty vocabulary", vocab_path));
  const auto unk = t.ids_.find(t.options_.unk_token);
  if (unk == t.ids_.end()) {
    throw InputError(fmt::format("{}: no '{}' in the vocabulary", vocab_path, t.options_.unk_token));
  }
  t.unk_id_ = unk->second;
  return t;
}

std::vector<std::string> WordPieceTokenizer::pre_tokenize(const std::string& text) const {
  const auto& o = options_;
  const bool strip_accents = o.strip_accents.value_or(o.lowercase);
  std::vector<int32_t> cps;
  for (int32_t cp : code_points(text)) {
    if (o.clean_text) {
      if (cp == 0 || cp == 0xFFFD || is_control(cp)) continue;
      if (is_whitespace(cp)) cp = ' ';
    }
    if (o.handle_chinese_chars && is_cjk(cp)) {
      cps.insert(cps.end(), {' ', cp, ' '});
    } else {
      cps.push_back(cp);
    }
  }
  if (strip_accents) {
    std::vector<int32_t> out;
    for (int32_t cp : cps) {
      utf8proc_int32_t buf[32];
      int last = 0;
      const auto n = utf8proc_decompose_char(cp, buf, 32, UTF8PROC_DECOMPOSE, &last);
      if (n < 0) {
        out.push_back(cp);
        continue;
      }
      for (utf8proc_ssize_t i = 0; i < n; ++i) {
        if (category(buf[i]) != UTF8PROC_CATEGORY_MN) out.push_back(buf[i]);
      }
    }
    cps = std::move(out);
  }
  std::vector<std::string> words;
  std::string word;
  auto flush = [&] {
    if (!word.empty()) words.push_back(std::move(word));
    word.clear();
  };
  for (int32_t cp : cps) {
    if (o.lowercase) cp = utf8proc_tolower(cp);
    if (is_whitespace(cp)) {
      flush();
    } else if (is_punctuation(cp)) {
      flush();
      append_utf8(word, cp);
      flush();
    } else {
      append_utf8(word, cp);
    }
  }
  flush();
  return words;
}

std::vector<std::string> WordPieceTokenizer::encode_pieces(const std::string& text) const {
  std::vector<std::string> out;
  for (const auto& word : pre_tokenize(text)) {
    const auto cps = code_points(word);
    if (cps.size() > options_.max_input_chars_per_word) {
      out.push_back(options_.unk_token);
      continue;
    }
    // Byte offsets of each character, for substrings at character boundaries.
    std::vector<size_t> at = {0};
    for (int32_t cp : cps) {
      std::string s;
      append_utf8(s, cp);
      at.push_back(at.back() + s.size());
    }
    std::vector<std::string> pieces;
    size_t start = 0;
    bool bad = false;
    while (start < cps.size()) {
      size_t end = cps.size();
      std::string found;
      for (; end > start; --end) {
        std::string sub = word.substr(at[start], at[end] - at[start]);
        if (start > 0) sub = options_.continuing_subword_prefix + sub;
        if (ids_.count(sub)) {
          found = std::move(sub);
          break;
        }
      }
      if (found.empty()) {
        bad = true;
        break;
      }
      pieces.push_back(std::move(found));
      start = end;
    }
    if (bad) {
      out.push_back(options_.unk_token);
    } else {
      out.insert(out.end(), pieces.begin(), pieces.end());
    }
  }
  return out;
}

std::vector<int> WordPieceTokenizer::encode(const std::string& text) const {
  std::vector<int> ids;
  for (const auto& p : encode_pieces(text)) ids.push_back(piece_to_id(p));
  return ids;
}

int WordPieceTokenizer::piece_to_id(const std::string& piece) const {
  const auto it = ids_.find(piece);
  return it == ids_.end() ? unk_id_ : it->second;
}

const std::string& WordPieceTokenizer::id_to_piece(int id) const {
  if (id < 0 || id >= vocab_size()) {
    throw InputError(fmt::format("{}: id {} is outside the vocabulary of {}", path_, id, vocab_size()));
  }
  return pieces_[size_t(id)];
}

}  // namespace strata
