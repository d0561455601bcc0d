// bench/classic: Stage 2 learners against scikit-learn's on Fashion-MNIST.
//
// --learner svm (the default): Strata's RBF SVM (libsvm, pairwise problems on all cores,
// batched prediction) against scikit-learn's SVC (bench/classic_py.py) on the same HOG
// features: C=10, gamma=scale, the first N training images, the full test set. Last line:
// `ratio strata/peer: X`, the peer's seconds over Strata's (fit + predict; the speed-up) at
// the peer's thread count (one).
//
// --learner rf: Strata's random_forest through the user's path, `strata train
// configs/classic/fashion-rf.yaml threads=T out_dir=<tmp> overwrite=true` (fit_seconds,
// predict_seconds and test acc from the run's results.json), against scikit-learn's
// RandomForestClassifier(n_estimators=100, n_jobs=T, random_state=0) (bench/classic_rf_py.py):
// both on the 60,000 training images' raw pixels in [0, 1], scored on the 10,000 test
// images, at T threads (default 2). With --repeat R the sides alternate R times and each
// keeps its fastest run. Last line: `ratio sklearn/strata: X`, scikit-learn's seconds over
// Strata's (fit + predict).
//
// Usage: bench_classic [--train N] [--test M] [--threads T]
//        bench_classic --learner rf [--threads T] [--repeat R] [--strata PATH]

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>

#include "bench/common.h"
#include "core/data/fashion_mnist.h"
#include "core/run.h"
#include "models/classic/hog.h"
#include "models/classic/learner.h"

using namespace strata;
using strata::bench::run_child;
using strata::bench::shell_quote;
namespace fs = std::filesystem;

namespace {

double seconds(const std::function<void()>& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return seconds_since(t0);
}

void write_raw(const fs::path& path, const torch::Tensor& t) {
  auto c = t.contiguous();
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
}

struct Result {
  double fit = 0, predict = 0, acc = 0;
};

Result run_strata(const torch::Tensor& xtr, const torch::Tensor& ytr, const torch::Tensor& xte,
                  const torch::Tensor& yte, int threads) {
  at::set_num_threads(threads);
  auto doc = config::Document::parse("type: svm_rbf\nC: 10\ngamma: scale\n", "bench");
  auto svm = classic::make_learner(doc.root());
  Result r;
  r.fit = seconds([&] { svm->fit(xtr, ytr, 10, 0); });
  torch::Tensor predicted;
  r.predict = seconds([&] { predicted = svm->predict(xte); });
  r.acc = classic::accuracy(predicted, yte);
  return r;
}

const fs::path kSourceDir = fs::path(__FILE__).parent_path().parent_path();

// `strata train configs/classic/fashion-rf.yaml` into a fresh folder; the times and test
// accuracy from its results.json.
Result run_strata_rf(const std::string& strata, int64_t threads) {
  char dir_template[] = "/tmp/bench-classic-rf-XXXXXX";
  if (!mkdtemp(dir_template)) throw std::runtime_error("mkdtemp failed");
  const std::string out_dir = dir_template;
  run_child(fmt::format("{} train {} threads={} out_dir={} overwrite=true", shell_quote(strata),
                        shell_quote((kSourceDir / "configs/classic/fashion-rf.yaml").string()),
                        threads, shell_quote(out_dir)),
            "  strata | ");
  std::ifstream in(fs::path(out_dir) / "results.json");
  auto results = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  std::error_code ec;
  fs::remove_all(out_dir, ec);
  if (results.is_discarded() || !results.contains("fit_seconds") ||
      !results.contains("predict_seconds") || !results.contains("test")) {
    throw std::runtime_error("strata's results.json lacks fit_seconds, predict_seconds or test");
  }
  return {results["fit_seconds"].get<double>(), results["predict_seconds"].get<double>(),
          results["test"]["acc"].get<double>()};
}

// The peer prints `result FIT_S PREDICT_S TEST_ACC`.
Result run_peer_rf(int64_t threads) {
  const auto script = kSourceDir / "bench/classic_rf_py.py";
  auto out = run_child(fmt::format("{} {} {}", python_program(), shell_quote(script.string()), threads),
                       "  peer | ");
  Result r;
  for (size_t at = out.find("result "); at != std::string::npos; at = out.find("result ", at + 1)) {
    if (std::sscanf(out.c_str() + at, "result %lf %lf %lf", &r.fit, &r.predict, &r.acc) == 3) {
      return r;
    }
  }
  throw std::runtime_error("the peer printed no result line");
}

int bench_rf(int64_t threads, int64_t repeat, std::string strata) {
  if (strata.empty()) {
    strata = (fs::read_symlink("/proc/self/exe").parent_path().parent_path() / "strata").string();
  }
  fmt::print("random forest, 100 trees, on Fashion-MNIST's raw pixels: 60000 training, 10000 "
             "test images, {} threads; Strata side: strata train configs/classic/fashion-rf.yaml\n",
             threads);
  auto faster = [](const Result& a, const Result& b) {
    return a.fit + a.predict < b.fit + b.predict ? a : b;
  };
  Result strata_best{1e300, 0, 0}, peer_best{1e300, 0, 0};
  for (int64_t r = 0; r < repeat; ++r) {
    peer_best = faster(run_peer_rf(threads), peer_best);
    strata_best = faster(run_strata_rf(strata, threads), strata_best);
  }
  fmt::print("{:<36} {:>8} {:>10} {:>8} {:>9}\n", "", "fit s", "predict s", "total s", "test acc");
  auto row = [](const std::string& name, const Result& r) {
    fmt::print("{:<36} {:>8.1f} {:>10.1f} {:>8.1f} {:>9.4f}\n", name, r.fit, r.predict,
               r.fit + r.predict, r.acc);
  };
  row(fmt::format("strata random_forest, {} threads", threads), strata_best);
  row(fmt::format("scikit-learn RandomForest, {} threads", threads), peer_best);
  fmt::print("test accuracy difference (strata - scikit-learn): {:+.4f}\n",
             strata_best.acc - peer_best.acc);
  fmt::print("ratio sklearn/strata: {:.2f}\n", (peer_best.fit + peer_best.predict) /
                                                     (strata_best.fit + strata_best.predict));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t n_train = 10000, n_test = 0, threads = 0, repeat = 1;
  std::string learner = "svm", strata;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--train") n_train = std::stoll(argv[i + 1]);
    else if (a == "--test") n_test = std::stoll(argv[i + 1]);
    else if (a == "--threads") threads = std::stoll(argv[i + 1]);
    else if (a == "--learner") learner = argv[i + 1];
    else if (a == "--repeat") repeat = std::stoll(argv[i + 1]);
    else if (a == "--strata") strata = argv[i + 1];
    else {
      std::fprintf(stderr, "bench_classic: unknown argument %s (see bench/classic.cpp)\n", argv[i]);
      return 1;
    }
  }
  if (learner == "rf") {
    try {
      return bench_rf(threads > 0 ? threads : 2, std::max<int64_t>(repeat, 1), strata);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_classic: %s\n", e.what());
      return 1;
    }
  }
  if (learner != "svm") {
    std::fprintf(stderr, "bench_classic: --learner must be svm or rf\n");
    return 1;
  }
  if (threads <= 0) threads = usable_cores();
  auto train = data::load_fashion_mnist("train");
  auto test = data::load_fashion_mnist("test");
  if (n_test <= 0) n_test = test.size();
  classic::HogOptions o;
  o.pixels_per_cell = {4, 4};
  o.cells_per_block = {2, 2};
  auto xtr = classic::hog(train.images.slice(0, 0, n_train), o);
  auto ytr = train.labels.slice(0, 0, n_train);
  auto xte = classic::hog(test.images.slice(0, 0, n_test), o);
  auto yte = test.labels.slice(0, 0, n_test);
  fmt::print("svm_rbf C=10 gamma=scale on HOG ({} features): {} training, {} test images\n",
             xtr.size(1), n_train, n_test);

