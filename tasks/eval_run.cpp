#include "tasks/eval_run.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "core/paths.h"
#include "core/checkpoint.h"
#include "core/clock.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/run.h"
#include "models/load.h"

namespace strata::tasks {

namespace fs = std::filesystem;
using json = nlohmann::json;

void read_options(config::Reader& r, EvalRunOptions& o) {
  auto rel = [&](std::string& path) {
    if (!path.empty() && !fs::path(path).is_absolute()) {
      path = (fs::path(r.source_file()).parent_path() / path).lexically_normal().string();
    }
  };
  r.read("model", o.model);
  rel(o.model);
  r.read_one_or_list("tasks", o.tasks);
  for (auto& t : o.tasks) {  // a path is relative to the file; a name stays a name
    if (is_yaml_path(t)) rel(t);
  }
  r.read("num_fewshot", o.num_fewshot, config::Range::at_least(-1));
  r.read("limit", o.limit, config::Range::non_negative());
  r.read("batch_size", o.batch_size, config::Range::at_least(1));
  int64_t seed = int64_t(o.seed);
  r.read("seed", seed, config::Range::non_negative());
  o.seed = uint64_t(seed);
  r.read("out", o.out);
  rel(o.out);
  r.read("threads", o.threads, config::Range::non_negative());
  r.read("task_dir", o.task_dir);
  r.read("reuse_prefix", o.reuse_prefix);
  r.read("share_context", o.share_context);
  r.read("log_samples", o.log_samples);
  r.finish();
}

json results_json(const std::vector<TaskResult>& results, const RunInfo& info) {
  json j;
  j["results"] = json::object();
  for (const auto& r : results) {
    json row = {{"alias", r.task}, {"sample_len", r.n_effective}};
    for (const auto& m : r.metrics) {
      row[m.metric + "," + m.filter] = m.value;
      if (std::isnan(m.stderr_value)) row[m.metric + "_stderr," + m.filter] = "N/A";
      else row[m.metric + "_stderr," + m.filter] = m.stderr_value;
    }
    j["results"][r.task] = row;
    j["group_subtasks"][r.task] = json::array();
    j["configs"][r.task] = r.config;
    j["versions"][r.task] = r.version;
    j["n-shot"][r.task] = r.num_fewshot;
    json hib = json::object();
    for (const auto& m : r.metrics) hib[m.metric] = m.higher_is_better;
    j["higher_is_better"][r.task] = hib;
    j["n-samples"][r.task] = {{"original", r.n_original}, {"effective", r.n_effective}};
    j["left_truncated"][r.task] = r.truncated;
    j["continuation_truncated"][r.task] = r.continuation_cut;
  }
  j["config"] = {{"model", info.model},
                 {"model_num_parameters", info.model_num_parameters},
                 {"seed", info.seed},
                 {"fewshot_seed", info.seed},
                 {"batch_size", info.batch_size},
                 {"limit", info.limit > 0 ? json(info.limit) : json()}};
  j["git_hash"] = info.git_hash;
  j["date"] = info.date;
  j["total_evaluation_time_seconds"] = fmt::format("{:.3f}", info.evaluation_seconds);
  return j;
}

// A tokenizer that turns "\n" into a space (one trained before keep_newlines, core/tokenizer.h)
// changes prompts that hold line breaks: named, with the tasks it changes.
void warn_about_line_breaks(const TextCodec& codec, const std::string& tokenizer,
                            const std::vector<TaskRequests>& requests) {
  if (codec.decode(codec.encode("a\nb")).find('\n') != std::string::npos) return;
  std::vector<std::string> affected;
  for (const auto& r : requests) {
    bool breaks = false;
    for (const auto& p : r.prompts) breaks = breaks || p.find('\n') != std::string::npos;
    for (const auto& u : r.task->config().generation.until) breaks = breaks || u.find('\n') != std::string::npos;
    if (breaks) affected.push_back(r.task->name());
  }
  if (affected.empty()) return;
  log::warn("tokenizer {} makes every line break a space (it was trained without keep_newlines): "
            "the prompts of {} lose their \"\\n\", and an `until` stop string holding \"\\n\" "
            "never fires; retrain the model's tokenizer to compare with tools that keep them",
            tokenizer, fmt::join(affected, ", "));
}

std::string results_table(const std::vector<TaskResult>& results) {
  std::vector<std::vector<std::string>> rows = {
      {"Tasks", "Version", "Filter", "n-shot", "Metric", "", "Value", "", "Stderr"}};
  for (const auto& r : results) {
    bool first = true;
    for (const auto& m : r.metrics) {
      rows.push_back({first ? r.task : "", first ? fmt::format("{:g}", r.version) : "", m.filter,
                      first ? std::to_string(r.num_fewshot) : "", m.metric,
                      m.higher_is_better ? "↑" : "↓", fmt::format("{:.4f}", m.value), "±",
                      std::isnan(m.stderr_value) ? "N/A" : fmt::format("{:.4f}", m.stderr_value)});
      first = false;
    }
  }
  auto width = [](const std::string& s) {  // display columns: UTF-8 continuation bytes don't count
    size_t w = 0;
    for (unsigned char c : s) w += (c & 0xC0) != 0x80;
    return w;
  };
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], width(row[c]));
  std::string out;
  auto line = [&](const std::vector<std::string>& row) {
    out += "|";
    for (size_t c = 0; c < row.size(); ++c) {
      bool right = c == 6 || c == 8 || c == 3;
      std::string pad(widths[c] - width(row[c]), ' ');
      out += right ? pad + row[c] : row[c] + pad;
      out += "|";
    }
    out += "\n";
  };
  line(rows[0]);
  out += "|";
  for (size_t c = 0; c < widths.size(); ++c) {
    bool right = c == 6 || c == 8 || c == 3;
    out += std::string(std::max<size_t>(1, widths[c]) - (right ? 1 : 0), '-') + (right ? ":" : "") + "|";
  }
  out += "\n";
  for (size_t i = 1; i < rows.size(); ++i) line(rows[i]);
  return out;
}

