#include <catch2/catch.hpp>

#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "core/config.h"
#include "core/errors.h"
#include "models/cnn/cnn.h"
#include "models/cnn/cnn_config.h"
#include "models/cnn/fast_ops.h"
#include "models/registry.h"
#include "tests/support/process.h"

using namespace strata;
using namespace strata::models;
namespace F = torch::nn::functional;

namespace {

// Images like Fashion-MNIST's: random pixels in [0, 1] on a black border, so the first
// conv block sees the exact ties (identical all-zero patches) that real data has.
torch::Tensor fake_images(int64_t B, int64_t C, int64_t S, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto x = torch::rand({B, C, S, S}, gen);
  x.narrow(2, 0, S / 4).zero_();
  x.narrow(3, S - S / 4, S / 4).zero_();
  return x;
}

torch::Tensor fake_labels(int64_t B, int64_t K, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randint(K, {B}, gen, torch::kInt64);
}

// The same stack written with plain torch::nn modules in Keras' order
// (conv -> [bn] -> relu -> [pool]), NCHW, no fused kernel.
torch::nn::Sequential reference_of(const CNNOptions& o) {
  torch::nn::Sequential seq;
  int64_t c_in = o.in_channels();
  const int64_t pad = o.padding() == Padding::kSame ? o.kernel_size() / 2 : 0;
  for (size_t i = 0; i < o.channels().size(); ++i) {
    seq->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(c_in, o.channels()[i], o.kernel_size())
                                         .padding(pad)
                                         .bias(!o.batch_norm())));
    if (o.batch_norm()) seq->push_back(torch::nn::BatchNorm2d(o.channels()[i]));
    seq->push_back(torch::nn::ReLU());
    if (o.pool()[i] > 1) seq->push_back(torch::nn::MaxPool2d(o.pool()[i]));
    c_in = o.channels()[i];
  }
  seq->push_back(torch::nn::Flatten());
  const int64_t s = cnn_spatial_sizes(o).back();
  int64_t f = c_in * s * s;
  for (int64_t width : o.dense()) {
    seq->push_back(torch::nn::Linear(f, width));
    seq->push_back(torch::nn::ReLU());
    f = width;
  }
  seq->push_back(torch::nn::Linear(f, o.num_classes()));
  return seq;
}

// Copies the model's parameters and buffers into the reference (both list them in layer
// order with the same shapes).
void copy_into(CNN& model, torch::nn::Sequential& ref) {
  torch::NoGradGuard no_grad;
  auto a = model->parameters(), b = ref->parameters();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    REQUIRE(a[i].sizes() == b[i].sizes());
    b[i].copy_(a[i]);
  }
  auto ab = model->buffers(), bb = ref->buffers();
  REQUIRE(ab.size() == bb.size());
  for (size_t i = 0; i < ab.size(); ++i) bb[i].copy_(ab[i]);
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

// Forward and backward on both; logits and every gradient agree to 1e-5.
void check_matches_reference(const CNNOptions& o, int64_t B, uint64_t seed) {
  torch::manual_seed(seed);
  CNN model(o);
  auto ref = reference_of(o);
  copy_into(model, ref);
  auto x = fake_images(B, o.in_channels(), o.image_size(), seed + 1);
  auto y = fake_labels(B, o.num_classes(), seed + 2);

  auto fast_logits = model->forward(x);
  auto ref_logits = ref->forward(x);
  CHECK(max_abs_diff(fast_logits, ref_logits) < 1e-5);
  F::cross_entropy(fast_logits, y).backward();
  F::cross_entropy(ref_logits, y).backward();
  auto a = model->named_parameters();
  auto b = ref->parameters();
  for (size_t i = 0; i < b.size(); ++i) {
    INFO(a[i].key());
    REQUIRE(a[i].value().grad().defined());
    CHECK(max_abs_diff(a[i].value().grad(), b[i].grad()) < 1e-5);
  }
}

}  // namespace

