#pragma once
// The config layer of the GPT family: the `model:` section into GPTOptions, and the
// registration of `type: gpt` into models::networks().

#include "core/config.h"
#include "models/gpt/gpt.h"
#include "models/registry.h"

namespace strata::models {

// Reads the model section: `size:` (a named size, default gpt2) picks the starting point,
// then any of vocab_size, block_size, n_layer, n_head, n_embd, dropout, bias, activation
// (gelu | gelu_new), layer_norm_eps override it.
// Refuses unknown keys (Reader::finish) and n_embd not divisible by n_head.
GPTOptions read_gpt_options(config::Reader& r);

// Registers `gpt`.
void register_gpt(NetworkRegistry& registry);

}  // namespace strata::models
