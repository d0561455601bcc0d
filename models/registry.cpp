#include "models/registry.h"

namespace strata::models {

// Each family's registration function, defined in its own folder.
// (Declared here rather than in a shared header so that a family is one folder.)

NetworkRegistry& networks() {
  static NetworkRegistry registry = [] {
    NetworkRegistry r("model type");
    return r;
  }();
  return registry;
}

}  // namespace strata::models
