// Requests and metrics on a debug GPT with a byte codec (V = 256), against brute force:
// the model's full forward() and log_softmax, token by token.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>

#include "models/gpt/gpt.h"
#include "tasks/evaluate.h"
#include "tasks/metrics.h"

using namespace strata::tasks;
using json = nlohmann::json;
using strata::models::GPT;

namespace {

GPT debug_gpt(int64_t block_size) {
  torch::manual_seed(3);
  GPT model(strata::models::gpt_size("debug").block_size(block_size));
  model->eval();
  return model;
}

std::vector<int64_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

// Sum of log p and all-greedy of `cont` after `ctx`, from forward() on the last block+1 tokens.
std::pair<double, bool> brute_force(GPT& model, std::vector<int64_t> ctx, const std::vector<int64_t>& cont) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> full = ctx;
  full.insert(full.end(), cont.begin(), cont.end());
  int64_t block = model->context_length();
  if (int64_t(full.size()) > block + 1) full.erase(full.begin(), full.end() - (block + 1));
  auto input = torch::tensor(std::vector<int64_t>(full.begin(), full.end() - 1)).unsqueeze(0);
  auto logp = torch::log_softmax(model->forward(input)[0].to(torch::kDouble), -1);  // [T, V]
  double total = 0;
  bool greedy = true;
  int64_t T = input.size(1);
  for (size_t k = 0; k < cont.size(); ++k) {
    int64_t pos = T - int64_t(cont.size()) + int64_t(k);
    total += logp[pos][cont[k]].item<double>();
    greedy = greedy && logp[pos].argmax().item<int64_t>() == cont[k];
  }
  return {total, greedy};
}

std::string brute_greedy(GPT& model, const std::string& ctx, int64_t n) {
  torch::NoGradGuard no_grad;
  auto ids = bytes(ctx);
  std::string out;
  for (int64_t i = 0; i < n; ++i) {
    auto logits = model->forward(torch::tensor(ids).unsqueeze(0))[0][-1];
    int64_t next = logits.argmax().item<int64_t>();
    ids.push_back(next);
    out += char(next);
  }
  return out;
}

MetricSpec spec(const std::string& metric, const std::string& aggregation = "mean") {
  MetricSpec m;
  m.metric = metric;
  m.aggregation = aggregation;
  m.higher_is_better = metric != "perplexity";
  return m;
}

FilterStep step(const std::string& function, const std::string& pattern = "") {
  FilterStep s;
  s.function = function;
  if (!pattern.empty()) s.regex_pattern = pattern;
  return s;
}

Task make_task(OutputType type, std::vector<json> docs) {
  TaskConfig c;
  c.task = "t";
  c.file = "t.yaml";
  c.test_split = "test";
  c.doc_to_text = "{{q}}";
  c.doc_to_target = "{{a}}";
  c.output_type = type;
  if (type == OutputType::kMultipleChoice) {
    c.doc_to_choice = "choices";
    c.doc_to_target = "label";
    c.metrics = {spec("acc"), spec("acc_norm")};
  } else if (type == OutputType::kLoglikelihood) {
    c.metrics = {spec("perplexity", "perplexity"), spec("acc")};
  } else {
    c.metrics = {spec("exact_match")};
    c.generation.until = {"\n\n"};
    c.generation.max_gen_toks = 3;
  }
  Task t(c);
  t.set_split("test", std::move(docs));
  return t;
}

}  // namespace

TEST_CASE("metrics: mean_stderr and perplexity as the harness defines them", "[tasks][metrics]") {
  // sample stddev of {1, 0, 1, 1} is 0.5; / sqrt(4) = 0.25
  CHECK(mean_stderr({1, 0, 1, 1}) == Approx(0.25));
  CHECK(sample_stddev({2, 4, 4, 4, 5, 5, 7, 9}) == Approx(std::sqrt(32.0 / 7.0)));
  CHECK(std::isnan(mean_stderr({1})));
  CHECK(perplexity({-1.0, -3.0}) == Approx(std::exp(2.0)));
  // The bootstrap of a mean approaches its analytic stderr.
  std::vector<double> xs;
  for (int i = 0; i < 200; ++i) xs.push_back(double((i * 7) % 11));
  CHECK(bootstrap_stderr(mean, xs, 20000, 1) == Approx(mean_stderr(xs)).epsilon(0.05));
}

