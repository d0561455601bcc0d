#include "core/data/icl_tasks.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <unordered_set>

#include "core/data/corpus.h"
#include "core/data/spam_assassin.h"
#include "core/errors.h"
#include "core/utf8.h"
#include "core/hash.h"

namespace fs = std::filesystem;

namespace strata::data {

using json = nlohmann::json;

namespace {

// ---- sizes and drawing ----------------------------------------------------------------

std::vector<std::string> join_lists(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const std::vector<std::string> kSizeKeys = {"n_train", "n_validation", "n_test", "seed"};
const std::vector<std::string> kWordKeys = {"words_file", "min_letters", "max_letters"};

bool wanted(const std::vector<std::string>& splits, const std::string& split) {
  return splits.empty() || std::find(splits.begin(), splits.end(), split) != splits.end();
}

void keep_wanted(DocumentSplits& out, const std::vector<std::string>& splits) {
  for (auto it = out.begin(); it != out.end();) {
    it = wanted(splits, it->first) ? std::next(it) : out.erase(it);
  }
}

void check_sizes(const std::string& dataset, const IclDatasetOptions& o) {
  for (auto [key, n] : {std::pair<const char*, int64_t>{"n_train", o.n_train},
                        {"n_validation", o.n_validation},
                        {"n_test", o.n_test}}) {
    if (n < 0) throw InputError(fmt::format("{}: {} is {}; it must be >= 0", dataset, key, n));
  }
  if (o.seed < 0) throw InputError(fmt::format("{}: seed must be >= 0", dataset));
}

void check_subtask(const std::string& dataset, const std::string& name) {
  const auto& names = icl_subtasks(dataset);
  if (std::find(names.begin(), names.end(), name) != names.end()) return;
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  const std::string hint = config::closest(name, names);
  throw InputError(fmt::format("{}: {}; dataset_name is one of {}", dataset,
                               name.empty() ? std::string("no dataset_name given")
                                            : fmt::format("unknown dataset_name '{}'{}", name,
                                                          hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)),
                               list));
}

// One generated document and what makes it distinct (two documents with one key are the
// same problem: a word, a pair of numbers). An empty key rejects the draw.
struct Drawn {
  std::string key;
  json doc;
};

// Draws documents until test, validation and train (in that order) hold their sizes,
// skipping any whose key was drawn before, so no document is in two splits.
DocumentSplits draw_splits(const std::string& what, const IclDatasetOptions& o, IclRng& rng,
                           const std::function<Drawn(IclRng&)>& make) {
  const int64_t total = o.n_test + o.n_validation + o.n_train;
  const int64_t max_draws = 100 * total + 100000;
  std::unordered_set<std::string> seen;
  DocumentSplits out;
  int64_t draws = 0;
  for (auto [split, n] : {std::pair<const char*, int64_t>{"test", o.n_test},
                          {"validation", o.n_validation},
                          {"train", o.n_train}}) {
    auto& docs = out[split];
    while (int64_t(docs.size()) < n) {
      if (++draws > max_draws) {
        throw InputError(fmt::format(
            "{}: only {} distinct documents found in {} draws, but n_train + n_validation + "
            "n_test asks for {}; ask for fewer",
            what, seen.size(), max_draws, total));
      }
      Drawn d = make(rng);
      if (d.key.empty() || !seen.insert(d.key).second) continue;
      docs.push_back(std::move(d.doc));
    }
  }
  return out;
}

std::string join(const std::vector<std::string>& words, const std::string& sep) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : sep) + w;
  return out;
}

// `n` distinct words of the pool.
std::vector<std::string> distinct_words(const std::vector<std::string>& pool, size_t n,
                                        IclRng& rng) {
  std::vector<std::string> out;
  while (out.size() < n) {
    const std::string& w = pool[size_t(rng.uniform(0, int64_t(pool.size()) - 1))];
    if (std::find(out.begin(), out.end(), w) == out.end()) out.push_back(w);
  }
  return out;
}

