#include "core/config.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "core/errors.h"

namespace strata::config {

struct Document::State {
  std::string file;
  YAML::Node tree;
  YAML::Node resolved;
  std::map<std::string, std::string> overrides;  // dotted path -> "a.b=c" as typed
  std::set<std::string> used;                     // dotted paths read by someone
  // What parse() was given, so that section() can parse it again; empty for a section.
  std::string text;
  std::vector<std::string> override_list;
  bool is_section = false;
};

struct Reader::Impl {
  std::shared_ptr<Document::State> doc;
  YAML::Node node;     // the mapping (may be undefined: all defaults)
  std::string prefix;  // "model." for the model section, "" for the root
  std::vector<std::string> known;
};

namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream ss(path);
  for (std::string part; std::getline(ss, part, '.');) parts.push_back(part);
  return parts;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Sets `value` at the dotted `path` of `root`, creating mappings on the way.
void set_path(YAML::Node root, const std::vector<std::string>& parts, const YAML::Node& value,
              const std::string& what) {
  YAML::Node cur = root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node next = cur[parts[i]];
    if (next.IsDefined() && !next.IsNull() && !next.IsMap()) {
      throw InputError(fmt::format("{}: '{}' is not a mapping", what, parts[i]));
    }
    if (!next.IsDefined() || next.IsNull()) cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
    cur.reset(cur[parts[i]]);
  }
  cur[parts.back()] = value;
}

std::string scalar_text(const YAML::Node& n) {
  if (n.IsScalar()) return n.Scalar();
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a mapping";
  return "nothing";
}

// Checks one parsed YAML value, in document order: every mapping key is a plain name
// that appears once (yaml-cpp keeps the first of two equal keys and drops the second
// without a word), and YAML 1.1 merge keys (`<<: *defaults`, `<<: [*a, *b]`), which
// yaml-cpp leaves as an ordinary key named "<<", are expanded here: the merged mappings'
// entries are added where the mapping has no key of that name, earlier mappings winning.
// Merged values keep their own marks, so errors about them name the anchor's lines.
class TreeCheck {
 public:
  explicit TreeCheck(std::string file) : file_(std::move(file)) {}

  void check(YAML::Node node, const std::string& path, int depth = 0) {
    if (++visited_ > kMaxValues) {
      throw InputError(fmt::format("{}: more than {} values once aliases are expanded", file_,
                                   kMaxValues));
    }
    if (depth > kMaxDepth) {
      throw InputError(fmt::format("{}:{}: nested deeper than {} levels at '{}'", file_,
                                   node.Mark().line + 1, kMaxDepth, path));
    }
    if (node.IsSequence()) {
      for (size_t i = 0; i < node.size(); ++i) {
        check(node[i], fmt::format("{}[{}]", path, i), depth + 1);
      }
    } else if (node.IsMap()) {
      check_map(node, path, depth);
    }
  }

 private:
  static constexpr int kMaxDepth = 64;
  static constexpr long kMaxValues = 200000;

