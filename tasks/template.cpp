#include "tasks/template.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <regex>
#include <vector>

#include "core/utf8.h"

namespace strata::tasks {

using json = nlohmann::json;

namespace {

// ---- values ------------------------------------------------------------------------------

// A value, or jinja2's Undefined (a missing field, kept until something uses it so that
// `is defined` and `default` can see it).
struct Val {
  json v;
  bool undefined = false;
  std::string name;  // the field path, for the error

  const json& get() const {
    if (undefined) throw MissingFieldError(name);
    return v;
  }
};

Val defined(json v) { return Val{std::move(v), false, ""}; }

std::string repr_string(const std::string& s) {
  // Python's repr: single quotes unless the text holds one and no double quote.
  bool has_single = s.find('\'') != std::string::npos;
  bool has_double = s.find('"') != std::string::npos;
  char q = has_single && !has_double ? '"' : '\'';
  std::string out(1, q);
  for (char c : s) {
    if (c == q || c == '\\') out += '\\', out += c;
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else out += c;
  }
  return out + q;
}

std::string python_repr(const json& v) {
  return v.is_string() ? repr_string(v.get<std::string>()) : python_str(v);
}

bool truthy(const json& v) {
  if (v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer()) return v.get<int64_t>() != 0;
  if (v.is_number()) return v.get<double>() != 0.0;
  if (v.is_string()) return !v.get<std::string>().empty();
  return !v.empty();
}

// Python's str.strip(chars): characters, Unicode white space without `chars`.
std::string strip(const std::string& s, const std::string& chars, bool left, bool right) {
  const std::vector<std::string> cs = utf8::chars(s), set = utf8::chars(chars);
  auto in = [&](const std::string& c) {
    return chars.empty() ? utf8::is_space(c) : std::find(set.begin(), set.end(), c) != set.end();
  };
  size_t b = 0, e = cs.size();
  if (left)
    while (b < e && in(cs[b])) ++b;
  if (right)
    while (e > b && in(cs[e - 1])) --e;
  std::string out;
  for (size_t i = b; i < e; ++i) out += cs[i];
  return out;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

std::vector<std::string> split(const std::string& s, const json& sep) {
  std::vector<std::string> out;
  if (sep.is_null()) {  // Python's split(): runs of whitespace, no empty pieces
    std::string cur;
    for (char c : s) {
      if (std::isspace(static_cast<unsigned char>(c))) {
        if (!cur.empty()) out.push_back(cur), cur.clear();
      } else {
        cur += c;
      }
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
  }
  std::string d = sep.get<std::string>();
  if (d.empty()) throw TemplateError("split: empty separator");
  size_t start = 0;
  for (size_t at = s.find(d); at != std::string::npos; at = s.find(d, start)) {
    out.push_back(s.substr(start, at - start));
    start = at + d.size();
  }
  out.push_back(s.substr(start));
  return out;
}

// Python's str methods work on characters (code points), not bytes (core/utf8.h).
std::string lower(const std::string& s) { return utf8::lower(s); }
std::string upper(const std::string& s) { return utf8::upper(s); }

const std::string& as_string(const json& v, const char* what) {
  if (!v.is_string()) throw TemplateError(fmt::format("{} needs a string, got {}", what, python_repr(v)));
  return v.get_ref<const std::string&>();
}

// A double as int64, truncated toward zero as Python's int(); out of int64's range (Python
// would give a big integer) is a TemplateError, not the undefined cast.
int64_t truncate_to_int(double d) {
  if (!(d > -9223372036854775808.0 && d < 9223372036854775808.0)) {
    throw TemplateError(fmt::format("int: {} is out of the range of a 64-bit integer", d));
  }
  return int64_t(d);
}

// An integer literal of a template; one too large for int64 is a TemplateError.
int64_t int_literal(const std::string& text) {
  try {
    return std::stoll(text);
  } catch (const std::exception&) {
    throw TemplateError(fmt::format("integer {} is out of the range of a 64-bit integer", text));
  }
}

int64_t to_int(const json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number()) return truncate_to_int(v.get<double>());
  if (v.is_boolean()) return v.get<bool>() ? 1 : 0;
  if (v.is_string()) {  // jinja2's int filter: 0 for text that is not a number
    std::string s = strip(v.get<std::string>(), "", true, true);
    try {
      size_t used = 0;
      int64_t i = std::stoll(s, &used);
      if (used == s.size()) return i;
      double d = std::stod(s, &used);
      if (used == s.size()) return truncate_to_int(d);
    } catch (const std::invalid_argument&) {
    } catch (const std::out_of_range&) {
    }
  }
  return 0;
}

// ---- expressions -------------------------------------------------------------------------

struct Tok {
  enum Kind { kName, kString, kInt, kFloat, kOp, kEnd } kind;
  std::string text;
};

std::vector<Tok> lex(const std::string& s) {
  std::vector<Tok> out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      out.push_back({Tok::kName, s.substr(i, j - i)});
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      bool is_float = false;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) ||
                              (s[j] == '.' && !is_float && j + 1 < s.size() &&
                               std::isdigit(static_cast<unsigned char>(s[j + 1]))))) {
        if (s[j] == '.') is_float = true;
        ++j;
      }
      out.push_back({is_float ? Tok::kFloat : Tok::kInt, s.substr(i, j - i)});
      i = j;
    } else if (c == '\'' || c == '"') {
      std::string text;
      size_t j = i + 1;
      for (; j < s.size() && s[j] != c; ++j) {
        if (s[j] == '\\' && j + 1 < s.size()) {
          char e = s[++j];
          text += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
        } else {
          text += s[j];
        }
      }
      if (j >= s.size()) throw TemplateError("unterminated string in '" + s + "'");
      out.push_back({Tok::kString, text});
      i = j + 1;
    } else {
      static const char* two[] = {"==", "!=", "<=", ">=", "//"};
      std::string op(1, c);
      for (const char* t : two)
        if (s.compare(i, 2, t) == 0) op = t;
      if (op.size() == 1 && std::string("+-*/%~<>()[].,|:=").find(c) == std::string::npos) {
        throw TemplateError(fmt::format("unexpected '{}' in '{}'", c, s));
      }
      out.push_back({Tok::kOp, op});
      i += op.size();
    }
  }
  out.push_back({Tok::kEnd, ""});
  return out;
}