std::vector<std::string> word_pool(const std::string& dataset, const IclDatasetOptions& o,
                                   size_t at_least) {
  auto pool = dictionary_words(o.words_file, o.min_letters, o.max_letters);
  if (pool.size() < at_least) {
    throw InputError(fmt::format("{}: {} has only {} words of {} to {} letters; {} needs {}",
                                 dataset, o.words_file, pool.size(), o.min_letters,
                                 o.max_letters, dataset, at_least));
  }
  return pool;
}

std::string stream_name(const std::string& dataset, const IclDatasetOptions& o) {
  return dataset + "/" + o.dataset_name;
}

// ---- gpt3_arithmetic ------------------------------------------------------------------

// Brown et al. 2020, sec. 3.9.1: operands drawn uniformly from [0, 100) for two digits and
// [0, 1000) for three; subtraction may go negative. The paper shows "Q: What is 48 plus 76?
// A: 124"; the files it released (openai/gpt-3, data/), which lm-evaluation-harness scores
// as EleutherAI/arithmetic, read "Question: What is 98 plus 45?\nAnswer:" with the answer
// " 143". The context here is that released form; the completion has no leading space
// because the task file's target_delimiter adds it.
struct Arithmetic {
  int64_t limit;   // operands in [0, limit)
  const char* op;  // plus | minus | times
};

const std::map<std::string, Arithmetic>& arithmetic_tasks() {
  static const std::map<std::string, Arithmetic> tasks = {{"2da", {100, "plus"}},
                                                          {"2ds", {100, "minus"}},
                                                          {"3da", {1000, "plus"}},
                                                          {"3ds", {1000, "minus"}},
                                                          {"2dm", {100, "times"}}};
  return tasks;
}

DocumentSplits gpt3_arithmetic(const IclDatasetOptions& o, const std::vector<std::string>& splits) {
  check_subtask("gpt3_arithmetic", o.dataset_name);
  check_sizes("gpt3_arithmetic", o);
  const Arithmetic task = arithmetic_tasks().at(o.dataset_name);
  const int64_t problems = task.limit * task.limit;
  if (o.n_train + o.n_validation + o.n_test > problems) {
    throw InputError(fmt::format("gpt3_arithmetic {}: there are only {} distinct problems, and "
                                 "n_train + n_validation + n_test asks for {}",
                                 o.dataset_name, problems,
                                 o.n_train + o.n_validation + o.n_test));
  }
  const std::string op = task.op;
  IclRng rng(uint64_t(o.seed), stream_name("gpt3_arithmetic", o));
  auto out = draw_splits("gpt3_arithmetic " + o.dataset_name, o, rng, [&](IclRng& r) {
    const int64_t a = r.uniform(0, task.limit - 1), b = r.uniform(0, task.limit - 1);
    const int64_t answer = op == "plus" ? a + b : op == "minus" ? a - b : a * b;
    json doc = {{"context", fmt::format("Question: What is {} {} {}?\nAnswer:", a, op, b)},
                {"completion", std::to_string(answer)},
                {"a", a},
                {"b", b},
                {"op", op}};
    return Drawn{fmt::format("{} {} {}", a, op, b), std::move(doc)};
  });
  keep_wanted(out, splits);
  return out;
}

// ---- gpt3_wordscramble ----------------------------------------------------------------

// Brown et al. 2020, sec. 3.9.2 and its appendix G figures: the instruction, a new line,
// the distorted word and " =", answered by the word. The paper drew the 10,000 most
// frequent words of more than 4 and fewer than 15 letters (Norvig's counts); Strata has no
// frequency list and draws uniformly from the dictionary's words of 5 to 14 letters
// (min_letters, max_letters), so its words are rarer on average. A word whose distortion
// would be itself (a palindrome reversed) is not used.
constexpr const char* kUnscramble = "Please unscramble the letters into a word, and write that word:\n";

const std::vector<std::string>& scramble_names() {
  static const std::vector<std::string> names = {"cycle_letters", "anagrams1", "anagrams2",
                                                 "random_insertion", "reversed_words"};
  return names;
}

