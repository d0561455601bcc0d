#include "core/paths.h"
#include "core/data/image_folder.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>

#include "core/data/listing.h"
#include "core/errors.h"
#include "core/log.h"

// stb_image is a single-header library: its implementation is compiled here, with static
// linkage, so no other unit's copy can clash with it.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

namespace fs = std::filesystem;

namespace strata::data {

namespace {

bool is_image(const fs::path& p) {
  for (const char* ext : {".png", ".jpg", ".jpeg", ".bmp", ".gif"}) {
    if (has_extension(p, ext)) return true;
  }
  return false;
}

// One decoded image as uint8 [C, H, W] at the target size, or an undefined tensor.
torch::Tensor decode(const std::string& path, int channels, int64_t H, int64_t W,
                     std::string* why) {
  int w = 0, h = 0, n = 0;
  unsigned char* pixels = stbi_load(path.c_str(), &w, &h, &n, channels);
  if (!pixels) {
    const char* reason = stbi_failure_reason();
    *why = reason ? reason : "cannot decode";
    return {};
  }
  auto image = torch::from_blob(pixels, {h, w, channels}, torch::kUInt8)
                   .permute({2, 0, 1})
                   .clone();  // [C, h, w], owning its memory
  stbi_image_free(pixels);
  if (h == H && w == W) return image;
  auto resized = torch::nn::functional::interpolate(
      image.unsqueeze(0).to(torch::kFloat),
      torch::nn::functional::InterpolateFuncOptions()
          .size(std::vector<int64_t>{H, W})
          .mode(torch::kBilinear)
          .align_corners(false)
          .antialias(true));
  return resized.squeeze(0).round_().clamp_(0, 255).to(torch::kUInt8);
}

}  // namespace

std::vector<std::string> image_folder_classes(const std::string& root) {
  if (!fs::is_directory(root)) {
    throw InputError(fmt::format("{}: image folder not found", root));
  }
  std::vector<std::string> classes;
  for (const auto& dir : list_entries(root, Entries::kDirectories, "image folder")) {
    classes.push_back(dir.filename().string());
  }
  if (classes.empty()) {
    throw InputError(fmt::format("{}: no class folders (expected root/<class>/<image>)", root));
  }
  return classes;
}

ImageSet load_image_folder(const std::string& root, const ImageFolderOptions& o,
                           int64_t* skipped) {
  if (o.target_size.size() != 2 || o.target_size[0] < 1 || o.target_size[1] < 1) {
    throw InputError("image folder: target_size must be [height, width]");
  }
  if (o.color_mode != "rgb" && o.color_mode != "grayscale") {
    throw InputError(fmt::format("image folder: unknown color_mode '{}'; valid: rgb, grayscale",
                                 o.color_mode));
  }
  const int channels = o.color_mode == "rgb" ? 3 : 1;
  const int64_t H = o.target_size[0], W = o.target_size[1];

  ImageSet set;
  const std::vector<std::string> found = image_folder_classes(root);
  set.classes = o.classes.empty() ? found : o.classes;
  std::vector<std::string> files;
  std::vector<int64_t> labels;
  for (const auto& name : found) {
    const auto at = std::find(set.classes.begin(), set.classes.end(), name);
    if (at == set.classes.end()) {
      throw InputError(fmt::format("image folder {}: class folder '{}' is not one of the training classes ({})",
                                   root, name, fmt::join(set.classes, ", ")));
    }
    std::vector<std::string> in_class;
    for (const auto& file : list_entries(fs::path(root) / name, Entries::kFiles, "image folder class")) {
      if (is_image(file)) in_class.push_back(file.string());
    }
    files.insert(files.end(), in_class.begin(), in_class.end());
    labels.insert(labels.end(), in_class.size(), int64_t(at - set.classes.begin()));
  }

  std::vector<torch::Tensor> images(files.size());
  std::vector<std::string> errors(files.size());
  at::parallel_for(0, int64_t(files.size()), 16, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) images[i] = decode(files[i], channels, H, W, &errors[i]);
  });

  std::vector<torch::Tensor> kept;
  std::vector<int64_t> kept_labels;
  int64_t bad = 0;
  std::string first_bad;
  for (size_t i = 0; i < files.size(); ++i) {
    if (images[i].defined()) {
      kept.push_back(images[i]);
      kept_labels.push_back(labels[i]);
    } else if (bad++ == 0) {
      first_bad = fmt::format("{} ({})", files[i], errors[i]);
    }
  }
  if (bad > 0) {
    log::warn("{}: skipped {} unreadable image{} of {}; first: {}", root, bad, bad == 1 ? "" : "s",
              files.size(), first_bad);
  }
  if (skipped) *skipped = bad;
  if (kept.empty()) throw InputError(fmt::format("{}: no readable images", root));
  set.images = torch::stack(kept);
  set.labels = torch::tensor(kept_labels, torch::kLong);
  log::info("{}: {} images in {} classes, {}x{}x{}", root, set.size(), set.classes.size(),
            channels, H, W);
  return set;
}

}  // namespace strata::data
