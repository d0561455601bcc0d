// Hugging Face checkpoints both ways, against an independent Python GPT-2 and BERT written
// from Hugging Face's names and math (tests/finetune/hf_fixture.py): a Strata GPT and BERT
// written with write_hf give the fixture's logits from the fixture's reading of the files;
// the fixture's own checkpoints, read with read_hf, give Strata the fixture's logits; damaged
// files and configs are refused, naming the file and the tensor or key.

// LibTorch first: its glog defines a CHECK macro that Catch's must replace.
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "core/errors.h"
#include "core/python.h"
#include "core/safetensors.h"
#include "finetune/pretrained.h"
#include "models/hf.h"
#include "models/load.h"
#include "models/bert/bert.h"
#include "models/gpt/gpt.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

using namespace strata;
namespace fs = std::filesystem;
using json = nlohmann::json;
using strata::testing::TempDir;

namespace {

// Runs tests/finetune/<script> (hf_fixture.py, or hf_transformers.py: transformers itself)
// with `args` under the .venv's python; its output goes to `log`, shown when it fails.
void run_python(const std::string& script, const std::string& args, const std::string& log) {
  const std::string cmd = python_program() + " " + strata::testing::source_dir() +
                          "/tests/finetune/" + script + " " + args + " > " + log + " 2>&1";
  const int rc = std::system(cmd.c_str());
  if (rc != 0)
    FAIL(script << " " << args << " failed (" << rc << "):\n" << strata::testing::read_text(log));
}

// Weights where no LayerNorm is the identity and no bias is zero, so that a tensor read
// into the wrong place, or left untransposed, shows in the logits.
void randomise(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  for (auto& p : model.named_parameters()) {
    const std::string& name = p.key();
    const bool norm_weight =
        p.value().dim() == 1 && name.size() > 6 && name.compare(name.size() - 6, 6, "weight") == 0;
    p.value().normal_(norm_weight ? 1.0 : 0.0, 0.1);
  }
}

torch::Tensor logits_of(Network& model, const torch::Tensor& ids,
                        const torch::Tensor& segment = {}) {
  torch::NoGradGuard no_grad;
  Batch batch;
  batch.input = ids;
  batch.segment = segment;
  return model.forward(batch);
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("hf: write_hf's files read by an independent GPT-2 and BERT, and by transformers' "
          "AutoModelForCausalLM / AutoModelForMaskedLM, give Strata's logits",
          "[finetune][hf][parity][transformers]") {
  torch::manual_seed(3);
  TempDir dir("hf-write");
  models::GPT gpt(models::gpt_size("debug").activation("gelu_new"));
  models::Bert bert(models::bert_size("debug").dropout(0.0));
  randomise(*gpt);
  randomise(*bert);
  gpt->eval();
  bert->eval();
  const auto ids = torch::randint(256, {2, 16}, torch::kInt64);
  const auto segment =
      torch::cat({torch::zeros({2, 8}, torch::kInt64), torch::ones({2, 8}, torch::kInt64)}, 1);

  models::write_hf(*gpt, dir.file("gpt"), "");
  models::write_hf(*bert, dir.file("bert"), "");
  write_safetensors(dir.file("gpt/inputs.safetensors"), {{"ids", ids}});
  write_safetensors(dir.file("bert/inputs.safetensors"),
                    {{"ids", ids}, {"token_type_ids", segment}});
  run_python("hf_fixture.py", "logits " + dir.file("gpt") + " " + dir.file("bert"),
             dir.file("python.log"));

  CHECK(max_abs_diff(logits_of(*gpt, ids),
                     read_safetensors(dir.file("gpt/python.safetensors")).get("logits")) < 1e-4);
  CHECK(max_abs_diff(logits_of(*bert, ids, segment),
                     read_safetensors(dir.file("bert/python.safetensors")).get("logits")) < 1e-4);
  // transformers itself on the same files: logits, and BERT's last hidden states.
  run_python("hf_transformers.py", "logits " + dir.file("gpt") + " " + dir.file("bert"),
             dir.file("transformers.log"));
  CHECK(max_abs_diff(logits_of(*gpt, ids),
                     read_safetensors(dir.file("gpt/transformers.safetensors")).get("logits")) < 1e-4);
  const auto bert_out = read_safetensors(dir.file("bert/transformers.safetensors"));
  CHECK(max_abs_diff(logits_of(*bert, ids, segment), bert_out.get("logits")) < 1e-4);
  {
    torch::NoGradGuard no_grad;
    CHECK(max_abs_diff(bert->hidden_states(ids, segment), bert_out.get("hidden")) < 1e-4);
  }

  // Hugging Face's side of the files.
  const auto gpt_config = json::parse(strata::testing::read_text(dir.file("gpt/config.json")));
  CHECK(gpt_config["model_type"] == "gpt2");
  CHECK(gpt_config["architectures"][0] == "GPT2LMHeadModel");
  CHECK(gpt_config["activation_function"] == "gelu_new");
  CHECK(gpt_config["n_positions"] == 64);
  const auto gpt_file = read_safetensors(dir.file("gpt/model.safetensors"));
  CHECK(gpt_file.metadata.at("format") == "pt");
  CHECK(gpt_file.get("transformer.h.0.attn.c_attn.weight").sizes() ==
        torch::IntArrayRef({64, 192}));
  CHECK(gpt_file.get("transformer.h.1.mlp.c_proj.weight").sizes() == torch::IntArrayRef({256, 64}));
  CHECK(gpt_file.tensors.size() == gpt->named_parameters().size());  // no lm_head.weight
  const auto bert_config = json::parse(strata::testing::read_text(dir.file("bert/config.json")));
  CHECK(bert_config["model_type"] == "bert");
  CHECK(bert_config["intermediate_size"] == 256);
  CHECK(bert_config["hidden_act"] == "gelu");
  CHECK(bert_config["layer_norm_eps"] == 1e-12);

  // And back: read_hf recovers every parameter exactly, under Strata's names.
  for (auto* model : std::vector<torch::nn::Module*>{gpt.get(), bert.get()}) {
    const std::string sub = model == gpt.get() ? "gpt" : "bert";
    INFO(sub);
    CHECK(models::is_hf_dir(dir.file(sub)));
    const auto hf = models::read_hf(dir.file(sub));
    CHECK(hf.model_type == sub);
    const auto params = model->named_parameters();
    CHECK(hf.tensors.size() == params.size());
    for (const auto& [name, t] : hf.tensors) {
      INFO(name);
      REQUIRE(params.contains(name));
      CHECK(t.equal(params[name]));
    }
  }
}

TEST_CASE(
    "hf: Hugging Face's files, read with read_hf, give an independent GPT-2's and BERT's logits",
    "[finetune][hf][parity]") {
  TempDir dir("hf-read");
  run_python("hf_fixture.py", "make " + dir.path, dir.file("python.log"));
  // gpt2: GPT2LMHeadModel's names, lm_head.weight present, attn.bias buffers, gelu_new.
  // gpt2-bare: GPT2Model's names (no transformer.), gelu, epsilon 1e-6. bert: gamma/beta,
  // decoder weight and bias, position_ids, the next-sentence head.
  for (const std::string name : {"gpt2", "gpt2-bare", "bert"}) {
    INFO(name);
    const auto expected = read_safetensors(dir.file(name + "-expected.safetensors"));
    CHECK(models::is_hf_dir(dir.file(name)));
    const auto loaded = models::load_hf(dir.file(name), torch::kCPU);
    CHECK(loaded.type == (name == "bert" ? "bert" : "gpt"));
    const auto segment = name == "bert" ? expected.get("token_type_ids") : torch::Tensor();
    CHECK(max_abs_diff(logits_of(*loaded.network, expected.get("ids"), segment),
                       expected.get("logits")) < 1e-4);
  }
  const auto gpt2 = models::read_hf(dir.file("gpt2"));
  CHECK(gpt2.model_yaml.find("activation: gelu_new\n") != std::string::npos);
  CHECK(gpt2.model_yaml.find("vocab_size: 101\n") != std::string::npos);
  const auto bare = models::read_hf(dir.file("gpt2-bare"));
  CHECK(bare.model_yaml.find("activation: gelu\n") != std::string::npos);
  CHECK(bare.model_yaml.find("layer_norm_eps: 1e-06\n") != std::string::npos);
  CHECK(bare.tensors.front().first == "transformer.wte.weight");
}

TEST_CASE("hf: missing, misshapen and foreign tensors and bad config keys are refused by name",
          "[finetune][hf]") {
  torch::manual_seed(0);
  TempDir dir("hf-refuse");
  models::GPT gpt(models::gpt_size("debug").activation("gelu_new"));
  models::write_hf(*gpt, dir.path, "");
  const auto tensors = read_safetensors(dir.file("model.safetensors")).tensors;
  const auto config = json::parse(strata::testing::read_text(dir.file("config.json")));
  auto with_tensors = [&](const std::function<void(NamedTensors&)>& edit) {
    auto edited = tensors;
    edit(edited);
    write_safetensors(dir.file("model.safetensors"), edited);
    return error_of([&] { models::read_hf(dir.path); });
  };
  auto with_config = [&](const std::function<void(json&)>& edit) {
    auto edited = config;
    edit(edited);
    std::ofstream(dir.file("config.json")) << edited.dump();
    return error_of([&] { models::read_hf(dir.path); });
  };
  auto has = [](const std::string& error, std::initializer_list<const char*> parts) {
    INFO(error);
    for (const char* part : parts) CHECK(error.find(part) != std::string::npos);
  };
  const std::string c_fc = "transformer.h.1.mlp.c_fc.weight",
                    c_attn = "transformer.h.0.attn.c_attn.weight";

  has(with_tensors([&](NamedTensors& t) {
        t.erase(std::find_if(t.begin(), t.end(), [&](const auto& p) { return p.first == c_fc; }));
      }),
      {"model.safetensors", "no tensor 'transformer.h.1.mlp.c_fc.weight'"});
  has(with_tensors([&](NamedTensors& t) {  // Strata's own [out, in] layout, not Conv1D's
        for (auto& [name, v] : t)
          if (name == c_attn) v = v.t().contiguous();
      }),
      {"model.safetensors", "'transformer.h.0.attn.c_attn.weight' has shape [192, 64]",
       "[64, 192]"});
  has(with_tensors([](NamedTensors& t) {
        t.emplace_back("lm_head.weight", torch::randn({256, 64}));
      }),
      {"model.safetensors", "'lm_head.weight' differs from 'transformer.wte.weight'"});
  has(with_tensors(
          [](NamedTensors& t) { t.emplace_back("transformer.h.0.attn.rotary", torch::ones({4})); }),
      {"model.safetensors", "'transformer.h.0.attn.rotary' is not part of a GPT-2"});
  write_safetensors(dir.file("model.safetensors"), tensors);
  CHECK(error_of([&] { models::read_hf(dir.path); }).empty());

  has(with_config([](json& c) { c["model_type"] = "llama"; }),
      {"config.json", "'model_type'", "llama"});
  has(with_config([](json& c) { c["activation_function"] = "relu"; }),
      {"config.json", "'activation_function'", "relu"});
  has(with_config([](json& c) { c.erase("n_head"); }), {"config.json", "no 'n_head'"});
  has(with_config([](json& c) { c["n_embd"] = "64"; }), {"config.json", "'n_embd'"});
  has(with_config([](json& c) { c["n_embd"] = 48; }),  // the file's tensors are 64 wide
      {"model.safetensors", "'transformer.wte.weight' has shape [256, 64]", "[256, 48]"});

  models::Bert bert(models::bert_size("debug"));
  models::write_hf(*bert, dir.file("bert"), "");
  auto bert_config = json::parse(strata::testing::read_text(dir.file("bert/config.json")));
  bert_config["intermediate_size"] = 100;
  std::ofstream(dir.file("bert/config.json")) << bert_config.dump();
  has(error_of([&] { models::read_hf(dir.file("bert")); }),
      {"config.json", "'intermediate_size'"});

  models::GPT no_bias(models::gpt_size("debug").bias(false));
  has(error_of([&] { models::write_hf(*no_bias, dir.file("no-bias"), ""); }), {"bias: false"});

  // Issue examples: tie_word_embeddings false and no lm_head.weight loaded as tied,
  // silently; a directory without config.json was "not a Strata checkpoint (no state.json)".
  std::ofstream(dir.file("config.json")) << config.dump();
  has(with_config([](json& c) { c["tie_word_embeddings"] = false; }),
      {"config.json", "'tie_word_embeddings'", "no lm_head.weight"});
  std::ofstream(dir.file("config.json")) << config.dump();
  fs::remove(dir.file("config.json"));
  has(error_of([&] { models::load_network(dir.path, torch::kCPU); }),
      {"model.safetensors but no config.json", "config.json"});
  finetune::InitOptions init;
  init.from = dir.path;
  has(error_of([&] { finetune::load_base(init, {}, 0); }), {"no config.json"});
}

// The real tools as judges: models transformers made and saved itself
// (tests/finetune/hf_transformers.py make).

TEST_CASE("hf: models transformers made and saved (sharded, bf16, f16 too) load in Strata with "
          "its logits",
          "[finetune][hf][transformers]") {
  TempDir dir("hf-transformers-make");
  run_python("hf_transformers.py", "make " + dir.path, dir.file("python.log"));
  for (const std::string name : {"gpt2", "bert", "gpt2-sharded", "gpt2-bf16", "bert-f16"}) {
    INFO(name);
    const bool is_bert = name.rfind("bert", 0) == 0;
    const auto expected = read_safetensors(dir.file(name + "-expected.safetensors"));
    // The path `strata eval --model DIR` and init.from take.
    const auto loaded = models::load_network(dir.file(name), torch::kCPU);
    CHECK(loaded.type == (is_bert ? "bert" : "gpt"));
    const auto segment = is_bert ? expected.get("token_type_ids") : torch::Tensor();
    CHECK(max_abs_diff(logits_of(*loaded.network, expected.get("ids"), segment),
                       expected.get("logits")) < 1e-4);
  }
  CHECK(std::filesystem::exists(dir.file("gpt2-sharded/model.safetensors.index.json")));
  CHECK(read_safetensors(dir.file("gpt2-bf16/model.safetensors")).get("transformer.wte.weight").scalar_type() ==
        torch::kBFloat16);

  // A shard the index names but that is missing: refused, naming the index and the shard.
  std::filesystem::remove(dir.file("gpt2-sharded/model-00003-of-00008.safetensors"));
  const auto error = error_of([&] { models::load_network(dir.file("gpt2-sharded"), torch::kCPU); });
  CHECK(error.find("model.safetensors.index.json") != std::string::npos);
  CHECK(error.find("model-00003-of-00008.safetensors") != std::string::npos);
}

TEST_CASE("hf: all-MiniLM-L6-v2 (a packaged BertModel, no MLM head) gives transformers' hidden "
          "states",
          "[finetune][hf][transformers][minilm]") {
  const std::string model = strata::testing::source_dir() + "/pretrained/all-MiniLM-L6-v2";
  REQUIRE(std::filesystem::exists(model + "/model.safetensors"));  // scripts/bootstrap.sh
  TempDir dir("hf-minilm");
  const auto loaded = models::load_network(model, torch::kCPU);
  CHECK(loaded.type == "bert");
  torch::manual_seed(11);
  // [CLS] ... [SEP] around random WordPiece ids, two segments.
  auto ids = torch::randint(1000, 30000, {2, 24}, torch::kInt64);
  ids.select(1, 0).fill_(101);
  ids.select(1, 23).fill_(102);
  const auto segment =
      torch::cat({torch::zeros({2, 12}, torch::kInt64), torch::ones({2, 12}, torch::kInt64)}, 1);
  write_safetensors(dir.file("inputs.safetensors"), {{"ids", ids}, {"token_type_ids", segment}});
  run_python("hf_transformers.py",
             "hidden " + model + " " + dir.file("inputs.safetensors") + " " +
                 dir.file("hidden.safetensors"),
             dir.file("python.log"));
  auto* bert = dynamic_cast<models::BertImpl*>(loaded.network.get());
  REQUIRE(bert != nullptr);
  torch::NoGradGuard no_grad;
  const auto expected = read_safetensors(dir.file("hidden.safetensors")).get("hidden");
  CHECK(max_abs_diff(bert->hidden_states(ids, segment), expected) < 1e-4);
}