std::string distort(const std::string& name, const std::string& word, IclRng& rng) {
  if (name == "cycle_letters") return cycle_letters(word, rng);
  if (name == "anagrams1") return anagram_middle(word, 1, rng);
  if (name == "anagrams2") return anagram_middle(word, 2, rng);
  if (name == "random_insertion") return random_insertion(word, rng);
  return reversed_word(word);
}

DocumentSplits gpt3_wordscramble(const IclDatasetOptions& o,
                                 const std::vector<std::string>& splits) {
  check_subtask("gpt3_wordscramble", o.dataset_name);
  check_sizes("gpt3_wordscramble", o);
  const auto pool = word_pool("gpt3_wordscramble", o, 1);
  const int64_t total = o.n_train + o.n_validation + o.n_test;
  if (total > int64_t(pool.size())) {  // each word is in one document at most
    throw InputError(fmt::format("gpt3_wordscramble: {} has {} words of {} to {} letters, and "
                                 "n_train + n_validation + n_test asks for {}; ask for fewer",
                                 o.words_file, pool.size(), o.min_letters, o.max_letters,
                                 total));
  }
  IclRng rng(uint64_t(o.seed), stream_name("gpt3_wordscramble", o));
  auto out = draw_splits("gpt3_wordscramble " + o.dataset_name, o, rng, [&](IclRng& r) {
    const std::string& word = pool[size_t(r.uniform(0, int64_t(pool.size()) - 1))];
    const std::string scrambled = distort(o.dataset_name, word, r);
    if (scrambled == word) return Drawn{};
    json doc = {{"context", kUnscramble + scrambled + " ="},
                {"completion", word},
                {"scrambled", scrambled}};
    return Drawn{word, std::move(doc)};
  });
  keep_wanted(out, splits);
  return out;
}

// ---- copy_words, kv_lookup, pattern_completion ----------------------------------------

void check_no_subtask(const std::string& dataset, const IclDatasetOptions& o) {
  if (!o.dataset_name.empty()) {
    throw InputError(fmt::format("{}: has no sub-tasks, but dataset_name is '{}'", dataset,
                                 o.dataset_name));
  }
}

DocumentSplits copy_words(const IclDatasetOptions& o, const std::vector<std::string>& splits) {
  check_no_subtask("copy_words", o);
  check_sizes("copy_words", o);
  if (o.n_words < 1) throw InputError("copy_words: n_words must be >= 1");
  const auto pool = word_pool("copy_words", o, size_t(o.n_words));
  IclRng rng(uint64_t(o.seed), stream_name("copy_words", o));
  auto out = draw_splits("copy_words", o, rng, [&](IclRng& r) {
    const std::string words = join(distinct_words(pool, size_t(o.n_words), r), " ");
    return Drawn{words, json{{"input", words}, {"output", words}}};
  });
  keep_wanted(out, splits);
  return out;
}

// Induction in its plainest form: the answer is the word that followed the key earlier in
// the same context. Keys and values are distinct words.
DocumentSplits kv_lookup(const IclDatasetOptions& o, const std::vector<std::string>& splits) {
  check_no_subtask("kv_lookup", o);
  check_sizes("kv_lookup", o);
  if (o.n_pairs < 1) throw InputError("kv_lookup: n_pairs must be >= 1");
  const size_t pairs = size_t(o.n_pairs);
  const auto pool = word_pool("kv_lookup", o, 2 * pairs);
  IclRng rng(uint64_t(o.seed), stream_name("kv_lookup", o));
  auto out = draw_splits("kv_lookup", o, rng, [&](IclRng& r) {
    const auto words = distinct_words(pool, 2 * pairs, r);
    std::string context;
    for (size_t i = 0; i < pairs; ++i) context += words[i] + ": " + words[pairs + i] + "\n";
    const size_t q = size_t(r.uniform(0, int64_t(pairs) - 1));
    context += words[q] + ":";
    return Drawn{context, json{{"context", context}, {"completion", words[pairs + q]}}};
  });
  keep_wanted(out, splits);
  return out;
}

