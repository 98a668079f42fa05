// SupportNewtonStep: a projected Newton step on the support of x, the serial trainer's second
// phase once ProxSVRG has identified the support (local_trainer.h).
//
// S holds the non-zero weights (sigma_j = sign x_j), the zero weights whose optimality condition
// fails (|mu_j| > l1; sigma_j = -sign mu_j, the orthant they move into, as in OWL-QN) and the
// intercept. On the orthant of sigma, P is smooth: F(w_S) = f(w_S) + l1 sigma . w_S, and P equals
// F there. The step solves H p = -g with
//   g = mu_S + l2 x_S + l1 sigma       (mu = (1/n) sum_i phi'(a_i.x) [a_i;1], the snapshot's mu~)
//   H = (1/n) A~_S^T diag(phi''(a_i.x)) A~_S + l2 I   (|S| x |S|, dense, Cholesky)
// and takes x + alpha p with the coordinates that would leave their orthant set to zero
// (projection), halving alpha from 1 until P decreases. ProxSVRG converges linearly at a rate set
// by the condition number on the support, which is poor for ill-conditioned data (tf-idf text:
// 0.91 per epoch on SpamAssassin); Newton on the support converges quadratically there. It never
// decides stopping: the next snapshot's full gradient and KKT check do.
//
// Cost: one pass over the rows for H (sum over rows of nnz_S(row)^2) plus one pass per line-search
// trial; |S|^2 doubles of memory. Thread-safety: a pure function.
#ifndef EDGETRAIN_SUPPORT_NEWTON_H_
#define EDGETRAIN_SUPPORT_NEWTON_H_

#include <cstdint>
#include <vector>

#include "edgetrain/dataset.h"
#include "edgetrain/problem.h"

namespace edgetrain {

struct NewtonOutcome {
  bool improved = false;  // *x was replaced by a point with a lower objective
  double objective = 0;   // P at the returned x
  double alpha = 0;       // the accepted step length
  int64_t support = 0;    // |S| (intercept included)
};

// REQUIRES: x has p entries, mu the (1/n) loss-gradient sum at x (CoordinatorState::mu()),
// objective = P(x); spec without a box (returns improved = false otherwise). Returns without a
// step (improved = false) when building H would cost more than max_work_per_nonzero
// multiply-adds per non-zero of the data (an inner-loop epoch costs about 3 passes).
NewtonOutcome SupportNewtonStep(const Dataset& data, const ProblemSpec& spec, const double* mu, double objective,
                                std::vector<double>* x, double max_work_per_nonzero = 20.0);

// Whether SupportNewtonStep should be tried: no box, 0 < |S| <= max_support (S as above,
// without the intercept) and the support nearly identified: at most max(2, 5 %) of S are zero
// weights that violate their optimality condition.
bool SupportNewtonApplies(const ProblemSpec& spec, const double* mu, const std::vector<double>& x, int32_t dim,
                          int64_t max_support);

}  // namespace edgetrain

#endif  // EDGETRAIN_SUPPORT_NEWTON_H_
