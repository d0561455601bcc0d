// `strata sweep` on configs/sweeps/debug.yaml: two debug GPTs, 10 steps each, `addition`
// at 0 and 1 shots on 4 documents. End to end, then again to check that nothing finished
// is redone, then with one results file removed.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>

#include "core/config.h"
#include "core/errors.h"
#include "experiments/sweep.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace fs = std::filesystem;
using namespace strata;

namespace {

const std::string kDebug = STRATA_SOURCE_DIR "/configs/sweeps/debug.yaml";

std::string text_of(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Every file under `dir` with its modification time (in the file clock's ticks).
std::map<std::string, int64_t> mtimes(const fs::path& dir) {
  std::map<std::string, int64_t> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) {
      out[e.path().string()] = int64_t(e.last_write_time().time_since_epoch().count());
    }
  }
  return out;
}

// GPT's parameters outside the embeddings with biases: 12 C^2 + 13 C per block, 2 C for
// ln_f (Kaplan et al.'s 12 L C^2 plus biases and norms).
int64_t gpt_non_embedding(int64_t n_layer, int64_t C) {
  return n_layer * (12 * C * C + 13 * C) + 2 * C;
}

}  // namespace

TEST_CASE("sweep trains each size, evaluates each shot count, and continues where it stopped",
          "[experiments][sweep]") {
  testing::TempDir tmp("sweep");
  const fs::path out = tmp.root() / "out";
  auto run = [&] {
    return experiments::sweep(config::Document::load(kDebug, {"out_dir=" + out.string()}));
  };

  auto first = run();
  CHECK(first["trained"] == 2);
  CHECK(first["evaluated"] == 4);
  REQUIRE(first["sizes"].size() == 2);
  CHECK(first["params_counted"] == "non-embedding");
  CHECK(first["sizes"][0]["params"] == gpt_non_embedding(1, 32));
  CHECK(first["sizes"][1]["params"] == gpt_non_embedding(2, 64));
  for (const auto& s : first["sizes"]) {
    CHECK(s["max_steps"] == 10);  // 2560 tokens / (8 x 32)
    CHECK(s["params_total"].get<int64_t>() > s["params"].get<int64_t>());
  }
  CHECK(fs::exists(out / "sizes" / "d1" / "checkpoints" / "step-0000010" / "state.json"));
  CHECK(fs::exists(out / "sizes" / "d2" / "results.json"));

  for (const char* size : {"d1", "d2"}) {
    for (int k : {0, 1}) {
      const fs::path file = out / "sweep" / size / (std::to_string(k) + "shot.json");
      REQUIRE(fs::exists(file));
      auto j = nlohmann::json::parse(text_of(file));
      CHECK(j["n-shot"]["addition"] == k);
      CHECK(j["n-samples"]["addition"]["effective"] == 4);
      CHECK(j["results"]["addition"].contains("acc,none"));
      CHECK(j["config"]["limit"] == 4);
    }
  }

  std::ifstream csv(out / "sweep.csv");
  std::string header;
  std::getline(csv, header);
  CHECK(header == "size,params,task,num_fewshot,metric,value,stderr");
  int addition_rows = 0;
  for (const auto& row : first["rows"]) {
    if (row["task"] == "addition") {
      ++addition_rows;
      CHECK((row["metric"] == "acc" || row["metric"] == "acc_norm"));
      CHECK(row["value"].get<double>() >= 0.0);
      CHECK(row["value"].get<double>() <= 1.0);
    }
  }
  CHECK(addition_rows == 8);  // acc and acc_norm x 2 shot counts x 2 sizes

  // Again: every size and every point is reused; no file is rewritten but the summaries.
  auto before = mtimes(out / "sizes");
  auto before_evals = mtimes(out / "sweep");
  const std::string csv_before = text_of(out / "sweep.csv");
  auto second = run();
  CHECK(second["trained"] == 0);
  CHECK(second["evaluated"] == 0);
  CHECK(mtimes(out / "sizes") == before);
  CHECK(mtimes(out / "sweep") == before_evals);
  CHECK(text_of(out / "sweep.csv") == csv_before);

  // One results file lost: only that point is evaluated again.
  fs::remove(out / "sweep" / "d2" / "1shot.json");
  auto third = run();
  CHECK(third["trained"] == 0);
  CHECK(third["evaluated"] == 1);
  CHECK(text_of(out / "sweep.csv") == csv_before);  // the same model, seed and documents
}

TEST_CASE("sweep refuses bad configs before any work, naming file and line",
          "[experiments][sweep]") {
  testing::TempDir tmp("sweep-bad");
  auto error = [&](const std::string& yaml) {
    try {
      experiments::sweep(config::Document::parse(
          "out_dir: " + (tmp.root() / "out").string() + "\n" + yaml, "sweep.yaml"));
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const std::string sizes = "sizes: [debug]\ntasks: [addition]\n";  // lines 2 and 3
  const std::string pretrain = "pretrain: {model: {type: gpt}}\n";
  CHECK_THAT(error(sizes + pretrain + "num_fewshots: [0]\n"),
             Catch::Contains("sweep.yaml:5: unknown key 'num_fewshots'") &&
                 Catch::Contains("did you mean 'num_fewshot'"));
  CHECK_THAT(error(sizes + "pretrain:\n  optimizer: {type: adamw, lrr: 0.1}\n"),
             Catch::Contains("sweep.yaml:5") && Catch::Contains("'optimizer.lrr'"));
  CHECK_THAT(error(sizes + "pretrain:\n  model: {type: gpt, n_layer: 2}\n"),
             Catch::Contains("sweep.yaml:5") && Catch::Contains("set per size"));
  CHECK_THAT(error(sizes + "pretrain:\n  trainer: {max_steps: 10}\n"),
             Catch::Contains("sweep.yaml:5") && Catch::Contains("budget"));
  CHECK_THAT(error(sizes + pretrain + "tokens_per_parameter: 20\ntoken_budget: 1000\n"),
             Catch::Contains("sweep.yaml:6") && Catch::Contains("give one"));
  CHECK_THAT(error("sizes: [gtp2]\ntasks: [addition]\n" + pretrain),
             Catch::Contains("sweep.yaml:2") && Catch::Contains("did you mean 'gpt2'"));
  CHECK_THAT(error("sizes: [debug]\ntasks: [no_such_task]\n" + pretrain),
             Catch::Contains("sweep.yaml:3") && Catch::Contains("no_such_task"));
  CHECK_THAT(error(sizes + pretrain + "num_fewshot: [0, -1]\n"),
             Catch::Contains("sweep.yaml:5") && Catch::Contains("0 or more"));
  CHECK_THAT(error("tasks: [addition]\n" + pretrain), Catch::Contains("'sizes'"));
  CHECK_FALSE(fs::exists(tmp.root() / "out"));  // nothing was written

  // The program: one line, exit 2.
  const std::string cfg = tmp.write("bad.yaml", sizes + pretrain + "num_fewshots: [0]\n");
  auto r = strata::testing::run_strata({"sweep", cfg});
  CHECK(r.status == 2);
  CHECK(r.output.find("unknown key 'num_fewshots'") != std::string::npos);
}