// A period of 2 or 3 distinct words shown 2 to 3 times over (cut anywhere); the answer is
// the word that comes next.
DocumentSplits pattern_completion(const IclDatasetOptions& o,
                                  const std::vector<std::string>& splits) {
  check_no_subtask("pattern_completion", o);
  check_sizes("pattern_completion", o);
  const auto pool = word_pool("pattern_completion", o, 3);
  IclRng rng(uint64_t(o.seed), stream_name("pattern_completion", o));
  auto out = draw_splits("pattern_completion", o, rng, [&](IclRng& r) {
    const int64_t period = r.uniform(2, 3);
    const auto words = distinct_words(pool, size_t(period), r);
    const int64_t shown = r.uniform(2 * period, 3 * period);
    std::vector<std::string> seq;
    for (int64_t i = 0; i < shown; ++i) seq.push_back(words[size_t(i % period)]);
    const std::string context = join(seq, " ");
    return Drawn{context,
                 json{{"context", context}, {"completion", words[size_t(shown % period)]}}};
  });
  keep_wanted(out, splits);
  return out;
}

// ---- lambada_cloze ----------------------------------------------------------------------

// LAMBADA (Paperno et al. 2016) keeps passages whose last word people can guess from the
// whole passage but not from its last sentence alone, and in most of them the word occurs
// earlier in the passage. Strata cannot ask people, so it keeps what can be checked: a
// passage of min_words to max_words words that starts at a sentence, ends a sentence with
// its target (the closing punctuation dropped), and whose target, a word of three or more
// letters that is not a function word, occurs (in any case) before the last sentence.
// Passages come only from the corpora's held-out splits, which pre-training never reads,
// and never overlap.
const std::set<std::string>& function_words() {
  static const std::set<std::string> words = {
      "the", "and", "but", "for", "nor", "not", "yet", "with", "from", "into", "onto",
      "upon", "than", "then", "that", "this", "these", "those", "there", "here", "what",
      "which", "who", "whom", "whose", "when", "where", "why", "how", "all", "any", "some",
      "each", "both", "was", "were", "are", "been", "being", "has", "had", "have", "does",
      "did", "its", "his", "her", "hers", "him", "she", "they", "them", "their", "theirs",
      "our", "ours", "you", "your", "yours", "mine", "one", "ones", "also", "too", "very",
      "can", "could", "will", "would", "shall", "should", "may", "might", "must", "about",
      "such", "only", "other", "more", "most", "now", "out", "off", "over", "under", "again",
      "well", "just", "yes", "per", "via", "etc"};
  return words;
}

bool ends_sentence(const std::string& token) {
  size_t e = token.size();
  while (e > 0 && std::string("\"')]").find(token[e - 1]) != std::string::npos) --e;
  return e > 0 && (token[e - 1] == '.' || token[e - 1] == '!' || token[e - 1] == '?');
}

// The word of a token that is a target: letters then one of . ! ?; "" otherwise.
std::string target_word(const std::string& token) {
  if (token.size() < 4) return "";
  const char last = token.back();
  if (last != '.' && last != '!' && last != '?') return "";
  const std::string word = token.substr(0, token.size() - 1);
  for (unsigned char c : word) {
    if (!std::isalpha(c) || c >= 0x80) return "";
  }
  return word;
}

std::string letters_lower(const std::string& token) {
  std::string out;
  for (unsigned char c : token) {
    if (c < 0x80 && std::isalpha(c)) out += char(std::tolower(c));
  }
  return out;
}

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    size_t j = i;
    while (j < text.size() && !std::isspace(static_cast<unsigned char>(text[j]))) ++j;
    if (j > i) words.push_back(text.substr(i, j - i));
    i = j;
  }
  return words;
}

