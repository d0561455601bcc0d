// tasks::PythonRandom against CPython's random.Random itself (the .venv's python): the same
// getrandbits and sample draws, through both of Random.sample's branches, for several seeds.

#include <torch/torch.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "core/python.h"
#include "tasks/python_random.h"

// Last: glog (through LibTorch) also defines CHECK, and Catch's must win.
#include <catch2/catch.hpp>

using strata::tasks::PythonRandom;

TEST_CASE("python random: getrandbits and sample equal CPython's random.Random", "[tasks][sampler]") {
  // (n, k) in order from one generator: the pool branch (n small against k) and the set
  // branch (n large), k at and above the 5 where the set size changes.
  const std::vector<std::pair<size_t, size_t>> draws = {{10, 3}, {30, 5}, {1000, 5}, {50, 6},
                                                        {3, 3},  {2000, 21}, {22, 2}, {85, 6}};
  for (uint64_t seed : {uint64_t(1234), uint64_t(0), (uint64_t(1) << 40) + 5}) {
    DYNAMIC_SECTION("seed " << seed) {
      std::string script = "import random; r = random.Random(" + std::to_string(seed) +
                           "); print(*[r.getrandbits(32) for _ in range(3)], r.getrandbits(7))";
      for (const auto& [n, k] : draws) {
        script += "; print(*r.sample(range(" + std::to_string(n) + "), " + std::to_string(k) + "))";
      }
      FILE* p = popen((strata::python_program() + " -c '" + script + "'").c_str(), "r");
      REQUIRE(p != nullptr);
      std::string out;
      char buf[4096];
      while (std::fgets(buf, sizeof buf, p)) out += buf;
      REQUIRE(pclose(p) == 0);
      std::istringstream lines(out);
      std::string line;
      PythonRandom r(seed);
      std::getline(lines, line);
      std::ostringstream mine;
      mine << r.getrandbits(32) << " " << r.getrandbits(32) << " " << r.getrandbits(32) << " "
           << r.getrandbits(7);
      CHECK(mine.str() == line);
      for (const auto& [n, k] : draws) {
        INFO("sample(range(" << n << "), " << k << ")");
        std::getline(lines, line);
        std::ostringstream got;
        const auto s = r.sample(n, k);
        for (size_t i = 0; i < s.size(); ++i) got << (i ? " " : "") << s[i];
        CHECK(got.str() == line);
      }
    }
  }
  PythonRandom r(1);
  CHECK_THROWS_AS(r.sample(3, 4), std::invalid_argument);
}
