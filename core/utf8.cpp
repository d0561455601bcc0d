#include "core/utf8.h"

#include <utf8proc.h>

#include <algorithm>
#include <iterator>
#include <utility>

namespace strata::utf8 {

namespace {

// The length in bytes of the character at s[i] and its code point (-1 when invalid).
size_t next(const std::string& s, size_t i, utf8proc_int32_t& cp) {
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i);
  const utf8proc_ssize_t n = utf8proc_iterate(p, utf8proc_ssize_t(s.size() - i), &cp);
  if (n <= 0) {
    cp = -1;
    return 1;
  }
  return size_t(n);
}

std::string map_case(const std::string& s, utf8proc_int32_t (*f)(utf8proc_int32_t)) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    utf8proc_int32_t cp = 0;
    const size_t n = next(s, i, cp);
    if (cp < 0) {
      out += s[i];
    } else {
      utf8proc_uint8_t buf[4];
      const utf8proc_ssize_t m = utf8proc_encode_char(f(cp), buf);
      out.append(reinterpret_cast<const char*>(buf), size_t(m));
    }
    i += n;
  }
  return out;
}

}  // namespace

std::vector<std::string> chars(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    utf8proc_int32_t cp = 0;
    const size_t n = next(s, i, cp);
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

size_t length(const std::string& s) {
  size_t count = 0;
  for (size_t i = 0; i < s.size(); ++count) {
    utf8proc_int32_t cp = 0;
    i += next(s, i, cp);
  }
  return count;
}

size_t byte_offset(const std::string& s, size_t n) {
  size_t i = 0;
  for (size_t k = 0; k < n && i < s.size(); ++k) {
    utf8proc_int32_t cp = 0;
    i += next(s, i, cp);
  }
  return i;
}

std::string lower(const std::string& s) { return map_case(s, utf8proc_tolower); }

std::string upper(const std::string& s) {
  // SpecialCasing.txt's one-to-many upper-case mappings that Python applies and utf8proc's
  // simple mapping does not: ß and the Latin ligatures ﬀ-ﬆ.
  static const std::pair<const char*, const char*> special[] = {
      {"ß", "SS"}, {"ﬀ", "FF"}, {"ﬁ", "FI"}, {"ﬂ", "FL"}, {"ﬃ", "FFI"}, {"ﬄ", "FFL"}, {"ﬅ", "ST"}, {"ﬆ", "ST"}};
  std::string out;
  for (const auto& c : chars(s)) {
    const auto* hit = std::find_if(std::begin(special), std::end(special),
                                   [&](const auto& p) { return c == p.first; });
    out += hit != std::end(special) ? std::string(hit->second) : map_case(c, utf8proc_toupper);
  }
  return out;
}

bool is_space(const std::string& ch) {
  utf8proc_int32_t cp = 0;
  if (ch.empty() || next(ch, 0, cp) != ch.size() || cp < 0) return false;
  if ((cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x1f) || cp == 0x85) return true;
  const utf8proc_category_t c = utf8proc_category(cp);
  return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

}  // namespace strata::utf8
