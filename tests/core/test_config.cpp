#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <functional>
#include <map>

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

// --- Input that yaml-cpp would reinterpret quietly -----------------------------------------

namespace {

// `n` lines of padding comments, so that keys land on known line numbers.
std::string padding(int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += "# padding\n";
  return out;
}

// Reads every key of the tree as a string, section by section (as the trainer's readers
// would), so that unknown keys and values reach the checks.
std::map<std::string, std::string> read_all(const Document& doc) {
  std::map<std::string, std::string> out;
  std::function<void(strata::config::Reader)> walk = [&](strata::config::Reader r) {
    for (const auto& key : r.keys()) {
      if (r.is_map(key)) {
        walk(r.child(key));
      } else if (!r.is_list(key)) {
        std::string v;
        r.read(key, v);
        out[r.path(key)] = v;
      } else {
        r.skip(key);
      }
    }
    r.finish();
  };
  walk(doc.root());
  return out;
}

}  // namespace

TEST_CASE("config refuses a key given twice in one mapping, naming both lines", "[config]") {
  // max_steps on line 37 and again on line 42 of the same trainer: block.
  const std::string text = padding(35) +
                           "trainer:\n"         // 36
                           "  max_steps: 2\n"   // 37
                           "  batch_size: 8\n"  // 38
                           "  lr: 0.1\n"        // 39
                           "  eval_every: 5\n"  // 40
                           "  log_every: 1\n"   // 41
                           "  max_steps: 3\n";  // 42
  CHECK_THROWS_WITH(Document::parse(text, "config.yaml"),
                    "config.yaml:42: duplicate key 'trainer.max_steps' (first at line 37)");
  // At the top, deeper down, and in a mapping inside a list.
  CHECK_THROWS_WITH(Document::parse("seed: 1\nout_dir: a\nseed: 2\n", "c.yaml"),
                    "c.yaml:3: duplicate key 'seed' (first at line 1)");
  CHECK_THROWS_WITH(Document::parse("a:\n  b:\n    c: 1\n    c: 2\n", "c.yaml"),
                    "c.yaml:4: duplicate key 'a.b.c' (first at line 3)");
  CHECK_THROWS_WITH(
      Document::parse("stages:\n  - name: x\n    config: a.yaml\n  - name: y\n    name: z\n",
                      "c.yaml"),
      "c.yaml:5: duplicate key 'stages.1.name' (first at line 4)");
  CHECK_THROWS_WITH(Document::parse("a: {b: 1, b: 2}\n", "c.yaml"),
                    "c.yaml:1: duplicate key 'a.b' (first at line 1)");
  // Equal keys in different mappings are not duplicates.
  CHECK_NOTHROW(Document::parse("a:\n  x: 1\nb:\n  x: 2\n", "c.yaml"));
}

TEST_CASE("config refuses a key given twice inside an override's value", "[config]") {
  CHECK(error_of("model:\n  n_layer: 4\n", {"model={n_layer: 2, n_layer: 3}"}) ==
        "command line override 'model={n_layer: 2, n_layer: 3}': duplicate key "
        "'model.n_layer'");
  // Two overrides of one key: the later wins, as on most command lines.
  auto doc =
      Document::parse("model:\n  n_layer: 4\n", "run.yaml", {"model.n_layer=2", "model.n_layer=3"});
  ModelOptions o;
  read_model(doc.root().child("model"), o);
  CHECK(o.n_layer == 3);
}