  void check_map(YAML::Node map, const std::string& path, int depth) {
    std::map<std::string, int> first_line;  // key -> line (1-based)
    std::vector<YAML::Node> merged;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node key = it->first;  // a copy: `it->first` lives in a temporary
      const int line = key.Mark().line + 1;
      if (!key.IsScalar()) {
        throw InputError(fmt::format("{}:{}: a key in '{}' is {}; keys must be names", file_,
                                     line, path.empty() ? "the top level" : path,
                                     scalar_text(key)));
      }
      const std::string name = key.Scalar();
      const std::string full = path.empty() ? name : path + "." + name;
      if (name == "<<" && key.Tag() != "!") {  // a quoted "<<" is an ordinary key
        add_merge_sources(it->second, full, line, merged);
        continue;
      }
      auto [seen, inserted] = first_line.emplace(name, line);
      if (!inserted) {
        throw InputError(fmt::format("{}:{}: duplicate key '{}' (first at line {})", file_, line,
                                     full, seen->second));
      }
      check(it->second, full, depth + 1);
    }
    if (merged.empty()) return;
    map.remove("<<");
    for (const auto& source : merged) {
      for (auto it = source.begin(); it != source.end(); ++it) {
        const std::string name = it->first.Scalar();
        if (first_line.emplace(name, it->first.Mark().line + 1).second) {
          map[it->first] = it->second;  // the key node itself: its line stays
        }
      }
    }
  }

  // The mappings a merge key names: one mapping, or a list of them.
  void add_merge_sources(YAML::Node value, const std::string& full, int line,
                         std::vector<YAML::Node>& out) {
    std::vector<YAML::Node> sources;
    if (value.IsMap()) {
      sources.push_back(value);
    } else if (value.IsSequence()) {
      for (size_t i = 0; i < value.size(); ++i) sources.push_back(value[i]);
    }
    if (sources.empty()) {
      throw InputError(fmt::format(
          "{}:{}: merge key '{}' must name a mapping or a list of mappings, not {}", file_,
          line, full, scalar_text(value)));
    }
    for (auto& s : sources) {
      if (!s.IsMap()) {
        throw InputError(fmt::format("{}:{}: merge key '{}' names {}, not a mapping", file_,
                                     line, full, scalar_text(s)));
      }
      check(s, full.substr(0, full.size() - 2) + "<merged>", 0);  // its own merges first
      out.push_back(s);
    }
  }

  std::string file_;
  long visited_ = 0;
};

}  // namespace

std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::max<size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    size_t d = edit_distance(word, c);
    if (d < best_d) best_d = d, best = c;
  }
  return best;
}

// ---- Document -------------------------------------------------------------------------

namespace {

// One `a.b.c=value` override onto a section's tree, as parse() applies them to a file's.
void apply_override(Document::State& state, const std::string& o) {
  auto eq = o.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw InputError(fmt::format("override '{}': expected key=value, as in model.n_layer=4", o));
  }
  const std::string key = o.substr(0, eq);
  YAML::Node value;
  try {
    value = YAML::Load(o.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    throw InputError(fmt::format("override '{}': value is not valid YAML: {}", o, e.msg));
  }
  TreeCheck(fmt::format("override '{}'", o)).check(value, key);  // duplicate keys, merges
  auto parts = split_path(key);
  if (std::any_of(parts.begin(), parts.end(), [](auto& p) { return p.empty(); })) {
    throw InputError(fmt::format("override '{}': empty part in key '{}'", o, key));
  }
  set_path(state.tree, parts, value, fmt::format("override '{}'", o));
  state.overrides[key] = o;
}

}  // namespace

Document Document::parse(const std::string& text, const std::string& name,
                         const std::vector<std::string>& overrides) {
  Document d;
  d.state_ = std::make_shared<State>();
  d.state_->file = name;
  d.state_->text = text;
  d.state_->override_list = overrides;
  try {
    d.state_->tree = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw InputError(fmt::format("{}:{}: not valid YAML: {}", name, e.mark.line + 1, e.msg));
  }
  if (d.state_->tree.IsNull()) d.state_->tree = YAML::Node(YAML::NodeType::Map);
  if (!d.state_->tree.IsMap()) {
    throw InputError(fmt::format("{}: a config must be a YAML mapping of keys", name));
  }
  TreeCheck(name).check(d.state_->tree, "");
  d.state_->resolved = YAML::Node(YAML::NodeType::Map);
  for (const auto& o : overrides) apply_override(*d.state_, o);
  return d;
}

Document Document::load(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: cannot open config file", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), path, overrides);
}


