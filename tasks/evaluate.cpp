#include "tasks/evaluate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include "core/errors.h"
#include "core/utf8.h"
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
  // The continuation merged into the context's last token ("The quiet riv" + "er"): the
  // released harness stops here (assert len(continuation_enc) > 0); its PR #4055 encodes
  // the continuation alone, as Strata does, so something is scored.
  if (out.continuation.empty() && !continuation.empty()) out.continuation = codec.encode(continuation);
  return out;
}

// ---- shared prefixes --------------------------------------------------------------------

PrefixCache prefix_cache(CausalLM& model, std::vector<int64_t> tokens) {
  PrefixCache p;
  p.tokens = std::move(tokens);
  if (p.tokens.empty()) return p;
  torch::NoGradGuard no_grad;
  p.cache = model.make_cache(1, int64_t(p.tokens.size()));
  model.hidden_states(
      to_tensor({p.tokens}, int64_t(p.tokens.size()), 0).to(model_device(model)), &p.cache);
  return p;
}

namespace {

// A cache of `rows` rows with room for `extra` positions after the prefix, each row a copy
// of the prefix's keys and values.
KVCache continue_from(CausalLM& model, const PrefixCache& prefix, int64_t rows, int64_t extra) {
  const int64_t n = int64_t(prefix.tokens.size());
  KVCache cache = model.make_cache(rows, n + extra);
  for (size_t l = 0; l < cache.k.size(); ++l) {
    cache.k[l].narrow(2, 0, n).copy_(prefix.cache.k[l].narrow(2, 0, n).expand({rows, -1, -1, -1}));
    cache.v[l].narrow(2, 0, n).copy_(prefix.cache.v[l].narrow(2, 0, n).expand({rows, -1, -1, -1}));
  }
  cache.length = n;
  return cache;
}

// The longest run of tokens every sequence starts with, at most each one's size - keep.
size_t common_prefix(const std::vector<const std::vector<int64_t>*>& seqs, size_t keep) {
  if (seqs.empty()) return 0;
  size_t n = seqs[0]->size();
  for (const auto* s : seqs) n = std::min(n, s->size() < keep ? 0 : s->size() - keep);
  for (size_t i = 0; i < n; ++i) {
    for (const auto* s : seqs) {
      if ((*s)[i] != (*seqs[0])[i]) return i;
    }
  }
  return n;
}

bool starts_with(const std::vector<int64_t>& seq, const std::vector<int64_t>& prefix) {
  return seq.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), seq.begin());
}

// A request as the model reads it: the window (context + continuation, cut on the left to
// context_length + 1 tokens, as the harness's (context + continuation)[-(max_length + 1):]),
// whose last n_cont tokens are scored. The last token is only ever a target.
struct Window {
  std::vector<int64_t> input;
  int64_t n_cont = 0;
  bool truncated = false;
  bool continuation_cut = false;  // n_cont < the continuation's tokens
};

Window make_window(const EncodedPair& pair, int64_t max_len) {
  std::vector<int64_t> full = pair.context;
  full.insert(full.end(), pair.continuation.begin(), pair.continuation.end());
  Window w;
  w.truncated = int64_t(full.size()) > max_len + 1;
  const size_t start = w.truncated ? full.size() - size_t(max_len + 1) : 0;
  w.input.assign(full.begin() + int64_t(start), full.end());
  w.n_cont = std::min<int64_t>(int64_t(pair.continuation.size()), int64_t(w.input.size()) - 1);
  w.continuation_cut = w.n_cont < int64_t(pair.continuation.size());
  return w;
}

