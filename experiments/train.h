#pragma once
// `strata train CONFIG [key=value ...]`: fits whatever the config's `model` is.

#include <string>
#include <vector>

namespace strata::experiments {

// Runs the config; writes the run directory and results.json. Bad input is an InputError.
void train(const std::string& config_path, const std::vector<std::string>& overrides);

}  // namespace strata::experiments
