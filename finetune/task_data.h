#pragma once
// A task file's documents as fine-tuning data (docs/architecture.md, "Tasks are the unit
// of work"): the task's training split gives the labelled examples, its test split the
// held-out score, through the same doc_to_text / doc_to_target / doc_to_choice as
// in-context evaluation.
//
//   data:
//     task: spam                 # a task name (configs/tasks) or a task YAML path
//     labels_per_class: 50       # stratified, seeded subset of the training split; 0: all
//     validation: 0.1            # share of those labels held out for validation; 0: none
//     max_length: 128            # tokens per example; longer texts lose their end
//     eval_batch_size: 64
//     test_limit: 0              # test documents scored (a fixed seeded sample); 0: all
//
// Two kinds of rows:
// - classification (a head over the task's choices): input = the tokens of doc_to_text
//   (BERT: after [CLS]), label = doc_to_target's index into doc_to_choice;
// - prompt-completion (a causal LM): doc_to_text and target_delimiter + the target text,
//   split into tokens as eval splits the pair (tasks::encode_pair: the context encoded
//   alone, the continuation what encoding both adds); the loss counts only the
//   continuation's tokens (every prompt position's target is -100), as the harness scores.

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/network.h"
#include "core/objectives.h"
#include "core/tokenizer.h"
#include "tasks/task.h"

namespace strata::finetune {

struct TaskDataOptions {
  std::string task;
  std::string task_dir = "configs/tasks";
  int64_t labels_per_class = 0;
  double validation = 0.0;
  int64_t max_length = 128;
  int64_t eval_batch_size = 64;
  int64_t test_limit = 0;
};
void read_options(config::Reader& r, TaskDataOptions& o);

// One example as text.
struct TextExample {
  std::string text;    // doc_to_text
  std::string target;  // target_delimiter + the target's text
  int64_t label = -1;  // index into the choices; -1 when the target names none
};

struct TaskExamples {
  std::vector<std::string> choices;  // the class names ("ham", "spam"); empty when free text
  std::vector<TextExample> train, validation, test;
};

// Splits example indices `index` (int64 [M], into `labels`) into (train, validation): the
// `fraction` of each class (rounded, at least one when the class has two or more) goes to
// validation, drawn with a generator seeded by `seed`. Both index lists come back sorted.
std::pair<torch::Tensor, torch::Tensor> carve_validation(const torch::Tensor& labels,
                                                         const torch::Tensor& index, int64_t num_classes,
                                                         double fraction, uint64_t seed);

// Reads the task's training and test splits, draws labels_per_class (stratified, seeded)
// and carves the validation share of each class from them. A task without a training
// split, or a labels_per_class on a task whose targets name no choice, is an InputError.
TaskExamples task_examples(const tasks::Task& task, const TaskDataOptions& o, uint64_t seed);

// The ids a classification row starts and ends with (-1: none).
struct Framing {
  int first = -1;  // BERT's [CLS]
  int last = -1;   // BERT's [SEP]
};
// How a base of model type `type` frames a text: a BERT starts with [CLS] when its tokenizer
// has one, and a BERT under a WordPiece vocabulary (a packaged BERT, pre-trained on
// "[CLS] text [SEP]") also ends with [SEP], as Hugging Face's BertTokenizer frames one text.
// A Strata-pre-trained BERT saw [CLS] only; a GPT or CNN gets no framing.
Framing framing(const Tokenizer& tokenizer, const std::string& type);

// Rows for a classification head: input [N, T] (padded with 0), attention_mask [N, T],
// target [N] (the labels). framing.first >= 0 is put first and framing.last >= 0 last, the
// text between cut so that the row fits max_length (as truncation=True does).
Batch classification_rows(const std::vector<TextExample>& examples, const Tokenizer& tokenizer,
                          int64_t max_length, Framing framing = {});

// Rows for prompt-completion training: input [N, T] = sequence[:-1], target [N, T] =
// sequence[1:] with the prompt's positions and the padding -100, attention_mask [N, T].
// A pair longer than max_length + 1 tokens loses the start of its prompt; a target alone
// longer than that is an InputError naming the example.
Batch prompt_completion_rows(const std::vector<TextExample>& examples, const Tokenizer& tokenizer,
                             int64_t max_length);

// Prompt-completion training: the causal LM loss over the target tokens only (the rows of
// prompt_completion_rows). Ranks weight their losses by their target-token counts.
class PromptCompletionObjective : public Objective {
 public:
  LossOutput compute(Network& model, const Batch& batch) override { return token_loss(model, batch); }
  const char* unit() const override { return "tokens"; }
  std::string name() const override { return "prompt_completion"; }
  bool uneven_counts() const override { return true; }
};

}  // namespace strata::finetune