struct Expr;
using ExprPtr = std::shared_ptr<Expr>;
struct Expr {
  enum Kind { kLiteral, kName, kAttr, kIndex, kList, kUnary, kBinary, kFilter, kCall, kTest, kCond };
  Kind kind;
  json literal;
  std::string name;  // variable, attribute, operator, filter, method or test name
  std::vector<ExprPtr> args;
};

ExprPtr make(Expr::Kind k, std::string name = "", std::vector<ExprPtr> args = {}) {
  auto e = std::make_shared<Expr>();
  e->kind = k;
  e->name = std::move(name);
  e->args = std::move(args);
  return e;
}

class Parser {
 public:
  Parser(std::vector<Tok> toks, std::string source) : t_(std::move(toks)), src_(std::move(source)) {}

  ExprPtr expression() {
    const Nesting nesting(*this);
    auto e = or_expr();
    if (is_name("if")) {  // x if cond else y
      ++p_;
      auto cond = or_expr();
      ExprPtr other = make(Expr::kLiteral);  // jinja2: undefined without an else, shown as ""
      other->literal = "";
      if (is_name("else")) ++p_, other = expression();
      return make(Expr::kCond, "", {cond, e, other});
    }
    return e;
  }
  bool at_end() const { return t_[p_].kind == Tok::kEnd; }
  const Tok& peek() const { return t_[p_]; }
  bool is_name(const std::string& n) const { return t_[p_].kind == Tok::kName && t_[p_].text == n; }
  bool is_op(const std::string& o) const { return t_[p_].kind == Tok::kOp && t_[p_].text == o; }
  std::string take_name() {
    if (t_[p_].kind != Tok::kName) fail("expected a name");
    return t_[p_++].text;
  }
  void expect_op(const std::string& o) {
    if (!is_op(o)) fail("expected '" + o + "'");
    ++p_;
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw TemplateError(fmt::format("{} at '{}' in '{}'", what, t_[p_].text, src_));
  }

