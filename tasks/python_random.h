#pragma once
// CPython's random.Random, for the harness's few-shot draws: lm-evaluation-harness samples
// shots with `random.Random(fewshot_seed).sample(docs, k)` (lm_eval/api/samplers.py), one
// generator per task, the documents drawn for in order. The same integer seed gives the
// same draws here.
//
// - Seeding: an integer seed becomes the key of MT19937's init_by_array (its 32-bit words,
//   least significant first), as CPython's random_seed does (Modules/_randommodule.c).
// - The generator: MT19937 (std::mt19937, whose output equals CPython's genrand_uint32 for
//   the same state).
// - getrandbits(k), k <= 32: the top k bits of one output; randbelow(n): getrandbits of n's
//   bit length, redrawn while >= n (Random._randbelow_with_getrandbits).
// - sample(n, k): Random.sample over positions 0..n-1, both of its branches: a pool with
//   swaps when n is at most the size of a k-element set (21, plus 4^ceil(log4(3k)) when
//   k > 5), otherwise redraws until an unused position comes up.

#include <cstdint>
#include <random>
#include <vector>

namespace strata::tasks {

class PythonRandom {
 public:
  explicit PythonRandom(uint64_t seed);

  uint32_t getrandbits(int k);  // 0 < k <= 32
  uint64_t randbelow(uint64_t n);  // n >= 1, n < 2^32
  // k distinct positions in [0, n), in the order Random.sample(range(n), k) returns them.
  // k > n is std::invalid_argument, as Python's ValueError.
  std::vector<size_t> sample(size_t n, size_t k);

 private:
  std::mt19937 mt_;
};

}  // namespace strata::tasks