TEST_CASE("metrics: exact_match options and filters", "[tasks][metrics]") {
  MetricSpec plain = spec("exact_match");
  CHECK(exact_match("Paris", "Paris", plain) == 1.0);
  CHECK(exact_match("paris", "Paris", plain) == 0.0);
  MetricSpec loose = plain;
  loose.ignore_case = loose.ignore_punctuation = true;
  loose.regexes_to_ignore = {"^the "};
  CHECK(exact_match("the paris!", "Paris", loose) == 1.0);
  FilterPipeline p{"get", {step("remove_whitespace"), step("regex", R"(answer is (\d+))"), step("take_first")}};
  CHECK(apply_filters(p, {"  so the answer is 42.", "x"}) == std::vector<std::string>{"42"});
  CHECK(apply_filters(p, {"no number"}) == std::vector<std::string>{"[invalid]"});
  FilterPipeline ws{"ws", {step("remove_whitespace")}};
  CHECK(apply_filters(ws, {"\n  a b "}) == std::vector<std::string>{"a b "});
}

TEST_CASE("encode_pair moves trailing spaces to the continuation", "[tasks]") {
  auto codec = byte_codec();
  auto p = encode_pair(*codec, "ab ", "c");
  CHECK(p.context == bytes("ab"));
  CHECK(p.continuation == bytes(" c"));
  auto empty = encode_pair(*codec, "", "xy");
  CHECK(empty.context == std::vector<int64_t>{0});
  CHECK(empty.continuation == bytes("xy"));
  CHECK(decode_continuation(*codec, bytes("ab"), bytes(" c")) == " c");
}

TEST_CASE("loglikelihood: brute force, batching and left truncation", "[tasks]") {
  auto model = debug_gpt(16);
  auto codec = byte_codec();
  std::vector<LoglikelihoodRequest> reqs = {
      {"ab c", "de"}, {"hello", " world"}, {"", "xyz"}, {"q", "r"},
      {"a context far longer than sixteen bytes", " end"}};
  auto res = loglikelihood(*model->causal_lm(), *codec, reqs, 2);
  REQUIRE(res.size() == reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    auto pair = encode_pair(*codec, reqs[i].context, reqs[i].continuation);
    auto [lp, greedy] = brute_force(model, pair.context, pair.continuation);
    INFO("request " << i);
    CHECK(res[i].logprob == Approx(lp).margin(1e-4));
    CHECK(res[i].greedy == greedy);
    CHECK(res[i].truncated == (i == 4));
  }
  // Batch size does not change the numbers.
  auto one = loglikelihood(*model->causal_lm(), *codec, reqs, 1);
  for (size_t i = 0; i < reqs.size(); ++i) CHECK(one[i].logprob == Approx(res[i].logprob).margin(1e-4));
}

TEST_CASE("multiple choice: the shared context through the KV cache equals separate requests", "[tasks]") {
  auto model = debug_gpt(64);
  auto codec = byte_codec();
  std::vector<std::string> conts = {" red", " green", " a much longer blue"};
  auto shared = loglikelihood_shared_context(*model->causal_lm(), *codec, "Color: ", conts);
  std::vector<LoglikelihoodRequest> reqs;
  for (const auto& c : conts) reqs.push_back({"Color: ", c});
  auto apart = loglikelihood(*model->causal_lm(), *codec, reqs, 1);
  for (size_t i = 0; i < conts.size(); ++i) {
    CHECK(shared[i].logprob == Approx(apart[i].logprob).margin(1e-4));
    CHECK(shared[i].greedy == apart[i].greedy);
  }
}

