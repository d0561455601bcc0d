// libFuzzer target: configs with overrides (core/config.h), read the way the trainer's
// readers read them.
//
// Input: YAML text, then optionally a NUL byte and NUL-separated `key=value` overrides.
// Contract: Document::parse and every Reader call either succeed or throw InputError;
// any other exception, a crash or a hang is a finding.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/errors.h"

namespace {

using strata::InputError;
using strata::config::Document;
using strata::config::Reader;

template <class F>
void quietly(F&& f) {
  try {
    f();
  } catch (const InputError&) {
  }
}

// Reads every key as each type a reader might ask for, then finishes the mapping.
void walk(Reader r, int depth) {
  if (depth > 64) return;
  for (const auto& key : r.keys()) {
    (void)r.where(key);
    (void)r.has(key);
    if (r.is_map(key)) {
      quietly([&] { walk(r.child(key), depth + 1); });
      quietly([&] {
        std::map<std::string, std::string> m;
        r.read(key, m);
      });
      continue;
    }
    if (r.is_list(key)) {
      quietly([&] {
        for (auto& item : r.children(key)) walk(item, depth + 1);
      });
      quietly([&] {
        std::vector<int64_t> v;
        r.read(key, v);
      });
      quietly([&] {
        std::vector<double> v;
        r.read(key, v);
      });
      quietly([&] {
        std::vector<std::string> v;
        r.read(key, v);
      });
      continue;
    }
    quietly([&] {
      bool b = false;
      r.read(key, b);
    });
    quietly([&] {
      int64_t i = 0;
      r.read(key, i, strata::config::Range::at_least(0));
    });
    quietly([&] {
      int i = 0;
      r.read(key, i);
    });
    quietly([&] {
      double d = 0;
      r.read(key, d, strata::config::Range::between(0, 1));
    });
    quietly([&] {
      float f = 0;
      r.read(key, f);
    });
    quietly([&] {
      std::string s;
      r.read_choice(key, s, {"gpt", "bert", "cnn"});
    });
  }
  quietly([&] { r.require("type"); });
  quietly([&] { r.finish(); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    const size_t nul = input.find('\0', start);
    parts.push_back(input.substr(start, nul == std::string::npos ? nul : nul - start));
    if (nul == std::string::npos) break;
    start = nul + 1;
  }
  const std::vector<std::string> overrides(parts.begin() + 1, parts.end());
  try {
    const Document doc = Document::parse(parts[0], "fuzz.yaml", overrides);
    quietly([&] { doc.set_default("model.vocab_size", "300"); });
    walk(doc.root(), 0);
    (void)doc.resolved_yaml();
    (void)doc.yaml();
  } catch (const InputError&) {
  }
  return 0;
}