 private:
  ExprPtr or_expr() {
    auto e = and_expr();
    while (is_name("or")) ++p_, e = make(Expr::kBinary, "or", {e, and_expr()});
    return e;
  }
  ExprPtr and_expr() {
    auto e = not_expr();
    while (is_name("and")) ++p_, e = make(Expr::kBinary, "and", {e, not_expr()});
    return e;
  }
  ExprPtr not_expr() {
    if (is_name("not")) {
      ++p_;
      const Nesting nesting(*this);
      return make(Expr::kUnary, "not", {not_expr()});
    }
    return compare();
  }
  ExprPtr compare() {
    auto e = concat();
    for (;;) {
      if (peek().kind == Tok::kOp &&
          (is_op("==") || is_op("!=") || is_op("<") || is_op(">") || is_op("<=") || is_op(">="))) {
        std::string op = t_[p_++].text;
        e = make(Expr::kBinary, op, {e, concat()});
      } else if (is_name("in")) {
        ++p_;
        e = make(Expr::kBinary, "in", {e, concat()});
      } else if (is_name("not") && t_[p_ + 1].kind == Tok::kName && t_[p_ + 1].text == "in") {
        p_ += 2;
        e = make(Expr::kUnary, "not", {make(Expr::kBinary, "in", {e, concat()})});
      } else {
        return e;
      }
    }
  }
  ExprPtr concat() {
    auto e = additive();
    while (is_op("~")) ++p_, e = make(Expr::kBinary, "~", {e, additive()});
    return e;
  }
  ExprPtr additive() {
    auto e = multiplicative();
    while (is_op("+") || is_op("-")) {
      std::string op = t_[p_++].text;
      e = make(Expr::kBinary, op, {e, multiplicative()});
    }
    return e;
  }
  ExprPtr multiplicative() {
    auto e = unary();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      std::string op = t_[p_++].text;
      e = make(Expr::kBinary, op, {e, unary()});
    }
    return e;
  }
  ExprPtr unary() {
    if (is_op("-")) {
      ++p_;
      const Nesting nesting(*this);
      return make(Expr::kUnary, "-", {unary()});
    }
    return filtered();
  }
  ExprPtr filtered() {
    auto e = postfix(primary());
    for (;;) {
      if (is_op("|")) {
        ++p_;
        std::string name = take_name();
        std::vector<ExprPtr> args = {e};
        if (is_op("(")) call_args(args);
        e = make(Expr::kFilter, name, args);
      } else if (is_name("is")) {
        ++p_;
        bool negate = false;
        if (is_name("not")) ++p_, negate = true;
        e = make(Expr::kTest, take_name(), {e});
        if (negate) e = make(Expr::kUnary, "not", {e});
      } else {
        return e;
      }
    }
  }
  void call_args(std::vector<ExprPtr>& args) {
    expect_op("(");
    while (!is_op(")")) {
      args.push_back(expression());
      if (!is_op(")")) expect_op(",");
    }
    ++p_;
  }
  ExprPtr postfix(ExprPtr e) {
    for (;;) {
      if (is_op(".")) {
        ++p_;
        if (peek().kind == Tok::kInt) {  // a.0 is a[0] in jinja2
          auto idx = make(Expr::kLiteral);
          idx->literal = int_literal(t_[p_++].text);
          e = make(Expr::kIndex, "", {e, idx});
          continue;
        }
        std::string name = take_name();
        if (is_op("(")) {
          std::vector<ExprPtr> args = {e};
          call_args(args);
          e = make(Expr::kCall, name, args);
        } else {
          e = make(Expr::kAttr, name, {e});
        }
      } else if (is_op("[")) {
        ++p_;
        if (is_op(":")) fail("slices are not supported");
        auto idx = expression();
        if (is_op(":")) fail("slices are not supported");
        expect_op("]");
        e = make(Expr::kIndex, "", {e, idx});
      } else {
        return e;
      }
    }
  }
  ExprPtr primary() {
    const Tok& t = peek();
    auto lit = make(Expr::kLiteral);
    switch (t.kind) {
      case Tok::kString:
        lit->literal = t.text;
        ++p_;
        while (peek().kind == Tok::kString) {  // "a" "b" is "ab", as in Python
          lit->literal = lit->literal.get<std::string>() + peek().text;
          ++p_;
        }
        return lit;
      case Tok::kInt:
        lit->literal = int_literal(t.text);
        ++p_;
        return lit;
      case Tok::kFloat:
        lit->literal = std::strtod(t.text.c_str(), nullptr);  // 1e999 is inf, as Python
        ++p_;
        return lit;
      case Tok::kName: {
        std::string n = t.text;
        ++p_;
        if (n == "true" || n == "True") return lit->literal = true, lit;
        if (n == "false" || n == "False") return lit->literal = false, lit;
        if (n == "none" || n == "None") return lit->literal = nullptr, lit;
        return make(Expr::kName, n);
      }
      case Tok::kOp:
        if (t.text == "(") {
          ++p_;
          auto e = expression();
          expect_op(")");
          return e;
        }
        if (t.text == "[") {
          ++p_;
          std::vector<ExprPtr> items;
          while (!is_op("]")) {
            items.push_back(expression());
            if (!is_op("]")) expect_op(",");
          }
          ++p_;
          return make(Expr::kList, "", items);
        }
        break;
      case Tok::kEnd:
        break;
    }
    fail("expected a value");
  }

  std::vector<Tok> t_;
  std::string src_;
  size_t p_ = 0;
  // Nested expressions ("[[[[...", "not not ...") parse recursively: past this depth a
  // template is refused rather than overflowing the stack (found by fuzz/task_template).
  static constexpr int kMaxNesting = 64;
  int nesting_ = 0;
  struct Nesting {
    Parser& p;
    explicit Nesting(Parser& parser) : p(parser) {
      if (++p.nesting_ > kMaxNesting) {
        --p.nesting_;
        throw TemplateError(fmt::format("expression nests deeper than {} levels in '{}'", kMaxNesting, p.src_));
      }
    }
    ~Nesting() { --p.nesting_; }
  };
};

