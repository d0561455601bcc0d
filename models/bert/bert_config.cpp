#include "models/bert/bert_config.h"

#include <fmt/format.h>

namespace strata::models {

BertOptions read_bert_options(config::Reader& r) {
  using config::Range;
  BertOptions o = bert_named_sizes().read(r, "bert-base");
  r.read("vocab_size", o.vocab_size(), Range::at_least(1));
  r.read("block_size", o.block_size(), Range::at_least(1));
  r.read("type_vocab_size", o.type_vocab_size(), Range::at_least(1));
  r.read("n_layer", o.n_layer(), Range::at_least(1));
  r.read("n_head", o.n_head(), Range::at_least(1));
  r.read("n_embd", o.n_embd(), Range::at_least(1));
  r.read("dropout", o.dropout(), Range::between(0.0, 1.0));
  r.read("layer_norm_eps", o.layer_norm_eps(), Range::positive());
  r.read_choice("activation", o.activation(), activation_names());
  r.read_choice("attn_implementation", o.attn_implementation(), attention_implementation_names());
  if (o.n_embd() % o.n_head() != 0) {
    r.fail("n_head", fmt::format("n_embd ({}) must be a multiple of n_head ({})", o.n_embd(),
                                 o.n_head()));
  }
  r.finish();
  return o;
}

void register_bert(NetworkRegistry& registry) {
  registry.add("bert", [](config::Reader& r) -> std::shared_ptr<Network> {
    return std::make_shared<BertImpl>(read_bert_options(r));
  });
}

}  // namespace strata::models
