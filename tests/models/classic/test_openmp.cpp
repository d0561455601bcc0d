// One OpenMP runtime in the process. The torch wheel brings libgomp.so.1 (torch/lib), and
// Debian's libxgboost and liblinear ask for the same soname, so the loader gives them the
// copy already loaded (cmake/StrataTargets.cmake links the wheel's). LibTorch's thread
// count, set from `threads`, must survive the classical learners running their own
// OpenMP regions.

#include <torch/torch.h>

#include <fstream>
#include <set>
#include <string>

#include "core/config.h"
#include "core/run.h"
#include "models/classic/learner.h"

// Last: glog (through LibTorch) also defines CHECK, and Catch's must win.
#include <catch2/catch.hpp>

using namespace strata;

namespace {

// The distinct files mapped into this process whose name holds `part`.
std::set<std::string> mapped(const std::string& part) {
  std::set<std::string> paths;
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    const auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    if (path.find(part) != std::string::npos) paths.insert(path);
  }
  return paths;
}

}  // namespace

TEST_CASE("openmp: at::get_num_threads() stays `threads` after XGBoost and liblinear ran",
          "[classic][openmp]") {
  RunOptions run;
  run.threads = 2;
  setup_run(run);
  REQUIRE(at::get_num_threads() == 2);

  torch::manual_seed(0);
  auto x = torch::randn({200, 8});
  auto y = (x.select(1, 0) > 0).to(torch::kInt64);
  for (const char* yaml : {"type: xgboost\nn_estimators: 5\nmax_depth: 3\n",
                           "type: linear_svm\nC: 0.1\n", "type: logistic_regression\n"}) {
    INFO(yaml);
    auto doc = config::Document::parse(yaml, "learner.yaml");
    auto learner = classic::make_learner(doc.root());
    learner->fit(x, y, 2, 0);
    CHECK(learner->predict(x).size(0) == 200);
    CHECK(at::get_num_threads() == 2);
  }
  // And LibTorch's own parallel work still spreads over that many threads.
  at::set_num_threads(1);
  CHECK(at::get_num_threads() == 1);
  at::set_num_threads(2);
  CHECK(at::get_num_threads() == 2);

  const auto gomp = mapped("libgomp");
  INFO("libgomp copies mapped: " << gomp.size());
  for (const auto& p : gomp) INFO(p);
  REQUIRE(gomp.size() == 1);
  CHECK(gomp.begin()->find("torch/lib") != std::string::npos);  // the wheel's copy
}
