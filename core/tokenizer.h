#pragma once
// The tokenizer a text model runs: a SentencePiece model (tokenizer.model: every model Strata
// pre-trains), or a BERT WordPiece vocabulary (vocab.txt: a packaged BERT such as
// all-MiniLM-L6-v2; core/wordpiece.h). Tokenizer::load picks by file name, and a checkpoint
// carries the file under the same name (checkpoint_file_name), so whatever reads the
// checkpoint gets the tokenizer it was trained with.
//
// SentencePiece cannot share a process's link namespace with LibTorch (docs/building.md), so
// it lives in a shared library of its own, strata_spm (core/tokenizer/spm_shim), which this
// class loads on first use into a fresh link namespace. Callers see none of that. The shim
// is looked for at $STRATA_SPM_SHIM, then at the path the build wrote it to, then in lib/
// beside or above the running program.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct strata_spm_model;

namespace strata {
class WordPieceTokenizer;
}

namespace strata {

// SentencePiece's trainer flags, by SentencePiece's own names and with its defaults except
// where a comment says otherwise.
struct TokenizerTrainOptions {
  std::string model_type = "bpe";  // bpe | unigram | char | word (SentencePiece: unigram)
  int64_t vocab_size = 8000;
  double character_coverage = 0.9995;             // 1.0 for small alphabets
  std::vector<std::string> user_defined_symbols;  // always one piece, e.g. [MASK], [CLS]
  std::vector<std::string> control_symbols;       // ids reserved, never produced from text
  int64_t unk_id = 0;
  int64_t bos_id = 1;   // -1: none
  int64_t eos_id = 2;   // -1: none
  int64_t pad_id = -1;  // -1: none
  // Lines sampled for training; 0: all. SentencePiece 0.1.97 draws the same sample on
  // every run, whatever its random seed (checked), so training is deterministic.
  int64_t input_sentence_size = 0;
  bool shuffle_input_sentence = true;
  // Longer lines are cut at whitespace into pieces of at most this many bytes (SentencePiece
  // would drop them; whole documents often sit on one line).
  int64_t max_sentence_length = 4192;
  int64_t num_threads = 0;  // 0: every usable core (SentencePiece: 16)
  // decode(encode(s)) == s for every s needs "identity", remove_extra_whitespaces off and
  // byte_fallback on; the defaults normalise text (NFKC, collapsed spaces) on purpose.
  std::string normalization_rule_name = "nmt_nfkc";
  bool remove_extra_whitespaces = true;
  bool add_dummy_prefix = true;
  bool split_digits = false;
  bool byte_fallback = false;  // unknown characters become UTF-8 byte pieces, not <unk>
  // Not a SentencePiece flag: "\n" is added to user_defined_symbols, so a line break stays a
  // line break (its own piece) where the normaliser would make it a space: a prompt's "\n\n"
  // shot delimiters and "\nAnswer:" survive, and `until: ["\n"]` can fire.
  bool keep_newlines = true;
  bool hard_vocab_limit = true;
  bool verbose = false;  // SentencePiece's training log on stderr (otherwise errors only)
};

enum class TokenizerKind { kSentencePiece, kWordPiece };

class Tokenizer {
 public:
  // Reads a SentencePiece .model file, or a WordPiece vocab.txt (any file named *.txt), whose
  // lower-casing, accent stripping and CJK splitting come from a tokenizer_config.json beside
  // it when there is one (do_lower_case, strip_accents, tokenize_chinese_chars: Hugging
  // Face's BertTokenizer keys), else BERT-uncased's. A missing or damaged file is an
  // InputError.
  static Tokenizer load(const std::string& path);

  // The tokenizer file in a checkpoint directory: dir/tokenizer.model, else dir/vocab.txt,
  // else "".
  static std::string find_in(const std::string& dir);
  // Writes this tokenizer's file into `dir` under its checkpoint name (tokenizer.model, or
  // vocab.txt plus a tokenizer_config.json of its WordPiece options that Hugging Face's
  // BertTokenizer reads too), through a temporary file and a rename each.
  void save_to(const std::string& dir) const;
  TokenizerKind kind() const { return wordpiece_ ? TokenizerKind::kWordPiece : TokenizerKind::kSentencePiece; }

  // Trains on the lines of `files` and writes <model_prefix>.model and .vocab. Unreadable
  // files, bad options and a failed training (for example a vocab_size the corpus cannot
  // fill) are InputErrors.
  static void train(const std::vector<std::string>& files, const std::string& model_prefix,
                    const TokenizerTrainOptions& options = {});

  // Text -> ids; no BOS/EOS ([CLS]/[SEP]) added.
  std::vector<int> encode(const std::string& text) const;
  std::vector<std::string> encode_pieces(const std::string& text) const;
  // An id outside [0, vocab_size()) is an InputError. WordPiece decodes as Hugging Face's
  // WordPiece decoder does without its clean-up: pieces joined by spaces, "##" pieces glued
  // to the one before (lower-casing and accent stripping are not undone).
  std::string decode(const std::vector<int>& ids) const;
  // Exactly the text that `continuation` adds after `prompt`: decode(prompt + continuation)
  // less decode(prompt). Decoding the continuation alone loses its first space, since
  // SentencePiece drops the space a sequence's first piece ("▁the") starts with: "The quiet
  // river" + "the" instead of " the". Whatever joins generated text to its prompt (strata
  // generate, in-context evaluation) takes the new text from here. Where the prompt's
  // decoding is not a prefix of the whole (never seen; the text cut at a character
  // boundary would differ), the text after the longest common prefix is returned.
  std::string decode_continuation(const std::vector<int>& prompt,
                                  const std::vector<int>& continuation) const;

  // Encodes every text, spread over `threads` threads (0: every usable core).
  std::vector<std::vector<int>> encode_batch(const std::vector<std::string>& texts,
                                             int threads = 0) const;

  int vocab_size() const;
  // -1 when the model has none. A WordPiece vocabulary's BOS and EOS are BERT's [CLS] and
  // [SEP], its pad [PAD] and unk [UNK].
  int bos_id() const;
  int eos_id() const;
  int pad_id() const;
  int unk_id() const;
  int piece_to_id(const std::string& piece) const;  // unk_id() for an unknown piece
  std::string id_to_piece(int id) const;            // InputError outside the vocabulary
  const std::string& path() const { return path_; }

 private:
  Tokenizer(std::shared_ptr<strata_spm_model> model, std::string path)
      : model_(std::move(model)), path_(std::move(path)) {}
  Tokenizer(std::shared_ptr<const WordPieceTokenizer> wordpiece, std::string path)
      : wordpiece_(std::move(wordpiece)), path_(std::move(path)) {}

  // One of the two is set; read-only once loaded, shared by copies.
  std::shared_ptr<strata_spm_model> model_;
  std::shared_ptr<const WordPieceTokenizer> wordpiece_;
  std::string path_;
};

}  // namespace strata