namespace {

std::string git_hash() {
  FILE* p = popen("git rev-parse --short HEAD 2>/dev/null", "r");
  if (p == nullptr) return "";
  char buf[64] = {0};
  std::string out;
  if (fgets(buf, sizeof(buf), p) != nullptr) out = buf;
  pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string timestamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d-%H%M%S", &tm);
  return buf;
}

// The harness's file date: 2026-12-07T18-58-25.094003 (UTC).
std::string harness_date() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H-%M-%S", &tm);
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() % 1000000;
  return fmt::format("{}.{:06d}", buf, micros);
}

}  // namespace

std::vector<ResultRow> read_results(const json& results, const std::string& path) {
  if (!results.is_object() || !results.contains("results") || !results["results"].is_object()) {
    throw InputError(fmt::format("{}: not an eval results file (no \"results\" object)", path));
  }
  std::vector<ResultRow> rows;
  for (const auto& [task, metrics] : results["results"].items()) {
    if (!metrics.is_object()) continue;
    for (const auto& [key, value] : metrics.items()) {
      const auto comma = key.find(',');
      if (comma == std::string::npos || !value.is_number()) continue;
      ResultRow r{task, key.substr(0, comma), key.substr(comma + 1), value.get<double>()};
      if (r.metric.ends_with("_stderr")) continue;
      const std::string se = r.metric + "_stderr," + r.filter;
      if (metrics.contains(se) && metrics[se].is_number()) r.stderr_value = metrics[se].get<double>();
      rows.push_back(r);
    }
  }
  return rows;
}

