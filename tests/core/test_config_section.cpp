// Document::section: a mapping of a config read as a config of its own (a sweep's
// `pretrain:`), keeping file:line and the command line's overrides in its messages.

#include <catch2/catch.hpp>

#include "core/config.h"
#include "core/errors.h"

using strata::InputError;
using strata::config::Document;

TEST_CASE("a section keeps its lines and overrides and shares nothing", "[config]") {
  const std::string yaml =
      "a: 1\n"         // 1
      "inner:\n"       // 2
      "  x: 2\n"       // 3
      "  y: {z: 3}\n"  // 4
      "  extra: 4\n";  // 5
  auto doc = Document::parse(yaml, "outer.yaml", {"inner.x=5"});

  auto section = doc.section("inner", {"y.z=4", "w=7"});
  auto r = section.root();
  int64_t x = 0, z = 0, w = 0;
  r.read("x", x);
  CHECK(x == 5);
  CHECK(r.where("x") == "command line override 'inner.x=5'");
  r.child("y").read("z", z);
  CHECK(z == 4);
  CHECK(r.where("y") == "outer.yaml:4");
  r.read("w", w);
  CHECK(w == 7);
  try {
    r.finish();
    FAIL("an unread key passed finish()");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).rfind("outer.yaml:5: unknown key 'extra'", 0) == 0);
  }
  CHECK(section.resolved_yaml().find("z: 4") != std::string::npos);

  // The section's overrides did not reach the document, nor another section of it.
  auto again = doc.section("inner");
  int64_t z2 = 0;
  again.root().child("y").read("z", z2);
  CHECK(z2 == 3);
  CHECK_FALSE(again.root().has("w"));
  int64_t a = 0;
  doc.root().read("a", a);
  CHECK(a == 1);
  CHECK_FALSE(doc.root().child("inner").has("w"));

  // Absent: an empty mapping. Not a mapping: an error naming its line.
  CHECK(doc.section("missing").root().keys().empty());
  CHECK_THROWS_WITH(doc.section("a"),
                    Catch::Contains("outer.yaml:1") && Catch::Contains("must be a mapping"));
}
