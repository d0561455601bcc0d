#include "tasks/task.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <regex>
#include <sstream>

#include "core/config.h"
#include "core/metric_registry.h"
#include "core/paths.h"
#include "core/errors.h"
#include "core/log.h"

namespace strata::tasks {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const config::EnumNames<OutputType> kOutputTypes = {
    {"loglikelihood", OutputType::kLoglikelihood},
    {"multiple_choice", OutputType::kMultipleChoice},
    {"generate_until", OutputType::kGenerateUntil}};

// Keys whose values are Python code in the harness; refused by name rather than as unknown.
const std::vector<std::string> kPythonKeys = {"process_results", "process_docs",
                                              "custom_dataset", "doc_to_image", "doc_to_audio"};

std::string resolve(const std::string& path, const std::string& yaml_file) {
  fs::path p(path);
  if (p.is_absolute()) return p.lexically_normal().string();
  return (fs::path(yaml_file).parent_path() / p).lexically_normal().string();
}

void refuse_python(const config::Reader& r) {
  for (const auto& key : r.keys()) {
    if (r.tag(key) == "!function") {
      r.fail(key, "is a '!function' tag, Python code Strata cannot run; write it as a "
                  "template or a field");
    }
    if (std::find(kPythonKeys.begin(), kPythonKeys.end(), key) != kPythonKeys.end()) {
      r.fail(key, "needs Python code, which Strata cannot run");
    }
  }
}

// Keys of harness task files that change nothing Strata computes: read, and named in a
// note. A harness group file (its `task` a list) is refused by name.
void read_harness_only_keys(config::Reader& r, const std::string& path) {
  if (r.is_list("task")) {
    r.fail("task", "lists tasks: this is a harness group file, which Strata does not run; give "
                   "each of its tasks to --task (group scores are not aggregated)");
  }
  std::vector<std::string> ignored;
  for (const char* key : {"should_decontaminate", "doc_to_decontamination_query", "task_alias",
                          "group_alias", "unsafe_code"}) {
    if (r.has(key)) ignored.push_back(key);
    r.skip(key);
  }
  if (r.has("group")) {  // harness 0.4's name for `tag` in a task file
    ignored.push_back("group (a tag)");
    r.skip("group");
  }
  if (r.has("repeats")) {
    int64_t repeats = 1;
    r.read("repeats", repeats, config::Range::at_least(1));
    if (repeats != 1) r.fail("repeats", "above 1 (sampled generations scored together) is not supported");
  }
  if (!ignored.empty()) {
    log::info("note: {}: {} read and not used (Strata runs no decontamination, aliases or "
              "groups)", path, fmt::join(ignored, ", "));
  }
}

void read_filters(config::Reader& r, TaskConfig& c) {
  if (!r.has("filter_list")) {
    r.skip("filter_list");
    return;
  }
  c.filters.clear();
  for (auto& f : r.children("filter_list")) {
    refuse_python(f);
    FilterPipeline p;
    f.required("name", p.name);
    for (auto& s : f.children("filter")) {
      refuse_python(s);
      FilterStep step;
      s.required("function", step.function);
      if (step.function != "remove_whitespace" && step.function != "take_first" &&
          step.function != "regex") {
        s.fail("function", fmt::format("'{}' is not a filter Strata has; it has "
                                       "remove_whitespace, take_first, regex", step.function));
      }
      s.read("regex_pattern", step.regex_pattern);
      s.read("group_select", step.group_select);
      s.read("fallback", step.fallback);
      try {
        std::regex check(step.regex_pattern);
      } catch (const std::regex_error& e) {
        s.fail("regex_pattern", fmt::format("is not a valid regular expression: {}", e.what()));
      }
      s.finish();
      p.steps.push_back(step);
    }
    f.finish();
    c.filters.push_back(p);
  }
}

void read_metrics(config::Reader& r, TaskConfig& c) {
  if (!r.has("metric_list")) {
    r.skip("metric_list");
    return;
  }
  c.metrics.clear();
  for (auto& m : r.children("metric_list")) {
    refuse_python(m);
    MetricSpec spec;
    m.read_choice("metric", spec.metric, metrics::task_metric_names());
    const metrics::MetricInfo& info = *metrics::find(spec.metric);
    spec.aggregation = info.aggregation;
    m.read_choice("aggregation", spec.aggregation, {"mean", "perplexity"});
    spec.higher_is_better = info.higher_is_better;
    m.read("higher_is_better", spec.higher_is_better);
    m.read("ignore_case", spec.ignore_case);
    m.read("ignore_punctuation", spec.ignore_punctuation);
    m.read("regexes_to_ignore", spec.regexes_to_ignore);
    m.finish();
    c.metrics.push_back(spec);
  }
}

// Reads one file's keys over `c` (which holds its bases' values).
void read_task_file(const std::string& path, TaskConfig& c, int depth) {
  if (depth > 8) throw InputError(fmt::format("{}: 'include' nests deeper than 8 files", path));
  auto doc = config::Document::load(path);
  auto r = doc.root();
  refuse_python(r);
  read_harness_only_keys(r, path);
  if (r.has("include")) {
    std::string base;
    r.read("include", base);
    std::string base_path = resolve(base, path);
    if (!fs::exists(base_path)) r.fail("include", fmt::format("names {}, which does not exist", base_path));
    read_task_file(base_path, c, depth + 1);
  } else {
    r.skip("include");
  }
  c.file = path;
  r.read("task", c.task);
  r.read_one_or_list("tag", c.tag);
  if (r.has("dataset_path")) {
    const std::string before = c.dataset_path;
    std::vector<std::string> paths = {"json", "csv"};
    for (const auto& name : data::icl_datasets().names()) paths.push_back(name);
    r.read_choice("dataset_path", c.dataset_path, paths);
    if (c.dataset_path != before) {  // another dataset than a base file's: none of its options
      c.data_files.clear();
      c.dataset = data::icl_defaults(c.dataset_path);
    }
  } else {
    r.skip("dataset_path");
  }
  const bool builtin = data::is_icl_dataset(c.dataset_path);
  const auto& subtasks = data::icl_subtasks(c.dataset_path);
  if (r.has("dataset_name") && !subtasks.empty()) {
    r.read_choice("dataset_name", c.dataset.dataset_name, subtasks);
  } else if (r.has("dataset_name") && builtin) {
    r.fail("dataset_name", fmt::format("built-in dataset {} has no sub-tasks", c.dataset_path));
  } else if (r.has("dataset_name")) {  // a hub file with its path changed to local data
    std::string name;
    r.read("dataset_name", name);
    if (!name.empty()) {
      log::info("note: {}: dataset_name '{}' is not used: it names a Hugging Face hub "
                "configuration, and the data here are dataset_path {}'s data_files",
                r.where("dataset_name"), name, c.dataset_path);
    }
  } else {
    r.skip("dataset_name");
  }
  auto kwargs = r.child("dataset_kwargs");
  if (builtin) {
    data::read_options(kwargs, c.dataset_path, c.dataset);
  } else if (kwargs.has("data_files")) {
    std::map<std::string, std::string> files;
    if (kwargs.is_map("data_files")) {
      kwargs.read("data_files", files);
    } else {
      std::string one;
      kwargs.read("data_files", one);
      files["train"] = one;  // the datasets library calls a lone file's split "train"
    }
    c.data_files.clear();
    for (auto& [split, file] : files) c.data_files[split] = resolve(file, path);
  } else {
    kwargs.skip("data_files");
  }
  kwargs.finish();
  r.read("training_split", c.training_split);
  r.read("validation_split", c.validation_split);
  r.read("test_split", c.test_split);
  r.read("fewshot_split", c.fewshot_split);
  r.read("description", c.description);
  r.read("doc_to_text", c.doc_to_text);
  r.read("doc_to_target", c.doc_to_target);
  if (r.is_list("doc_to_choice")) {
    r.read("doc_to_choice", c.choice_list);
    c.doc_to_choice.clear();
  } else if (r.has("doc_to_choice")) {
    r.read("doc_to_choice", c.doc_to_choice);
    c.choice_list.clear();
  } else {
    r.skip("doc_to_choice");
  }
  r.read("target_delimiter", c.target_delimiter);
  r.read("fewshot_delimiter", c.fewshot_delimiter);
  r.read("num_fewshot", c.num_fewshot, config::Range::non_negative());
  auto fewshot = r.child("fewshot_config");
  refuse_python(fewshot);
  if (fewshot.has("samples")) {
    fewshot.fail("samples", "(a fixed list of shots) is not supported: put the shots in a split "
                            "of their own and name it in fewshot_split");
  }
  fewshot.read_choice("sampler", c.sampler, {"default", "first_n"});
  fewshot.finish();
  r.read_enum("output_type", c.output_type, kOutputTypes);
  auto gen = r.child("generation_kwargs");
  gen.read_one_or_list("until", c.generation.until);
  gen.read("max_gen_toks", c.generation.max_gen_toks, config::Range::at_least(1));
  gen.read("do_sample", c.generation.do_sample);
  gen.read("temperature", c.generation.temperature, config::Range::non_negative());
  gen.finish();
  read_filters(r, c);
  read_metrics(r, c);
  auto meta = r.child("metadata");
  meta.read("version", c.version);
  for (const auto& key : meta.keys()) meta.skip(key);  // free-form in the harness
  meta.finish();
  r.finish();
}

// A metric with the registry's aggregation and direction (core/metric_registry.h).
MetricSpec metric(const std::string& name) {
  const metrics::MetricInfo& info = *metrics::find(name);
  MetricSpec m;
  m.metric = name;
  m.aggregation = info.aggregation;
  m.higher_is_better = info.higher_is_better;
  return m;
}

std::string first_line_error(const std::string& path, size_t line, const std::string& what) {
  return fmt::format("{}:{}: {}", path, line, what);
}

// Task::load for a built-in dataset (core/data/icl_tasks.h): the wanted splits' documents.
void load_builtin(const std::string& path, const std::vector<std::string>& wanted, Task& t) {
  const std::string& dataset = t.config().dataset_path;
  const auto& has = data::icl_splits(dataset);
  for (const auto& split : wanted) {
    if (std::find(has.begin(), has.end(), split) == has.end()) {
      std::string list;
      for (const auto& s : has) list += (list.empty() ? "" : ", ") + s;
      throw InputError(fmt::format("{}: built-in dataset {} has no split '{}' (it has {})", path,
                                   dataset, split, list));
    }
  }
  data::DocumentSplits splits;
  try {
    splits = data::make_icl_dataset(dataset, t.config().dataset, wanted);
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: {}", path, e.what()));
  }
  for (const auto& split : wanted) t.set_split(split, std::move(splits[split]));
}

// Task::load for json and csv: the wanted splits' data files.
void read_files(const std::string& path, const std::vector<std::string>& wanted, Task& t) {
  const auto& files = t.config().data_files;
  for (const auto& split : wanted) {
    auto it = files.find(split);
    if (it == files.end()) {
      std::string have;
      for (const auto& [k, v] : files) have += (have.empty() ? "" : ", ") + k;
      throw InputError(fmt::format("{}: split '{}' is not in dataset_kwargs.data_files (it has {})",
                                   path, split, have));
    }
    t.set_split(split, read_documents(t.config().dataset_path, it->second));
  }
}

}  // namespace

