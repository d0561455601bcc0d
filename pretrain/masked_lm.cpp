#include "pretrain/masked_lm.h"

#include <algorithm>

#include "core/errors.h"
#include "core/hash.h"

namespace strata::pretrain {
namespace {

// A small counter-based generator: the n-th draw is splitmix64(seed + n).
class RowGenerator {
 public:
  explicit RowGenerator(uint64_t seed) : state_(seed) {}
  uint64_t bits() { return splitmix64(state_ += 0x9E3779B97F4A7C15ULL); }
  double uniform() { return double(bits() >> 11) * 0x1.0p-53; }  // [0, 1)
  uint64_t below(uint64_t n) { return bits() % n; }

 private:
  uint64_t state_;
};

// The seed of one row: the objective's seed and the row's own tokens (FNV-1a over them).
uint64_t row_seed(uint64_t seed, const int64_t* tokens, int64_t n) {
  uint64_t h = 0xcbf29ce484222325ULL ^ splitmix64(seed ^ 0x6d6c6d2d6d61736bULL);  // "mlm-mask"
  for (int64_t i = 0; i < n; ++i) {
    h ^= uint64_t(tokens[i]);
    h *= 0x100000001b3ULL;
  }
  return splitmix64(h);
}

}  // namespace

MaskedLMOptions masked_lm_options(const Tokenizer& tok, uint64_t seed, bool cls_first) {
  MaskedLMOptions o;
  o.vocab_size = tok.vocab_size();
  o.seed = seed;
  const int unk = tok.unk_id();
  auto symbol = [&](const char* piece) {
    const int id = tok.piece_to_id(piece);
    return id == unk ? -1 : int64_t(id);
  };
  o.mask_id = symbol("[MASK]");
  if (o.mask_id < 0) {
    throw InputError("tokenizer " + tok.path() +
                     " has no [MASK] symbol, which masked-LM pre-training needs (train it with "
                     "user_defined_symbols [MASK], [CLS], [SEP])");
  }
  for (int64_t id : {int64_t(unk), int64_t(tok.bos_id()), int64_t(tok.eos_id()),
                     int64_t(tok.pad_id()), o.mask_id, symbol("[CLS]"), symbol("[SEP]")}) {
    if (id >= 0 &&
        std::find(o.special_ids.begin(), o.special_ids.end(), id) == o.special_ids.end()) {
      o.special_ids.push_back(id);
    }
  }
  if (cls_first) {
    o.cls_id = symbol("[CLS]");
    if (o.cls_id < 0) throw InputError("tokenizer " + tok.path() + " has no [CLS] symbol");
  }
  return o;
}

Batch mask_tokens(const Batch& batch, const MaskedLMOptions& o) {
  TORCH_CHECK(batch.input.dim() == 2, "masked LM expects token ids [B, T]");
  TORCH_CHECK(o.vocab_size > 0 && o.mask_id >= 0 && o.mask_id < o.vocab_size,
              "masked LM options need vocab_size and a [MASK] id inside it");
  const auto device = batch.input.device();
  auto input = batch.input.to(torch::kCPU, torch::kLong).contiguous().clone();  // [B, T]
  auto target = torch::full_like(input, -100);                                  // [B, T]
  const int64_t B = input.size(0), T = input.size(1);

  std::vector<char> special(size_t(o.vocab_size), 0);
  for (int64_t id : o.special_ids) {
    if (id >= 0 && id < o.vocab_size) special[size_t(id)] = 1;
  }
  std::vector<int64_t> replacements;  // what a "random token" may be
  for (int64_t id = 0; id < o.vocab_size; ++id) {
    if (!special[size_t(id)]) replacements.push_back(id);
  }
  TORCH_CHECK(!replacements.empty(), "masked LM: every id of the vocabulary is special");

  int64_t* in = input.data_ptr<int64_t>();
  int64_t* tg = target.data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    int64_t* row = in + b * T;
    int64_t* row_target = tg + b * T;
    RowGenerator gen(row_seed(o.seed, row, T));
    if (o.cls_id >= 0 && T > 0) row[0] = o.cls_id;
    auto choosable = [&](int64_t t) {
      const int64_t id = row[t];
      return !(o.cls_id >= 0 && t == 0) && id >= 0 && id < o.vocab_size && !special[size_t(id)];
    };
    // Draw every position's chance first, so the choice does not depend on replacements.
    std::vector<double> u(static_cast<size_t>(T));
    int64_t chosen = 0, first_choice = -1;
    for (int64_t t = 0; t < T; ++t) {
      u[size_t(t)] = gen.uniform();
      if (!choosable(t)) continue;
      if (first_choice < 0 || u[size_t(t)] < u[size_t(first_choice)]) first_choice = t;
      if (u[size_t(t)] < o.mask_prob) ++chosen;
    }
    for (int64_t t = 0; t < T; ++t) {
      const bool chosen_here =
          choosable(t) && (u[size_t(t)] < o.mask_prob || (chosen == 0 && t == first_choice));
      if (!chosen_here) continue;
      row_target[t] = row[t];
      const double action = gen.uniform();
      if (action < o.mask_token_prob) {
        row[t] = o.mask_id;
      } else if (action < o.mask_token_prob + o.random_token_prob) {
        row[t] = replacements[size_t(gen.below(replacements.size()))];
      }  // else kept as it is
    }
  }
  return Batch{input.to(device), target.to(device), batch.segment, batch.attention_mask};
}

MaskedLMObjective::MaskedLMObjective(MaskedLMOptions options) : options_(std::move(options)) {
  if (options_.mask_prob <= 0 || options_.mask_prob > 1 || options_.mask_token_prob < 0 ||
      options_.random_token_prob < 0 || options_.mask_token_prob + options_.random_token_prob > 1) {
    throw InputError(
        "masked LM probabilities must satisfy 0 < mask_prob <= 1 and "
        "mask_token_prob + random_token_prob <= 1");
  }
}

LossOutput MaskedLMObjective::compute(Network& model, const Batch& batch) {
  // Network::loss: BERT runs its MLM head on the chosen positions only.
  return token_loss(model, mask_tokens(batch, options_));
}

}  // namespace strata::pretrain
