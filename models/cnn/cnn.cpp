#include "models/cnn/cnn.h"

#include <fmt/format.h>

#include "core/errors.h"
#include "core/registry.h"
#include "models/cnn/fast_ops.h"

namespace strata::models {

namespace F = torch::nn::functional;

// ---- sizes -----------------------------------------------------------------------------

const NamedSizes<CNNOptions>& cnn_named_sizes() {
  static const NamedSizes<CNNOptions> sizes(
      "cnn", {
                 {"debug", CNNOptions().channels({8, 16}).pool({2, 2}).dense({32})},
                 {"keras", CNNOptions()},  // the defaults are the design notes' Keras model
                 {"keras_bn", CNNOptions().batch_norm(true).dropout(0.3)},
             });
  return sizes;
}

std::vector<std::string> cnn_sizes() { return cnn_named_sizes().names(); }

CNNOptions cnn_size(const std::string& name) { return cnn_named_sizes().get(name); }

namespace {

int64_t padding_of(const CNNOptions& o) { return o.padding() == Padding::kSame ? o.kernel_size() / 2 : 0; }

// The Keras-style shape of a [B, C, H, W] or [B, F] tensor: "(None, H, W, C)", "(None, F)".
std::string keras_shape(const torch::Tensor& t) {
  if (t.dim() == 4) return fmt::format("(None, {}, {}, {})", t.size(2), t.size(3), t.size(1));
  std::string s = "(None";
  for (int64_t d = 1; d < t.dim(); ++d) s += fmt::format(", {}", t.size(d));
  return s + ")";
}

void add_row(std::vector<SummaryRow>* rows, const std::string& name, const std::string& type,
             const torch::Tensor& out, const torch::nn::Module* layer) {
  if (!rows) return;
  SummaryRow row{name, type, keras_shape(out)};
  if (layer) {
    for (const auto& p : layer->parameters()) {
      row.params += p.numel();
      if (p.requires_grad()) row.trainable += p.numel();
    }
  }
  rows->push_back(row);
}

}  // namespace

std::vector<int64_t> cnn_spatial_sizes(const CNNOptions& o) {
  std::vector<int64_t> sizes{o.image_size()};
  int64_t s = o.image_size();
  for (size_t i = 0; i < o.channels().size(); ++i) {
    s = s + 2 * padding_of(o) - o.kernel_size() + 1;  // conv, stride 1
    if (s >= 1) s /= o.pool()[i];                    // max-pool, floor
    sizes.push_back(s);
  }
  return sizes;
}

// ---- model -----------------------------------------------------------------------------

CNNImpl::CNNImpl(const CNNOptions& options) : options_(options) {
  const auto& o = options_;
  TORCH_CHECK(!o.channels().empty(), "cnn: channels must list at least one conv block");
  TORCH_CHECK(o.pool().size() == o.channels().size(), "cnn: pool needs one value per block (",
              o.channels().size(), "), got ", o.pool().size());
  TORCH_CHECK(o.padding() == Padding::kValid || o.kernel_size() % 2 == 1,
              "cnn: padding must be 'valid', or 'same' with an odd kernel_size");
  const auto sizes = cnn_spatial_sizes(o);
  TORCH_CHECK(sizes.back() >= 1, "cnn: image_size ", o.image_size(), " is too small for ",
              o.channels().size(), " conv blocks");

  int64_t c_in = o.in_channels();
  for (size_t i = 0; i < o.channels().size(); ++i) {
    const std::string n = std::to_string(i + 1);
    auto conv_options = torch::nn::Conv2dOptions(c_in, o.channels()[i], o.kernel_size())
                            .padding(padding_of(o))
                            .bias(!o.batch_norm());  // batch norm's shift replaces the bias
    convs_.push_back(register_module("conv" + n, torch::nn::Conv2d(conv_options)));
    if (o.batch_norm()) {
      bns_.push_back(register_module("bn" + n, torch::nn::BatchNorm2d(o.channels()[i])));
    }
    c_in = o.channels()[i];
  }
  int64_t f = c_in * sizes.back() * sizes.back();  // F
  for (size_t j = 0; j < o.dense().size(); ++j) {
    denses_.push_back(register_module("dense" + std::to_string(j + 1),
                                      torch::nn::Linear(f, o.dense()[j])));
    f = o.dense()[j];
  }
  head_ = register_module("head", torch::nn::Linear(f, o.num_classes()));
}

torch::Tensor CNNImpl::forward(const Batch& batch) { return forward(batch.input); }

torch::Tensor CNNImpl::forward(torch::Tensor images) {
  check_images(images);
  return classifier(conv_features(images, nullptr), nullptr);
}

torch::Tensor CNNImpl::features(const Batch& batch, Pooling pooling) {
  if (pooling != Pooling::kDefault) throw InputError("cnn: features take no pooling option");
  check_images(batch.input);
  return conv_features(batch.input, nullptr);  // [B, F]
}

int64_t CNNImpl::num_features() const {
  return options_.channels().back() * cnn_spatial_sizes(options_).back() *
         cnn_spatial_sizes(options_).back();
}

void CNNImpl::check_images(const torch::Tensor& images) const {
  const auto& o = options_;
  if (images.dim() != 4 || images.size(1) != o.in_channels() ||
      images.size(2) != o.image_size() || images.size(3) != o.image_size()) {
    std::string got;
    for (int64_t d : images.sizes()) got += (got.empty() ? "" : ", ") + std::to_string(d);
    throw InputError(fmt::format(
        "cnn: input images are [{}] but the model expects [B, {}, {}, {}] (model.in_channels, "
        "model.image_size)",
        got, o.in_channels(), o.image_size(), o.image_size()));
  }
}

torch::Tensor CNNImpl::conv_features(torch::Tensor x, std::vector<SummaryRow>* rows) {
  const auto& o = options_;
  // oneDNN convolves channels-last tensors without reordering them; CPU float only.
  const bool fast = !rows && x.device().is_cpu() && x.scalar_type() == torch::kFloat;
  if (fast) x = x.contiguous(at::MemoryFormat::ChannelsLast);

  for (size_t i = 0; i < convs_.size(); ++i) {
    const std::string n = std::to_string(i + 1);
    const int64_t pool = o.pool()[i];
    auto& conv = convs_[i];
    if (fast && i == 0 && !o.batch_norm() &&
        fast::conv_pool_relu_applies(x, conv->weight, pool)) {
      const int64_t p = padding_of(o);
      if (p > 0) x = F::pad(x, F::PadFuncOptions({p, p, p, p}));
      x = fast::conv_pool_relu(x, conv->weight, conv->bias, pool);  // [B, C_1, H_1, W_1]
      continue;
    }
    x = conv(x);  // [B, C_i, H', W']
    add_row(rows, "conv" + n, "Conv2d", x, conv.get());
    if (o.batch_norm()) {
      x = bns_[i](x);
      add_row(rows, "bn" + n, "BatchNorm2d", x, bns_[i].get());
    }
    if (pool > 1) {
      x = torch::max_pool2d(x, pool);  // [B, C_i, H' / pool, W' / pool]
      add_row(rows, "pool" + n, "MaxPool2d", x, nullptr);
    }
    x.relu_();  // in place: max-pool's and batch norm's backward need no output
  }
  // Flatten in [C, H, W] order whatever the memory layout (a small copy when
  // channels-last): dense1's columns follow PyTorch's order.
  x = x.contiguous().flatten(1);  // [B, F]
  add_row(rows, "flatten", "Flatten", x, nullptr);
  return x;
}

torch::Tensor CNNImpl::classifier(torch::Tensor x, std::vector<SummaryRow>* rows) {
  for (size_t j = 0; j < denses_.size(); ++j) {
    const std::string n = std::to_string(j + 1);
    x = denses_[j](x).relu_();  // [B, dense_j]
    add_row(rows, "dense" + n, "Linear", x, denses_[j].get());
    if (options_.dropout() > 0) {
      x = F::dropout(x, F::DropoutFuncOptions().p(options_.dropout()).training(is_training()));
      add_row(rows, "dropout" + n, "Dropout", x, nullptr);
    }
  }
  x = head_(x);  // [B, K]
  add_row(rows, "head", "Linear", x, head_.get());
  return x;
}

// ---- reporting -------------------------------------------------------------------------

double CNNImpl::train_flops_per_unit() const {
  const auto& o = options_;
  const auto sizes = cnn_spatial_sizes(o);
  double macs = 0;
  int64_t c_in = o.in_channels(), s = o.image_size();
  for (size_t i = 0; i < o.channels().size(); ++i) {
    s = s + 2 * padding_of(o) - o.kernel_size() + 1;  // conv output, before pooling
    macs += double(s * s) * o.channels()[i] * c_in * o.kernel_size() * o.kernel_size();
    c_in = o.channels()[i];
    s = sizes[i + 1];
  }
  int64_t f = c_in * s * s;
  for (int64_t width : o.dense()) macs += double(f) * width, f = width;
  macs += double(f) * o.num_classes();
  return 3.0 * 2.0 * macs;
}

std::vector<SummaryRow> CNNImpl::summary() {
  // Trace one dummy image through the plain path, in eval mode so that batch norm's
  // running statistics stay untouched, and without building a graph.
  torch::NoGradGuard no_grad;
  const bool was_training = is_training();
  eval();
  const auto& o = options_;
  auto device = head_->weight.device();
  auto x = torch::zeros({1, o.in_channels(), o.image_size(), o.image_size()},
                        head_->weight.options().device(device));
  std::vector<SummaryRow> rows;
  classifier(conv_features(x, &rows), &rows);
  train(was_training);
  return rows;
}

}  // namespace strata::models
