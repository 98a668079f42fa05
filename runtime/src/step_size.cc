#include "edgetrain/step_size.h"

#include <algorithm>
#include <cmath>

#include "edgetrain/rng.h"

namespace edgetrain {

std::vector<double> RowSmoothness(const Dataset& data, const ProblemSpec& spec) {
  const double c = LossCurvature(spec.loss);
  const double bias = spec.intercept ? 1.0 : 0.0;
  std::vector<double> l(data.rows());
  for (int64_t i = 0; i < data.rows(); ++i) {
    const RowView row = data.Row(i);
    double sq = bias;
    for (int32_t k = 0; k < row.nnz; ++k) sq += row.value[k] * row.value[k];
    l[i] = c * sq;
  }
  return l;
}

Smoothness EstimateSmoothness(const Dataset& data, const ProblemSpec& spec,
                              const RowSampler& sampler, int power_iterations,
                              std::vector<double>* top) {
  const int64_t n = data.rows();
  const int32_t d = data.dim();
  const int64_t p = spec.ModelSize(d);
  const double c = LossCurvature(spec.loss);
  Smoothness s;
  s.rows = n;
  double sum = 0.0;
  for (double l : RowSmoothness(data, spec)) {
    s.l_max = std::max(s.l_max, l);
    sum += l;
  }
  s.l_avg = sum / static_cast<double>(n);
  s.l_q = sampler.l_q();
  s.importance = sampler.importance();

  // Power iteration on A~^T A~ / n with A~ = [A, 1].
  std::vector<double> v(p), w(p);
  Rng rng(12345);
  for (double& e : v) e = rng.UniformDouble() + 0.5;  // positive start: overlaps the top vector
  if (top != nullptr && static_cast<int64_t>(top->size()) == p) {
    v = *top;  // close to the top vector already
    power_iterations = std::min(power_iterations, kWarmPowerIterations);
  }
  double lambda = 0.0;
  for (int it = 0; it < power_iterations; ++it) {
    double norm = 0.0;
    for (double e : v) norm += e * e;
    norm = std::sqrt(norm);
    if (norm == 0.0) break;
    for (double& e : v) e /= norm;
    std::fill(w.begin(), w.end(), 0.0);
    for (int64_t i = 0; i < n; ++i) {
      const RowView row = data.Row(i);
      const double z = Margin(row, v.data(), d, spec.intercept);
      for (int32_t k = 0; k < row.nnz; ++k) w[row.index[k]] += z * row.value[k];
      if (spec.intercept) w[d] += z;
    }
    double rayleigh = 0.0;
    for (int64_t j = 0; j < p; ++j) rayleigh += v[j] * w[j];
    lambda = std::max(lambda, rayleigh / static_cast<double>(n));
    v.swap(w);
  }
  if (top != nullptr) *top = v;
  // The Rayleigh quotient approaches lambda_max from below; never exceed the trace bound L_avg.
  s.l_full = std::min(s.l_avg, c * lambda * 1.1);
  return s;
}

Smoothness CombineSmoothness(const std::vector<Smoothness>& parts) {
  Smoothness s;
  double avg = 0.0, full = 0.0;
  for (const Smoothness& part : parts) {
    s.rows += part.rows;
    s.l_max = std::max(s.l_max, part.l_max);
    s.l_q = std::max(s.l_q, part.l_q);
    s.importance = s.importance || part.importance;
    avg += part.l_avg * static_cast<double>(part.rows);
    full += part.l_full * static_cast<double>(part.rows);
  }
  if (s.rows > 0) {
    s.l_avg = avg / static_cast<double>(s.rows);
    s.l_full = full / static_cast<double>(s.rows);
  }
  return s;
}

Result<StepPlan> PlanSteps(const Smoothness& smoothness, double l2, const StepOptions& options) {
  if (options.batch < 1) return Status::InvalidArgument("the mini-batch size must be at least 1");
  if (options.eta < 0 || !std::isfinite(options.eta)) {
    return Status::InvalidArgument(
        "the step size must be a finite number > 0 (or 0 for automatic)");
  }
  if (!(options.step_scale > 0) || !std::isfinite(options.step_scale)) {
    return Status::InvalidArgument("the step scale must be a finite number > 0");
  }
  if (options.inner_steps < 0) return Status::InvalidArgument("the inner steps must be >= 0");
  if (!(options.epoch_passes > 0)) return Status::InvalidArgument("epoch passes must be > 0");
  StepPlan plan;
  plan.batch = options.batch;
  const double b = options.batch;
  plan.l_batch = (1.0 - 1.0 / b) * smoothness.l_full + smoothness.l_q / b + l2;
  if (options.eta > 0) {
    plan.eta = options.eta;
  } else if (plan.l_batch > 0) {
    plan.eta = options.step_scale / plan.l_batch;
  } else {
    plan.eta = 1.0;  // all-zero data: any step is exact
  }
  if (options.inner_steps > 0) {
    plan.inner_steps = options.inner_steps;
  } else {
    plan.inner_steps = std::max<int64_t>(
        1, static_cast<int64_t>(
               std::ceil(options.epoch_passes * static_cast<double>(smoothness.rows) / b)));
  }
  return plan;
}

}  // namespace edgetrain