std::string run_eval(const EvalRunOptions& o) {
  if (o.model.empty()) throw InputError("--model: a checkpoint or run directory is needed");
  if (o.tasks.empty()) throw InputError("--task: name at least one task (a name or a .yaml path)");
  if (o.batch_size < 1) throw InputError("--batch-size: must be at least 1");
  at::set_num_threads(int(o.threads > 0 ? o.threads : usable_cores()));
  // Tasks first: a typo in a task file should not wait for a checkpoint to load.
  std::vector<Task> tasks;
  for (const auto& t : o.tasks) tasks.push_back(Task::load(find_task_file(t, o.task_dir)));
  EvalOptions eo;
  eo.num_fewshot = o.num_fewshot;
  eo.limit = o.limit;
  eo.batch_size = o.batch_size;
  eo.seed = o.seed;
  eo.reuse_prefix = o.reuse_prefix;
  eo.share_context = o.share_context;
  eo.log_samples = o.log_samples;
  // Every task's requests are built, and so checked (shot counts, splits, template keys,
  // targets), before the model loads and any task is scored: a bad task refuses the whole
  // run, and no task is scored without a results file.
  std::vector<TaskRequests> requests;
  for (const auto& t : tasks) requests.push_back(build_requests(t, eo));

  auto loaded = models::load_network(o.model, torch::kCPU);
  CausalLM* lm = loaded.network->causal_lm();
  if (lm == nullptr) {
    throw InputError(fmt::format("{}: eval needs a causal LM checkpoint, this one is '{}'",
                                 loaded.checkpoint_dir, loaded.type));
  }
  if (loaded.tokenizer_path.empty()) {
    throw InputError(fmt::format("{}: no tokenizer (tokenizer.model or vocab.txt) in the checkpoint", loaded.checkpoint_dir));
  }
  loaded.network->eval();
  auto codec = tokenizer_codec(Tokenizer::load(loaded.tokenizer_path));
  warn_about_line_breaks(*codec, loaded.tokenizer_path, requests);

  const auto started = std::chrono::steady_clock::now();
  std::vector<TaskResult> results;
  for (const auto& r : requests) {
    std::fprintf(stderr, "eval: %s (%zu documents)\n", r.task->name().c_str(), r.task->eval_docs().size());
    results.push_back(evaluate_task(r, *lm, *codec, eo));
  }

  RunInfo info;
  info.evaluation_seconds = seconds_since(started);
  info.model = loaded.checkpoint_dir;
  for (const auto& p : loaded.network->parameters()) info.model_num_parameters += p.numel();
  info.seed = o.seed;
  info.batch_size = o.batch_size;
  info.limit = o.limit;
  info.git_hash = git_hash();
  info.date = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();

  std::string out = o.out;
  if (out.empty()) {
    // Beside the checkpoint: in the run directory when given one, so pruning old
    // checkpoints never removes the results.
    fs::path base = fs::is_directory(fs::path(o.model) / "checkpoints") ? fs::path(o.model)
                                                                         : fs::path(loaded.checkpoint_dir);
    out = (base / "eval" / (timestamp() + ".json")).string();
  }
  if (fs::path(out).has_parent_path()) fs::create_directories(fs::path(out).parent_path());
  {
    std::ofstream f(out + ".tmp");
    if (!f) throw InputError(fmt::format("--out {}: cannot write", out));
    f << results_json(results, info).dump(2) << "\n";
  }
  fs::rename(out + ".tmp", out);
  if (o.log_samples) {
    // The harness's names: samples_<task>_<date>.jsonl, the date as its results file has it.
    const fs::path dir = fs::path(out).has_parent_path() ? fs::path(out).parent_path() : fs::path(".");
    const std::string date = harness_date();
    for (const auto& r : results) {
      const fs::path path = dir / fmt::format("samples_{}_{}.jsonl", r.task, date);
      std::string text;
      for (const auto& s : r.samples) text += s.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
      write_file_atomic(path.string(), text);
      std::printf("wrote %s\n", path.string().c_str());
    }
  }

  std::printf("%s", results_table(results).c_str());
  for (const auto& r : results) {
    if (r.truncated > 0) {
      std::printf("%s: %lld of %lld prompts were cut on the left to fit the model's context\n",
                  r.task.c_str(), static_cast<long long>(r.truncated),
                  static_cast<long long>(r.n_effective));
    }
    if (r.continuation_cut > 0) {
      std::printf("%s: in %lld of %lld documents the continuation itself is longer than the "
                  "model's context window: its first tokens were cut and only its last ones "
                  "scored (continuation_truncated in the results file)\n",
                  r.task.c_str(), static_cast<long long>(r.continuation_cut),
                  static_cast<long long>(r.n_effective));
    }
  }
  std::printf("wrote %s\n", out.c_str());
  return out;
}

}  // namespace strata::tasks
