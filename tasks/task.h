#pragma once
// Task files in lm-evaluation-harness's vocabulary (its ConfigurableTask's YAML keys), the
// documents they name, and the prompts built from them. docs/architecture.md, "Task YAML",
// lists the keys; tasks/README.md shows a file.
//
// Prompts follow the harness (lm_eval/api/task.py, ConfigurableTask.fewshot_context, and
// lm_eval/api/samplers.py, ContextSampler.get_context): the description, then for every
// shot doc_to_text + target_delimiter + doc_to_target + fewshot_delimiter, then the
// document's own doc_to_text. The harness adds no separator after the description, so a
// description usually ends in "\n\n".

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/data/icl_tasks.h"
#include "tasks/python_random.h"
#include "tasks/template.h"

namespace strata::tasks {

enum class OutputType { kLoglikelihood, kMultipleChoice, kGenerateUntil };

// One step of a harness filter pipeline (lm_eval/filters): what turns a generated text into
// the answer that is scored.
struct FilterStep {
  std::string function;                              // remove_whitespace | take_first | regex
  std::string regex_pattern = R"(#### (\-?[0-9\.\,]+))";  // regex: the harness's default
  int64_t group_select = 0;                          // regex: which match (negative from end)
  std::string fallback = "[invalid]";                // regex: when nothing matches
};

struct FilterPipeline {
  std::string name = "none";  // the part after the comma in "exact_match,strict-match"
  std::vector<FilterStep> steps;
};

struct MetricSpec {
  std::string metric;        // acc | acc_norm | perplexity | exact_match
  std::string aggregation;   // mean | perplexity ("" = the metric's own)
  bool higher_is_better = true;
  // exact_match's options, as Hugging Face evaluate's exact_match names them.
  bool ignore_case = false;
  bool ignore_punctuation = false;
  std::vector<std::string> regexes_to_ignore;
};

struct GenerationOptions {
  std::vector<std::string> until;  // stop strings; empty: the fewshot_delimiter
  int64_t max_gen_toks = 256;      // the harness's default
  bool do_sample = false;          // false: greedy
  double temperature = 0.0;
  nlohmann::json to_json() const;  // generation_kwargs, as a task file writes them
};

// A task file resolved: `include`d bases applied, paths made absolute, defaults filled.
struct TaskConfig {
  std::string task;
  std::vector<std::string> tag;
  std::string file;  // the YAML it was read from
  std::string dataset_path;  // json | csv | a built-in dataset (core/data/icl_tasks.h)
  std::map<std::string, std::string> data_files;  // json, csv: split -> absolute path
  // A built-in dataset's dataset_name and dataset_kwargs (its defaults where not given).
  data::IclDatasetOptions dataset;
  std::string training_split, validation_split, test_split, fewshot_split;
  std::string description;
  std::string doc_to_text;    // a field name or a template
  std::string doc_to_target;  // a field name, an index into the choices, or a template
  std::string doc_to_choice;  // a field name or a template ("" when choice_list is used)
  std::vector<std::string> choice_list;  // doc_to_choice given as a YAML list
  std::string target_delimiter = " ";
  std::string fewshot_delimiter = "\n\n";
  int64_t num_fewshot = 0;
  std::string sampler = "default";  // default | first_n
  OutputType output_type = OutputType::kGenerateUntil;
  GenerationOptions generation;
  std::vector<FilterPipeline> filters;  // empty: one pipeline "none" that takes the first
  std::vector<MetricSpec> metrics;      // empty: the output type's defaults
  double version = 0.0;                 // metadata.version

