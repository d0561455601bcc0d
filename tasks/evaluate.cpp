#include "tasks/evaluate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "core/errors.h"
#include "tasks/metrics.h"

namespace strata::tasks {

using json = nlohmann::json;

namespace {

class TokenizerCodec : public TextCodec {
 public:
  explicit TokenizerCodec(Tokenizer t) : t_(std::move(t)) {}
  std::vector<int64_t> encode(const std::string& text) const override {
    auto ids = t_.encode(text);
    return {ids.begin(), ids.end()};
  }
  std::string decode(const std::vector<int64_t>& ids) const override {
    return t_.decode(std::vector<int>(ids.begin(), ids.end()));
  }
  int64_t prefix_token() const override {
    if (t_.bos_id() >= 0) return t_.bos_id();
    if (t_.eos_id() >= 0) return t_.eos_id();
    return 0;
  }
  int64_t eos_token() const override { return t_.eos_id(); }

 private:
  Tokenizer t_;
};

class ByteCodec : public TextCodec {
 public:
  std::vector<int64_t> encode(const std::string& text) const override {
    std::vector<int64_t> out;
    for (unsigned char c : text) out.push_back(c);
    return out;
  }
  std::string decode(const std::vector<int64_t>& ids) const override {
    std::string out;
    for (int64_t id : ids) out += char(id);
    return out;
  }
  int64_t prefix_token() const override { return 0; }
};

torch::Tensor to_tensor(const std::vector<std::vector<int64_t>>& rows, int64_t width,
                        int64_t fill) {
  auto t = torch::full({int64_t(rows.size()), width}, fill, torch::kLong);
  auto a = t.accessor<int64_t, 2>();
  for (size_t b = 0; b < rows.size(); ++b)
    for (size_t i = 0; i < rows[b].size(); ++i) a[int64_t(b)][int64_t(i)] = rows[b][i];
  return t;
}

torch::Device model_device(CausalLM& model) {
  auto cache = model.make_cache(1, 1);
  return cache.k.empty() ? torch::Device(torch::kCPU) : cache.k[0].device();
}

}  // namespace

std::unique_ptr<TextCodec> tokenizer_codec(const Tokenizer& tokenizer) {
  return std::make_unique<TokenizerCodec>(tokenizer);
}

std::unique_ptr<TextCodec> byte_codec() { return std::make_unique<ByteCodec>(); }

std::string decode_continuation(const TextCodec& codec, const std::vector<int64_t>& prompt,
                                const std::vector<int64_t>& continuation) {
  std::vector<int64_t> all = prompt;
  all.insert(all.end(), continuation.begin(), continuation.end());
  std::string head = codec.decode(prompt), whole = codec.decode(all);
  if (whole.compare(0, head.size(), head) == 0) return whole.substr(head.size());
  return codec.decode(continuation);
}

EncodedPair encode_pair(const TextCodec& codec, std::string context, std::string continuation) {
  EncodedPair out;
  if (context.empty()) {
    out.context = {codec.prefix_token()};
    out.continuation = codec.encode(continuation);
    return out;
  }
  size_t keep = context.find_last_not_of(" \t\n\r\f\v");
  keep = keep == std::string::npos ? 0 : keep + 1;
  continuation = context.substr(keep) + continuation;
  context.resize(keep);
  auto whole = codec.encode(context + continuation);
  out.context = codec.encode(context);
  size_t n = std::min(out.context.size(), whole.size());
  out.continuation.assign(whole.begin() + int64_t(n), whole.end());
  return out;
}

// ---- loglikelihood ----------------------------------------------------------------------

std::vector<LoglikelihoodResult> loglikelihood(CausalLM& model, const TextCodec& codec,
                                               const std::vector<LoglikelihoodRequest>& requests,
                                               int64_t batch_size) {
  const int64_t max_len = model.context_length();
  const auto device = model_device(model);
  struct Prepared {
    std::vector<int64_t> input;  // the window fed to the model
    int64_t n_cont;              // scored positions, at the end of the window
    bool truncated;
  };
  std::vector<Prepared> prepared;
  for (const auto& r : requests) {
    auto pair = encode_pair(codec, r.context, r.continuation);
    std::vector<int64_t> full = pair.context;
    full.insert(full.end(), pair.continuation.begin(), pair.continuation.end());
    Prepared p;
    p.truncated = int64_t(full.size()) > max_len + 1;
    // The harness's (context + continuation)[-(max_length + 1):][:-1]: the last token is
    // only ever a target.
    size_t start = p.truncated ? full.size() - size_t(max_len + 1) : 0;
    p.input.assign(full.begin() + int64_t(start), full.end());
    p.n_cont = std::min<int64_t>(int64_t(pair.continuation.size()), int64_t(p.input.size()) - 1);
    prepared.push_back(std::move(p));
  }
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return prepared[a].input.size() > prepared[b].input.size();
  });
  std::vector<LoglikelihoodResult> out(requests.size());
  for (size_t first = 0; first < order.size(); first += size_t(batch_size)) {
    size_t last = std::min(order.size(), first + size_t(batch_size));
    std::vector<std::vector<int64_t>> tokens, targets;
    int64_t width = 0;
    for (size_t i = first; i < last; ++i) {
      const auto& p = prepared[order[i]];
      std::vector<int64_t> in(p.input.begin(), p.input.end() - 1);
      std::vector<int64_t> tg(in.size(), -100);
      for (int64_t k = int64_t(in.size()) - p.n_cont; k < int64_t(in.size()); ++k) {
        tg[size_t(k)] = p.input[size_t(k) + 1];
      }
      width = std::max(width, int64_t(in.size()));
      tokens.push_back(std::move(in));
      targets.push_back(std::move(tg));
    }
    // Right padding: a causal model's earlier positions never see it, and it is not scored.
    auto scores = model.score(to_tensor(tokens, width, 0).to(device),
                              to_tensor(targets, width, -100).to(device));
    auto lp = scores.logprobs.to(torch::kCPU, torch::kDouble).sum(1);
    auto greedy = scores.greedy.to(torch::kCPU).all(1);
    for (size_t i = first; i < last; ++i) {
      auto& r = out[order[i]];
      r.logprob = lp[int64_t(i - first)].item<double>();
      r.greedy = greedy[int64_t(i - first)].item<bool>();
      r.truncated = prepared[order[i]].truncated;
    }
  }
  return out;
}

