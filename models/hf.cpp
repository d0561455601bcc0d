#include "models/hf.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/errors.h"
#include "core/json_input.h"
#include "core/log.h"
#include "core/tokenizer.h"
#include "core/tokenizer_hf.h"
#include "core/trainer.h"
#include "models/bert/bert.h"
#include "models/gpt/gpt.h"
#include "models/registry.h"

namespace strata::models {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Shape = std::vector<int64_t>;

// ---------------------------------------------------------------------------------------
// The name tables: one row per tensor of a Strata model, with its Hugging Face name and
// the shape it has in Hugging Face's file. Reading and writing both walk these.

struct TensorName {
  std::string strata;
  std::string hf;
  Shape hf_shape;
  bool transposed = false;  // a GPT-2 Conv1D weight: [in, out] there, [out, in] here
};

// `prefix` is "transformer." for GPT2LMHeadModel's files and "" for GPT2Model's.
std::vector<TensorName> gpt2_names(const models::GPTOptions& o, const std::string& prefix) {
  const int64_t C = o.n_embd();
  std::vector<TensorName> rows;
  auto add = [&](const std::string& name, Shape hf_shape, bool transposed = false) {
    rows.push_back({"transformer." + name, prefix + name, std::move(hf_shape), transposed});
  };
  add("wte.weight", {o.vocab_size(), C});
  add("wpe.weight", {o.block_size(), C});
  for (int64_t i = 0; i < o.n_layer(); ++i) {
    const std::string h = fmt::format("h.{}.", i);
    add(h + "ln_1.weight", {C});
    add(h + "ln_1.bias", {C});
    add(h + "attn.c_attn.weight", {C, 3 * C}, true);
    add(h + "attn.c_attn.bias", {3 * C});
    add(h + "attn.c_proj.weight", {C, C}, true);
    add(h + "attn.c_proj.bias", {C});
    add(h + "ln_2.weight", {C});
    add(h + "ln_2.bias", {C});
    add(h + "mlp.c_fc.weight", {C, 4 * C}, true);
    add(h + "mlp.c_fc.bias", {4 * C});
    add(h + "mlp.c_proj.weight", {4 * C, C}, true);
    add(h + "mlp.c_proj.bias", {C});
  }
  add("ln_f.weight", {C});
  add("ln_f.bias", {C});
  return rows;
}

std::vector<TensorName> bert_names(const models::BertOptions& o) {
  const int64_t C = o.n_embd();
  std::vector<TensorName> rows;
  auto add = [&](const std::string& name, Shape shape) { rows.push_back({name, name, shape}); };
  auto linear = [&](const std::string& name, int64_t in, int64_t out) {
    add(name + ".weight", {out, in});
    add(name + ".bias", {out});
  };
  auto norm = [&](const std::string& name) {
    add(name + ".weight", {C});
    add(name + ".bias", {C});
  };
  add("bert.embeddings.word_embeddings.weight", {o.vocab_size(), C});
  add("bert.embeddings.position_embeddings.weight", {o.block_size(), C});
  add("bert.embeddings.token_type_embeddings.weight", {o.type_vocab_size(), C});
  norm("bert.embeddings.LayerNorm");
  for (int64_t i = 0; i < o.n_layer(); ++i) {
    const std::string l = fmt::format("bert.encoder.layer.{}.", i);
    linear(l + "attention.self.query", C, C);
    linear(l + "attention.self.key", C, C);
    linear(l + "attention.self.value", C, C);
    linear(l + "attention.output.dense", C, C);
    norm(l + "attention.output.LayerNorm");
    linear(l + "intermediate.dense", C, 4 * C);
    linear(l + "output.dense", 4 * C, C);
    norm(l + "output.LayerNorm");
  }
  linear("bert.pooler.dense", C, C);
  linear("cls.predictions.transform.dense", C, C);
  norm("cls.predictions.transform.LayerNorm");
  add("cls.predictions.bias", {o.vocab_size()});
  return rows;
}

std::string shape_text(torch::IntArrayRef shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

// "h.11.attn.bias" -> "h.{i}.attn.bias": a log line names a kind of tensor once.
std::string layer_pattern(const std::string& name) {
  std::string out;
  for (size_t i = 0; i < name.size();) {
    const bool segment_start = i == 0 || name[i - 1] == '.';
    size_t j = i;
    while (j < name.size() && std::isdigit(static_cast<unsigned char>(name[j]))) ++j;
    if (segment_start && j > i && (j == name.size() || name[j] == '.')) {
      out += "{i}";
      i = j;
    } else {
      out += name[i++];
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// config.json, read strictly: each size a whole number >= 1, each error naming the key.

class ConfigJson {
 public:
  explicit ConfigJson(const std::string& path) : path_(path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InputError(fmt::format("{}: cannot be read", path));
    std::stringstream text;
    text << in.rdbuf();
    json_ = parse_json_input(text.str(), path, "a JSON file");
    if (!json_.is_object()) throw InputError(fmt::format("{}: not a JSON object", path));
  }

  const std::string& path() const { return path_; }
  bool has(const std::string& key) const { return json_.contains(key) && !json_[key].is_null(); }

  int64_t size(const std::string& key) const {
    if (!has(key)) throw InputError(fmt::format("{}: no '{}'", path_, key));
    const int64_t v = json_int64(json_[key], path_, key);
    if (v < 1) throw InputError(fmt::format("{}: '{}' must be at least 1, not {}", path_, key, v));
    return v;
  }
  int64_t size(const std::string& key, int64_t fallback) const {
    return has(key) ? size(key) : fallback;
  }

  double positive(const std::string& key, double fallback) const {
    if (!has(key)) return fallback;
    const auto& v = json_[key];
    if (!v.is_number() || !(v.get<double>() > 0) || !std::isfinite(v.get<double>())) {
      throw InputError(
          fmt::format("{}: '{}' must be a positive number, not {}", path_, key, v.dump()));
    }
    return v.get<double>();
  }

  // A dropout probability in [0, 1).
  double probability(const std::string& key, double fallback) const {
    if (!has(key)) return fallback;
    const auto& v = json_[key];
    if (!v.is_number() || !(v.get<double>() >= 0 && v.get<double>() < 1)) {
      throw InputError(fmt::format("{}: '{}' must be a number in [0, 1), not {}", path_, key, v.dump()));
    }
    return v.get<double>();
  }

  // Strata's one dropout (embeddings, attention probabilities, residual branches) from
  // Hugging Face's per-place keys, `keys[0]` first; another value under a later key is
  // logged, since Strata cannot keep it (Hugging Face's defaults: 0.1 everywhere).
  double dropout(const std::vector<std::string>& keys) const {
    const double p = probability(keys[0], 0.1);
    for (size_t i = 1; i < keys.size(); ++i) {
      const double q = probability(keys[i], 0.1);
      if (q != p) {
        log::info("{}: '{}' is {} but Strata applies one dropout everywhere: '{}' ({})", path_, keys[i], q,
                  keys[0], p);
      }
    }
    return p;
  }

  std::string text(const std::string& key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    if (!json_[key].is_string()) {
      throw InputError(
          fmt::format("{}: '{}' must be a string, not {}", path_, key, json_[key].dump()));
    }
    return json_[key].get<std::string>();
  }

  bool flag(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!json_[key].is_boolean()) {
      throw InputError(
          fmt::format("{}: '{}' must be true or false, not {}", path_, key, json_[key].dump()));
    }
    return json_[key].get<bool>();
  }

  // Hugging Face's activation name -> Strata's (models/layers/mlp.h).
  std::string activation(const std::string& key, const std::string& fallback) const {
    const std::string name = text(key, fallback);
    if (name == "gelu") return "gelu";
    if (name == "gelu_new" || name == "gelu_pytorch_tanh") return "gelu_new";
    throw InputError(fmt::format(
        "{}: '{}' is '{}'; Strata reads gelu, gelu_new and gelu_pytorch_tanh", path_, key, name));
  }

  [[noreturn]] void fail(const std::string& key, const std::string& message) const {
    throw InputError(fmt::format("{}: '{}' {}", path_, key, message));
  }

 private:
  std::string path_;
  json json_;
};

models::GPTOptions gpt2_options(const ConfigJson& c) {
  models::GPTOptions o;
  o.vocab_size(c.size("vocab_size"));
  o.block_size(c.has("n_positions") ? c.size("n_positions") : c.size("n_ctx"));
  o.n_embd(c.size("n_embd"));
  o.n_layer(c.size("n_layer"));
  o.n_head(c.size("n_head"));
  o.activation(c.activation("activation_function", "gelu_new"));
  o.layer_norm_eps(c.positive("layer_norm_epsilon", 1e-5));
  // The checkpoint's dropout, for fine-tuning (eval and export run without it).
  o.dropout(c.dropout({"resid_pdrop", "embd_pdrop", "attn_pdrop"})).bias(true);
  if (o.n_embd() % o.n_head() != 0) {
    c.fail("n_head", fmt::format("({}) must divide n_embd ({})", o.n_head(), o.n_embd()));
  }
  if (c.size("n_inner", 4 * o.n_embd()) != 4 * o.n_embd()) {
    c.fail("n_inner", fmt::format("must be 4 n_embd ({}): Strata's MLP is 4C", 4 * o.n_embd()));
  }
  if (!c.flag("scale_attn_weights", true) || c.flag("scale_attn_by_inverse_layer_idx", false)) {
    c.fail("scale_attn_weights",
           "and scale_attn_by_inverse_layer_idx: Strata's attention "
           "scales by 1/sqrt(head size) only");
  }
  return o;
}

models::BertOptions bert_options(const ConfigJson& c) {
  models::BertOptions o;
  o.vocab_size(c.size("vocab_size"));
  o.n_embd(c.size("hidden_size"));
  o.n_layer(c.size("num_hidden_layers"));
  o.n_head(c.size("num_attention_heads"));
  o.block_size(c.size("max_position_embeddings"));
  o.type_vocab_size(c.size("type_vocab_size", 2));
  o.activation(c.activation("hidden_act", "gelu"));
  o.layer_norm_eps(c.positive("layer_norm_eps", 1e-12));
  o.dropout(c.dropout({"hidden_dropout_prob", "attention_probs_dropout_prob"}));
  if (o.n_embd() % o.n_head() != 0) {
    c.fail("num_attention_heads",
           fmt::format("({}) must divide hidden_size ({})", o.n_head(), o.n_embd()));
  }
  const int64_t inner = c.size("intermediate_size");
  if (inner != 4 * o.n_embd()) {
    c.fail("intermediate_size",
           fmt::format("is {}; Strata's BERT needs 4 hidden_size ({})", inner, 4 * o.n_embd()));
  }
  if (c.text("position_embedding_type", "absolute") != "absolute") {
    c.fail("position_embedding_type", "must be absolute (learned positions)");
  }
  return o;
}

std::string gpt_yaml(const models::GPTOptions& o) {
  return fmt::format(
      "type: gpt\nvocab_size: {}\nblock_size: {}\nn_layer: {}\nn_head: {}\nn_embd: {}\n"
      "dropout: {}\nbias: true\nactivation: {}\nlayer_norm_eps: {}\n",
      o.vocab_size(), o.block_size(), o.n_layer(), o.n_head(), o.n_embd(), o.dropout(), o.activation(),
      o.layer_norm_eps());
}

std::string bert_yaml(const models::BertOptions& o) {
  return fmt::format(
      "type: bert\nvocab_size: {}\nblock_size: {}\ntype_vocab_size: {}\nn_layer: {}\nn_head: {}\n"
      "n_embd: {}\ndropout: {}\nactivation: {}\nlayer_norm_eps: {}\n",
      o.vocab_size(), o.block_size(), o.type_vocab_size(), o.n_layer(), o.n_head(), o.n_embd(),
      o.dropout(), o.activation(), o.layer_norm_eps());
}

// ---------------------------------------------------------------------------------------
// Reading model.safetensors through a name table

constexpr const char* kIndexFile = "model.safetensors.index.json";

// The tensors of a checkpoint directory: model.safetensors, or the shards that
// model.safetensors.index.json's weight_map names (save_pretrained's max_shard_size). Each
// tensor named in the index must be in its shard, and no tensor may be in two shards.
class HFTensors {
 public:
  explicit HFTensors(const fs::path& dir) {
    std::error_code ec;
    if (fs::exists(dir / "model.safetensors", ec)) {
      path_ = (dir / "model.safetensors").string();
      add(read_safetensors(path_));
      return;
    }
    path_ = (dir / kIndexFile).string();
    std::ifstream in(path_, std::ios::binary);
    if (!in) throw InputError(fmt::format("{}: cannot be read", path_));
    std::stringstream text;
    text << in.rdbuf();
    const json index = parse_json_input(text.str(), path_, "a JSON file");
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
      throw InputError(fmt::format("{}: no 'weight_map' object", path_));
    }
    std::map<std::string, std::string> shard_of;  // tensor -> shard file name
    for (const auto& [name, shard] : index["weight_map"].items()) {
      if (!shard.is_string() || shard.get<std::string>().find('/') != std::string::npos) {
        throw InputError(fmt::format("{}: weight_map['{}'] must name a file in the directory",
                                     path_, name));
      }
      shard_of[name] = shard.get<std::string>();
    }
    std::set<std::string> shards;
    for (const auto& [name, shard] : shard_of) shards.insert(shard);
    for (const auto& shard : shards) {
      const fs::path shard_path = dir / shard;
      if (!fs::exists(shard_path, ec)) {
        throw InputError(fmt::format("{}: names shard '{}', which is missing", path_, shard));
      }
      add(read_safetensors(shard_path.string()));
    }
    for (const auto& [name, shard] : shard_of) {
      if (!has(name)) {
        throw InputError(fmt::format("{}: tensor '{}' is not in its shard '{}'", path_, name, shard));
      }
    }
  }

  // The file that names the tensors: model.safetensors or the index.
  const std::string& path() const { return path_; }
  bool has(const std::string& name) const { return by_name_.count(name) > 0; }

  // The tensor named `name` (or else its first present alternative), shape checked,
  // marked used.
  torch::Tensor take(const std::string& name, const Shape& shape,
                     const std::vector<std::string>& alternatives = {}) {
    std::string found = name;
    for (size_t i = 0; !has(found) && i < alternatives.size(); ++i) found = alternatives[i];
    if (!has(found)) throw InputError(fmt::format("{}: no tensor '{}'", path(), name));
    const torch::Tensor& t = by_name_.at(found);
    if (!t.sizes().equals(shape)) {
      throw InputError(fmt::format("{}: tensor '{}' has shape {}, but config.json's sizes need {}",
                                   path(), found, shape_text(t.sizes()), shape_text(shape)));
    }
    used_.insert(found);
    return t;
  }

  // Tensors not taken, in file order (shard by shard).
  std::vector<std::string> rest() const {
    std::vector<std::string> out;
    for (const auto& name : order_)
      if (!used_.count(name)) out.push_back(name);
    return out;
  }

  // A tensor that Strata ties to `strata_name` (already taken): present, it must be equal.
  void check_tied(const std::string& name, const torch::Tensor& tied_to,
                  const std::string& strata_name, const std::string& why) {
    const torch::Tensor t = take(name, tied_to.sizes().vec());
    const bool same = t.scalar_type() == tied_to.scalar_type()
                          ? torch::equal(t, tied_to)
                          : torch::equal(t.to(torch::kFloat64), tied_to.to(torch::kFloat64));
    if (!same) {
      throw InputError(
          fmt::format("{}: tensor '{}' differs from '{}'; {}", path(), name, strata_name, why));
    }
  }

 private:
  void add(const SafetensorsFile& file) {
    for (const auto& [name, t] : file.tensors) {
      if (!by_name_.emplace(name, t).second) {
        throw InputError(fmt::format("{}: tensor '{}' is in two shards", path_, name));
      }
      order_.push_back(name);
    }
  }

  std::string path_;
  std::vector<std::string> order_;
  std::map<std::string, torch::Tensor> by_name_;
  std::set<std::string> used_;
};

// Takes every row of `names` (transposing Conv1D weights) into Strata's names.
NamedTensors take_all(
    HFTensors& file, const std::vector<TensorName>& names,
    const std::function<std::vector<std::string>(const std::string&)>& alternatives) {
  NamedTensors out;
  for (const auto& row : names) {
    auto t = file.take(row.hf, row.hf_shape, alternatives(row.hf));
    out.emplace_back(row.strata, row.transposed ? t.t().contiguous() : t);
  }
  return out;
}

const torch::Tensor& tensor_named(const NamedTensors& tensors, const std::string& name) {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  throw std::logic_error("hf: no tensor " + name);
}

// Refuses what is left unless `droppable` says Strata may leave it out; logs what it drops.
void drop_rest(const HFTensors& file, const std::string& family,
               const std::function<bool(const std::string&)>& droppable) {
  std::map<std::string, int> dropped;  // pattern -> count, for one short line
  for (const auto& name : file.rest()) {
    if (!droppable(name)) {
      throw InputError(fmt::format("{}: tensor '{}' is not part of a {} that Strata reads",
                                   file.path(), name, family));
    }
    ++dropped[layer_pattern(name)];
  }
  if (dropped.empty()) return;
  std::vector<std::string> parts;
  for (const auto& [pattern, n] : dropped)
    parts.push_back(n > 1 ? fmt::format("{} (x{})", pattern, n) : pattern);
  log::info("{}: not imported (Strata's {} has no such tensors): {}", file.path(), family,
            fmt::join(parts, ", "));
}

HFCheckpoint read_gpt2(const ConfigJson& config, HFTensors& file) {
  const auto o = gpt2_options(config);
  // GPT2LMHeadModel's names start with "transformer.", GPT2Model's do not.
  const std::string prefix =
      file.has("wte.weight") && !file.has("transformer.wte.weight") ? "" : "transformer.";
  HFCheckpoint out;
  out.model_type = "gpt";
  out.model_yaml = gpt_yaml(o);
  out.tensors = take_all(file, gpt2_names(o, prefix),
                         [](const std::string&) { return std::vector<std::string>{}; });
  if (file.has("lm_head.weight")) {
    file.check_tied("lm_head.weight", tensor_named(out.tensors, "transformer.wte.weight"),
                    prefix + "wte.weight", "Strata's GPT ties its output projection to wte");
  } else if (!config.flag("tie_word_embeddings", true)) {
    // transformers would give such a model a fresh, untrained output projection.
    config.fail("tie_word_embeddings",
                "is false and there is no lm_head.weight: the untied output projection is "
                "missing (Strata's GPT ties it to wte and would silently use wte instead)");
  }
  drop_rest(file, "GPT-2", [&](const std::string& name) {
    if (!name.starts_with(prefix + "h.")) return false;
    return name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias");
  });
  return out;
}

HFCheckpoint read_bert(const ConfigJson& config, HFTensors& file) {
  const auto o = bert_options(config);
  HFCheckpoint out;
  out.model_type = "bert";
  out.model_yaml = bert_yaml(o);
  // BertModel's files (e.g. sentence-transformers' all-MiniLM-L6-v2) name the encoder
  // without the "bert." prefix and have no masked-LM head; BertForMaskedLM's have no
  // pooler; BertForPreTraining's have both. A missing pooler or MLM head changes no hidden
  // state; it starts as transformers initialises a missing module (Linear weights ~
  // N(0, initializer_range), biases 0, LayerNorm 1 and 0), from a fixed seed, and a
  // fine-tune trains it, as BertForSequenceClassification.from_pretrained does.
  const bool bare = !file.has("bert.embeddings.word_embeddings.weight") &&
                    file.has("embeddings.word_embeddings.weight");
  const std::string prefix = bare ? "" : "bert.";
  auto names = bert_names(o);
  for (auto& row : names) {
    if (row.hf.starts_with("bert.")) row.hf = prefix + row.hf.substr(5);
  }
  const bool has_pooler =
      file.has(prefix + "pooler.dense.weight") || file.has(prefix + "pooler.dense.bias");
  const bool has_head = file.has("cls.predictions.transform.dense.weight");
  std::vector<TensorName> fresh;
  std::erase_if(names, [&](const TensorName& row) {
    const bool missing = (!has_pooler && row.strata.starts_with("bert.pooler.")) ||
                         (!has_head && row.strata.starts_with("cls.predictions."));
    if (missing) fresh.push_back(row);
    return missing;
  });
  out.tensors = take_all(file, names, [](const std::string& name) {
    std::vector<std::string> alternatives;
    if (name.ends_with("LayerNorm.weight"))
      alternatives.push_back(name.substr(0, name.size() - 6) + "gamma");
    if (name.ends_with("LayerNorm.bias"))
      alternatives.push_back(name.substr(0, name.size() - 4) + "beta");
    if (name == "cls.predictions.bias") alternatives.push_back("cls.predictions.decoder.bias");
    return alternatives;
  });
  if (file.has("cls.predictions.decoder.weight")) {
    file.check_tied("cls.predictions.decoder.weight",
                    tensor_named(out.tensors, "bert.embeddings.word_embeddings.weight"),
                    "bert.embeddings.word_embeddings.weight",
                    "Strata's BERT ties its MLM decoder to the word embeddings");
  }
  if (file.has("cls.predictions.decoder.bias") && file.has("cls.predictions.bias")) {
    file.check_tied("cls.predictions.decoder.bias",
                    tensor_named(out.tensors, "cls.predictions.bias"), "cls.predictions.bias",
                    "Strata's BERT has one MLM output bias");
  }
  drop_rest(file, "BERT", [&](const std::string& name) {
    return name == prefix + "embeddings.position_ids" ||
           name == prefix + "embeddings.token_type_ids" ||
           name.starts_with("cls.seq_relationship.");
  });
  if (!fresh.empty()) {
    const double range = config.positive("initializer_range", 0.02);
    auto generator = at::detail::createCPUGenerator(/*seed_in=*/0);
    for (const auto& row : fresh) {
      const bool norm_weight = row.strata.ends_with("LayerNorm.weight");
      torch::Tensor t = row.hf_shape.size() == 2
                            ? torch::empty(row.hf_shape).normal_(0.0, range, generator)
                            : (norm_weight ? torch::ones(row.hf_shape) : torch::zeros(row.hf_shape));
      out.tensors.emplace_back(row.strata, t);
    }
    log::info("{}: no {}{}; {} fresh", file.path(), has_pooler ? "" : "pooler",
              !has_pooler && !has_head ? " and no masked-LM head" : (has_head ? "" : "masked-LM head"),
              !has_pooler && !has_head ? "they start" : "it starts");
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Writing

std::map<std::string, torch::Tensor> parameters_of(torch::nn::Module& model) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : model.named_parameters()) out[p.key()] = p.value().detach();
  return out;
}

// The file's tensors in Hugging Face's names and layouts; every parameter must have a row.
NamedTensors hf_tensors(torch::nn::Module& model, const std::vector<TensorName>& names) {
  auto params = parameters_of(model);
  if (params.size() != names.size()) {
    throw std::logic_error(fmt::format("hf: the model has {} parameters, the name table {}",
                                       params.size(), names.size()));
  }
  NamedTensors out;
  for (const auto& row : names) {
    const auto& t = params.at(row.strata);
    out.emplace_back(row.hf, row.transposed ? t.t() : t);
  }
  return out;
}

json gpt2_config(const models::GPTOptions& o) {
  return {{"architectures", json::array({"GPT2LMHeadModel"})},
          {"model_type", "gpt2"},
          {"vocab_size", o.vocab_size()},
          {"n_positions", o.block_size()},
          {"n_ctx", o.block_size()},
          {"n_embd", o.n_embd()},
          {"n_layer", o.n_layer()},
          {"n_head", o.n_head()},
          {"n_inner", nullptr},
          {"activation_function", o.activation()},
          {"layer_norm_epsilon", o.layer_norm_eps()},
          {"resid_pdrop", o.dropout()},
          {"embd_pdrop", o.dropout()},
          {"attn_pdrop", o.dropout()},
          {"initializer_range", 0.02},
          {"scale_attn_weights", true},
          {"tie_word_embeddings", true},
          {"torch_dtype", "float32"}};
}

json bert_config(const models::BertOptions& o) {
  return {{"architectures", json::array({"BertForMaskedLM"})},
          {"model_type", "bert"},
          {"vocab_size", o.vocab_size()},
          {"hidden_size", o.n_embd()},
          {"num_hidden_layers", o.n_layer()},
          {"num_attention_heads", o.n_head()},
          {"intermediate_size", 4 * o.n_embd()},
          {"hidden_act", o.activation()},
          {"hidden_dropout_prob", o.dropout()},
          {"attention_probs_dropout_prob", o.dropout()},
          {"max_position_embeddings", o.block_size()},
          {"type_vocab_size", o.type_vocab_size()},
          {"initializer_range", 0.02},
          {"layer_norm_eps", o.layer_norm_eps()},
          {"position_embedding_type", "absolute"},
          {"tie_word_embeddings", true},
          {"torch_dtype", "float32"}};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot be read", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

void refuse_hf_dir_without_config(const std::string& dir) {
  std::error_code ec;
  const fs::path d(dir);
  if (!fs::is_directory(d, ec) || fs::exists(d / "config.json", ec) ||
      fs::exists(d / "config.yaml", ec) || fs::exists(d / "state.json", ec) ||
      fs::exists(d / "checkpoints", ec)) {
    return;
  }
  for (const char* weights : {"model.safetensors", kIndexFile}) {
    if (fs::exists(d / weights, ec)) {
      throw InputError(fmt::format(
          "{}: holds {} but no config.json: a Hugging Face directory needs its config.json "
          "(the architecture), which is missing",
          dir, weights));
    }
  }
}

bool is_hf_dir(const std::string& dir) {
  std::error_code ec;
  const fs::path d(dir);
  return fs::is_regular_file(d / "config.json", ec) &&
         (fs::is_regular_file(d / "model.safetensors", ec) ||
          fs::is_regular_file(d / kIndexFile, ec)) &&
         !fs::exists(d / "config.yaml", ec);
}

HFCheckpoint read_hf(const std::string& dir) {
  const fs::path d(dir);
  std::error_code ec;
  if (!fs::is_directory(d, ec)) throw InputError(fmt::format("{}: no such directory", dir));
  if (!fs::exists(d / "config.json", ec)) {
    throw InputError(fmt::format("{}: not a Hugging Face checkpoint (no config.json)", dir));
  }
  if (!fs::exists(d / "model.safetensors", ec) && !fs::exists(d / kIndexFile, ec)) {
    throw InputError(fmt::format(
        "{}: not a Hugging Face checkpoint (no model.safetensors nor {})", dir, kIndexFile));
  }
  ConfigJson config((d / "config.json").string());
  if (!config.has("model_type")) config.fail("model_type", "is missing");
  const std::string model_type = config.text("model_type", "");
  if (model_type != "gpt2" && model_type != "bert") {
    config.fail("model_type", fmt::format("is '{}'; Strata reads gpt2 and bert", model_type));
  }
  HFTensors file(d);
  HFCheckpoint out = model_type == "gpt2" ? read_gpt2(config, file) : read_bert(config, file);
  out.dir = dir;
  return out;
}

std::shared_ptr<Network> make_network(const HFCheckpoint& hf) {
  const std::string where = hf.dir + "/config.json";
  auto doc = config::Document::parse(hf.model_yaml, where);
  auto section = doc.root();
  std::string type;
  section.required("type", type);
  auto network = models::networks().make(type, section.where("type"), section);
  load_model_tensors(*network, hf.tensors, hf.dir);
  return network;
}

models::LoadedNetwork load_hf(const std::string& dir, const torch::Device& device) {
  const HFCheckpoint hf = read_hf(dir);
  models::LoadedNetwork out;
  out.network = make_network(hf);
  out.network->to(device);
  out.network->eval();
  out.type = hf.model_type;
  out.checkpoint_dir = dir;
  out.tokenizer_path = Tokenizer::find_in(dir);
  return out;
}

void write_hf(Network& model, const std::string& out_dir, const std::string& tokenizer_path) {
  json config;
  NamedTensors tensors;
  if (auto* gpt = dynamic_cast<models::GPTImpl*>(&model)) {
    const auto& o = gpt->options();
    if (!o.bias()) {
      throw InputError(
          "a GPT with bias: false has no Hugging Face GPT-2 layout (GPT-2 always "
          "has biases in its Linear and LayerNorm layers)");
    }
    config = gpt2_config(o);
    tensors = hf_tensors(model, gpt2_names(o, "transformer."));
  } else if (auto* bert = dynamic_cast<models::BertImpl*>(&model)) {
    config = bert_config(bert->options());
    tensors = hf_tensors(model, bert_names(bert->options()));
  } else {
    throw InputError("only gpt and bert models have a Hugging Face layout");
  }
  // The tokenizer's files are made before anything is written: tokenizer.model as it is,
  // and for a BPE model the tokenizer.json and tokenizer_config.json that transformers'
  // AutoTokenizer loads (core/tokenizer_hf.h).
  std::string tokenizer, tokenizer_json, tokenizer_config;
  std::optional<Tokenizer> wordpiece;  // a WordPiece vocabulary, written by save_to
  if (!tokenizer_path.empty()) {
    Tokenizer loaded = Tokenizer::load(tokenizer_path);  // a damaged file is refused here
    if (loaded.kind() == TokenizerKind::kWordPiece) {
      wordpiece = std::move(loaded);
    } else {
      tokenizer = read_file(tokenizer_path);
      try {
        tokenizer_json = hf_tokenizer_json(tokenizer_path);
        tokenizer_config = hf_tokenizer_config_json(tokenizer_path, model.context_length());
      } catch (const InputError& e) {
        log::warn("{}; no tokenizer.json written", e.what());
      }
    }
  }

  const fs::path out(out_dir);
  fs::create_directories(out);
  write_safetensors_atomic((out / "model.safetensors").string(), tensors, {{"format", "pt"}});
  write_file_atomic((out / "config.json").string(), config.dump(2) + "\n");
  if (wordpiece) wordpiece->save_to(out.string());
  if (!tokenizer.empty()) write_file_atomic((out / "tokenizer.model").string(), tokenizer);
  if (!tokenizer_json.empty()) {
    write_file_atomic((out / "tokenizer.json").string(), tokenizer_json);
    write_file_atomic((out / "tokenizer_config.json").string(), tokenizer_config);
  }
}

}  // namespace strata::models
