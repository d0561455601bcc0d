#pragma once
// Small, fixed hash functions whose values are part of Strata's contracts (corpus splits,
// data order, sample audits): they must never change between versions or machines.

#include <cstddef>
#include <cstdint>

namespace strata {

// splitmix64's finaliser (Steele, Lea and Flood 2014): a well-mixed 64-bit value of x.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// 64-bit FNV-1a over n bytes.
inline uint64_t fnv1a64(const void* data, size_t n) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; ++i) h = (h ^ bytes[i]) * 1099511628211ULL;
  return h;
}

}  // namespace strata
