#pragma once
// `strata tasks export NAME --out DIR`: a task's documents as JSON Lines plus a task file
// that reads them, so that lm-evaluation-harness (`lm_eval --include_path DIR --tasks
// NAME`) and Strata score the same documents from the same files, built-in datasets
// included (the harness cannot make those).

#include <string>
#include <vector>

namespace strata::tasks {

// Writes DIR/<task>_<split>.jsonl for every split the task names (training, validation,
// test, fewshot: each once) and DIR/<task>.yaml: the resolved task (includes applied,
// defaults filled) with dataset_path json and data_files naming those files by absolute
// path, since relative ones resolve against the YAML file in Strata and against the
// working directory in the harness. The YAML is written in JSON syntax, which both YAML
// readers take. `task` is a task name (looked up in `task_dir`) or a .yaml path. An --out
// that is a file is an InputError; a DIR that
// exists and holds files is refused unless `overwrite` (an InputError), and a task or split
// that cannot be loaded is an InputError naming it. Returns the files written.
std::vector<std::string> export_task(const std::string& task, const std::string& task_dir,
                                     const std::string& out_dir, bool overwrite);

}  // namespace strata::tasks
