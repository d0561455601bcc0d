#include "core/network.h"

namespace strata {

std::vector<SummaryRow> Network::summary() {
  std::vector<SummaryRow> rows;
  for (const auto& child : named_children()) {
    SummaryRow row;
    row.name = child.key();
    row.type = child.value()->name();
    for (const auto& p : child.value()->parameters()) {
      row.params += p.numel();
      if (p.requires_grad()) row.trainable += p.numel();
    }
    rows.push_back(row);
  }
  return rows;
}

}  // namespace strata
