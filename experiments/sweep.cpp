#include "experiments/sweep.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <tuple>
#include <optional>
#include <set>

#include "core/checkpoint.h"
#include "core/errors.h"
#include "core/log.h"
#include "core/paths.h"
#include "core/run.h"
#include "experiments/curve_util.h"
#include "experiments/grid.h"
#include "experiments/recipe.h"
#include "experiments/train.h"
#include "models/registry.h"
#include "tasks/eval_run.h"
#include "tasks/task.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace strata::experiments {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const char* const kDefaultCorpus = "[sotu, brown, moby_dick]";
const char* const kIclScore = "eval/validation/icl_score";

// ---- the config layer -------------------------------------------------------------------

struct SizeSpec {
  std::string name;                          // its directory and its name in sweep.csv
  std::vector<std::string> model_overrides;  // model.size=..., model.n_layer=...
  std::string where;                         // "sweep.yaml:7", for messages
};

struct SweepOptions {
  std::vector<SizeSpec> sizes;
  double tokens_per_parameter = 20;  // Chinchilla's ratio (see sweep.h for what is counted)
  double token_budget = 0;           // tokens for every size; 0: tokens_per_parameter x params
  std::vector<std::string> tasks;
  std::vector<int64_t> num_fewshot = {0, 1, 8};
  int64_t limit = 0;
  int64_t eval_batch_size = 8;
  std::string task_dir;  // "": configs/tasks above the config file or the working directory
  bool plot = true;
};

