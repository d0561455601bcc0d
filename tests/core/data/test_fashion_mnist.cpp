// The IDX reader names a stand-in saved under a Fashion-MNIST file name.

#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include "core/data/fashion_mnist.h"
#include "core/errors.h"
#include "tests/support/temp_dir.h"

TEST_CASE("fashion_mnist: a Git LFS pointer or an HTML page is named", "[data][fashion]") {
  strata::testing::TempDir dir("fashion");
  const auto images = dir.write("t10k-images-idx3-ubyte.gz",
                                "version https://git-lfs.github.com/spec/v1\n"
                                "oid sha256:0123\nsize 4422102\n");
  CHECK_THROWS_WITH(strata::data::load_fashion_mnist("test", dir.path),
                    images + ": a Git LFS pointer, not the file itself; run `git lfs pull`");
  dir.write("t10k-images-idx3-ubyte.gz", "<html><head><title>403 Forbidden</title></head>");
  CHECK_THROWS_WITH(strata::data::load_fashion_mnist("test", dir.path),
                    images + ": an HTML page, not a gzip-compressed IDX file");
}
