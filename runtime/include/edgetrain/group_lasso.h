// GroupLasso: the group-sparse penalty over non-overlapping groups of equal size g,
//
//   h(w) = lambda * sum_G ||w_G||_2,   G = {0..g-1}, {g..2g-1}, ... (the last group may be
//   shorter),
//
// which zeroes whole groups of features at once (a sensor's channels, a one-hot category). Its
// prox is block soft-thresholding, one group at a time:
//
//   prox_{eta h}(v)_G = max(0, 1 - eta lambda / ||v_G||_2) v_G      (0 when ||v_G|| <= eta lambda)
//
// With g = 1 it is the l1 prox (soft-thresholding at eta lambda). Unlike l1 it is not separable
// per coordinate: one prox costs O(d) with a square root per group, which is what the coordinator
// of a classic asynchronous proximal parameter server (TAP) must do on every update, and what
// DAP-SVRG moves to the agents (bench/dap_vs_tap.cc measures the difference).
//
// Thread-safety: a value type; methods are const and pure.
#ifndef EDGETRAIN_GROUP_LASSO_H_
#define EDGETRAIN_GROUP_LASSO_H_

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "edgetrain/status.h"

namespace edgetrain {

struct GroupLasso {
  double lambda = 0.0;
  int32_t group_size = 1;

  Status Validate() const {
    if (!(lambda >= 0) || !std::isfinite(lambda))
      return Status::InvalidArgument("group lasso: lambda must be >= 0");
    if (group_size < 1) return Status::InvalidArgument("group lasso: the group size must be >= 1");
    return Status::Ok();
  }

  // h(w) over d coordinates.
  double Value(const double* w, int64_t d) const {
    double sum = 0;
    for (int64_t start = 0; start < d; start += group_size) {
      const int64_t end = std::min<int64_t>(d, start + group_size);
      double sq = 0;
      for (int64_t j = start; j < end; ++j) sq += w[j] * w[j];
      sum += std::sqrt(sq);
    }
    return lambda * sum;
  }

  // out = prox_{eta h}(v) over d coordinates; out may be v. REQUIRES: eta > 0.
  void Prox(const double* v, int64_t d, double eta, double* out) const {
    const double t = eta * lambda;
    for (int64_t start = 0; start < d; start += group_size) {
      const int64_t end = std::min<int64_t>(d, start + group_size);
      double sq = 0;
      for (int64_t j = start; j < end; ++j) sq += v[j] * v[j];
      const double norm = std::sqrt(sq);
      const double scale = norm > t ? 1.0 - t / norm : 0.0;
      for (int64_t j = start; j < end; ++j) out[j] = scale * v[j];
    }
  }
};

}  // namespace edgetrain

#endif  // EDGETRAIN_GROUP_LASSO_H_