ExprPtr parse_expression(const std::string& text) {
  Parser p(lex(text), text);
  auto e = p.expression();
  if (!p.at_end()) p.fail("unexpected text");
  return e;
}

// ---- evaluation --------------------------------------------------------------------------

struct Scope {
  const json& doc;
  std::vector<std::map<std::string, json>> locals;

  Val lookup(const std::string& name) const {
    for (auto it = locals.rbegin(); it != locals.rend(); ++it) {
      if (auto f = it->find(name); f != it->end()) return defined(f->second);
    }
    if (doc.is_object() && doc.contains(name)) return defined(doc[name]);
    return Val{json(), true, name};
  }
};

Val eval(const Expr& e, const Scope& s);

json index_value(const Val& base, const json& key, const std::string& path) {
  const json& b = base.get();
  if (b.is_array() && key.is_number_integer()) {
    int64_t i = key.get<int64_t>();
    int64_t n = int64_t(b.size());
    if (i < 0) i += n;
    if (i < 0 || i >= n) throw MissingFieldError(path);
    return b[size_t(i)];
  }
  if (b.is_string() && key.is_number_integer()) {  // s[i]: a character, as in Python
    const std::vector<std::string> cs = utf8::chars(b.get_ref<const std::string&>());
    int64_t i = key.get<int64_t>();
    if (i < 0) i += int64_t(cs.size());
    if (i < 0 || i >= int64_t(cs.size())) throw MissingFieldError(path);
    return cs[size_t(i)];
  }
  if (b.is_object() && key.is_string() && b.contains(key.get<std::string>())) {
    return b[key.get<std::string>()];
  }
  throw MissingFieldError(path);
}

std::string path_of(const Expr& e) {
  switch (e.kind) {
    case Expr::kName:
      return e.name;
    case Expr::kAttr:
      return path_of(*e.args[0]) + "." + e.name;
    case Expr::kIndex:
      return path_of(*e.args[0]) + "[" + python_repr(e.args[1]->kind == Expr::kLiteral
                                                          ? e.args[1]->literal
                                                          : json("...")) +
             "]";
    default:
      return "(expression)";
  }
}

json arith(const std::string& op, const json& a, const json& b) {
  if (op == "+" && a.is_string() && b.is_string()) return a.get<std::string>() + b.get<std::string>();
  if (op == "+" && a.is_array() && b.is_array()) {
    json out = a;
    for (const auto& x : b) out.push_back(x);
    return out;
  }
  if (op == "*" && a.is_string() && b.is_number_integer()) {
    std::string out;
    for (int64_t i = 0; i < b.get<int64_t>(); ++i) out += a.get<std::string>();
    return out;
  }
  bool numbers = (a.is_number() || a.is_boolean()) && (b.is_number() || b.is_boolean());
  if (!numbers) {
    throw TemplateError(fmt::format("cannot apply '{}' to {} and {}", op, python_repr(a), python_repr(b)));
  }
  bool ints = !a.is_number_float() && !b.is_number_float();
  double x = a.is_boolean() ? double(a.get<bool>()) : a.get<double>();
  double y = b.is_boolean() ? double(b.get<bool>()) : b.get<double>();
  if (ints) {
    int64_t i = to_int(a), j = to_int(b);
    if (op == "+") return i + j;
    if (op == "-") return i - j;
    if (op == "*") return i * j;
    if ((op == "//" || op == "%") && j == 0) throw TemplateError("division by zero");
    if (op == "//") return int64_t(std::floor(double(i) / double(j)));
    if (op == "%") return ((i % j) + j) % j;
  }
  if (op == "+") return x + y;
  if (op == "-") return x - y;
  if (op == "*") return x * y;
  if (y == 0) throw TemplateError("division by zero");
  if (op == "/") return x / y;
  if (op == "//") return std::floor(x / y);
  return x - y * std::floor(x / y);
}