json GenerationOptions::to_json() const {
  return {{"until", until},
          {"max_gen_toks", max_gen_toks},
          {"do_sample", do_sample},
          {"temperature", temperature}};
}

json TaskConfig::to_json() const {
  json j;
  j["task"] = task;
  if (!tag.empty()) j["tag"] = tag;
  j["dataset_path"] = dataset_path;
  if (data::is_icl_dataset(dataset_path)) {
    if (!dataset.dataset_name.empty()) j["dataset_name"] = dataset.dataset_name;
    j["dataset_kwargs"] = data::kwargs_json(dataset_path, dataset);
  } else {
    j["dataset_kwargs"] = {{"data_files", data_files}};
  }
  if (!training_split.empty()) j["training_split"] = training_split;
  if (!validation_split.empty()) j["validation_split"] = validation_split;
  if (!test_split.empty()) j["test_split"] = test_split;
  if (!fewshot_split.empty()) j["fewshot_split"] = fewshot_split;
  j["description"] = description;
  j["doc_to_text"] = doc_to_text;
  j["doc_to_target"] = doc_to_target;
  if (!choice_list.empty()) j["doc_to_choice"] = choice_list;
  else if (!doc_to_choice.empty()) j["doc_to_choice"] = doc_to_choice;
  j["target_delimiter"] = target_delimiter;
  j["fewshot_delimiter"] = fewshot_delimiter;
  j["num_fewshot"] = num_fewshot;
  j["fewshot_config"] = {{"sampler", sampler}};
  j["output_type"] = config::enum_name(output_type, kOutputTypes);
  if (output_type == OutputType::kGenerateUntil) {
    j["generation_kwargs"] = generation.to_json();
  }
  json filters_json = json::array();
  for (const auto& p : filters) {
    json steps = json::array();
    for (const auto& s : p.steps) {
      json step = {{"function", s.function}};
      if (s.function == "regex") {
        step["regex_pattern"] = s.regex_pattern;
        step["group_select"] = s.group_select;
        step["fallback"] = s.fallback;
      }
      steps.push_back(step);
    }
    filters_json.push_back({{"name", p.name}, {"filter", steps}});
  }
  if (!filters.empty()) j["filter_list"] = filters_json;
  json metrics_json = json::array();
  for (const auto& m : metrics) {
    json mj = {{"metric", m.metric}, {"aggregation", m.aggregation},
               {"higher_is_better", m.higher_is_better}};
    if (m.metric == "exact_match") {
      mj["ignore_case"] = m.ignore_case;
      mj["ignore_punctuation"] = m.ignore_punctuation;
      if (!m.regexes_to_ignore.empty()) mj["regexes_to_ignore"] = m.regexes_to_ignore;
    }
    metrics_json.push_back(mj);
  }
  j["metric_list"] = metrics_json;
  j["metadata"] = {{"version", version}};
  return j;
}

