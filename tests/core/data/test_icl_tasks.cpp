// The built-in datasets of in-context tasks: fixed by their seed, disjoint splits, and every
// generator's answer checked against the question it asks.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "core/data/corpus.h"
#include "core/data/icl_tasks.h"
#include "core/utf8.h"
#include "core/errors.h"

using namespace strata;
using namespace strata::data;
using json = nlohmann::json;

namespace {

const std::string kDataDir = std::string(STRATA_SOURCE_DIR) + "/data/node_modules";

// Small sizes keep these tests fast.
IclDatasetOptions small(const std::string& dataset, const std::string& name = "") {
  IclDatasetOptions o = icl_defaults(dataset);
  o.dataset_name = name;
  o.n_train = 40, o.n_validation = 10, o.n_test = 20;
  o.data_dir = kDataDir;
  return o;
}

std::string error_of(const std::string& dataset, const IclDatasetOptions& o) {
  try {
    make_icl_dataset(dataset, o);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

std::set<std::string> field_values(const std::vector<json>& docs, const std::string& field) {
  std::set<std::string> out;
  for (const auto& d : docs) out.insert(d.at(field).get<std::string>());
  return out;
}

bool disjoint(const std::set<std::string>& a, const std::set<std::string>& b) {
  return std::none_of(a.begin(), a.end(), [&](const std::string& x) { return b.count(x) > 0; });
}

std::vector<std::string> words_of(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::string sorted(std::string s) {
  std::sort(s.begin(), s.end());
  return s;
}

}  // namespace

TEST_CASE("icl datasets: the same seed gives the same documents, another seed others",
          "[data][icl]") {
  const std::vector<std::pair<std::string, std::string>> generated = {
      {"gpt3_arithmetic", "2da"},       {"gpt3_arithmetic", "3ds"},
      {"gpt3_wordscramble", "anagrams1"}, {"gpt3_wordscramble", "random_insertion"},
      {"copy_words", ""},               {"kv_lookup", ""},
      {"pattern_completion", ""}};
  for (const auto& [dataset, name] : generated) {
    INFO(dataset << " " << name);
    auto o = small(dataset, name);
    const auto a = make_icl_dataset(dataset, o);
    const auto b = make_icl_dataset(dataset, o);
    CHECK(a == b);
    REQUIRE(a.at("train").size() == 40);
    REQUIRE(a.at("validation").size() == 10);
    REQUIRE(a.at("test").size() == 20);
    o.seed = 99;
    CHECK(make_icl_dataset(dataset, o).at("test") != a.at("test"));
    // The test split does not depend on how many training documents are drawn.
    auto more = small(dataset, name);
    more.n_train = 80;
    CHECK(make_icl_dataset(dataset, more).at("test") == a.at("test"));
    // Only the splits asked for.
    const auto only = make_icl_dataset(dataset, small(dataset, name), {"test"});
    CHECK(only.size() == 1);
    CHECK(only.at("test") == a.at("test"));
  }
  // Sub-tasks with one seed draw different documents.
  CHECK(make_icl_dataset("gpt3_arithmetic", small("gpt3_arithmetic", "2da")).at("test") !=
        make_icl_dataset("gpt3_arithmetic", small("gpt3_arithmetic", "2ds")).at("test"));
}

TEST_CASE("icl datasets: the generator and the first documents are pinned", "[data][icl]") {
  // Values from an independent Python SplitMix64 (splitmix64(seed) ^ fnv1a64(stream) as the
  // state; rejection sampling for uniform): a change to the generator shows up here.
  IclRng rng(0, "");
  CHECK(rng.next() == 0x6b81cf3a0bf49bd9ULL);
  CHECK(rng.next() == 0xb8fbfa68cb42bc55ULL);
  CHECK(rng.next() == 0x8fd1175524979e43ULL);
  IclRng other(0, "other");
  CHECK(IclRng(0, "").next() != other.next());
  for (int i = 0; i < 1000; ++i) {
    const int64_t x = rng.uniform(-3, 4);
    CHECK(x >= -3);
    CHECK(x <= 4);
  }
  const auto add = make_icl_dataset("gpt3_arithmetic", small("gpt3_arithmetic", "2da"));
  CHECK(add.at("test")[0].at("context") == "Question: What is 20 plus 64?\nAnswer:");
  CHECK(add.at("test")[0].at("completion") == "84");
  CHECK(add.at("test")[1].at("context") == "Question: What is 93 plus 19?\nAnswer:");
  CHECK(add.at("test")[1].at("completion") == "112");
  const auto sub = make_icl_dataset("gpt3_arithmetic", small("gpt3_arithmetic", "3ds"));
  CHECK(sub.at("test")[0].at("context") == "Question: What is 377 minus 132?\nAnswer:");
  CHECK(sub.at("test")[0].at("completion") == "245");
}

TEST_CASE("gpt3_arithmetic: the answer is the sum, difference or product asked for",
          "[data][icl]") {
  const std::regex question(R"(^Question: What is (\d+) (plus|minus|times) (\d+)\?\nAnswer:$)");
  const std::map<std::string, std::pair<std::string, int64_t>> tasks = {
      {"2da", {"plus", 100}},  {"2ds", {"minus", 100}}, {"3da", {"plus", 1000}},
      {"3ds", {"minus", 1000}}, {"2dm", {"times", 100}}};
  for (const auto& [name, task] : tasks) {
    INFO(name);
    const auto& [op, limit] = task;
    const auto splits = make_icl_dataset("gpt3_arithmetic", small("gpt3_arithmetic", name));
    std::map<std::string, std::set<std::string>> problems;
    bool negative = false, big = false;
    for (const auto& [split, docs] : splits) {
      for (const auto& d : docs) {
        const std::string context = d.at("context");
        std::smatch m;
        REQUIRE(std::regex_match(context, m, question));
        CHECK(m[2] == op);
        const int64_t a = std::stoll(m[1]), b = std::stoll(m[3]);
        CHECK(a < limit);
        CHECK(b < limit);
        CHECK(d.at("a") == a);
        CHECK(d.at("b") == b);
        const int64_t answer = op == "plus" ? a + b : op == "minus" ? a - b : a * b;
        CHECK(d.at("completion") == std::to_string(answer));
        negative = negative || answer < 0;
        big = big || a >= limit / 10;
        problems[split].insert(context);
      }
    }
    if (op == "minus") CHECK(negative);  // 70 draws: some go below zero
    CHECK(big);
    CHECK(disjoint(problems["train"], problems["test"]));
    CHECK(disjoint(problems["validation"], problems["test"]));
    CHECK(disjoint(problems["train"], problems["validation"]));
    CHECK(problems["train"].size() == 40);  // no problem twice within a split
  }
  // 2-digit problems run out: 10,000 of them.
  auto too_many = small("gpt3_arithmetic", "2da");
  too_many.n_train = 10'000;
  CHECK(error_of("gpt3_arithmetic", too_many).find("10000 distinct problems") !=
        std::string::npos);
}

TEST_CASE("gpt3_wordscramble: each distortion recovers its word", "[data][icl]") {
  const std::string head = "Please unscramble the letters into a word, and write that word:\n";
  const auto dictionary = dictionary_words(kWordsFile, 5, 14);
  const std::set<std::string> words(dictionary.begin(), dictionary.end());
  const std::string& inserted = insertion_characters();
  for (const auto& name : icl_subtasks("gpt3_wordscramble")) {
    INFO(name);
    const auto splits = make_icl_dataset("gpt3_wordscramble", small("gpt3_wordscramble", name));
    for (const auto& [split, docs] : splits) {
      for (const auto& d : docs) {
        const std::string context = d.at("context"), word = d.at("completion"),
                          s = d.at("scrambled");
        INFO(context);
        CHECK(context == head + s + " =");
        CHECK(words.count(word) == 1);
        CHECK(word.size() >= 5);
        CHECK(word.size() <= 14);
        CHECK(s != word);
        if (name == "cycle_letters") {
          CHECK(s.size() == word.size());
          CHECK((word + word).find(s) != std::string::npos);  // a rotation
        } else if (name == "anagrams1" || name == "anagrams2") {
          const size_t keep = name == "anagrams1" ? 1 : 2;
          REQUIRE(s.size() == word.size());
          CHECK(s.substr(0, keep) == word.substr(0, keep));
          CHECK(s.substr(s.size() - keep) == word.substr(word.size() - keep));
          CHECK(sorted(s) == sorted(word));
        } else if (name == "random_insertion") {
          REQUIRE(s.size() == 2 * word.size() - 1);
          std::string letters;
          for (size_t i = 0; i < s.size(); ++i) {
            if (i % 2 == 0) letters += s[i];
            else CHECK(inserted.find(s[i]) != std::string::npos);
          }
          CHECK(letters == word);
        } else {
          CHECK(std::string(s.rbegin(), s.rend()) == word);
        }
      }
    }
    CHECK(disjoint(field_values(splits.at("train"), "completion"),
                   field_values(splits.at("test"), "completion")));
    CHECK(disjoint(field_values(splits.at("validation"), "completion"),
                   field_values(splits.at("test"), "completion")));
  }
  // The distortions themselves.
  IclRng rng(1, "test");
  CHECK(reversed_word("objects") == "stcejbo");
  CHECK(cycle_letters("level", rng) != "level");
  CHECK(anagram_middle("abba", 1, rng) == "abba");      // "bb": nothing to move
  CHECK(anagram_middle("opponent", 2, rng) != "opponent");
  CHECK(anagram_middle("add", 1, rng) == "add");        // one middle letter
}

TEST_CASE("copy_words, kv_lookup, pattern_completion: answers follow from the context",
          "[data][icl]") {
  const auto dictionary = dictionary_words(kWordsFile, 3, 8);
  const std::set<std::string> words(dictionary.begin(), dictionary.end());

  const auto copy = make_icl_dataset("copy_words", small("copy_words"));
  for (const auto& [split, docs] : copy) {
    for (const auto& d : docs) {
      CHECK(d.at("input") == d.at("output"));
      const auto w = words_of(d.at("input"));
      CHECK(w.size() == 3);
      for (const auto& x : w) CHECK(words.count(x) == 1);
    }
  }
  CHECK(disjoint(field_values(copy.at("train"), "input"), field_values(copy.at("test"), "input")));

  auto kv_options = small("kv_lookup");
  kv_options.n_pairs = 3;
  const auto kv = make_icl_dataset("kv_lookup", kv_options);
  for (const auto& [split, docs] : kv) {
    for (const auto& d : docs) {
      const std::string context = d.at("context");
      INFO(context);
      std::istringstream lines(context);
      std::map<std::string, std::string> pairs;
      std::string line, query;
      while (std::getline(lines, line)) {
        const size_t colon = line.find(": ");
        if (colon == std::string::npos) {
          query = line;
        } else {
          CHECK(pairs.emplace(line.substr(0, colon), line.substr(colon + 2)).second);
        }
      }
      CHECK(pairs.size() == 3);
      REQUIRE(query.size() > 1);
      REQUIRE(query.back() == ':');
      query.pop_back();
      REQUIRE(pairs.count(query) == 1);
      CHECK(d.at("completion") == pairs[query]);
    }
  }
  CHECK(disjoint(field_values(kv.at("train"), "context"), field_values(kv.at("test"), "context")));

  const auto pattern = make_icl_dataset("pattern_completion", small("pattern_completion"));
  for (const auto& [split, docs] : pattern) {
    for (const auto& d : docs) {
      const auto seq = words_of(d.at("context"));
      INFO(d.at("context").get<std::string>());
      // The shortest period that the sequence repeats.
      size_t period = 1;
      while (period < seq.size()) {
        bool repeats = true;
        for (size_t i = period; i < seq.size(); ++i) repeats = repeats && seq[i] == seq[i - period];
        if (repeats) break;
        ++period;
      }
      CHECK(period >= 2);
      CHECK(period <= 3);
      CHECK(seq.size() >= 2 * period);
      CHECK(d.at("completion") == seq[seq.size() - period]);
    }
  }
}

TEST_CASE("lambada_cloze: held-out passages whose last word occurred before", "[data][icl]") {
  auto o = small("lambada_cloze");
  o.n_validation = 8, o.n_test = 8;
  const auto splits = make_icl_dataset("lambada_cloze", o);
  CHECK(splits.count("train") == 0);
  CorpusOptions co;
  co.data_dir = kDataDir;
  const Corpus corpus = load_corpus("sotu", co);
  for (const auto& [split, docs] : splits) {
    INFO(split);
    REQUIRE(docs.size() == 8);
    // The documents of this split, as runs of words, and of every other split.
    std::string held_out, others;
    for (const auto& d : corpus.documents) {
      std::string text;
      for (const auto& w : words_of(d.text)) text += w + " ";
      (split_name(d.split) == split ? held_out : others) += text + "\n";
    }
    for (const auto& d : docs) {
      const std::string text = d.at("text"), target = d.at("target");
      INFO(text << " || " << target);
      const auto w = words_of(text);
      CHECK(int64_t(w.size()) + 1 >= o.min_words);
      CHECK(int64_t(w.size()) + 1 <= o.max_words);
      CHECK(target.size() >= 3);
      CHECK(std::all_of(target.begin(), target.end(), [](char c) { return std::isalpha(c); }));
      // The passage, its target and the sentence end that followed, from this split only.
      const std::string joined = text + " " + target;
      CHECK(held_out.find(joined) != std::string::npos);
      CHECK(others.find(joined) == std::string::npos);
      // The target occurs earlier, in any case.
      std::string lower_text, lower_target;
      for (char c : text) lower_text += char(std::tolower(static_cast<unsigned char>(c)));
      for (char c : target) lower_target += char(std::tolower(static_cast<unsigned char>(c)));
      CHECK(lower_text.find(lower_target) != std::string::npos);
    }
  }
  CHECK(make_icl_dataset("lambada_cloze", o) == splits);
  CHECK(disjoint(field_values(splits.at("validation"), "text"),
                 field_values(splits.at("test"), "text")));
}

TEST_CASE("spam_assassin as documents: a seeded subset of a fixed split", "[data][icl]") {
  auto o = small("spam_assassin");
  o.n_train = 5, o.n_test = 12, o.max_chars = 80;
  const auto splits = make_icl_dataset("spam_assassin", o, {"test"});
  REQUIRE(splits.size() == 1);
  const auto& docs = splits.at("test");
  REQUIRE(docs.size() == 12);
  int64_t with_body = 0;
  for (const auto& d : docs) {
    CHECK((d.at("label") == 0 || d.at("label") == 1));
    const std::string body = d.at("body");
    CHECK(strata::utf8::length(body) <= 80);
    CHECK(body.find('\n') == std::string::npos);
    CHECK(d.at("id").get<std::string>().find('/') != std::string::npos);
    with_body += !body.empty();
  }
  CHECK(with_body >= 10);
  CHECK(make_icl_dataset("spam_assassin", o, {"test"}) == splits);
}

TEST_CASE("spam_assassin: max_chars counts characters, as Python does, not bytes", "[data][icl]") {
  auto o = small("spam_assassin");
  o.n_train = 5, o.n_test = -1, o.max_chars = 100;
  const auto splits = make_icl_dataset("spam_assassin", o, {"test"});
  const auto& docs = splits.at("test");
  int64_t longer_in_bytes = 0;
  for (const auto& d : docs) {
    const std::string body = d.at("body");
    INFO(body);
    CHECK(strata::utf8::length(body) <= 100);
    longer_in_bytes += body.size() > 100;
  }
  // Bodies with multi-byte characters keep 100 characters: more than 100 bytes.
  CHECK(longer_in_bytes > 0);
}

TEST_CASE("icl datasets: bad names, sizes and missing files are input errors", "[data][icl]") {
  CHECK(error_of("gpt3_arithmetc", small("gpt3_arithmetic", "2da")).find("did you mean 'gpt3_arithmetic'") !=
        std::string::npos);
  auto msg = error_of("gpt3_arithmetic", small("gpt3_arithmetic", "4da"));
  CHECK(msg.find("'4da'") != std::string::npos);
  CHECK(msg.find("2da, 2ds, 3da, 3ds, 2dm") != std::string::npos);
  CHECK(error_of("gpt3_wordscramble", small("gpt3_wordscramble", "")).find("cycle_letters") !=
        std::string::npos);
  CHECK(error_of("copy_words", small("copy_words", "2da")).find("no sub-tasks") != std::string::npos);

  auto missing = small("copy_words");
  missing.words_file = "/nonexistent/words";
  msg = error_of("copy_words", missing);
  CHECK(msg.find("/nonexistent/words") != std::string::npos);
  CHECK(msg.find("wamerican") != std::string::npos);

  auto few = small("gpt3_wordscramble", "anagrams2");
  few.min_letters = 14, few.max_letters = 14;
  few.n_train = 100'000;
  CHECK(error_of("gpt3_wordscramble", few).find("ask for fewer") != std::string::npos);

  auto no_data = small("lambada_cloze");
  no_data.data_dir = "/nonexistent/node_modules";
  msg = error_of("lambada_cloze", no_data);
  CHECK(msg.find("/nonexistent/node_modules") != std::string::npos);
  CHECK(msg.find("bootstrap") != std::string::npos);
  auto bad_corpus = small("lambada_cloze");
  bad_corpus.corpus = {"sotu", "mobydick"};
  CHECK(error_of("lambada_cloze", bad_corpus).find("mobydick") != std::string::npos);
}