TEST_CASE("cnn: the keras size has the design notes' shapes and 93,322 parameters", "[cnn]") {
  torch::manual_seed(0);
  CNN model(cnn_size("keras"));
  auto logits = model->forward(fake_images(4, 1, 28, 1));
  CHECK(logits.sizes() == torch::IntArrayRef({4, 10}));

  // Keras' count for 28x28x1 and 10 classes, layer by layer: (k*k*C_in + 1) * C_out.
  const int64_t conv1 = (3 * 3 * 1 + 1) * 32;    // 320, 28 -> 26 -> pool 13
  const int64_t conv2 = (3 * 3 * 32 + 1) * 64;   // 18,496, 13 -> 11 -> pool 5
  const int64_t conv3 = (3 * 3 * 64 + 1) * 64;   // 36,928, 5 -> 3
  const int64_t dense1 = (3 * 3 * 64 + 1) * 64;  // 36,928 from 576 features
  const int64_t head = (64 + 1) * 10;            // 650
  int64_t total = 0;
  for (const auto& p : model->parameters()) total += p.numel();
  CHECK(total == conv1 + conv2 + conv3 + dense1 + head);
  CHECK(total == 93322);

  std::set<std::string> names;
  for (const auto& p : model->named_parameters()) names.insert(p.key());
  CHECK(names == std::set<std::string>{"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                                       "conv3.weight", "conv3.bias", "dense1.weight",
                                       "dense1.bias", "head.weight", "head.bias"});

  // Forward MACs: 26*26*32*9 + 11*11*64*32*9 + 3*3*64*64*9 + 576*64 + 64*10; x2 x3.
  CHECK(model->train_flops_per_unit() == 6.0 * (194688 + 2230272 + 331776 + 36864 + 640));
}

TEST_CASE("cnn: PyTorch default initialisation (uniform within 1/sqrt(fan_in))", "[cnn]") {
  torch::manual_seed(0);
  CNN model(cnn_size("keras"));
  auto bound = [](double fan_in) { return 1.0 / std::sqrt(fan_in); };
  for (const auto& [name, fan_in] : std::vector<std::pair<std::string, double>>{
           {"conv2.weight", 32 * 9}, {"conv2.bias", 32 * 9}, {"dense1.weight", 576}, {"head.bias", 64}}) {
    INFO(name);
    auto p = model->named_parameters()[name];
    CHECK(p.abs().max().item<double>() <= bound(fan_in));
    CHECK(p.abs().max().item<double>() > 0.8 * bound(fan_in));  // spread over the range
  }
}

TEST_CASE("cnn: gradients reach every parameter, and backward is deterministic", "[cnn]") {
  for (const char* size : {"keras", "keras_bn", "debug"}) {
    INFO(size);
    torch::manual_seed(0);
    CNN model(cnn_size(size));
    auto x = fake_images(8, 1, 28, 3);
    auto y = fake_labels(8, 10, 4);
    auto grads = [&] {
      torch::manual_seed(1);  // the same dropout mask (keras_bn) both times
      model->zero_grad();
      F::cross_entropy(model->forward(x), y).backward();
      std::vector<torch::Tensor> g;
      for (const auto& p : model->parameters()) g.push_back(p.grad().clone());
      return g;
    };
    auto first = grads();
    auto second = grads();
    auto named = model->named_parameters();
    for (size_t i = 0; i < first.size(); ++i) {
      INFO(named[i].key());
      CHECK(first[i].abs().sum().item<double>() > 0);
      CHECK(torch::equal(first[i], second[i]));  // bitwise: resumed runs replay exactly
    }
  }
}

TEST_CASE("cnn: the fast path matches a plain torch::nn reference to 1e-5", "[cnn]") {
  SECTION("keras: fused first block, channels-last oneDNN convolutions") {
    check_matches_reference(cnn_size("keras"), 16, 10);
  }
  SECTION("batch norm (training mode)") {
    auto o = cnn_size("keras_bn");
    o.dropout(0.0);  // dropout masks differ by construction
    check_matches_reference(o, 16, 20);
  }
  SECTION("same padding, RGB input, pool 3, two dense layers") {
    auto o = cnn_size("debug");
    o.in_channels(3).image_size(20).padding(Padding::kSame).pool({3, 2}).dense({24, 16}).num_classes(5);
    check_matches_reference(o, 6, 30);
  }
}