TaskConfig load_task_config(const std::string& path) {
  if (!fs::exists(path)) throw InputError(fmt::format("{}: no such task file", path));
  TaskConfig c;
  read_task_file(path, c, 0);
  auto fail = [&](const std::string& what) {
    throw InputError(fmt::format("{}: {}", path, what));
  };
  if (c.task.empty()) fail("missing required key 'task'");
  if (c.dataset_path.empty()) {
    fail("missing required key 'dataset_path' (json, csv or a built-in dataset)");
  }
  const bool builtin = data::is_icl_dataset(c.dataset_path);
  if (!builtin && c.data_files.empty()) fail("missing required key 'dataset_kwargs.data_files'");
  const auto& subtasks = data::icl_subtasks(c.dataset_path);
  if (builtin && !subtasks.empty() && c.dataset.dataset_name.empty()) {
    std::string names;
    for (const auto& n : subtasks) names += (names.empty() ? "" : ", ") + n;
    fail(fmt::format("built-in dataset {} needs 'dataset_name', one of {}", c.dataset_path,
                     names));
  }
  if (c.doc_to_text.empty()) fail("missing required key 'doc_to_text'");
  if (c.doc_to_target.empty()) fail("missing required key 'doc_to_target'");
  if (c.test_split.empty() && c.validation_split.empty()) {
    fail("names neither 'test_split' nor 'validation_split': no documents to score");
  }
  bool has_choices = !c.choice_list.empty() || !c.doc_to_choice.empty();
  if (c.output_type == OutputType::kMultipleChoice && !has_choices) {
    fail("output_type multiple_choice needs 'doc_to_choice'");
  }
  // The harness's defaults per output type (ConfigurableTask.__init__).
  if (c.metrics.empty()) {
    switch (c.output_type) {
      case OutputType::kLoglikelihood:
        c.metrics = {metric("perplexity"), metric("acc")};
        break;
      case OutputType::kMultipleChoice:
        c.metrics = {metric("acc"), metric("acc_norm")};
        break;
      case OutputType::kGenerateUntil:
        c.metrics = {metric("exact_match")};
        break;
    }
  }
  for (const auto& m : c.metrics) {
    bool ok = c.output_type == OutputType::kGenerateUntil
                  ? m.metric == "exact_match"
                  : c.output_type == OutputType::kMultipleChoice
                        ? (m.metric == "acc" || m.metric == "acc_norm")
                        : (m.metric == "acc" || m.metric == "perplexity");
    if (!ok) {
      fail(fmt::format("metric '{}' does not apply to output_type {}", m.metric,
                       config::enum_name(c.output_type, kOutputTypes)));
    }
    if ((m.aggregation == "perplexity") != (m.metric == "perplexity")) {
      fail(fmt::format("metric '{}' cannot be aggregated by '{}'", m.metric, m.aggregation));
    }
  }
  if (c.output_type == OutputType::kGenerateUntil && c.generation.until.empty() &&
      !c.fewshot_delimiter.empty()) {
    c.generation.until = {c.fewshot_delimiter};  // the harness's default stop
  }
  return c;
}

