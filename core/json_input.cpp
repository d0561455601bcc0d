#include "core/json_input.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <set>
#include <utility>
#include <vector>

#include "core/errors.h"
#include "core/sniff.h"

namespace strata {

namespace {

using json = nlohmann::json;

// nlohmann's DOM builder, with each open object's keys remembered so that a key given
// twice is caught before the builder overwrites the first value.
class StrictSax {
 public:
  explicit StrictSax(json& root) : dom_(root, /*allow_exceptions=*/false) {}

  bool null() { return value() && dom_.null(); }
  bool boolean(bool v) { return value() && dom_.boolean(v); }
  bool number_integer(json::number_integer_t v) { return value() && dom_.number_integer(v); }
  bool number_unsigned(json::number_unsigned_t v) { return value() && dom_.number_unsigned(v); }
  bool number_float(json::number_float_t v, const json::string_t& s) {
    return value() && dom_.number_float(v, s);
  }
  bool string(json::string_t& v) { return value() && dom_.string(v); }
  bool binary(json::binary_t& v) { return value() && dom_.binary(v); }

  bool start_object(std::size_t n) {
    if (!value()) return false;
    open_.push_back(Frame{true, name_of_next(), {}, 0, {}});
    return dom_.start_object(n);
  }
  bool key(json::string_t& k) {
    Frame& f = open_.back();
    if (!f.keys.insert(k).second) {
      duplicate_ = path_to(k);
      return false;
    }
    f.last_key = k;
    return dom_.key(k);
  }
  bool end_object() {
    open_.pop_back();
    return dom_.end_object();
  }
  bool start_array(std::size_t n) {
    if (!value()) return false;
    open_.push_back(Frame{false, name_of_next(), {}, 0, {}});
    return dom_.start_array(n);
  }
  bool end_array() {
    open_.pop_back();
    return dom_.end_array();
  }

  template <class Exception>
  bool parse_error(std::size_t position, const std::string& token, const Exception& e) {
    error_ = e.what();
    return dom_.parse_error(position, token, e);
  }

  const std::string& duplicate() const { return duplicate_; }
  const std::string& error() const { return error_; }

 private:
  struct Frame {
    bool object;
    std::string name;  // "splits", "files[3]": how its parent reaches it
    std::set<std::string> keys;
    size_t count;  // items so far (arrays)
    std::string last_key;
  };

  // Counts an array's items, so that a frame opened next knows its index.
  bool value() {
    if (!open_.empty() && !open_.back().object) ++open_.back().count;
    return true;
  }

  // The name of a container about to open, called after value() counted it.
  std::string name_of_next() const {
    if (open_.empty()) return "";
    const Frame& parent = open_.back();
    if (parent.object) return parent.last_key;
    return "[" + std::to_string(parent.count - 1) + "]";
  }

  std::string path_to(const std::string& key) const {
    std::string out;
    for (const auto& f : open_) {
      if (f.name.empty()) continue;
      if (!out.empty() && f.name.front() != '[') out += '.';
      out += f.name;
    }
    return out.empty() ? key : out + "." + key;
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  std::vector<Frame> open_;
  std::string duplicate_;
  std::string error_;
};

// Error messages are one line: a reason may quote control characters from the file.
std::string one_line(std::string s) {
  for (auto& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return s;
}

}  // namespace

json parse_json_input(std::string_view text, const std::string& where,
                      const std::string& expected) {
  json out;
  StrictSax sax(out);
  const bool ok = json::sax_parse(text.begin(), text.end(), &sax);
  if (ok) return out;
  if (!sax.duplicate().empty()) {
    throw InputError(
        one_line(where + ": duplicate key '" + sax.duplicate() + "' in a JSON object"));
  }
  if (!expected.empty()) {
    const std::string impostor = describe_impostor(text.substr(0, 512), expected);
    if (!impostor.empty()) throw InputError(one_line(where + ": " + impostor));
  }
  std::string why = sax.error();
  if (auto p = why.find("] "); p != std::string::npos) why = why.substr(p + 2);
  throw InputError(one_line(where + ": invalid JSON: " + why));
}

int64_t json_int64(const nlohmann::json& value, const std::string& where, const std::string& what) {
  constexpr double kLimit = 9223372036854775808.0;  // 2^63
  if (value.is_number_unsigned()) {
    const uint64_t u = value.get<uint64_t>();
    if (u <= uint64_t(std::numeric_limits<int64_t>::max())) return int64_t(u);
  } else if (value.is_number_integer()) {
    return value.get<int64_t>();
  } else if (value.is_number_float()) {
    const double d = value.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && d >= -kLimit && d < kLimit) return int64_t(d);
  }
  throw InputError(fmt::format("{}: '{}' must be a whole number, not {}", where, what,
                               value.dump().substr(0, 40)));
}

}  // namespace strata
