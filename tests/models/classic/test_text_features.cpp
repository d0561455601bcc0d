#include <catch2/catch.hpp>

#include <algorithm>

#include "core/config.h"
#include "models/classic/text_features.h"

using namespace strata::classic;

namespace {
const std::vector<std::string> kDocs = {"The cat sat on the mat.", "The dog ate my homework!",
                                        "A cat and a dog: the cat won."};

std::unique_ptr<FeatureExtractor> make(const std::string& yaml) {
  auto doc = strata::config::Document::parse(yaml, "features.yaml");
  return make_extractor(doc.root());
}
}  // namespace

// Expected values from scikit-learn 1.2.1's CountVectorizer / TfidfVectorizer on kDocs.
TEST_CASE("bag of words counts like scikit-learn's CountVectorizer", "[classic][text]") {
  auto bow = make("type: bag_of_words\n");
  bow->fit(Examples{{}, kDocs});
  CHECK(bow->names() == std::vector<std::string>{"w_and", "w_ate", "w_cat", "w_dog", "w_homework",
                                                 "w_mat", "w_my", "w_on", "w_sat", "w_the",
                                                 "w_won"});
  auto x = bow->transform(Examples{{}, kDocs});
  auto expected = torch::tensor({0, 0, 1, 0, 0, 1, 0, 1, 1, 2, 0, 0, 1, 0, 1, 1, 0,
                                 1, 0, 0, 1, 0, 1, 0, 2, 1, 0, 0, 0, 0, 0, 1, 1},
                                torch::kFloat)
                      .view({3, 11});
  CHECK(torch::equal(x, expected));
}

TEST_CASE("TF-IDF matches scikit-learn's TfidfVectorizer", "[classic][text]") {
  auto tfidf = make("type: tfidf\n");
  tfidf->fit(Examples{{}, kDocs});
  auto x = tfidf->transform(Examples{{}, kDocs});
  auto expected =
      torch::tensor(
          {0.0,        0.0,        0.34101521, 0.0,        0.0,        0.44839402, 0.0,
           0.44839402, 0.44839402, 0.52965746, 0.0,        0.0,        0.50461134, 0.0,
           0.38376993, 0.50461134, 0.0,        0.50461134, 0.0,        0.0,        0.29803159,
           0.0,        0.43681766, 0.0,        0.66442217, 0.33221109, 0.0,        0.0,
           0.0,        0.0,        0.0,        0.25799154, 0.43681766},
          torch::kFloat)
          .view({3, 11});
  CHECK(torch::allclose(x, expected, 0, 1e-6));
  // The vocabulary is learnt from training texts only: unseen words count for nothing.
  auto unseen = tfidf->transform(Examples{{}, {"zebra quagga"}});
  CHECK(unseen.abs().sum().item<float>() == 0.0f);
  auto restored = make("type: tfidf\n");
  restored->load_state(tfidf->state());
  CHECK(torch::allclose(restored->transform(Examples{{}, kDocs}), x));
}

TEST_CASE("bag of words keeps the most frequent tokens and honours min_df", "[classic][text]") {
  auto bow = make("type: bag_of_words\nmax_features: 2\n");
  bow->fit(Examples{{}, kDocs});
  CHECK(bow->names() == std::vector<std::string>{"w_cat", "w_the"});
  auto rare = make("type: bag_of_words\nmin_df: 2\n");
  rare->fit(Examples{{}, kDocs});
  CHECK(rare->names() == std::vector<std::string>{"w_cat", "w_dog", "w_the"});
}

TEST_CASE("text measurements count keywords, capitals, links and header fields",
          "[classic][text]") {
  auto m = make(
      "type: text_measurements\nkeywords: [free, click here]\nheaders: [Reply-To, X-Mailer]\n");
  std::string mail =
      "From: a@b.c\nReply-To: x@y.z\nSubject: FREE money!!\n\nClick here: http://spam.example "
      "and www.spam.example for FREE, free-ish freedom.\n";
  auto x = m->transform(Examples{{}, {mail, "plain text without a header"}});
  auto names = m->names();
  auto col = [&](const std::string& n) {
    auto it = std::find(names.begin(), names.end(), n);
    REQUIRE(it != names.end());
    return it - names.begin();
  };
  CHECK(x[0][col("kw_free")].item<float>() == 3);  // FREE (subject), FREE, free-ish; not freedom
  CHECK(x[0][col("kw_click_here")].item<float>() == 1);
  CHECK(x[0][col("links")].item<float>() == 2);
  CHECK(x[0][col("header_reply_to")].item<float>() == 1);
  CHECK(x[0][col("header_x_mailer")].item<float>() == 0);
  CHECK(x[0][col("subject_exclamations")].item<float>() == 2);
  CHECK(x[0][col("subject_capital_ratio")].item<float>() == Approx(4.0 / 9.0));
  CHECK(x[1][col("header_reply_to")].item<float>() == 0);
  CHECK(x[1][col("subject_length")].item<float>() == 0);
}

TEST_CASE("an mbox envelope line before the headers is not a header", "[classic][text]") {
  auto m = make("type: text_measurements\nheaders: [Reply-To]\n");
  auto x = m->transform(Examples{{},
                                 {"From someone@example.com  Thu Aug 22 12:36:23 2002\nReply-To: "
                                  "x@y.z\nSubject: Hi!\n\nbody"}});
  auto names = m->names();
  auto col = [&](const std::string& n) {
    return std::find(names.begin(), names.end(), n) - names.begin();
  };
  CHECK(x[0][col("header_reply_to")].item<float>() == 1);
  CHECK(x[0][col("subject_exclamations")].item<float>() == 1);
}

TEST_CASE("tokens that are not UTF-8 stay out of the vocabulary, so its state is JSON",
          "[classic][text]") {
  auto bow = make("type: tfidf\n");
  const std::vector<std::string> docs = {"caf\xe9 menu caf\xc3\xa9", "menu du jour caf\xe9"};
  bow->fit(Examples{{}, docs});
  const std::string dumped = bow->state().dump();  // throws on invalid UTF-8
  CHECK(dumped.find("menu") != std::string::npos);
  CHECK(dumped.find("caf\xc3\xa9") != std::string::npos);
  CHECK(bow->transform(Examples{{}, docs}).size(1) == 4);  // menu, du, jour, café
}

TEST_CASE("an image extractor refuses texts", "[classic][text]") {
  auto hog = make("type: hog\n");
  CHECK_THROWS_WITH(hog->transform(Examples{{}, kDocs}), Catch::Contains("holds texts"));
}
