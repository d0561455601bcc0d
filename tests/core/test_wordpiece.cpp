// The WordPiece tokenizer against Hugging Face's `tokenizers` on all-MiniLM-L6-v2's vocab.txt
// (pretrained/, linked by scripts/bootstrap.sh): the same ids on documents with accents,
// punctuation, CJK text, long words and invisible characters.

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/errors.h"
#include "core/python.h"
#include "core/tokenizer.h"
#include "core/wordpiece.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

// Last: glog (through LibTorch) also defines CHECK, and Catch's must win.
#include <catch2/catch.hpp>

using namespace strata;

TEST_CASE("wordpiece: the ids of Hugging Face's tokenizers on all-MiniLM-L6-v2's vocabulary",
          "[tokenizer][wordpiece][transformers]") {
  const std::string model = strata::testing::source_dir() + "/pretrained/all-MiniLM-L6-v2";
  REQUIRE(std::filesystem::exists(model + "/vocab.txt"));  // scripts/bootstrap.sh
  const auto tok = WordPieceTokenizer::load(model + "/vocab.txt");
  CHECK(tok.vocab_size() == 30522);
  // Known pieces: BERT's own example, lowercased and accent-stripped.
  CHECK(tok.encode_pieces("Héllo, unaffable!") ==
        std::vector<std::string>{"hello", ",", "una", "##ffa", "##ble", "!"});
  strata::testing::TempDir dir("wordpiece");
  nlohmann::json expected = nlohmann::json::array();
  // documents.jsonl, then the edges of BERT's clean_text: unassigned code points (kept),
  // format, private-use and control characters (removed), Unicode line and paragraph
  // separators (whitespace), from SpamAssassin messages that once tokenized differently.
  for (const char* file : {"documents.jsonl", "wordpiece_edges.jsonl"}) {
    std::ifstream docs(strata::testing::source_dir() + "/tests/assets/tokenizer/" + file);
    for (std::string line; std::getline(docs, line);) {
      const auto text = nlohmann::json::parse(line)["text"].get<std::string>();
      expected.push_back({{"text", text}, {"ids", tok.encode(text)}});
    }
  }
  CHECK(expected.size() == 35);
  std::ofstream(dir.file("expected.json")) << expected.dump();
  const std::string cmd = python_program() + " " + strata::testing::source_dir() +
                          "/tests/core/wordpiece_check.py " + model + "/tokenizer.json " +
                          dir.file("expected.json") + " > " + dir.file("check.log") + " 2>&1";
  const int rc = std::system(cmd.c_str());
  INFO(strata::testing::read_text(dir.file("check.log")));
  CHECK(rc == 0);
}

TEST_CASE("wordpiece: a vocabulary that is missing, empty or without [UNK] is refused by name",
          "[tokenizer][wordpiece]") {
  strata::testing::TempDir dir("wordpiece-bad");
  CHECK_THROWS_WITH(WordPieceTokenizer::load(dir.file("none.txt")), Catch::Contains("none.txt"));
  std::ofstream(dir.file("empty.txt")) << "";
  CHECK_THROWS_AS(WordPieceTokenizer::load(dir.file("empty.txt")), InputError);
  std::ofstream(dir.file("nounk.txt")) << "a\nb\n";
  CHECK_THROWS_WITH(WordPieceTokenizer::load(dir.file("nounk.txt")), Catch::Contains("[UNK]"));
}

TEST_CASE("tokenizer: a vocab.txt loads as WordPiece, saves with its options and is found in a checkpoint",
          "[tokenizer][wordpiece]") {
  namespace fs = std::filesystem;
  strata::testing::TempDir dir("wordpiece-tokenizer");
  fs::create_directories(dir.file("cased"));
  std::ofstream(dir.file("cased/vocab.txt")) << "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nHello\n##s\n,\n";
  // Without a tokenizer_config.json: BERT uncased.
  const auto uncased = Tokenizer::load(dir.file("cased/vocab.txt"));
  CHECK(uncased.kind() == TokenizerKind::kWordPiece);
  CHECK(uncased.encode("Hellos, héllo") == std::vector<int>{4, 6, 7, 4});
  CHECK(uncased.bos_id() == 2);
  CHECK(uncased.eos_id() == 3);
  CHECK(uncased.pad_id() == 0);
  CHECK(uncased.unk_id() == 1);
  CHECK(uncased.vocab_size() == 8);
  CHECK(uncased.decode({4, 6, 7, 4}) == "hellos , hello");
  CHECK_THROWS_AS(uncased.decode({8}), InputError);
  // Hugging Face's keys beside it: do_lower_case false keeps the case (and the accents).
  std::ofstream(dir.file("cased/tokenizer_config.json")) << R"({"do_lower_case": false})";
  const auto cased = Tokenizer::load(dir.file("cased/vocab.txt"));
  CHECK(cased.encode("Hello hello") == std::vector<int>{5, 4});
  // A checkpoint carries vocab.txt and the options; find_in finds it.
  fs::create_directories(dir.file("ckpt"));
  CHECK(Tokenizer::find_in(dir.file("ckpt")).empty());
  cased.save_to(dir.file("ckpt"));
  CHECK(Tokenizer::find_in(dir.file("ckpt")) == dir.file("ckpt") + "/vocab.txt");
  CHECK_FALSE(fs::exists(dir.file("ckpt/tokenizer.model")));
  const auto again = Tokenizer::load(Tokenizer::find_in(dir.file("ckpt")));
  CHECK(again.encode("Hello hello") == std::vector<int>{5, 4});
  const auto config = nlohmann::json::parse(strata::testing::read_text(dir.file("ckpt/tokenizer_config.json")));
  CHECK(config["tokenizer_class"] == "BertTokenizer");
  CHECK(config["do_lower_case"] == false);
  // A damaged tokenizer_config.json is named.
  std::ofstream(dir.file("cased/tokenizer_config.json")) << R"({"do_lower_case": "yes"})";
  CHECK_THROWS_WITH(Tokenizer::load(dir.file("cased/vocab.txt")), Catch::Contains("tokenizer_config.json"));
  CHECK_THROWS_WITH(Tokenizer::load(dir.file("missing/vocab.txt")), Catch::Contains("missing/vocab.txt"));
}