// Scores windows that all start with the prefix's tokens: each row feeds the window after
// the prefix but its last token, longest rows first, `batch_size` rows per forward.
void score_windows(CausalLM& model, const std::vector<Window>& windows,
                   const std::vector<size_t>& which, const PrefixCache& prefix,
                   int64_t batch_size, std::vector<LoglikelihoodResult>& out) {
  const auto device = model_device(model);
  const size_t skip = prefix.tokens.size();
  std::vector<size_t> order = which;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return windows[a].input.size() > windows[b].input.size();
  });
  for (size_t first = 0; first < order.size(); first += size_t(batch_size)) {
    const size_t last = std::min(order.size(), first + size_t(batch_size));
    std::vector<std::vector<int64_t>> tokens, targets;
    int64_t width = 0;
    for (size_t i = first; i < last; ++i) {
      const auto& w = windows[order[i]];
      const size_t n = w.input.size();
      std::vector<int64_t> in(w.input.begin() + int64_t(skip), w.input.end() - 1);
      std::vector<int64_t> tg(in.size(), -100);
      for (size_t k = n - size_t(w.n_cont) - 1; k + 1 < n; ++k) tg[k - skip] = w.input[k + 1];
      width = std::max(width, int64_t(in.size()));
      tokens.push_back(std::move(in));
      targets.push_back(std::move(tg));
    }
    const int64_t rows = int64_t(last - first);
    // Right padding: a causal model's earlier positions never see it, and it is not scored.
    KVCache cache;
    if (skip > 0) cache = continue_from(model, prefix, rows, width);
    auto scores = model.score(to_tensor(tokens, width, 0).to(device),
                              to_tensor(targets, width, -100).to(device),
                              skip > 0 ? &cache : nullptr);
    auto lp = scores.logprobs.to(torch::kCPU, torch::kDouble).sum(1);
    auto greedy = scores.greedy.to(torch::kCPU).all(1);
    for (size_t i = first; i < last; ++i) {
      auto& r = out[order[i]];
      r.logprob = lp[int64_t(i - first)].item<double>();
      r.greedy = greedy[int64_t(i - first)].item<bool>();
      r.truncated = windows[order[i]].truncated;
      r.continuation_cut = windows[order[i]].continuation_cut;
    }
  }
}

}  // namespace

// ---- loglikelihood ----------------------------------------------------------------------

std::vector<LoglikelihoodResult> loglikelihood(CausalLM& model, const TextCodec& codec,
                                               const std::vector<LoglikelihoodRequest>& requests,
                                               int64_t batch_size, bool reuse_prefix) {
  torch::NoGradGuard no_grad;
  const int64_t max_len = model.context_length();
  std::vector<Window> windows;
  for (const auto& r : requests) {
    windows.push_back(make_window(encode_pair(codec, r.context, r.continuation), max_len));
  }
  // Windows cut on the left share no prefix with the others; they are scored apart.
  std::vector<size_t> whole, cut;
  std::vector<const std::vector<int64_t>*> seqs;
  for (size_t i = 0; i < windows.size(); ++i) {
    (windows[i].truncated ? cut : whole).push_back(i);
  }
  size_t shared = 0;
  if (reuse_prefix && whole.size() > 1) {
    // Each row keeps at least one fed token before its first scored target.
    shared = windows[whole[0]].input.size();
    for (size_t i : whole) {
      const auto& w = windows[i];
      shared = std::min(shared, w.input.size() - size_t(w.n_cont) - 1);
      seqs.push_back(&w.input);
    }
    shared = std::min(shared, common_prefix(seqs, 0));
  }
  std::vector<LoglikelihoodResult> out(requests.size());
  std::vector<int64_t> head;
  if (shared > 0) head.assign(windows[whole[0]].input.begin(), windows[whole[0]].input.begin() + int64_t(shared));
  score_windows(model, windows, whole, prefix_cache(model, std::move(head)), batch_size, out);
  score_windows(model, windows, cut, PrefixCache{}, batch_size, out);
  return out;
}

