// `strata ladder` on tests/assets/ladder/tiny-spam.yaml: the five stages on SpamAssassin at
// debug sizes, end to end; then again (everything reused); then with one stage changed
// (only that stage runs again).

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "core/config.h"
#include "core/errors.h"
#include "experiments/ladder.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace fs = std::filesystem;
using namespace strata;

namespace {

const std::string kTiny = STRATA_SOURCE_DIR "/tests/assets/ladder/tiny-spam.yaml";

double first_number(const std::string& cell) { return cell.empty() ? NAN : std::stod(cell); }

}  // namespace

TEST_CASE("a tiny ladder runs every stage once, reuses them, and reruns only a changed stage",
          "[experiments][ladder]") {
  testing::TempDir tmp("ladder");
  const std::string out = "out_dir=" + (tmp.root() / "out").string();
  auto first = experiments::ladder(config::Document::load(kTiny, {out}));

  // One row per stage; stage 5 one per shot count; 4b not applicable, with its reason.
  std::vector<std::string> stages;
  for (const auto& row : first["table"]) stages.push_back(row["stage"]);
  CHECK(stages == std::vector<std::string>{"1", "2", "3", "4", "4b", "5 (0-shot)", "5 (1-shot)"});
  for (const auto& row : first["table"]) {
    const std::string stage = row["stage"];
    if (stage == "4b") {
      CHECK_THAT(row["note"].get<std::string>(), Catch::StartsWith("not applicable: needs"));
      continue;
    }
    INFO("stage " << stage);
    for (const char* column : {"acc, limited labels", "acc, all labels"}) {
      const double acc = first_number(row[column]);
      CHECK(acc > 0.0);
      CHECK(acc <= 1.0);
    }
    CHECK(std::stoll(row["test examples"].get<std::string>()) > 0);
    CHECK_FALSE(row["train s"].get<std::string>().empty());
    CHECK_FALSE(row["notes: data needed"].get<std::string>().empty());
  }
  CHECK(first["table"][0]["features by"] == "person");
  CHECK(first["table"][0]["decision by"] == "person");
  CHECK(std::stoll(first["table"][0]["hand-written lines"].get<std::string>()) > 20);
  CHECK(first["table"][1]["labelled examples"] == "20; 4824");
  CHECK(first["table"][2]["seeds"] == "2");
  CHECK_FALSE(first["table"][5]["cut prompts"].get<std::string>().empty());
  for (const char* name : {"ladder.md", "ladder.csv", "ladder_summary.csv", "ladder.json"}) {
    CHECK(fs::exists(tmp.root() / "out" / name));
  }
  const int64_t runs = first["trained"];
  CHECK(runs == 15);  // rules 1, classic 4, two fine-tunes 4 each, 2 prompts: 15

  // Again: every run is reused.
  CHECK(experiments::ladder(config::Document::load(kTiny, {out}))["trained"] == 0);

  // Stage 2's learner changed: its four runs, and only they, run again; the others'
  // numbers stay as they were.
  tmp.write("tiny.yaml", [&] {
    std::ifstream in(kTiny);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string from = "limited_overrides: [data.validation=4]";
    text.replace(text.find(from), from.size(), from + "\n    overrides: [model.learner.C=1]");
    const std::string rel = "../../../configs/";
    for (size_t at; (at = text.find(rel)) != std::string::npos;) {
      text.replace(at, rel.size(), STRATA_SOURCE_DIR "/configs/");
    }
    return text;
  }());
  auto changed = experiments::ladder(config::Document::load((tmp.root() / "tiny.yaml").string(), {out}));
  CHECK(changed["trained"] == 4);
  CHECK(changed["table"][0] == first["table"][0]);
  CHECK(changed["table"][3]["acc, all labels"] == first["table"][3]["acc, all labels"]);
}

TEST_CASE("ladder refuses a bad config before any run, naming file and line",
          "[experiments][ladder]") {
  testing::TempDir tmp("ladder-bad");
  auto error = [&](const std::string& yaml) {
    try {
      experiments::ladder(config::Document::parse(
          "out_dir: " + (tmp.root() / "out").string() + "\n" + yaml, "ladder.yaml"));
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string rules = STRATA_SOURCE_DIR "/configs/rules/spam.yaml";
  CHECK_THAT(error("stages: []\n"), Catch::Contains("at least one stage"));
  CHECK_THAT(error("stages: [{stage: '6', approach: a, kind: rules, config: " + rules + "}]\n"),
             Catch::Contains("ladder.yaml:2") && Catch::Contains("1 to 5"));
  CHECK_THAT(error("stages: [{stage: '1', approach: a, kind: rule, config: " + rules + "}]\n"),
             Catch::Contains("ladder.yaml:2") && Catch::Contains("rules"));
  CHECK_THAT(error("stages: [{stage: '5', approach: a, kind: prompt, task: spam}]\n"),
             Catch::Contains("no 'pretrain'"));
  CHECK_THAT(error("stages: [{stage: '1', approach: a, kind: rules, config: /nonexistent.yaml}]\n"),
             Catch::Contains("'/nonexistent.yaml' not found"));
  CHECK_THAT(error("stages: [{stage: '1', approach: a, kind: none}]\n"),
             Catch::Contains("'reason'") || Catch::Contains("reason"));
  // A typo in a stage's overrides is found by the run config's own readers before any run.
  CHECK_THAT(error("stages: [{stage: '2', approach: a, kind: train, config: " STRATA_SOURCE_DIR
                   "/configs/classic/spam-tfidf.yaml, overrides: [model.learner.CC=1]}]\n"),
             Catch::Contains("stage 2") && Catch::Contains("CC"));
  CHECK_FALSE(fs::exists(tmp.root() / "out" / "ladder.csv"));

  const std::string cfg = tmp.write("bad.yaml", "stages: []\n");
  auto r = strata::testing::run_strata({"ladder", cfg});
  CHECK(r.status == 2);
  CHECK(r.output.find("at least one stage") != std::string::npos);
}