bool compare(const std::string& op, const json& a, const json& b) {
  if (op == "==") return a == b || (a.is_number() && b.is_number() && a.get<double>() == b.get<double>());
  if (op == "!=") return !compare("==", a, b);
  bool lt, gt;
  if (a.is_number() && b.is_number()) {
    lt = a.get<double>() < b.get<double>(), gt = a.get<double>() > b.get<double>();
  } else if (a.is_string() && b.is_string()) {
    lt = a.get<std::string>() < b.get<std::string>(), gt = a.get<std::string>() > b.get<std::string>();
  } else {
    throw TemplateError(fmt::format("cannot compare {} and {}", python_repr(a), python_repr(b)));
  }
  if (op == "<") return lt;
  if (op == ">") return gt;
  if (op == "<=") return !gt;
  return !lt;  // >=
}

bool contains(const json& hay, const json& needle) {
  if (hay.is_string()) return hay.get<std::string>().find(as_string(needle, "'in'")) != std::string::npos;
  if (hay.is_array()) return std::any_of(hay.begin(), hay.end(), [&](const json& x) { return compare("==", x, needle); });
  if (hay.is_object()) return needle.is_string() && hay.contains(needle.get<std::string>());
  throw TemplateError("'in' needs a string, list or mapping, got " + python_repr(hay));
}

json apply_filter(const std::string& name, const Val& self, const std::vector<json>& a) {
  auto arg = [&](size_t i, json dflt) { return i < a.size() ? a[i] : dflt; };
  if (name == "default" || name == "d") return self.undefined ? arg(0, "") : self.v;
  const json& v = self.get();
  if (name == "trim") return strip(as_string(v, "trim"), a.empty() ? "" : as_string(a[0], "trim"), true, true);
  if (name == "lower") return lower(python_str(v));
  if (name == "upper") return upper(python_str(v));
  if (name == "capitalize") {
    const std::vector<std::string> cs = utf8::chars(python_str(v));
    std::string s;
    for (size_t i = 0; i < cs.size(); ++i) s += i == 0 ? upper(cs[i]) : lower(cs[i]);
    return s;
  }
  if (name == "title") {
    std::string s;
    bool start = true;  // jinja2 starts a word after whitespace or one of -([{<
    for (const auto& c : utf8::chars(python_str(v))) {
      s += start ? upper(c) : lower(c);
      start = utf8::is_space(c) || (c.size() == 1 && std::string("-([{<").find(c[0]) != std::string::npos);
    }
    return s;
  }
  if (name == "replace") {
    if (a.size() < 2) throw TemplateError("replace needs two arguments");
    return replace_all(python_str(v), python_str(a[0]), python_str(a[1]));
  }
  if (name == "regex_replace") {  // the harness's own filter: re.sub(pattern, repl, s)
    if (a.size() < 2) throw TemplateError("regex_replace needs two arguments");
    std::string repl = python_str(a[1]);
    // Python's \1 is ECMAScript's $1
    repl = std::regex_replace(repl, std::regex(R"(\\(\d))"), "$$$1");
    return std::regex_replace(python_str(v), std::regex(python_str(a[0])), repl);
  }
  if (name == "join") {
    if (!v.is_array()) throw TemplateError("join needs a list, got " + python_repr(v));
    std::string sep = a.empty() ? "" : python_str(a[0]), out;
    for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + python_str(v[i]);
    return out;
  }
  if (name == "string") return python_str(v);
  if (name == "int") return to_int(v);
  if (name == "float") {
    if (v.is_number()) return v.get<double>();
    try {
      return std::stod(python_str(v));
    } catch (const std::exception&) {
      return 0.0;
    }
  }
  if (name == "length" || name == "count") {
    if (v.is_string()) return int64_t(utf8::length(v.get<std::string>()));
    if (v.is_array() || v.is_object()) return int64_t(v.size());
    throw TemplateError("length of " + python_repr(v));
  }
  if (name == "first" || name == "last") {
    if (v.is_string() && !v.get<std::string>().empty()) {
      const std::vector<std::string> cs = utf8::chars(v.get_ref<const std::string&>());
      return name == "first" ? cs.front() : cs.back();
    }
    if (v.is_array() && !v.empty()) return name == "first" ? v.front() : v.back();
    throw TemplateError(name + " of an empty or non-sequence value " + python_repr(v));
  }
  if (name == "list") {
    if (v.is_array()) return v;
    if (v.is_string()) {
      json out = json::array();
      for (const auto& c : utf8::chars(v.get<std::string>())) out.push_back(c);
      return out;
    }
    throw TemplateError("list of " + python_repr(v));
  }
  throw TemplateError("unsupported filter '" + name + "'");
}

