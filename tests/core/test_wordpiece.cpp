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
  std::ifstream docs(strata::testing::source_dir() + "/tests/assets/tokenizer/documents.jsonl");
  for (std::string line; std::getline(docs, line);) {
    const auto text = nlohmann::json::parse(line)["text"].get<std::string>();
    expected.push_back({{"text", text}, {"ids", tok.encode(text)}});
  }
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