std::string find_task_file(const std::string& name_or_path, const std::string& dir) {
  if (is_yaml_path(name_or_path)) {
    if (!fs::exists(name_or_path)) throw InputError(fmt::format("--task {}: no such file", name_or_path));
    return name_or_path;
  }
  std::string direct = (fs::path(dir) / (name_or_path + ".yaml")).string();
  if (fs::exists(direct)) return direct;
  std::vector<std::string> names;
  if (fs::is_directory(dir)) {
    std::regex task_line(R"(^task:\s*['"]?([^'"\s#]+))");
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (has_extension(e.path(), ".yaml") || has_extension(e.path(), ".yml")) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::ifstream in(f);
      for (std::string line; std::getline(in, line);) {
        std::smatch m;
        if (std::regex_search(line, m, task_line)) {
          if (m[1] == name_or_path) return f.string();
          names.push_back(m[1]);
        }
      }
    }
  }
  std::string hint = config::closest(name_or_path, names);
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  throw InputError(fmt::format("--task {}: no such task in {}{}; known: {}", name_or_path, dir,
                               hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint),
                               list.empty() ? "none" : list));
}

// ---- prompts ----------------------------------------------------------------------------

std::string build_prompt(const PromptFormat& format, const std::vector<Shot>& shots,
                         const std::string& query) {
  std::string out = format.description;
  for (const auto& s : shots) {
    out += s.input;
    if (!s.target.empty()) out += format.target_delimiter + s.target;
    out += format.fewshot_delimiter;
  }
  return out + query;
}

