#pragma once
// The model zoo's registry: `model.type` names -> factories.
//
// Each family registers itself from its own folder (`register_cnn`, `register_gpt`, ...);
// register_models() calls them all, once. A factory reads the family's typed Options from
// the config section (the config layer) and builds the Network; model code itself never
// sees the config.

#include <memory>

#include "core/config.h"
#include "core/network.h"
#include "core/registry.h"

namespace strata::models {

using NetworkRegistry = Registry<std::shared_ptr<Network>(config::Reader&)>;

// The neural families (cnn, gpt, bert, ...). Idempotent registration on first use.
NetworkRegistry& networks();

}  // namespace strata::models
