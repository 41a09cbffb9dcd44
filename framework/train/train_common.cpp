#include "framework/train/train_common.h"

#include <torch/optim.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "framework/common/error.h"

namespace xai::train_detail {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string duration_text(double s) {
  char buf[32];
  const auto total = static_cast<long long>(s + 0.5);
  if (total >= 3600) {
    std::snprintf(buf, sizeof(buf), "%lldh%02lldm", total / 3600, (total / 60) % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%lldm%02llds", total / 60, total % 60);
  }
  return buf;
}

double lr_at(const TrainOptimOptions& o, int64_t step) {
  if (step < o.warmup_steps) return o.lr * static_cast<double>(step + 1) / o.warmup_steps;
  const double span = std::max<int64_t>(1, o.steps - o.warmup_steps - 1);
  const double progress = std::min(1.0, static_cast<double>(step - o.warmup_steps) / span);
  return o.min_lr + 0.5 * (o.lr - o.min_lr) * (1.0 + std::cos(M_PI * progress));
}

void check_common_options(const TrainOptions& o) {
  XAI_CHECK(o.threads > 0, "train: threads must be positive (got ", o.threads, ")");
  XAI_CHECK(o.optim.steps > 0, "train: train.steps must be positive");
  XAI_CHECK(o.optim.batch_size > 0, "train: train.batch_size must be positive");
  XAI_CHECK(o.optim.warmup_steps >= 0 && o.optim.warmup_steps < o.optim.steps,
            "train: train.warmup_steps must be in [0, steps)");
  XAI_CHECK(o.optim.lr > 0 && o.optim.min_lr >= 0 && o.optim.min_lr <= o.optim.lr,
            "train: need 0 <= train.min_lr <= train.lr and lr > 0");
  XAI_CHECK(o.data.eval_samples > 0, "train: data.eval_samples must be positive");
  XAI_CHECK(o.log_every > 0, "train: log_every must be positive");
}

struct AdamW::Impl {
  std::vector<at::Tensor> params;
  double clip = 0;
  std::unique_ptr<torch::optim::AdamW> optimizer;
};

AdamW::AdamW(const TrainOptimOptions& opt, const TensorMap& weights) : impl_(new Impl) {
  std::vector<at::Tensor> decay, no_decay;
  for (const auto& [name, t] : weights) {
    if (t.requires_grad()) (t.dim() >= 2 ? decay : no_decay).push_back(t);
  }
  auto options = [&](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(opt.lr)
                                                            .betas({opt.beta1, opt.beta2})
                                                            .eps(opt.eps)
                                                            .weight_decay(wd));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, options(opt.weight_decay));
  groups.emplace_back(no_decay, options(0.0));
  impl_->optimizer =
      std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(opt.lr));
  impl_->params = decay;
  impl_->params.insert(impl_->params.end(), no_decay.begin(), no_decay.end());
  impl_->clip = opt.grad_clip;
}

AdamW::~AdamW() = default;

void AdamW::zero_grad() { impl_->optimizer->zero_grad(); }

void AdamW::set_lr(double lr) {
  for (auto& g : impl_->optimizer->param_groups()) {
    static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
  }
}

double AdamW::step() {
  const double norm = torch::nn::utils::clip_grad_norm_(
      impl_->params, impl_->clip > 0 ? impl_->clip : std::numeric_limits<double>::infinity());
  impl_->optimizer->step();
  return norm;
}

TrainProgress::TrainProgress(const TrainOptions& o, TrainResult& result,
                             std::function<void(const std::string&)> say, std::string metric)
    : o_(o), result_(result), say_(std::move(say)), metric_(std::move(metric)) {}