std::vector<LoglikelihoodResult> loglikelihood_shared_context(
    CausalLM& model, const TextCodec& codec, const std::string& context,
    const std::vector<std::string>& continuations, const PrefixCache& prefix) {
  torch::NoGradGuard no_grad;
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
    return loglikelihood(model, codec, requests, int64_t(std::max<size_t>(1, requests.size())),
                         false);
  }
  const auto device = model_device(model);
  const auto& ctx = pairs[0].context;  // encode(context) alone: the same for every choice
  const int64_t n = int64_t(continuations.size());
  size_t max_cont = 0;
  for (const auto& p : pairs) max_cont = std::max(max_cont, p.continuation.size());
  // The context but its last token goes through the model once (after the prefix's cache,
  // when the context starts with it); its last token leads every continuation's row, so
  // its logits score each continuation's first token.
  const bool use_prefix = !prefix.tokens.empty() && prefix.tokens.size() < ctx.size() &&
                          starts_with(ctx, prefix.tokens);
  const size_t skip = use_prefix ? prefix.tokens.size() : 0;
  const int64_t room = int64_t(ctx.size() - skip + max_cont);
  KVCache shared = use_prefix ? continue_from(model, prefix, 1, room) : model.make_cache(1, room);
  if (ctx.size() > skip + 1) {
    std::vector<int64_t> head(ctx.begin() + int64_t(skip), ctx.end() - 1);
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

namespace {

// One batch of generate_until: rows whose contexts (their tokens after the `shared` ones
// the prefix cache holds) have one length, decoded together through one cache until every
// row has stopped. Returns each row's text, cut at its first stop sequence.
struct GenerationBatch {
  std::vector<const std::vector<int64_t>*> contexts;  // whole contexts, prefix included
  std::vector<uint64_t> seeds;
};

size_t stop_at(const std::string& text, const GenerationOptions& options) {
  size_t cut = std::string::npos;
  for (const auto& s : options.until) {
    if (!s.empty()) cut = std::min(cut, text.find(s));
  }
  return cut;
}

// The next token of row r from its logits [V] (double): sampled with its generator, or the
// argmax.
int64_t next_token(const torch::Tensor& logits, const GenerationOptions& options, std::mt19937_64& rng) {
  if (!(options.do_sample && options.temperature > 0)) return logits.argmax().item<int64_t>();
  auto p = torch::softmax(logits / options.temperature, 0).contiguous();
  std::vector<double> w(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
  return int64_t(std::discrete_distribution<int64_t>(w.begin(), w.end())(rng));
}

std::vector<std::string> decode_batch(CausalLM& model, const TextCodec& codec, const PrefixCache& prefix,
                                      size_t shared, const GenerationBatch& batch, const GenerationOptions& options,
                                      int64_t max_gen) {
  const auto device = model_device(model);
  const int64_t rows = int64_t(batch.contexts.size());
  const int64_t length = int64_t(batch.contexts[0]->size() - shared);
  std::vector<std::vector<int64_t>> fed;
  std::vector<std::mt19937_64> rngs;
  for (int64_t r = 0; r < rows; ++r) {
    const auto& c = *batch.contexts[size_t(r)];
    fed.emplace_back(c.begin() + int64_t(shared), c.end());
    rngs.emplace_back(batch.seeds[size_t(r)]);
  }
  KVCache cache = shared > 0 ? continue_from(model, prefix, rows, length + max_gen)
                             : model.make_cache(rows, length + max_gen);
  auto logits = model.forward_cached(to_tensor(fed, length, 0).to(device), cache)
                    .select(1, length - 1)
                    .to(torch::kCPU, torch::kDouble);  // [rows, V]
  std::vector<std::vector<int64_t>> produced(static_cast<size_t>(rows));
  std::vector<std::string> texts(static_cast<size_t>(rows));
  std::vector<bool> done(static_cast<size_t>(rows), false);
  for (int64_t step = 0; step < max_gen; ++step) {
    std::vector<int64_t> next(static_cast<size_t>(rows), 0);
    for (int64_t r = 0; r < rows; ++r) {
      if (done[size_t(r)]) continue;
      const int64_t t = next_token(logits[r], options, rngs[size_t(r)]);
      if (t == codec.eos_token()) {
        done[size_t(r)] = true;
        continue;
      }
      next[size_t(r)] = t;
      auto& mine = produced[size_t(r)];
      mine.push_back(t);
      texts[size_t(r)] = decode_continuation(codec, *batch.contexts[size_t(r)], mine);
      if (stop_at(texts[size_t(r)], options) != std::string::npos || int64_t(mine.size()) >= max_gen) {
        done[size_t(r)] = true;
      }
    }
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
    std::vector<std::vector<int64_t>> step_tokens;
    for (int64_t t : next) step_tokens.push_back({t});
    logits = model.forward_cached(to_tensor(step_tokens, 1, 0).to(device), cache)
                 .select(1, 0)
                 .to(torch::kCPU, torch::kDouble);
  }
  for (auto& text : texts) {
    const size_t cut = stop_at(text, options);
    if (cut != std::string::npos) text = text.substr(0, cut);
  }
  return texts;
}

}  // namespace

std::vector<GenerationResult> generate_until(CausalLM& model, const TextCodec& codec,
                                             const std::vector<std::string>& contexts,
                                             const GenerationOptions& options,
                                             const std::vector<uint64_t>& seeds,
                                             int64_t batch_size, bool reuse_prefix) {
  torch::NoGradGuard no_grad;
  const int64_t max_len = model.context_length();
  const int64_t max_gen = std::min(options.max_gen_toks, max_len - 1);
  const int64_t max_ctx = max_len - max_gen;
  std::vector<GenerationResult> out(contexts.size());
  std::vector<std::vector<int64_t>> ctxs;
  for (size_t i = 0; i < contexts.size(); ++i) {
    auto ctx = contexts[i].empty() ? std::vector<int64_t>{codec.prefix_token()}
                                   : codec.encode(contexts[i]);
    if (int64_t(ctx.size()) > max_ctx) {
      ctx.erase(ctx.begin(), ctx.end() - max_ctx);
      out[i].truncated = true;
    }
    ctxs.push_back(std::move(ctx));
  }
  // The tokens every context starts with run once (each context keeps one of its own).
  size_t shared = 0;
  if (reuse_prefix && ctxs.size() > 1) {
    std::vector<const std::vector<int64_t>*> seqs;
    for (const auto& c : ctxs) seqs.push_back(&c);
    shared = common_prefix(seqs, 1);
  }
  std::vector<int64_t> head;
  if (shared > 0) head.assign(ctxs[0].begin(), ctxs[0].begin() + int64_t(shared));
  const PrefixCache prefix = prefix_cache(model, std::move(head));
  // Rows of one forward must have contexts of one length (the model takes no padding
  // mask), so contexts are grouped by length, then cut into batches.
  std::map<size_t, std::vector<size_t>> by_length;
  for (size_t i = 0; i < ctxs.size(); ++i) by_length[ctxs[i].size()].push_back(i);
  for (const auto& [length, members] : by_length) {
    for (size_t first = 0; first < members.size(); first += size_t(batch_size)) {
      const size_t last = std::min(members.size(), first + size_t(batch_size));
      GenerationBatch batch;
      for (size_t m = first; m < last; ++m) {
        batch.contexts.push_back(&ctxs[members[m]]);
        batch.seeds.push_back(seeds.empty() ? 0 : seeds[members[m]]);
      }
      auto texts = decode_batch(model, codec, prefix, shared, batch, options, max_gen);
      for (size_t m = first; m < last; ++m) out[members[m]].text = std::move(texts[m - first]);
    }
  }
  return out;
}

GenerationResult generate_until(CausalLM& model, const TextCodec& codec, const std::string& context,
                                const GenerationOptions& options, uint64_t seed) {
  return generate_until(model, codec, {context}, options, {seed}, 1, false)[0];
}

// ---- a task -----------------------------------------------------------------------------
//
// As the harness's evaluator: the requests of every document are built first, as data
// (construct_requests), then run per request type, then each document's responses scored
// (process_results), then the scores aggregated per metric and filter.

namespace {

// The index of the largest value; the first on ties (numpy's argmax).
size_t argmax(const std::vector<double>& xs) {
  size_t best = 0;
  for (size_t i = 1; i < xs.size(); ++i)
    if (xs[i] > xs[best]) best = i;
  return best;
}

double perplexity_fn(const std::vector<double>& xs) { return perplexity(xs); }

std::string where(const Task& task, size_t i) { return fmt::format("{} document {}", task.eval_split(), i); }

}  // namespace

TaskRequests build_requests(const Task& task, const EvalOptions& options) {
  const TaskConfig& cfg = task.config();
  const auto& docs = task.eval_docs();
  const size_t n = options.limit > 0 ? std::min(docs.size(), size_t(options.limit)) : docs.size();
  TaskRequests r;
  r.task = &task;
  r.num_fewshot = options.num_fewshot >= 0 ? options.num_fewshot : cfg.num_fewshot;
  for (size_t i = 0; i < n; ++i) r.prompts.push_back(task.fewshot_context(i, r.num_fewshot, options.seed));
  for (size_t i = 0; i < n; ++i) {
    if (cfg.output_type != OutputType::kMultipleChoice) {
      r.targets.push_back(task.target_text(docs[i], where(task, i)));
      // As the harness's construct_requests: the target alone, no target_delimiter (a task
      // that wants a space puts it in doc_to_target, as lambada's " {{word}}").
      if (cfg.output_type == OutputType::kLoglikelihood) r.loglikelihood.push_back({r.prompts[i], r.targets[i]});
      continue;
    }
    r.choices.push_back(task.doc_to_choice(docs[i], where(task, i)));
    r.gold.push_back(task.doc_to_target(docs[i], where(task, i)).index);
    for (const auto& c : r.choices.back()) r.loglikelihood.push_back({r.prompts[i], cfg.target_delimiter + c});
  }
  return r;
}

namespace {

using Requests = TaskRequests;

// Multiple choice's requests, run one of two ways that save work, of which one forward can
// take only one: a document's context run once for its choices, or the prefix every context
// starts with (the first_n shots) run once per task and rows batched across documents. The
// prefix is computed first; when it covers at least half of the contexts' tokens, the
// batched rows are faster (bench/eval at 5 shots: 995 against 865 requests/s).
std::vector<LoglikelihoodResult> run_choices(CausalLM& model, const TextCodec& codec, const Requests& r,
                                             const EvalOptions& options) {
  const size_t n = r.prompts.size();
  PrefixCache prefix;
  size_t context_tokens = 0;
  if (options.reuse_prefix && n > 1) {
    std::vector<std::vector<int64_t>> ctx;
    std::vector<const std::vector<int64_t>*> seqs;
    for (size_t i = 0; i < n; ++i) {
      ctx.push_back(encode_pair(codec, r.prompts[i], "").context);
      context_tokens += ctx.back().size();
    }
    // Contexts longer than the model are cut on the left, each its own way: they share
    // nothing and do not shorten the others' prefix.
    for (const auto& c : ctx) {
      if (int64_t(c.size()) < model.context_length()) seqs.push_back(&c);
    }
    const size_t shared = common_prefix(seqs, 1);
    if (shared > 0) prefix = prefix_cache(model, {seqs[0]->begin(), seqs[0]->begin() + int64_t(shared)});
  }
  const bool rows_win = 2 * prefix.tokens.size() * n >= context_tokens && !prefix.tokens.empty();
  if (!options.share_context || rows_win) {
    return loglikelihood(model, codec, r.loglikelihood, options.batch_size, options.reuse_prefix);
  }
  std::vector<LoglikelihoodResult> res;
  size_t at = 0;
  for (size_t i = 0; i < n; ++i) {
    std::vector<std::string> conts;
    for (size_t c = 0; c < r.choices[i].size(); ++c) conts.push_back(r.loglikelihood[at++].continuation);
    auto one = loglikelihood_shared_context(model, codec, r.prompts[i], conts, prefix);
    res.insert(res.end(), one.begin(), one.end());
  }
  return res;
}

// Each document's scores by "metric,filter", whether its prompt was cut, and with
// --log-samples its records.
struct Scored {
  std::map<std::string, std::vector<double>> scores;
  std::vector<bool> truncated;
  std::vector<bool> continuation_cut;  // loglikelihood and multiple choice
  std::vector<json> samples;
};

// A --log-samples record of document i (TaskResult::samples).
json sample_record(size_t i, const json& doc, const std::string& target, const json& arguments, const json& resps,
                   const json& filtered, const std::string& filter, const json& values) {
  json record = {{"doc_id", i},       {"doc", doc},           {"target", target}, {"arguments", arguments},
                 {"resps", resps},    {"filtered_resps", filtered}, {"filter", filter}};
  record["metrics"] = json::array();
  for (const auto& [metric, value] : values.items()) {
    record["metrics"].push_back(metric);
    record[metric] = value;
  }
  return record;
}

// The harness's (log-likelihood, is-greedy) response, as its samples file writes it.
json ll_response(const LoglikelihoodResult& r) {
  return json::array({fmt::format("{}", r.logprob), r.greedy ? "True" : "False"});
}

json ll_arguments(const std::vector<LoglikelihoodRequest>& rs, size_t from, size_t count) {
  json args = json::object();
  for (size_t k = 0; k < count; ++k) {
    args[fmt::format("gen_args_{}", k)] = {{"arg_0", rs[from + k].context}, {"arg_1", rs[from + k].continuation}};
  }
  return args;
}

Scored process_loglikelihood(const Task& task, const Requests& r, const std::vector<LoglikelihoodResult>& res,
                             bool log_samples) {
  Scored out;
  for (size_t i = 0; i < r.prompts.size(); ++i) {
    out.scores["perplexity,none"].push_back(res[i].logprob);
    out.scores["acc,none"].push_back(res[i].greedy ? 1.0 : 0.0);
    out.truncated.push_back(res[i].truncated);
    out.continuation_cut.push_back(res[i].continuation_cut);
    if (!log_samples) continue;
    out.samples.push_back(sample_record(i, task.eval_docs()[i], r.loglikelihood[i].continuation,
                                        ll_arguments(r.loglikelihood, i, 1),
                                        json::array({json::array({ll_response(res[i])})}),
                                        json::array({ll_response(res[i])}), "none",
                                        {{"perplexity", res[i].logprob}, {"acc", res[i].greedy ? 1.0 : 0.0}}));
  }
  return out;
}

Scored process_multiple_choice(const Task& task, const Requests& r, const std::vector<LoglikelihoodResult>& res,
                               bool log_samples) {
  Scored out;
  const auto& docs = task.eval_docs();
  size_t at = 0;
  for (size_t i = 0; i < r.prompts.size(); ++i) {
    const int64_t gold = r.gold[i];
    const size_t first = at;
    std::vector<double> lls, normed;
    bool truncated = false, continuation_cut = false;
    for (const auto& choice : r.choices[i]) {
      lls.push_back(res[at].logprob);
      // The harness divides by the choice's length in characters (without the delimiter):
      // Python's len(), code points, not UTF-8 bytes.
      normed.push_back(res[at].logprob / double(std::max<size_t>(1, utf8::length(choice))));
      if (res[at].truncated) truncated = true;
      if (res[at].continuation_cut) continuation_cut = true;
      ++at;
    }
    out.truncated.push_back(truncated);
    out.continuation_cut.push_back(continuation_cut);
    const double acc = int64_t(argmax(lls)) == gold ? 1.0 : 0.0;
    const double acc_norm = int64_t(argmax(normed)) == gold ? 1.0 : 0.0;
    out.scores["acc,none"].push_back(acc);
    out.scores["acc_norm,none"].push_back(acc_norm);
    if (!log_samples) continue;
    json resps = json::array(), filtered = json::array();
    for (size_t c = first; c < at; ++c) {
      resps.push_back(json::array({ll_response(res[c])}));
      filtered.push_back(ll_response(res[c]));
    }
    out.samples.push_back(sample_record(i, docs[i], std::to_string(gold),
                                        ll_arguments(r.loglikelihood, first, at - first),
                                        resps, filtered, "none", {{"acc", acc}, {"acc_norm", acc_norm}}));
  }
  return out;
}

// The filter pipelines a generate_until task's responses go through: its own, or the
// harness's default ("none": take the first).
std::vector<FilterPipeline> pipelines(const TaskConfig& cfg) {
  if (!cfg.filters.empty()) return cfg.filters;
  FilterStep first;
  first.function = "take_first";
  return {FilterPipeline{"none", {first}}};
}

Scored process_generations(const Task& task, const Requests& r, const std::vector<GenerationResult>& generated,
                           bool log_samples) {
  const TaskConfig& cfg = task.config();
  Scored out;
  for (size_t i = 0; i < r.prompts.size(); ++i) {
    const auto& gen = generated[i];
    out.truncated.push_back(gen.truncated);
    const std::string& target = r.targets[i];
    for (const auto& p : pipelines(cfg)) {
      const auto filtered = apply_filters(p, {gen.text});
      const std::string response = filtered.empty() ? "" : filtered[0];
      json values = json::object();
      for (const auto& m : cfg.metrics) {
        out.scores[m.metric + "," + p.name].push_back(exact_match(response, target, m));
        values[m.metric] = out.scores[m.metric + "," + p.name].back();
      }
      if (!log_samples) continue;
      out.samples.push_back(sample_record(i, task.eval_docs()[i], target,
                                          {{"gen_args_0",
                                            {{"arg_0", r.prompts[i]}, {"arg_1", cfg.generation.to_json()}}}},
                                          json::array({json::array({gen.text})}), json::array({response}), p.name,
                                          values));
    }
  }
  return out;
}

// Each metric of the task under each filter: the mean and its standard error, or the
// perplexity and its bootstrap standard error.
std::vector<MetricValue> aggregate(const TaskConfig& cfg, std::map<std::string, std::vector<double>>& scores,
                                   const EvalOptions& options) {
  std::vector<std::string> filters = {"none"};
  if (cfg.output_type == OutputType::kGenerateUntil && !cfg.filters.empty()) {
    filters.clear();
    for (const auto& p : cfg.filters) filters.push_back(p.name);
  }
  std::vector<MetricValue> out;
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
      out.push_back(v);
    }
  }
  return out;
}

}  // namespace

