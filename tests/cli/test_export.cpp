// `strata export`: a checkpoint written as Strata's files loads back through
// models::load_network, and as Hugging Face's through models::load_hf, each giving the
// checkpoint's logits; a Hugging Face directory exports to Strata's files; a DIR that is
// not empty is refused in one line unless --overwrite.

// LibTorch first: its glog defines a CHECK macro that Catch's must replace.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/python.h"
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

TEST_CASE("export --format hf: a pre-trained GPT with its tokenizer, loaded by transformers' "
          "AutoTokenizer, gives `strata tokenizer encode`'s ids",
          "[cli][export][hf][transformers]") {
  strata::testing::TempDir dir("export-tokenizer");
  auto run = run_strata({"train", "tests/assets/gpt-tiny.yaml", "out_dir=" + dir.file("run"),
                         "trainer.max_steps=2", "trainer.eval_every=2"});
  INFO(run.output);
  REQUIRE(run.status == 0);
  auto hf = run_strata({"export", dir.file("run"), "--format", "hf", "--out", dir.file("hf")});
  INFO(hf.output);
  REQUIRE(hf.status == 0);
  for (const char* f : {"tokenizer.model", "tokenizer.json", "tokenizer_config.json"}) {
    CHECK(fs::exists(dir.file(std::string("hf/") + f)));
  }
  // Each document of the test file through `strata tokenizer encode --text`.
  nlohmann::json expected = nlohmann::json::array();
  std::ifstream docs(strata::testing::source_dir() + "/tests/assets/tokenizer/documents.jsonl");
  for (std::string line; std::getline(docs, line);) {
    const auto text = nlohmann::json::parse(line)["text"].get<std::string>();
    auto enc = run_strata({"tokenizer", "encode", "--model", dir.file("hf/tokenizer.model"),
                           "--text", text, "--threads", "1"});
    REQUIRE(enc.status == 0);
    std::vector<int> ids;
    std::istringstream in(enc.output);
    for (int id; in >> id;) ids.push_back(id);
    expected.push_back({{"text", text}, {"ids", ids}});
  }
  std::ofstream(dir.file("expected.json")) << expected.dump();
  const std::string cmd = python_program() + " " + strata::testing::source_dir() +
                          "/tests/core/tokenizer_hf_check.py " + dir.file("hf") + " " +
                          dir.file("expected.json") + " > " + dir.file("check.log") + " 2>&1";
  const int rc = std::system(cmd.c_str());
  INFO(strata::testing::read_text(dir.file("check.log")));
  CHECK(rc == 0);
}