Shot input_output_shot(const std::string& input, const std::string& target) {
  return Shot{"Input: " + input + "\nOutput:", target};
}

// ---- documents --------------------------------------------------------------------------

std::vector<json> read_documents(const std::string& format, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open data file", path));
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  std::vector<json> docs;
  if (format == "json") {
    size_t first = text.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && text[first] == '[') {  // one JSON array
      try {
        json all = json::parse(text);
        for (auto& d : all) docs.push_back(d);
      } catch (const json::exception& e) {
        throw InputError(fmt::format("{}: not valid JSON: {}", path, e.what()));
      }
    } else {  // JSON Lines
      std::istringstream lines(text);
      size_t n = 0;
      for (std::string line; std::getline(lines, line);) {
        ++n;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        try {
          docs.push_back(json::parse(line));
        } catch (const json::exception& e) {
          throw InputError(first_line_error(path, n, std::string("not valid JSON: ") + e.what()));
        }
      }
    }
    for (size_t i = 0; i < docs.size(); ++i) {
      if (!docs[i].is_object()) {
        throw InputError(fmt::format("{}: document {} is not a JSON object", path, i));
      }
    }
    return docs;
  }
  // CSV (RFC 4180): quoted fields may hold commas, quotes ("") and newlines.
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false, any = false;
  size_t line = 1;
  for (size_t i = 0; i < text.size(); ++i) {
    char ch = text[i];
    if (quoted) {
      if (ch == '"' && i + 1 < text.size() && text[i + 1] == '"') field += '"', ++i;
      else if (ch == '"') quoted = false;
      else field += ch, line += ch == '\n';
    } else if (ch == '"') {
      quoted = true, any = true;
    } else if (ch == ',') {
      rows.back().push_back(field), field.clear(), any = true;
    } else if (ch == '\n' || ch == '\r') {
      if (ch == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      if (any || !field.empty()) rows.back().push_back(field);
      field.clear(), any = false, ++line;
      if (!rows.back().empty()) rows.emplace_back();
    } else {
      field += ch, any = true;
    }
  }
  if (quoted) throw InputError(first_line_error(path, line, "unterminated quoted field"));
  if (any || !field.empty()) rows.back().push_back(field);
  if (rows.back().empty()) rows.pop_back();
  if (rows.empty()) throw InputError(fmt::format("{}: empty CSV file, no header row", path));
  const auto& header = rows[0];
  for (size_t r = 1; r < rows.size(); ++r) {
    if (rows[r].size() != header.size()) {
      throw InputError(fmt::format("{}: row {} has {} fields, the header {}", path, r + 1,
                                   rows[r].size(), header.size()));
    }
    json d = json::object();
    for (size_t k = 0; k < header.size(); ++k) d[header[k]] = rows[r][k];
    docs.push_back(d);
  }
  return docs;
}

