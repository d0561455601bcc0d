// `strata finetune-curve` on the debug CNN: every (group, variant, label count, seed) a
// two-step `strata train` run on two Fashion-MNIST classes. Without a pre-training
// section: the image configs do not take `init.from` yet.

#include <fmt/format.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/config.h"
#include "core/errors.h"
#include "experiments/finetune_curve.h"
#include "tests/support/temp_dir.h"

namespace fs = std::filesystem;
using namespace strata;

namespace {

const std::string kCnn = STRATA_SOURCE_DIR "/configs/cnn/fashion.yaml";

std::vector<std::string> lines_of(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// results.json's modification time (clock ticks) in every run directory of a curve.
std::map<std::string, int64_t> results_times(const nlohmann::json& curve) {
  std::map<std::string, int64_t> out;
  for (const auto& row : curve["rows"]) {
    const std::string dir = row["run_dir"];
    out[dir] =
        int64_t(fs::last_write_time(fs::path(dir) / "results.json").time_since_epoch().count());
  }
  return out;
}

std::string curve_yaml(const std::string& out_dir) {
  const std::string run =
      "model.size=debug, trainer.max_steps=2, trainer.batch_size=4, trainer.log_every=1";
  return fmt::format(R"(out_dir: {out}
seed: 5
seeds: 2
threads: 1
device: cpu
labels_per_class: [2, 4]
num_classes: 10   # not used: the group lists its two classes
metric: eval/fashion_mnist/acc   # a plain image run's; fine-tuning runs write eval/test/acc
plot: false
groups:
  - name: 'Sneaker vs Ankle boot'
    overrides: ['data.classes=[Sneaker, Ankle boot]', model.num_classes=2]
variants:
  - name: 'CNN, lr 1e-3'
    config: {cnn}
    overrides: [{run}]
  - name: 'CNN, lr 1e-2'
    config: {cnn}
    overrides: [{run}, optimizer.lr=0.01]
    epochs: {{examples: 16, min: 1, max: 3}}
)",
                     fmt::arg("out", out_dir), fmt::arg("cnn", kCnn), fmt::arg("run", run));
}

}  // namespace

TEST_CASE(
    "finetune-curve runs every variant at each label count and seed, mean and std over "
    "seeds, and reuses finished runs",
    "[experiments][finetune_curve]") {
  testing::TempDir dir("finetune-curve");
  const fs::path out = dir.root() / "out";
  const std::string config = dir.write("curve.yaml", curve_yaml(out.string()));

  auto curve = experiments::finetune_curve(config::Document::load(config));
  CHECK(curve["trained"] == 8);
  CHECK(curve["metric"] == "eval/fashion_mnist/acc");
  CHECK(curve["pretrain"].is_null());
  const auto& rows = curve["rows"];
  REQUIRE(rows.size() == 8);  // 2 variants x 2 label counts x 2 seeds
  CHECK(rows[0]["group"] == "Sneaker vs Ankle boot");
  CHECK(rows[0]["variant"] == "CNN, lr 1e-3");
  CHECK(rows[0]["labels_per_class"] == 2);
  CHECK(rows[0]["seed"] == 5);
  CHECK(rows[1]["seed"] == 6);
  CHECK(rows[2]["labels_per_class"] == 4);
  CHECK(rows[0]["train_examples"] == 4);  // 2 per class x the group's 2 classes
  CHECK(rows[2]["train_examples"] == 8);
  CHECK(rows[0]["epochs"].is_null());  // the first variant keeps its config's schedule
  CHECK(rows[4]["epochs"] == 3);       // ceil(16 / 4) = 4, at most 3
  CHECK(rows[6]["epochs"] == 2);       // ceil(16 / 8)
  CHECK(rows[0]["run_dir"] ==
        (out / "sneaker-vs-ankle-boot" / "cnn-lr-1e-3" / "2" / "seed-5").string());
  for (const auto& row : rows) {
    CHECK(row["value"].get<double>() >= 0.0);
    CHECK(row["value"].get<double>() <= 1.0);
  }

  // Each run is `strata train` with the curve's overrides, the shared keys included.
  auto run_config = config::Document::load((fs::path(rows[5]["run_dir"]) / "config.yaml").string());
  auto root = run_config.root();
  int64_t seed = 0, per_class = 0;
  double epochs = 0;
  std::string device;
  root.read("seed", seed);
  root.read("device", device);
  root.child("data").read("labels_per_class", per_class);
  root.child("trainer").read("epochs", epochs);
  CHECK(seed == 6);
  CHECK(device == "cpu");
  CHECK(per_class == 2);
  CHECK(epochs == 3);

  // The summary: mean and sample standard deviation (n - 1) of each point's two seeds.
  const auto& summary = curve["summary"];
  REQUIRE(summary.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    const double a = rows[2 * i]["value"].get<double>();
    const double b = rows[2 * i + 1]["value"].get<double>();
    CHECK(summary[i]["labels_per_class"] == rows[2 * i]["labels_per_class"]);
    CHECK(summary[i]["variant"] == rows[2 * i]["variant"]);
    CHECK(summary[i]["n_seeds"] == 2);
    CHECK(summary[i]["mean"].get<double>() == Approx((a + b) / 2));
    CHECK(summary[i]["std"].get<double>() ==
          Approx(std::abs(a - b) / std::sqrt(2.0)).margin(1e-12));
  }

  const auto csv = lines_of(out / "finetune_curve.csv");
  REQUIRE(csv.size() == 9);
  CHECK(csv[0] == "group,variant,labels_per_class,train_examples,seed,value,seconds,run_dir");
  CHECK(csv[1].rfind("Sneaker vs Ankle boot,\"CNN, lr 1e-3\",2,4,5,", 0) == 0);
  const auto summary_csv = lines_of(out / "finetune_curve_summary.csv");
  REQUIRE(summary_csv.size() == 5);
  CHECK(summary_csv[0] == "group,variant,labels_per_class,mean,std,n_seeds");
  CHECK(summary_csv[4].rfind("Sneaker vs Ankle boot,\"CNN, lr 1e-2\",4,", 0) == 0);
  CHECK(fs::exists(out / "finetune_curve.json"));
  const std::string table = curve["table"];
  CHECK_THAT(table, Catch::StartsWith("| group | variant | 2 per class | 4 per class |\n"));
  CHECK_THAT(table,
             Catch::Contains("| Sneaker vs Ankle boot | CNN, lr 1e-2 |") && Catch::Contains(" ± "));

  // Run again: every run is reused, none is touched.
  const auto times = results_times(curve);
  auto again = experiments::finetune_curve(config::Document::load(config));
  CHECK(again["trained"] == 0);
  CHECK(results_times(again) == times);
  CHECK(again["summary"] == curve["summary"]);

  // A metric the runs do not write is bad input, found before anything trains.
  CHECK_THROWS_WITH(
      experiments::finetune_curve(config::Document::load(config, {"metric=eval/valid/acc"})),
      Catch::Contains("holds no 'eval/valid/acc'") && Catch::Contains("eval/fashion_mnist/acc"));

  // An interrupted curve continues where it stopped: only the missing run trains.
  fs::remove_all(rows[3]["run_dir"].get<std::string>());
  auto resumed = experiments::finetune_curve(config::Document::load(config, {"plot=true"}));
  CHECK(resumed["trained"] == 1);
  CHECK(resumed["rows"][0]["value"] == rows[0]["value"]);
  CHECK(fs::exists(fs::path(rows[3]["run_dir"]) / "results.json"));
  // Plotting needs python3-matplotlib; without it the curve still succeeds, unplotted.
  if (resumed.contains("plot")) {
    CHECK(fs::exists(resumed["plot"].get<std::string>()));
  }
}