bool safe_name(const std::string& s) {
  if (s.empty() || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

// `sizes:` is a list of named sizes, or a list of mappings: `name`, `size` (a named size
// to start from; default the family's default) and the model's n_layer, n_head, n_embd.
void read_sizes(config::Reader& root, SweepOptions& o) {
  root.require("sizes");
  std::vector<std::string> names;
  bool all_names = true;
  try {
    root.read("sizes", names);
  } catch (const InputError&) {  // not all scalars: mappings, read below
    all_names = false;
  }
  if (all_names) {
    for (const auto& n : names) o.sizes.push_back({n, {"model.size=" + n}, root.where("sizes")});
  } else {
    for (auto& r : root.children("sizes")) {
      SizeSpec s;
      s.where = r.where();
      std::string base;
      r.read("size", base);
      r.read("name", s.name);
      if (s.name.empty()) s.name = base;
      if (s.name.empty()) r.fail("name", "is required when no `size` names the size");
      if (!base.empty()) s.model_overrides.push_back("model.size=" + base);
      for (const char* key : {"n_layer", "n_head", "n_embd"}) {
        if (!r.has(key)) {
          r.skip(key);
          continue;
        }
        int64_t v = 0;
        r.read(key, v, config::Range::at_least(1));
        s.model_overrides.push_back(fmt::format("model.{}={}", key, v));
      }
      r.finish();
      o.sizes.push_back(s);
    }
  }
  if (o.sizes.empty()) root.fail("sizes", "must list at least one model size");
  std::set<std::string> seen;
  for (const auto& s : o.sizes) {
    if (!safe_name(s.name)) {
      throw InputError(
          fmt::format("{}: size name '{}' must be letters, digits, '-', '_' or '.' "
                      "(it names a directory)",
                      s.where, s.name));
    }
    if (!seen.insert(s.name).second) {
      throw InputError(fmt::format("{}: size name '{}' appears twice", s.where, s.name));
    }
  }
}

void read_options(config::Reader& root, SweepOptions& o) {
  read_sizes(root, o);
  const bool per_parameter = root.has("tokens_per_parameter");
  root.read("tokens_per_parameter", o.tokens_per_parameter, config::Range::positive());
  root.read("token_budget", o.token_budget, config::Range::non_negative());
  if (per_parameter && o.token_budget > 0) {
    root.fail("token_budget", "and 'tokens_per_parameter' are two budgets; give one");
  }
  root.require("tasks");
  root.read("tasks", o.tasks);
  if (o.tasks.empty()) root.fail("tasks", "must list at least one task");
  read_shot_counts(root, "num_fewshot", o.num_fewshot);
  root.read("limit", o.limit, config::Range::non_negative());
  root.read("eval_batch_size", o.eval_batch_size, config::Range::at_least(1));
  root.read("task_dir", o.task_dir);
  root.read("plot", o.plot);
}

// The recipe may not set what the sweep sets for it: the shared keys, the model's size and
// the step budget. Every other key is checked by the recipe's own readers (plan_run).
void check_pretrain(config::Reader& root) {
  root.require("pretrain");
  config::Reader p = root.child("pretrain");
  for (const char* key : {"out_dir", "seed", "threads", "device", "resume", "overwrite"}) {
    if (p.has(key)) p.fail(key, "is set once for the whole sweep, at the top of its config");
  }
  config::Reader m = p.child("model");
  for (const char* key : {"size", "n_layer", "n_head", "n_embd"}) {
    if (m.has(key)) m.fail(key, "is set per size, under 'sizes'");
  }
  config::Reader t = p.child("trainer");
  for (const char* key : {"max_steps", "epochs"}) {
    if (t.has(key)) {
      t.fail(key, "comes from the sweep's budget ('tokens_per_parameter' or 'token_budget')");
    }
  }
}

// ---- one size ---------------------------------------------------------------------------

struct SizePlan {
  SizeSpec spec;
  std::string dir;                     // out_dir/sizes/<name>, a `strata train` run directory
  std::vector<std::string> overrides;  // of the pretrain section, max_steps included
  int64_t block_size = 0;              // data.block_size, the model's default context
  int64_t params = 0;                  // without embeddings
  int64_t tokens_per_step = 0, max_steps = 0;
  double flops_per_token = 0;  // training; for the ETA
};

std::string yaml_string(const std::string& s) { return json(s).dump(); }  // JSON is YAML

// The pre-training config of one size, with the defaults a sweep gives every size.
config::Document size_document(const config::Document& doc,
                               const std::vector<std::string>& overrides,
                               const std::string& data_dir, int64_t block_size) {
  config::Document d = doc.section("pretrain", overrides);
  d.set_default("model.type", "gpt");
  d.set_default("data.corpus", kDefaultCorpus);
  d.set_default("data.data_dir", yaml_string(data_dir));  // one tokenizer for every size
  if (block_size > 0) d.set_default("model.block_size", std::to_string(block_size));
  return d;
}

// Parameters outside embedding tables (token and position embeddings), each counted once.
int64_t non_embedding_parameters(torch::nn::Module& model) {
  std::set<const void*> embedding;
  for (const auto& m : model.modules(/*include_self=*/false)) {
    if (auto* e = m->as<torch::nn::Embedding>()) {
      for (const auto& p : e->parameters()) embedding.insert(p.unsafeGetTensorImpl());
    }
  }
  std::set<const void*> seen;
  int64_t n = 0;
  for (const auto& p : model.parameters()) {
    const void* key = p.unsafeGetTensorImpl();
    if (embedding.count(key) == 0 && seen.insert(key).second) n += p.numel();
  }
  return n;
}

// Reads and checks one size's whole pre-training config (file:line in every message),
// builds its model once to count it, and sets its step budget.
SizePlan plan_size(const config::Document& doc, const RunOptions& run, const SweepOptions& o,
                   const SizeSpec& spec) {
  SizePlan s;
  s.spec = spec;
  s.dir = (fs::path(run.out_dir) / "sizes" / spec.name).string();
  const std::string data_dir = (fs::path(run.out_dir) / "data").string();
  // What decides its result; the grid adds out_dir, threads and resume/overwrite.
  s.overrides = {override_arg("seed", run.seed),
                 override_arg("device", config::enum_name(run.device, device_choice_names()))};
  s.overrides.insert(s.overrides.end(), spec.model_overrides.begin(), spec.model_overrides.end());

  config::Document probe = size_document(doc, s.overrides, data_dir, 0);
  const RunPlan plan = plan_run(probe);
  if (plan.objective.type != ObjectiveType::kCausalLM) {
    probe.root()
        .child("objective")
        .fail("type",
              "must be causal_lm: a sweep evaluates causal "
              "language models in context");
  }
  s.block_size = plan.corpus.block_size;
  probe.set_default("model.block_size", std::to_string(s.block_size));
  // The tokenizer's size is known once the corpus is prepared; what it is asked for stands
  // in (it only changes the embedding, which is not counted, and the ETA).
  probe.set_default("model.vocab_size", std::to_string(plan.corpus.tokenizer.vocab_size));

  torch::NoGradGuard no_grad;
  config::Reader section = probe.root().child("model");
  std::shared_ptr<Network> model;
  try {
    model = models::networks().make(plan.model_type, section.where("type"), section);
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: size '{}': {}", spec.where, spec.name, e.what()));
  }
  if (model->causal_lm() == nullptr) {
    section.fail("type", fmt::format("'{}' is not a causal language model; a sweep evaluates "
                                     "in context",
                                     plan.model_type));
  }
  s.params = non_embedding_parameters(*model);
  s.flops_per_token = model->train_flops_per_unit();
  if (s.flops_per_token <= 0) s.flops_per_token = 6.0 * double(s.params);

  // Tokens per optimizer step as run_training counts them: batch_size windows of
  // block_size tokens, grad_accum micro-batches (from tokens_per_step when given).
  const int64_t window_tokens = plan.batch.batch_size * plan.corpus.block_size;
  const int64_t grad_accum = plan.batch.tokens_per_step > 0
                                 ? std::max<int64_t>(1, plan.batch.tokens_per_step / window_tokens)
                                 : plan.trainer.grad_accum;
  s.tokens_per_step = window_tokens * grad_accum;
  const double budget =
      o.token_budget > 0 ? o.token_budget : o.tokens_per_parameter * double(s.params);
  s.max_steps = std::max<int64_t>(1, int64_t(std::ceil(budget / double(s.tokens_per_step))));
  s.overrides.push_back(override_arg("trainer.max_steps", s.max_steps));
  return s;
}

int64_t latest_step(const std::string& run_dir) {
  const std::string latest = latest_checkpoint(run_dir);
  if (latest.empty()) return -1;
  const std::string name = fs::path(latest).lexically_normal().filename().string();
  try {
    return name.rfind("step-", 0) == 0 ? std::stoll(name.substr(5)) : -1;
  } catch (const std::exception&) {
    return -1;
  }
}

std::string eval_file(const RunOptions& run, const SizePlan& s, int64_t k) {
  return (fs::path(run.out_dir) / "sweep" / s.spec.name / fmt::format("{}shot.json", k)).string();
}

// ---- sweep.csv --------------------------------------------------------------------------

struct Row {
  std::string size;
  int64_t params = 0;
  std::string task;
  int64_t num_fewshot = -1;  // -1: not a shot count (the ICL score)
  std::string metric;
  double value = 0;
  double stderr_value = kNaN;  // NaN: undefined
};

// The rows of one eval results file: every metric of every task. A metric is named by its
// filter too ("exact_match/strict") only when the task reports it under several filters.
std::vector<Row> rows_of(const json& results, const std::string& path, const SizePlan& s,
                         int64_t k) {
  std::vector<tasks::ResultRow> read;
  try {
    read = tasks::read_results(results, path);
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}; remove it to evaluate again", e.what()));
  }
  std::map<std::pair<std::string, std::string>, int> filters;  // (task, metric) -> filters
  for (const auto& r : read) ++filters[{r.task, r.metric}];
  std::vector<Row> rows;
  for (const auto& r : read) {
    Row row;
    row.size = s.spec.name;
    row.params = s.params;
    row.task = r.task;
    row.num_fewshot = k;
    row.metric = filters[{r.task, r.metric}] > 1 ? r.metric + "/" + r.filter : r.metric;
    row.value = r.value;
    row.stderr_value = r.stderr_value;
    rows.push_back(row);
  }
  return rows;
}

// The seconds a size's training steps took, from its metrics.jsonl (tokens over the mean
// tokens_per_s of its rows): without the corpus preparation and evaluations that the wall
// time of its first run includes, which would make the ETA of a sweep's first size many
// times too long. 0 when no row has a rate.
double training_seconds(const SizePlan& s, double tokens) {
  std::ifstream in(fs::path(s.dir) / "metrics.jsonl");
  double sum = 0;
  int64_t n = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.find("tokens_per_s") == std::string::npos) continue;
    const json row = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (row.is_discarded() || !row.contains("tokens_per_s") || !row["tokens_per_s"].is_number()) continue;
    sum += row["tokens_per_s"].get<double>();
    ++n;
  }
  return n > 0 && sum > 0 ? tokens / (sum / double(n)) : 0.0;
}

