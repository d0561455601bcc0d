#include "tasks/python_random.h"

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <unordered_set>

namespace strata::tasks {

PythonRandom::PythonRandom(uint64_t seed) {
  // init_by_array(key), the key being the seed's 32-bit words (at least one).
  std::vector<uint32_t> key = {uint32_t(seed)};
  if (seed >> 32) key.push_back(uint32_t(seed >> 32));
  constexpr size_t N = 624;
  std::vector<uint32_t> mt(N);
  mt[0] = 19650218u;
  for (size_t i = 1; i < N; ++i) mt[i] = 1812433253u * (mt[i - 1] ^ (mt[i - 1] >> 30)) + uint32_t(i);
  size_t i = 1, j = 0;
  for (size_t k = std::max(N, key.size()); k > 0; --k) {
    mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + key[j] + uint32_t(j);
    ++i, ++j;
    if (i >= N) mt[0] = mt[N - 1], i = 1;
    if (j >= key.size()) j = 0;
  }
  for (size_t k = N - 1; k > 0; --k) {
    mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) - uint32_t(i);
    ++i;
    if (i >= N) mt[0] = mt[N - 1], i = 1;
  }
  mt[0] = 0x80000000u;
  // std::mt19937 reads its 624 state words from a stream and twists before its next output,
  // as CPython does after seeding.
  std::stringstream state;
  for (uint32_t w : mt) state << w << ' ';
  state >> mt_;
}

uint32_t PythonRandom::getrandbits(int k) { return uint32_t(mt_()) >> (32 - k); }

uint64_t PythonRandom::randbelow(uint64_t n) {
  int k = 0;
  while ((n >> k) != 0) ++k;  // n.bit_length()
  uint64_t r = getrandbits(k);
  while (r >= n) r = getrandbits(k);
  return r;
}

std::vector<size_t> PythonRandom::sample(size_t n, size_t k) {
  if (k > n) throw std::invalid_argument("Sample larger than population or is negative");
  std::vector<size_t> result(k);
  size_t setsize = 21;  // size of a small set minus size of an empty list
  if (k > 5) setsize += size_t(std::pow(4.0, std::ceil(std::log(double(k) * 3) / std::log(4.0))));
  if (n <= setsize) {
    std::vector<size_t> pool(n);
    for (size_t i = 0; i < n; ++i) pool[i] = i;
    for (size_t i = 0; i < k; ++i) {
      const size_t j = randbelow(n - i);
      result[i] = pool[j];
      pool[j] = pool[n - i - 1];
    }
  } else {
    std::unordered_set<size_t> selected;
    for (size_t i = 0; i < k; ++i) {
      size_t j = randbelow(n);
      while (selected.count(j)) j = randbelow(n);
      selected.insert(j);
      result[i] = j;
    }
  }
  return result;
}

}  // namespace strata::tasks
