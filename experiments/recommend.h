#pragma once
// `strata recommend`: the design notes' choose_approach(task_complexity, data_availability,
// time_constraint), its rules read as data from configs/ladder/recommend.yaml. With a
// ladder's run directory, also what that ladder measured for the same data and time.

#include <string>

namespace strata::experiments {

struct RecommendQuery {
  std::string data;        // none | limited | abundant | structured
  std::string time;        // immediate | moderate | relaxed
  std::string task;        // simple | specific | complex
  std::string rules_file;  // "": configs/ladder/recommend.yaml, searched upwards from the
                           //   working directory
  std::string ladder_dir;  // "": none; else a `strata ladder` out_dir (its ladder.json)
};

struct Recommendation {
  int stage = 0;          // the notes' stage, 1-5
  std::string approach;   // the stage's approach
  std::string why;        // the rule's reason
  std::string start;      // the command and config that start it
  int rule = 0;           // the rule that held, 1-based, in file order
  // With a ladder: the stage its measurements pick for this data and time (0: none could
  // be picked), the row and the measurement behind it, and whether it is the notes' stage.
  int measured_stage = 0;
  std::string measured;  // "stage 4 (GPT tiny pre-trained): acc 0.9412 with 100 labels/class"
  bool agrees = true;
};

// Applies the rules. A value not among the file's `values`, a missing or malformed rules
// file, or a ladder directory without ladder.json: InputError naming it.
Recommendation recommend(const RecommendQuery& q);

// What `strata recommend` prints: stage, why, how to start it, and the ladder's view.
std::string describe(const Recommendation& r, const RecommendQuery& q);

}  // namespace strata::experiments