// The last in-context learning score a size's run logged, if its evaluator logs one.
std::optional<Row> icl_score_row(const SizePlan& s) {
  std::ifstream in(fs::path(s.dir) / "metrics.jsonl");
  std::optional<Row> out;
  const std::string se = std::string(kIclScore) + "_stderr";
  for (std::string line; std::getline(in, line);) {
    if (line.find("icl_score") == std::string::npos) continue;
    const json row = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (row.is_discarded() || !row.contains(kIclScore) || !row[kIclScore].is_number()) continue;
    Row r;
    r.size = s.spec.name;
    r.params = s.params;
    r.task = "validation";
    r.metric = "icl_score";
    r.value = row[kIclScore].get<double>();
    if (row.contains(se) && row[se].is_number()) r.stderr_value = row[se].get<double>();
    out = r;
  }
  return out;
}


std::string human_count(double n) {
  if (n >= 1e9) return fmt::format("{:.1f}B", n / 1e9);
  if (n >= 1e6) return fmt::format("{:.1f}M", n / 1e6);
  if (n >= 1e3) return fmt::format("{:.0f}k", n / 1e3);
  return fmt::format("{:.0f}", n);
}

std::vector<std::string> csv_lines(const std::vector<Row>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) {
    out.push_back(fmt::format(
        "{},{},{},{},{},{:.6g},{}", csv_field(r.size), r.params, csv_field(r.task),
        r.num_fewshot >= 0 ? std::to_string(r.num_fewshot) : "", csv_field(r.metric), r.value,
        std::isnan(r.stderr_value) ? "" : fmt::format("{:.6g}", r.stderr_value)));
  }
  return out;
}

