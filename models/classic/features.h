#pragma once
// Stage 2's hand-made features: a person decides what to measure, a learner decides.
//
// A FeatureExtractor turns a batch of examples (images or texts) into a float matrix
// [N, D] with one name per column. Extractors with a vocabulary (bag of words, TF-IDF)
// learn it in fit() from the training examples only; the others ignore fit(). Columns are
// named so that stage 1's rules can refer to them and tables can print them.
//
// Registered `features.type` names: pixels, hog, image_measurements (images);
// bag_of_words, tfidf, text_measurements (texts).

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/registry.h"

namespace strata::classic {

// What an extractor reads: a batch of images or of texts (one of the two is set).
struct Examples {
  torch::Tensor images;            // uint8 [N, C, H, W], image datasets
  std::vector<std::string> texts;  // one document each, text datasets
  int64_t size() const { return images.defined() ? images.size(0) : int64_t(texts.size()); }
};

class FeatureExtractor {
 public:
  virtual ~FeatureExtractor() = default;
  virtual std::string type() const = 0;
  // Learns what the columns are (a vocabulary) from the training examples.
  virtual void fit(const Examples& train) { (void)train; }
  // float [N, D]; an input of the wrong kind (texts for an image extractor) is an InputError.
  virtual torch::Tensor transform(const Examples& x) const = 0;
  // D names, usable as muParser variables ([A-Za-z_][A-Za-z0-9_]*). Empty before fit()
  // for extractors whose columns come from the data.
  virtual std::vector<std::string> names() const = 0;
  // What fit() learnt, for the checkpoint's state.json, and back.
  virtual nlohmann::json state() const { return nlohmann::json::object(); }
  virtual void load_state(const nlohmann::json& state) { (void)state; }
};

using ExtractorRegistry = Registry<std::unique_ptr<FeatureExtractor>(config::Reader&)>;

// Every feature extractor, registered on first use.
ExtractorRegistry& feature_extractors();

// Reads `type` and that extractor's options from a `features:` mapping, then finishes it.
std::unique_ptr<FeatureExtractor> make_extractor(config::Reader r);

// Replaces characters a muParser variable name may not hold with '_'.
std::string variable_name(const std::string& text);

// Raw pixels, divided by `scale` (255: values in [0, 1]), flattened row by row.
struct PixelOptions {
  double scale = 255.0;
};

class PixelFeatures : public FeatureExtractor {
 public:
  explicit PixelFeatures(PixelOptions o) : o_(o) {}
  std::string type() const override { return "pixels"; }
  void fit(const Examples& train) override;
  torch::Tensor transform(const Examples& x) const override;
  std::vector<std::string> names() const override;
  nlohmann::json state() const override;
  void load_state(const nlohmann::json& state) override;

 private:
  PixelOptions o_;
  std::vector<int64_t> shape_;  // C, H, W seen in fit()
};

// Checks that `x` holds images and returns them (uint8 [N, C, H, W]).
const torch::Tensor& images_of(const Examples& x, const std::string& extractor);
// Checks that `x` holds texts and returns them.
const std::vector<std::string>& texts_of(const Examples& x, const std::string& extractor);

}  // namespace strata::classic