TEST_CASE("evaluate_task counts continuations longer than the context window", "[tasks]") {
  // Issue: a continuation cut on the left was reported only as "prompts were cut".
  auto model = debug_gpt(16);
  auto codec = byte_codec();
  std::vector<json> docs = {{{"q", "one"}, {"a", "two"}},
                            {{"q", "long context, short target: " + std::string(40, 'x')}, {"a", "y"}},
                            {{"q", "q"}, {"a", std::string(30, 'z')}}};  // 30 > 16 + 1 tokens
  auto r = evaluate_task(make_task(OutputType::kLoglikelihood, docs), *model->causal_lm(), *codec,
                         EvalOptions());
  CHECK(r.truncated == 2);
  CHECK(r.continuation_cut == 1);
  std::vector<json> mc = {{{"q", "Pick:"}, {"choices", {"a", std::string(20, 'b')}}, {"label", 0}},
                          {{"q", "Pick:"}, {"choices", {"a", "b"}}, {"label", 1}}};
  auto m = evaluate_task(make_task(OutputType::kMultipleChoice, mc), *model->causal_lm(), *codec,
                         EvalOptions());
  CHECK(m.continuation_cut == 1);
}

TEST_CASE("evaluate_task: each output type against hand-computed metrics", "[tasks]") {
  auto model = debug_gpt(64);
  auto& lm = *model->causal_lm();
  auto codec = byte_codec();
  EvalOptions o;
  o.bootstrap_iters = 2000;

  SECTION("multiple_choice: acc and acc_norm") {
    std::vector<json> docs = {
        {{"q", "Pick:"}, {"choices", {"aa", "b", "cccc"}}, {"label", 0}},
        {{"q", "Again:"}, {"choices", {"x", "yyyyyy"}}, {"label", 1}},
        {{"q", "More"}, {"choices", {"p", "q", "r"}}, {"label", 2}}};
    auto task = make_task(OutputType::kMultipleChoice, docs);
    auto r = evaluate_task(task, lm, *codec, o);
    std::vector<double> acc, acc_norm;
    for (const auto& d : docs) {
      std::vector<double> lls, normed;
      for (const auto& c : d["choices"]) {
        auto pair = encode_pair(*codec, d["q"].get<std::string>(), " " + c.get<std::string>());
        lls.push_back(brute_force(model, pair.context, pair.continuation).first);
        normed.push_back(lls.back() / double(c.get<std::string>().size()));
      }
      int64_t gold = d["label"].get<int64_t>();
      acc.push_back(std::max_element(lls.begin(), lls.end()) - lls.begin() == gold);
      acc_norm.push_back(std::max_element(normed.begin(), normed.end()) - normed.begin() == gold);
    }
    REQUIRE(r.metrics.size() == 2);
    CHECK(r.metrics[0].metric == "acc");
    CHECK(r.metrics[0].value == Approx(mean(acc)));
    CHECK(r.metrics[0].stderr_value == Approx(mean_stderr(acc)).margin(1e-12));
    CHECK(r.metrics[1].value == Approx(mean(acc_norm)));
    CHECK(r.n_effective == 3);
  }

  SECTION("multiple_choice: acc_norm divides by characters, as Python's len(), not bytes") {
    // Choices of equal UTF-8 bytes and unequal characters: "ああああ" is 4 characters in 12
    // bytes, "abcdefghijkl" 12 in 12. Dividing by bytes ranks as acc does; by characters not.
    std::vector<json> docs;
    for (const char* q : {"Pick:", "Which?", "Choose", "Q:", "Mot:", "Word", "Text:", "A or B"}) {
      docs.push_back({{"q", q}, {"choices", {"ああああ", "abcdefghijkl"}}, {"label", 0}});
    }
    auto task = make_task(OutputType::kMultipleChoice, docs);
    auto r = evaluate_task(task, lm, *codec, o);
    std::vector<double> by_chars, by_bytes;
    for (const auto& d : docs) {
      std::vector<double> lls;
      for (const auto& c : d["choices"]) {
        auto pair = encode_pair(*codec, d["q"].get<std::string>(), " " + c.get<std::string>());
        lls.push_back(brute_force(model, pair.context, pair.continuation).first);
      }
      by_chars.push_back(lls[0] / 4.0 > lls[1] / 12.0 ? 1.0 : 0.0);
      by_bytes.push_back(lls[0] / 12.0 > lls[1] / 12.0 ? 1.0 : 0.0);
    }
    REQUIRE(mean(by_chars) != mean(by_bytes));  // the two readings differ on these documents
    CHECK(r.metrics[1].metric == "acc_norm");
    CHECK(r.metrics[1].value == Approx(mean(by_chars)));
  }

  SECTION("loglikelihood: acc is the greedy match, perplexity exp(-mean ll); the target alone, "
          "no target_delimiter, as the harness") {
    std::vector<json> docs = {{{"q", "one"}, {"a", "two"}}, {{"q", "three"}, {"a", "four"}}};
    auto task = make_task(OutputType::kLoglikelihood, docs);
    auto r = evaluate_task(task, lm, *codec, o);
    std::vector<double> lls, greedy;
    for (const auto& d : docs) {
      auto [lp, g] = brute_force(model, bytes(d["q"].get<std::string>()), bytes(d["a"].get<std::string>()));
      lls.push_back(lp);
      greedy.push_back(g);
    }
    CHECK(r.metrics[0].metric == "perplexity");
    CHECK(r.metrics[0].value == Approx(std::exp(-mean(lls))));
    CHECK(r.metrics[1].value == Approx(mean(greedy)));
  }

  SECTION("generate_until: greedy decoding and exact_match") {
    std::string g0 = brute_greedy(model, "abc", 3);
    std::vector<json> docs = {{{"q", "abc"}, {"a", g0}}, {{"q", "xyz"}, {"a", "never this"}}};
    auto task = make_task(OutputType::kGenerateUntil, docs);
    auto gen = generate_until(lm, *codec, "abc", task.config().generation);
    CHECK(gen.text == g0.substr(0, std::min(g0.find("\n\n"), g0.size())));
    auto r = evaluate_task(task, lm, *codec, o);
    CHECK(r.metrics.at(0).metric == "exact_match");
    CHECK(r.metrics.at(0).filter == "none");
    if (g0.find("\n\n") == std::string::npos) CHECK(r.metrics.at(0).value == Approx(0.5));
    // A stop string cuts the text and is not part of it.
    GenerationOptions stop = task.config().generation;
    stop.until = {g0.substr(1, 1)};
    CHECK(generate_until(lm, *codec, "abc", stop).text == g0.substr(0, g0.find(g0[1])));
  }

  SECTION("left truncation is counted") {
    std::vector<json> docs = {{{"q", std::string(100, 'z')}, {"a", "y"}}, {{"q", "short"}, {"a", "y"}}};
    auto task = make_task(OutputType::kLoglikelihood, docs);
    auto r = evaluate_task(task, lm, *codec, o);
    CHECK(r.truncated == 1);
    auto gen = make_task(OutputType::kGenerateUntil, docs);
    CHECK(evaluate_task(gen, lm, *codec, o).truncated == 1);
  }
}

