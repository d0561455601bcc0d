#include "experiments/train.h"

#include "core/errors.h"

namespace strata::experiments {

void train(const std::string& config_path, const std::vector<std::string>& overrides) {
  (void)config_path;
  (void)overrides;
  throw InputError("train: not built yet");
}

}  // namespace strata::experiments