std::vector<json> cloze_passages(const Corpus& corpus, Split split, const IclDatasetOptions& o,
                                 int64_t n) {
  struct Doc {
    std::vector<std::string> tokens, lower;
    std::vector<std::pair<size_t, size_t>> taken;  // [start, end] of accepted passages
  };
  std::vector<Doc> docs;
  std::vector<std::pair<size_t, size_t>> candidates;  // (document, target token)
  for (const Document* d : corpus.split(split)) {
    Doc doc;
    doc.tokens = split_words(d->text);
    for (const auto& t : doc.tokens) doc.lower.push_back(letters_lower(t));
    for (size_t k = 0; k < doc.tokens.size(); ++k) {
      const std::string w = target_word(doc.tokens[k]);
      if (!w.empty() && function_words().count(letters_lower(w)) == 0) {
        candidates.emplace_back(docs.size(), k);
      }
    }
    docs.push_back(std::move(doc));
  }
  IclRng rng(uint64_t(o.seed), std::string("lambada_cloze/") + split_name(split));
  rng.shuffle(candidates);
  std::vector<json> out;
  for (const auto& [di, k] : candidates) {
    if (int64_t(out.size()) >= n) break;
    Doc& doc = docs[di];
    // Sentence starts that give a passage of min_words..max_words words, target included.
    std::vector<size_t> starts;
    for (int64_t len = o.min_words; len <= o.max_words && int64_t(k) + 1 >= len; ++len) {
      const size_t s = k + 1 - size_t(len);
      if (s == 0 || ends_sentence(doc.tokens[s - 1])) starts.push_back(s);
    }
    if (starts.empty()) continue;
    const size_t start = starts[size_t(rng.uniform(0, int64_t(starts.size()) - 1))];
    size_t last_sentence = k;
    while (last_sentence > start && !ends_sentence(doc.tokens[last_sentence - 1])) --last_sentence;
    const std::string target = target_word(doc.tokens[k]);
    const std::string lower = letters_lower(target);
    if (std::find(doc.lower.begin() + start, doc.lower.begin() + last_sentence, lower) ==
        doc.lower.begin() + last_sentence) {
      continue;
    }
    const bool overlaps = std::any_of(doc.taken.begin(), doc.taken.end(), [&](const auto& t) {
      return start <= t.second && t.first <= k;
    });
    if (overlaps) continue;
    doc.taken.emplace_back(start, k);
    std::vector<std::string> words(doc.tokens.begin() + start, doc.tokens.begin() + k);
    out.push_back({{"text", join(words, " ")}, {"target", target}});
  }
  return out;
}

DocumentSplits lambada_cloze(const IclDatasetOptions& o, const std::vector<std::string>& splits) {
  check_no_subtask("lambada_cloze", o);
  if (o.n_validation < 0 || o.n_test < 0 || o.seed < 0) {
    throw InputError("lambada_cloze: n_validation, n_test and seed must be >= 0");
  }
  if (o.min_words < 2 || o.max_words < o.min_words) {
    throw InputError(fmt::format("lambada_cloze: passages of {} to {} words; min_words must be "
                                 ">= 2 and max_words >= min_words",
                                 o.min_words, o.max_words));
  }
  for (const auto& c : o.corpus) {
    if (!is_builtin_corpus(c)) {
      throw InputError(fmt::format("lambada_cloze: '{}' is not a built-in corpus; corpus is "
                                   "one or more of {}",
                                   c, join(builtin_corpora(), ", ")));
    }
  }
  CorpusOptions co;
  co.data_dir = o.data_dir;
  const Corpus corpus = load_corpus(o.corpus, co);
  DocumentSplits out;
  if (wanted(splits, "validation")) {
    out["validation"] = cloze_passages(corpus, Split::kValidation, o, o.n_validation);
  }
  if (wanted(splits, "test")) out["test"] = cloze_passages(corpus, Split::kTest, o, o.n_test);
  return out;
}

// ---- spam_assassin ----------------------------------------------------------------------

