// The Jinja subset against jinja2: template_fixture.json holds jinja2's renderings
// (tests/tasks/make_template_fixture.py, run with .venv/bin/python).

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tasks/template.h"
#include "tests/support/process.h"

using strata::tasks::MissingFieldError;
using strata::tasks::Template;
using strata::tasks::TemplateError;
using json = nlohmann::json;

namespace {
json fixture() {
  return json::parse(strata::testing::read_text(strata::testing::source_dir() +
                                                "/tests/tasks/template_fixture.json"));
}
}  // namespace

TEST_CASE("template: renders as jinja2 does", "[tasks][template]") {
  auto f = fixture();
  REQUIRE(f["cases"].size() > 30);
  for (const auto& c : f["cases"]) {
    const std::string source = c["template"];
    INFO("template: " << source);
    CHECK(Template(source).render(f["doc"]) == c["expected"].get<std::string>());
  }
}

TEST_CASE("template: a missing field is an error naming it", "[tasks][template]") {
  auto f = fixture();
  const std::vector<std::string> fields = {"answr", "ctx.z", "choices[7]", "doc.y"};
  REQUIRE(f["errors"].size() == fields.size());
  for (size_t i = 0; i < fields.size(); ++i) {
    const std::string source = f["errors"][i]["template"];
    INFO("template: " << source);
    try {
      Template(source).render(f["doc"]);
      FAIL("no error");
    } catch (const MissingFieldError& e) {
      CHECK(e.field() == fields[i]);
    }
  }
}

TEST_CASE("template: syntax errors and unsupported constructs are refused", "[tasks][template]") {
  CHECK_THROWS_AS(Template("{{ a "), TemplateError);
  CHECK_THROWS_AS(Template("{% if a %}x"), TemplateError);
  CHECK_THROWS_AS(Template("{% macro m() %}{% endmacro %}"), TemplateError);
  CHECK_THROWS_AS(Template("{{ a[1:] }}"), TemplateError);
  CHECK_THROWS_AS(Template("{{ a | wordwrap }}").render(json{{"a", "x"}}), TemplateError);
  // fuzz/task_template's finding: deep nesting overflowed the parser's stack.
  CHECK_THROWS_WITH(Template("{{" + std::string(20000, '[') + "}}"), Catch::Contains("nests deeper"));
  std::string nots;
  for (int i = 0; i < 5000; ++i) nots += "not ";
  CHECK_THROWS_WITH(Template("{{ " + nots + "a }}"), Catch::Contains("nests deeper"));
  CHECK_THROWS_WITH(Template("{{ " + std::string(5000, '-') + "1 }}"), Catch::Contains("nests deeper"));
  CHECK(Template("{{ [[[1]]][0][0][0] }}").render(json::object()) == "1");
}

TEST_CASE("template: a lone expression evaluates to its value", "[tasks][template]") {
  json doc = {{"choices", {"a", "b"}}, {"n", 3}};
  CHECK(Template("{{choices}}").evaluate(doc) == json({"a", "b"}));
  CHECK(Template("{{ n }}").evaluate(doc) == json(3));
  CHECK(Template("n={{ n }}").evaluate(doc) == json("n=3"));
}
