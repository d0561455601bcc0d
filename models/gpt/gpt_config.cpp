#include "models/gpt/gpt_config.h"

#include <fmt/format.h>

namespace strata::models {

GPTOptions read_gpt_options(config::Reader& r) {
  using config::Range;
  GPTOptions o = gpt_named_sizes().read(r, "gpt2");
  r.read("vocab_size", o.vocab_size(), Range::at_least(1));
  r.read("block_size", o.block_size(), Range::at_least(1));
  r.read("n_layer", o.n_layer(), Range::at_least(1));
  r.read("n_head", o.n_head(), Range::at_least(1));
  r.read("n_embd", o.n_embd(), Range::at_least(1));
  r.read("dropout", o.dropout(), Range::between(0.0, 1.0));
  r.read("bias", o.bias());
  r.read_choice("activation", o.activation(), activation_names());
  r.read_choice("attn_implementation", o.attn_implementation(), attention_implementation_names());
  r.read("layer_norm_eps", o.layer_norm_eps(), Range::positive());
  if (o.n_embd() % o.n_head() != 0) {
    r.fail("n_head", fmt::format("n_embd ({}) must be a multiple of n_head ({})", o.n_embd(),
                                 o.n_head()));
  }
  r.finish();
  return o;
}

void register_gpt(NetworkRegistry& registry) {
  registry.add("gpt", [](config::Reader& r) -> std::shared_ptr<Network> {
    return std::make_shared<GPTImpl>(read_gpt_options(r));
  });
}

}  // namespace strata::models