json call_method(const std::string& name, const json& self, const std::vector<json>& a) {
  if (self.is_array() && (name == "index" || name == "count") && a.size() == 1) {  // list methods
    if (name == "count") return int64_t(std::count(self.begin(), self.end(), a[0]));
    const auto it = std::find(self.begin(), self.end(), a[0]);
    if (it == self.end()) {  // Python's ValueError
      throw TemplateError(fmt::format("{} is not in list {}", python_repr(a[0]), python_repr(self)));
    }
    return int64_t(it - self.begin());
  }
  const std::string& s = as_string(self, ("." + name + "()").c_str());
  auto chars = [&] { return a.empty() || a[0].is_null() ? std::string() : as_string(a[0], "strip"); };
  if (name == "strip") return strip(s, chars(), true, true);
  if (name == "lstrip") return strip(s, chars(), true, false);
  if (name == "rstrip") return strip(s, chars(), false, true);
  if (name == "lower") return lower(s);
  if (name == "upper") return upper(s);
  if (name == "split") {
    json out = json::array();
    for (auto& p : split(s, a.empty() ? json() : a[0])) out.push_back(p);
    return out;
  }
  if (name == "replace" && a.size() == 2) return replace_all(s, as_string(a[0], "replace"), as_string(a[1], "replace"));
  if (name == "startswith" && a.size() == 1) return s.rfind(as_string(a[0], "startswith"), 0) == 0;
  if (name == "endswith" && a.size() == 1) {
    const auto& t = as_string(a[0], "endswith");
    return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
  }
  throw TemplateError("unsupported method '" + name + "()'");
}

Val eval(const Expr& e, const Scope& s) {
  switch (e.kind) {
    case Expr::kLiteral:
      return defined(e.literal);
    case Expr::kName:
      return s.lookup(e.name);
    case Expr::kAttr: {
      Val base = eval(*e.args[0], s);
      const json& b = base.get();
      if (b.is_object() && b.contains(e.name)) return defined(b[e.name]);
      return Val{json(), true, path_of(e)};
    }
    case Expr::kIndex: {
      Val base = eval(*e.args[0], s);
      json key = eval(*e.args[1], s).get();
      try {
        return defined(index_value(base, key, path_of(e)));
      } catch (const MissingFieldError& m) {
        return Val{json(), true, m.field()};
      }
    }
    case Expr::kList: {
      json out = json::array();
      for (const auto& x : e.args) out.push_back(eval(*x, s).get());
      return defined(out);
    }
    case Expr::kUnary: {
      if (e.name == "not") return defined(!truthy(eval(*e.args[0], s).get()));
      json v = eval(*e.args[0], s).get();
      if (v.is_number_integer()) return defined(-v.get<int64_t>());
      if (v.is_number()) return defined(-v.get<double>());
      throw TemplateError("cannot negate " + python_repr(v));
    }
    case Expr::kBinary: {
      if (e.name == "and") {
        json a = eval(*e.args[0], s).get();
        return truthy(a) ? defined(eval(*e.args[1], s).get()) : defined(a);
      }
      if (e.name == "or") {
        json a = eval(*e.args[0], s).get();
        return truthy(a) ? defined(a) : defined(eval(*e.args[1], s).get());
      }
      json a = eval(*e.args[0], s).get();
      json b = eval(*e.args[1], s).get();
      if (e.name == "~") return defined(python_str(a) + python_str(b));
      if (e.name == "in") return defined(contains(b, a));
      static const std::vector<std::string> kCompare = {"==", "!=", "<", ">", "<=", ">="};
      if (std::find(kCompare.begin(), kCompare.end(), e.name) != kCompare.end()) {
        return defined(compare(e.name, a, b));
      }
      return defined(arith(e.name, a, b));
    }
    case Expr::kFilter: {
      Val self = eval(*e.args[0], s);
      std::vector<json> args;
      for (size_t i = 1; i < e.args.size(); ++i) args.push_back(eval(*e.args[i], s).get());
      return defined(apply_filter(e.name, self, args));
    }
    case Expr::kCall: {
      json self = eval(*e.args[0], s).get();
      std::vector<json> args;
      for (size_t i = 1; i < e.args.size(); ++i) args.push_back(eval(*e.args[i], s).get());
      return defined(call_method(e.name, self, args));
    }
    case Expr::kTest: {
      Val v = eval(*e.args[0], s);
      if (e.name == "defined") return defined(!v.undefined);
      if (e.name == "undefined") return defined(v.undefined);
      const json& x = v.get();
      if (e.name == "none") return defined(x.is_null());
      if (e.name == "string") return defined(x.is_string());
      if (e.name == "number") return defined(x.is_number());
      throw TemplateError("unsupported test 'is " + e.name + "'");
    }
    case Expr::kCond:
      return truthy(eval(*e.args[0], s).get()) ? eval(*e.args[1], s) : eval(*e.args[2], s);
  }
  throw TemplateError("bad expression");
}

}  // namespace

