#pragma once
// Corpus preparation: text -> SentencePiece tokenizer -> binary token shards + manifest.
//
//   corpus (core/data/corpus.h, fixed train/validation/test split by document)
//     -> tokenizer: trained on the train split only, or a given .model reused
//     -> every split tokenized on every core (Tokenizer::encode_batch), EOS after each
//        document
//     -> <data dir>/{manifest.json, tokenizer.model, <split>-NNNNN.bin}
//        (layout: core/data/token_shards.h)
//
// Preparing again with the same request (corpus content, split, tokenizer options or
// model, shard size) reuses the directory as it is; anything else prepares it afresh.
// Files are written under temporary names and the manifest last, so an interrupted run
// leaves nothing that looks complete. In a data-parallel run only one process (rank 0)
// should prepare; the others wait for it, then open the shards.

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/data/corpus.h"
#include "core/data/token_shards.h"
#include "core/tokenizer.h"

namespace strata::pretrain {

struct CorpusPrepOptions {
  std::vector<std::string> corpus;  // built-in names, .txt/.jsonl files, directories, globs
  data::CorpusOptions corpus_options;
  std::string out_dir;  // the data directory
  // An existing SentencePiece model to reuse (copied into out_dir); "" trains one on the
  // train split with `tokenizer`.
  std::string tokenizer_model;
  TokenizerTrainOptions tokenizer;
  int64_t shard_tokens = int64_t(1) << 27;  // most tokens in one shard file (256 MiB as uint16)
  int threads = 0;                          // 0: every usable core
  bool force = false;                       // prepare even when the manifest matches
  // Non-empty: the corpus must still have this fingerprint (a resumed run's data is the
  // run's own); a corpus that changed since is an InputError saying so.
  std::string expected_corpus_hash;
  bool verbose = true;                      // one line per stage (rank 0 only)
};

struct PreparedCorpus {
  std::string dir;
  data::ShardManifest manifest;
  bool reused = false;            // the directory already matched the request
  int64_t text_bytes = 0;         // corpus bytes tokenized (0 when reused)
  double tokenize_seconds = 0.0;  // loading, tokenizing and writing shards, not training
  double train_seconds = 0.0;     // tokenizer training

  std::string tokenizer_path() const;  // dir/tokenizer.model
};

// Prepares (or reuses) out_dir. A bad corpus, an empty one, an unreadable tokenizer model,
// a model without an EOS id, a vocab_size larger than the train split supports, or a corpus
// whose fingerprint is not expected_corpus_hash is an InputError.
PreparedCorpus prepare_corpus(const CorpusPrepOptions& options);

// Writes token ids made elsewhere (random tokens for a benchmark, another tool's tokenizer)
// as a data directory that `data.shards` reads: per split ("train", "validation", ...) an
// int64 tensor of ids in [0, vocab_size), written as shards of at most shard_tokens, then
// manifest.json last. No tokenizer.model is written. eos_id may be -1 (none).
// Ids out of range or an unwritable directory are an InputError.
data::ShardManifest write_token_shards(const std::string& dir,
                                       const std::map<std::string, torch::Tensor>& splits,
                                       int64_t vocab_size, int64_t eos_id,
                                       int64_t shard_tokens = int64_t(1) << 27);

// The tokenizer options masked-LM pre-training needs: a pad id and the user-defined
// symbols [MASK], [CLS], [SEP] (kept if already present).
TokenizerTrainOptions with_mlm_symbols(TokenizerTrainOptions options);

// "fnv1a64:<16 hex digits>" of a file's bytes; InputError when it cannot be read.
std::string file_hash(const std::string& path);

}  // namespace strata::pretrain