// Markdown: size | params | task | metric | one column per shot count.
std::string markdown_table(const SweepOptions& o, const std::vector<Row>& rows) {
  std::string out = "| size | params | task | metric |", rule = "| --- | ---: | --- | --- |";
  for (int64_t k : o.num_fewshot) {
    out += fmt::format(" {}-shot |", k);
    rule += " ---: |";
  }
  out += "\n" + rule + "\n";
  std::map<std::tuple<std::string, std::string, std::string>, std::map<int64_t, double>> cells;
  std::vector<std::tuple<std::string, std::string, std::string>> order;
  std::map<std::string, int64_t> params;
  for (const auto& r : rows) {
    if (r.num_fewshot < 0) continue;  // the ICL score has no shot count
    const auto key = std::make_tuple(r.size, r.task, r.metric);
    if (cells.find(key) == cells.end()) order.push_back(key);
    cells[key][r.num_fewshot] = r.value;
    params[r.size] = r.params;
  }
  for (const auto& key : order) {
    const auto& [size, task, metric] = key;
    out += fmt::format("| {} | {} | {} | {} |", markdown_cell(size), human_count(double(params[size])),
                       markdown_cell(task), markdown_cell(metric));
    for (int64_t k : o.num_fewshot) {
      const auto it = cells[key].find(k);
      out += it == cells[key].end() ? std::string(" |") : fmt::format(" {:.4f} |", it->second);
    }
    out += "\n";
  }
  return out;
}

