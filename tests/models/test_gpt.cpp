#include <ATen/CPUGeneratorImpl.h>
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <map>
#include <set>

#include "core/config.h"
#include "core/errors.h"
#include "core/precision.h"
#include "models/gpt/generate.h"
#include "models/gpt/gpt.h"
#include "models/gpt/gpt_config.h"
#include "models/registry.h"
#include "tests/models/parity.h"

// Last: glog (through LibTorch) also defines CHECK, and Catch's must win.
#include <catch2/catch.hpp>

using namespace strata;
using namespace strata::models;

namespace {

GPTOptions debug_options() { return gpt_size("debug"); }  // L2 H2 C64 T64 V256

torch::Tensor random_tokens(int64_t B, int64_t T, int64_t V, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randint(V, {B, T}, gen, torch::kInt64);
}

}  // namespace

TEST_CASE("gpt: logits shape, loss and gradients reach every parameter", "[gpt]") {
  torch::manual_seed(0);
  GPT model(debug_options());
  auto idx = random_tokens(2, 16, 256, 1);
  Batch batch;
  batch.input = idx;
  auto logits = model->forward(batch);
  CHECK(logits.sizes() == torch::IntArrayRef({2, 16, 256}));
  auto loss = torch::nn::functional::cross_entropy(logits.view({-1, 256}), random_tokens(2, 16, 256, 2).view({-1}));
  CHECK(std::abs(loss.item<double>() - std::log(256.0)) < 0.5);  // near uniform at init
  loss.backward();
  for (const auto& p : model->named_parameters()) {
    INFO(p.key());
    REQUIRE(p.value().grad().defined());
    // wpe rows past T=16 get no gradient; everything else must.
    CHECK(p.value().grad().abs().sum().item<double>() > 0);
  }
  CHECK(model->hidden_states(idx).sizes() == torch::IntArrayRef({2, 16, 64}));
}

