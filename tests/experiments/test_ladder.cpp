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
#include "experiments/recommend.h"
#include "experiments/report.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace fs = std::filesystem;
using namespace strata;

namespace {

const std::string kTiny = STRATA_SOURCE_DIR "/tests/assets/ladder/tiny-spam.yaml";
const std::string kRules = STRATA_SOURCE_DIR "/configs/ladder/recommend.yaml";

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

  // The report: the table, the notes' claims, and only plots that exist.
  const std::string report = experiments::report((tmp.root() / "out").string());
  std::ifstream in(report);
  const std::string md((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK_THAT(md, Catch::Contains("| stage | approach |") &&
                     Catch::Contains("Pre-training needs fewer labels"));
  int pngs = 0;
  for (size_t at = 0; (at = md.find("](", at)) != std::string::npos; ++at) {
    const std::string link = md.substr(at + 2, md.find(')', at) - at - 2);
    CHECK(fs::exists(tmp.root() / "out" / link));
    ++pngs;
  }
  CHECK(pngs >= 1);  // ladder_accuracy.png (matplotlib is in .venv: requirements.txt)

  // recommend --ladder names a stage and the measurement behind it.
  experiments::RecommendQuery q{"limited", "moderate", "specific", kRules, (tmp.root() / "out").string()};
  const auto rec = experiments::recommend(q);
  CHECK(rec.stage == 4);
  CHECK(rec.measured_stage >= 1);
  CHECK_THAT(rec.measured, Catch::Contains("acc 0.") && Catch::Contains("10 labels/class"));
  CHECK_THAT(experiments::describe(rec, q), Catch::Contains("measured best is stage"));

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
  CHECK_THAT(error("pretrain: {config: " STRATA_SOURCE_DIR "/configs/finetune/gpt-base.yaml}\n"
                   "stages: [{stage: '4', approach: a, kind: finetune, uses_pretrain: true, config: "
                   STRATA_SOURCE_DIR "/configs/finetune/spam-gpt.yaml, "
                   "class_subset: {name: x, classes: [-1]}}]\n"),
             Catch::Contains("class indices are 0 or more"));
  CHECK_THAT(error("stages: [{stage: '5', approach: a, kind: prompt, task: spam, num_fewshot: [1, 1]}]\n"
                   "pretrain: {config: " STRATA_SOURCE_DIR "/configs/finetune/gpt-base.yaml}\n"),
             Catch::Contains("lists 1 twice"));
  CHECK_FALSE(fs::exists(tmp.root() / "out" / "ladder.csv"));

  const std::string cfg = tmp.write("bad.yaml", "stages: []\n");
  auto r = strata::testing::run_strata({"ladder", cfg});
  CHECK(r.status == 2);
  CHECK(r.output.find("at least one stage") != std::string::npos);
}

TEST_CASE("recommend gives the notes' answer for every branch of choose_approach",
          "[experiments][recommend]") {
  auto stage = [](const std::string& data, const std::string& time, const std::string& task) {
    return experiments::recommend({data, time, task, kRules, ""});
  };
  // The four rules, in the notes' order, and the fallback.
  CHECK(stage("none", "immediate", "complex").stage == 5);
  CHECK(stage("none", "immediate", "complex").rule == 1);
  CHECK(stage("limited", "relaxed", "specific").stage == 4);
  CHECK(stage("abundant", "moderate", "complex").stage == 3);
  CHECK(stage("structured", "relaxed", "simple").stage == 2);
  CHECK(stage("abundant", "immediate", "simple").stage == 1);
  CHECK(stage("none", "moderate", "simple").stage == 1);  // none, but not immediate
  // The notes' worked example: specific, limited, moderate.
  const auto worked = stage("limited", "moderate", "specific");
  CHECK(worked.stage == 4);
  CHECK_THAT(worked.start, Catch::Contains("configs/finetune/"));
  CHECK_FALSE(worked.why.empty());

  CHECK_THROWS_WITH(stage("lots", "moderate", "specific"),
                    Catch::Contains("--data: 'lots'") && Catch::Contains("none, limited"));
  CHECK_THROWS_WITH(experiments::recommend({"none", "immediate", "simple", kRules, "/nonexistent"}),
                    Catch::Contains("ladder.json"));
  testing::TempDir tmp("recommend");
  const std::string bad = tmp.write("rules.yaml", "values: {data: [a], time: [b], task: [c]}\n");
  CHECK_THROWS_AS(experiments::recommend({"a", "b", "c", bad, ""}), InputError);
  auto r = strata::testing::run_strata(
      {"recommend", "--data", "limited", "--time", "moderate", "--task", "specific", "--rules", kRules});
  CHECK(r.status == 0);
  CHECK_THAT(r.output, Catch::StartsWith("stage 4: fine-tune a pre-trained model"));
  r = strata::testing::run_strata({"recommend", "--data", "x", "--time", "moderate", "--task", "specific",
                                   "--rules", kRules});
  CHECK(r.status == 2);
}

TEST_CASE("report refuses a directory that holds no run made of runs", "[experiments][report]") {
  testing::TempDir tmp("report");
  CHECK_THROWS_WITH(experiments::report(tmp.root().string()), Catch::Contains("holds no ladder"));
  CHECK_THROWS_WITH(experiments::report((tmp.root() / "missing").string()),
                    Catch::Contains("is not a directory"));
}
