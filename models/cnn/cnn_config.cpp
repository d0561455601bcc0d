#include "models/cnn/cnn_config.h"

#include <fmt/format.h>

namespace strata::models {

CNNOptions read_cnn_options(config::Reader& r) {
  using config::Range;
  CNNOptions o = cnn_named_sizes().read(r, "keras");
  r.read("in_channels", o.in_channels(), Range::at_least(1));
  r.read("image_size", o.image_size(), Range::at_least(1));
  r.read("num_classes", o.num_classes(), Range::at_least(2));
  r.read("channels", o.channels());  // a new length needs a matching `pool`
  r.read("kernel_size", o.kernel_size(), Range::at_least(1));
  r.read_enum("padding", o.padding(), {{"valid", Padding::kValid}, {"same", Padding::kSame}});
  r.read("pool", o.pool());
  r.read("batch_norm", o.batch_norm());
  r.read("dense", o.dense());
  r.read("dropout", o.dropout(), Range::between(0.0, 1.0));

  const size_t blocks = o.channels().size();
  if (blocks == 0) r.fail("channels", "must list at least one conv block");
  for (int64_t c : o.channels()) {
    if (c < 1) r.fail("channels", fmt::format("must be >= 1 each, got {}", c));
  }
  for (int64_t d : o.dense()) {
    if (d < 1) r.fail("dense", fmt::format("must be >= 1 each, got {}", d));
  }
  if (o.pool().size() == 1 && blocks > 1) o.pool(std::vector<int64_t>(blocks, o.pool()[0]));
  if (o.pool().size() != blocks) {
    r.fail("pool", fmt::format("needs one value per conv block ({}) or a single value, got {}",
                               blocks, o.pool().size()));
  }
  for (int64_t p : o.pool()) {
    if (p < 1 || p > 15) r.fail("pool", fmt::format("must be 1 (none) to 15 each, got {}", p));
  }
  if (o.padding() == Padding::kSame && o.kernel_size() % 2 == 0) {
    r.fail("padding", fmt::format("'same' needs an odd kernel_size, got {}", o.kernel_size()));
  }
  const auto sizes = cnn_spatial_sizes(o);
  for (size_t i = 1; i < sizes.size(); ++i) {
    if (sizes[i] < 1) {
      r.fail("image_size", fmt::format("{} is too small: nothing is left after conv block {} "
                                       "(kernel_size {}, pool {})",
                                       o.image_size(), i, o.kernel_size(), o.pool()[i - 1]));
    }
  }
  r.finish();
  return o;
}

void register_cnn(NetworkRegistry& registry) {
  registry.add("cnn", [](config::Reader& r) -> std::shared_ptr<Network> {
    return std::make_shared<CNNImpl>(read_cnn_options(r));
  });
}

}  // namespace strata::models