TEST_CASE("gpt: loss() equals cross-entropy of the logits, gradients included", "[gpt]") {
  torch::manual_seed(0);
  GPT model(debug_options());
  Batch batch;
  batch.input = random_tokens(3, 20, 256, 6);
  batch.target = random_tokens(3, 20, 256, 7);
  batch.target[1][4] = -100;  // ignored positions
  batch.target[2].narrow(0, 10, 10).fill_(-100);
  auto reference = torch::nn::functional::cross_entropy(
      model->forward(batch).view({-1, 256}), batch.target.view({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
  auto grads_of = [&](const torch::Tensor& loss) {
    return torch::autograd::grad({loss}, model->parameters());
  };
  auto expected = grads_of(reference);
  auto fused = model->loss(batch);
  CHECK(std::abs(fused.item<double>() - reference.item<double>()) < 1e-5);
  auto got = grads_of(fused);
  for (size_t i = 0; i < got.size(); ++i) CHECK(test::max_abs_diff(got[i], expected[i]) < 1e-6);
}

TEST_CASE("gpt: nanoGPT parameter names, tied output, GPT-2 init", "[gpt]") {
  torch::manual_seed(0);
  GPT model(debug_options());
  std::set<std::string> names;
  for (const auto& p : model->named_parameters()) names.insert(p.key());
  for (const char* n : {"transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.ln_1.weight",
                        "transformer.h.0.ln_1.bias", "transformer.h.0.attn.c_attn.weight",
                        "transformer.h.0.attn.c_attn.bias", "transformer.h.0.attn.c_proj.weight",
                        "transformer.h.1.ln_2.weight", "transformer.h.1.mlp.c_fc.weight",
                        "transformer.h.1.mlp.c_proj.bias", "transformer.ln_f.weight"}) {
    INFO(n);
    CHECK(names.count(n) == 1);
  }
  CHECK(names.count("lm_head.weight") == 0);
  CHECK(names.size() == 4 + 2 * 12);
  // Parameter count: 12 C^2 + 13 C per layer (with biases), embeddings, final norm.
  const int64_t C = 64, L = 2, V = 256, T = 64;
  CHECK(model->num_params(true) == L * (12 * C * C + 13 * C) + V * C + T * C + 2 * C);
  CHECK(model->num_params() == model->num_params(true) - T * C);
  CHECK(model->train_flops_per_unit() == Approx(6.0 * model->num_params() + 12.0 * L * C * T));
  // Residual projections are drawn with std 0.02 / sqrt(2 L), the rest with 0.02.
  auto std_of = [&](const std::string& n) { return model->named_parameters()[n].std().item<double>(); };
  CHECK(std_of("transformer.h.0.attn.c_proj.weight") == Approx(0.01).epsilon(0.1));
  CHECK(std_of("transformer.h.0.mlp.c_fc.weight") == Approx(0.02).epsilon(0.1));
  CHECK(model->named_parameters()["transformer.h.0.attn.c_attn.bias"].abs().sum().item<double>() == 0);

  GPT no_bias(GPTOptions(debug_options()).bias(false));
  for (const auto& p : no_bias->named_parameters()) {
    INFO(p.key());
    CHECK(p.key().find("bias") == std::string::npos);
  }
  CHECK(no_bias->forward(random_tokens(1, 8, 256, 3)).sizes() == torch::IntArrayRef({1, 8, 256}));
}

TEST_CASE("gpt: KV-cache decoding gives the full forward's logits", "[gpt]") {
  torch::manual_seed(0);
  GPT model(debug_options());
  model->eval();
  torch::NoGradGuard no_grad;
  auto idx = random_tokens(2, 20, 256, 4);
  auto full = model->forward(idx);  // [2, 20, 256]

  auto cache = model->make_cache(2);
  std::vector<torch::Tensor> parts;
  parts.push_back(model->forward_cached(idx.narrow(1, 0, 7), cache));  // prompt: 7 at once
  for (int64_t t = 7; t < 12; ++t) parts.push_back(model->forward_cached(idx.narrow(1, t, 1), cache));
  parts.push_back(model->forward_cached(idx.narrow(1, 12, 8), cache));  // a chunk after a prefix
  CHECK(cache.length == 20);
  auto incremental = torch::cat(parts, 1);
  CHECK(test::max_abs_diff(incremental, full) < 1e-5);

  // A cache refuses to run past block_size.
  auto small = model->make_cache(1, 64);
  small.length = 60;
  CHECK_THROWS(model->forward_cached(random_tokens(1, 5, 256, 5), small));
}

TEST_CASE("gpt: generate samples through the cache, reproducibly", "[gpt]") {
  torch::manual_seed(0);
  GPT model(debug_options());
  const std::vector<int64_t> prompt = {1, 2, 3, 4, 5};

  // Greedy through the cache equals argmax of repeated full forwards without one.
  auto greedy = generate(model, prompt, GenerateOptions().temperature(0).max_new_tokens(12));
  REQUIRE(greedy.size() == 12);
  {
    torch::NoGradGuard no_grad;
    model->eval();
    std::vector<int64_t> seq = prompt;
    for (int i = 0; i < 12; ++i) {
      auto logits = model->forward(torch::tensor(seq).view({1, -1}));
      seq.push_back(logits[0][-1].argmax().item<int64_t>());
    }
    CHECK(std::vector<int64_t>(seq.begin() + 5, seq.end()) == greedy);
    model->train();
  }
  // top_k = 1 is greedy whatever the temperature.
  CHECK(generate(model, prompt, GenerateOptions().temperature(1.5).top_k(1).max_new_tokens(12)) == greedy);

  // The same seed gives the same sample; another seed (almost surely) another.
  auto opts = GenerateOptions().temperature(1.0).top_p(0.9).max_new_tokens(20).seed(7);
  auto a = generate(model, prompt, opts);
  torch::manual_seed(123);  // the global RNG does not matter
  CHECK(generate(model, prompt, opts) == a);
  CHECK(generate(model, prompt, GenerateOptions(opts).seed(8)) != a);

  // Stop ids end generation without being returned; the callback can stop it too.
  auto stopped = generate(model, prompt, GenerateOptions().temperature(0).max_new_tokens(12).stop_ids({greedy[3]}));
  CHECK(stopped.size() <= 3);
  int calls = 0;
  auto two = generate(model, prompt, GenerateOptions().temperature(0).max_new_tokens(12),
                      [&](int64_t) { return ++calls < 2; });
  CHECK(two.size() == 2);

  // Longer than block_size (64): the cache is re-filled and generation goes on.
  auto longer = generate(model, prompt, GenerateOptions().max_new_tokens(100));
  CHECK(longer.size() == 100);
  for (auto t : longer) CHECK((t >= 0 && t < 256));
  CHECK(model->is_training());  // generate restored the mode
}

TEST_CASE("gpt: sampling filters (top-k, top-p)", "[gpt]") {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  auto logits = torch::tensor({0.0, 3.0, 2.9, -5.0, 1.0});
  std::set<int64_t> seen;
  for (int i = 0; i < 200; ++i)
    seen.insert(sample_token(logits, GenerateOptions().top_k(2), gen));
  CHECK(seen == std::set<int64_t>{1, 2});
  seen.clear();
  // p(1) ~ 0.47, p(2) ~ 0.43: top_p 0.5 keeps tokens 1 and 2 only.
  for (int i = 0; i < 200; ++i)
    seen.insert(sample_token(logits, GenerateOptions().top_p(0.5), gen));
  CHECK(seen == std::set<int64_t>{1, 2});
  CHECK(sample_token(logits, GenerateOptions().temperature(0), gen) == 1);
  // Values at the edge of their range are their limits, not errors: top_p 0 keeps the most
  // likely token only (it once kept none: "invalid multinomial distribution"), and a
  // temperature that overflows the scaled logits is greedy.
  for (int i = 0; i < 20; ++i) CHECK(sample_token(logits, GenerateOptions().top_p(0.0), gen) == 1);
  CHECK(sample_token(logits, GenerateOptions().temperature(1e-40), gen) == 1);
  CHECK(sample_token(logits, GenerateOptions().temperature(1e-40).top_p(0.0).top_k(1), gen) == 1);
}

TEST_CASE("gpt: options from YAML through the registry", "[gpt][config]") {
  auto doc = config::Document::parse("model:\n  type: gpt\n  size: debug\n  n_layer: 3\n  dropout: 0.1\n",
                                     "run.yaml");
  auto root = doc.root();
  auto section = root.child("model");
  std::string type;
  section.read("type", type);
  auto net = models::networks().make(type, section.where("type"), section);
  root.finish();
  auto gpt = std::dynamic_pointer_cast<GPTImpl>(net);
  REQUIRE(gpt);
  CHECK(gpt->options().n_layer() == 3);
  CHECK(gpt->options().n_embd() == 64);
  CHECK(gpt->options().dropout() == 0.1);
  CHECK(doc.resolved_yaml().find("block_size: 64") != std::string::npos);

  auto error_of = [](const std::string& yaml) -> std::string {
    try {
      auto d = config::Document::parse(yaml, "run.yaml");
      auto r = d.root().child("model");
      read_gpt_options(r);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  };
  CHECK(error_of("model:\n  size: debug\n  n_layers: 3\n").find("did you mean 'n_layer'") != std::string::npos);
  CHECK(error_of("model:\n  size: gpt3\n").find("gpt2") != std::string::npos);
  CHECK(error_of("model:\n  size: debug\n  n_head: 3\n").find("multiple of n_head") != std::string::npos);
  CHECK(error_of("model:\n  size: gpt2-xl\n") == "");
  CHECK(error_of("model:\n  size: debug\n  activation: relu\n").find("gelu, gelu_new") != std::string::npos);
  CHECK(error_of("model:\n  size: debug\n  layer_norm_eps: 0\n").find("layer_norm_eps") != std::string::npos);
  CHECK(gpt_size("gpt2-medium").n_layer() == 24);
  CHECK(gpt->options().activation() == "gelu");  // the defaults, unchanged
  CHECK(gpt->options().layer_norm_eps() == 1e-5);

  auto d = config::Document::parse("model:\n  size: debug\n  activation: gelu_new\n  layer_norm_eps: 1e-6\n",
                                   "run.yaml");
  auto r = d.root().child("model");
  const auto o = read_gpt_options(r);
  CHECK(o.activation() == "gelu_new");
  CHECK(o.layer_norm_eps() == 1e-6);
}

TEST_CASE("gpt: activation and layer_norm_eps reach the blocks", "[gpt]") {
  torch::manual_seed(0);
  GPT model(GPTOptions(debug_options()).activation("gelu_new").layer_norm_eps(1e-3));
  auto* block = model->h[1]->as<BlockImpl>();
  CHECK(block->ln_1->options.eps() == 1e-3);
  CHECK(block->ln_2->options.eps() == 1e-3);
  CHECK(model->ln_f->options.eps() == 1e-3);

  // GPT-2's gelu_new, written out: 0.5 u (1 + tanh(sqrt(2 / pi) (u + 0.044715 u^3))).
  torch::NoGradGuard no_grad;
  auto x = torch::randn({2, 3, 64});
  auto u = block->mlp->c_fc(x);
  auto gelu_new = 0.5 * u * (1 + torch::tanh(std::sqrt(2.0 / std::acos(-1.0)) * (u + 0.044715 * u.pow(3))));
  CHECK(strata::test::max_abs_diff(block->mlp(x), block->mlp->c_proj(gelu_new)) < 1e-5);
  CHECK_THROWS_AS(GPT(GPTOptions(debug_options()).activation("relu")), InputError);
}

TEST_CASE("gpt: parity with an independent Python PyTorch GPT", "[gpt][parity]") {
  for (bool bias : {true, false}) {
    DYNAMIC_SECTION("bias " << bias) {
      torch::manual_seed(42);
      auto options = GPTOptions(debug_options()).bias(bias);
      GPT model(options);
      const int64_t B = 4, T = 32, V = options.vocab_size();
      auto idx = random_tokens(B, T, V, 10);
      auto targets = random_tokens(B, T, V, 11);

      nlohmann::json cfg = {{"family", "gpt"},         {"vocab_size", V},
                            {"block_size", options.block_size()}, {"n_layer", options.n_layer()},
                            {"n_head", options.n_head()}, {"n_embd", options.n_embd()},
                            {"bias", bias},           {"steps", 3},
                            {"lr", 1e-3},             {"betas", {0.9, 0.95}},
                            {"weight_decay", 0.1},    {"threads", 1}};
      test::TempDir dir("gpt-parity");
      auto py = test::run_python_reference(dir.path, cfg, test::named_parameters_of(*model),
                                           {{"idx", idx}, {"targets", targets}});
      Batch batch{idx, targets, {}, {}};
      auto ours = test::train_steps(*model, [&] { return model->forward(idx); },
                                    [&] { return model->loss(batch); }, cfg);

      REQUIRE(ours.losses.size() == 4);
      test::check_against_python(ours, py, *model);
    }
  }
}

TEST_CASE("gpt: attn_implementation sdpa equals eager in training, the KV cache and generation",
          "[gpt]") {
  torch::manual_seed(0);
  GPT sdpa(debug_options().attn_implementation("sdpa"));
  GPT eager(debug_options().attn_implementation("eager"));
  {
    torch::NoGradGuard no_grad;
    auto from = sdpa->named_parameters();
    for (auto& p : eager->named_parameters()) p.value().copy_(from[p.key()]);
  }
  // Training: the loss and every gradient.
  auto idx = random_tokens(2, 24, 256, 11), target = random_tokens(2, 24, 256, 12);
  std::map<std::string, torch::Tensor> grads;
  double losses[2];
  int side = 0;
  for (GPT* m : {&sdpa, &eager}) {
    auto logits = (*m)->forward(idx);
    auto loss = torch::nn::functional::cross_entropy(logits.view({-1, 256}), target.view({-1}));
    loss.backward();
    losses[side++] = loss.item<double>();
  }
  CHECK(std::abs(losses[0] - losses[1]) < 1e-5);
  auto eager_params = eager->named_parameters();
  for (const auto& p : sdpa->named_parameters()) {
    INFO(p.key());
    CHECK(test::max_abs_diff(p.value().grad(), eager_params[p.key()].grad()) < 1e-5);
  }
  // The KV-cached path (strata eval's scoring, generation) and greedy decoding.
  {
    torch::NoGradGuard no_grad;
    sdpa->eval();
    eager->eval();
    auto a = sdpa->make_cache(2), b = eager->make_cache(2);
    CHECK(test::max_abs_diff(sdpa->forward_cached(idx.narrow(1, 0, 9), a),
                             eager->forward_cached(idx.narrow(1, 0, 9), b)) < 1e-5);
    CHECK(test::max_abs_diff(sdpa->forward_cached(idx.narrow(1, 9, 1), a),
                             eager->forward_cached(idx.narrow(1, 9, 1), b)) < 1e-5);
  }
  const std::vector<int64_t> prompt = {3, 1, 4, 1, 5};
  const auto greedy = GenerateOptions().temperature(0).max_new_tokens(16);
  CHECK(generate(sdpa, prompt, greedy) == generate(eager, prompt, greedy));
  // The config key, and its refusal.
  CHECK_THROWS_AS(attention_implementation("flash"), InputError);
}

TEST_CASE("gpt: bf16 autocast on the CPU gives the fp32 loss within bf16 tolerance", "[gpt]") {
  torch::manual_seed(0);
  GPT model(debug_options());
  auto idx = random_tokens(2, 32, 256, 21), target = random_tokens(2, 32, 256, 22);
  auto loss_of = [&](bool bf16) {
    AutocastGuard autocast(torch::kCPU, bf16);
    auto logits = model->forward(idx);
    if (bf16) CHECK(logits.scalar_type() == torch::kBFloat16);  // matmuls ran in bf16
    auto loss = torch::nn::functional::cross_entropy(logits.view({-1, 256}), target.view({-1}));
    CHECK(loss.scalar_type() == torch::kFloat);  // the loss is an fp32 op under autocast
    return loss;
  };
  auto fp32 = loss_of(false), bf16 = loss_of(true);
  CHECK(std::abs(fp32.item<double>() - bf16.item<double>()) < 0.02 * fp32.item<double>());
  CHECK_FALSE(at::autocast::is_autocast_enabled(at::kCPU));  // the guard restored it
  bf16.backward();  // backward outside the guard, as torch.autocast asks
  for (const auto& p : model->named_parameters()) {
    INFO(p.key());
    REQUIRE(p.value().grad().defined());
    CHECK(p.value().grad().scalar_type() == torch::kFloat);  // weights stay fp32
  }
}
