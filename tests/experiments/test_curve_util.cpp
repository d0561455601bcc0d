#include <catch2/catch.hpp>

#include "experiments/curve_util.h"

using namespace strata;

TEST_CASE("a curve's run names become directories", "[experiments][curve]") {
  CHECK(experiments::slug("Stage 3: CNN", "x") == "stage-3-cnn");
  CHECK(experiments::slug("  fine-tuned, frozen base ", "x") == "fine-tuned-frozen-base");
  CHECK(experiments::slug("?!", "variant") == "variant");
}

TEST_CASE("a small training set gets more epochs, within the budget's bounds",
          "[experiments][curve]") {
  experiments::EpochBudget b;
  b.examples = 100;
  b.min = 2;
  b.max = 10;
  CHECK(experiments::epochs_for(b, 30) == 4);    // ceil(100 / 30)
  CHECK(experiments::epochs_for(b, 1000) == 2);  // ceil(0.1) = 1, raised to min
  CHECK(experiments::epochs_for(b, 1) == 10);    // 100, lowered to max
  CHECK(experiments::epochs_for(b, 0) == 2);     // the whole set, its size unknown: min
}

TEST_CASE("CSV fields are quoted only when they must be", "[experiments][curve]") {
  CHECK(experiments::csv_field("from scratch") == "from scratch");
  CHECK(experiments::csv_field("fine-tuned, frozen") == "\"fine-tuned, frozen\"");
  CHECK(experiments::csv_field("say \"hi\"") == "\"say \"\"hi\"\"\"");
}
