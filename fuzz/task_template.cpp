// libFuzzer target: task YAML plus templates (tasks/template.h), the way a task file's
// templates are read and rendered.
//
// Input: a task file's YAML; its doc_to_text, doc_to_target, doc_to_choice and description
// strings are parsed as templates and rendered (and evaluated, as doc_to_choice is) against
// fixed documents and the file's own `doc:` mapping, if any. Input that is not a YAML
// mapping is itself one template, rendered the same way.
// Contract: every step succeeds or throws InputError or TemplateError (MissingFieldError
// included); any other exception, a crash or a hang is a finding.

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/errors.h"
#include "tasks/template.h"

namespace {

using json = nlohmann::json;
using strata::InputError;
using strata::tasks::Template;
using strata::tasks::TemplateError;

// YAML as JSON: scalars as strings (numbers and booleans where they read as such).
json to_json(const YAML::Node& n, int depth = 0) {
  if (depth > 32) return json();
  if (n.IsMap()) {
    json out = json::object();
    for (const auto& kv : n) out[kv.first.Scalar()] = to_json(kv.second, depth + 1);
    return out;
  }
  if (n.IsSequence()) {
    json out = json::array();
    for (const auto& item : n) out.push_back(to_json(item, depth + 1));
    return out;
  }
  if (!n.IsScalar()) return json();
  const std::string& s = n.Scalar();
  int64_t i = 0;
  double d = 0;
  bool b = false;
  if (YAML::convert<int64_t>::decode(n, i)) return i;
  if (YAML::convert<double>::decode(n, d) && std::isfinite(d)) return d;
  if (YAML::convert<bool>::decode(n, b)) return b;
  return s;
}

std::vector<json> documents() {
  return {json::object(),
          {{"question", "  What is 2 + 3?  "}, {"choices", {"four", "five", "six"}}, {"label", 1},
           {"answerKey", "B"}, {"labels", {"A", "B", "C"}}, {"ratio", 2.5}, {"flag", true},
           {"none", nullptr}, {"text", "日本語のテキスト élève"}, {"ctx", {{"a", "x"}, {"b", {{"c", 1}}}}}},
          {{"goal", ""}, {"sol1", "a"}, {"sol2", "b"}, {"label", -1}, {"choices", json::array()}}};
}

void render(const std::string& source, const std::vector<json>& docs) {
  try {
    Template t(source);
    for (const auto& d : docs) {
      try {
        (void)t.render(d);
        (void)t.evaluate(d);
      } catch (const TemplateError&) {
      }
    }
  } catch (const TemplateError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<json> docs = documents();
  std::vector<std::string> templates;
  try {
    auto doc = strata::config::Document::parse(text, "fuzz.yaml");
    auto r = doc.root();
    for (const char* key : {"doc_to_text", "doc_to_target", "doc_to_choice", "description"}) {
      if (r.has(key) && !r.is_map(key) && !r.is_list(key)) {
        std::string s;
        try {
          r.read(key, s);
          templates.push_back(s);
        } catch (const InputError&) {
        }
      }
    }
    try {
      const YAML::Node root = YAML::Load(text);
      if (root.IsMap() && root["doc"] && root["doc"].IsMap()) docs.push_back(to_json(root["doc"]));
    } catch (const YAML::Exception&) {
    }
  } catch (const InputError&) {
    templates.push_back(text);  // not a task file: the input is one template
  }
  for (const auto& t : templates) render(t, docs);
  return 0;
}
