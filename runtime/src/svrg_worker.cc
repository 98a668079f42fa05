#include "edgetrain/svrg_worker.h"

#include <algorithm>
#include <cassert>

namespace edgetrain {

namespace {

RowSampler MakeSampler(const Dataset& shard, const ProblemSpec& spec,
                       SvrgWorker::Sampling sampling) {
  const std::vector<double> l = RowSmoothness(shard, spec);
  switch (sampling) {
    case SvrgWorker::Sampling::kUniform:
      return RowSampler::Uniform(l);
    case SvrgWorker::Sampling::kImportance:
      return RowSampler::Importance(l);
    case SvrgWorker::Sampling::kAuto:
      break;
  }
  return RowSampler::Choose(l);
}

}  // namespace

double LazyL1Steps(double x, int64_t k, double a, double t) {
  if (k <= 0) return x;
  if (a < 0) return -LazyL1Steps(-x, k, -a, t);  // soft(-x + a, t) = -soft(x - a, t)
  // a >= 0: every step pushes x down.
  if (x > 0) {
    const double s = a + t;  // while x > s a step is x - s
    if (s == 0.0) return x;
    int64_t i = 0;  // steps taken while x > s
    if (x > s) {
      const double q = std::ceil(x / s - 1.0);
      i = q >= static_cast<double>(k) ? k : static_cast<int64_t>(q);
      while (i > 0 && !(x - static_cast<double>(i - 1) * s > s)) --i;  // rounding of q
      while (i < k && x - static_cast<double>(i) * s > s) ++i;
    }
    if (i >= k) return x - static_cast<double>(k) * s;
    x -= static_cast<double>(i) * s;
    k -= i;
    x = (x - a >= -t) ? 0.0 : x - a + t;  // 0 < x <= s, so x - a <= t
    if (--k == 0) return x;
  }
  // x <= 0: toward zero by t - a per step when a <= t (and 0 stays 0), else away by a - t.
  if (a <= t) return std::min(x + static_cast<double>(k) * (t - a), 0.0);
  return x - static_cast<double>(k) * (a - t);
}

SvrgWorker::SvrgWorker(const Dataset* shard, const ProblemSpec& spec, uint64_t seed,
                       Sampling sampling, std::vector<double>* power_start)
    : shard_(shard),
      spec_(spec),
      rng_(seed),
      sampler_(MakeSampler(*shard, spec, sampling)),
      smoothness_(EstimateSmoothness(*shard, spec, sampler_, 12, power_start)),
      d_(shard->dim()),
      p_(spec.ModelSize(shard->dim())),
      snapshot_deriv_(shard->rows(), 0.0),
      mu_(p_, 0.0),
      acc_(p_, 0.0),
      stamp_(p_, 0u) {
  assert(shard->rows() > 0);
  drift_.reserve(p_);
  touched_.reserve(p_);
}

void SvrgWorker::ComputeSnapshot(const double* x_tilde, double* grad_sum, double* loss_sum,
                                 DualSums* dual) {
  LossGradientSum(*shard_, spec_, x_tilde, grad_sum, loss_sum, snapshot_deriv_.data(), dual);
}

void SvrgWorker::BeginEpoch(const double* mu, double eta, int32_t batch, int64_t inner_steps,
                            int64_t flush_every) {
  assert(eta > 0 && batch >= 1);
  assert(inner_steps != kUnknownSteps || flush_every > 0);
  eta_ = eta;
  batch_ = batch;
  lazy_ = lazy_requested_ && inner_steps > 0 && spec_.reg.l2 == 0.0 && !spec_.reg.HasBox();
  if (lazy_) {
    step_ = 0;
    inner_steps_ = inner_steps;
    flush_every_ = flush_every;
    last_.assign(p_, 0);  // x is current everywhere at the epoch's start (allocated once)
    cur_.resize(p_);
  }
  std::copy(mu, mu + p_, mu_.begin());
  // A coordinate at zero that no row of the mini-batch touches moves to prox(-eta mu_j).
  drift_.clear();
  for (int32_t j = 0; j < d_; ++j) {
    if (spec_.Penalty(j).Prox(-eta_ * mu_[j], eta_) != 0.0) drift_.push_back(j);
  }
  if (spec_.intercept) drift_.push_back(d_);
}

void SvrgWorker::Step(const ModelView& x_hat, ModelUpdate* update) {
  if (lazy_) {
    DispatchLoss(spec_.loss, [&](auto loss) { LazyStepImpl<decltype(loss)>(x_hat, update); });
  } else {
    DispatchLoss(spec_.loss, [&](auto loss) { StepImpl<decltype(loss)>(x_hat, update); });
  }
}

template <typename Loss>
void SvrgWorker::LazyStepImpl(const ModelView& x_hat, ModelUpdate* update) {
  assert(x_hat.p == p_ && update->delta.dim() == p_ && update->guarded.dim() == p_);
  update->Clear();
  touched_.clear();
  if (++current_ == 0) {
    std::fill(stamp_.begin(), stamp_.end(), 0u);
    current_ = 1;
  }
  const double* x = x_hat.x;
  const double eta = eta_;
  const int64_t s = step_;
  // First visit in this step: zero the accumulator, bring x_j up to step s (its threshold is
  // eta times its own l1 weight, the same number the prox below uses).
  auto visit = [&](int32_t j) {
    if (stamp_[j] == current_) return;
    Touch(j);
    cur_[j] =
        j < d_ ? LazyL1Steps(x[j], s - last_[j], eta * mu_[j], eta * spec_.Penalty(j).l1) : x[j];
  };
  const double inv_b = 1.0 / batch_;
  for (int32_t b = 0; b < batch_; ++b) {
    const int64_t i = sampler_.Sample(rng_);
    const RowView row = shard_->Row(i);
    double z = 0.0;
    for (int32_t k = 0; k < row.nnz; ++k) {
      const int32_t j = row.index[k];
      visit(j);
      z += cur_[j] * row.value[k];
    }
    if (spec_.intercept) {
      visit(d_);
      z += cur_[d_];
    }
    const double c = (Loss::Deriv(z, row.y) - snapshot_deriv_[i]) * sampler_.Weight(i) * inv_b;
    if (c == 0.0) continue;
    for (int32_t k = 0; k < row.nnz; ++k) acc_[row.index[k]] += c * row.value[k];
    if (spec_.intercept) acc_[d_] += c;
  }
  if (spec_.intercept) visit(d_);  // unregularised: moves by -eta mu~ every step, kept current
  // The epoch's last step, or a flush: everything becomes current.
  if (s + 1 >= inner_steps_ || (flush_every_ > 0 && (s + 1) % flush_every_ == 0)) {
    for (int64_t k = 0; k < x_hat.support_size; ++k) visit(x_hat.support[k]);
    for (int32_t j : drift_) visit(j);
  }
  for (int32_t j : touched_) {
    last_[j] = s + 1;
    if (j < d_) {
      const double next = spec_.Penalty(j).Prox(cur_[j] - eta * (acc_[j] + mu_[j]), eta);
      const double dj = next - x[j];
      if (dj == 0.0) continue;
      (next == 0.0 && spec_.reg.l1 > 0 ? update->guarded : update->delta).Push(j, dj);
    } else {
      const double dj = -eta * (acc_[j] + mu_[j]);
      if (dj != 0.0) update->delta.Push(j, dj);
    }
  }
  ++step_;
}

template <typename Loss>
void SvrgWorker::StepImpl(const ModelView& x_hat, ModelUpdate* update) {
  assert(x_hat.p == p_ && update->delta.dim() == p_ && update->guarded.dim() == p_);
  update->Clear();
  touched_.clear();
  if (++current_ == 0) {  // stamp wrap-around: forget all marks
    std::fill(stamp_.begin(), stamp_.end(), 0u);
    current_ = 1;
  }
  const double* x = x_hat.x;
  const double inv_b = 1.0 / batch_;
  for (int32_t t = 0; t < batch_; ++t) {
    const int64_t i = sampler_.Sample(rng_);
    const RowView row = shard_->Row(i);
    const double z = Margin(row, x, d_, spec_.intercept);
    const double c = (Loss::Deriv(z, row.y) - snapshot_deriv_[i]) * sampler_.Weight(i) * inv_b;
    if (c == 0.0) continue;
    for (int32_t k = 0; k < row.nnz; ++k) {
      const int32_t j = row.index[k];
      Touch(j);
      acc_[j] += c * row.value[k];
    }
    if (spec_.intercept) {
      Touch(d_);
      acc_[d_] += c;
    }
  }

  const double eta = eta_;
  const bool kink_at_zero = spec_.reg.l1 > 0;
  const bool box = spec_.reg.HasBox();
  auto apply = [&](int32_t j, double g_acc) {
    const double xj = x[j];
    if (j < d_) {
      // The l2 part in the prox (regularizer.h): exact whatever its per-coordinate weight.
      const Regularizer reg = spec_.Penalty(j);
      const double next = reg.ProxWithL2(xj - eta * (g_acc + mu_[j]), eta);
      const double dj = next - xj;
      if (dj == 0.0) return;
      const bool kink =
          (next == 0.0 && kink_at_zero) || (box && (next == reg.lower || next == reg.upper));
      (kink ? update->guarded : update->delta).Push(j, dj);
    } else {
      const double dj = -eta * (g_acc + mu_[j]);  // intercept: unregularised
      if (dj != 0.0) update->delta.Push(j, dj);
    }
  };

  if (x_hat.dense) {
    for (int64_t j = 0; j < p_; ++j) {
      apply(static_cast<int32_t>(j), stamp_[j] == current_ ? acc_[j] : 0.0);
    }
    return;
  }
  for (int64_t k = 0; k < x_hat.support_size; ++k) Touch(x_hat.support[k]);
  for (int32_t j : drift_) Touch(j);
  for (int32_t j : touched_) apply(j, acc_[j]);
}

}  // namespace edgetrain