Document Document::section(const std::string& key,
                           const std::vector<std::string>& overrides) const {
  if (state_->is_section) throw std::logic_error("Document::section: already a section");
  // Parsed again rather than copied: YAML::Clone drops the marks that give file:line, and
  // a shared node would carry the section's overrides back into this document.
  Document full = parse(state_->text, state_->file, state_->override_list);
  YAML::Node node = full.state_->tree[key];
  Document d;
  d.state_ = std::make_shared<State>();
  d.state_->file = state_->file;
  d.state_->is_section = true;
  if (node.IsDefined() && !node.IsNull()) {
    if (!node.IsMap()) {
      throw InputError(
          fmt::format("{}: '{}' must be a mapping of keys", full.root().where(key), key));
    }
    d.state_->tree = node;
  } else {
    d.state_->tree = YAML::Node(YAML::NodeType::Map);
  }
  d.state_->resolved = YAML::Node(YAML::NodeType::Map);
  // An override of a key in the section still names the command line in messages.
  const std::string prefix = key + ".";
  for (const auto& [path, text] : state_->overrides) {
    if (path.rfind(prefix, 0) == 0) d.state_->overrides[path.substr(prefix.size())] = text;
  }
  for (const auto& o : overrides) apply_override(*d.state_, o);
  return d;
}

Reader Document::root() const {
  auto impl = std::make_shared<Reader::Impl>();
  impl->doc = state_;
  impl->node = state_->tree;
  return Reader(impl);
}

void Document::set_default(const std::string& dotted_path, const std::string& value) const {
  auto parts = split_path(dotted_path);
  const YAML::Node& tree = state_->tree;
  YAML::Node cur = YAML::Clone(tree);  // look without creating entries in the real tree
  bool present = true;
  for (const auto& part : parts) {
    if (!cur.IsMap() || !cur[part].IsDefined() || cur[part].IsNull()) {
      present = false;
      break;
    }
    cur.reset(cur[part]);
  }
  if (!present) set_path(state_->tree, parts, YAML::Load(value), "default");
}

std::string Document::resolved_yaml() const {
  YAML::Emitter out;
  out << state_->resolved;
  return std::string(out.c_str()) + "\n";
}

std::string Document::yaml() const {
  YAML::Emitter out;
  out << state_->tree;
  return std::string(out.c_str()) + "\n";
}

const std::string& Document::file() const { return state_->file; }

// ---- Reader ---------------------------------------------------------------------------

