#include "edgetrain/support_newton.h"

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "edgetrain/loss.h"

namespace edgetrain {

namespace {

// phi''(z, y) (y = +-1 for the classification losses).
double LossSecondDeriv(LossKind kind, double z, double y) {
  switch (kind) {
    case LossKind::kSquared: return 1.0;
    case LossKind::kSquaredHinge: return 1.0 - y * z > 0 ? 2.0 : 0.0;
    case LossKind::kLogistic: break;
  }
  const double s = 1.0 / (1.0 + std::exp(-y * z));
  return s * (1.0 - s);
}

double Objective(const Dataset& data, const ProblemSpec& spec, const std::vector<double>& x) {
  double loss = 0.0;
  for (int64_t i = 0; i < data.rows(); ++i) {
    const RowView row = data.Row(i);
    loss += LossValue(spec.loss, Margin(row, x.data(), data.dim(), spec.intercept), row.y);
  }
  return ObjectiveFromLossSum(spec, loss, data.rows(), x.data(), static_cast<int64_t>(x.size()));
}

}  // namespace

bool SupportNewtonApplies(const ProblemSpec& spec, const double* mu, const std::vector<double>& x, int32_t dim,
                          int64_t max_support) {
  if (spec.reg.HasBox()) return false;
  int64_t nonzero = 0, violators = 0;
  for (int32_t j = 0; j < dim; ++j) {
    if (x[j] != 0.0) {
      ++nonzero;
    } else if (std::fabs(mu[j]) > spec.reg.l1) {
      ++violators;
    }
  }
  // Far from the optimum many zero weights still want to move: the support is not identified and
  // Newton's model is poor (and its Hessian large); the inner loops are the better use of a pass.
  return nonzero > 0 && nonzero + violators <= max_support && violators <= std::max<int64_t>(2, nonzero / 20);
}

NewtonOutcome SupportNewtonStep(const Dataset& data, const ProblemSpec& spec, const double* mu, double objective,
                                std::vector<double>* x, double max_work_per_nonzero) {
  NewtonOutcome out;
  out.objective = objective;
  if (spec.reg.HasBox()) return out;
  const int32_t d = data.dim();
  const int64_t p = spec.ModelSize(d);
  std::vector<int32_t> s_index;          // S, in coordinate order
  std::vector<int32_t> pos(p, -1);       // coordinate -> position in S
  // S: the non-zero weights, with their sign, and the zero weights whose optimality condition
  // fails (|mu_j| > l1), with the sign of the orthant they move into (-sign mu_j).
  std::vector<double> sign(p, 0.0);
  for (int32_t j = 0; j < d; ++j) {
    const double xj = (*x)[j];
    if (xj != 0.0 || std::fabs(mu[j]) > spec.reg.l1) {
      pos[j] = static_cast<int32_t>(s_index.size());
      s_index.push_back(j);
      sign[j] = xj != 0.0 ? (xj > 0 ? 1.0 : -1.0) : (mu[j] > 0 ? -1.0 : 1.0);
    }
  }
  if (spec.intercept) {
    pos[d] = static_cast<int32_t>(s_index.size());
    s_index.push_back(d);
  }
  const int64_t m = static_cast<int64_t>(s_index.size());
  out.support = m;
  if (m == 0) return out;

  // The Hessian costs sum_i nnz_S(row i)^2 / 2; past a few epochs' worth of work, skip it.
  double work = 0.0;
  for (int64_t i = 0; i < data.rows(); ++i) {
    const RowView row = data.Row(i);
    int64_t in_s = spec.intercept ? 1 : 0;
    for (int32_t k = 0; k < row.nnz; ++k) in_s += pos[row.index[k]] >= 0;
    work += 0.5 * static_cast<double>(in_s) * static_cast<double>(in_s + 1);
  }
  if (work > max_work_per_nonzero * static_cast<double>(std::max<int64_t>(data.nnz(), 1))) return out;

  const double l1 = spec.reg.l1, l2 = spec.reg.l2;
  Eigen::VectorXd g(m);
  for (int64_t k = 0; k < m; ++k) {
    const int32_t j = s_index[k];
    const double xj = (*x)[j];
    g[k] = mu[j] + (j < d ? l2 * xj + l1 * sign[j] : 0.0);
  }
  Eigen::MatrixXd h = Eigen::MatrixXd::Zero(m, m);
  std::vector<int32_t> at;
  std::vector<double> val;
  at.reserve(m);
  val.reserve(m);
  const double inv_n = 1.0 / static_cast<double>(data.rows());
  for (int64_t i = 0; i < data.rows(); ++i) {
    const RowView row = data.Row(i);
    const double w = LossSecondDeriv(spec.loss, Margin(row, x->data(), d, spec.intercept), row.y) * inv_n;
    if (w == 0.0) continue;
    at.clear();
    val.clear();
    for (int32_t k = 0; k < row.nnz; ++k) {
      if (pos[row.index[k]] >= 0) {
        at.push_back(pos[row.index[k]]);
        val.push_back(row.value[k]);
      }
    }
    if (spec.intercept) {
      at.push_back(pos[d]);
      val.push_back(1.0);
    }
    for (size_t a = 0; a < at.size(); ++a) {
      const double wa = w * val[a];
      for (size_t b = 0; b <= a; ++b) h(at[a], at[b]) += wa * val[b];
    }
  }
  double trace = 0.0;
  for (int64_t k = 0; k < m; ++k) {
    if (s_index[k] < d) h(k, k) += l2;
    trace += h(k, k);
  }
  for (int64_t k = 0; k < m; ++k) h(k, k) += 1e-12 * trace / static_cast<double>(m);  // keeps H definite
  const Eigen::LDLT<Eigen::MatrixXd> ldlt(h.selfadjointView<Eigen::Lower>());
  if (ldlt.info() != Eigen::Success) return out;
  const Eigen::VectorXd step = ldlt.solve(-g);
  if (!step.allFinite()) return out;

  std::vector<double> trial = *x;
  for (double alpha = 1.0; alpha > 1e-6; alpha *= 0.5) {
    for (int64_t k = 0; k < m; ++k) {
      const int32_t j = s_index[k];
      const double v = (*x)[j] + alpha * step[k];
      trial[j] = (j < d && v * sign[j] <= 0.0) ? 0.0 : v;  // stay in the orthant
    }
    const double value = Objective(data, spec, trial);
    if (value < objective) {
      *x = trial;
      out.improved = true;
      out.objective = value;
      out.alpha = alpha;
      return out;
    }
  }
  return out;
}

}  // namespace edgetrain
