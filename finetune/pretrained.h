#pragma once
// from_pretrained: a pre-trained checkpoint's weights into a model with a new head, matched
// by parameter name (Hugging Face's from_pretrained, with its silent cases made errors).
//
//   init:
//     from: runs/gpt-sotu        # a Strata checkpoint or run directory, or a Hugging Face
//                                # GPT-2 / BERT directory (models/hf.h)
//     tokenizer: m.model         # a SentencePiece model (or WordPiece vocab.txt) to use
//                                # instead of the checkpoint's: refused when it differs from
//                                # the checkpoint's own, or (a Hugging Face directory with
//                                # none) when its size is not the embedding's rows, unless
//     tokenizer_mismatch: refuse #   allow; one larger than the embedding is always refused
//     pretrained: true           # false: the same architecture and tokenizer, fresh weights
//     ignore: ["transformer.wpe.*"]   # name patterns allowed to be missing, unexpected or
//                                     # of another shape (they keep their fresh values)
//
// The architecture is the checkpoint's own (its config.yaml's model section); the
// fine-tuning config's `model:` section may change only what does not change a weight's
// shape (dropout).

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/network.h"
#include "core/safetensors.h"

namespace strata::finetune {

struct InitOptions {
  std::string from;
  bool pretrained = true;
  std::vector<std::string> ignore;  // fnmatch patterns over parameter names
  std::string tokenizer;            // a SentencePiece model or vocab.txt; "": the checkpoint's own
  bool allow_tokenizer_mismatch = false;  // tokenizer_mismatch: allow
};
// `init:`; finishes the section. `from` is required.
void read_options(config::Reader r, InitOptions& o);

// The base network of a checkpoint, built but not yet filled.
struct PretrainedBase {
  std::shared_ptr<Network> network;
  std::string type;            // model.type
  std::string checkpoint_dir;  // the resolved checkpoint
  std::string tokenizer_path;  // its tokenizer.model or vocab.txt, or "" when it has none
  NamedTensors tensors;        // its weights (model.safetensors)
};

// Resolves `o.from` (a checkpoint or run directory; missing or damaged files are
// InputErrors naming them) and builds its model section, with `model_overrides`
// ("dropout=0.1", relative to the model section) applied, seeded with `seed`.
PretrainedBase load_base(const InitOptions& o, const std::vector<std::string>& model_overrides,
                         uint64_t seed);

// Refuses (InputError) a text tokenizer that does not fit `base`: an init.tokenizer other
// than the checkpoint's own (their files differ: the ids do), or, for a checkpoint with no
// tokenizer of its own, one whose size is not the embedding's rows, unless
// o.allow_tokenizer_mismatch; and always one with more pieces than the embedding has rows.
void check_tokenizer(const InitOptions& o, const PretrainedBase& base);

// What load_by_name did, by parameter name.
struct LoadReport {
  std::vector<std::string> loaded;   // copied from the checkpoint
  std::vector<std::string> fresh;    // under a new prefix (the head): initialised here
  std::vector<std::string> ignored;  // matched init.ignore: kept fresh, or not loaded
  std::vector<std::string> dropped;  // in the checkpoint under a part the model left out
};

// Copies `tensors` into `model`'s parameters and buffers by name. A model tensor under one
// of `new_prefixes` starts fresh. A checkpoint tensor under one of `dropped_prefixes`
// (parts of the base the new model leaves out, such as BERT's masked-LM head) is skipped.
// Any other tensor missing from the checkpoint, present only in it, or of another shape
// is an InputError naming it and `where`, unless it matches a pattern of `ignore`.
LoadReport load_by_name(torch::nn::Module& model, const NamedTensors& tensors,
                        const std::vector<std::string>& new_prefixes,
                        const std::vector<std::string>& dropped_prefixes,
                        const std::vector<std::string>& ignore, const std::string& where);

// Logs the report: counts, the new and ignored names, and what was dropped.
void log_report(const LoadReport& report, const std::string& source);

}  // namespace strata::finetune
