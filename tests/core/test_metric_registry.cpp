// The one metric table that tasks and the trainer read: names resolved from result keys,
// directions, and unknown metrics refused by name.

#include "core/errors.h"
#include "core/metric_registry.h"
#include "tests/support/process.h"

#include <catch2/catch.hpp>

using namespace strata;

TEST_CASE("metric registry: a result key's metric, its direction, and refusals", "[metrics]") {
  CHECK(metrics::of_key("eval/validation/loss", "w").name == "loss");
  CHECK(metrics::of_key("eval/test/acc", "w").name == "acc");
  CHECK(metrics::of_key("eval/spam/0shot/acc_norm", "w").name == "acc_norm");
  CHECK(metrics::of_key("acc,none", "w").name == "acc");
  CHECK(metrics::of_key("eval/gen/5shot/exact_match_strict", "w").name == "exact_match");
  CHECK(metrics::of_key("perplexity,none", "w").name == "perplexity");
  // Lower is better for loss and perplexity, higher for the rest.
  CHECK(metrics::better("eval/validation/loss", 0.5, 0.6, "w"));
  CHECK_FALSE(metrics::better("eval/validation/loss", 0.6, 0.5, "w"));
  CHECK(metrics::better("eval/test/acc", 0.6, 0.5, "w"));
  CHECK(metrics::better("perplexity", 9.0, 10.0, "w"));
  // A metric that is not in the table is refused, not guessed from its name.
  CHECK_THROWS_WITH(metrics::of_key("eval/test/f1", "trainer.best_metric"),
                    Catch::Contains("trainer.best_metric") && Catch::Contains("'eval/test/f1'") &&
                        Catch::Contains("acc, acc_norm"));
  CHECK_THROWS_AS(metrics::of_key("eval/test/lossy", "w"), InputError);
  CHECK_THROWS_WITH(metrics::of_key("eval/test/acc_stderr", "w"), Catch::Contains("standard error"));
  CHECK(metrics::task_metric_names() == std::vector<std::string>{"acc", "acc_norm", "exact_match", "perplexity"});
}

TEST_CASE("trainer.best_metric naming no known metric is refused before training, exit 2", "[metrics][cli]") {
  auto r = strata::testing::run_strata({"train", "tests/assets/finetune-spam.yaml", "out_dir=/nonexistent/never",
                                        "trainer.best_metric=eval/validation/f1"});
  INFO(r.output);
  CHECK(r.status == 2);
  CHECK(r.output.find("best_metric") != std::string::npos);
  CHECK(r.output.find("'eval/validation/f1' names no known metric") != std::string::npos);
}
