// `strata tokenizer train|encode|decode`: SentencePiece models from the command line, with
// the trainer's own flag names (vocab_size -> --vocab-size).

#include <glob.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/errors.h"
#include "core/tokenizer.h"

namespace strata::cli {
namespace {

// Lines read from stdin per encode_batch call: enough to keep every core busy, few enough
// that output starts before a large input has been read.
constexpr size_t kLinesPerBatch = 4096;

// Expands the patterns that name no existing file itself (so a quoted "data/*.txt" works
// too); glob(3) returns matches sorted, so the order of training files is stable.
std::vector<std::string> expand_inputs(const std::vector<std::string>& patterns) {
  std::vector<std::string> files;
  for (const auto& pattern : patterns) {
    std::error_code ec;
    if (pattern.find_first_of("*?[") == std::string::npos || std::filesystem::exists(pattern, ec)) {
      files.push_back(pattern);
      continue;
    }
    glob_t matches{};
    int rc = glob(pattern.c_str(), 0, nullptr, &matches);
    if (rc == 0) {
      for (size_t i = 0; i < matches.gl_pathc; ++i) files.emplace_back(matches.gl_pathv[i]);
    }
    globfree(&matches);
    if (rc != 0) throw InputError("--input: no file matches " + pattern);
  }
  return files;
}

std::vector<std::string> split_commas(const std::string& list) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= list.size() && !list.empty()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    items.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return items;
}

// Ids on one line, separated by whitespace. `where` names the line in errors.
std::vector<int> parse_ids(const std::string& line, const std::string& where) {
  std::vector<int> ids;
  size_t pos = 0;
  while ((pos = line.find_first_not_of(" \t\r", pos)) != std::string::npos) {
    size_t end = line.find_first_of(" \t\r", pos);
    std::string token = line.substr(pos, end == std::string::npos ? end : end - pos);
    size_t used = 0;
    int id = 0;
    try {
      id = std::stoi(token, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != token.size()) throw InputError(where + ": '" + token + "' is not an integer id");
    ids.push_back(id);
    pos = end;
  }
  return ids;
}

template <typename T>
void print_joined(const std::vector<T>& items) {
  for (size_t i = 0; i < items.size(); ++i) std::cout << (i ? " " : "") << items[i];
  std::cout << '\n';
}

// --- train ---------------------------------------------------------------------------------

struct TrainArgs {
  std::vector<std::string> inputs;
  std::string model_prefix;
  std::string user_defined_symbols;
  std::string control_symbols;
  TokenizerTrainOptions options;
};

void run_train(const TrainArgs& args) {
  auto files = expand_inputs(args.inputs);
  TokenizerTrainOptions options = args.options;
  options.user_defined_symbols = split_commas(args.user_defined_symbols);
  options.control_symbols = split_commas(args.control_symbols);
  Tokenizer::train(files, args.model_prefix, options);
  auto tokenizer = Tokenizer::load(args.model_prefix + ".model");
  std::cout << "wrote " << args.model_prefix << ".model and " << args.model_prefix
            << ".vocab: " << options.model_type << ", " << tokenizer.vocab_size()
            << " pieces, from " << files.size() << " file(s)\n";
}

void add_train(CLI::App& parent) {
  auto* cmd =
      parent.add_subcommand("train",
                            "Train a SentencePiece model on the lines of text files; writes "
                            "PREFIX.model and PREFIX.vocab");
  auto args = std::make_shared<TrainArgs>();
  TokenizerTrainOptions& o = args->options;
  cmd->add_option("--input", args->inputs,
                  "Text files, one sentence or document per line "
                  "(globs such as 'data/*.txt' are expanded)")
      ->required()
      ->expected(1, -1);
  cmd->add_option("--model-prefix", args->model_prefix,
                  "Output path without extension (directories are created)")
      ->required();
  cmd->add_option("--vocab-size", o.vocab_size, "Number of pieces")->required();
  cmd->add_option("--model-type", o.model_type, "Segmentation algorithm")
      ->check(CLI::IsMember({"bpe", "unigram", "char", "word"}))
      ->capture_default_str();
  cmd->add_option("--character-coverage", o.character_coverage,
                  "Share of characters the model covers; the rest become <unk> "
                  "(1.0 for small alphabets)")
      ->capture_default_str();
  cmd->add_option("--user-defined-symbols", args->user_defined_symbols,
                  "Comma-separated pieces always kept whole, e.g. [MASK],[CLS],[SEP]");
  cmd->add_option("--control-symbols", args->control_symbols,
                  "Comma-separated reserved pieces never produced from text");
  cmd->add_option("--unk-id", o.unk_id, "Id of <unk>")->capture_default_str();
  cmd->add_option("--bos-id", o.bos_id, "Id of <s> (-1: none)")->capture_default_str();
  cmd->add_option("--eos-id", o.eos_id, "Id of </s> (-1: none)")->capture_default_str();
  cmd->add_option("--pad-id", o.pad_id, "Id of <pad> (-1: none)")->capture_default_str();
  cmd->add_option("--input-sentence-size", o.input_sentence_size,
                  "Lines sampled for training (0: all)")
      ->capture_default_str();
  cmd->add_option("--max-sentence-length", o.max_sentence_length,
                  "Longer lines are cut at whitespace into pieces of at most this many bytes")
      ->capture_default_str();
  cmd->add_option("--num-threads", o.num_threads, "Training threads (0: every usable core)")
      ->capture_default_str();
  cmd->add_option("--normalization-rule-name", o.normalization_rule_name,
                  "nmt_nfkc, nfkc, nmt_nfkc_cf, nfkc_cf or identity (identity keeps "
                  "decode(encode(text)) == text)")
      ->capture_default_str();
  cmd->add_flag("--remove-extra-whitespaces,!--keep-extra-whitespaces", o.remove_extra_whitespaces,
                "Collapse runs of whitespace (default: on)");
  cmd->add_flag("--add-dummy-prefix,!--no-dummy-prefix", o.add_dummy_prefix,
                "Prefix each text with a space so a word encodes alike everywhere (default: on)");
  cmd->add_flag("--shuffle-input-sentence,!--no-shuffle-input-sentence", o.shuffle_input_sentence,
                "Sample the --input-sentence-size lines from the whole input, not the first "
                "ones (default: on)");
  cmd->add_flag("--hard-vocab-limit,!--soft-vocab-limit", o.hard_vocab_limit,
                "Fail when the corpus cannot fill --vocab-size (default: on)");
  cmd->add_flag("--split-digits", o.split_digits, "Every digit its own piece");
  cmd->add_flag("--byte-fallback", o.byte_fallback,
                "Unknown characters become UTF-8 byte pieces instead of <unk>");
  cmd->add_flag("--verbose", o.verbose, "Print SentencePiece's training log");
  cmd->callback([args] { run_train(*args); });
}

// --- encode --------------------------------------------------------------------------------

struct EncodeArgs {
  std::string model;
  std::string text;
  bool has_text = false;
  bool pieces = false;
  int threads = 0;
};

void run_encode(const EncodeArgs& args) {
  auto tokenizer = Tokenizer::load(args.model);
  if (args.has_text) {
    if (args.pieces) {
      print_joined(tokenizer.encode_pieces(args.text));
    } else {
      print_joined(tokenizer.encode(args.text));
    }
    return;
  }
  std::vector<std::string> lines;
  auto flush = [&] {
    if (args.pieces) {
      for (const auto& line : lines) print_joined(tokenizer.encode_pieces(line));
    } else {
      for (const auto& ids : tokenizer.encode_batch(lines, args.threads)) print_joined(ids);
    }
    lines.clear();
  };
  std::string line;
  while (std::getline(std::cin, line)) {
    lines.push_back(std::move(line));
    if (lines.size() == kLinesPerBatch) flush();
  }
  flush();
}

void add_encode(CLI::App& parent) {
  auto* cmd = parent.add_subcommand(
      "encode",
      "Print the ids of a text, or of each line of stdin, space-separated, one "
      "line per input line");
  auto args = std::make_shared<EncodeArgs>();
  cmd->add_option("--model", args->model, "A SentencePiece .model file")->required();
  auto* text = cmd->add_option("--text", args->text, "Text to encode (default: stdin lines)");
  cmd->add_flag("--pieces", args->pieces, "Print pieces instead of ids");
  cmd->add_option("--threads", args->threads, "Encoding threads (0: every usable core)")
      ->capture_default_str();
  cmd->callback([args, text] {
    args->has_text = text->count() > 0;
    run_encode(*args);
  });
}

// --- decode --------------------------------------------------------------------------------

struct DecodeArgs {
  std::string model;
  std::string ids;
  bool has_ids = false;
};

void run_decode(const DecodeArgs& args) {
  auto tokenizer = Tokenizer::load(args.model);
  auto decode_line = [&](const std::string& line, const std::string& where) {
    auto ids = parse_ids(line, where);
    try {
      std::cout << tokenizer.decode(ids) << '\n';
    } catch (const InputError& e) {
      throw InputError(where + ": " + e.what());
    }
  };
  if (args.has_ids) {
    decode_line(args.ids, "--ids");
    return;
  }
  std::string line;
  for (size_t number = 1; std::getline(std::cin, line); ++number) {
    decode_line(line, "stdin line " + std::to_string(number));
  }
}

void add_decode(CLI::App& parent) {
  auto* cmd = parent.add_subcommand(
      "decode", "Print the text of space-separated ids, from --ids or from each line of stdin");
  auto args = std::make_shared<DecodeArgs>();
  cmd->add_option("--model", args->model, "A SentencePiece .model file")->required();
  auto* ids = cmd->add_option("--ids", args->ids,
                              "Ids to decode, e.g. \"12 7 301\" "
                              "(default: stdin lines)");
  cmd->callback([args, ids] {
    args->has_ids = ids->count() > 0;
    run_decode(*args);
  });
}

}  // namespace

void add_tokenizer_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenizer", "Train SentencePiece models; encode and decode");
  cmd->require_subcommand(1);
  add_train(*cmd);
  add_encode(*cmd);
  add_decode(*cmd);
}

}  // namespace strata::cli
