// Regularizer: the penalty on the weights w (never on the intercept).
//
//   R(w) = (l2/2) ||w||^2  +  l1 ||w||_1  +  indicator{lower <= w_j <= upper for all j}
//          \_ smooth f _/     \_______________ h (prox-friendly) ________________/
//
// l1 alone is the lasso / L1-logistic penalty, l1 and l2 together the elastic net, lower = 0
// non-negativity, [lower, upper] a box. The l2 part belongs to the smooth f (so P is strongly
// convex when l2 > 0); h is separable, and its prox per coordinate is
//
//   prox_{eta h}(v) = clamp(soft(v, eta l1), lower, upper),   soft(v, t) = sign(v) max(|v| - t, 0)
//
// (for a convex function of one variable plus an interval, the prox is the projection of the
// unconstrained prox). The intercept coordinate has h = 0 and prox = identity.
//
// Thread-safety: a value type; methods are const and pure.
#ifndef EDGETRAIN_REGULARIZER_H_
#define EDGETRAIN_REGULARIZER_H_

#include <algorithm>
#include <cmath>
#include <limits>

#include "edgetrain/status.h"

namespace edgetrain {

struct Regularizer {
  double l1 = 0.0;
  double l2 = 0.0;
  double lower = -std::numeric_limits<double>::infinity();
  double upper = std::numeric_limits<double>::infinity();

  // l1, l2 >= 0 and finite; lower <= upper; lower < +inf; upper > -inf.
  Status Validate() const;

  bool HasBox() const { return std::isfinite(lower) || std::isfinite(upper); }

  // prox_{eta h}(v) for a penalised coordinate. REQUIRES: eta > 0.
  double Prox(double v, double eta) const {
    const double t = eta * l1;
    double s = v > t ? v - t : (v < -t ? v + t : 0.0);
    return std::clamp(s, lower, upper);
  }

  // h(w_j) + (l2/2) w_j^2 for one coordinate (+inf outside the box).
  double Value(double w) const {
    if (w < lower || w > upper) return std::numeric_limits<double>::infinity();
    return l1 * std::fabs(w) + 0.5 * l2 * w * w;
  }

  // The element of smallest magnitude in the subdifferential of P at a coordinate w with
  // smooth-part partial derivative g (g includes l2 w). Zero exactly when w is optimal given g.
  // The subdifferential is the interval [g + lo, g + hi] with lo = -l1 or +l1 and the normal
  // cone of the box added at a bound; the result is 0 clamped into that interval.
  double MinNormSubgradient(double w, double g) const {
    constexpr double kInf = std::numeric_limits<double>::infinity();
    double lo = (w > 0) ? l1 : -l1;
    double hi = (w < 0) ? -l1 : l1;
    if (w <= lower) lo = -kInf;
    if (w >= upper) hi = kInf;
    return std::clamp(0.0, g + lo, g + hi);
  }
};

}  // namespace edgetrain

#endif  // EDGETRAIN_REGULARIZER_H_
