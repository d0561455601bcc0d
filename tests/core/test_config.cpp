#include <catch2/catch.hpp>

#include "core/config.h"
#include "core/errors.h"

using strata::InputError;
using strata::config::Document;

namespace {

struct ModelOptions {
  int64_t n_layer = 2;
  double dropout = 0.0;
  std::string type = "gpt";
};

void read_model(strata::config::Reader r, ModelOptions& o) {
  r.read_choice("type", o.type, {"gpt", "bert", "cnn"});
  r.read("n_layer", o.n_layer, strata::config::Range::at_least(1));
  r.read("dropout", o.dropout, strata::config::Range::between(0, 1));
  r.finish();
}

std::string error_of(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  try {
    auto doc = Document::parse(yaml, "run.yaml", overrides);
    auto root = doc.root();
    ModelOptions o;
    read_model(root.child("model"), o);
    root.finish();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("config reads typed values and defaults", "[config]") {
  auto doc = Document::parse("model:\n  n_layer: 4\n", "run.yaml", {"model.dropout=0.25"});
  ModelOptions o;
  auto root = doc.root();
  read_model(root.child("model"), o);
  root.finish();
  CHECK(o.n_layer == 4);
  CHECK(o.dropout == 0.25);
  CHECK(o.type == "gpt");
  auto resolved = doc.resolved_yaml();
  CHECK(resolved.find("n_layer: 4") != std::string::npos);
  CHECK(resolved.find("type: gpt") != std::string::npos);
}

TEST_CASE("config refuses an unknown key with file, line and nearest key", "[config]") {
  CHECK(error_of("model:\n  type: gpt\n  n_layers: 4\n") ==
        "run.yaml:3: unknown key 'model.n_layers'; did you mean 'n_layer'?");
}

TEST_CASE("config refuses an unknown section", "[config]") {
  CHECK(error_of("model:\n  n_layer: 4\nmodle_x: 1\n") ==
        "run.yaml:3: unknown key 'modle_x'; valid keys here: model");
}

TEST_CASE("config refuses a wrong type", "[config]") {
  CHECK(error_of("model:\n  n_layer: four\n") ==
        "run.yaml:2: 'model.n_layer' must be an integer, got 'four'");
  CHECK(error_of("model:\n  dropout: [1, 2]\n") ==
        "run.yaml:2: 'model.dropout' must be a number, got a list");
}

TEST_CASE("config refuses a value out of range", "[config]") {
  CHECK(error_of("model:\n  n_layer: 0\n") == "run.yaml:2: 'model.n_layer' must be >= 1, got 0");
  CHECK(error_of("model:\n  dropout: 1.5\n") ==
        "run.yaml:2: 'model.dropout' must be <= 1, got 1.5");
}

TEST_CASE("config refuses a bad choice with a hint", "[config]") {
  CHECK(error_of("model:\n  type: bret\n") ==
        "run.yaml:2: 'model.type' must be one of gpt, bert, cnn, got 'bret'; did you mean 'bert'?");
}

TEST_CASE("config overrides are checked like file keys", "[config]") {
  CHECK(error_of("model:\n  n_layer: 4\n", {"model.n_layr=3"}) ==
        "command line override 'model.n_layr=3': unknown key 'model.n_layr'; did you mean "
        "'n_layer'?");
  CHECK(error_of("model:\n  n_layer: 4\n", {"model.n_layer=x"}) ==
        "command line override 'model.n_layer=x': 'model.n_layer' must be an integer, got 'x'");
  CHECK(error_of("model:\n  n_layer: 4\n", {"model.n_layer"}) ==
        "override 'model.n_layer': expected key=value, as in model.n_layer=4");
}

TEST_CASE("config refuses a file that is not valid YAML", "[config]") {
  CHECK_THROWS_WITH(Document::parse("model: [1, 2\n", "bad.yaml"),
                    Catch::StartsWith("bad.yaml:"));
  CHECK_THROWS_WITH(Document::load("/nonexistent/x.yaml"),
                    "/nonexistent/x.yaml: cannot open config file");
}

TEST_CASE("config defaults fill only what the user did not set", "[config]") {
  auto doc = Document::parse("model:\n  n_layer: 4\n", "run.yaml", {"model.dropout=0.5"});
  doc.set_default("model.n_layer", "9");
  doc.set_default("model.dropout", "0.1");
  doc.set_default("model.type", "bert");
  ModelOptions o;
  read_model(doc.root().child("model"), o);
  CHECK(o.n_layer == 4);
  CHECK(o.dropout == 0.5);
  CHECK(o.type == "bert");
}

TEST_CASE("config refuses a duplicate key, naming both lines", "[config]") {
  // yaml-cpp keeps the first of two equal keys; the second must not vanish silently.
  const std::string yaml =
      "model:\n"            // 1
      "  n_layer: 2\n"      // 2
      "  dropout: 0.1\n"    // 3
      "  n_layer: 3\n";     // 4
  CHECK(error_of(yaml) == "run.yaml:4: duplicate key 'model.n_layer' (first at line 2)");
  CHECK(error_of("model: {n_layer: 2}\nmodel: {n_layer: 3}\n") ==
        "run.yaml:2: duplicate key 'model' (first at line 1)");
  // Inside a list item too.
  auto e = error_of("model: {n_layer: 2}\nitems:\n  - {a: 1, a: 2}\n");
  CHECK(e.find("duplicate key 'items[0].a'") != std::string::npos);
  // Equal keys in different mappings are not duplicates.
  CHECK(error_of("model: {n_layer: 2}\nother: {n_layer: 3}\n").find("duplicate") ==
        std::string::npos);
}

TEST_CASE("config expands YAML merge keys; the mapping's own keys win", "[config]") {
  const std::string yaml =
      "defaults: &d {n_layer: 5, dropout: 0.5}\n"
      "model:\n"
      "  <<: *d\n"
      "  dropout: 0.25\n";
  auto doc = Document::parse(yaml, "run.yaml", {});
  auto root = doc.root();
  ModelOptions o;
  read_model(root.child("model"), o);
  CHECK(o.n_layer == 5);
  CHECK(o.dropout == 0.25);
  // A list of mappings: the earlier one wins.
  auto doc2 = Document::parse("a: &a {n_layer: 6}\nb: &b {n_layer: 7, dropout: 0.5}\n"
                              "model: {<<: [*a, *b]}\n",
                              "run.yaml", {});
  ModelOptions o2;
  read_model(doc2.root().child("model"), o2);
  CHECK(o2.n_layer == 6);
  CHECK(o2.dropout == 0.5);
  // A merged value that is wrong is reported at the anchor's line.
  auto e = error_of("defaults: &d {n_layer: -1}\nmodel:\n  <<: *d\n");
  CHECK(e.rfind("run.yaml:1:", 0) == 0);
  CHECK(e.find("model.n_layer") != std::string::npos);
  // Merging something that is not a mapping is refused.
  CHECK(error_of("x: &x 3\nmodel:\n  <<: *x\n") ==
        "run.yaml:3: merge key 'model.<<' must name a mapping or a list of mappings, not 3");
}

TEST_CASE("config refuses keys that are not names and alias bombs", "[config]") {
  CHECK(error_of("? [a, b]\n: 1\n").find("keys must be names") != std::string::npos);
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'h'; ++c) {
    const std::string p = std::string("*") + static_cast<char>(c - 1);
    bomb += std::string(1, c) + ": &" + c + " [" + p;
    for (int i = 1; i < 10; ++i) bomb += ", " + p;
    bomb += "]\n";
  }
  CHECK(error_of(bomb).find("values once aliases are expanded") != std::string::npos);
}

TEST_CASE("config reads one string or a list of strings", "[config]") {
  const std::vector<std::string> one = {"math"};
  const std::vector<std::string> two = {"math", "easy"};
  auto doc = Document::parse("tag: math\nuntil: [math, easy]\n", "task.yaml");
  auto root = doc.root();
  std::vector<std::string> tag, until;
  root.read_one_or_list("tag", tag);
  root.read_one_or_list("until", until);
  root.finish();
  CHECK(tag == one);
  CHECK(until == two);
  CHECK(doc.resolved_yaml().find("tag: math") != std::string::npos);  // recorded as written
  auto bad = Document::parse("tag: {a: b}\n", "task.yaml");
  auto bad_root = bad.root();
  CHECK_THROWS_WITH(bad_root.read_one_or_list("tag", tag),
                    "task.yaml:1: 'tag' must be a string, got a mapping");
}
