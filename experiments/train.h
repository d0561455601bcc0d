#pragma once
// `strata train CONFIG [key=value ...]`: fits whatever the config's `model` is. Neural
// models are trained by core's Trainer; classical learners are fitted and rules scored
// (experiments/classical). All write the same run directory and results.json.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/config.h"

namespace strata::experiments {

// Runs the config; returns results.json's content. Bad input is an InputError, raised
// before anything in out_dir is touched.
nlohmann::json train_document(const config::Document& doc);

void train(const std::string& config_path, const std::vector<std::string>& overrides);

}  // namespace strata::experiments
