#pragma once
// Built-in datasets of documents for in-context tasks (docs/architecture.md, "Built-in
// datasets"): what a task file names by `dataset_path`, with `dataset_name` for the sub-task
// and `dataset_kwargs` for the options below. Each gives JSON documents per split, "train",
// "validation" and "test", generated in memory from a seed or read from the files the
// bootstrap installs:
//
//   gpt3_arithmetic     GPT-3's arithmetic (Brown et al. 2020, sec. 3.9.1): 2da 2ds 3da 3ds
//                       2dm; {context, completion, a, b, op}
//   gpt3_wordscramble   GPT-3's word scrambling (sec. 3.9.2): cycle_letters anagrams1
//                       anagrams2 random_insertion reversed_words, over /usr/share/dict/words;
//                       {context, completion, scrambled}
//   copy_words          "Input: w1 w2 w3 / Output: w1 w2 w3"; {input, output}
//   kv_lookup           "key: value" lines, then one key again; {context, completion}
//   pattern_completion  "a b c a b c a" -> "b"; {context, completion}
//   lambada_cloze       LAMBADA-style passages (Paperno et al. 2016) from the held-out splits
//                       of the built-in corpora; {text, target}
//   spam_assassin       the e-mails of core/data/spam_assassin.h, train and test only;
//                       {id, subject, body, text, label}
//
// Every generated split is fixed by (seed, dataset, dataset_name) and the sizes: the same
// documents on every machine (the generator is Strata's own, not the standard library's
// implementation-defined distributions). No document appears in two splits. The test split
// is drawn first, then validation, then train, so a test set does not change with
// n_train or n_validation.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/registry.h"

namespace strata::data {

// Documents by split name.
using DocumentSplits = std::map<std::string, std::vector<nlohmann::json>>;

// The word list the word tasks draw from (Debian package wamerican).
constexpr const char* kWordsFile = "/usr/share/dict/words";

// A task file's `dataset_name` and `dataset_kwargs` for a built-in dataset. Each dataset
// reads only the keys it uses (icl_dataset_keys); defaults come from icl_defaults().
struct IclDatasetOptions {
  std::string dataset_name;  // the sub-task ("2da", "anagrams1"); "" for datasets without
  // Documents per split. A generated dataset makes exactly this many (an InputError when
  // there are not that many distinct documents); lambada_cloze makes at most this many;
  // spam_assassin takes a seeded subset in file order, -1 meaning every message.
  int64_t n_train = 0;
  int64_t n_validation = 0;
  int64_t n_test = 0;
  int64_t seed = 1234;
  // Word tasks: the word list and the lengths kept (lower-case a-z words only).
  std::string words_file = kWordsFile;
  int64_t min_letters = 0;
  int64_t max_letters = 0;
  int64_t n_words = 3;  // copy_words: words per document
  int64_t n_pairs = 4;  // kv_lookup: key-value pairs per document
  // lambada_cloze: the built-in corpora and the passage length in words, target included.
  std::vector<std::string> corpus = {"sotu"};
  int64_t min_words = 60;
  int64_t max_words = 120;
  // lambada_cloze, spam_assassin: the npm data packages ("" finds them, corpus.h).
  std::string data_dir;
  int64_t max_chars = 400;  // spam_assassin: the body is cut to this many characters (code
                            // points, as Python counts them), at a space
};

// The datasets, in the order above. make() of an unknown name is an InputError naming the
// closest one and all of them.
using IclDatasetRegistry =
    Registry<DocumentSplits(const IclDatasetOptions&, const std::vector<std::string>&)>;
const IclDatasetRegistry& icl_datasets();
bool is_icl_dataset(const std::string& dataset);

// A dataset's sub-tasks ({"2da", ...}); empty for a dataset without (dataset_name unused).
const std::vector<std::string>& icl_subtasks(const std::string& dataset);
// The dataset_kwargs keys a dataset reads.
const std::vector<std::string>& icl_dataset_keys(const std::string& dataset);
// The splits a dataset has: train, validation and test, but lambada_cloze has no train
// (its passages come from held-out text only) and spam_assassin no validation.
const std::vector<std::string>& icl_splits(const std::string& dataset);
// A dataset's defaults (sizes, word lengths): what its options start from.
IclDatasetOptions icl_defaults(const std::string& dataset);

// Reads a dataset's dataset_kwargs over `o` (which holds defaults or a base file's values):
// only its own keys (icl_dataset_keys), checked; relative paths resolve against the file.
void read_options(config::Reader& r, const std::string& dataset, IclDatasetOptions& o);
// The dataset_kwargs a dataset used, for results files.
nlohmann::json kwargs_json(const std::string& dataset, const IclDatasetOptions& o);

// The documents of `dataset`. `splits` names the splits wanted (empty: all); a dataset that
// reads files reads only those. An unknown dataset or sub-task, a bad size or a missing
// data file is an InputError naming it (and the package that installs a missing file).
DocumentSplits make_icl_dataset(const std::string& dataset, const IclDatasetOptions& o,
                                const std::vector<std::string>& splits = {});

// ---- the pieces, for tests and for other generators -----------------------------------

// The lower-case a-z words of a word list with min_letters..max_letters letters, in file
// order, each once. A missing file is an InputError naming it and Debian's wamerican.
std::vector<std::string> dictionary_words(const std::string& path, int64_t min_letters,
                                          int64_t max_letters);

// A small, fixed generator (SplitMix64): the same numbers on every machine and compiler.
class IclRng {
 public:
  // `stream` separates draws made with one seed for different purposes.
  IclRng(uint64_t seed, const std::string& stream);
  uint64_t next();
  // Uniform in [lo, hi] (both included), without modulo bias.
  int64_t uniform(int64_t lo, int64_t hi);
  template <class T>
  void shuffle(std::vector<T>& v) {  // Fisher-Yates
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[size_t(uniform(0, int64_t(i) - 1))]);
  }

 private:
  uint64_t state_;
};

// GPT-3's word distortions (sec. 3.9.2). Each returns a form that differs from `word`
// where one exists (a word such as "level" reversed has none: the word itself).
std::string cycle_letters(const std::string& word, IclRng& rng);  // a rotation
// The letters between the first `keep` and the last `keep` shuffled: anagrams1 keeps 1,
// anagrams2 keeps 2.
std::string anagram_middle(const std::string& word, size_t keep, IclRng& rng);
// One random ASCII punctuation or space character between every two letters.
std::string random_insertion(const std::string& word, IclRng& rng);
std::string reversed_word(const std::string& word);

// The characters random_insertion puts between letters: Python's string.punctuation and a
// space.
const std::string& insertion_characters();

}  // namespace strata::data