Task::Task(TaskConfig config) : config_(std::move(config)) {
  eval_split_ = !config_.test_split.empty() ? config_.test_split : config_.validation_split;
  for (const std::string* s : {&config_.fewshot_split, &config_.training_split,
                               &config_.validation_split, &config_.test_split}) {
    if (!s->empty()) {
      fewshot_split_ = *s;
      break;
    }
  }
}

Task Task::load(const std::string& path) {
  Task t(load_task_config(path));
  std::vector<std::string> wanted;
  for (const std::string* s : {&t.config_.training_split, &t.config_.validation_split,
                               &t.config_.test_split, &t.config_.fewshot_split}) {
    if (!s->empty() && std::find(wanted.begin(), wanted.end(), *s) == wanted.end()) {
      wanted.push_back(*s);
    }
  }
  if (data::is_icl_dataset(t.config_.dataset_path)) {
    load_builtin(path, wanted, t);
  } else {
    read_files(path, wanted, t);
  }
  if (t.eval_docs().empty()) {
    throw InputError(fmt::format("{}: split '{}' has no documents", path, t.eval_split_));
  }
  return t;
}

void Task::set_split(const std::string& split, std::vector<json> docs) {
  splits_[split] = std::move(docs);
  draws_ = Draws{};  // the default sampler draws again from the new documents
}

const std::vector<json>& Task::eval_docs() const {
  static const std::vector<json> kNone;
  auto it = splits_.find(eval_split_);
  return it == splits_.end() ? kNone : it->second;
}

const std::vector<json>& Task::split(const std::string& name) const {
  auto it = splits_.find(name);
  if (it == splits_.end()) {
    throw InputError(fmt::format("{}: task '{}' has no split '{}'", config_.file, config_.task, name));
  }
  return it->second;
}

const std::vector<json>& Task::fewshot_docs() const {
  static const std::vector<json> kNone;
  auto it = splits_.find(fewshot_split_);
  return it == splits_.end() ? kNone : it->second;
}

json Task::evaluate(const std::string& what, const std::string& source, const json& doc,
                    const std::string& where) const {
  // The harness reads a key that names a field of the document as that field, and
  // anything else as a Jinja template.
  if (doc.is_object() && doc.contains(source)) return doc[source];
  auto it = templates_.find(source);
  try {
    if (it == templates_.end()) {
      it = templates_.emplace(source, std::make_shared<Template>(source)).first;
    }
    return it->second->evaluate(doc);
  } catch (const MissingFieldError& e) {
    throw InputError(fmt::format("{}: {}: {} names the field '{}', which {} lacks", config_.file,
                                 what, source, e.field(), where));
  } catch (const TemplateError& e) {
    throw InputError(fmt::format("{}: {}: {} ({})", config_.file, what, e.what(), where));
  }
}

std::string Task::render(const std::string& what, const std::string& source, const json& doc,
                         const std::string& where) const {
  return python_str(evaluate(what, source, doc, where));
}

std::string Task::doc_to_text(const json& doc, const std::string& where) const {
  return render("doc_to_text", config_.doc_to_text, doc, where);
}

std::vector<std::string> Task::doc_to_choice(const json& doc, const std::string& where) const {
  if (!config_.choice_list.empty()) return config_.choice_list;
  if (config_.doc_to_choice.empty()) return {};
  json v = evaluate("doc_to_choice", config_.doc_to_choice, doc, where);
  if (v.is_string()) {  // a template that rendered a Python list literal
    try {
      std::string s = v.get<std::string>();
      std::replace(s.begin(), s.end(), '\'', '"');
      v = json::parse(s);
    } catch (const json::exception&) {
    }
  }
  if (!v.is_array()) {
    throw InputError(fmt::format("{}: doc_to_choice: '{}' is not a list for {}", config_.file,
                                 config_.doc_to_choice, where));
  }
  std::vector<std::string> out;
  for (const auto& x : v) out.push_back(python_str(x));
  return out;
}

