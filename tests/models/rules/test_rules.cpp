#include <catch2/catch.hpp>

#include "core/config.h"
#include "core/errors.h"
#include "models/rules/rules.h"

using namespace strata;
using strata::rules::RuleClassifier;

namespace {

const std::vector<std::string> kFeatures = {"ear_length", "nose_size", "fur"};
const std::vector<std::string> kClasses = {"CAT", "DOG", "UNKNOWN"};

RuleClassifier load(const std::string& yaml) {
  auto doc = config::Document::parse(yaml, "rules.yaml");
  auto model = doc.root();
  auto r = rules::read_rules(model, kFeatures, kClasses);
  model.finish();
  return r;
}

std::string error_of(const std::string& yaml) {
  try {
    load(yaml);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// The design notes' classify_animal, as rules.
const char* kAnimals =
    "rules:\n"
    "  - if: \"ear_length > 10 && nose_size > 3\"\n"
    "    then: CAT\n"
    "  - if: \"ear_length > 15 || fur * 2 >= 3\"\n"
    "    then: DOG\n"
    "default: UNKNOWN\n";

TEST_CASE("rules decide in order, first true rule wins, default otherwise", "[rules]") {
  auto r = load(kAnimals);
  auto x = torch::tensor({12.f, 4.f, 0.f,    // CAT
                          20.f, 4.f, 0.f,    // CAT: the first rule is tried first
                          20.f, 1.f, 0.f,    // DOG
                          1.f, 1.f, 1.5f,    // DOG through fur
                          1.f, 1.f, 0.f})    // UNKNOWN
               .view({5, 3});
  CHECK(torch::equal(r.predict(x), torch::tensor({0, 0, 1, 1, 2}, torch::kLong)));
  CHECK(torch::equal(r.decided_by(x), torch::tensor({0, 0, 1, 1, 2}, torch::kLong)));
  CHECK(r.rules().size() == 2);
  CHECK(r.rules()[1].where == "rules.yaml:4");
}

TEST_CASE("a condition naming an unknown feature is refused with its line", "[rules]") {
  CHECK(error_of("rules:\n  - {if: 'ear_length > 1', then: CAT}\n  - {if: 'nose_sise < 2', then: DOG}\n"
                 "default: UNKNOWN\n") ==
        "rules.yaml:3: rule 2 ('nose_sise < 2'): unknown feature 'nose_sise' (did you mean "
        "'nose_size'?); features: ear_length, nose_size, fur");
}

TEST_CASE("a condition that does not parse is refused with its line", "[rules]") {
  auto e = error_of("rules:\n  - if: 'ear_length > (1 +'\n    then: CAT\ndefault: UNKNOWN\n");
  CHECK(e.find("rules.yaml:2: rule 1 ('ear_length > (1 +'): does not parse:") == 0);
  CHECK(error_of("rules:\n  - {if: 'fur = 1', then: CAT}\ndefault: UNKNOWN\n") ==
        "rules.yaml:2: rule 1 ('fur = 1'): '=' assigns; compare with '=='");
  CHECK(error_of("rules:\n  - {if: 'fur, ear_length', then: CAT}\ndefault: UNKNOWN\n")
            .find("one expression") != std::string::npos);
}

TEST_CASE("an unknown class or a missing default is refused", "[rules]") {
  CHECK(error_of("rules:\n  - {if: 'fur > 1', then: CATS}\ndefault: UNKNOWN\n") ==
        "rules.yaml:2: rule 1: unknown class 'CATS' (did you mean 'CAT'?); classes: CAT, DOG, UNKNOWN");
  CHECK(error_of("rules:\n  - {if: 'fur > 1', then: CAT}\n") ==
        "rules.yaml:1: missing required key 'default'");
  CHECK_THAT(error_of("rules:\n  - {if: 'fur > 1', then: CAT, else: DOG}\ndefault: DOG\n"),
             Catch::Contains("rules.yaml:2: unknown key") && Catch::Contains("else'"));
  CHECK_THAT(error_of("rules:\n  - {then: CAT}\ndefault: DOG\n"),
             Catch::Contains("rules.yaml:2: missing required key") && Catch::Contains("if'"));
}

TEST_CASE("rules survive a move and use muParser's functions", "[rules]") {
  auto r = load("rules:\n  - {if: 'abs(fur - 2) < 0.5 && min(ear_length, nose_size) > 1', then: DOG}\n"
                "default: CAT\n");
  RuleClassifier moved = std::move(r);
  auto x = torch::tensor({2.f, 3.f, 2.2f, 0.f, 3.f, 2.2f}).view({2, 3});
  CHECK(torch::equal(moved.predict(x), torch::tensor({1, 0}, torch::kLong)));
}

TEST_CASE("class means table lists every feature and class", "[rules]") {
  auto x = torch::tensor({1.f, 2.f, 3.f, 3.f, 4.f, 5.f}).view({2, 3});
  auto table = rules::class_means_table(x, torch::tensor({0, 0}, torch::kLong), kFeatures, kClasses);
  CHECK(table.find("nose_size") != std::string::npos);
  CHECK(table.find("3.000") != std::string::npos);  // mean of nose_size over CAT
}
