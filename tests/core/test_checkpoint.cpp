// LibTorch first: its glog defines a CHECK macro that Catch's must replace.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "core/checkpoint.h"
#include "core/errors.h"
#include "tests/support/temp_dir.h"

namespace fs = std::filesystem;
using strata::Checkpointer;
using strata::CheckpointContents;
using strata::InputError;

namespace {

// Every test gets a fresh directory, removed with everything in it.
struct TempDir : strata::testing::TempDir {
  TempDir() : strata::testing::TempDir("checkpoint") {}
  std::string str() const { return path; }
};

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

CheckpointContents contents_for(int64_t step) {
  CheckpointContents c;
  c.model = {{"fc.weight", torch::full({3, 4}, static_cast<float>(step))},
             {"fc.bias", torch::arange(4, torch::kFloat)},
             {"bn.num_batches_tracked", torch::tensor(step)}};
  c.optimizer = {{"fc.weight.exp_avg", torch::full({3, 4}, 0.5f)},
                 {"fc.weight.exp_avg_sq", torch::full({3, 4}, 0.25f)}};
  c.state = {{"step", step},
             {"rng", {{"cpu", "abc"}}},
             {"param_groups", {{{"lr", 1e-3}, {"weight_decay", 0.1}}}}};
  c.config_yaml = "model:\n  type: gpt\n";
  return c;
}

// The names in a run's checkpoints/ directory.
std::set<std::string> listing(const TempDir& run) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(run.root() / "checkpoints"))
    names.insert(e.path().filename().string());
  return names;
}