Target Task::doc_to_target(const json& doc, const std::string& where) const {
  const std::string& src = config_.doc_to_target;
  bool has_choices = !config_.choice_list.empty() || !config_.doc_to_choice.empty();
  auto is_index = [](const std::string& s) {  // at most 18 digits: std::stoll cannot overflow
    return !s.empty() && s.size() <= 18 &&
           std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
  };
  Target t;
  if (is_index(src) && !(doc.is_object() && doc.contains(src))) {
    t.index = std::stoll(src);
  } else {
    json v = evaluate("doc_to_target", src, doc, where);
    if (v.is_number_integer() && has_choices) {
      t.index = v.get<int64_t>();
    } else {
      t.text = python_str(v);
      // The harness reads a rendered target of digits as an index when there are choices.
      if (has_choices && is_index(t.text)) t.index = std::stoll(t.text);
    }
  }
  if (has_choices) {
    auto choices = doc_to_choice(doc, where);
    if (t.index < 0) {  // a target given as a choice's text
      auto it = std::find(choices.begin(), choices.end(), t.text);
      if (it == choices.end()) {
        throw InputError(fmt::format("{}: doc_to_target '{}' is none of the choices of {}",
                                     config_.file, t.text, where));
      }
      t.index = it - choices.begin();
    }
    if (t.index >= int64_t(choices.size())) {
      throw InputError(fmt::format("{}: doc_to_target {} is past the {} choices of {}",
                                   config_.file, t.index, choices.size(), where));
    }
    t.text = choices[size_t(t.index)];
  }
  return t;
}

std::string Task::target_text(const json& doc, const std::string& where) const {
  return doc_to_target(doc, where).text;
}

std::vector<size_t> Task::fewshot_indices(size_t doc_index, int64_t k, uint64_t seed) const {
  if (k <= 0) return {};
  const size_t n = fewshot_docs().size();
  const bool same_split = fewshot_split_ == eval_split_;
  const size_t available = same_split ? (n > 0 ? n - 1 : 0) : n;
  if (size_t(k) > available) {
    throw InputError(fmt::format("{}: {} shots asked for, but split '{}' has only {} to draw "
                                 "from", config_.file, k, fewshot_split_, available));
  }
  std::vector<size_t> pool(n);
  std::iota(pool.begin(), pool.end(), 0);
  if (same_split) pool.erase(pool.begin() + doc_index);
  if (config_.sampler == "first_n") return {pool.begin(), pool.begin() + k};
  if (!draws_.rng || draws_.seed != seed || draws_.k != k) {
    draws_ = Draws{seed, k, std::make_shared<PythonRandom>(seed), {}};
  }
  const auto& docs = fewshot_docs();
  while (draws_.shots.size() <= doc_index) {
    const size_t i = draws_.shots.size();
    if (!same_split) {
      draws_.shots.push_back(draws_.rng->sample(n, size_t(k)));
      continue;
    }
    const json& doc = eval_docs()[i];
    std::vector<size_t> kept;
    for (size_t j : draws_.rng->sample(n, size_t(k) + 1)) {
      if (docs[j] != doc) kept.push_back(j);
    }
    if (kept.size() > size_t(k)) kept.resize(size_t(k));
    if (kept.size() < size_t(k)) {  // documents equal to the scored one were drawn
      std::vector<size_t> others;
      for (size_t j = 0; j < n; ++j)
        if (docs[j] != doc) others.push_back(j);
      if (others.size() < size_t(k)) {
        throw InputError(fmt::format("{}: {} shots asked for, but split '{}' has only {} "
                                     "documents that differ from {} document {}",
                                     config_.file, k, fewshot_split_, others.size(), eval_split_, i));
      }
      kept.clear();
      for (size_t j : draws_.rng->sample(others.size(), size_t(k))) kept.push_back(others[j]);
    }
    draws_.shots.push_back(std::move(kept));
  }
  return draws_.shots[doc_index];
}

std::string Task::fewshot_context(size_t doc_index, int64_t k, uint64_t seed) const {
  const json& doc = eval_docs().at(doc_index);
  const std::string where = fmt::format("{} document {}", eval_split_, doc_index);
  // The harness renders the description with the scored document's fields.
  PromptFormat format{config_.description.empty()
                          ? std::string()
                          : render("description", config_.description, doc, where),
                      config_.target_delimiter, config_.fewshot_delimiter};
  std::vector<Shot> shots;
  for (size_t i : fewshot_indices(doc_index, k, seed)) {
    const json& d = fewshot_docs()[i];
    std::string where = fmt::format("{} document {}", fewshot_split_, i);
    shots.push_back({doc_to_text(d, where), target_text(d, where)});
  }
  return build_prompt(format, shots, doc_to_text(doc, where));
}

}  // namespace strata::tasks