// The body of a raw e-mail (what follows the first empty line), runs of white space made
// one space, cut at the last space within max_chars characters (code points, as Python
// counts them), or after max_chars characters in a word longer than that.
std::string email_body(const std::string& message, size_t max_chars) {
  size_t pos = 0, body = message.size();
  while (pos < message.size()) {
    size_t end = message.find('\n', pos);
    if (end == std::string::npos) end = message.size();
    const bool empty = end == pos || (end == pos + 1 && message[pos] == '\r');
    pos = end + 1;
    if (empty) {
      body = std::min(pos, message.size());
      break;
    }
  }
  std::string out;
  for (size_t i = body; i < message.size(); ++i) {
    const bool space = std::isspace(static_cast<unsigned char>(message[i])) != 0;
    if (!space) out += message[i];
    else if (!out.empty() && out.back() != ' ') out += ' ';
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  const size_t limit = utf8::byte_offset(out, max_chars);  // the byte after max_chars characters
  if (limit >= out.size()) return out;
  size_t cut = out.rfind(' ', limit);
  if (cut == std::string::npos || cut == 0) cut = limit;
  return out.substr(0, cut);
}

DocumentSplits spam_assassin_documents(const IclDatasetOptions& o,
                                       const std::vector<std::string>& splits) {
  check_no_subtask("spam_assassin", o);
  if (o.n_train < -1 || o.n_test < -1 || o.seed < 0 || o.max_chars < 1) {
    throw InputError("spam_assassin: n_train and n_test must be >= -1 (-1: all), seed >= 0 "
                     "and max_chars >= 1");
  }
  DocumentSplits out;
  for (auto [split, n] : {std::pair<const char*, int64_t>{"train", o.n_train}, {"test", o.n_test}}) {
    if (!wanted(splits, split)) continue;
    const TextSet set = load_spam_assassin(split, o.data_dir);
    std::vector<int64_t> keep(size_t(set.size()));
    for (size_t i = 0; i < keep.size(); ++i) keep[i] = int64_t(i);
    if (n >= 0 && n < set.size()) {
      IclRng rng(uint64_t(o.seed), std::string("spam_assassin/") + split);
      rng.shuffle(keep);
      keep.resize(size_t(n));
      std::sort(keep.begin(), keep.end());
    }
    const auto labels = set.labels.accessor<int64_t, 1>();
    auto& docs = out[split];
    for (int64_t i : keep) {
      const size_t k = size_t(i);
      docs.push_back({{"id", set.ids[k]},
                      {"subject", set.subjects[k]},
                      {"body", email_body(set.texts[k], size_t(o.max_chars))},
                      {"text", set.texts[k]},
                      {"label", labels[i]}});
    }
  }
  return out;
}

std::string resolve_path(const std::string& path, const std::string& yaml_file) {
  if (path.empty() || yaml_file.empty()) return path;
  fs::path p(path);
  if (p.is_absolute()) return p.lexically_normal().string();
  return (fs::path(yaml_file).parent_path() / p).lexically_normal().string();
}

}  // namespace

// ---- the registry and options -----------------------------------------------------------

const IclDatasetRegistry& icl_datasets() {
  static const IclDatasetRegistry registry = [] {
    IclDatasetRegistry r("built-in dataset");
    r.add("gpt3_arithmetic", gpt3_arithmetic);
    r.add("gpt3_wordscramble", gpt3_wordscramble);
    r.add("copy_words", copy_words);
    r.add("kv_lookup", kv_lookup);
    r.add("pattern_completion", pattern_completion);
    r.add("lambada_cloze", lambada_cloze);
    r.add("spam_assassin", spam_assassin_documents);
    return r;
  }();
  return registry;
}

bool is_icl_dataset(const std::string& dataset) { return icl_datasets().contains(dataset); }

const std::vector<std::string>& icl_subtasks(const std::string& dataset) {
  static const std::vector<std::string> arithmetic = {"2da", "2ds", "3da", "3ds", "2dm"};
  static const std::vector<std::string> none;
  if (dataset == "gpt3_arithmetic") return arithmetic;
  if (dataset == "gpt3_wordscramble") return scramble_names();
  return none;
}

const std::vector<std::string>& icl_dataset_keys(const std::string& dataset) {
  static const std::map<std::string, std::vector<std::string>> keys = {
      {"gpt3_arithmetic", kSizeKeys},
      {"gpt3_wordscramble", join_lists(kSizeKeys, kWordKeys)},
      {"copy_words", join_lists(join_lists(kSizeKeys, kWordKeys), {"n_words"})},
      {"kv_lookup", join_lists(join_lists(kSizeKeys, kWordKeys), {"n_pairs"})},
      {"pattern_completion", join_lists(kSizeKeys, kWordKeys)},
      {"lambada_cloze",
       {"n_validation", "n_test", "seed", "corpus", "min_words", "max_words", "data_dir"}},
      {"spam_assassin", {"n_train", "n_test", "seed", "data_dir", "max_chars"}}};
  static const std::vector<std::string> none;
  auto it = keys.find(dataset);
  return it == keys.end() ? none : it->second;
}

