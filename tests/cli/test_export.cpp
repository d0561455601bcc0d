// `strata export`: a checkpoint written as Strata's files loads back through
// models::load_network, and as Hugging Face's through models::load_hf, each giving the
// checkpoint's logits; a Hugging Face directory exports to Strata's files; a DIR that is
// not empty is refused in one line unless --overwrite.

// LibTorch first: its glog defines a CHECK macro that Catch's must replace.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <string>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/trainer.h"
#include "models/hf.h"
#include "models/load.h"
#include "models/registry.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace fs = std::filesystem;
using namespace strata;
using strata::testing::run_strata;

namespace {

torch::Tensor logits_of(Network& model, const torch::Tensor& ids) {
  torch::NoGradGuard no_grad;
  model.eval();
  Batch batch;
  batch.input = ids;
  return model.forward(batch);
}

}  // namespace

TEST_CASE("export: Strata's files and Hugging Face's, each loading back to the same logits",
          "[cli][export]") {
  strata::testing::TempDir dir("export");
  // A checkpoint of a debug GPT as the trainer saves one (no training: the weights are
  // what they are).
  torch::manual_seed(5);
  const std::string yaml = "model:\n  type: gpt\n  size: debug\n  activation: gelu_new\n";
  auto doc = config::Document::parse(yaml, "run.yaml");
  auto section = doc.root().child("model");
  std::string type;
  section.required("type", type);
  auto network = models::networks().make(type, section.where("type"), section);
  CheckpointContents contents;
  contents.model = model_tensors(*network);
  contents.config_yaml = yaml;
  contents.state = {{"step", 0}};
  const std::string ckpt = Checkpointer(dir.file("run"), 0).save(0, contents);
  const auto ids = torch::randint(256, {2, 10}, torch::kInt64);
  const auto expected = logits_of(*network, ids);

  auto hf = run_strata({"export", dir.file("run"), "--format", "hf", "--out", dir.file("hf")});
  INFO(hf.output);
  REQUIRE(hf.status == 0);
  CHECK(models::is_hf_dir(dir.file("hf")));
  CHECK(logits_of(*models::load_hf(dir.file("hf"), torch::kCPU).network, ids).equal(expected));

  auto st = run_strata({"export", ckpt, "--out", dir.file("strata")});  // --format strata
  INFO(st.output);
  REQUIRE(st.status == 0);
  CHECK(!fs::exists(dir.file("strata/optimizer.safetensors")));
  CHECK(logits_of(*models::load_network(dir.file("strata"), torch::kCPU).network, ids)
            .equal(expected));

  // From Hugging Face's files back to Strata's.
  auto back =
      run_strata({"export", dir.file("hf"), "--format", "strata", "--out", dir.file("back")});
  INFO(back.output);
  REQUIRE(back.status == 0);
  CHECK(
      logits_of(*models::load_network(dir.file("back"), torch::kCPU).network, ids).equal(expected));

  // A DIR that is not empty: one line, exit 2, unless --overwrite.
  auto refused = run_strata({"export", ckpt, "--format", "hf", "--out", dir.file("strata")});
  CHECK(refused.status == 2);
  CHECK(std::count(refused.output.begin(), refused.output.end(), '\n') == 1);
  CHECK(refused.output.find("not empty") != std::string::npos);
  auto overwritten =
      run_strata({"export", ckpt, "--format", "hf", "--out", dir.file("strata"), "--overwrite"});
  INFO(overwritten.output);
  CHECK(overwritten.status == 0);
  CHECK(models::is_hf_dir(dir.file("strata")));  // config.yaml and state.json gone
  CHECK(run_strata({"export", ckpt, "--format", "onnx", "--out", dir.file("x")}).status == 2);
}
