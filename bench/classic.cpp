// bench/classic: Strata's RBF SVM (libsvm, pairwise problems on all cores, batched
// prediction) against scikit-learn's SVC (bench/classic_py.py) on the same HOG features of
// Fashion-MNIST: C=10, gamma=scale, the first N training images, the full test set.
// Prints fit and predict seconds and test accuracy side by side. Last line:
// `ratio strata/peer: X`, the peer's seconds over Strata's (fit + predict; the speed-up) at
// the peer's thread count (one).
//
// Usage: bench_classic [--train N] [--test M] [--threads T]

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/data/fashion_mnist.h"
#include "core/run.h"
#include "models/classic/hog.h"
#include "models/classic/learner.h"

using namespace strata;
namespace fs = std::filesystem;

namespace {

double seconds(const std::function<void()>& f) {
  auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
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

}  // namespace

int main(int argc, char** argv) {
  int64_t n_train = 10000, n_test = 0, threads = usable_cores();
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--train") n_train = std::stoll(argv[i + 1]);
    else if (a == "--test") n_test = std::stoll(argv[i + 1]);
    else if (a == "--threads") threads = std::stoll(argv[i + 1]);
  }
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
  const std::string cmd = fmt::format("/usr/bin/python3 {} {} {} {} {}", script.string(),
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
