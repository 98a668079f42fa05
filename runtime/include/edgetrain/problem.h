// ProblemSpec and the full-data quantities of
//
//   P(x) = (1/n) sum_i phi(a_i . w + b, y_i) + (l2/2)||w||^2 + l1 ||w||_1 + box(w)
//
// The model vector x has p = d + 1 entries when the model has an (unregularised) intercept b,
// stored last: x = [w_0 .. w_{d-1}, b]; otherwise p = d and b = 0.
//
// With the solver's preconditioner (ProblemSpec::scales, column_scales.h) every function here
// works in the scaled coordinates: the data's column j was multiplied by s_j (ApplyColumnScales),
// the vectors hold z_j = x_j / s_j, and weight j's penalty is Penalty(j). P, its duality gap and
// the KKT violation are reported in the user's units all the same (P~(z) = P(S z), same numbers).
//
// Shapes: a Dataset with n rows and dimension d; x, gradients and mu have length p.
// Thread-safety: pure functions over caller-owned memory.
#ifndef EDGETRAIN_PROBLEM_H_
#define EDGETRAIN_PROBLEM_H_

#include <cstdint>
#include <vector>

#include "edgetrain/column_scales.h"
#include "edgetrain/dataset.h"
#include "edgetrain/loss.h"
#include "edgetrain/regularizer.h"
#include "edgetrain/status.h"

namespace edgetrain {

struct ProblemSpec {
  LossKind loss = LossKind::kLogistic;
  Regularizer reg;  // in the user's units, for every weight
  bool intercept = false;
  // The solver's preconditioner; empty: none (the vectors are x itself). Not part of the
  // problem's definition: the wire and model files carry the user's problem without it.
  ColumnScales scales;

  // Weight j's penalty in the solver's coordinates: reg.Scaled(s_j) (reg without scales).
  // REQUIRES: j < d (the intercept has no penalty).
  Regularizer Penalty(int64_t j) const {
    return scales.empty() ? reg : reg.Scaled(scales.scale(j), scales.inverse(j));
  }

  // Model vector length for data of dimension d.
  int64_t ModelSize(int32_t dim) const { return dim + (intercept ? 1 : 0); }
  // Regularizer valid; the loss fits the task (squared loss for regression, the others for
  // classification).
  Status Validate(Task task) const;
};

// Margin a_i . w + b. REQUIRES: x has p entries for the row's dataset dimension d.
inline double Margin(const RowView& row, const double* x, int32_t dim, bool intercept) {
  double z = intercept ? x[dim] : 0.0;
  for (int32_t k = 0; k < row.nnz; ++k) z += row.value[k] * x[row.index[k]];
  return z;
}

struct DualSums;  // duality.h

// Sum over rows of the loss gradient at x:  grad_sum = sum_i phi'(z_i, y_i) [a_i; 1],
// loss_sum = sum_i phi(z_i, y_i). When `deriv` is non-null it receives phi'(z_i, y_i) per row
// (the snapshot cache of the SVRG inner loop); when `dual` is non-null it is reset and receives
// the rows' part of the duality-gap certificate (duality.h). The l2 term is not included.
// REQUIRES: grad_sum has p entries; deriv (if given) n entries.
void LossGradientSum(const Dataset& data, const ProblemSpec& spec, const double* x,
                     double* grad_sum, double* loss_sum, double* deriv, DualSums* dual = nullptr);

// Penalty part of P: (l2/2)||w||^2 + l1||w||_1 (+inf outside the box), weight by weight
// Penalty(j).Value(x_j).
double PenaltyValue(const ProblemSpec& spec, const double* x, int64_t p);

// P(x) from the loss sum over n rows.
inline double ObjectiveFromLossSum(const ProblemSpec& spec, double loss_sum, int64_t n,
                                   const double* x, int64_t p) {
  return loss_sum / static_cast<double>(n) + PenaltyValue(spec, x, p);
}

// P(x), computed from the data. REQUIRES: x has spec.ModelSize(data.dim()) entries.
double Objective(const Dataset& data, const ProblemSpec& spec, const double* x);

// A model vector (p entries) from the solver's coordinates to the user's and back
// (ColumnScales::ToUser, ToSolver); the identity without scales.
std::vector<double> ModelToUser(const ProblemSpec& spec, std::vector<double> z);
std::vector<double> ModelToSolver(const ProblemSpec& spec, std::vector<double> x);
// A starting point the user gave (p entries, the user's units: a published model, train-local's
// start) for the solver: weights clamped into the box, non-finite entries zeroed, then
// ModelToSolver.
std::vector<double> StartToSolver(const ProblemSpec& spec, std::vector<double> x);

// Norms of the minimum-norm subgradient r of P at x: zero exactly at the optimum. r is always the
// subgradient of the user's P with respect to the user's x: with a preconditioner the solver's
// gradient is mapped back, dP/dx_j = (dP~/dz_j) / s_j + m_j dP~/db~ (exact for scaled columns),
// so the number means the same with and without it.
struct KktNorms {
  double max_abs = 0;  // ||r||_inf: "the KKT violation", what the stopping rule compares
  double l2 = 0;       // ||r||_2
  // A certified bound on P(x) - P*: ||r||_2^2 / (2 l2) by strong convexity when l2 > 0 and the
  // model has no unregularised intercept; NaN otherwise.
  double gap_bound = 0;
};

// The KKT violation at x given mu = (1/n) sum_i phi'(z_i) [a_i; 1] (the averaged loss gradient;
// the l2 term is added here); x and mu in the solver's coordinates, the result in the user's.
KktNorms KktViolation(const ProblemSpec& spec, const double* mu, const double* x, int64_t p);

}  // namespace edgetrain

#endif  // EDGETRAIN_PROBLEM_H_
