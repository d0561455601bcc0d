#include "tasks/task_export.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "core/checkpoint.h"
#include "core/errors.h"
#include "tasks/task.h"

namespace strata::tasks {

namespace fs = std::filesystem;

std::vector<std::string> export_task(const std::string& task_name, const std::string& task_dir,
                                     const std::string& out_dir, bool overwrite) {
  const std::string source = find_task_file(task_name, task_dir);
  const Task task = Task::load(source);
  std::error_code ec;
  if (fs::exists(out_dir, ec) && !fs::is_directory(out_dir, ec)) {
    throw InputError(fmt::format("--out {}: exists and is not a directory", out_dir));
  }
  if (fs::exists(out_dir, ec) && !fs::is_empty(out_dir, ec) && !overwrite) {
    throw InputError(fmt::format("--out {}: exists and is not empty (--overwrite replaces the "
                                 "task's files in it)",
                                 out_dir));
  }
  fs::create_directories(out_dir);
  const fs::path dir = fs::absolute(out_dir).lexically_normal();
  const auto& cfg = task.config();

  nlohmann::json data_files = nlohmann::json::object();
  std::vector<std::string> written;
  for (const std::string& split :
       {cfg.training_split, cfg.validation_split, cfg.test_split, cfg.fewshot_split}) {
    if (split.empty() || data_files.contains(split)) continue;
    const fs::path path = dir / fmt::format("{}_{}.jsonl", cfg.task, split);
    std::string text;
    for (const auto& doc : task.split(split)) text += doc.dump() + "\n";
    write_file_atomic(path.string(), text);
    data_files[split] = path.string();
    written.push_back(path.string());
  }

  nlohmann::json j = cfg.to_json();
  j["dataset_path"] = "json";
  j.erase("dataset_name");
  j["dataset_kwargs"] = {{"data_files", data_files}};
  const fs::path yaml = dir / (cfg.task + ".yaml");
  write_file_atomic(yaml.string(),
                    fmt::format("# strata tasks export of {}: the documents as JSON Lines, read "
                                "by Strata and by lm-evaluation-harness alike.\n{}\n",
                                source, j.dump(2)));
  written.push_back(yaml.string());
  return written;
}

}  // namespace strata::tasks