TEST_CASE("speed switches: a shared prefix, shared contexts and batched generation give the same scores",
          "[tasks]") {
  auto model = debug_gpt(64);
  auto& lm = *model->causal_lm();
  auto codec = byte_codec();
  const std::string shots = "Q: 1+1 A: 2\n\nQ: 2+2 A: 4\n\n";  // a first_n prefix
  std::vector<LoglikelihoodRequest> reqs = {
      {shots + "Q: 3+3 A:", " 6"}, {shots + "Q: 1+4 A:", " 5"}, {shots + "Q: 9+9 A:", " 18"},
      {shots + "Q: 2+7 A:", " nine"}, {shots + "Q:", " x"}};
  auto reused = loglikelihood(lm, *codec, reqs, 2, true);
  auto plain = loglikelihood(lm, *codec, reqs, 2, false);
  for (size_t i = 0; i < reqs.size(); ++i) {
    auto pair = encode_pair(*codec, reqs[i].context, reqs[i].continuation);
    auto [lp, greedy] = brute_force(model, pair.context, pair.continuation);
    INFO("request " << i);
    CHECK(reused[i].logprob == Approx(lp).margin(1e-4));
    CHECK(plain[i].logprob == Approx(lp).margin(1e-4));
    CHECK(reused[i].greedy == greedy);
  }
  // A multiple-choice context continued from the prefix's cache.
  std::vector<int64_t> prefix_tokens = bytes(shots);
  auto prefix = prefix_cache(lm, prefix_tokens);
  std::vector<std::string> conts = {" 6", " 7", " 66"};
  auto from_prefix = loglikelihood_shared_context(lm, *codec, shots + "Q: 3+3 A:", conts, prefix);
  auto alone = loglikelihood_shared_context(lm, *codec, shots + "Q: 3+3 A:", conts);
  for (size_t i = 0; i < conts.size(); ++i) {
    CHECK(from_prefix[i].logprob == Approx(alone[i].logprob).margin(1e-4));
  }
  // Batched generation (contexts of equal and unequal lengths) equals one at a time.
  GenerationOptions g;
  g.until = {"\n"};
  g.max_gen_toks = 6;
  std::vector<std::string> contexts = {shots + "Q: 3+3 A:", shots + "Q: 5+1 A:", shots + "Q: 10+1 A:",
                                       "abc"};
  auto batched = generate_until(lm, *codec, contexts, g, {0, 1, 2, 3}, 4, true);
  for (size_t i = 0; i < contexts.size(); ++i) {
    INFO("context " << i);
    CHECK(batched[i].text == generate_until(lm, *codec, contexts[i], g).text);
  }
  // evaluate_task: every switch gives the same metrics.
  std::vector<json> docs;
  for (int i = 0; i < 6; ++i) {
    docs.push_back({{"q", "Pick " + std::to_string(i) + ":"}, {"choices", {"aa", "b", "cccc"}}, {"label", i % 3}});
  }
  auto task = make_task(OutputType::kMultipleChoice, docs);
  EvalOptions fast, slow;
  slow.reuse_prefix = slow.share_context = false;
  slow.batch_size = 1;
  auto a = evaluate_task(task, lm, *codec, fast), b = evaluate_task(task, lm, *codec, slow);
  for (size_t m = 0; m < a.metrics.size(); ++m) CHECK(a.metrics[m].value == b.metrics[m].value);
}

TEST_CASE("speed switches: prompts longer than the model share no prefix cache", "[tasks]") {
  auto model = debug_gpt(16);
  auto& lm = *model->causal_lm();
  auto codec = byte_codec();
  // Every prompt starts with the same 20 bytes, longer than the 16-token context.
  std::vector<json> docs;
  for (int i = 0; i < 3; ++i) {
    docs.push_back({{"q", std::string(20, 'p') + std::to_string(i)}, {"choices", {"a", "bb"}}, {"label", 0}});
  }
  docs.push_back({{"q", "short"}, {"choices", {"a", "bb"}}, {"label", 1}});
  auto task = make_task(OutputType::kMultipleChoice, docs);
  EvalOptions fast, slow;
  slow.reuse_prefix = slow.share_context = false;
  auto a = evaluate_task(task, lm, *codec, fast), b = evaluate_task(task, lm, *codec, slow);
  CHECK(a.truncated == 3);
  for (size_t m = 0; m < a.metrics.size(); ++m) CHECK(a.metrics[m].value == b.metrics[m].value);
}