const std::vector<std::string>& icl_splits(const std::string& dataset) {
  static const std::vector<std::string> all = {"train", "validation", "test"};
  static const std::vector<std::string> held_out = {"validation", "test"};
  static const std::vector<std::string> train_test = {"train", "test"};
  if (dataset == "lambada_cloze") return held_out;
  if (dataset == "spam_assassin") return train_test;
  return all;
}

IclDatasetOptions icl_defaults(const std::string& dataset) {
  IclDatasetOptions o;
  if (dataset == "gpt3_arithmetic" || dataset == "gpt3_wordscramble") {
    o.n_train = 2000, o.n_validation = 500, o.n_test = 500;
    o.min_letters = 5, o.max_letters = 14;  // the paper's "more than 4 and fewer than 15"
  } else if (dataset == "lambada_cloze") {
    o.n_validation = 200, o.n_test = 200;  // sotu's held-out addresses give about 250 each
  } else if (dataset == "spam_assassin") {
    o.n_train = -1, o.n_test = -1;
  } else {  // copy_words, kv_lookup, pattern_completion: short, common-looking words
    o.n_train = 1000, o.n_validation = 200, o.n_test = 200;
    o.min_letters = 3, o.max_letters = 8;
  }
  return o;
}

void read_options(config::Reader& r, const std::string& dataset, IclDatasetOptions& o) {
  const auto& keys = icl_dataset_keys(dataset);
  const auto uses = [&](const char* key) {
    return std::find(keys.begin(), keys.end(), key) != keys.end();
  };
  const auto sizes = dataset == "spam_assassin" ? config::Range::at_least(-1)
                                                : config::Range::non_negative();
  if (uses("n_train")) r.read("n_train", o.n_train, sizes);
  if (uses("n_validation")) r.read("n_validation", o.n_validation, sizes);
  if (uses("n_test")) r.read("n_test", o.n_test, sizes);
  if (uses("seed")) r.read("seed", o.seed, config::Range::non_negative());
  if (uses("words_file")) {
    r.read("words_file", o.words_file);
    if (r.has("words_file")) o.words_file = resolve_path(o.words_file, r.source_file());
    r.read("min_letters", o.min_letters, config::Range::at_least(1));
    r.read("max_letters", o.max_letters, config::Range::at_least(1));
    if (o.max_letters < o.min_letters) {
      r.fail(r.has("max_letters") ? "max_letters" : "min_letters",
             fmt::format("words of {} to {} letters: max_letters must be >= min_letters",
                         o.min_letters, o.max_letters));
    }
  }
  if (uses("n_words")) r.read("n_words", o.n_words, config::Range::at_least(1));
  if (uses("n_pairs")) r.read("n_pairs", o.n_pairs, config::Range::at_least(1));
  if (uses("corpus")) {
    r.read_one_or_list("corpus", o.corpus);
    for (const auto& c : o.corpus) {
      if (!is_builtin_corpus(c)) {
        r.fail("corpus", fmt::format("'{}' is not a built-in corpus; valid: {}", c,
                                     join(builtin_corpora(), ", ")));
      }
    }
    r.read("min_words", o.min_words, config::Range::at_least(2));
    r.read("max_words", o.max_words, config::Range::at_least(2));
    if (o.max_words < o.min_words) {
      r.fail(r.has("max_words") ? "max_words" : "min_words",
             "max_words must be >= min_words");
    }
  }
  if (uses("data_dir")) {
    r.read("data_dir", o.data_dir);
    if (r.has("data_dir")) o.data_dir = resolve_path(o.data_dir, r.source_file());
  }
  if (uses("max_chars")) r.read("max_chars", o.max_chars, config::Range::at_least(1));
}

