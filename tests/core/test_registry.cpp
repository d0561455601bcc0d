#include <torch/torch.h>

#include "core/errors.h"
#include "core/registry.h"
#include "models/bert/bert.h"
#include "models/cnn/cnn.h"
#include "models/gpt/gpt.h"

// Last: glog (through LibTorch) also defines CHECK, and Catch's must win.
#include <catch2/catch.hpp>

using namespace strata;

TEST_CASE("registry: names in the order added; an unknown one gets the nearest and the list",
          "[registry]") {
  Registry<int()> r("thing");
  r.add("zeta", [] { return 1; });
  r.add("alpha", [] { return 2; });
  CHECK(r.names() == std::vector<std::string>{"zeta", "alpha"});
  CHECK(r.make("alpha", "f.yaml:3") == 2);
  CHECK_THROWS_WITH(r.make("alpah", "f.yaml:3"),
                    Catch::Equals("f.yaml:3: unknown thing 'alpah' (did you mean 'alpha'?); "
                                  "valid: zeta, alpha"));
  CHECK_THROWS_WITH(r.make("beta", ""), Catch::StartsWith("unknown thing 'beta'"));
}

TEST_CASE("registry: one named-size lookup serves gpt, bert and cnn", "[registry]") {
  CHECK(models::gpt_size("gpt2").n_layer() == 12);
  CHECK(models::bert_size("bert-base").n_embd() == 768);
  CHECK(models::cnn_size("keras").channels() == std::vector<int64_t>{32, 64, 64});
  CHECK(models::gpt_sizes().front() == "debug");
  CHECK_THROWS_WITH(models::gpt_size("gtp2"),
                    Catch::Contains("unknown gpt size 'gtp2' (did you mean 'gpt2'?)"));
  CHECK_THROWS_WITH(models::bert_size("bert-bse"),
                    Catch::Contains("unknown bert size") && Catch::Contains("'bert-base'"));
  CHECK_THROWS_WITH(models::cnn_size("kras"), Catch::Contains("unknown cnn size") &&
                                                  Catch::Contains("did you mean 'keras'"));
  CHECK_THROWS_AS(models::cnn_size("huge"), InputError);
}

TEST_CASE("network: the default loss is cross-entropy of forward()", "[registry][network]") {
  torch::manual_seed(0);
  models::CNNImpl cnn(models::cnn_size("debug"));
  Batch batch{torch::rand({4, 1, 28, 28}), torch::tensor({1, 2, 3, 4}, torch::kLong), {}, {}};
  Network& net = cnn;
  auto expected = torch::nn::functional::cross_entropy(cnn.forward(batch), batch.target);
  CHECK(net.loss(batch).item<double>() == Approx(expected.item<double>()).epsilon(1e-6));
}
