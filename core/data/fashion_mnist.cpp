#include "core/data/fashion_mnist.h"

#include <fmt/format.h>
#include <zlib.h>

#include <filesystem>

#include "core/data/subset.h"
#include "core/errors.h"
#include "core/sniff.h"

namespace strata::data {

namespace {

std::vector<uint8_t> read_gzip(const std::string& path) {
  if (!std::filesystem::exists(path)) {
    throw InputError(fmt::format(
        "{}: Fashion-MNIST file not found; install the Debian package dataset-fashion-mnist "
        "(scripts/bootstrap.sh does)",
        path));
  }
  refuse_impostor(path, "a gzip-compressed IDX file");
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw InputError(fmt::format("{}: cannot open", path));
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) out.insert(out.end(), buf, buf + n);
  bool bad = n < 0;
  gzclose(f);
  if (bad) throw InputError(fmt::format("{}: damaged gzip data", path));
  return out;
}

uint32_t be32(const std::vector<uint8_t>& b, size_t at) {
  return (uint32_t(b[at]) << 24) | (uint32_t(b[at + 1]) << 16) | (uint32_t(b[at + 2]) << 8) |
         uint32_t(b[at + 3]);
}

// An IDX file: magic (0, 0, type 0x08 = ubyte, number of dimensions), sizes, data.
torch::Tensor read_idx(const std::string& path, int64_t want_dims) {
  auto bytes = read_gzip(path);
  if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 ||
      bytes[3] != want_dims) {
    throw InputError(fmt::format("{}: not an IDX ubyte file with {} dimensions", path, want_dims));
  }
  size_t header = 4 + 4 * size_t(want_dims);
  if (bytes.size() < header) throw InputError(fmt::format("{}: truncated IDX header", path));
  std::vector<int64_t> shape;
  int64_t count = 1;
  for (int64_t d = 0; d < want_dims; ++d) {
    shape.push_back(be32(bytes, 4 + 4 * d));
    count *= shape.back();
  }
  if (bytes.size() != header + size_t(count)) {
    throw InputError(
        fmt::format("{}: expected {} data bytes, found {}", path, count, bytes.size() - header));
  }
  return torch::from_blob(bytes.data() + header, shape, torch::kUInt8).clone();
}

}  // namespace

const std::vector<std::string>& fashion_mnist_classes() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                 "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};
  return names;
}

ImageSet load_fashion_mnist(const std::string& split, const std::string& dir) {
  if (split != "train" && split != "test") {
    throw InputError(fmt::format("fashion_mnist: unknown split '{}'; valid: train, test", split));
  }
  const std::string prefix = split == "train" ? "train" : "t10k";
  ImageSet set;
  set.images = read_idx(fmt::format("{}/{}-images-idx3-ubyte.gz", dir, prefix), 3).unsqueeze(1);
  set.labels = read_idx(fmt::format("{}/{}-labels-idx1-ubyte.gz", dir, prefix), 1).to(torch::kLong);
  set.classes = fashion_mnist_classes();
  if (set.images.size(0) != set.labels.size(0)) {
    throw InputError(
        fmt::format("{}: {} images but {} labels", dir, set.images.size(0), set.labels.size(0)));
  }
  return set;
}

ImageSet select(const ImageSet& set, const torch::Tensor& index) {
  return ImageSet{set.images.index_select(0, index), set.labels.index_select(0, index),
                  set.classes};
}

ImageSet stratified_subset(const ImageSet& set, int64_t per_class, uint64_t seed) {
  if (per_class <= 0) return set;
  return select(set, stratified_indices(set.labels, int64_t(set.classes.size()), per_class, seed));
}

ImageSet only_classes(const ImageSet& set, const std::vector<std::string>& names) {
  std::vector<torch::Tensor> parts;
  auto relabelled = torch::full_like(set.labels, -1);
  for (size_t k = 0; k < names.size(); ++k) {
    auto it = std::find(set.classes.begin(), set.classes.end(), names[k]);
    if (it == set.classes.end()) {
      throw InputError(fmt::format("classes: unknown class '{}'", names[k]));
    }
    relabelled.masked_fill_(set.labels == int64_t(it - set.classes.begin()), int64_t(k));
  }
  auto index = (relabelled >= 0).nonzero().squeeze(1);
  return ImageSet{set.images.index_select(0, index), relabelled.index_select(0, index), names};
}

torch::Tensor to_float(const torch::Tensor& images) {
  return images.to(torch::kFloat).div_(255.0f);
}

}  // namespace strata::data
