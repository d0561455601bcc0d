#pragma once
// JSON read from files a user hands Strata (checkpoint state.json, a corpus manifest, a
// safetensors header, .jsonl lines), parsed strictly.
//
// nlohmann's parser keeps the last of two equal keys in one object, silently; a file
// with `"step": 10, ... "step": 20` is damaged or hand-edited, and which value was meant
// cannot be told, so it is refused. Nothing here needs LibTorch.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace strata {

// Parses `text`. Errors are InputErrors of one line, prefixed with `where` (a file, or
// "file:line" for a line of a .jsonl file):
//   "<where>: invalid JSON: <nlohmann's reason, with line and column>"
//   "<where>: duplicate key 'splits.train.tokens' in a JSON object"
//   "<where>: a Git LFS pointer, not the file itself; run `git lfs pull`" (and the other
//     stand-ins core/sniff.h names, when `expected` is not empty and the text is not JSON)
nlohmann::json parse_json_input(std::string_view text, const std::string& where,
                                const std::string& expected = "");

// A whole number read from such a file: an integer, or a float with no fraction, within
// int64. Anything else (a string, 2.5, 3.3e60, NaN) is an InputError
// "<where>: '<what>' must be a whole number, not <the value>". nlohmann's get<int64_t>()
// casts a float to the integer type, which is undefined behaviour out of range (found by
// fuzz/state_json: a state.json step of 3.3e60).
int64_t json_int64(const nlohmann::json& value, const std::string& where, const std::string& what);

}  // namespace strata
