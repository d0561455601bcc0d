#pragma once
// The config layer of the BERT family: the `model:` section into BertOptions, and the
// registration of `type: bert` into models::networks().

#include "core/config.h"
#include "models/bert/bert.h"
#include "models/registry.h"

namespace strata::models {

// Reads the model section: `size:` (a named size, default bert-base) picks the starting
// point, then any of vocab_size, block_size, type_vocab_size, n_layer, n_head, n_embd,
// dropout, layer_norm_eps, activation (gelu | gelu_new) override it. Refuses unknown keys
// and n_embd not divisible by n_head.
BertOptions read_bert_options(config::Reader& r);

// Registers `bert`.
void register_bert(NetworkRegistry& registry);

}  // namespace strata::models
