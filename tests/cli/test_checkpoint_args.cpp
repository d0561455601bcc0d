// Commands that take a checkpoint load and check it the same way (models::load_network):
// `strata summary CKPT` refuses a damaged model.safetensors as `strata generate` does, and
// `strata generate` joins its new text to the prompt with the space the text starts with.

// LibTorch first: its glog defines a CHECK macro that Catch's must replace.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/tokenizer.h"
#include "models/gpt/generate.h"
#include "models/load.h"
#include "tests/support/process.h"

namespace fs = std::filesystem;
using namespace strata::testing;

namespace {

// One line on stdout/stderr, as every refusal is.
bool one_line(const std::string& output) {
  return std::count(output.begin(), output.end(), '\n') == 1;
}

}  // namespace

TEST_CASE("checkpoint arguments: summary and generate load and check alike", "[cli][checkpoint]") {
  const std::string run = temp_dir("cli-checkpoint");
  auto trained =
      run_strata({"train", "tests/assets/gpt-tiny.yaml", "out_dir=" + run, "trainer.max_steps=20",
                  "trainer.checkpoint_every=20", "trainer.eval_every=20"});
  INFO(trained.output);
  REQUIRE(trained.status == 0);
  const std::string ckpt = run + "/checkpoints/step-0000020";
  REQUIRE(fs::exists(ckpt + "/model.safetensors"));

  // Each block below runs once, in order: the training run above is shared.
  {  // generate joins the new text to the prompt with its leading space
    const std::string prompt_text = "The quiet river";
    auto loaded = strata::models::load_network(ckpt, torch::kCPU);
    auto tok = strata::Tokenizer::load(loaded.tokenizer_path);
    const std::vector<int> prompt_ids = tok.encode(prompt_text);
    strata::models::GPT model(std::dynamic_pointer_cast<strata::models::GPTImpl>(loaded.network));
    strata::models::GenerateOptions options;
    options.max_new_tokens(8).temperature(0).seed(1);
    if (tok.eos_id() >= 0) options.stop_ids({tok.eos_id()});
    const auto ids = strata::models::generate(
        model, std::vector<int64_t>(prompt_ids.begin(), prompt_ids.end()), options);
    REQUIRE(!ids.empty());
    const std::vector<int> new_ids(ids.begin(), ids.end());
    const std::string expected = prompt_text + tok.decode_continuation(prompt_ids, new_ids);
    // The continuation decoded alone loses the space of a first word piece ("\u2581the").
    if (tok.id_to_piece(new_ids.front()).rfind("\xE2\x96\x81", 0) == 0) {
      CHECK(expected[prompt_text.size()] == ' ');
    }

    auto r = run_strata({"generate", "--model", ckpt, "--prompt", prompt_text, "--temperature", "0",
                         "--max-tokens", "8", "--seed", "1"});
    INFO(r.output);
    CHECK(r.status == 0);
    CHECK(r.output.find(expected + "\n") != std::string::npos);
  }

  {  // summary of a sound checkpoint; overrides apply to configs only
    auto r = run_strata({"summary", ckpt});
    INFO(r.output);
    CHECK(r.status == 0);
    CHECK(r.output.find("Total params:") != std::string::npos);
    CHECK(run_strata({"summary", run}).status == 0);  // a run directory: its latest
    auto o = run_strata({"summary", ckpt, "model.n_layer=9"});
    CHECK(o.status == 2);
    CHECK(o.output.find("overrides apply to a config file") != std::string::npos);
  }

  {  // a model.safetensors cut to half its size is refused by both
    const std::string weights = ckpt + "/model.safetensors";
    fs::resize_file(weights, fs::file_size(weights) / 2);
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"summary", ckpt},
             {"summary", run},
             {"generate", "--model", ckpt, "--prompt", "The", "--max-tokens", "2"}}) {
      auto r = run_strata(args);
      INFO(args[0] << ": " << r.output);
      CHECK(r.status == 2);
      CHECK(r.output.find(weights + ": truncated") != std::string::npos);
      CHECK(one_line(r.output));
    }
  }

  {  // a Git LFS pointer or an HTML page as model.safetensors is named
    const std::string weights = ckpt + "/model.safetensors";
    std::ofstream(weights, std::ios::binary)
        << "version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 400000\n";
    for (const char* command : {"summary", "generate"}) {
      auto r = command == std::string("summary")
                   ? run_strata({"summary", ckpt})
                   : run_strata({"generate", "--model", ckpt, "--prompt", "The"});
      INFO(r.output);
      CHECK(r.status == 2);
      CHECK(
          r.output.find(weights + ": a Git LFS pointer, not the file itself; run `git lfs pull`") !=
          std::string::npos);
    }
    std::ofstream(weights, std::ios::binary) << "<!DOCTYPE html>\n<html><body>Sign in</body>";
    auto r = run_strata({"summary", ckpt});
    CHECK(r.status == 2);
    CHECK(r.output.find(weights + ": an HTML page, not a safetensors file") != std::string::npos);
  }
  fs::remove_all(run);
}
