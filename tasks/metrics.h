#pragma once
// Per-document scores, their aggregation and standard errors, and the answer filters, as
// lm-evaluation-harness defines them (lm_eval/api/metrics.py, lm_eval/filters/).

#include <cstdint>
#include <string>
#include <vector>

#include "tasks/task.h"

namespace strata::tasks {

double mean(const std::vector<double>& xs);
// sqrt(sum((x - mean)^2) / (n - 1)); 0 for fewer than two values.
double sample_stddev(const std::vector<double>& xs);
// The harness's mean_stderr: sample_stddev / sqrt(n). NaN below two values, where the
// harness writes "N/A".
double mean_stderr(const std::vector<double>& xs);
// exp(-mean(log-likelihoods)) of per-document log-likelihoods (nats).
double perplexity(const std::vector<double>& loglikelihoods);
// The harness's bootstrap_stderr for aggregations without a closed form (perplexity):
// the sample stddev of `f` over `iters` resamples with replacement. The harness draws from
// Python's random seeded per chunk of 1000; this draws from std::mt19937_64 seeded with
// `seed`, so the figure agrees in distribution, not digit for digit.
double bootstrap_stderr(double (*f)(const std::vector<double>&), const std::vector<double>& xs,
                        int64_t iters = 100000, uint64_t seed = 0);

// Hugging Face evaluate's exact_match for one pair: 1 when equal after removing
// `regexes_to_ignore` matches, lower-casing (ignore_case) and dropping ASCII punctuation
// (ignore_punctuation), else 0.
double exact_match(std::string prediction, std::string reference, const MetricSpec& spec);

// Applies a filter pipeline to the responses of one document (the harness keeps a list
// per document; take_first reduces it to one). remove_whitespace drops leading whitespace;
// regex keeps the group_select-th match's first non-empty group (or the match when the
// pattern has no group), stripped, else the fallback.
std::vector<std::string> apply_filters(const FilterPipeline& pipeline,
                                       std::vector<std::string> responses);

}  // namespace strata::tasks