// ---- statements --------------------------------------------------------------------------

struct Template::Node {
  enum Kind { kText, kOutput, kIf, kFor, kBlock } kind = kBlock;
  std::string text;                                  // kText; kFor: the loop variable
  ExprPtr expr;                                      // kOutput; kFor: the list
  // kIf: conditions[i] (null for else) guards bodies[i]. Two vectors, not a vector of
  // pairs: a pair needs Node complete where clang's standard library checks it.
  std::vector<ExprPtr> conditions;
  std::vector<Node> bodies;
  std::vector<Node> children;                        // kBlock; kFor: the body
};

namespace {

struct Segment {
  enum Kind { kText, kExpr, kStmt } kind;
  std::string text;
};

// Cuts the source into text, {{ }} and {% %} (comments dropped), applying '-' trimming.
std::vector<Segment> segments(const std::string& src) {
  std::vector<Segment> out;
  size_t i = 0;
  bool trim_next = false;
  while (i <= src.size()) {
    size_t open = src.find('{', i);
    while (open != std::string::npos && open + 1 < src.size() && src[open + 1] != '{' &&
           src[open + 1] != '%' && src[open + 1] != '#') {
      open = src.find('{', open + 1);
    }
    if (open != std::string::npos && open + 1 >= src.size()) open = std::string::npos;
    std::string text = src.substr(i, open == std::string::npos ? std::string::npos : open - i);
    if (trim_next) text = strip(text, "", true, false);
    bool trim_prev = open != std::string::npos && open + 2 < src.size() && src[open + 2] == '-';
    if (trim_prev) text = strip(text, "", false, true);
    if (!text.empty()) out.push_back({Segment::kText, text});
    if (open == std::string::npos) break;
    char kind = src[open + 1];
    std::string close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    size_t end = src.find(close, open + 2);
    if (end == std::string::npos) {
      throw TemplateError(fmt::format("no closing '{}' for the tag at offset {}", close, open));
    }
    std::string inner = src.substr(open + 2, end - open - 2);
    if (!inner.empty() && inner[0] == '-') inner.erase(0, 1);
    trim_next = !inner.empty() && inner.back() == '-' && kind != '#';
    if (trim_next) inner.pop_back();
    if (kind == '#') trim_next = src[end - 1] == '-';
    if (kind == '{') out.push_back({Segment::kExpr, inner});
    if (kind == '%') out.push_back({Segment::kStmt, strip(inner, "", true, true)});
    i = end + 2;
  }
  return out;
}

std::string first_word(const std::string& s) {
  size_t e = 0;
  while (e < s.size() && !std::isspace(static_cast<unsigned char>(s[e]))) ++e;
  return s.substr(0, e);
}

// Parses segments from `pos` into `block` until a statement whose first word is in `stops`;
// returns that statement ("" at the end of the template).
std::string parse_block(const std::vector<Segment>& segs, size_t& pos, Template::Node& block,
                        const std::vector<std::string>& stops) {
  using Node = Template::Node;
  while (pos < segs.size()) {
    const Segment& seg = segs[pos++];
    if (seg.kind == Segment::kText) {
      Node n;
      n.kind = Node::kText;
      n.text = seg.text;
      block.children.push_back(std::move(n));
      continue;
    }
    if (seg.kind == Segment::kExpr) {
      Node n;
      n.kind = Node::kOutput;
      n.expr = parse_expression(seg.text);
      block.children.push_back(std::move(n));
      continue;
    }
    std::string word = first_word(seg.text);
    if (std::find(stops.begin(), stops.end(), word) != stops.end()) return seg.text;
    if (word == "if") {
      Node n;
      n.kind = Node::kIf;
      ExprPtr cond = parse_expression(seg.text.substr(2));
      for (;;) {
        Node body;
        std::string end = parse_block(segs, pos, body, {"elif", "else", "endif"});
        n.conditions.push_back(cond);
        n.bodies.push_back(std::move(body));
        std::string w = first_word(end);
        if (w == "elif") {
          cond = parse_expression(end.substr(4));
        } else if (w == "else") {
          cond = nullptr;
          Node other;
          if (first_word(parse_block(segs, pos, other, {"endif"})) != "endif") {
            throw TemplateError("'{% if %}' without '{% endif %}'");
          }
          n.conditions.push_back(nullptr);
          n.bodies.push_back(std::move(other));
          break;
        } else if (w == "endif") {
          break;
        } else {
          throw TemplateError("'{% if %}' without '{% endif %}'");
        }
      }
      block.children.push_back(std::move(n));
    } else if (word == "for") {
      std::string rest = seg.text.substr(3);
      auto toks = lex(rest);
      if (toks.size() < 4 || toks[0].kind != Tok::kName || toks[1].text != "in") {
        throw TemplateError("expected '{% for NAME in EXPR %}', got '{% " + seg.text + " %}'");
      }
      Node n;
      n.kind = Node::kFor;
      n.text = toks[0].text;
      n.expr = parse_expression(rest.substr(rest.find(" in ") + 4));
      Node body;
      if (first_word(parse_block(segs, pos, body, {"endfor"})) != "endfor") {
        throw TemplateError("'{% for %}' without '{% endfor %}'");
      }
      n.children = std::move(body.children);
      block.children.push_back(std::move(n));
    } else {
      throw TemplateError("unsupported statement '{% " + seg.text + " %}'");
    }
  }
  return "";
}

void render_node(const Template::Node& n, Scope& s, std::string& out) {
  using Node = Template::Node;
  switch (n.kind) {
    case Node::kText:
      out += n.text;
      return;
    case Node::kOutput:
      out += python_str(eval(*n.expr, s).get());
      return;
    case Node::kBlock:
      for (const auto& c : n.children) render_node(c, s, out);
      return;
    case Node::kIf:
      for (size_t i = 0; i < n.conditions.size(); ++i) {
        if (!n.conditions[i] || truthy(eval(*n.conditions[i], s).get())) {
          render_node(n.bodies[i], s, out);
          return;
        }
      }
      return;
    case Node::kFor: {
      json list = eval(*n.expr, s).get();
      if (list.is_string()) list = apply_filter("list", defined(list), {});
      if (!list.is_array()) throw TemplateError("for: not a list: " + python_repr(list));
      int64_t len = int64_t(list.size());
      for (int64_t i = 0; i < len; ++i) {
        json loop = {{"index", i + 1}, {"index0", i}, {"first", i == 0}, {"last", i == len - 1},
                     {"length", len}, {"revindex", len - i}, {"revindex0", len - i - 1}};
        s.locals.push_back({{n.text, list[size_t(i)]}, {"loop", loop}});
        for (const auto& c : n.children) render_node(c, s, out);
        s.locals.pop_back();
      }
      return;
    }
  }
}

}  // namespace