TaskResult evaluate_task(const TaskRequests& requests, CausalLM& model, const TextCodec& codec,
                         const EvalOptions& options) {
  const Task& task = *requests.task;
  const TaskConfig& cfg = task.config();
  TaskResult result;
  result.task = cfg.task;
  result.version = cfg.version;
  result.num_fewshot = requests.num_fewshot;
  result.n_original = int64_t(task.eval_docs().size());
  const size_t n = requests.prompts.size();
  result.n_effective = int64_t(n);
  TaskConfig resolved = cfg;
  resolved.num_fewshot = result.num_fewshot;
  result.config = resolved.to_json();

  Scored scored;
  switch (cfg.output_type) {
    case OutputType::kLoglikelihood:
      scored = process_loglikelihood(
          task, requests,
          loglikelihood(model, codec, requests.loglikelihood, options.batch_size, options.reuse_prefix),
          options.log_samples);
      break;
    case OutputType::kMultipleChoice:
      scored = process_multiple_choice(task, requests, run_choices(model, codec, requests, options),
                                       options.log_samples);
      break;
    case OutputType::kGenerateUntil: {
      std::vector<uint64_t> seeds;
      for (size_t i = 0; i < n; ++i) seeds.push_back(options.seed + i);
      scored = process_generations(task, requests,
                                   generate_until(model, codec, requests.prompts, cfg.generation, seeds,
                                                  options.batch_size, options.reuse_prefix),
                                   options.log_samples);
      break;
    }
  }
  result.truncated = std::count(scored.truncated.begin(), scored.truncated.end(), true);
  result.continuation_cut = std::count(scored.continuation_cut.begin(), scored.continuation_cut.end(), true);
  result.samples = std::move(scored.samples);
  result.metrics = aggregate(cfg, scored.scores, options);
  return result;
}

TaskResult evaluate_task(const Task& task, CausalLM& model, const TextCodec& codec,
                         const EvalOptions& options) {
  return evaluate_task(build_requests(task, options), model, codec, options);
}

}  // namespace strata::tasks
