#pragma once
// File-name tests that every reader of users' files shares, so that a kind of name is
// handled one way everywhere: extensions compare without regard to ASCII case ("a.TXT" is
// a text file, as it is to the people who name files so).

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>
#include <string_view>

namespace strata {

// Whether `p`'s extension (".txt": with its dot) equals `ext`, ignoring ASCII case.
inline bool has_extension(const std::filesystem::path& p, std::string_view ext) {
  const std::string e = p.extension().string();
  return e.size() == ext.size() && std::equal(e.begin(), e.end(), ext.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
         });
}

// A task named by its file rather than by its name: a path with a '/' or a .yaml / .yml file.
inline bool is_yaml_path(const std::string& s) {
  return s.find('/') != std::string::npos || has_extension(s, ".yaml") || has_extension(s, ".yml");
}

}  // namespace strata
