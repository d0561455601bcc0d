#include "models/classic/text_features.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

namespace strata::classic {

namespace {

bool word_char(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Times `needle` occurs in `hay`. A needle that starts (ends) with a word character must
// start (end) a word there, so "free" is not counted in "freedom" but "http://" is in
// "http://spam".
int64_t count_occurrences(const std::string& hay, const std::string& needle) {
  if (needle.empty()) return 0;
  const bool check_start = word_char(needle.front()), check_end = word_char(needle.back());
  int64_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) {
    const size_t end = at + needle.size();
    if (check_start && at > 0 && word_char(hay[at - 1])) continue;
    if (check_end && end < hay.size() && word_char(hay[end])) continue;
    ++n;
  }
  return n;
}

// An e-mail's header block (up to the first empty line) and its Subject, when the text
// starts like an e-mail; otherwise both empty.
struct Header {
  std::set<std::string> fields;  // lowercased names
  std::string subject;
};

Header parse_header(const std::string& text) {
  Header h;
  size_t pos = 0;
  // An mbox envelope line ("From sender date", no colon after the name) comes before the
  // headers in mail saved from a mailbox; it is not a header.
  if (text.rfind("From ", 0) == 0) {
    const size_t end = text.find('\n');
    pos = end == std::string::npos ? text.size() : end + 1;
  }
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    pos = end + 1;
    if (line.empty()) break;
    if (line[0] == ' ' || line[0] == '\t') continue;  // a folded continuation line
    size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0) {
      if (h.fields.empty()) return {};  // not an e-mail
      continue;
    }
    std::string name = lower(line.substr(0, colon));
    if (name.find(' ') != std::string::npos) {
      if (h.fields.empty()) return {};
      continue;
    }
    h.fields.insert(name);
    if (name == "subject") h.subject = line.substr(colon + 1);
  }
  return h;
}

double capital_ratio(const std::string& s) {
  int64_t letters = 0, capitals = 0;
  for (unsigned char c : s) {
    if (std::isalpha(c)) {
      ++letters;
      capitals += std::isupper(c) ? 1 : 0;
    }
  }
  return letters ? double(capitals) / double(letters) : 0.0;
}

const std::vector<std::string>& fixed_measurements() {
  static const std::vector<std::string> names = {"length",
                                                 "words",
                                                 "capital_ratio",
                                                 "digit_ratio",
                                                 "links",
                                                 "exclamations",
                                                 "dollars",
                                                 "html",
                                                 "subject_length",
                                                 "subject_capital_ratio",
                                                 "subject_exclamations"};
  return names;
}

// Whether s is well-formed UTF-8 (no overlong forms, surrogates or values past U+10FFFF).
bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // cut short
    for (size_t k = 1; k <= n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    static const uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

}  // namespace

std::vector<std::string> tokenize(const std::string& text, bool lowercase) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && !word_char(text[i])) ++i;
    size_t start = i;
    while (i < text.size() && word_char(text[i])) ++i;
    if (i - start >= 2) {
      std::string token = text.substr(start, i - start);
      out.push_back(lowercase ? lower(std::move(token)) : std::move(token));
    }
  }
  return out;
}

// ---- bag of words / TF-IDF ----------------------------------------------------------

void read_options(config::Reader& r, BagOfWordsOptions& o) {
  r.read("lowercase", o.lowercase);
  r.read("min_df", o.min_df, config::Range::at_least(1));
  r.read("max_df", o.max_df, config::Range{0.0, 1.0, true});
  r.read("max_features", o.max_features, config::Range::non_negative());
  r.read("binary", o.binary);
  r.read("sublinear_tf", o.sublinear_tf);
}

void BagOfWords::fit(const Examples& train) {
  const auto& texts = texts_of(train, type());
  std::map<std::string, int64_t> df, tf;
  for (const auto& text : texts) {
    std::set<std::string> seen;
    for (auto& token : tokenize(text, o_.lowercase)) {
      ++tf[token];
      if (seen.insert(token).second) ++df[token];
    }
  }
  const double n = double(texts.size());
  std::vector<std::pair<int64_t, std::string>> kept;  // (-count, token): most frequent first
  for (const auto& [token, d] : df) {
    // A token that is not valid UTF-8 (text in another encoding) could not be written to
    // the checkpoint's JSON; it is left out of the vocabulary.
    if (d >= o_.min_df && double(d) <= o_.max_df * n && valid_utf8(token)) {
      kept.emplace_back(-tf[token], token);
    }
  }
  std::sort(kept.begin(), kept.end());
  if (o_.max_features > 0 && int64_t(kept.size()) > o_.max_features) kept.resize(o_.max_features);
  vocabulary_.clear();
  for (auto& [_, token] : kept) vocabulary_.push_back(token);
  std::sort(vocabulary_.begin(), vocabulary_.end());
  column_.clear();
  idf_.clear();
  for (size_t j = 0; j < vocabulary_.size(); ++j) {
    column_[vocabulary_[j]] = int64_t(j);
    idf_.push_back(float(std::log((1.0 + n) / (1.0 + double(df[vocabulary_[j]]))) + 1.0));
  }
}

