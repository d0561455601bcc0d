#pragma once
// Features of texts, the stage 2 way: a person picks what to count.
//
// bag_of_words / tfidf: scikit-learn's CountVectorizer / TfidfVectorizer defaults. Tokens
// are runs of two or more word characters (letters, digits, '_', any non-ASCII byte),
// lowercased; the vocabulary comes from the training texts only, sorted alphabetically.
// TF-IDF uses idf = ln((1 + n) / (1 + df)) + 1 and scales each row to unit L2 norm.
// Columns are named "w_<token>".
//
// text_measurements: named measurements that rules can use:
//   kw_<word>     times each listed keyword occurs (case-insensitive, as whole words:
//                 "free" is not counted in "freedom")
//   header_<name> 1 when an e-mail header field (before the first empty line) is present
//   length words capital_ratio digit_ratio links exclamations dollars html
//   subject_length subject_capital_ratio subject_exclamations

#include <map>

#include "models/classic/features.h"

namespace strata::classic {

struct BagOfWordsOptions {
  bool lowercase = true;
  int64_t min_df = 1;        // keep tokens in at least this many training texts
  double max_df = 1.0;       // ... and in at most this share of them
  int64_t max_features = 5000;  // the most frequent tokens; 0 keeps all
  bool binary = false;       // 1 for present instead of a count
  bool sublinear_tf = false;  // tfidf: 1 + ln(count)
};

void read_options(config::Reader& r, BagOfWordsOptions& o);

// Tokens as bag_of_words sees them.
std::vector<std::string> tokenize(const std::string& text, bool lowercase);

class BagOfWords : public FeatureExtractor {
 public:
  BagOfWords(BagOfWordsOptions o, bool tfidf) : o_(o), tfidf_(tfidf) {}
  std::string type() const override { return tfidf_ ? "tfidf" : "bag_of_words"; }
  void fit(const Examples& train) override;
  torch::Tensor transform(const Examples& x) const override;
  std::vector<std::string> names() const override;
  nlohmann::json state() const override;
  void load_state(const nlohmann::json& state) override;
  const std::vector<std::string>& vocabulary() const { return vocabulary_; }

 private:
  BagOfWordsOptions o_;
  bool tfidf_;
  std::vector<std::string> vocabulary_;
  std::map<std::string, int64_t> column_;
  std::vector<float> idf_;
};

struct TextMeasurementOptions {
  std::vector<std::string> keywords;
  std::vector<std::string> headers;  // e-mail header fields, e.g. Reply-To, X-Mailer
};

void read_options(config::Reader& r, TextMeasurementOptions& o);

class TextMeasurements : public FeatureExtractor {
 public:
  explicit TextMeasurements(TextMeasurementOptions o) : o_(std::move(o)) {}
  std::string type() const override { return "text_measurements"; }
  torch::Tensor transform(const Examples& x) const override;
  std::vector<std::string> names() const override;

 private:
  TextMeasurementOptions o_;
};

}  // namespace strata::classic
