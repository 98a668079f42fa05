// A certified duality gap for P(x) = (1/n) sum_i phi(a_i.w + b, y_i) + g(w), the stop users read.
//
// g(w) = sum_j (l2/2) w_j^2 + l1 |w_j| + box(w_j) is separable; b, when fitted, is free. Fenchel
// duality gives, for every theta in R^n (sum_i theta_i = 0 when b is fitted),
//   D(theta) = -(1/n) sum_i phi*(theta_i, y_i) - sum_j g_j*(-(1/n) (A^T theta)_j)  <=  P*,
// with the losses' conjugates phi* (loss.h, LossConjugate) and
//   g_j*(u) = max over w in [lower, upper] of u w - (l2/2) w^2 - l1 |w|.
// At the optimum theta_i = phi'(z_i*) and D = P*. From a snapshot x the certificate takes
// theta_i = phi'(z_i) (what the gradient pass computes anyway) and makes it dual feasible, as
// working-set l1 solvers do (celer, Gap Safe rules):
//   - with an intercept, sum theta_i = 0: classification scales the alphas of the heavier class
//     down (r_+ or r_- <= 1); regression subtracts the mean of theta;
//   - with l2 = 0, g* is finite only where |u_j| <= l1 (on an unbounded side): theta is scaled
//     by the largest s in [0, 1] that keeps every coordinate there.
// The coordinator has only sums over the rows, not the rows: it needs sum_i phi*(c theta_i) for a
// scale c (= s times the class factor r) found after summing. phi* is smooth along the ray, so
//   phi*(c theta) = phi*(theta) - (1 - c) theta z + (1 - c)^2 R,   theta z = theta phi*'(theta),
// with R = theta^2 phi*''/2 somewhere on [c theta, theta]: exactly theta^2 / 2 (squared) and
// alpha^2 / 4 (squared hinge); for the logistic loss R <= alpha / c where alpha <= 1/2, and where
// alpha > 1/2 (a badly misfit row, phi*'' unbounded) the convexity bound phi*(c theta) <=
// c phi*(theta) is used instead, which is the same expression with (1 - c) phi(z) in place of the
// remainder. So each pass sums, per class, phi*(theta_i), theta_i z_i, phi(z_i) over the misfit
// rows and the remainder coefficients (DualSums), additive across shards like the gradient sums,
// and the certificate is exact up to the second order in 1 - c: the gap is O(KKT ||x||_1), the
// rate of Gap Safe certificates, not O(KKT / l1 * P) as with the convexity bound alone. Hence
//   gap = P(x) - D  >=  P(x) - P*  >= 0,  and gap -> 0 as x -> x*.
// Without l1 and l2 on an unbounded coordinate whose u_j is not 0, s = 0 and the certificate is
// the trivial D = 0 (gap = P): then only the KKT violation can stop a run.
//
// With a preconditioner (ProblemSpec::scales) the sums are over the solver's columns and g_j is
// weight j's Penalty: u~_j = s_j u_j and g~_j*(u~_j) = g_j*(u_j), so D, the gap and s are the
// user's, term by term.
//
// Shapes: A~ = [A, 1] (the 1 only with an intercept), p = d (+1) entries in every vector.
// Thread-safety: value types and pure functions.
#ifndef EDGETRAIN_DUALITY_H_
#define EDGETRAIN_DUALITY_H_

#include <cstdint>
#include <vector>

#include "edgetrain/problem.h"

namespace edgetrain {

// One pass's contribution to the certificate, added up over rows and shards.
// The scalar sums of the certificate (per class: classification [0] over y_i < 0 and [1] over
// y_i > 0; regression all in [0]).
struct DualScalars {
  double conj[2] = {0.0, 0.0};         // sum phi*(theta_i)
  double theta_z[2] = {0.0, 0.0};      // sum theta_i z_i
  double misfit_loss[2] = {0.0, 0.0};  // logistic: sum phi(z_i) over rows with alpha_i > 1/2
  double remainder[2] = {0.0, 0.0};    // sum of the second-order coefficients R_i (above)
  double target_sum = 0.0;             // sum y_i (used by regression)

  // Adds one row's terms (z its margin, theta = phi'(z, y), value = phi(z, y)).
  void AddRow(LossKind loss, bool positive_class, double z, double y, double theta, double value);
  void Add(const DualScalars& other);
};

// One pass's contribution to the certificate, added up over rows and shards.
struct DualSums {
  DualScalars scalars;
  // Intercept only, else empty. Classification: sum over y_i > 0 of theta_i [a_i; 1] (the other
  // class's part is the gradient sum minus this); regression: sum_i [a_i; 1] (the column sums).
  std::vector<double> aux;

  // REQUIRES: both from the same problem and dimension.
  void Add(const DualSums& other);
  // Zeroes the sums; aux gets p entries when the problem has an intercept.
  void Reset(const ProblemSpec& spec, int64_t p);
};

struct GapCertificate {
  double dual = 0.0;      // D(theta) <= P*
  double gap = 0.0;       // P(x) - D >= P(x) - P* (infinite when no certificate exists)
  double relative = 0.0;  // gap / max(|P(x)|, tiny)
  double scale = 0.0;     // s, the l1 rescaling of theta (1: theta was feasible as it was)
};

// The certificate for x from one gradient pass over n rows: objective = P(x) over those rows,
// grad_sum = sum_i phi'(z_i) [a_i; 1] (p entries, no l2 term), sums = the pass's DualSums.
// REQUIRES: n > 0; spec the problem of the pass.
GapCertificate CertifyGap(const ProblemSpec& spec, int32_t dim, int64_t n, double objective,
                          const double* grad_sum, const DualSums& sums);

}  // namespace edgetrain

#endif  // EDGETRAIN_DUALITY_H_