Reader::Reader(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::string Reader::path(const std::string& key) const { return impl_->prefix + key; }

std::string Reader::source_file() const { return impl_->doc->file; }

std::string Reader::where(const std::string& key) const {
  const auto& ov = impl_->doc->overrides;
  std::string full = key.empty() ? impl_->prefix : path(key);
  if (!full.empty() && full.back() == '.') full.pop_back();
  // An override of this key, or of a mapping above it, is where the value came from.
  for (std::string p = full; !p.empty();) {
    if (auto it = ov.find(p); it != ov.end()) {
      return fmt::format("command line override '{}'", it->second);
    }
    auto dot = p.rfind('.');
    p = dot == std::string::npos ? "" : p.substr(0, dot);
  }
  int line = -1;
  if (impl_->node.IsMap()) {
    for (auto it = impl_->node.begin(); it != impl_->node.end(); ++it) {
      if (!key.empty() && it->first.Scalar() == key) {
        line = it->first.Mark().line;
        break;
      }
    }
    if (line < 0) line = impl_->node.Mark().line;
  }
  if (line < 0) return impl_->doc->file;
  return fmt::format("{}:{}", impl_->doc->file, line + 1);
}

void Reader::fail(const std::string& key, const std::string& message) const {
  throw InputError(fmt::format("{}: '{}' {}", where(key), path(key), message));
}

bool Reader::has(const std::string& key) const {
  return impl_->node.IsMap() && impl_->node[key].IsDefined() && !impl_->node[key].IsNull();
}

bool Reader::is_map(const std::string& key) const { return has(key) && impl_->node[key].IsMap(); }

bool Reader::is_list(const std::string& key) const {
  return has(key) && impl_->node[key].IsSequence();
}

void Reader::require(const std::string& key) const {
  if (!has(key)) {
    throw InputError(fmt::format("{}: missing required key '{}'", where(), path(key)));
  }
}

std::string Reader::tag(const std::string& key) const {
  if (!impl_->node.IsMap() || !impl_->node[key].IsDefined()) return "";
  const std::string t = impl_->node[key].Tag();
  return t == "?" || t == "!" ? "" : t;  // yaml-cpp's marks for plain and quoted scalars
}

std::vector<std::string> Reader::keys() const {
  std::vector<std::string> out;
  if (impl_->node.IsMap()) {
    for (auto it = impl_->node.begin(); it != impl_->node.end(); ++it) {
      out.push_back(it->first.Scalar());
    }
  }
  return out;
}

void Reader::skip(const std::string& key) {
  impl_->known.push_back(key);
  impl_->doc->used.insert(path(key));
}

namespace {

// Records `value` in the resolved tree at `full`.
template <class T>
void record(Document::State& doc, const std::string& full, const T& value) {
  set_path(doc.resolved, split_path(full), YAML::Node(value), "resolved config");
}

void check_range(const Reader& r, const std::string& key, double v, const Range& range) {
  if (range.min) {
    bool bad = range.min_exclusive ? !(v > *range.min) : !(v >= *range.min);
    if (bad) {
      r.fail(key, fmt::format("must be {} {}, got {}", range.min_exclusive ? ">" : ">=",
                              *range.min, v));
    }
  }
  if (range.max && !(v <= *range.max)) {
    r.fail(key, fmt::format("must be <= {}, got {}", *range.max, v));
  }
}

}  // namespace

#define STRATA_READ_SCALAR(TYPE, WHAT, RANGE_CHECK)                                         \
  impl_->known.push_back(key);                                                              \
  impl_->doc->used.insert(path(key));                                                       \
  if (has(key)) {                                                                           \
    const YAML::Node n = impl_->node[key];                                                  \
    if (!n.IsScalar()) fail(key, fmt::format("must be {}, got {}", WHAT, scalar_text(n)));  \
    try {                                                                                   \
      out = n.as<TYPE>();                                                                   \
    } catch (const YAML::Exception&) {                                                      \
      fail(key, fmt::format("must be {}, got '{}'", WHAT, n.Scalar()));                     \
    }                                                                                       \
  }                                                                                         \
  RANGE_CHECK;                                                                              \
  record(*impl_->doc, path(key), out);

void Reader::read(const std::string& key, bool& out) {
  STRATA_READ_SCALAR(bool, "true or false", (void)0)
}
void Reader::read(const std::string& key, int64_t& out, Range range) {
  STRATA_READ_SCALAR(int64_t, "an integer", check_range(*this, key, double(out), range))
}
void Reader::read(const std::string& key, int& out, Range range) {
  STRATA_READ_SCALAR(int, "an integer", check_range(*this, key, double(out), range))
}
void Reader::read(const std::string& key, double& out, Range range) {
  STRATA_READ_SCALAR(double, "a number", check_range(*this, key, out, range))
}
void Reader::read(const std::string& key, float& out, Range range) {
  STRATA_READ_SCALAR(float, "a number", check_range(*this, key, double(out), range))
}
void Reader::read(const std::string& key, std::string& out) {
  STRATA_READ_SCALAR(std::string, "a string", (void)0)
}
#undef STRATA_READ_SCALAR

namespace {
template <class T>
void read_list(Reader& r, YAML::Node node, const std::string& key, std::vector<T>& out,
               const char* what) {
  if (!node.IsDefined() || node.IsNull()) return;
  if (node.IsScalar()) {  // a single value stands for a list of one
    try {
      out = {node.as<T>()};
      return;
    } catch (const YAML::Exception&) {
      r.fail(key, fmt::format("must be a list of {}, got '{}'", what, node.Scalar()));
    }
  }
  if (!node.IsSequence()) r.fail(key, fmt::format("must be a list of {}", what));
  out.clear();
  for (size_t i = 0; i < node.size(); ++i) {
    try {
      out.push_back(node[i].as<T>());
    } catch (const YAML::Exception&) {
      r.fail(key, fmt::format("item {} must be {}, got '{}'", i, what, scalar_text(node[i])));
    }
  }
}
}  // namespace

#define STRATA_READ_LIST(TYPE, WHAT)                                            \
  impl_->known.push_back(key);                                                  \
  impl_->doc->used.insert(path(key));                                           \
  if (has(key)) read_list<TYPE>(*this, impl_->node[key], key, out, WHAT);       \
  record(*impl_->doc, path(key), out);

void Reader::read(const std::string& key, std::vector<int64_t>& out) {
  STRATA_READ_LIST(int64_t, "integers")
}
void Reader::read(const std::string& key, std::vector<double>& out) {
  STRATA_READ_LIST(double, "numbers")
}
void Reader::read(const std::string& key, std::vector<std::string>& out) {
  STRATA_READ_LIST(std::string, "strings")
}
#undef STRATA_READ_LIST

void Reader::read(const std::string& key, std::map<std::string, std::string>& out) {
  impl_->known.push_back(key);
  impl_->doc->used.insert(path(key));
  if (has(key)) {
    const YAML::Node n = impl_->node[key];
    if (!n.IsMap()) fail(key, "must be a mapping of strings");
    out.clear();
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!it->second.IsScalar()) fail(key, fmt::format("value of '{}' must be a string",
                                                        it->first.Scalar()));
      out[it->first.Scalar()] = it->second.Scalar();
    }
  }
  record(*impl_->doc, path(key), out);
}