TEST_CASE("config expands YAML merge keys, with the lines they were written on", "[config]") {
  const std::string text =
      "defaults: &defaults\n"  // 1
      "  n_layer: 3\n"         // 2
      "  dropout: 0.1\n"       // 3
      "model:\n"               // 4
      "  <<: *defaults\n"      // 5
      "  dropout: 0.5\n";      // 6
  auto doc = Document::parse(text, "run.yaml");
  ModelOptions o;
  auto root = doc.root();
  read_model(root.child("model"), o);
  root.skip("defaults");
  root.finish();
  CHECK(o.n_layer == 3);    // merged
  CHECK(o.dropout == 0.5);  // written in the mapping: wins over the merged value
  CHECK(doc.resolved_yaml().find("<<") == std::string::npos);

  // A merged value that is wrong is reported where it was written.
  CHECK(error_of("defaults: &d\n  n_layer: 0\nmodel:\n  <<: *d\n", {})
            .find("run.yaml:2: 'model.n_layer' must be >= 1") == 0);
  // Several sources: the earlier wins; an override still applies.
  auto many = Document::parse(
      "a: &a {n_layer: 5}\nb: &b {n_layer: 6, dropout: 0.2}\nmodel:\n  <<: [*a, *b]\n", "run.yaml",
      {"model.dropout=0.3"});
  ModelOptions m;
  read_model(many.root().child("model"), m);
  CHECK(m.n_layer == 5);
  CHECK(m.dropout == 0.3);
  // Merges inside merged mappings, and in mappings of a list.
  auto nested = read_all(Document::parse(
      "x: &x {p: 1}\ny: &y {<<: *x, q: 2}\nlist:\n  - {<<: *y, r: 3}\nz:\n  <<: *y\n", "run.yaml"));
  CHECK(nested["z.p"] == "1");
  CHECK(nested["z.q"] == "2");

  // What cannot be merged is refused, and a quoted "<<" is an ordinary key.
  CHECK(error_of("model:\n  <<: 3\n") ==
        "run.yaml:2: merge key '<<' in 'model' needs a mapping or a list of mappings, as in "
        "'<<: *defaults'");
  CHECK(error_of("d: &d {n_layer: 2}\nmodel:\n  <<: *d\n  <<: *d\n") ==
        "run.yaml:4: duplicate key 'model.<<' (first at line 3)");
  CHECK(error_of("model:\n  \"<<\": {n_layer: 2}\n").find("unknown key 'model.<<'") !=
        std::string::npos);
}

TEST_CASE("config refuses aliases that hold themselves or expand without bound", "[config]") {
  CHECK_THROWS_WITH(Document::parse("a: &x [1, *x]\n", "c.yaml"),
                    Catch::Contains("holds itself through an alias"));
  CHECK_THROWS_WITH(Document::parse("a: &x {b: *x}\n", "c.yaml"),
                    Catch::Contains("holds itself through an alias"));
  // Ten levels of ten aliases each would be 10^10 values.
  std::string bomb = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 10; ++i) {
    bomb += fmt::format("l{}: &l{} [", i, i);
    for (int j = 0; j < 10; ++j) bomb += fmt::format("{}*l{}", j ? ", " : "", i - 1);
    bomb += "]\n";
  }
  CHECK_THROWS_WITH(Document::parse(bomb, "c.yaml"),
                    Catch::Contains("expands to more than 100000 values through aliases"));
}

TEST_CASE("config overrides do not show through an alias", "[config]") {
  auto doc =
      Document::parse("model: &m\n  n_layer: 2\nother: *m\n", "run.yaml", {"model.n_layer=5"});
  const std::string yaml = doc.yaml();
  INFO(yaml);
  CHECK(yaml.find("n_layer: 5") != std::string::npos);
  CHECK(yaml.find("n_layer: 2") != std::string::npos);  // `other` keeps the anchored value
}

TEST_CASE("config refuses a second document and keys that are not names", "[config]") {
  CHECK_THROWS_WITH(Document::parse("model:\n  n_layer: 2\n---\nmodel:\n  n_layer: 3\n", "c.yaml"),
                    "c.yaml:4: a second YAML document; a config file holds one");
  CHECK_NOTHROW(Document::parse("---\nmodel:\n  n_layer: 2\n---\n", "c.yaml"));
  CHECK_THROWS_WITH(Document::parse("model:\n  ? [a, b]\n  : 1\n", "c.yaml"),
                    Catch::Contains("a key in 'model' is a list; keys are names"));
}

TEST_CASE("config names a Git LFS pointer or an HTML page given as the config", "[config]") {
  CHECK_THROWS_WITH(
      Document::parse("version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 12\n",
                      "c.yaml"),
      "c.yaml: a Git LFS pointer, not the file itself; run `git lfs pull`");
  CHECK_THROWS_WITH(
      Document::parse("<!DOCTYPE html>\n<html><body>Sign in</body></html>\n", "c.yaml"),
      "c.yaml: an HTML page, not a YAML config");
}
