#include "models/registry.h"

namespace strata::models {

// Each family's registration function, defined in its own folder.
// (Declared here rather than in a shared header so that a family is one folder.)
void register_gpt(NetworkRegistry& r);
void register_bert(NetworkRegistry& r);
void register_cnn(NetworkRegistry& r);

NetworkRegistry& networks() {
  static NetworkRegistry registry = [] {
    NetworkRegistry r("model type");
    register_gpt(r);
    register_bert(r);
    register_cnn(r);
    return r;
  }();
  return registry;
}

}  // namespace strata::models
