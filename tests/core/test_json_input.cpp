// JSON from users' files is parsed strictly: a key given twice in one object is refused
// (nlohmann would keep the last), and errors are one line naming the file.

#include <catch2/catch.hpp>

#include <cmath>
#include <fstream>
#include <iterator>
#include <string>

#include "core/errors.h"
#include "core/json_input.h"

using strata::parse_json_input;

TEST_CASE("json input: a key given twice is refused with its path", "[json]") {
  CHECK_THROWS_WITH(parse_json_input(R"({"step": 10, "data": {}, "step": 20})", "state.json"),
                    "state.json: duplicate key 'step' in a JSON object");
  CHECK_THROWS_WITH(
      parse_json_input(R"({"splits": {"train": {"files": [{"path": "a", "path": "b"}]}}})", "m"),
      "m: duplicate key 'splits.train.files[0].path' in a JSON object");
  CHECK_THROWS_WITH(parse_json_input(R"([1, {"a": 1}, {"b": 1, "b": 2}])", "x"),
                    "x: duplicate key '[2].b' in a JSON object");
  // The same key in different objects is fine.
  const auto j =
      parse_json_input(R"({"a": {"k": 1}, "b": {"k": 2}, "c": [{"k": 3}, {"k": 4}]})", "x");
  CHECK(j["c"][1]["k"] == 4);
}

TEST_CASE("json input: invalid JSON and stand-ins are one line naming the file", "[json]") {
  CHECK_THROWS_WITH(parse_json_input("{\"step\": 10,\n", "state.json"),
                    Catch::StartsWith("state.json: invalid JSON: parse error at line 2"));
  CHECK_THROWS_WITH(parse_json_input("{\"a\": \"\x01\n\"}", "x"),
                    Catch::Matches("x: invalid JSON: [^\n]*"));
  CHECK_THROWS_WITH(parse_json_input("version https://git-lfs.github.com/spec/v1\noid x\n",
                                     "state.json", "a JSON file"),
                    "state.json: a Git LFS pointer, not the file itself; run `git lfs pull`");
  CHECK_THROWS_WITH(
      parse_json_input("<html><body>502 Bad Gateway</body></html>", "m.json", "a JSON manifest"),
      "m.json: an HTML page, not a JSON manifest");
  // Without `expected`, no guess is made.
  CHECK_THROWS_WITH(parse_json_input("<html>", "h"), Catch::StartsWith("h: invalid JSON"));
  CHECK_THROWS_AS(parse_json_input("", "e"), strata::InputError);
}

TEST_CASE("json input: a trainer's state.json, the fuzz target's seed, parses", "[json]") {
  // tests/assets/state.json has the shape Trainer::save_checkpoint writes (its rng bytes
  // are random, not a generator's); fuzz/state_json.cpp starts from it.
  std::ifstream in(std::string(STRATA_SOURCE_DIR) + "/tests/assets/state.json");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto state = parse_json_input(text, "tests/assets/state.json", "a JSON file");
  CHECK(state.at("step") == 10);
  CHECK(state.at("rng").at("cpu").get<std::string>().size() == 2 * 5056);
  CHECK(state.at("data").at("position") == 80);
}

TEST_CASE("json_int64: whole numbers only, never an undefined cast", "[json]") {
  using strata::json_int64;
  CHECK(json_int64(nlohmann::json(42), "s.json", "step") == 42);
  CHECK(json_int64(nlohmann::json(-3), "s.json", "step") == -3);
  CHECK(json_int64(nlohmann::json(7.0), "s.json", "step") == 7);
  // Found by fuzz/state_json: a step of 3.3e60 was cast to int64 (undefined behaviour).
  CHECK_THROWS_WITH(json_int64(nlohmann::json(3.33333e60), "s.json", "step"),
                    Catch::Contains("s.json: 'step' must be a whole number"));
  CHECK_THROWS_AS(json_int64(nlohmann::json(2.5), "s.json", "step"), strata::InputError);
  CHECK_THROWS_AS(json_int64(nlohmann::json("10"), "s.json", "step"), strata::InputError);
  CHECK_THROWS_AS(json_int64(nlohmann::json(18446744073709551615ull), "s.json", "step"),
                  strata::InputError);
  CHECK_THROWS_AS(json_int64(nlohmann::json(std::nan("")), "s.json", "step"), strata::InputError);
}
