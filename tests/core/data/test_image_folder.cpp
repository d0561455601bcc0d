#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "core/data/augment.h"
#include "core/data/fashion_mnist.h"
#include "core/data/image_folder.h"
#include "core/errors.h"

// The test writes its own PNGs from Fashion-MNIST with stb_image_write.
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace fs = std::filesystem;
using namespace strata;

namespace {

// root/<class>/<n>.png: four real Fashion-MNIST images for each of three classes, plus a
// corrupt PNG and a text file that is not an image.
struct Folder {
  std::string root;
  data::ImageSet source;  // the images written, in folder order
};

Folder make_folder() {
  Folder f;
  f.root = (fs::temp_directory_path() / "strata_test_image_folder").string();
  fs::remove_all(f.root);
  auto test = data::load_fashion_mnist("test");
  const std::vector<std::string> names = {"Trouser", "Bag", "Sneaker"};  // written unsorted
  auto subset = data::only_classes(test, names);
  std::map<std::string, int> written;
  for (int64_t i = 0; i < subset.size(); ++i) {
    const std::string& cls = names[subset.labels[i].item<int64_t>()];
    if (written[cls] == 4) continue;
    fs::create_directories(fs::path(f.root) / cls);
    auto image = subset.images[i][0].contiguous();
    auto path = fs::path(f.root) / cls / (std::to_string(written[cls]++) + ".png");
    REQUIRE(stbi_write_png(path.c_str(), 28, 28, 1, image.data_ptr<uint8_t>(), 28) != 0);
  }
  std::ofstream(fs::path(f.root) / "Bag" / "broken.png") << "\x89PNG\r\n not really a png";
  std::ofstream(fs::path(f.root) / "Bag" / "notes.txt") << "not an image";
  // The expected set in load order: classes sorted (Bag, Sneaker, Trouser), files by name.
  std::vector<torch::Tensor> images;
  for (const std::string cls : {"Bag", "Sneaker", "Trouser"}) {
    int64_t k = std::find(names.begin(), names.end(), cls) - names.begin();
    auto of_class = subset.images.index_select(0, (subset.labels == k).nonzero().squeeze(1));
    images.push_back(of_class.slice(0, 0, 4));
  }
  f.source.images = torch::cat(images);
  f.source.labels = torch::tensor({0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2}, torch::kLong);
  f.source.classes = {"Bag", "Sneaker", "Trouser"};
  return f;
}

}  // namespace

TEST_CASE("image folder loads real PNGs by class and skips a corrupt file", "[data][image_folder]") {
  auto f = make_folder();
  data::ImageFolderOptions o;
  o.target_size = {28, 28};
  o.color_mode = "grayscale";
  int64_t skipped = -1;
  auto set = data::load_image_folder(f.root, o, &skipped);
  CHECK(skipped == 1);
  CHECK(set.classes == f.source.classes);
  REQUIRE(set.images.sizes() == torch::IntArrayRef({12, 1, 28, 28}));
  CHECK(torch::equal(set.labels, f.source.labels));
  CHECK(torch::equal(set.images, f.source.images));  // PNG is lossless

  o.color_mode = "rgb";
  o.target_size = {14, 20};
  auto rgb = data::load_image_folder(f.root, o);
  REQUIRE(rgb.images.sizes() == torch::IntArrayRef({12, 3, 14, 20}));
  CHECK(torch::equal(rgb.images[5][0], rgb.images[5][2]));  // grey stays grey
  CHECK(rgb.images.to(torch::kFloat).mean().item<float>() > 10);
  CHECK(data::image_folder_classes(f.root) == f.source.classes);
}

TEST_CASE("image folder: a split that lacks a class keeps the training classes' labels, by name",
          "[data][image_folder]") {
  // A test folder without "Bag" was once labelled by position: Sneaker became 0, Trouser 1,
  // and a trivially separable problem scored 0.0.
  auto f = make_folder();
  fs::remove_all(fs::path(f.root) / "Bag");
  data::ImageFolderOptions o;
  o.target_size = {28, 28};
  o.color_mode = "grayscale";
  o.classes = {"Bag", "Sneaker", "Trouser"};
  auto set = data::load_image_folder(f.root, o);
  CHECK(set.classes == o.classes);
  CHECK(torch::equal(set.labels, torch::tensor({1, 1, 1, 1, 2, 2, 2, 2}, torch::kLong)));
  // A folder that is not a training class is refused by name.
  fs::create_directories(fs::path(f.root) / "Coat");
  o.classes = {"Sneaker", "Trouser"};
  CHECK_THROWS_WITH(data::load_image_folder(f.root, o), Catch::Contains("'Coat'") && Catch::Contains("Sneaker, Trouser"));
}

