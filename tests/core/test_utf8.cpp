// core/utf8.h: lengths, indices and case in characters, as Python's str.

#include "core/utf8.h"

#include <catch2/catch.hpp>

using namespace strata;

TEST_CASE("utf8: characters, not bytes, as Python counts them", "[utf8]") {
  CHECK(utf8::length("") == 0);
  CHECK(utf8::length("abc") == 3);
  CHECK(utf8::length("日本語") == 3);     // 9 bytes
  CHECK(utf8::length("français") == 8);  // 9 bytes
  CHECK(utf8::length("a\xff" "b") == 3);  // an invalid byte is one character
  CHECK(utf8::chars("aé日") == std::vector<std::string>{"a", "é", "日"});
  CHECK(utf8::byte_offset("aé日x", 2) == 3);
  CHECK(utf8::byte_offset("aé日x", 9) == 7);
  CHECK(utf8::upper("élève ß ﬁ") == "ÉLÈVE SS FI");  // Python's 'ß'.upper() is 'SS'
  CHECK(utf8::lower("ÉCOLE Ω") == "école ω");
  CHECK(utf8::is_space("\u3000"));
  CHECK(utf8::is_space("\t"));
  CHECK_FALSE(utf8::is_space("a"));
  CHECK_FALSE(utf8::is_space("  "));  // two characters
}