TEST_CASE("cnn: the fused block matches conv -> relu -> max-pool, ties and NaN included", "[cnn]") {
  torch::manual_seed(5);
  auto x = fake_images(3, 2, 17, 6);
  x[0][0][8][8] = std::numeric_limits<float>::quiet_NaN();
  auto w = (torch::rand({7, 2, 4, 4}) - 0.5).requires_grad_();
  auto b = (torch::rand({7}) - 0.5).requires_grad_();
  auto fused = fast::conv_pool_relu(x, w, b, 3);
  auto plain = torch::max_pool2d(torch::relu(torch::conv2d(x, w, b)), 3);
  REQUIRE(fused.sizes() == plain.sizes());  // [3, 7, 4, 4]
  CHECK(torch::allclose(fused, plain, 1e-5, 1e-5, /*equal_nan=*/true));
  CHECK(torch::isnan(fused).sum().item<int64_t>() == torch::isnan(plain).sum().item<int64_t>());

  // Gradients on the finite images only (a NaN poisons every weight gradient).
  auto xs = x.narrow(0, 1, 2);
  auto g = torch::rand({2, 7, 4, 4});
  auto gw_b = torch::autograd::grad({fast::conv_pool_relu(xs, w, b, 3)}, {w, b}, {g});
  auto gp_b = torch::autograd::grad({torch::max_pool2d(torch::relu(torch::conv2d(xs, w, b)), 3)},
                                    {w, b}, {g});
  CHECK(max_abs_diff(gw_b[0], gp_b[0]) < 1e-5);
  CHECK(max_abs_diff(gw_b[1], gp_b[1]) < 1e-5);
}

TEST_CASE("cnn: summary rows are Keras' layers with output shapes", "[cnn]") {
  torch::manual_seed(0);
  CNN model(cnn_size("keras"));
  auto rows = model->summary();
  std::vector<std::string> got;
  for (const auto& r : rows) got.push_back(r.name + " " + r.type + " " + r.output_shape + " " + std::to_string(r.params));
  CHECK(got == std::vector<std::string>{
                   "conv1 Conv2d (None, 26, 26, 32) 320",
                   "pool1 MaxPool2d (None, 13, 13, 32) 0",
                   "conv2 Conv2d (None, 11, 11, 64) 18496",
                   "pool2 MaxPool2d (None, 5, 5, 64) 0",
                   "conv3 Conv2d (None, 3, 3, 64) 36928",
                   "flatten Flatten (None, 576) 0",
                   "dense1 Linear (None, 64) 36928",
                   "head Linear (None, 10) 650",
               });
  CHECK(model->is_training());  // summary leaves the mode as it found it

  // Frozen parameters count as not trainable.
  for (auto& p : model->named_parameters()) {
    if (p.key().rfind("conv", 0) == 0) p.value().requires_grad_(false);
  }
  int64_t trainable = 0;
  for (const auto& r : model->summary()) trainable += r.trainable;
  CHECK(trainable == 36928 + 650);

  // Batch norm and dropout get their own rows; summary leaves running statistics alone.
  CNN bn(cnn_size("keras_bn"));
  auto mean_before = bn->named_buffers()["bn1.running_mean"].clone();
  std::vector<std::string> names;
  for (const auto& r : bn->summary()) names.push_back(r.name);
  CHECK(names == std::vector<std::string>{"conv1", "bn1", "pool1", "conv2", "bn2", "pool2", "conv3",
                                          "bn3", "flatten", "dense1", "dropout1", "head"});
  CHECK(torch::equal(mean_before, bn->named_buffers()["bn1.running_mean"]));
}

