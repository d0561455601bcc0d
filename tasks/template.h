#pragma once
// A small subset of Jinja2, enough for lm-evaluation-harness task prompts (`doc_to_text`,
// `doc_to_target`, `doc_to_choice`, `description`). Debian 12 packages no C++ Jinja, and the
// harness renders its templates with jinja2 (StrictUndefined, keep_trailing_newline), so
// this renderer follows jinja2's rules for what it supports and refuses the rest by name.
// tests/tasks/test_template.cpp compares it with python3-jinja2 on a committed fixture.
//
// Supported:
// - `{{ expr }}`, `{% if %}/{% elif %}/{% else %}/{% endif %}`, `{% for x in xs %}` with
//   `loop.index`, `loop.index0`, `loop.first`, `loop.last`, `loop.length`; `{# #}`
//   comments; `{%-`, `-%}`, `{{-`, `-}}` whitespace control.
// - expressions: fields (`question`), nested fields (`a.b`, `a['b']`), indexing
//   (`choices[0]`, `choices[-1]`), string, integer, float, boolean, none and list literals,
//   `+ - * / // %`, `~` (string concatenation), comparisons, `in`, `not in`, `and`, `or`,
//   `not`, `x if c else y`, tests `is defined`, `is none`, `is string`, `is number`.
// - filters: trim, lower, upper, capitalize, title, replace(a, b), join(sep), string, int,
//   float, length, count, first, last, default(v), list, regex_replace(pattern, repl).
// - string methods: strip(), lstrip(), rstrip(), lower(), upper(), split(sep),
//   replace(a, b), startswith(s), endswith(s).
//
// Values are JSON values (the documents are JSON rows). Output of a value follows Python's
// str(): True, None, 1.0, ['a', 'b'].

#include <nlohmann/json.hpp>

#include <memory>
#include <stdexcept>
#include <string>

namespace strata::tasks {

// A template that cannot be parsed, or an expression jinja2 would refuse (a bad type, an
// unsupported filter). `what()` says what and where in the template.
class TemplateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Rendering named a field the document does not have (jinja2's StrictUndefined).
class MissingFieldError : public TemplateError {
 public:
  explicit MissingFieldError(const std::string& field)
      : TemplateError("no field '" + field + "'"), field_(field) {}
  const std::string& field() const { return field_; }

 private:
  std::string field_;
};

class Template {
 public:
  // Parses `source`; a syntax error or an unsupported construct throws TemplateError.
  explicit Template(const std::string& source);
  ~Template();
  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;

  // Renders with the fields of `doc` (a JSON object) as the variables. Throws
  // MissingFieldError for a field `doc` lacks, TemplateError for a bad expression.
  std::string render(const nlohmann::json& doc) const;

  // The value of a template that is a single `{{ expr }}` (with nothing around it), not
  // turned into text: how the harness reads `doc_to_choice: "{{choices}}"` as a list.
  // Other templates render to a string value.
  nlohmann::json evaluate(const nlohmann::json& doc) const;

  const std::string& source() const { return source_; }

  struct Node;

 private:
  std::string source_;
  std::unique_ptr<Node> root_;
};

// Python's str() of a JSON value: strings as they are, True/False/None, floats with a
// decimal point, lists and objects as Python's repr writes them.
std::string python_str(const nlohmann::json& value);

}  // namespace strata::tasks
