#include "edgetrain/duality.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace edgetrain {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// g_j*(u) = max over w in [lower, upper] of u w - (l2/2) w^2 - l1 |w|, for u where it is finite.
double PenaltyConjugate(const Regularizer& reg, double u) {
  auto value = [&](double w) { return u * w - 0.5 * reg.l2 * w * w - reg.l1 * std::fabs(w); };
  if (reg.l2 > 0) {  // concave: the unconstrained maximiser soft(u, l1) / l2, projected
    const double soft = u > reg.l1 ? u - reg.l1 : (u < -reg.l1 ? u + reg.l1 : 0.0);
    return value(std::clamp(soft / reg.l2, reg.lower, reg.upper));
  }
  // Piecewise linear and concave: the maximum is at a finite bound or at the kink (0, clamped).
  double best = value(std::clamp(0.0, reg.lower, reg.upper));
  if (std::isfinite(reg.lower)) best = std::max(best, value(reg.lower));
  if (std::isfinite(reg.upper)) best = std::max(best, value(reg.upper));
  return best;
}

// The largest s in [0, 1] with g_j*(s u) finite: with l2 = 0 an unbounded side needs the slope
// of u w - l1 |w| toward it to be <= 0.
double FeasibleScale(const Regularizer& reg, double u) {
  if (reg.l2 > 0) return 1.0;
  double s = 1.0;
  if (reg.upper == kInf && u > reg.l1) s = std::min(s, reg.l1 / u);
  if (reg.lower == -kInf && u < -reg.l1) s = std::min(s, reg.l1 / -u);
  return s;
}

// An upper bound on sum_i phi*(c theta_i) over one class's rows from their sums (duality.h).
double ScaledConjugateBound(LossKind loss, const DualScalars& sums, int k, double c) {
  if (c >= 1.0) return sums.conj[k];
  if (c <= 0.0) return 0.0;
  const double linear = c * sums.conj[k];  // convexity, phi*(0) = 0
  const double q = 1.0 - c;
  const double remainder = loss == LossKind::kLogistic ? sums.remainder[k] / c : sums.remainder[k];
  const double second_order =
      sums.conj[k] - q * sums.theta_z[k] + q * sums.misfit_loss[k] + q * q * remainder;
  return std::min(linear, second_order);
}

}  // namespace

void DualScalars::AddRow(LossKind loss, bool positive_class, double z, double y, double theta,
                         double value) {
  const int k = positive_class ? 1 : 0;
  conj[k] += LossConjugate(loss, theta, y);
  theta_z[k] += theta * z;
  target_sum += y;
  const double alpha = -y * theta;
  switch (loss) {
    case LossKind::kSquared:
      remainder[k] += 0.5 * theta * theta;
      break;
    case LossKind::kSquaredHinge:
      remainder[k] += 0.25 * alpha * alpha;
      break;
    case LossKind::kLogistic:
      if (alpha > 0.5) {
        misfit_loss[k] += value;
      } else {
        remainder[k] += alpha;
      }
      break;
  }
}

void DualScalars::Add(const DualScalars& other) {
  for (int k = 0; k < 2; ++k) {
    conj[k] += other.conj[k];
    theta_z[k] += other.theta_z[k];
    misfit_loss[k] += other.misfit_loss[k];
    remainder[k] += other.remainder[k];
  }
  target_sum += other.target_sum;
}

void DualSums::Add(const DualSums& other) {
  scalars.Add(other.scalars);
  for (size_t j = 0; j < aux.size() && j < other.aux.size(); ++j) aux[j] += other.aux[j];
}

void DualSums::Reset(const ProblemSpec& spec, int64_t p) {
  scalars = DualScalars();
  aux.assign(spec.intercept ? static_cast<size_t>(p) : 0, 0.0);
}

GapCertificate CertifyGap(const ProblemSpec& spec, int32_t dim, int64_t n, double objective,
                          const double* grad_sum, const DualSums& sums) {
  const double inv_n = 1.0 / static_cast<double>(n);
  const DualScalars& sc = sums.scalars;
  // theta' = theta made to sum to zero when there is an intercept: classification scales the
  // heavier class by r <= 1, regression subtracts the mean m. u = -A^T theta' / n (weights).
  double r[2] = {1.0, 1.0};
  double mean = 0.0;
  const bool regression = spec.loss == LossKind::kSquared;
  if (spec.intercept && !regression) {
    // theta_i = -y_i alpha_i: the positives' alphas sum to -aux[d], the negatives' to the rest.
    const double pos = -sums.aux[dim];
    const double neg = grad_sum[dim] - sums.aux[dim];
    if (pos > neg) {
      r[1] = pos > 0 ? std::max(neg, 0.0) / pos : 1.0;
    } else {
      r[0] = neg > 0 ? std::max(pos, 0.0) / neg : 1.0;
    }
  } else if (regression && spec.intercept) {
    mean = grad_sum[dim] * inv_n;
  }
  auto u_of = [&](int32_t j) {
    double u = grad_sum[j];
    if (spec.intercept && !regression) {
      u = r[1] * sums.aux[j] + r[0] * (grad_sum[j] - sums.aux[j]);
    } else if (spec.intercept) {
      u -= mean * sums.aux[j];
    }
    return -u * inv_n;  // the argument of g*
  };
  // With a preconditioner u~_j = s_j u_j and g~_j*(u~) = g_j*(u~ / s_j): the same D, term by term.
  double s = 1.0;
  for (int32_t j = 0; j < dim; ++j) s = std::min(s, FeasibleScale(spec.Penalty(j), u_of(j)));
  // s u_j lands on l1 up to rounding; a hair less keeps every slope <= 0 for certain.
  if (s < 1.0) s *= 1.0 - 0x1p-50;
  // sum_i phi*(s theta'_i): exact for the squared loss (a quadratic in theta'), else bounded.
  double conj = 0.0;
  if (regression) {
    const double sum_sq = 2 * sc.remainder[0] - static_cast<double>(n) * mean * mean;
    const double sum_y = sc.theta_z[0] - 2 * sc.remainder[0] - mean * sc.target_sum;
    conj = 0.5 * s * s * sum_sq + s * sum_y;
  } else {
    for (int k = 0; k < 2; ++k) conj += ScaledConjugateBound(spec.loss, sc, k, s * r[k]);
  }
  GapCertificate c;
  c.scale = s;
  double penalty_conj = 0.0;
  for (int32_t j = 0; j < dim; ++j) penalty_conj += PenaltyConjugate(spec.Penalty(j), s * u_of(j));
  c.dual = -conj * inv_n - penalty_conj;
  c.gap = std::isfinite(c.dual) ? objective - c.dual : kInf;
  c.relative = c.gap / std::max(std::fabs(objective), 1e-300);
  return c;
}

}  // namespace edgetrain