std::vector<LoglikelihoodResult> loglikelihood_shared_context(
    CausalLM& model, const TextCodec& codec, const std::string& context,
    const std::vector<std::string>& continuations) {
  const int64_t max_len = model.context_length();
  std::vector<EncodedPair> pairs;
  bool cut = false;
  for (const auto& c : continuations) {
    pairs.push_back(encode_pair(codec, context, c));
    cut = cut || int64_t(pairs.back().context.size() + pairs.back().continuation.size()) > max_len + 1;
  }
  bool any_empty = std::any_of(pairs.begin(), pairs.end(),
                               [](const EncodedPair& p) { return p.continuation.empty(); });
  if (cut || any_empty || continuations.empty()) {
    std::vector<LoglikelihoodRequest> requests;
    for (const auto& c : continuations) requests.push_back({context, c});
    return loglikelihood(model, codec, requests, int64_t(std::max<size_t>(1, requests.size())));
  }
  const auto device = model_device(model);
  const auto& ctx = pairs[0].context;  // encode(context) alone: the same for every choice
  const int64_t n = int64_t(continuations.size());
  // The context but its last token goes through the model once; its last token leads
  // every continuation's row, so its logits score each continuation's first token.
  KVCache shared = model.make_cache(1, max_len);
  if (ctx.size() > 1) {
    torch::NoGradGuard no_grad;
    std::vector<int64_t> head(ctx.begin(), ctx.end() - 1);
    model.hidden_states(to_tensor({head}, int64_t(head.size()), 0).to(device), &shared);
  }
  KVCache cache = shared.repeat(n);
  std::vector<std::vector<int64_t>> tokens, targets;
  int64_t width = 0;
  for (const auto& p : pairs) {
    std::vector<int64_t> in = {ctx.back()};
    in.insert(in.end(), p.continuation.begin(), p.continuation.end() - 1);
    width = std::max(width, int64_t(in.size()));
    tokens.push_back(std::move(in));
    targets.push_back(p.continuation);
  }
  auto scores = model.score(to_tensor(tokens, width, 0).to(device),
                            to_tensor(targets, width, -100).to(device), &cache);
  auto lp = scores.logprobs.to(torch::kCPU, torch::kDouble).sum(1);
  auto greedy = scores.greedy.to(torch::kCPU).all(1);
  std::vector<LoglikelihoodResult> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    out[size_t(i)].logprob = lp[i].item<double>();
    out[size_t(i)].greedy = greedy[i].item<bool>();
  }
  return out;
}