torch::Tensor BagOfWords::transform(const Examples& x) const {
  const auto& texts = texts_of(x, type());
  const int64_t V = int64_t(vocabulary_.size());
  auto out = torch::zeros({int64_t(texts.size()), V}, torch::kFloat);
  auto a = out.accessor<float, 2>();
  for (size_t i = 0; i < texts.size(); ++i) {
    for (auto& token : tokenize(texts[i], o_.lowercase)) {
      auto it = column_.find(token);
      if (it != column_.end()) a[i][it->second] += 1.0f;
    }
  }
  if (o_.binary) out.clamp_max_(1.0f);
  if (!tfidf_) return out;
  if (o_.sublinear_tf) out = torch::where(out > 0, out.log() + 1, out);
  out.mul_(torch::from_blob(const_cast<float*>(idf_.data()), {V}, torch::kFloat));
  return out / out.norm(2, 1, true).clamp_min(1e-12);
}

std::vector<std::string> BagOfWords::names() const {
  std::vector<std::string> out;
  std::set<std::string> taken;
  for (size_t j = 0; j < vocabulary_.size(); ++j) {
    std::string name = "w_" + variable_name(vocabulary_[j]);
    if (!taken.insert(name).second) name += fmt::format("_{}", j);  // sanitised clash
    out.push_back(name);
  }
  return out;
}

nlohmann::json BagOfWords::state() const { return {{"vocabulary", vocabulary_}, {"idf", idf_}}; }

void BagOfWords::load_state(const nlohmann::json& state) {
  vocabulary_ = state.at("vocabulary").get<std::vector<std::string>>();
  idf_ = state.at("idf").get<std::vector<float>>();
  column_.clear();
  for (size_t j = 0; j < vocabulary_.size(); ++j) column_[vocabulary_[j]] = int64_t(j);
}

// ---- named measurements ---------------------------------------------------------------

void read_options(config::Reader& r, TextMeasurementOptions& o) {
  r.read("keywords", o.keywords);
  r.read("headers", o.headers);
}

std::vector<std::string> TextMeasurements::names() const {
  std::vector<std::string> out = fixed_measurements();
  for (const auto& k : o_.keywords) out.push_back("kw_" + variable_name(lower(k)));
  for (const auto& h : o_.headers) out.push_back("header_" + variable_name(lower(h)));
  return out;
}

torch::Tensor TextMeasurements::transform(const Examples& x) const {
  const auto& texts = texts_of(x, type());
  const int64_t D = int64_t(names().size());
  auto out = torch::zeros({int64_t(texts.size()), D}, torch::kFloat);
  auto a = out.accessor<float, 2>();
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string& t = texts[i];
    const std::string low = lower(t);
    const Header header = parse_header(t);
    int64_t digits = 0, excl = 0, dollars = 0;
    for (unsigned char c : t) {
      digits += std::isdigit(c) ? 1 : 0;
      excl += c == '!';
      dollars += c == '$';
    }
    int64_t links = count_occurrences(low, "http://") + count_occurrences(low, "https://") +
                    count_occurrences(low, "www.");
    bool html = low.find("<html") != std::string::npos || low.find("<body") != std::string::npos;
    const double len = double(t.size());
    std::vector<double> row = {
        len,
        double(tokenize(t, false).size()),
        capital_ratio(t),
        len > 0 ? double(digits) / len : 0.0,
        double(links),
        double(excl),
        double(dollars),
        html ? 1.0 : 0.0,
        double(header.subject.size()),
        capital_ratio(header.subject),
        double(std::count(header.subject.begin(), header.subject.end(), '!'))};
    for (const auto& k : o_.keywords) row.push_back(double(count_occurrences(low, lower(k))));
    for (const auto& h : o_.headers) row.push_back(header.fields.count(lower(h)) ? 1.0 : 0.0);
    for (int64_t j = 0; j < D; ++j) a[i][j] = float(row[j]);
  }
  return out;
}

}  // namespace strata::classic