json row_json(const Row& r) {
  return {{"size", r.size},
          {"params", r.params},
          {"task", r.task},
          {"num_fewshot", r.num_fewshot >= 0 ? json(r.num_fewshot) : json()},
          {"metric", r.metric},
          {"value", r.value},
          {"stderr", std::isnan(r.stderr_value) ? json() : json(r.stderr_value)}};
}

// ---- the grid ---------------------------------------------------------------------------

// One size's training as a grid run: resumed when cut short, its ETA from the seconds its
// training steps took (training_seconds), not the corpus preparation of a first size.
GridRun size_run(const config::Document& doc, const RunOptions& run, const SizePlan& s) {
  const std::string data_dir = (fs::path(run.out_dir) / "data").string();
  const std::vector<std::string> overrides = s.overrides;
  const int64_t block_size = s.block_size;
  auto make = [doc, overrides, data_dir, block_size](const std::vector<std::string>& extra) {
    std::vector<std::string> all = overrides;
    all.insert(all.end(), extra.begin(), extra.end());
    return size_document(doc, all, data_dir, block_size);
  };
  const double tokens = double(s.max_steps * s.tokens_per_step);
  GridRun r = train_grid_run(fmt::format("{} ({} params): training {} steps, {} tokens",
                                         s.spec.name, human_count(double(s.params)), s.max_steps,
                                         human_count(tokens)),
                             s.dir, make, run.threads, /*resumable=*/true);
  r.check = nullptr;  // plan_size read it
  r.cost = s.flops_per_token * tokens;
  r.eta_classes = {"train"};
  auto train = r.work;
  r.work = [train, s, tokens](bool resume) {
    const int64_t step = resume ? latest_step(s.dir) : -1;
    if (step > s.max_steps) {
      throw InputError(fmt::format(
          "{}: holds a checkpoint at step {}, past this recipe's {} steps: the recipe or the "
          "budget changed since; give the sweep a new out_dir (or overwrite=true)",
          s.dir, step, s.max_steps));
    }
    if (step > 0) log::info("{}: resuming at step {}", s.spec.name, step);
    GridRun::Outcome out = train(resume);
    out.eta_seconds = step > 0 ? 0.0 : training_seconds(s, tokens);
    return out;
  };
  return r;
}

// One (size, shot count) evaluation as a grid run; its key holds the size's and the
// tasks' text, so a retrained size or an edited task is evaluated again.
GridRun eval_run(const RunOptions& run, const SweepOptions& o, const SizePlan& s, int64_t k,
                 const std::string& size_key) {
  tasks::EvalRunOptions e;
  e.model = s.dir;
  e.tasks = o.tasks;
  e.num_fewshot = k;
  e.limit = o.limit;
  e.batch_size = o.eval_batch_size;
  e.seed = uint64_t(run.seed);
  e.out = eval_file(run, s, k);
  e.threads = run.threads;
  e.task_dir = o.task_dir;
  const std::string key = json({{"model", size_key}, {"num_fewshot", k}, {"limit", o.limit},
                                {"batch_size", o.eval_batch_size}, {"seed", run.seed}})
                              .dump() + "\n" + tasks_key_text(e);
  GridRun r = eval_grid_run(fmt::format("{}, {}-shot: evaluating {} task{}", s.spec.name, k,
                                        o.tasks.size(), o.tasks.size() == 1 ? "" : "s"),
                            e, key);
  r.cost = s.flops_per_token * double(k + 1);
  r.eta_classes = {"eval"};
  return r;
}

