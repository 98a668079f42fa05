#include "edgetrain/problem.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "edgetrain/duality.h"

namespace edgetrain {

Status Regularizer::Validate() const {
  if (!(l1 >= 0) || !std::isfinite(l1))
    return Status::InvalidArgument("l1 must be a finite number >= 0");
  if (!(l2 >= 0) || !std::isfinite(l2))
    return Status::InvalidArgument("l2 must be a finite number >= 0");
  if (std::isnan(lower) || std::isnan(upper) || !(lower <= upper)) {
    return Status::InvalidArgument("the box needs lower <= upper");
  }
  if (lower == std::numeric_limits<double>::infinity() ||
      upper == -std::numeric_limits<double>::infinity()) {
    return Status::InvalidArgument("the box [lower, upper] is empty");
  }
  return Status::Ok();
}

Status ProblemSpec::Validate(Task task) const {
  EDGETRAIN_RETURN_IF_ERROR(reg.Validate());
  if (task == Task::kRegression && loss != LossKind::kSquared) {
    return Status::InvalidArgument(std::string("loss '") + LossName(loss) +
                                   "' needs -1/+1 classification labels; use --loss squared for "
                                   "regression targets");
  }
  return Status::Ok();
}

void LossGradientSum(const Dataset& data, const ProblemSpec& spec, const double* x,
                     double* grad_sum, double* loss_sum, double* deriv, DualSums* dual) {
  const int32_t d = data.dim();
  const int64_t p = spec.ModelSize(d);
  std::fill(grad_sum, grad_sum + p, 0.0);
  if (dual != nullptr) dual->Reset(spec, p);
  double total = 0.0;
  DispatchLoss(spec.loss, [&](auto loss) {
    using L = decltype(loss);
    const int64_t n = data.rows();
    double bias_grad = 0.0;
    // The certificate's sums (duality.h), and with an intercept the positive class's gradient
    // (classification) or the column sums (regression).
    const bool regression = spec.loss == LossKind::kSquared;
    double* aux = dual != nullptr && spec.intercept ? dual->aux.data() : nullptr;
    for (int64_t i = 0; i < n; ++i) {
      const RowView row = data.Row(i);
      const double z = Margin(row, x, d, spec.intercept);
      const double g = L::Deriv(z, row.y);
      const double value = L::Value(z, row.y);
      total += value;
      if (deriv != nullptr) deriv[i] = g;
      if (dual != nullptr)
        dual->scalars.AddRow(spec.loss, !regression && row.y > 0, z, row.y, g, value);
      if (aux != nullptr && (regression || (row.y > 0 && g != 0.0))) {
        const double weight = regression ? 1.0 : g;
        for (int32_t k = 0; k < row.nnz; ++k) aux[row.index[k]] += weight * row.value[k];
        aux[d] += weight;
      }
      if (g != 0.0) {
        for (int32_t k = 0; k < row.nnz; ++k) grad_sum[row.index[k]] += g * row.value[k];
        bias_grad += g;
      }
    }
    if (spec.intercept) grad_sum[d] = bias_grad;
  });
  *loss_sum = total;
}

double PenaltyValue(const ProblemSpec& spec, const double* x, int64_t p) {
  const int64_t weights = spec.intercept ? p - 1 : p;
  double sum = 0.0;
  if (spec.scales.empty()) {
    for (int64_t j = 0; j < weights; ++j) sum += spec.reg.Value(x[j]);
  } else {
    for (int64_t j = 0; j < weights; ++j) sum += spec.Penalty(j).Value(x[j]);
  }
  return sum;
}

double Objective(const Dataset& data, const ProblemSpec& spec, const double* x) {
  const int64_t p = spec.ModelSize(data.dim());
  std::vector<double> grad(p);
  double loss_sum = 0.0;
  LossGradientSum(data, spec, x, grad.data(), &loss_sum, nullptr);
  return ObjectiveFromLossSum(spec, loss_sum, data.rows(), x, p);
}

std::vector<double> ModelToUser(const ProblemSpec& spec, std::vector<double> z) {
  if (spec.scales.empty() || z.empty()) return z;
  const int64_t weights = static_cast<int64_t>(z.size()) - (spec.intercept ? 1 : 0);
  spec.scales.ToUser(z.data(), weights, spec.intercept ? &z.back() : nullptr);
  return z;
}

std::vector<double> ModelToSolver(const ProblemSpec& spec, std::vector<double> x) {
  if (spec.scales.empty() || x.empty()) return x;
  const int64_t weights = static_cast<int64_t>(x.size()) - (spec.intercept ? 1 : 0);
  spec.scales.ToSolver(x.data(), weights, spec.intercept ? &x.back() : nullptr);
  return x;
}

std::vector<double> StartToSolver(const ProblemSpec& spec, std::vector<double> x) {
  const size_t weights = x.size() - (spec.intercept && !x.empty() ? 1 : 0);
  for (size_t j = 0; j < x.size(); ++j) {
    if (!std::isfinite(x[j])) x[j] = 0;
    if (j < weights && spec.reg.HasBox()) x[j] = std::clamp(x[j], spec.reg.lower, spec.reg.upper);
  }
  return ModelToSolver(spec, std::move(x));
}

KktNorms KktViolation(const ProblemSpec& spec, const double* mu, const double* x, int64_t p) {
  const int64_t weights = spec.intercept ? p - 1 : p;
  double worst = 0.0, sumsq = 0.0;
  // In the user's units: x_j = s_j z_j, dP/dx_j = (mu~_j + l2_j z_j) / s_j + m_j mu~_b.
  const ColumnScales& sc = spec.scales;
  const double mu_b = spec.intercept ? mu[p - 1] : 0.0;
  for (int64_t j = 0; j < weights; ++j) {
    const double r =
        sc.empty() ? spec.reg.MinNormSubgradient(x[j], mu[j] + spec.reg.l2 * x[j])
                   : spec.reg.MinNormSubgradient(
                         x[j] * sc.scale(j),
                         (mu[j] + spec.Penalty(j).l2 * x[j]) * sc.inverse(j) + sc.offset(j) * mu_b);
    worst = std::max(worst, std::fabs(r));
    sumsq += r * r;
  }
  if (spec.intercept) {
    worst = std::max(worst, std::fabs(mu[p - 1]));
    sumsq += mu[p - 1] * mu[p - 1];
  }
  KktNorms k;
  k.max_abs = worst;
  k.l2 = std::sqrt(sumsq);
  k.gap_bound = (spec.reg.l2 > 0 && !spec.intercept) ? sumsq / (2.0 * spec.reg.l2)
                                                     : std::numeric_limits<double>::quiet_NaN();
  return k;
}

}  // namespace edgetrain
