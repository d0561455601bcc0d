#include <torch/torch.h>

#include <filesystem>

#include "core/data/loader.h"
#include "core/errors.h"
#include "core/objectives.h"
#include "core/trainer.h"
#include "models/cnn/cnn.h"
#include "tests/support/temp_dir.h"

// Last: glog (through LibTorch) also defines CHECK, and Catch's must win.
#include <catch2/catch.hpp>

using namespace strata;

namespace {

TrainerState sample_state() {
  TrainerState s;
  s.step = 12;
  s.cpu_rng = "00ff10";
  s.data = {{"epoch", 1}, {"position", 64}};
  s.lr = 3e-4;
  s.schedule.type = ScheduleType::kCosine;
  s.schedule.warmup_steps = 4;
  s.schedule.min_lr_ratio = 0.1;
  s.total_steps = 40;
  s.optimizer = {{"type", "adamw"}};
  s.frozen = {"conv1.weight", "conv1.bias"};
  s.freeze_policy = {{"unfrozen_blocks", 2}};
  s.loss_sum = 1.5;
  s.loss_count = 3;
  s.metrics = {{"10", {{"step", 10}, {"eval/x/acc", 0.5}}}};
  return s;
}

// Freezes everything but the head until step `until`, then trains everything.
class HeadFirst : public FreezePolicy {
 public:
  explicit HeadFirst(int64_t until) : until_(until) {}
  bool apply(int64_t step, Network& model) override {
    const bool frozen = step < until_;
    if (frozen == frozen_now_ && applied_) return false;
    for (auto& p : model.named_parameters()) {
      p.value().set_requires_grad(!frozen || p.key().rfind("head.", 0) == 0);
    }
    applied_ = true;
    frozen_now_ = frozen;
    ++changes;
    return true;
  }
  nlohmann::json state() const override { return {{"changes", changes}}; }
  void load_state(const nlohmann::json& s) override { changes = s.at("changes").get<int>(); }
  int changes = 0;

 private:
  int64_t until_;
  bool applied_ = false, frozen_now_ = false;
};

TrainerParts cnn_parts(const std::string& out_dir, std::shared_ptr<FreezePolicy> freeze) {
  torch::manual_seed(0);
  data::ImageSet set;
  set.images = torch::randint(255, {64, 1, 28, 28}, torch::kLong).to(torch::kUInt8);
  set.labels = torch::arange(64, torch::kLong) % 10;
  TrainerParts parts;
  parts.model = std::make_shared<models::CNNImpl>(models::cnn_size("debug"));
  parts.objective = std::make_shared<ClassificationObjective>();
  parts.train = std::make_shared<data::ImageBatches>(set, 16, 0);
  parts.freeze = std::move(freeze);
  parts.out_dir = out_dir;
  parts.config_yaml = "model: {type: cnn}\n";
  return parts;
}

}  // namespace

TEST_CASE("trainer: state.json round-trips through TrainerState", "[trainer]") {
  const TrainerState s = sample_state();
  const nlohmann::json j = s.to_json();
  const TrainerState back = TrainerState::from_json(j, "state.json");
  CHECK(back.to_json() == j);
  CHECK(back.schedule.type == ScheduleType::kCosine);
  CHECK(back.frozen == s.frozen);

  nlohmann::json missing = j;
  missing["loss_window"].erase("count");
  CHECK_THROWS_WITH(TrainerState::from_json(missing, "ck/state.json"),
                    Catch::Contains("ck/state.json") && Catch::Contains("loss_window.count"));
  nlohmann::json wrong = j;
  wrong["step"] = "twelve";
  CHECK_THROWS_AS(TrainerState::from_json(wrong, "state.json"), InputError);
  // Found by fuzz/state_json: a float too large for int64 was cast (undefined behaviour).
  nlohmann::json huge = j;
  huge["loss_window"]["count"] = 3.33333e60;
  CHECK_THROWS_WITH(TrainerState::from_json(huge, "state.json"),
                    Catch::Contains("'loss_window.count' must be a whole number"));
  nlohmann::json bad_rng = j;
  bad_rng["rng"]["cpu"] = "xyz";
  CHECK_THROWS_WITH(TrainerState::from_json(bad_rng, "state.json"), Catch::Contains("rng.cpu"));
}

TEST_CASE("trainer: a freeze policy's changes reach the optimizer and survive a resume",
          "[trainer]") {
  testing::TempDir dir("trainer-freeze");
  TrainerOptions options;
  options.max_steps = 4;
  options.log_every = 1;
  options.checkpoint_every = 2;
  options.keep_last = 0;
  OptimizerOptions adam;
  adam.type = OptimizerType::kAdam;

  auto policy = std::make_shared<HeadFirst>(2);
  TrainerParts parts = cnn_parts(dir.path, policy);
  auto model = parts.model;
  const auto conv_before = model->named_parameters()["conv1.weight"].clone();
  options.max_steps = 2;
  Trainer(options, adam, {}, parts).run(false);
  // Two steps with only the head training: the convolutions have not moved.
  CHECK(torch::equal(model->named_parameters()["conv1.weight"], conv_before));
  auto saved = load_checkpoint(dir.path + "/checkpoints/step-0000002");
  auto state = TrainerState::from_json(saved.state, "state.json");
  CHECK(std::find(state.frozen.begin(), state.frozen.end(), "conv1.weight") != state.frozen.end());
  CHECK(state.freeze_policy.at("changes") == 1);

  // Resumed in a fresh process's objects: the policy's state comes back, and from step 2 on
  // every parameter trains.
  auto resumed_policy = std::make_shared<HeadFirst>(2);
  TrainerParts again = cnn_parts(dir.path, resumed_policy);
  options.max_steps = 4;
  Trainer(options, adam, {}, again).run(true);
  CHECK(resumed_policy->changes == 2);
  CHECK(!torch::equal(again.model->named_parameters()["conv1.weight"], conv_before));
  auto last = TrainerState::from_json(load_checkpoint(dir.path + "/checkpoints/step-0000004").state,
                                      "state.json");
  CHECK(last.frozen.empty());
}
