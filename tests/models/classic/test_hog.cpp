#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>

#include "models/classic/hog.h"

using namespace strata::classic;

// tests/assets/hog/hog_reference.json is scikit-image's hog() on a few images
// (made by tests/assets/hog/make_reference.py).
TEST_CASE("HOG matches scikit-image on a committed reference", "[classic][hog]") {
  std::ifstream in(STRATA_SOURCE_DIR "/tests/assets/hog/hog_reference.json");
  REQUIRE(in);
  auto ref = nlohmann::json::parse(in);
  for (const auto& c : ref["cases"]) {
    HogOptions o;
    o.orientations = c["orientations"];
    o.pixels_per_cell = c["pixels_per_cell"].get<std::vector<int64_t>>();
    o.cells_per_block = c["cells_per_block"].get<std::vector<int64_t>>();
    o.block_norm = c["block_norm"];
    const int64_t C = c["channels"], H = c["height"], W = c["width"];
    std::vector<torch::Tensor> images;
    for (const auto& im : c["images"]) {
      images.push_back(torch::tensor(im.get<std::vector<int64_t>>()).to(torch::kUInt8).view({C, H, W}));
    }
    auto batch = torch::stack(images);
    auto features = hog(batch, o);  // all images of the case in one batch
    INFO("case: " << o.block_norm << " orientations " << o.orientations);
    REQUIRE(features.size(1) == hog_size(o, H, W));
    for (size_t i = 0; i < images.size(); ++i) {
      auto expected = torch::tensor(c["features"][i].get<std::vector<double>>(), torch::kDouble);
      REQUIRE(expected.size(0) == features.size(1));
      double diff = (features[i].to(torch::kDouble) - expected).abs().max().item<double>();
      CHECK(diff < 1e-4);
    }
  }
}

TEST_CASE("HOG gives the same features one image at a time and in a batch", "[classic][hog]") {
  auto gen = at::detail::createCPUGenerator(3);
  auto images = torch::randint(0, 256, {300, 1, 28, 28}, gen, torch::kLong).to(torch::kUInt8);
  HogOptions o;
  o.pixels_per_cell = {4, 4};
  o.cells_per_block = {2, 2};
  auto batch = hog(images, o);
  CHECK(batch.sizes() == torch::IntArrayRef({300, 1296}));
  CHECK(torch::allclose(batch[7], hog(images.slice(0, 7, 8), o)[0]));
  CHECK(torch::allclose(batch[299], hog(images.slice(0, 299, 300), o)[0]));
}

TEST_CASE("HOG refuses images smaller than one block", "[classic][hog]") {
  HogOptions o;  // 8x8 cells, 3x3 blocks: needs 24x24 pixels
  auto tiny = torch::zeros({1, 1, 16, 16}, torch::kUInt8);
  CHECK_THROWS_WITH(hog(tiny, o), Catch::Contains("fewer than one block"));
}
