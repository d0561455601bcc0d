#pragma once
// A SentencePiece BPE model as Hugging Face's fast tokenizer files, so that
// transformers' AutoTokenizer.from_pretrained(dir) gives the ids Strata's Tokenizer gives.
//
// tokenizer.json (the `tokenizers` library's serialisation) is built from the .model file's
// own ModelProto (SentencePiece's sentencepiece_model.proto, read field by field):
// - normalizer: the model's own precompiled character map (tokenizers' `Precompiled`, the
//   same table SentencePiece applies; NFKC and, under the default nmt_nfkc rule, newlines
//   and tabs to spaces), then what remove_extra_whitespaces, add_dummy_prefix and
//   escape_whitespaces do (collapse and strip spaces, prepend "▁", spaces to "▁");
// - pre-tokenizer: split before each "▁" (SentencePiece's pieces never cross one when
//   trained with split_by_whitespace, its default);
// - model: BPE over the model's vocabulary, each piece keeping its id, and merges ranked by
//   the merged piece's score, highest first (SentencePiece's BPE merges the adjacent pair
//   whose union scores highest); unknown characters go to <unk> (fused) or, with
//   byte_fallback, to the <0xXX> byte pieces;
// - decoder: <unk> to " ⁇ " (SentencePiece's unk_surface), "▁" to space, byte pieces to
//   bytes, the dummy prefix's space dropped.
// This is the generic SpmConverter's approach (transformers' convert_slow_tokenizer.py),
// not LlamaConverter's, which replaces the model's normalizer with its own
// (../shared/LIBTORCH2.md, section 5).
//
// tokenizer_config.json names PreTrainedTokenizerFast, the unk/bos/eos pieces, and
// add_bos_token / add_eos_token false: Strata scores and trains on the text's ids alone.
//
// Known differences: user-defined symbols (e.g. [MASK]) written in the text are matched as
// added tokens by tokenizers before normalisation, and control pieces (<s>, </s>) written
// literally in the text are matched too, where SentencePiece splits them into characters.

#include <string>

namespace strata {

// tokenizer.json for the SentencePiece model at `model_path`. A file that is not a
// SentencePiece model, a model that is not BPE, or one trained with
// treat_whitespace_as_suffix or without split_by_whitespace is an InputError naming it.
std::string hf_tokenizer_json(const std::string& model_path);

// tokenizer_config.json for the same model; `model_max_length` is the network's context.
std::string hf_tokenizer_config_json(const std::string& model_path, int64_t model_max_length);

}  // namespace strata