Template::Template(const std::string& source) : source_(source), root_(std::make_unique<Node>()) {
  auto segs = segments(source);
  size_t pos = 0;
  std::string end = parse_block(segs, pos, *root_, {"endif", "endfor", "else", "elif"});
  if (!end.empty()) throw TemplateError("unexpected '{% " + end + " %}'");
}

Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

std::string Template::render(const json& doc) const {
  Scope s{doc, {}};
  std::string out;
  render_node(*root_, s, out);
  return out;
}

json Template::evaluate(const json& doc) const {
  if (root_->children.size() == 1 && root_->children[0].kind == Node::kOutput) {
    Scope s{doc, {}};
    return eval(*root_->children[0].expr, s).get();
  }
  return render(doc);
}

std::string python_str(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "None";
  if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isnan(d)) return "nan";
    if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
    std::string s = fmt::format("{}", d);
    if (s.find_first_of(".en") == std::string::npos) s += ".0";
    return s;
  }
  if (v.is_array()) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + python_repr(v[i]);
    return out + "]";
  }
  std::string out = "{";
  bool first = true;
  for (auto it = v.begin(); it != v.end(); ++it) {
    out += (first ? "" : ", ") + repr_string(it.key()) + ": " + python_repr(it.value());
    first = false;
  }
  return out + "}";
}

}  // namespace strata::tasks
