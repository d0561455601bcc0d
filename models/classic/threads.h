#pragma once
// Running work on the intra-op threads as plain std::threads.
//
// Stage 2 splits some work into independent pieces (chunks of images for HOG, pairwise
// SVM problems), each a sequence of small tensor operations. Run under at::parallel_for,
// or each op on an OpenMP team, every op pays a team barrier; on a machine whose cores are
// busy with other work, libgomp's spinning waits made 2 threads 10x slower than 1 here.
// So the pieces go to std::threads, each running its ops single-threaded.

#include <torch/torch.h>

#include <functional>
#include <thread>
#include <vector>

namespace strata::classic {

// Sets LibTorch's intra-op thread count for a scope, then restores it.
class IntraOpThreads {
 public:
  explicit IntraOpThreads(int n) : saved_(at::get_num_threads()) { at::set_num_threads(n); }
  ~IntraOpThreads() { at::set_num_threads(saved_); }
  IntraOpThreads(const IntraOpThreads&) = delete;
  IntraOpThreads& operator=(const IntraOpThreads&) = delete;

 private:
  int saved_;
};

// Calls work(w) for w in [0, workers) on `workers` threads (the caller's among them), with
// tensor operations single-threaded while they run. workers <= 1 runs work(0) inline with
// the intra-op threads untouched.
inline void run_workers(int workers, const std::function<void(int)>& work) {
  if (workers <= 1) {
    work(0);
    return;
  }
  IntraOpThreads single(1);
  std::vector<std::thread> pool;
  for (int w = 1; w < workers; ++w) pool.emplace_back(work, w);
  work(0);
  for (auto& t : pool) t.join();
}

}  // namespace strata::classic
