#include "models/classic/features.h"

#include <fmt/format.h>

#include <cctype>

#include "core/errors.h"
#include "models/classic/hog.h"
#include "models/classic/image_measurements.h"
#include "models/classic/text_features.h"

namespace strata::classic {

ExtractorRegistry& feature_extractors() {
  static ExtractorRegistry registry = [] {
    ExtractorRegistry r("feature extractor");
    r.add("pixels", [](config::Reader& c) {
      PixelOptions o;
      c.read("scale", o.scale, config::Range::positive());
      return std::unique_ptr<FeatureExtractor>(new PixelFeatures(o));
    });
    r.add("hog", [](config::Reader& c) {
      HogOptions o;
      read_options(c, o);
      return std::unique_ptr<FeatureExtractor>(new HogFeatures(o));
    });
    r.add("image_measurements", [](config::Reader& c) {
      ImageMeasurementOptions o;
      read_options(c, o);
      return std::unique_ptr<FeatureExtractor>(new ImageMeasurements(o));
    });
    r.add("bag_of_words", [](config::Reader& c) {
      BagOfWordsOptions o;
      read_options(c, o);
      return std::unique_ptr<FeatureExtractor>(new BagOfWords(o, /*tfidf=*/false));
    });
    r.add("tfidf", [](config::Reader& c) {
      BagOfWordsOptions o;
      read_options(c, o);
      return std::unique_ptr<FeatureExtractor>(new BagOfWords(o, /*tfidf=*/true));
    });
    r.add("text_measurements", [](config::Reader& c) {
      TextMeasurementOptions o;
      read_options(c, o);
      return std::unique_ptr<FeatureExtractor>(new TextMeasurements(o));
    });
    return r;
  }();
  return registry;
}

std::unique_ptr<FeatureExtractor> make_extractor(config::Reader r) {
  r.require("type");
  std::string type;
  r.read("type", type);
  auto extractor = feature_extractors().make(type, r.where("type"), r);
  r.finish();
  return extractor;
}

std::string variable_name(const std::string& text) {
  std::string out;
  for (char c : text) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0]))) out = "_" + out;
  return out;
}

const torch::Tensor& images_of(const Examples& x, const std::string& extractor) {
  if (!x.images.defined() || x.images.dim() != 4) {
    throw InputError(fmt::format("features '{}' read images, but this dataset holds texts",
                                 extractor));
  }
  return x.images;
}

const std::vector<std::string>& texts_of(const Examples& x, const std::string& extractor) {
  if (x.images.defined()) {
    throw InputError(fmt::format("features '{}' read texts, but this dataset holds images",
                                 extractor));
  }
  return x.texts;
}

// ---- raw pixels -----------------------------------------------------------------------

void PixelFeatures::fit(const Examples& train) {
  const auto& images = images_of(train, "pixels");
  shape_ = {images.size(1), images.size(2), images.size(3)};
}

torch::Tensor PixelFeatures::transform(const Examples& x) const {
  const auto& images = images_of(x, "pixels");
  // The feature width spelled out, so an empty split (validation: 0) still has a shape.
  return images.reshape({images.size(0), images.size(1) * images.size(2) * images.size(3)})
      .to(torch::kFloat)
      .div_(float(o_.scale));
}

std::vector<std::string> PixelFeatures::names() const {
  std::vector<std::string> out;
  if (shape_.empty()) return out;
  for (int64_t c = 0; c < shape_[0]; ++c)
    for (int64_t r = 0; r < shape_[1]; ++r)
      for (int64_t k = 0; k < shape_[2]; ++k)
        out.push_back(shape_[0] == 1 ? fmt::format("px_{}_{}", r, k)
                                     : fmt::format("px{}_{}_{}", c, r, k));
  return out;
}

nlohmann::json PixelFeatures::state() const { return {{"shape", shape_}}; }

void PixelFeatures::load_state(const nlohmann::json& state) {
  shape_ = state.value("shape", std::vector<int64_t>{});
}

}  // namespace strata::classic
