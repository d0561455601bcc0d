#pragma once
// Hugging Face GPT-2 and BERT checkpoints, both ways: a directory holding config.json and
// model.safetensors read into Strata's parameter names and layouts, and a Strata GPT or
// BERT written out as such a directory.
//
// GPT-2 (GPT2LMHeadModel; GPT2Model's files, which lack the `transformer.` prefix, too).
// The names are Strata's GPT's (nanoGPT's), but the four projections c_attn, attn.c_proj,
// c_fc and mlp.c_proj are Conv1D layers storing their weight [in, out], the transpose of
// Strata's nn::Linear [out, in]; they are transposed on the way in and out.
// lm_head.weight is tied to transformer.wte.weight: it may be in the file, and must then
// equal wte. The attn.bias / attn.masked_bias buffers of older files are ignored.
// config.json: model_type "gpt2", vocab_size, n_positions (or n_ctx), n_embd, n_layer,
// n_head, activation_function ("gelu_new", the default; "gelu_pytorch_tanh", the same
// function; "gelu"), layer_norm_epsilon (default 1e-5); n_inner, when set, must be 4 n_embd.
// A Strata GPT with `bias: false` has no GPT-2 layout (GPT-2 always has biases).
//
// BERT (BertForMaskedLM, BertForPreTraining). Strata's BERT uses Hugging Face's names
// (models/bert/bert.h). Files may also hold cls.predictions.decoder.weight (must equal
// the word embeddings, to which Strata ties the decoder), cls.predictions.decoder.bias
// (must equal cls.predictions.bias, or stands in for it when that is absent), the
// bert.embeddings.position_ids / token_type_ids buffers and the next-sentence head
// cls.seq_relationship.*: these are dropped, and a log line names them. LayerNorm
// parameters named gamma / beta (older files) are read as weight / bias.
// config.json: model_type "bert", vocab_size, hidden_size, num_hidden_layers,
// num_attention_heads, intermediate_size (must be 4 hidden_size), max_position_embeddings,
// type_vocab_size (default 2), hidden_act ("gelu", the default, or "gelu_new"),
// layer_norm_eps (default 1e-12).
//
// A missing or misshapen tensor, a tensor neither family has, a missing or malformed
// config key, an unknown model_type or activation: an InputError naming the file and the
// tensor or key. Tensors keep the file's dtype (float32, bfloat16 or float16;
// load_model_tensors converts on copy). A sharded checkpoint (save_pretrained with
// max_shard_size: model.safetensors.index.json and its weight_map's shards) reads as one;
// a shard that is missing, a tensor missing from its shard or in two shards is an
// InputError naming the index.

#include <memory>
#include <string>

#include "core/network.h"
#include "core/safetensors.h"
#include "models/load.h"

namespace strata::models {

// A Hugging Face GPT-2 or BERT directory read into Strata's names and layouts.
struct HFCheckpoint {
  std::string model_type;  // "gpt" | "bert" (Strata's model.type)
  // Strata's model section as YAML ("type: gpt\nvocab_size: 50257\n..."): every size,
  // activation, layer_norm_eps, bias (gpt), and the checkpoint's dropout (resid_pdrop or
  // hidden_dropout_prob; Hugging Face's default 0.1), which fine-tuning keeps.
  std::string model_yaml;
  NamedTensors tensors;  // Strata's parameter names and layouts
  std::string dir;
};

// A directory with Hugging Face weights (model.safetensors or its index) and no config.json
// (nor anything of a Strata checkpoint): an InputError naming the missing config.json.
void refuse_hf_dir_without_config(const std::string& dir);

// True when `dir` holds config.json and model.safetensors, or the shards' index
// model.safetensors.index.json, and no config.yaml (a Strata checkpoint has config.yaml).
bool is_hf_dir(const std::string& dir);

HFCheckpoint read_hf(const std::string& dir);

// Builds the network `hf` describes through the model registry (models::networks(), from
// model_yaml) and fills it with hf.tensors (load_model_tensors). On CPU, in training mode.
std::shared_ptr<Network> make_network(const HFCheckpoint& hf);

// read_hf + make_network, moved to `device` and in eval mode, as models::load_network
// returns a Strata checkpoint: type "gpt" or "bert", checkpoint_dir = dir, tokenizer_path
// = dir/tokenizer.model or dir/vocab.txt (a BERT's WordPiece vocabulary) when present
// (Hugging Face's own tokenizer.json is not read).
models::LoadedNetwork load_hf(const std::string& dir, const torch::Device& device);

// Writes config.json (+ model.safetensors) in Hugging Face's layout for a Strata GPT
// (GPT2LMHeadModel) or BERT (BertForMaskedLM / BertForPreTraining naming), and copies
// `tokenizer_path` beside them when not empty: a SentencePiece model as tokenizer.model,
// with tokenizer.json and tokenizer_config.json for transformers' AutoTokenizer when it is
// a BPE model (core/tokenizer_hf.h; otherwise a warning says none was written); a WordPiece
// vocab.txt as vocab.txt with a BertTokenizer tokenizer_config.json.
// Creates out_dir as needed and replaces files of those names; each is written to a
// temporary name and renamed into place. The tied tensors (lm_head.weight,
// cls.predictions.decoder.*) are left out, as Hugging Face's own save_pretrained does.
// Any other model is an InputError.
void write_hf(Network& model, const std::string& out_dir, const std::string& tokenizer_path);

}  // namespace strata::models
