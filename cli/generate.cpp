#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/errors.h"
#include "core/run.h"
#include "core/tokenizer.h"
#include "models/gpt/generate.h"
#include "models/gpt/gpt.h"
#include "models/load.h"

namespace strata::cli {

namespace {

struct GenerateArgs {
  std::string model;
  std::string prompt;
  int64_t max_tokens = 100;
  double temperature = 0.8;
  int64_t top_k = 0;
  double top_p = 1.0;
  std::vector<std::string> stop;
  uint64_t seed = 1337;
  int64_t samples = 1;
  int64_t threads = 0;
};

void run_generate(const GenerateArgs& a) {
  RunOptions run;
  run.threads = a.threads;
  run.device = DeviceChoice::kCPU;
  at::set_num_threads(int(a.threads > 0 ? a.threads : usable_cores()));
  auto loaded = models::load_network(a.model, torch::kCPU);
  if (loaded.network->causal_lm() == nullptr) {
    throw InputError(fmt::format("{}: generate needs a causal LM (gpt) checkpoint, this one is '{}'",
                                 loaded.checkpoint_dir, loaded.type));
  }
  if (loaded.tokenizer_path.empty()) {
    throw InputError(fmt::format("{}: no tokenizer.model in the checkpoint", loaded.checkpoint_dir));
  }
  auto tokenizer = Tokenizer::load(loaded.tokenizer_path);
  std::vector<int64_t> prompt;
  for (int id : tokenizer.encode(a.prompt)) prompt.push_back(id);
  if (prompt.empty()) throw InputError("--prompt: encodes to no tokens");
  Network& model = *loaded.network;

  for (int64_t s = 0; s < a.samples; ++s) {
    models::GenerateOptions options;
    options.max_new_tokens(a.max_tokens).temperature(a.temperature).top_k(a.top_k)
        .top_p(a.top_p).seed(a.seed + uint64_t(s));
    if (tokenizer.eos_id() >= 0) options.stop_ids({tokenizer.eos_id()});
    std::vector<int> produced;
    std::string text;
    auto stop_hit = [&](const std::string& t) {
      for (const auto& s : a.stop) {
        if (!s.empty() && t.find(s) != std::string::npos) return true;
      }
      return false;
    };
    // The new text as it follows the prompt: decoded alone, its first space would be lost.
    const std::vector<int> prompt_ids(prompt.begin(), prompt.end());
    models::generate(model, prompt, options, [&](int64_t token) {
      produced.push_back(int(token));
      text = tokenizer.decode_continuation(prompt_ids, produced);
      return !stop_hit(text);
    });
    for (const auto& stop : a.stop) {  // stop strings end the text, and are not part of it
      auto at = text.find(stop);
      if (!stop.empty() && at != std::string::npos) text = text.substr(0, at);
    }
    if (a.samples > 1) std::printf("--- sample %lld\n", static_cast<long long>(s + 1));
    std::printf("%s%s\n", a.prompt.c_str(), text.c_str());
  }
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  auto* cmd = app.add_subcommand("generate", "Continue a prompt with a trained GPT checkpoint "
                                             "(KV cache; temperature, top-k, top-p, stops)");
  cmd->add_option("--model", args->model, "checkpoint directory, or a run directory")->required();
  cmd->add_option("--prompt", args->prompt, "text to continue")->required();
  cmd->add_option("--max-tokens", args->max_tokens, "most new tokens")->check(CLI::PositiveNumber);
  cmd->add_option("--temperature", args->temperature, "0 = greedy")->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-k", args->top_k, "sample from the k most likely tokens; 0 = all")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", args->top_p, "nucleus sampling mass")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--stop", args->stop, "stop at this text (repeatable)");
  cmd->add_option("--seed", args->seed, "sampling seed");
  cmd->add_option("--samples", args->samples, "independent samples")->check(CLI::PositiveNumber);
  cmd->add_option("--threads", args->threads, "CPU threads; 0 = every usable core");
  cmd->callback([args] { run_generate(*args); });
}

}  // namespace strata::cli