  // The resolved task as the results file's `configs[TASK]` shows it.
  nlohmann::json to_json() const;
};

// Reads a task YAML with core/config.h's strict Reader (file:line errors, "did you mean").
// `include` reads a base file first (relative to the including file) whose keys this file
// overrides. Keys that need Python (`!function` tags, `process_results`, `process_docs`)
// are InputErrors that name them, as are unknown keys and bad values.
TaskConfig load_task_config(const std::string& path);

// `name_or_path`: a .yaml path, or a task name looked up as `<dir>/<name>.yaml` and then by
// the `task:` key of every .yaml under `dir`. Not found: InputError listing what is there.
std::string find_task_file(const std::string& name_or_path,
                           const std::string& dir = "configs/tasks");

// ---- prompts --------------------------------------------------------------------------

// One solved example of a prompt.
struct Shot {
  std::string input;   // doc_to_text
  std::string target;  // doc_to_target ("" adds no target_delimiter, as the harness)
};

struct PromptFormat {
  std::string description;  // prepended as is
  std::string target_delimiter = " ";
  std::string fewshot_delimiter = "\n\n";
};

// description + shots + query. Zero-shot: no shots; one-shot: one; few-shot: k.
std::string build_prompt(const PromptFormat& format, const std::vector<Shot>& shots,
                         const std::string& query);

// The "Input: ... / Output:" form of a prompt for tasks without a template of their own:
// {"Input: " + input + "\nOutput:", target}.
Shot input_output_shot(const std::string& input, const std::string& target = "");

// ---- documents and prompts of a task --------------------------------------------------

// What doc_to_target gives: a text, or an index into the choices.
struct Target {
  std::string text;
  int64_t index = -1;  // >= 0 when the target names a choice
};

class Task {
 public:
  // Loads the config and every split it names: reads the data files, or makes a built-in
  // dataset's documents. Missing or malformed data files are InputErrors naming the file
  // and line; a split a built-in dataset does not have is one naming its splits.
  static Task load(const std::string& path);
  explicit Task(TaskConfig config);  // documents added with set_split (tests)

  const TaskConfig& config() const { return config_; }
  const std::string& name() const { return config_.task; }
  void set_split(const std::string& split, std::vector<nlohmann::json> docs);

  // The documents scored: test_split, else validation_split (the harness's order).
  const std::string& eval_split() const { return eval_split_; }
  const std::vector<nlohmann::json>& eval_docs() const;
  // The documents of a split the task file names; a split it does not have (or that has
  // not been loaded) is an InputError naming the task file.
  const std::vector<nlohmann::json>& split(const std::string& name) const;
  // Where shots come from: fewshot_split, else training, validation, test.
  const std::string& fewshot_split() const { return fewshot_split_; }
  const std::vector<nlohmann::json>& fewshot_docs() const;

  // The prompt pieces of one document. `where` names it in errors ("document 3"): a
  // template naming a missing field is an InputError naming the field, the task file and
  // the document.
  std::string doc_to_text(const nlohmann::json& doc, const std::string& where) const;
  Target doc_to_target(const nlohmann::json& doc, const std::string& where) const;
  std::vector<std::string> doc_to_choice(const nlohmann::json& doc, const std::string& where) const;
  // The target as text: a choice's text when the target is an index.
  std::string target_text(const nlohmann::json& doc, const std::string& where) const;

  // Indices into fewshot_docs() of the k shots of eval document `doc_index`. `default`
  // makes the harness's draws (lm_eval/api/samplers.py): one Python-compatible
  // random.Random(seed) per task (tasks/python_random.h), Random.sample(docs, k) for each
  // eval document in order, so a document's shots depend on the documents before it; when
  // shots and scored documents come from one split, k + 1 are drawn and the documents equal
  // to the scored one dropped (drawn again from the others if fewer than k remain).
  // `first_n` takes the first k, the scored document left out when the splits are one.
  // The draws are kept per (seed, k), so asking in any order gives the same shots; not
  // safe to call from several threads at once. More shots than documents is an InputError.
  std::vector<size_t> fewshot_indices(size_t doc_index, int64_t k, uint64_t seed) const;

  // The full context of eval document `doc_index` with k shots (description, shots, query).
  std::string fewshot_context(size_t doc_index, int64_t k, uint64_t seed) const;

 private:
  std::string render(const std::string& what, const std::string& source,
                     const nlohmann::json& doc, const std::string& where) const;
  nlohmann::json evaluate(const std::string& what, const std::string& source,
                          const nlohmann::json& doc, const std::string& where) const;

  TaskConfig config_;
  std::map<std::string, std::vector<nlohmann::json>> splits_;
  std::string eval_split_, fewshot_split_;
  mutable std::map<std::string, std::shared_ptr<Template>> templates_;
  // The default sampler's draws so far, for one (seed, k) (fewshot_indices).
  struct Draws {
    uint64_t seed = 0;
    int64_t k = -1;
    std::shared_ptr<PythonRandom> rng;
    std::vector<std::vector<size_t>> shots;  // by eval document, from 0
  };
  mutable Draws draws_;
};

// Reads a split's rows: `json` (JSON Lines, or one JSON array) or `csv` (a header row; every
// value a string). InputError naming the file and line on bad input.
std::vector<nlohmann::json> read_documents(const std::string& format, const std::string& path);

}  // namespace strata::tasks