void Reader::read_one_or_list(const std::string& key, std::vector<std::string>& out) {
  if (has(key) && !is_list(key)) {
    std::string one;
    read(key, one);
    out = {one};
  } else {
    read(key, out);
  }
}

void Reader::read_choice(const std::string& key, std::string& out,
                         const std::vector<std::string>& choices) {
  read(key, out);
  if (std::find(choices.begin(), choices.end(), out) == choices.end()) {
    std::string hint = closest(out, choices);
    fail(key, fmt::format("must be one of {}, got '{}'{}", join(choices), out,
                          hint.empty() ? "" : fmt::format("; did you mean '{}'?", hint)));
  }
}

Reader Reader::child(const std::string& key) {
  impl_->known.push_back(key);
  impl_->doc->used.insert(path(key));
  auto impl = std::make_shared<Impl>();
  impl->doc = impl_->doc;
  impl->prefix = path(key) + ".";
  if (has(key)) {
    if (!impl_->node[key].IsMap()) fail(key, "must be a mapping of keys");
    impl->node = impl_->node[key];
  }
  return Reader(impl);
}

std::vector<Reader> Reader::children(const std::string& key) {
  impl_->known.push_back(key);
  impl_->doc->used.insert(path(key));
  std::vector<Reader> out;
  if (!has(key)) return out;
  const YAML::Node list = impl_->node[key];
  if (!list.IsSequence()) fail(key, "must be a list of mappings");
  for (size_t i = 0; i < list.size(); ++i) {
    if (!list[i].IsMap()) fail(key, fmt::format("item {} must be a mapping of keys", i));
    auto impl = std::make_shared<Impl>();
    impl->doc = impl_->doc;
    impl->prefix = fmt::format("{}{}.", path(key), i);
    impl->node = list[i];
    out.push_back(Reader(impl));
  }
  return out;
}

void Reader::finish() const {
  if (!impl_->node.IsMap()) return;
  for (auto it = impl_->node.begin(); it != impl_->node.end(); ++it) {
    const std::string key = it->first.Scalar();
    if (impl_->doc->used.count(path(key))) continue;
    std::string hint = closest(key, impl_->known);
    std::string tail = hint.empty()
                           ? fmt::format("; valid keys here: {}", join(impl_->known))
                           : fmt::format("; did you mean '{}'?", hint);
    throw InputError(fmt::format("{}: unknown key '{}'{}", where(key), path(key), tail));
  }
}

}  // namespace strata::config
