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
// The solver's preconditioner (column_scales.h) gives each weight its own copy, Scaled(s_j): the
// same penalty of x_j = s_j z_j written in z_j. ProblemSpec::Penalty(j) hands it out.
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

  // The penalty of z = w / s: l1 s |z| + (l2 s^2 / 2) z^2 on [lower / s, upper / s].
  // REQUIRES: s > 0, inv_s = 1 / s (both powers of two: every product is exact).
  Regularizer Scaled(double s, double inv_s) const {
    return Regularizer{l1 * s, l2 * s * s, lower * inv_s, upper * inv_s};
  }
  // Where a coordinate starts: the point of the box closest to zero.
  double Start() const { return std::clamp(0.0, lower, upper); }

  // prox_{eta h}(v) for a penalised coordinate. REQUIRES: eta > 0.
  double Prox(double v, double eta) const {
    const double t = eta * l1;
    double s = v > t ? v - t : (v < -t ? v + t : 0.0);
    return std::clamp(s, lower, upper);
  }

  // prox of eta (h + (l2/2) w^2), the l2 part taken exactly as well:
  //   clamp(soft(v, eta l1) / (1 + eta l2), lower, upper)
  // (the l2 part is smooth, but its curvature l2 s_j^2 in a preconditioned coordinate can be far
  // above the data's: inside the prox it costs the step nothing). Prox(v, eta) when l2 = 0, bit
  // for bit. REQUIRES: eta > 0.
  double ProxWithL2(double v, double eta) const {
    const double t = eta * l1;
    double s = v > t ? v - t : (v < -t ? v + t : 0.0);
    return std::clamp(s / (1.0 + eta * l2), lower, upper);
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
