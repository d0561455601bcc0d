#pragma once
// In-context evaluation of a causal LM on a task: requests, scoring and metrics as
// lm-evaluation-harness computes them (lm_eval/models/huggingface.py,
// HFLM._loglikelihood_tokens and generate_until; lm_eval/api/task.py,
// ConfigurableTask.process_results; lm_eval/api/metrics.py). Only core's CausalLM is used:
// no model family is named here.
//
// Token counts are in the model's tokens; lengths of choices (acc_norm) in characters
// (bytes of UTF-8), as the harness's len(str) on ASCII text.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/causal_lm.h"
#include "core/tokenizer.h"
#include "tasks/task.h"

namespace strata::tasks {

// Text to token ids and back, as the model was trained to read them.
class TextCodec {
 public:
  virtual ~TextCodec() = default;
  virtual std::vector<int64_t> encode(const std::string& text) const = 0;
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
  // What an empty context starts with (the harness's prefix_token_id, the EOT token).
  virtual int64_t prefix_token() const = 0;
  // Ends generation when produced; -1: none.
  virtual int64_t eos_token() const { return -1; }
};

// A checkpoint's SentencePiece tokenizer; the prefix is its BOS (or EOS, or 0).
std::unique_ptr<TextCodec> tokenizer_codec(const Tokenizer& tokenizer);
// UTF-8 bytes as ids 0..255, the prefix 0 and no EOS: for tests on a `debug` GPT (V = 256).
std::unique_ptr<TextCodec> byte_codec();

// The text of `continuation` as it reads after `prompt`. A SentencePiece continuation
// decoded alone loses its leading space ("▁the" at the start decodes to "the"), so this
// decodes prompt + continuation and takes what follows the decoded prompt. Kept in one
// place so Tokenizer::decode_continuation can replace it.
std::string decode_continuation(const TextCodec& codec, const std::vector<int64_t>& prompt,
                                const std::vector<int64_t>& continuation);

// The harness's _encode_pair: trailing spaces of the context move to the continuation,
// the context is encoded alone and the continuation is what encoding both adds. An empty
// context is the prefix token. When encoding both adds nothing (the continuation merged
// into the context's last token, "The quiet riv" + "er"), the continuation is encoded alone,
// as the harness's PR #4055 proposes; the released harness stops on such a pair.
struct EncodedPair {
  std::vector<int64_t> context, continuation;
};
EncodedPair encode_pair(const TextCodec& codec, std::string context, std::string continuation);

// Tokens every request of a batch starts with (a first_n few-shot prefix), run through the
// model once into a one-row cache that each batch continues from.
struct PrefixCache {
  std::vector<int64_t> tokens;
  KVCache cache;  // empty when tokens is
};
PrefixCache prefix_cache(CausalLM& model, std::vector<int64_t> tokens);

struct LoglikelihoodRequest {
  std::string context, continuation;
};

struct LoglikelihoodResult {
  double logprob = 0;     // sum of log p(continuation tokens | before), nats
  bool greedy = false;    // every continuation token was the most likely one
  bool truncated = false; // context + continuation were longer than the model takes
  // The continuation alone was longer than the window (context length + 1): its first
  // tokens were cut too, and only its last ones scored.
  bool continuation_cut = false;
};

// Scores requests in batches of `batch_size`, longest first (as the harness sorts them).
// Context + continuation longer than context_length() + 1 tokens keep their last
// context_length() + 1 tokens, as the harness cuts them on the left. With `reuse_prefix`,
// the tokens that every uncut request starts with run once and each batch continues from
// their cache; the scores are those of the full requests (to float rounding).
std::vector<LoglikelihoodResult> loglikelihood(CausalLM& model, const TextCodec& codec,
                                               const std::vector<LoglikelihoodRequest>& requests,
                                               int64_t batch_size, bool reuse_prefix = true);

// One context and several continuations (a multiple-choice document). The context runs
// through the model once; KVCache::repeat gives each continuation its own copy, and the
// continuations are scored in one batch. When any request would be cut on the left, falls
// back to loglikelihood() (each cut on its own). Same results as loglikelihood().
// `prefix`, when its tokens begin the context's, is the cache the context continues from.
std::vector<LoglikelihoodResult> loglikelihood_shared_context(
    CausalLM& model, const TextCodec& codec, const std::string& context,
    const std::vector<std::string>& continuations, const PrefixCache& prefix = {});

struct GenerationResult {
  std::string text;       // cut before the first stop string
  bool truncated = false; // the context was cut on the left
};

// Greedy decoding (or sampling when do_sample and temperature > 0, from a generator seeded
// by `seed`) through the KV cache, until a stop string, EOS or max_gen_toks. The context
// keeps its last context_length() - max_gen_toks tokens, as the harness.
GenerationResult generate_until(CausalLM& model, const TextCodec& codec, const std::string& context,
                                const GenerationOptions& options, uint64_t seed = 0);

// Several contexts: rows of one forward are contexts of one token length (the model takes
// no padding mask), up to `batch_size` of them, decoded together through one cache until
// every row has stopped. `seeds[i]` seeds context i's sampling. With `reuse_prefix`, the
// tokens every context starts with run once. Same texts as one context at a time (to float
// rounding of near-ties).
std::vector<GenerationResult> generate_until(CausalLM& model, const TextCodec& codec,
                                             const std::vector<std::string>& contexts,
                                             const GenerationOptions& options,
                                             const std::vector<uint64_t>& seeds,
                                             int64_t batch_size, bool reuse_prefix = true);

struct EvalOptions {
  int64_t num_fewshot = -1;  // -1: the task's num_fewshot
  int64_t limit = 0;         // score the first `limit` documents; 0: all
  int64_t batch_size = 8;    // requests (or generated sequences) per forward
  // Speed switches, each measured by bench/eval; the scores do not depend on them.
  bool reuse_prefix = true;   // tokens every prompt starts with (first_n shots) run once
  bool share_context = true;  // a multiple-choice document's context runs once for all choices
  uint64_t seed = 1234;      // few-shot sampling (the harness's fewshot_random_seed)
  int64_t bootstrap_iters = 100000;  // perplexity's stderr (the harness's default)
  bool log_samples = false;  // fill TaskResult::samples
};

struct MetricValue {
  std::string metric;          // acc, acc_norm, perplexity, exact_match
  std::string filter = "none";
  double value = 0;
  double stderr_value = 0;     // NaN when undefined (fewer than two documents)
  bool higher_is_better = true;
};

struct TaskResult {
  std::string task;
  double version = 0;
  int64_t num_fewshot = 0;
  int64_t n_original = 0;   // documents in the split
  int64_t n_effective = 0;  // documents scored (after --limit)
  int64_t truncated = 0;    // documents whose prompt was cut on the left
  // Of those, documents whose continuation (or a choice) was itself cut: longer than the
  // context window, so not all of it was scored. Named by eval, never counted as scored.
  int64_t continuation_cut = 0;
  std::vector<MetricValue> metrics;
  nlohmann::json config;    // the resolved task
  // With EvalOptions::log_samples: one record per document (and filter), as the harness's
  // --log_samples writes them to samples_<task>_<date>.jsonl: doc_id, doc, target,
  // arguments {gen_args_K: {arg_0: context, arg_1: continuation or generation kwargs}},
  // resps and filtered_resps (log-likelihood and is-greedy as strings, or the generated
  // text), filter, metrics (names) and each metric's value for the document.
  std::vector<nlohmann::json> samples;
};

// Every request of the documents a task scores, built as data before any model runs (the
// harness's construct_requests): each prompt rendered with its shots, each target, choice
// and gold index. Building them checks the task against these options (shot counts, splits,
// template keys, targets), so a run with several tasks refuses a bad one before scoring any.
struct TaskRequests {
  const Task* task = nullptr;
  int64_t num_fewshot = 0;                        // the options' or the task's
  std::vector<std::string> prompts;               // the few-shot context per document
  std::vector<std::vector<std::string>> choices;  // multiple_choice: per document
  std::vector<int64_t> gold;                      // multiple_choice: the target's index
  std::vector<std::string> targets;               // loglikelihood, generate_until: the target text
  // loglikelihood: one per document; multiple_choice: one per choice, in order.
  std::vector<LoglikelihoodRequest> loglikelihood;
};

// The first options.limit documents' requests (all with limit 0). Bad templates or data are
// InputErrors naming the document.
TaskRequests build_requests(const Task& task, const EvalOptions& options);

// Scores requests built by build_requests (with the same options).
TaskResult evaluate_task(const TaskRequests& requests, CausalLM& model, const TextCodec& codec,
                         const EvalOptions& options);
// build_requests, then the above.
TaskResult evaluate_task(const Task& task, CausalLM& model, const TextCodec& codec,
                         const EvalOptions& options);

}  // namespace strata::tasks