TEST_CASE("image folder skips hidden folders and files", "[data][image_folder]") {
  // Jupyter leaves .ipynb_checkpoints/ beside the class folders, macOS ._name copies and
  // .DS_Store beside the images. Taken for a class, a hidden folder shifts every label.
  auto f = make_folder();
  const fs::path root(f.root);
  fs::create_directories(root / ".ipynb_checkpoints");
  fs::copy_file(root / "Bag" / "0.png", root / ".ipynb_checkpoints" / "0-checkpoint.png");
  fs::create_directories(root / "Sneaker" / ".thumbnails");
  fs::copy_file(root / "Bag" / "1.png", root / "Sneaker" / ".thumbnails" / "1.png");
  fs::copy_file(root / "Bag" / "2.png", root / "Trouser" / ".hidden.png");
  std::ofstream(root / "Trouser" / "._0.png") << "\x00\x05\x16\x07 AppleDouble";
  std::ofstream(root / ".DS_Store") << "Bud1";

  data::ImageFolderOptions o;
  o.target_size = {28, 28};
  o.color_mode = "grayscale";
  int64_t skipped = -1;
  auto set = data::load_image_folder(f.root, o, &skipped);
  CHECK(set.classes == f.source.classes);
  CHECK(data::image_folder_classes(f.root) == f.source.classes);
  CHECK(skipped == 1);  // broken.png only: the hidden ._0.png is not even tried
  REQUIRE(set.images.sizes() == torch::IntArrayRef({12, 1, 28, 28}));
  CHECK(torch::equal(set.labels, f.source.labels));
  CHECK(torch::equal(set.images, f.source.images));

  // Only hidden folders: no class at all.
  const auto only_hidden = fs::temp_directory_path() / "strata_test_hidden_only_folder";
  fs::remove_all(only_hidden);
  fs::create_directories(only_hidden / ".git");
  CHECK_THROWS_WITH(data::image_folder_classes(only_hidden.string()),
                    Catch::Contains("no class folders"));
  fs::remove_all(only_hidden);
}

TEST_CASE("image folder refuses a missing or empty root", "[data][image_folder]") {
  CHECK_THROWS_AS(data::load_image_folder("/nonexistent/strata"), InputError);
  auto empty = fs::temp_directory_path() / "strata_test_empty_folder";
  fs::create_directories(empty);
  CHECK_THROWS_WITH(data::image_folder_classes(empty.string()), Catch::Contains("no class folders"));
}

TEST_CASE("augmentation is seeded, keeps shapes, and flips are exact mirrors", "[data][augment]") {
  auto images = torch::rand({8, 1, 28, 28});
  data::AugmentOptions o;
  auto gen = at::detail::createCPUGenerator(0);
  CHECK(torch::equal(data::augment(images, o, gen), images));  // nothing asked: unchanged

  o.horizontal_flip = true;
  auto flipped = data::augment(images, o, gen);
  int64_t mirrored = 0;
  for (int64_t i = 0; i < 8; ++i) {
    bool same = torch::allclose(flipped[i], images[i], 0, 1e-5);
    bool mirror = torch::allclose(flipped[i], images[i].flip(2), 0, 1e-5);
    CHECK((same || mirror));
    mirrored += mirror;
  }
  CHECK(mirrored > 0);
  CHECK(mirrored < 8);

  o = {};
  o.rescale = 1.0 / 255;
  o.rotation_range = 20;
  o.width_shift_range = 0.2;
  o.height_shift_range = 0.2;
  o.horizontal_flip = true;
  auto a = at::detail::createCPUGenerator(7), b = at::detail::createCPUGenerator(7);
  auto big = torch::rand({16, 3, 32, 24}) * 255;
  auto x1 = data::augment(big, o, a);
  auto x2 = data::augment(big, o, b);
  CHECK(x1.sizes() == big.sizes());
  CHECK(torch::equal(x1, x2));
  CHECK(!torch::allclose(x1, big / 255));
  CHECK(x1.max().item<float>() <= 1.0f + 1e-5f);
  // A constant image stays constant under any transform with nearest fill.
  auto flat = torch::full({4, 1, 28, 28}, 0.5f);
  CHECK(torch::allclose(data::augment(flat, o, a), flat / 255, 0, 1e-6));
}