// ---- generation -------------------------------------------------------------------------

GenerationResult generate_until(CausalLM& model, const TextCodec& codec, const std::string& context,
                                const GenerationOptions& options, uint64_t seed) {
  torch::NoGradGuard no_grad;
  const int64_t max_len = model.context_length();
  const auto device = model_device(model);
  const int64_t max_gen = std::min(options.max_gen_toks, max_len - 1);
  std::vector<int64_t> ctx = context.empty() ? std::vector<int64_t>{codec.prefix_token()}
                                             : codec.encode(context);
  GenerationResult out;
  const int64_t max_ctx = max_len - max_gen;
  if (int64_t(ctx.size()) > max_ctx) {
    ctx.erase(ctx.begin(), ctx.end() - max_ctx);
    out.truncated = true;
  }
  auto stop_at = [&](const std::string& text) {
    size_t cut = std::string::npos;
    for (const auto& s : options.until) {
      if (s.empty()) continue;
      cut = std::min(cut, text.find(s));
    }
    return cut;
  };
  std::mt19937_64 rng(seed);
  const bool sample = options.do_sample && options.temperature > 0;
  KVCache cache = model.make_cache(1, max_len);
  auto logits = model.forward_cached(to_tensor({ctx}, int64_t(ctx.size()), 0).to(device), cache)
                    .select(1, int64_t(ctx.size()) - 1)
                    .to(torch::kCPU, torch::kDouble);  // [1, V]
  std::vector<int64_t> produced;
  std::string text;
  while (int64_t(produced.size()) < max_gen) {
    int64_t next;
    if (sample) {
      auto p = torch::softmax(logits[0] / options.temperature, 0).contiguous();
      std::vector<double> w(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
      next = int64_t(std::discrete_distribution<int64_t>(w.begin(), w.end())(rng));
    } else {
      next = logits[0].argmax().item<int64_t>();
    }
    if (next == codec.eos_token()) break;
    produced.push_back(next);
    text = decode_continuation(codec, ctx, produced);
    if (stop_at(text) != std::string::npos) break;
    if (int64_t(produced.size()) >= max_gen) break;
    logits = model.forward_cached(torch::tensor({{next}}, torch::kLong).to(device), cache)
                 .select(1, 0)
                 .to(torch::kCPU, torch::kDouble);
  }
  size_t cut = stop_at(text);
  out.text = cut == std::string::npos ? text : text.substr(0, cut);
  return out;
}

// ---- a task -----------------------------------------------------------------------------

namespace {

// The index of the largest value; the first on ties (numpy's argmax).
size_t argmax(const std::vector<double>& xs) {
  size_t best = 0;
  for (size_t i = 1; i < xs.size(); ++i)
    if (xs[i] > xs[best]) best = i;
  return best;
}

double perplexity_fn(const std::vector<double>& xs) { return perplexity(xs); }

}  // namespace

TaskResult evaluate_task(const Task& task, CausalLM& model, const TextCodec& codec,
                         const EvalOptions& options) {
  const TaskConfig& cfg = task.config();
  TaskResult result;
  result.task = cfg.task;
  result.version = cfg.version;
  result.num_fewshot = options.num_fewshot >= 0 ? options.num_fewshot : cfg.num_fewshot;
  const auto& docs = task.eval_docs();
  result.n_original = int64_t(docs.size());
  const size_t n = options.limit > 0 ? std::min(docs.size(), size_t(options.limit)) : docs.size();
  result.n_effective = int64_t(n);
  TaskConfig resolved = cfg;
  resolved.num_fewshot = result.num_fewshot;
  result.config = resolved.to_json();

  std::vector<std::string> prompts;
  for (size_t i = 0; i < n; ++i) {
    prompts.push_back(task.fewshot_context(i, result.num_fewshot, options.seed));
  }
  auto where = [&](size_t i) { return fmt::format("{} document {}", task.eval_split(), i); };
  // Per-document scores by "metric,filter".
  std::map<std::string, std::vector<double>> scores;
  std::vector<bool> truncated(n, false);

  switch (cfg.output_type) {
    case OutputType::kLoglikelihood: {
      std::vector<LoglikelihoodRequest> requests;
      for (size_t i = 0; i < n; ++i) {
        requests.push_back({prompts[i], cfg.target_delimiter + task.target_text(docs[i], where(i))});
      }
      auto res = loglikelihood(model, codec, requests, options.batch_size);
      for (size_t i = 0; i < n; ++i) {
        scores["perplexity,none"].push_back(res[i].logprob);
        scores["acc,none"].push_back(res[i].greedy ? 1.0 : 0.0);
        truncated[i] = res[i].truncated;
      }
      break;
    }
    case OutputType::kMultipleChoice: {
      for (size_t i = 0; i < n; ++i) {
        auto choices = task.doc_to_choice(docs[i], where(i));
        int64_t gold = task.doc_to_target(docs[i], where(i)).index;
        std::vector<std::string> conts;
        for (const auto& c : choices) conts.push_back(cfg.target_delimiter + c);
        auto res = loglikelihood_shared_context(model, codec, prompts[i], conts);
        std::vector<double> lls, normed;
        for (size_t c = 0; c < res.size(); ++c) {
          lls.push_back(res[c].logprob);
          // The harness divides by the choice's length in characters (without the delimiter).
          normed.push_back(res[c].logprob / double(std::max<size_t>(1, choices[c].size())));
          truncated[i] = truncated[i] || res[c].truncated;
        }
        scores["acc,none"].push_back(int64_t(argmax(lls)) == gold ? 1.0 : 0.0);
        scores["acc_norm,none"].push_back(int64_t(argmax(normed)) == gold ? 1.0 : 0.0);
      }
      break;
    }
    case OutputType::kGenerateUntil: {
      std::vector<FilterPipeline> pipelines = cfg.filters;
      if (pipelines.empty()) {  // the harness's default pipeline: "none", take the first
        FilterStep first;
        first.function = "take_first";
        pipelines.push_back(FilterPipeline{"none", {first}});
      }
      for (size_t i = 0; i < n; ++i) {
        auto gen = generate_until(model, codec, prompts[i], cfg.generation, options.seed + i);
        truncated[i] = gen.truncated;
        std::string target = task.target_text(docs[i], where(i));
        for (const auto& p : pipelines) {
          auto filtered = apply_filters(p, {gen.text});
          for (const auto& m : cfg.metrics) {
            scores[m.metric + "," + p.name].push_back(
                exact_match(filtered.empty() ? "" : filtered[0], target, m));
          }
        }
      }
      break;
    }
  }
  result.truncated = std::count(truncated.begin(), truncated.end(), true);

  std::vector<std::string> filters = {"none"};
  if (cfg.output_type == OutputType::kGenerateUntil && !cfg.filters.empty()) {
    filters.clear();
    for (const auto& p : cfg.filters) filters.push_back(p.name);
  }
  for (const auto& filter : filters) {
    for (const auto& m : cfg.metrics) {
      const auto& xs = scores[m.metric + "," + filter];
      MetricValue v;
      v.metric = m.metric;
      v.filter = filter;
      v.higher_is_better = m.higher_is_better;
      if (m.aggregation == "perplexity") {
        v.value = perplexity(xs);
        v.stderr_value = bootstrap_stderr(perplexity_fn, xs, options.bootstrap_iters, options.seed);
      } else {
        v.value = mean(xs);
        v.stderr_value = mean_stderr(xs);
      }
      result.metrics.push_back(v);
    }
  }
  return result;
}

}  // namespace strata::tasks
