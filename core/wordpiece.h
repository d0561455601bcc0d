#pragma once
// BERT's WordPiece tokenizer (Devlin et al. 2019; Wu et al. 2016), as Hugging Face's
// `tokenizers` runs it for a BertTokenizer's vocab.txt (BertNormalizer, BertPreTokenizer,
// WordPiece), so that a packaged BERT such as all-MiniLM-L6-v2 gets the ids it was trained on:
// 1. clean_text: NUL, U+FFFD and other-category (C*) characters are removed; whitespace
//    (space, \t, \n, \r, Zs) becomes a space;
// 2. handle_chinese_chars: each CJK ideograph (BERT's ranges) gets spaces around it;
// 3. strip_accents (by default when lowercase): NFD, then nonspacing marks (Mn) removed;
// 4. lowercase;
// 5. split on whitespace, and each punctuation character (ASCII punctuation, or Unicode P*)
//    is a word of its own;
// 6. each word, greedy longest match first against the vocabulary, pieces after the first
//    prefixed "##"; a word with no match, or longer than max_input_chars_per_word
//    characters, is [UNK].
// Unicode categories, decomposition and case come from utf8proc (libutf8proc-dev), not from
// tables of our own. Checked against `tokenizers` in tests/core/test_wordpiece.cpp.

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace strata {

struct WordPieceOptions {
  bool clean_text = true;
  bool handle_chinese_chars = true;
  bool lowercase = true;
  std::optional<bool> strip_accents;  // unset: the same as lowercase (BERT's rule)
  std::string unk_token = "[UNK]";
  std::string continuing_subword_prefix = "##";
  size_t max_input_chars_per_word = 100;
};

class WordPieceTokenizer {
 public:
  // Reads vocab.txt (one piece per line, its line number the id). A missing or empty file,
  // or one without unk_token, is an InputError naming it.
  static WordPieceTokenizer load(const std::string& vocab_path, WordPieceOptions options = {});

  // Text (UTF-8; invalid bytes count as U+FFFD) -> ids, with no [CLS] / [SEP] added.
  std::vector<int> encode(const std::string& text) const;
  std::vector<std::string> encode_pieces(const std::string& text) const;
  // Steps 1-5: the words WordPiece then splits.
  std::vector<std::string> pre_tokenize(const std::string& text) const;

  int vocab_size() const { return int(pieces_.size()); }
  int piece_to_id(const std::string& piece) const;  // the unk id when absent
  const std::string& id_to_piece(int id) const;     // InputError outside the vocabulary
  bool has_piece(const std::string& piece) const { return ids_.count(piece) > 0; }
  const WordPieceOptions& options() const { return options_; }

 private:
  std::vector<std::string> pieces_;
  std::unordered_map<std::string, int> ids_;
  WordPieceOptions options_;
  int unk_id_ = 0;
  std::string path_;
};

}  // namespace strata
