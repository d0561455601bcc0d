// The accelerator switches (core/precision.h) where there is no GPU: each CUDA-only one
// falls back with one log line, and the ones with a CPU kernel run and agree with the
// plain path. `strata train` with all of them on is one real run.

#include "core/precision.h"

#include <ATen/autocast_mode.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>

#include "core/network.h"
#include "tests/support/process.h"

// Last: glog (through LibTorch) also defines CHECK, and Catch's must win.
#include <catch2/catch.hpp>

using namespace strata;
namespace fs = std::filesystem;

TEST_CASE("precision: tf32 and pin_memory fall back on the CPU; bf16 stays", "[precision]") {
  ComputeOptions asked;
  asked.dtype = Precision::kBFloat16;
  asked.tf32 = true;
  asked.pin_memory = true;
  const auto got = resolve_compute(asked, torch::kCPU, false);
  CHECK(got.dtype == Precision::kBFloat16);  // autocast has CPU kernels
  CHECK_FALSE(got.tf32);
  CHECK_FALSE(got.pin_memory);

  // A batch moved with pin on the CPU is the same tensor, not a pinned copy.
  Batch b;
  b.input = torch::arange(6).view({2, 3});
  auto moved = b.to(torch::kCPU, /*pin=*/true);
  CHECK(moved.input.data_ptr() == b.input.data_ptr());
  CHECK_FALSE(moved.target.defined());
}

TEST_CASE("precision: AutocastGuard nests and restores the autocast state", "[precision]") {
  auto lin = torch::nn::Linear(8, 4);
  auto x = torch::randn({3, 8});
  CHECK_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
  {
    AutocastGuard outer(torch::kCPU, true);
    CHECK(lin(x).scalar_type() == torch::kBFloat16);
    {
      AutocastGuard off(torch::kCPU, false);  // disabled: changes nothing
      CHECK(lin(x).scalar_type() == torch::kBFloat16);
      AutocastGuard inner(torch::kCPU, true);
      CHECK(lin(x).scalar_type() == torch::kBFloat16);
    }
    CHECK(at::autocast::is_autocast_enabled(at::kCPU));  // the inner guard left it on
  }
  CHECK_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
  CHECK(lin(x).scalar_type() == torch::kFloat);
}

TEST_CASE("precision: strata train with every switch on runs on the CPU, saying what fell back",
          "[precision][train]") {
  using namespace strata::testing;
  const auto dir = temp_dir("precision-switches");
  auto r = run_strata({"train", "tests/assets/gpt-tiny.yaml", "out_dir=" + dir,
                       "trainer.max_steps=6", "trainer.eval_every=6", "trainer.dtype=bfloat16",
                       "trainer.tf32=true", "trainer.pin_memory=true", "optimizer.fused=true",
                       "model.attn_implementation=eager", "distributed.backend=nccl"});
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("tf32: no GPU") != std::string::npos);
  CHECK(r.output.find("pin_memory: no GPU") != std::string::npos);
  CHECK(r.output.find("dtype: bfloat16 autocast on cpu") != std::string::npos);
  auto results = nlohmann::json::parse(read_text(dir + "/results.json"));
  const double loss = results["results"]["eval/validation/loss"].get<double>();
  CHECK(std::isfinite(loss));
  CHECK(loss < results["unigram_loss"].get<double>() + 2.0);

  // A bad value is named with its key.
  auto bad = run_strata({"train", "tests/assets/gpt-tiny.yaml", "out_dir=" + dir + "-bad",
                         "trainer.dtype=fp8"});
  CHECK(bad.status == 2);
  CHECK(bad.output.find("trainer.dtype") != std::string::npos);
  bad = run_strata({"train", "tests/assets/gpt-tiny.yaml", "out_dir=" + dir + "-bad",
                    "model.attn_implementation=flash"});
  CHECK(bad.status == 2);
  CHECK(bad.output.find("model.attn_implementation") != std::string::npos);
  fs::remove_all(dir);
}