json kwargs_json(const std::string& dataset, const IclDatasetOptions& o) {
  const std::map<std::string, json> all = {
      {"n_train", o.n_train},       {"n_validation", o.n_validation},
      {"n_test", o.n_test},         {"seed", o.seed},
      {"words_file", o.words_file}, {"min_letters", o.min_letters},
      {"max_letters", o.max_letters}, {"n_words", o.n_words},
      {"n_pairs", o.n_pairs},       {"corpus", o.corpus},
      {"min_words", o.min_words},   {"max_words", o.max_words},
      {"data_dir", o.data_dir},     {"max_chars", o.max_chars}};
  json j = json::object();
  for (const auto& key : icl_dataset_keys(dataset)) j[key] = all.at(key);
  return j;
}

DocumentSplits make_icl_dataset(const std::string& dataset, const IclDatasetOptions& o,
                                const std::vector<std::string>& splits) {
  return icl_datasets().make(dataset, "", o, splits);
}

// ---- pieces -------------------------------------------------------------------------------

std::vector<std::string> dictionary_words(const std::string& path, int64_t min_letters,
                                          int64_t max_letters) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw InputError(fmt::format("word list {} cannot be read: install Debian's wamerican "
                                 "(apt-get install wamerican), or set dataset_kwargs.words_file",
                                 path));
  }
  std::vector<std::string> words;
  std::unordered_set<std::string> seen;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const int64_t n = int64_t(line.size());
    if (n < min_letters || n > max_letters) continue;
    if (!std::all_of(line.begin(), line.end(), [](char c) { return c >= 'a' && c <= 'z'; })) {
      continue;  // proper nouns, possessives ("'s"), accented words
    }
    if (seen.insert(line).second) words.push_back(line);
  }
  if (words.empty()) {
    throw InputError(fmt::format("word list {} holds no lower-case words of {} to {} letters",
                                 path, min_letters, max_letters));
  }
  return words;
}

IclRng::IclRng(uint64_t seed, const std::string& stream)
    : state_(splitmix64(seed) ^ fnv1a64(stream.data(), stream.size())) {}

uint64_t IclRng::next() {
  const uint64_t out = splitmix64(state_);
  state_ += 0x9E3779B97F4A7C15ULL;
  return out;
}

int64_t IclRng::uniform(int64_t lo, int64_t hi) {
  const uint64_t span = uint64_t(hi - lo) + 1;
  if (span == 0) return int64_t(next());  // the whole 64-bit range
  const uint64_t limit = ~uint64_t(0) - (~uint64_t(0) % span);
  uint64_t x = next();
  while (x >= limit) x = next();
  return lo + int64_t(x % span);
}

std::string cycle_letters(const std::string& word, IclRng& rng) {
  std::vector<std::string> rotations;
  for (size_t k = 1; k < word.size(); ++k) {
    std::string r = word.substr(k) + word.substr(0, k);
    if (r != word) rotations.push_back(std::move(r));
  }
  if (rotations.empty()) return word;
  return rotations[size_t(rng.uniform(0, int64_t(rotations.size()) - 1))];
}

std::string anagram_middle(const std::string& word, size_t keep, IclRng& rng) {
  if (word.size() < 2 * keep + 2) return word;
  std::string middle = word.substr(keep, word.size() - 2 * keep);
  if (std::all_of(middle.begin(), middle.end(), [&](char c) { return c == middle[0]; })) {
    return word;  // nothing to move
  }
  std::vector<char> letters(middle.begin(), middle.end());
  std::string out = word;
  while (out == word) {
    rng.shuffle(letters);
    out = word.substr(0, keep) + std::string(letters.begin(), letters.end()) +
          word.substr(word.size() - keep);
  }
  return out;
}

const std::string& insertion_characters() {
  static const std::string chars = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ ";
  return chars;
}

std::string random_insertion(const std::string& word, IclRng& rng) {
  const std::string& chars = insertion_characters();
  std::string out;
  for (size_t i = 0; i < word.size(); ++i) {
    if (i > 0) out += chars[size_t(rng.uniform(0, int64_t(chars.size()) - 1))];
    out += word[i];
  }
  return out;
}

std::string reversed_word(const std::string& word) { return std::string(word.rbegin(), word.rend()); }

}  // namespace strata::data