// Reads, checks and resolves the tasks (paths relative to the working directory or the
// file; names in task_dir).
void resolve_tasks(const config::Document& doc, config::Reader& root, SweepOptions& o) {
  o.task_dir = o.task_dir.empty() ? find_above(doc.file(), "configs/tasks")
                                  : near_config(o.task_dir, doc.file());
  if (o.task_dir.empty()) o.task_dir = "configs/tasks";
  for (auto& t : o.tasks) {
    if (is_yaml_path(t)) t = near_config(t, doc.file());
    try {
      tasks::Task::load(tasks::find_task_file(t, o.task_dir));
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}: task '{}': {}", root.where("tasks"), t, e.what()));
    }
  }
}

}  // namespace

nlohmann::json sweep(const config::Document& doc) {
  // ---- every check before any work
  auto root = doc.root();
  RunOptions run;
  read_options(root, run);
  SweepOptions o;
  read_options(root, o);
  check_pretrain(root);
  root.finish();
  resolve_tasks(doc, root, o);
  std::vector<SizePlan> plans;
  for (const auto& spec : o.sizes) plans.push_back(plan_size(doc, run, o, spec));

  // ---- the grid: each size's training, then its evaluation at each shot count
  std::vector<GridRun> runs;
  std::vector<std::pair<size_t, int64_t>> what;  // per run: the size, the shot count (-1: training)
  for (size_t i = 0; i < plans.size(); ++i) {
    runs.push_back(size_run(doc, run, plans[i]));
    what.push_back({i, -1});
    const std::string size_key = grid_key_of(runs.back().key_text);
    for (int64_t k : o.num_fewshot) {
      runs.push_back(eval_run(run, o, plans[i], k, size_key));
      what.push_back({i, k});
    }
  }
  const fs::path out(run.out_dir);
  if (run.overwrite) {  // start over; the prepared corpus is kept (it is checked on reuse)
    for (const char* name : {"sizes", "sweep", "sweep.csv", "sweep.json", "sweep.png", "sweep.md"}) {
      fs::remove_all(out / name);
    }
  }
  RunGrid grid("sweep", doc, run, "size,params,task,num_fewshot,metric,value,stderr");
  std::vector<Row> rows;
  json sizes = json::array();
  const auto outcome = grid.run(runs, [&](size_t i, const json& results, double seconds) {
    const SizePlan& s = plans[what[i].first];
    const int64_t k = what[i].second;
    std::vector<Row> added;
    if (k < 0) {
      sizes.push_back({{"name", s.spec.name},
                       {"params", s.params},
                       {"params_total", results.value("model_num_parameters", int64_t(0))},
                       {"max_steps", s.max_steps},
                       {"tokens_per_step", s.tokens_per_step},
                       {"tokens", s.max_steps * s.tokens_per_step},
                       {"train_seconds", seconds},
                       {"run_dir", s.dir}});
    } else {
      added = rows_of(results, runs[i].results_file, s, k);
      if (k == o.num_fewshot.back()) {
        if (auto icl = icl_score_row(s)) added.push_back(*icl);
      }
    }
    rows.insert(rows.end(), added.begin(), added.end());
    return csv_lines(added);
  });
  int64_t trained = 0, evaluated = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    if (outcome.ran[i]) ++(what[i].second < 0 ? trained : evaluated);
  }

  GridSummary summary;
  summary.json = {{"params_counted", "non-embedding"},
                  {"sizes", sizes},
                  {"rows", json::array()},
                  {"trained", trained},
                  {"evaluated", evaluated}};
  for (const auto& r : rows) summary.json["rows"].push_back(row_json(r));
  summary.markdown = markdown_table(o, rows);
  if (o.plot) {
    summary.plot_script = "plot_sweep.py";
    summary.plot_args = {(out / "sweep.csv").string(), "{png}"};
  }
  json result = grid.write_summary(summary);
  log::info("sweep: {} sizes, {} trained and {} points evaluated now; wrote {}", plans.size(),
            trained, evaluated, (out / "sweep.csv").string());
  return result;
}

void sweep(const std::string& config_path, const std::vector<std::string>& overrides) {
  sweep(config::Document::load(config_path, overrides));
}

}  // namespace strata::experiments
