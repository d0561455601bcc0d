#pragma once
// YAML configs into typed Options structs.
//
// A Document is one YAML file with the command line's `key.sub=value` overrides applied.
// A Reader walks one mapping of it: each Options struct has a `read_options(Reader&, T&)`
// function that names its keys, and Reader::finish() refuses any key nobody asked for,
// naming the file, line, key path and the closest valid key. YAML stops here: nothing
// below the config layer sees a YAML node, and nothing in this header includes yaml-cpp.
//
// Every value read, defaults included, is recorded into the "resolved" tree, which is
// written beside every checkpoint and results file.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace strata::config {

struct Range {
  std::optional<double> min;  // inclusive
  std::optional<double> max;  // inclusive
  bool min_exclusive = false;
  static Range positive() { return Range{0.0, std::nullopt, true}; }
  static Range non_negative() { return Range{0.0, std::nullopt, false}; }
  static Range at_least(double v) { return Range{v, std::nullopt, false}; }
  static Range between(double lo, double hi) { return Range{lo, hi, false}; }
};

class Document;

// The names of an enum's values as configs spell them, e.g. {{"adam", Type::kAdam}, ...}.
template <class E>
using EnumNames = std::vector<std::pair<std::string, E>>;

// The config name of `value` ("" when it has none).
template <class E>
std::string enum_name(E value, const EnumNames<E>& names) {
  for (const auto& [name, v] : names)
    if (v == value) return name;
  return "";
}

class Reader {
 public:
  // Scalars. A missing key keeps the value already in `out` (the default) unless the
  // overload is `required`. A wrong type or a value out of range is an InputError.
  void read(const std::string& key, bool& out);
  void read(const std::string& key, int64_t& out, Range range = {});
  void read(const std::string& key, int& out, Range range = {});
  void read(const std::string& key, double& out, Range range = {});
  void read(const std::string& key, float& out, Range range = {});
  void read(const std::string& key, std::string& out);
  void read(const std::string& key, std::vector<int64_t>& out);
  void read(const std::string& key, std::vector<double>& out);
  void read(const std::string& key, std::vector<std::string>& out);
  void read(const std::string& key, std::map<std::string, std::string>& out);
  // A list of strings that a file may also give as one (`tag: math` for `tag: [math]`), as
  // the evaluation harness's task YAML does. Unlike read() into a vector, a lone value is
  // read and recorded as a string (a mapping: "must be a string, got a mapping").
  void read_one_or_list(const std::string& key, std::vector<std::string>& out);
  // A string that must be one of `choices`.
  void read_choice(const std::string& key, std::string& out,
                   const std::vector<std::string>& choices);

  // An enum spelled by one of `names` (the current value is the default).
  template <class E>
  void read_enum(const std::string& key, E& out, const EnumNames<E>& names) {
    std::string text = enum_name(out, names);
    std::vector<std::string> choices;
    for (const auto& [name, v] : names) choices.push_back(name);
    read_choice(key, text, choices);
    for (const auto& [name, v] : names)
      if (name == text) out = v;
  }

  template <class T>
  void required(const std::string& key, T& out) {
    require(key);
    read(key, out);
  }
  void require(const std::string& key) const;

  bool has(const std::string& key) const;
  bool is_map(const std::string& key) const;
  bool is_list(const std::string& key) const;
  // A nested mapping; missing becomes an empty mapping (all defaults).
  Reader child(const std::string& key);
  // A list of mappings, one Reader each.
  std::vector<Reader> children(const std::string& key);
  // Marks a key as known without reading it (for a section read by someone else).
  void skip(const std::string& key);
  // The YAML tag of a key's value ("!function" for `key: !function utils.f`), "" when it
  // has none or the key is absent. Lets a reader refuse tags it cannot honour by name.
  std::string tag(const std::string& key) const;
  // The keys present in this mapping, in file order.
  std::vector<std::string> keys() const;

  // Refuses keys present in the YAML but never read. Call once all fields are read.
  void finish() const;

  // "file.yaml:12" or "command line override 'a.b=c'" for a key of this mapping.
  std::string where(const std::string& key = "") const;
  // Full dotted path of a key of this mapping ("model.n_layer").
  std::string path(const std::string& key) const;
  // An InputError naming the place of `key` and `message`.
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;

  // The file this mapping came from (for resolving relative paths).
  std::string source_file() const;

 private:
  friend class Document;
  struct Impl;
  explicit Reader(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

class Document {
 public:
  // Parses `path` and applies overrides of the form `a.b.c=value` (value is YAML). Of two
  // overrides of one key the later wins, as on most command lines.
  static Document load(const std::string& path,
                       const std::vector<std::string>& overrides = {});
  // Parses YAML text (tests, built-in configs); `name` stands in for the file name.
  static Document parse(const std::string& text, const std::string& name,
                        const std::vector<std::string>& overrides = {});
  // One mapping of this document as a document of its own, with `overrides` (relative to
  // the mapping) applied after those this document was given: a run config nested in
  // another, such as a sweep's `pretrain:`. Its keys keep this file's lines in messages,
  // and it shares nothing with this document. Missing or null: an empty mapping; anything
  // else that is not a mapping is an InputError. Not available on a section itself.
  Document section(const std::string& key, const std::vector<std::string>& overrides = {}) const;

  Reader root() const;
  // Sets `dotted_path` to `value` (YAML) unless the file or an override already set it:
  // for values known only at run time, such as a tokenizer's vocabulary size.
  void set_default(const std::string& dotted_path, const std::string& value) const;
  // The resolved config: every key read, with its final value, defaults included.
  std::string resolved_yaml() const;
  // The document as given, overrides applied (for a config whose readers have not run).
  std::string yaml() const;
  const std::string& file() const;

  struct State;  // internal: the parsed tree, overrides and what was read

 private:
  std::shared_ptr<State> state_;
};

// The closest of `candidates` to `word` by edit distance, or "" if none is close.
std::string closest(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace strata::config
