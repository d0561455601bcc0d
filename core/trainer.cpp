#include "core/trainer.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/clock.h"
#include "core/errors.h"
#include "core/hash.h"
#include "core/json_input.h"
#include "core/log.h"
#include "core/metric_registry.h"
#include "core/run.h"

namespace strata {

namespace {

std::string to_hex(const torch::Tensor& bytes) {
  auto t = bytes.contiguous();
  const uint8_t* p = t.data_ptr<uint8_t>();
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(size_t(t.numel()) * 2);
  for (int64_t i = 0; i < t.numel(); ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

torch::Tensor from_hex(const std::string& hex) {
  auto t = torch::empty({int64_t(hex.size() / 2)}, torch::kUInt8);
  uint8_t* p = t.data_ptr<uint8_t>();
  auto val = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    p[i / 2] = uint8_t(val(hex[i]) << 4 | val(hex[i + 1]));
  return t;
}

nlohmann::json cpu_rng_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return to_hex(gen.get_state());
}

void set_cpu_rng_state(const nlohmann::json& hex) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(from_hex(hex.get<std::string>()));
}

// FNV-1a over each row's bytes: the identity of a sample for trainer.trace_samples.
nlohmann::json row_hashes(const torch::Tensor& input) {
  auto rows = input.to(torch::kCPU).contiguous().view({input.size(0), -1});
  const auto* bytes = static_cast<const unsigned char*>(rows.data_ptr());
  const size_t row_bytes = size_t(rows.size(1)) * rows.element_size();
  nlohmann::json out = nlohmann::json::array();
  for (int64_t r = 0; r < rows.size(0); ++r) {
    out.push_back(fmt::format("{:016x}", fnv1a64(bytes + r * row_bytes, row_bytes)));
  }
  return out;
}

}  // namespace

NamedTensors model_tensors(torch::nn::Module& model) {
  NamedTensors out;
  for (const auto& p : model.named_parameters()) out.emplace_back(p.key(), p.value());
  for (const auto& b : model.named_buffers()) out.emplace_back(b.key(), b.value());
  return out;
}

void load_model_tensors(torch::nn::Module& model, const NamedTensors& tensors,
                        const std::string& where) {
  std::map<std::string, torch::Tensor> saved(tensors.begin(), tensors.end());
  torch::NoGradGuard no_grad;
  for (auto& [name, target] : model_tensors(model)) {
    auto it = saved.find(name);
    if (it == saved.end()) {
      throw InputError(fmt::format("{}: no tensor '{}' for this model", where, name));
    }
    if (!it->second.sizes().equals(target.sizes())) {
      throw InputError(fmt::format("{}: tensor '{}' has shape {} but the model needs {}", where,
                                   name, c10::str(it->second.sizes()), c10::str(target.sizes())));
    }
    target.copy_(it->second);
    saved.erase(it);
  }
  if (!saved.empty()) {
    throw InputError(
        fmt::format("{}: tensor '{}' does not belong to this model", where, saved.begin()->first));
  }
}

void read_options(config::Reader r, TrainerOptions& o, BatchOptions& b) {
  r.read("batch_size", b.batch_size, config::Range::at_least(1));
  r.read("tokens_per_step", b.tokens_per_step, config::Range::non_negative());
  r.read("max_steps", o.max_steps, config::Range::non_negative());
  r.read("epochs", o.epochs, config::Range::non_negative());
  r.read("grad_accum", o.grad_accum, config::Range::at_least(1));
  r.read("clip", o.clip, config::Range::non_negative());
  r.read("log_every", o.log_every, config::Range::at_least(1));
  r.read("eval_every", o.eval_every, config::Range::non_negative());
  r.read("checkpoint_every", o.checkpoint_every, config::Range::non_negative());
  r.read("keep_last", o.keep_last, config::Range::non_negative());
  r.read("trace_samples", o.trace_samples);
  r.read("best_metric", o.best_metric);
  r.read("early_stop", o.early_stop, config::Range::non_negative());
  r.read_enum("dtype", o.compute.dtype, precision_names());
  r.read("tf32", o.compute.tf32);
  r.read("pin_memory", o.compute.pin_memory);
  if (o.early_stop > 0 && o.best_metric.empty()) {
    r.fail("early_stop", "needs trainer.best_metric, the metric it watches");
  }
  if (!o.best_metric.empty()) metrics::of_key(o.best_metric, r.where("best_metric"));  // known, or refused
  r.finish();
}

// ---- Trainer ----------------------------------------------------------------------------

Trainer::Trainer(TrainerOptions options, OptimizerOptions optimizer, ScheduleOptions schedule,
                 TrainerParts parts)
    : options_(options), schedule_options_(schedule), parts_(std::move(parts)) {
  const int64_t batches = parts_.train->batches_per_epoch();
  steps_per_epoch_ = batches > 0 ? std::max<int64_t>(1, batches / options_.grad_accum) : 0;
  total_steps_ = options_.max_steps > 0
                     ? options_.max_steps
                     : int64_t(std::ceil(options_.epochs * double(steps_per_epoch_)));
  if (total_steps_ <= 0) throw InputError("trainer: set max_steps or epochs to a positive value");
  if (options_.eval_every <= 0) {
    options_.eval_every = steps_per_epoch_ > 0 ? steps_per_epoch_ : total_steps_;
  }
  if (options_.checkpoint_every <= 0) options_.checkpoint_every = options_.eval_every;
  for (auto& e : parts_.evaluators) {
    if (e.every <= 0) e.every = options_.eval_every;
  }
  options_.compute = resolve_compute(options_.compute, parts_.device, rank0());
  if (options_.compute.dtype == Precision::kBFloat16 && rank0()) {
    log::info("dtype: bfloat16 autocast on {} (weights and optimizer state stay fp32)",
              parts_.device.str());
  }
  if (parts_.freeze) parts_.freeze->apply(0, *parts_.model);
  Optimizer::LrScale lr_scale;
  if (parts_.freeze) {
    lr_scale = [freeze = parts_.freeze](const std::string& name) { return freeze->lr_scale(name); };
  }
  optimizer_ = std::make_unique<Optimizer>(model_tensors(*parts_.model), optimizer, lr_scale);
  schedule_ = std::make_unique<Schedule>(schedule, optimizer.lr, total_steps_);
  checkpointer_ = std::make_unique<Checkpointer>(parts_.out_dir, options_.keep_last);
}

Metrics Trainer::evaluate_all() {
  AutocastGuard autocast(parts_.device, bf16());
  Metrics all;
  for (const auto& e : parts_.evaluators) {
    for (const auto& [k, v] : e.evaluator->evaluate(*parts_.model)) all[k] = v;
  }
  return all;
}

std::string Trainer::evaluate_due() {
  AutocastGuard autocast(parts_.device, bf16());
  Metrics m;
  for (const auto& e : parts_.evaluators) {
    if (step_ % e.every != 0 && step_ != total_steps_) continue;
    for (const auto& [k, v] : e.evaluator->evaluate(*parts_.model)) m[k] = v;
  }
  if (m.empty()) return "";
  nlohmann::json row = {{"step", step_}};
  std::string line = fmt::format("eval step {}:", step_);
  for (const auto& [k, v] : m) {
    row[k] = v;
    line += fmt::format(" {} {:.4f}", k, v);
    last_eval_[k] = v;
  }
  if (track_best(m)) line += " (best)";
  history_[std::to_string(step_)] = row;
  if (rank0()) metrics_.write(row);
  return line;
}

bool Trainer::better(double a, double b) const {
  return metrics::better(options_.best_metric, a, b, "trainer.best_metric");
}

bool Trainer::track_best(const Metrics& m) {
  if (options_.best_metric.empty()) return false;
  auto it = m.find(options_.best_metric);
  if (it == m.end()) {
    std::string names;
    for (const auto& [k, v] : m) names += (names.empty() ? "" : ", ") + k;
    throw InputError(fmt::format("trainer.best_metric '{}' is not among the evaluation's metrics ({})",
                                 options_.best_metric, names));
  }
  for (const auto& [step, row] : history_.items()) {
    if (row.contains(options_.best_metric) && !better(it->second, row[options_.best_metric].get<double>())) {
      return false;
    }
  }
  if (rank0()) {
    CheckpointContents c;
    c.model = model_tensors(*parts_.model);
    c.state = {{"step", step_}, {"metric", options_.best_metric}, {"value", it->second}};
    c.config_yaml = parts_.config_yaml;
    c.write_extra = parts_.write_extra;
    Checkpointer(parts_.out_dir + "/best", 1).save(step_, c);
  }
  return true;
}

int64_t Trainer::evaluations_since_best() const {
  if (options_.best_metric.empty()) return 0;
  // history_ is keyed by step as text; order the rows by step.
  std::map<int64_t, double> values;
  for (const auto& [step, row] : history_.items()) {
    if (row.contains(options_.best_metric)) values[std::stoll(step)] = row[options_.best_metric].get<double>();
  }
  int64_t since = 0;
  bool first = true;
  double best = 0.0;
  for (const auto& [step, v] : values) {
    if (first || better(v, best)) {
      best = v, since = 0, first = false;
    } else {
      ++since;
    }
  }
  return since;
}

double Trainer::clip_gradients() {
  std::vector<torch::Tensor> grads;
  for (const auto& g : optimizer_->groups()) {
    for (const auto& p : g.params) {
      if (p.grad().defined()) grads.push_back(p.grad());
    }
  }
  if (grads.empty()) return 0.0;
  std::vector<torch::Tensor> norms;
  for (const auto& g : grads) norms.push_back(g.norm());
  const double total = torch::stack(norms).norm().item<double>();
  if (options_.clip > 0.0 && total > options_.clip) {
    const double scale = options_.clip / (total + 1e-6);
    for (auto& g : grads) g.mul_(scale);
  }
  return total;
}

void Trainer::apply_freeze_policy() {
  if (parts_.freeze && parts_.freeze->apply(step_, *parts_.model)) {
    optimizer_->rebuild(model_tensors(*parts_.model));
  }
  if (parts_.freeze) parts_.freeze->set_modes(*parts_.model);  // evaluations reset them
}

TrainerState Trainer::capture_state() const {
  TrainerState s;
  s.step = step_;
  s.cpu_rng = cpu_rng_state();
  s.data = parts_.train->state();
  s.lr = optimizer_->lr();
  s.schedule = schedule_options_;
  s.total_steps = total_steps_;
  s.optimizer = optimizer_->groups_json();
  for (const auto& p : parts_.model->named_parameters()) {
    if (!p.value().requires_grad()) s.frozen.push_back(p.key());
  }
  if (parts_.freeze) s.freeze_policy = parts_.freeze->state();
  s.loss_sum = loss_sum_;
  s.loss_count = loss_count_;
  s.metrics = history_;
  return s;
}

void Trainer::restore_state(const TrainerState& s) {
  step_ = s.step;
  parts_.train->load_state(s.data);
  set_cpu_rng_state(s.cpu_rng);
  if (parts_.freeze && !s.freeze_policy.is_null()) parts_.freeze->load_state(s.freeze_policy);
  // What trains now is what trained when the checkpoint was taken.
  std::set<std::string> frozen(s.frozen.begin(), s.frozen.end());
  for (auto& p : parts_.model->named_parameters()) {
    p.value().set_requires_grad(frozen.count(p.key()) == 0);
  }
  optimizer_->rebuild(model_tensors(*parts_.model));
  loss_sum_ = s.loss_sum;
  loss_count_ = s.loss_count;
  history_ = s.metrics;
}

void Trainer::save_checkpoint() {
  if (!rank0()) return;
  CheckpointContents c;
  c.model = model_tensors(*parts_.model);
  c.optimizer = optimizer_->state_tensors();
  c.state = capture_state().to_json();
  c.config_yaml = parts_.config_yaml;
  c.write_extra = parts_.write_extra;
  checkpointer_->save(step_, c);
}

void Trainer::resume_from(const std::string& dir) {
  CheckpointContents c = load_checkpoint(dir);
  load_model_tensors(*parts_.model, c.model, dir + "/model.safetensors");
  restore_state(TrainerState::from_json(c.state, dir + "/state.json"));
  optimizer_->load_state_tensors(c.optimizer);  // after the groups are rebuilt
  log::info("resumed from {} at step {}", dir, step_);
}

double Trainer::train_step() {
  Network& model = *parts_.model;
  optimizer_->set_lr(schedule_->lr(step_));
  optimizer_->zero_grad();
  double step_loss = 0.0;
  for (int64_t micro = 0; micro < options_.grad_accum; ++micro) {
    Batch batch = parts_.train->next().to(parts_.device, options_.compute.pin_memory);
    if (trace_.is_open()) {
      trace_ << nlohmann::json{{"step", step_ + 1}, {"micro", micro}, {"rows", row_hashes(batch.input)}}
             << "\n";
      trace_.flush();
    }
    LossOutput out;
    {
      AutocastGuard autocast(parts_.device, bf16());  // the forward pass and loss; not backward
      out = parts_.objective->compute(model, batch);
    }
    torch::Tensor loss = out.loss;
    if (parts_.sync && parts_.objective->uneven_counts()) {
      // The mean over every rank's counted tokens, as one process would take it: this
      // rank's share is count / total, and the gradient all-reduce divides by world.
      const double world = double(parts_.sync->world());
      const double total = parts_.sync->all_reduce_mean(double(out.count)) * world;
      loss = loss * (total > 0 ? double(out.count) * world / total : 0.0);
    }
    (loss / double(options_.grad_accum)).backward();
    step_loss += loss.item<double>() / double(options_.grad_accum);
    units_ += out.processed >= 0 ? out.processed : out.count;
  }
  if (parts_.sync) {
    std::vector<torch::Tensor> params;
    for (const auto& g : optimizer_->groups())
      params.insert(params.end(), g.params.begin(), g.params.end());
    parts_.sync->all_reduce_gradients(params);
    step_loss = parts_.sync->all_reduce_mean(step_loss);
  }
  if (!std::isfinite(step_loss)) {
    std::string last = checkpointer_->latest();
    throw std::runtime_error(fmt::format(
        "loss is {} at step {}; stopping. The last good checkpoint is {}",
        std::isnan(step_loss) ? "NaN" : "Inf", step_ + 1, last.empty() ? "(none yet)" : last));
  }
  if (options_.clip > 0.0) clip_gradients();
  optimizer_->step();
  return step_loss;
}

double Trainer::log_metrics(double seconds) {
  Network& model = *parts_.model;
  const char* unit = parts_.objective->unit();
  double rate = seconds > 0 ? double(units_) / seconds : 0.0;
  if (parts_.sync) rate *= double(parts_.sync->world());  // every rank does its share
  nlohmann::json row = {{"step", step_},
                        {"loss", loss_sum_ / double(loss_count_)},
                        {"lr", optimizer_->lr()},
                        {std::string(unit) + "_per_s", rate},
                        {"seconds", seconds}};
  if (parts_.peak_flops > 0 && model.train_flops_per_unit() > 0) {
    const double devices = parts_.sync ? double(parts_.sync->world()) : 1.0;
    row["mfu"] = model.train_flops_per_unit() * rate / (parts_.peak_flops * devices);
  }
  row["peak_rss_mb"] = peak_rss_mb();
  const double device_mb = peak_device_memory_mb(parts_.device);
  if (device_mb >= 0) row["peak_device_mb"] = device_mb;
  if (rank0()) metrics_.write(row);
  loss_sum_ = 0.0;
  loss_count_ = 0;
  units_ = 0;
  return rate;
}

nlohmann::json Trainer::run(bool resume) {
  const std::string latest = resume ? checkpointer_->latest() : "";
  if (!latest.empty()) resume_from(latest);
  if (rank0()) {
    metrics_ = MetricsWriter(parts_.out_dir + "/metrics.jsonl", latest.empty() ? -1 : step_);
  }
  if (options_.trace_samples) {
    const int rank = parts_.sync ? parts_.sync->rank() : 0;
    std::filesystem::create_directories(parts_.out_dir + "/samples");
    trace_.open(fmt::format("{}/samples/rank-{}.jsonl", parts_.out_dir, rank), std::ios::app);
  }
  parts_.model->train();
  Progress progress(total_steps_, step_);
  using Clock = std::chrono::steady_clock;
  auto window_start = Clock::now();
  const auto stop_early = [&] {
    return options_.early_stop > 0 && evaluations_since_best() >= options_.early_stop;
  };
  while (step_ < total_steps_ && !stop_early()) {
    apply_freeze_policy();
    try {
      loss_sum_ += train_step();
    } catch (...) {
      progress.finish();
      throw;
    }
    ++step_;
    ++loss_count_;
    if (step_ % options_.log_every == 0 || step_ == total_steps_) {
      const double loss = loss_sum_ / double(loss_count_);
      const double seconds = seconds_since(window_start);
      const double rate = log_metrics(seconds);
      progress.update(step_, loss, rate, parts_.objective->unit());
      window_start = Clock::now();
    }
    const auto pause = Clock::now();  // evaluation and saving are not training time
    const std::string eval_line = evaluate_due();
    if (!eval_line.empty()) progress.message(eval_line);
    const bool stopping = stop_early();
    if (step_ % options_.checkpoint_every == 0 || step_ == total_steps_ || stopping) save_checkpoint();
    window_start += Clock::now() - pause;
    if (stopping) {
      progress.message(fmt::format("early stop at step {}: {} evaluations without a better {}",
                                   step_, options_.early_stop, options_.best_metric));
    }
  }
  progress.finish();
  nlohmann::json result = {{"step", step_}};
  const std::string best = options_.best_metric.empty() ? "" : latest_checkpoint(parts_.out_dir + "/best");
  if (!best.empty()) {
    // The reported numbers are those of the best weights, evaluated again.
    CheckpointContents c = load_checkpoint(best);
    load_model_tensors(*parts_.model, c.model, best + "/model.safetensors");
    const int64_t best_step =
        c.state.contains("step") ? json_int64(c.state["step"], best + "/state.json", "step") : -1;
    log::info("restored the best weights ({} {:.4f} at step {}) from {}", options_.best_metric,
              c.state.value("value", 0.0), best_step, best);
    last_eval_ = evaluate_all();
    result["best_step"] = best_step;
  } else if (last_eval_.empty()) {
    last_eval_ = evaluate_all();  // a resumed run that had finished
  }
  for (const auto& [k, v] : last_eval_) result[k] = v;
  return result;
}

}  // namespace strata