std::string load_error(const std::string& dir) {
  try {
    strata::load_checkpoint(dir);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("checkpoint names have seven digits", "[checkpoint]") {
  CHECK(strata::checkpoint_name(0) == "step-0000000");
  CHECK(strata::checkpoint_name(120) == "step-0000120");
}

TEST_CASE("checkpoint save and load round trip", "[checkpoint]") {
  TempDir run;
  Checkpointer ckpt(run.str(), 3);
  CHECK_FALSE(strata::has_checkpoints(run.str()));
  CHECK(ckpt.latest().empty());

  auto contents = contents_for(10);
  contents.write_extra = [](const std::string& dir) {
    std::ofstream(fs::path(dir) / "tokenizer.model") << "spm";
  };
  const std::string dir = ckpt.save(10, contents);
  CHECK(dir == (run.root() / "checkpoints" / "step-0000010").string());
  for (const char* f : {"model.safetensors", "optimizer.safetensors", "state.json", "config.yaml",
                        "tokenizer.model"})
    CHECK(fs::is_regular_file(fs::path(dir) / f));
  CHECK(read_text(run.root() / "checkpoints" / "latest") == "step-0000010\n");
  CHECK(listing(run) == std::set<std::string>{"latest", "step-0000010"});
  CHECK(strata::has_checkpoints(run.str()));
  CHECK(ckpt.latest() == dir);
  CHECK(strata::latest_checkpoint(run.str()) == dir);

  auto loaded = strata::load_checkpoint(dir);
  CHECK(loaded.state == contents.state);
  CHECK(loaded.config_yaml == contents.config_yaml);
  REQUIRE(loaded.model.size() == contents.model.size());
  REQUIRE(loaded.optimizer.size() == contents.optimizer.size());
  auto find = [](const strata::NamedTensors& ts, const std::string& name) {
    for (const auto& [n, t] : ts)
      if (n == name) return t;
    FAIL("no tensor " << name);
    return torch::Tensor();
  };
  for (const auto& [name, t] : contents.model) CHECK(torch::equal(find(loaded.model, name), t));
  for (const auto& [name, t] : contents.optimizer)
    CHECK(torch::equal(find(loaded.optimizer, name), t));
}

TEST_CASE("checkpoint without tensors writes only state and config", "[checkpoint]") {
  TempDir run;
  CheckpointContents c;
  c.state = {{"step", 1}};
  const auto dir = Checkpointer(run.str(), 0).save(1, c);
  CHECK_FALSE(fs::exists(fs::path(dir) / "model.safetensors"));
  CHECK_FALSE(fs::exists(fs::path(dir) / "optimizer.safetensors"));
  auto loaded = strata::load_checkpoint(dir);
  CHECK(loaded.model.empty());
  CHECK(loaded.state["step"] == 1);
}

TEST_CASE("checkpoint keeps the last N", "[checkpoint]") {
  TempDir run;
  Checkpointer ckpt(run.str(), 2);
  for (int64_t step : {100, 200, 300, 400}) ckpt.save(step, contents_for(step));
  CHECK(listing(run) == std::set<std::string>{"latest", "step-0000300", "step-0000400"});
  CHECK(read_text(run.root() / "checkpoints" / "latest") == "step-0000400\n");

  // Resumed from an earlier step: the new save is kept even though it is not the highest.
  Checkpointer resumed(run.str(), 1);
  resumed.save(350, contents_for(350));
  CHECK(fs::exists(run.root() / "checkpoints" / "step-0000350"));
  CHECK_FALSE(fs::exists(run.root() / "checkpoints" / "step-0000300"));
  CHECK(resumed.latest() == (run.root() / "checkpoints" / "step-0000350").string());
}

TEST_CASE("checkpoint keep_last <= 0 keeps all", "[checkpoint]") {
  TempDir run;
  Checkpointer ckpt(run.str(), 0);
  for (int64_t step : {1, 2, 3}) ckpt.save(step, contents_for(step));
  CHECK(listing(run).size() == 4);
}

TEST_CASE("checkpoint saved again at the same step is replaced", "[checkpoint]") {
  TempDir run;
  Checkpointer ckpt(run.str(), 3);
  ckpt.save(5, contents_for(5));
  auto again = contents_for(5);
  again.state["marker"] = "second";
  const auto dir = ckpt.save(5, again);
  CHECK(strata::load_checkpoint(dir).state["marker"] == "second");
  CHECK(listing(run) == std::set<std::string>{"latest", "step-0000005"});
}

TEST_CASE("checkpoint readers ignore leftovers of a killed save", "[checkpoint]") {
  TempDir run;
  Checkpointer ckpt(run.str(), 5);
  ckpt.save(2, contents_for(2));
  const auto ckdir = run.root() / "checkpoints";
  // A save of step 9 killed before its rename, and a `latest` replacement killed too.
  const auto tmp = ckdir / ".tmp-step-0000009-99999";
  fs::create_directories(tmp);
  std::ofstream(tmp / "state.json") << "{\"step\": 9}";
  std::ofstream(ckdir / ".tmp-latest-99999") << "step-0000009\n";

  CHECK(strata::latest_checkpoint(run.str()) == (ckdir / "step-0000002").string());
  ckpt.save(3, contents_for(3));
  CHECK(listing(run) == std::set<std::string>{"latest", "step-0000002", "step-0000003"});
}

TEST_CASE("checkpoint replaced mid-way is recovered by the next save", "[checkpoint]") {
  TempDir run;
  Checkpointer ckpt(run.str(), 5);
  ckpt.save(4, contents_for(4));
  const auto ckdir = run.root() / "checkpoints";
  // Killed between moving step 4 aside and moving its replacement in.
  fs::rename(ckdir / "step-0000004", ckdir / ".old-step-0000004-99999");
  CHECK(strata::latest_checkpoint(run.str()).empty());
  ckpt.save(6, contents_for(6));
  CHECK(listing(run) == std::set<std::string>{"latest", "step-0000004", "step-0000006"});
}

// Sequential rather than in SECTIONs: each save fsyncs, and SECTIONs would redo them.
TEST_CASE("checkpoint latest falls back to the highest complete step", "[checkpoint]") {
  TempDir run;
  Checkpointer ckpt(run.str(), 0);
  ckpt.save(1, contents_for(1));
  ckpt.save(2, contents_for(2));
  const auto ckdir = run.root() / "checkpoints";
  const auto step2 = (ckdir / "step-0000002").string();
  const auto latest = [&] { return strata::latest_checkpoint(run.str()); };

  std::ofstream(ckdir / "latest") << "step-0000001\n";
  CHECK(latest() == (ckdir / "step-0000001").string());  // `latest` wins over a higher step
  std::ofstream(ckdir / "latest") << "step-0000007\n";  // names a missing directory
  CHECK(latest() == step2);
  std::ofstream(ckdir / "latest") << "../../etc\n";
  CHECK(latest() == step2);
  fs::create_directories(ckdir / "step-0000003");  // incomplete: no state.json
  std::ofstream(ckdir / "latest") << "step-0000003\n";
  CHECK(latest() == step2);
  fs::remove(ckdir / "latest");
  CHECK(latest() == step2);
}

TEST_CASE("checkpoint paths resolve from a run or a checkpoint directory", "[checkpoint]") {
  TempDir run;
  const auto dir = Checkpointer(run.str(), 0).save(7, contents_for(7));
  CHECK(strata::resolve_checkpoint(run.str()) == dir);
  CHECK(strata::resolve_checkpoint(dir) == dir);
  CHECK(strata::resolve_checkpoint((run.root() / "checkpoints").string()) == dir);
  CHECK_THROWS_AS(strata::resolve_checkpoint((run.root() / "nope").string()), InputError);
  fs::create_directories(run.root() / "empty");
  CHECK_THROWS_WITH(strata::resolve_checkpoint((run.root() / "empty").string()),
                    Catch::Contains("not a Strata checkpoint"));
}

TEST_CASE("checkpoint loading refuses damaged files", "[checkpoint]") {
  TempDir run;
  const fs::path good = Checkpointer(run.str(), 0).save(10, contents_for(10));
  // Each case damages its own copy of one saved checkpoint.
  int copies = 0;
  const auto copy = [&] {
    const auto dir = run.root() / fmt::format("copy-{}", copies++);
    fs::copy(good, dir);
    return dir;
  };

  {
    const auto d = copy();
    const auto model = d / "model.safetensors";
    fs::resize_file(model, fs::file_size(model) - 10);
    const auto message = load_error(d.string());
    INFO(message);
    CHECK(message.find(model.string() + ": truncated") == 0);
  }
  {
    const auto d = copy();
    std::ofstream(d / "state.json") << "{\"step\": 10,";
    const auto message = load_error(d.string());
    INFO(message);
    CHECK(message.find((d / "state.json").string() + ": invalid JSON") == 0);
    CHECK(message.find('\n') == std::string::npos);
  }
  {
    const auto d = copy();
    fs::remove(d / "state.json");
    CHECK(load_error(d.string()).find("not a Strata checkpoint") != std::string::npos);
  }
  CHECK(load_error((run.root() / "absent").string()).find("no such checkpoint") !=
        std::string::npos);
  CHECK_NOTHROW(strata::load_checkpoint(good.string()));
}

TEST_CASE("write_file_atomic replaces a file and leaves no temporary", "[checkpoint]") {
  TempDir dir;
  const auto path = (dir.root() / "latest").string();
  strata::write_file_atomic(path, "one\n");
  strata::write_file_atomic(path, "two\n");
  CHECK(read_text(path) == "two\n");
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
}

TEST_CASE("write_safetensors_atomic replaces a file and leaves no temporary", "[checkpoint]") {
  TempDir dir;
  const auto path = (dir.root() / "model.safetensors").string();
  strata::write_safetensors_atomic(path, {{"w", torch::zeros({2, 3})}});
  strata::write_safetensors_atomic(path, {{"w", torch::ones({3})}}, {{"format", "pt"}});
  const auto file = strata::read_safetensors(path);
  CHECK(file.get("w").equal(torch::ones({3})));
  CHECK(file.metadata.at("format") == "pt");
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);
}
