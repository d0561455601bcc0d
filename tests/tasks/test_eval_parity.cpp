// Scoring parity: the log-likelihoods and greedy generations Strata's in-context evaluation
// gives (batched, a shared few-shot prefix through the KV cache, a multiple-choice context
// run once for its choices) equal an independent Python PyTorch computation on the same
// weights, one request at a time with no cache (tests/tasks/eval_parity.py), to 1e-4.

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <catch2/catch.hpp>  // after LibTorch: glog defines CHECK too

#include <cstdlib>
#include <fstream>

#include "core/python.h"
#include "core/safetensors.h"
#include "models/gpt/gpt.h"
#include "tasks/evaluate.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

using namespace strata::tasks;
using json = nlohmann::json;

TEST_CASE("eval parity: each output type against an independent Python PyTorch GPT", "[tasks][parity]") {
  torch::manual_seed(7);
  auto options = strata::models::gpt_size("debug").block_size(48);
  strata::models::GPT model(options);
  model->eval();
  auto& lm = *model->causal_lm();
  auto codec = byte_codec();
  const std::string shots = "Q: 12 plus 3? A: 15\n\nQ: 4 plus 4? A: 8\n\n";

  // loglikelihood: batched and sorted, the shared prefix run once, one request cut on the left.
  std::vector<LoglikelihoodRequest> ll = {
      {shots + "Q: 1 plus 2? A:", " 3"},
      {shots + "Q: 7 plus 7? A:", " 14"},
      {shots + "Q: 9 plus 1? A:", " ten"},
      {shots + shots + "Q: 5 plus 5? A:", " 10"}};  // longer than 48 bytes: cut
  // multiple_choice: one context, its choices, continued from the shots' cache.
  const std::string mc_context = shots + "Q: 2 plus 2? A:";
  const std::vector<std::string> choices = {" 4", " 5", " four"};
  // generate_until: two contexts of one length and one of another, batched.
  GenerationOptions gen;
  gen.max_gen_toks = 5;
  const std::vector<std::string> gen_contexts = {shots + "Q: 3 plus", shots + "Q: 6 plus",
                                                 shots + "Q: 10 plus"};

  auto ours_ll = loglikelihood(lm, *codec, ll, 3, true);
  auto prefix = prefix_cache(lm, codec->encode(shots));
  auto ours_mc = loglikelihood_shared_context(lm, *codec, mc_context, choices, prefix);
  auto ours_gen = generate_until(lm, *codec, gen_contexts, gen, {0, 0, 0}, 2, true);

  json requests = {{"loglikelihood", json::array()}, {"generate", json::array()}};
  for (const auto& r : ll) {
    auto p = encode_pair(*codec, r.context, r.continuation);
    requests["loglikelihood"].push_back({p.context, p.continuation});
  }
  for (const auto& c : choices) {
    auto p = encode_pair(*codec, mc_context, c);
    requests["loglikelihood"].push_back({p.context, p.continuation});
  }
  for (const auto& c : gen_contexts) requests["generate"].push_back({codec->encode(c), gen.max_gen_toks});

  strata::testing::TempDir dir("eval-parity");
  json cfg = {{"family", "gpt"}, {"vocab_size", options.vocab_size()},
              {"block_size", options.block_size()}, {"n_layer", options.n_layer()},
              {"n_head", options.n_head()}, {"n_embd", options.n_embd()}, {"bias", options.bias()}};
  std::ofstream(dir.path + "/config.json") << cfg.dump();
  std::ofstream(dir.path + "/requests.json") << requests.dump();
  strata::NamedTensors weights;
  for (const auto& p : model->named_parameters()) weights.emplace_back(p.key(), p.value().detach());
  strata::write_safetensors(dir.path + "/model.safetensors", weights);
  const std::string cmd = strata::python_program() + " " + strata::testing::source_dir() +
                          "/tests/tasks/eval_parity.py " + dir.path + " > " + dir.path +
                          "/python.log 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  json py = json::parse(std::ifstream(dir.path + "/python.json"));

  REQUIRE(py["loglikelihood"].size() == ll.size() + choices.size());
  for (size_t i = 0; i < ll.size(); ++i) {
    INFO("loglikelihood request " << i);
    CHECK(std::abs(ours_ll[i].logprob - py["loglikelihood"][i][0].get<double>()) < 1e-4);
    CHECK(ours_ll[i].greedy == py["loglikelihood"][i][1].get<bool>());
  }
  CHECK(ours_ll[3].truncated);
  for (size_t c = 0; c < choices.size(); ++c) {
    INFO("choice " << c);
    const auto& row = py["loglikelihood"][ll.size() + c];
    CHECK(std::abs(ours_mc[c].logprob - row[0].get<double>()) < 1e-4);
    CHECK(ours_mc[c].greedy == row[1].get<bool>());
  }
  for (size_t i = 0; i < gen_contexts.size(); ++i) {
    INFO("generation " << i);
    std::vector<int64_t> ids = py["generate"][i].get<std::vector<int64_t>>();
    CHECK(ours_gen[i].text == codec->decode(ids));
  }
}
