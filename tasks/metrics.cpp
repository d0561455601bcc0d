#include "tasks/metrics.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <random>
#include <regex>

namespace strata::tasks {

double mean(const std::vector<double>& xs) {
  if (xs.empty()) return std::numeric_limits<double>::quiet_NaN();
  double s = 0;
  for (double x : xs) s += x;
  return s / double(xs.size());
}

double sample_stddev(const std::vector<double>& xs) {
  if (xs.size() < 2) return 0.0;
  double mu = mean(xs), s = 0;
  for (double x : xs) s += (x - mu) * (x - mu);
  return std::sqrt(s / double(xs.size() - 1));
}

double mean_stderr(const std::vector<double>& xs) {
  if (xs.size() < 2) return std::numeric_limits<double>::quiet_NaN();
  return sample_stddev(xs) / std::sqrt(double(xs.size()));
}

double perplexity(const std::vector<double>& loglikelihoods) {
  return std::exp(-mean(loglikelihoods));
}

double bootstrap_stderr(double (*f)(const std::vector<double>&), const std::vector<double>& xs,
                        int64_t iters, uint64_t seed) {
  if (xs.size() < 2) return std::numeric_limits<double>::quiet_NaN();
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, xs.size() - 1);
  std::vector<double> sample(xs.size()), stats;
  stats.reserve(size_t(iters));
  for (int64_t i = 0; i < iters; ++i) {
    for (auto& x : sample) x = xs[pick(rng)];
    stats.push_back(f(sample));
  }
  return sample_stddev(stats);
}

double exact_match(std::string prediction, std::string reference, const MetricSpec& spec) {
  for (const auto& pattern : spec.regexes_to_ignore) {
    std::regex re(pattern);
    prediction = std::regex_replace(prediction, re, "");
    reference = std::regex_replace(reference, re, "");
  }
  auto lower = [](std::string& s) {
    for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  };
  if (spec.ignore_case) lower(prediction), lower(reference);
  auto drop_punct = [](std::string& s) {  // Python's string.punctuation
    s.erase(std::remove_if(s.begin(), s.end(),
                           [](char c) { return std::ispunct(static_cast<unsigned char>(c)) != 0; }),
            s.end());
  };
  if (spec.ignore_punctuation) drop_punct(prediction), drop_punct(reference);
  return prediction == reference ? 1.0 : 0.0;
}

std::vector<std::string> apply_filters(const FilterPipeline& pipeline,
                                       std::vector<std::string> responses) {
  for (const auto& step : pipeline.steps) {
    if (step.function == "take_first") {
      if (responses.size() > 1) responses.resize(1);
    } else if (step.function == "remove_whitespace") {
      for (auto& r : responses) {  // Python's lstrip()
        size_t keep = r.find_first_not_of(" \t\n\r\f\v");
        r.erase(0, keep == std::string::npos ? r.size() : keep);
      }
    } else if (step.function == "regex") {
      std::regex re(step.regex_pattern);
      for (auto& r : responses) {
        std::vector<std::smatch> matches;
        for (auto it = std::sregex_iterator(r.begin(), r.end(), re); it != std::sregex_iterator(); ++it) {
          matches.push_back(*it);
        }
        int64_t n = int64_t(matches.size());
        int64_t g = step.group_select < 0 ? n + step.group_select : step.group_select;
        if (n == 0 || g < 0 || g >= n) {
          r = step.fallback;
          continue;
        }
        const std::smatch& m = matches[size_t(g)];
        // Python's findall gives the groups of a match; with several groups the harness
        // takes the first non-empty one.
        std::string picked = m.str(0);
        if (m.size() > 1) {
          picked.clear();
          for (size_t k = 1; k < m.size(); ++k) {
            if (m[k].matched && m[k].length() > 0) {
              picked = m.str(k);
              break;
            }
          }
        }
        size_t b = picked.find_first_not_of(" \t\n\r\f\v");  // the harness strips it
        size_t e = picked.find_last_not_of(" \t\n\r\f\v");
        r = b == std::string::npos ? std::string() : picked.substr(b, e - b + 1);
      }
    }
  }
  return responses;
}

}  // namespace strata::tasks