TEST_CASE("finetune-curve refuses bad input before any run starts",
          "[experiments][finetune_curve]") {
  testing::TempDir dir("finetune-curve-bad");
  const fs::path out = dir.root() / "out";
  const std::string head = "out_dir: " + out.string() + "\nplot: false\n";
  const std::string variant = "variants: [{name: a, config: " + kCnn + "}]\n";
  auto error = [&](const std::string& yaml) {
    try {
      experiments::finetune_curve(config::Document::parse(head + yaml, "curve.yaml"));
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(error("seeds: 0\nlabels_per_class: [2]\n" + variant),
             Catch::Contains("curve.yaml:3") && Catch::Contains("'seeds' must be >= 1"));
  CHECK_THAT(error("labels_per_class: []\n" + variant),
             Catch::Contains("at least one label count"));
  CHECK_THAT(error("labels_per_class: [2, 2]\n" + variant), Catch::Contains("lists 2 twice"));
  CHECK_THAT(error("labels_per_class: [2]\nvariants: []\n"),
             Catch::Contains("at least one variant"));
  CHECK_THAT(error("labels_per_class: [2]\nvariants: [{name: a, config: /nonexistent.yaml}]\n"),
             Catch::Contains("'/nonexistent.yaml' not found"));
  CHECK_THAT(
      error("labels_per_class: [2]\nvariants: [{name: a, config: " + kCnn + ", overides: []}]\n"),
      Catch::Contains("unknown key") && Catch::Contains("overides"));
  CHECK_THAT(error("labels_per_class: [2]\nvariants: [{name: a, config: " + kCnn +
                   "}, {name: A, config: " + kCnn + "}]\n"),
             Catch::Contains("same directory as another variant"));
  CHECK_THAT(error("labels_per_class: [2]\ngroups: []\n" + variant),
             Catch::Contains("at least one group"));
  CHECK_THAT(error("labels_per_class: [2]\npretrain: {checkpoint: /no/such/run}\n" + variant),
             Catch::Contains("'/no/such/run' not found"));
  CHECK_THAT(error("labels_per_class: [2]\npretrain: {config: " + kCnn + ", checkpoint: /tmp}\n" +
                   variant),
             Catch::Contains("two starting points"));
  // A typo in a group's overrides is found by the run config's own readers, naming the
  // variant and group, before the first run.
  CHECK_THAT(error("labels_per_class: [2]\ngroups: [{name: g, overrides: [trainer.max_step=2]}]\n" +
                   variant),
             Catch::Contains("variant 'a' in group 'g'") &&
                 Catch::Contains("unknown key 'trainer.max_step'"));
  CHECK_FALSE(fs::exists(out));
}