void TrainProgress::step(int64_t step, double loss, double gnorm, double lr, int64_t tokens) {
  loss_sum_ += loss;
  eval_loss_sum_ += loss;
  gnorm_sum_ += gnorm;
  ++loss_n_;
  ++eval_loss_n_;
  tokens_ += tokens;
  const int64_t steps = o_.optim.steps;
  if ((step + 1) % o_.log_every != 0 && step + 1 != steps) return;
  last_loss_ = loss_sum_ / static_cast<double>(loss_n_);
  result_.loss_curve.push_back(last_loss_);
  const double el = seconds_since(start_);
  const double eta = el / static_cast<double>(step + 1) * static_cast<double>(steps - step - 1);
  char speed[48] = "";
  if (tokens_ > 0) std::snprintf(speed, sizeof(speed), "  %.0f tok/s", tokens_ / el);
  char buf[200];
  std::snprintf(buf, sizeof(buf), "step %5lld/%lld  loss %.4f  lr %.2e  gnorm %.2f%s  eta %s",
                static_cast<long long>(step + 1), static_cast<long long>(steps), last_loss_, lr,
                gnorm_sum_ / static_cast<double>(loss_n_), speed, duration_text(eta).c_str());
  say_(buf);
  loss_sum_ = 0;
  gnorm_sum_ = 0;
  loss_n_ = 0;
}

bool TrainProgress::eval_due(int64_t step) const {
  const int64_t every = o_.data.eval_every;
  return every > 0 && (step + 1) % every == 0 && step + 1 < o_.optim.steps;
}

void TrainProgress::evaluated(int64_t steps, int64_t correct, int64_t total) {
  const double acc = total > 0 ? static_cast<double>(correct) / static_cast<double>(total) : 0.0;
  TrainEval ev;
  ev.step = steps;
  ev.loss = eval_loss_n_ ? eval_loss_sum_ / static_cast<double>(eval_loss_n_) : 0.0;
  ev.accuracy = acc;
  result_.history.push_back(ev);
  eval_loss_sum_ = 0;
  eval_loss_n_ = 0;
  char buf[160];
  std::snprintf(buf, sizeof(buf), "eval  step %lld  %s %.1f%% (%lld/%lld)",
                static_cast<long long>(steps), metric_.c_str(), 100.0 * acc,
                static_cast<long long>(correct), static_cast<long long>(total));
  say_(buf);
  result_.test_accuracy = acc;
  result_.test_correct = correct;
  result_.test_total = total;
}

void TrainProgress::finish(Clock::time_point t0) {
  result_.steps = o_.optim.steps;
  result_.final_loss = last_loss_;
  result_.seconds = seconds_since(t0);
  say_(str_cat("train: done in ", duration_text(result_.seconds), ", test ", metric_, " ",
               100.0 * result_.test_accuracy, "%"));
}

namespace {
void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path + ".tmp", std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  XAI_CHECK(out.good(), path, ": write failed");
  std::filesystem::rename(path + ".tmp", path);
}
}  // namespace

void write_checkpoint(const TrainOptions& o, const TrainResult& result,
                      const std::function<void(const std::string&)>& say) {
  namespace fs = std::filesystem;
  save_model(o.output, result.spec, result.weights);
  if (!result.tokenizer_json.empty()) {
    write_text((fs::path(o.output) / "tokenizer.json").string(), result.tokenizer_json);
  }
  if (!result.preprocessor_json.empty()) {
    write_text((fs::path(o.output) / "preprocessor_config.json").string(),
               result.preprocessor_json);
  }
  nlohmann::ordered_json j;
  j["options"] = nlohmann::ordered_json::parse(train_options_json(o));
  j["seed"] = o.seed;
  j["threads"] = o.threads;
  j["steps"] = result.steps;
  j["final_loss"] = result.final_loss;
  j["test_accuracy"] = result.test_accuracy;
  j["test_correct"] = result.test_correct;
  j["test_total"] = result.test_total;
  j["parameters"] = result.spec.num_parameters();
  j["vocab_size"] = result.spec.vocab_size;
  j["seconds"] = result.seconds;
  nlohmann::ordered_json h = nlohmann::ordered_json::array();
  for (const TrainEval& e : result.history)
    h.push_back({{"step", e.step}, {"loss", e.loss}, {"test_accuracy", e.accuracy}});
  j["history"] = h;
  write_text((fs::path(o.output) / "train_log.json").string(), j.dump(2) + "\n");
  say("train: wrote " + o.output);
}

}  // namespace xai::train_detail