TEST_CASE("cnn: the config reader and the registry", "[cnn]") {
  auto build = [](const std::string& yaml, const std::vector<std::string>& overrides = {}) {
    auto doc = config::Document::parse(yaml, "run.yaml", overrides);
    auto model = doc.root().child("model");
    std::string type;
    model.read("type", type);
    return networks().make(type, model.where("type"), model);
  };
  auto net = build("model:\n  type: cnn\n  size: keras\n", {"model.dropout=0.5", "model.num_classes=3"});
  auto* cnn = dynamic_cast<CNNImpl*>(net.get());
  REQUIRE(cnn != nullptr);
  CHECK(cnn->options().dropout() == 0.5);
  CHECK(cnn->options().num_classes() == 3);
  CHECK(cnn->options().channels() == std::vector<int64_t>{32, 64, 64});

  auto one_pool = build("model:\n  type: cnn\n  channels: [16, 32]\n  pool: 2\n");
  CHECK(dynamic_cast<CNNImpl*>(one_pool.get())->options().pool() == std::vector<int64_t>{2, 2});

  auto error_of = [&](const std::string& yaml) -> std::string {
    try {
      build(yaml);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  };
  CHECK(error_of("model:\n  type: cnn\n  chanels: [8]\n") ==
        "run.yaml:3: unknown key 'model.chanels'; did you mean 'channels'?");
  CHECK(error_of("model:\n  type: cnn\n  channels: [8, 16]\n") ==
        "run.yaml:2: 'model.pool' needs one value per conv block (2) or a single value, got 3");
  CHECK(error_of("model:\n  type: cnn\n  size: huge\n").find("must be one of debug, keras, keras_bn") !=
        std::string::npos);
  CHECK(error_of("model:\n  type: cnn\n  image_size: 8\n") ==
        "run.yaml:3: 'model.image_size' 8 is too small: nothing is left after conv block 2 "
        "(kernel_size 3, pool 2)");
}

TEST_CASE("cnn: a wrong input shape is a clear input error", "[cnn]") {
  CNN model(cnn_size("debug"));
  CHECK_THROWS_WITH(model->forward(torch::zeros({2, 3, 28, 28})),
                    "cnn: input images are [2, 3, 28, 28] but the model expects [B, 1, 28, 28] "
                    "(model.in_channels, model.image_size)");
}

TEST_CASE("cnn: a few Adam steps fit a fixed batch (debug size)", "[cnn]") {
  torch::manual_seed(0);
  CNN model(cnn_size("debug"));
  auto x = fake_images(32, 1, 28, 7);
  auto y = fake_labels(32, 10, 8);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-2));
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    opt.zero_grad();
    auto loss = F::cross_entropy(model->forward(x), y);
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  CHECK(last < 0.5 * first);

  // Eval mode without a graph takes the same fused path.
  torch::NoGradGuard no_grad;
  model->eval();
  CHECK(model->forward(x).sizes() == torch::IntArrayRef({32, 10}));
}

TEST_CASE("cnn: strata summary prints the Keras table from a run config", "[cnn]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("strata-cnn-summary-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string config = (dir / "run.yaml").string();
  // A full run config: the sections other than `model` are not the summary's to check.
  std::ofstream(config) << "out_dir: runs/x\nmodel:\n  type: cnn\n  size: keras\n"
                           "data:\n  dataset: fashion_mnist\ntrainer:\n  epochs: 3\n";
  auto r = testing::run_strata({"summary", config});
  INFO(r.output);
  CHECK(r.status == 0);
  for (const char* line : {" conv1 (Conv2d)", "(None, 26, 26, 32)", "36,928", "pool2 (MaxPool2d)",
                           "(None, 576)", "Total params: 93,322", "Trainable params: 93,322",
                           "Non-trainable params: 0"}) {
    CHECK(r.output.find(line) != std::string::npos);
  }

  // A run directory holds its resolved config as config.yaml; overrides apply.
  fs::copy_file(config, dir / "config.yaml", fs::copy_options::overwrite_existing);
  auto debug = testing::run_strata({"summary", dir.string(), "model.size=debug"});
  INFO(debug.output);
  CHECK(debug.status == 0);
  CHECK(debug.output.find("conv2 (Conv2d)") != std::string::npos);
  CHECK(debug.output.find("conv3") == std::string::npos);

  auto missing = testing::run_strata({"summary", (dir / "nope.yaml").string()});
  CHECK(missing.status == 2);
  CHECK(missing.output.find("nope.yaml: no such file or directory") != std::string::npos);
  std::ofstream(config) << "model:\n  type: cnnn\n";
  auto unknown = testing::run_strata({"summary", config});
  CHECK(unknown.status == 2);
  CHECK(unknown.output.find("unknown model type 'cnnn' (did you mean 'cnn'?)") != std::string::npos);
  std::error_code ec;
  fs::remove_all(dir, ec);
}
