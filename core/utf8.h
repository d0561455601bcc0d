#pragma once
// UTF-8 text measured and changed in characters (Unicode code points), as Python's `str`
// is: where Strata follows a Python tool (the harness's acc_norm, its Jinja templates, a
// dataset's max_chars), a length or an index counts characters, never bytes. Decoding is
// utf8proc's; a byte that starts no valid sequence counts as one character of its own.

#include <cstddef>
#include <string>
#include <vector>

namespace strata::utf8 {

// The characters of `s`, each as its UTF-8 bytes (Python's list(s)).
std::vector<std::string> chars(const std::string& s);

// len(s) in Python: the number of characters.
size_t length(const std::string& s);

// The byte offset where character `n` starts; s.size() when `n` >= length(s).
size_t byte_offset(const std::string& s, size_t n);

// Python's str.lower() / str.upper() by character: utf8proc's simple case mapping, plus
// Python's one-to-many upper-case mappings of 'ß' ("SS") and the ligatures ﬀ-ﬆ; other
// rare full mappings (such as lower('İ')) keep one character.
std::string lower(const std::string& s);
std::string upper(const std::string& s);

// Python's str.isspace() for one character of chars(): Unicode white space (the
// categories Zs, Zl, Zp and the ASCII controls \t \n \v \f \r, \x1c-\x1f, \x85).
bool is_space(const std::string& ch);

}  // namespace strata::utf8