  const fs::path dir = fs::temp_directory_path() / fmt::format("strata_bench_classic_{}", getpid());
  fs::create_directories(dir);
  write_raw(dir / "x_train.f32", xtr);
  write_raw(dir / "y_train.i64", ytr);
  write_raw(dir / "x_test.f32", xte);
  write_raw(dir / "y_test.i64", yte);

  Result one = run_strata(xtr, ytr, xte, yte, 1);
  Result many = threads > 1 ? run_strata(xtr, ytr, xte, yte, int(threads)) : one;

  const auto script = fs::path(__FILE__).parent_path() / "classic_py.py";
  const std::string cmd = fmt::format("{} {} {} {} {} {}", python_program(), script.string(),
                                      dir.string(), n_train, n_test, xtr.size(1));
  Result peer;
  FILE* p = popen(cmd.c_str(), "r");
  char line[4096];
  bool ok = false;
  while (p && std::fgets(line, sizeof(line), p)) {
    if (std::sscanf(line, "result %lf %lf %lf", &peer.fit, &peer.predict, &peer.acc) == 3) ok = true;
    else std::fputs(line, stdout);
  }
  if (!p || pclose(p) != 0 || !ok) {
    std::fprintf(stderr, "the peer failed: %s\n", cmd.c_str());
    return 1;
  }
  fs::remove_all(dir);

  fmt::print("{:<28} {:>8} {:>10} {:>8} {:>9}\n", "", "fit s", "predict s", "total s", "test acc");
  auto row = [](const std::string& name, const Result& r) {
    fmt::print("{:<28} {:>8.1f} {:>10.1f} {:>8.1f} {:>9.4f}\n", name, r.fit, r.predict,
               r.fit + r.predict, r.acc);
  };
  row("strata svm_rbf, 1 thread", one);
  if (threads > 1) row(fmt::format("strata svm_rbf, {} threads", threads), many);
  row("scikit-learn SVC", peer);
  fmt::print("speed-up: {:.1f}x at 1 thread, {:.1f}x at {} threads\n",
             (peer.fit + peer.predict) / (one.fit + one.predict),
             (peer.fit + peer.predict) / (many.fit + many.predict), threads);
  fmt::print("ratio strata/peer: {:.2f}\n", (peer.fit + peer.predict) / (one.fit + one.predict));
  return 0;
}
