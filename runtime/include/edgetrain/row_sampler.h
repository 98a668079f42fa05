// RowSampler: draws the rows of an i.i.d. mini-batch, uniformly or by importance.
//
// Importance sampling (Xiao & Zhang, Prox-SVRG, 2014, section 3; partially biased as in Needell,
// Srebro & Ward 2014): p_i = 1/(2n) + L_i / (2 sum_k L_k). A drawn row's gradient difference is
// scaled by its weight 1/(n p_i) <= 2, which keeps the estimator unbiased and bounds its
// smoothness by L_Q = max_i L_i / (n p_i) <= 2 L_avg instead of L_max. Rows with outlying norms
// then no longer force a tiny step. Draws use Vose's alias method: O(1) each, 12 bytes per row.
//
// Thread-safety: const methods are safe concurrently; the Rng is the caller's.
// Ownership: owns its tables.
#ifndef EDGETRAIN_ROW_SAMPLER_H_
#define EDGETRAIN_ROW_SAMPLER_H_

#include <cstdint>
#include <vector>

#include "edgetrain/rng.h"

namespace edgetrain {

class RowSampler {
 public:
  RowSampler() = default;
  // Uniform over n rows; weights 1; L_Q = max_i L_i.
  static RowSampler Uniform(const std::vector<double>& row_smoothness);
  // Importance sampling as above. REQUIRES: all L_i >= 0, n > 0.
  static RowSampler Importance(const std::vector<double>& row_smoothness);
  // The better of the two for these rows: importance when it lowers L_Q by more than 10 %.
  static RowSampler Choose(const std::vector<double>& row_smoothness);

  bool importance() const { return !prob_.empty(); }
  int64_t rows() const { return n_; }
  // The smoothness the step size must respect: max_i L_i / (n p_i).
  double l_q() const { return l_q_; }

  int64_t Sample(Rng& rng) const {
    const int64_t i = static_cast<int64_t>(rng.Uniform(static_cast<uint64_t>(n_)));
    if (prob_.empty()) return i;
    return rng.UniformDouble() < prob_[i] ? i : alias_[i];
  }
  // 1 / (n p_i).
  double Weight(int64_t i) const { return weight_.empty() ? 1.0 : static_cast<double>(weight_[i]); }

 private:
  int64_t n_ = 0;
  double l_q_ = 0;
  std::vector<double> prob_;    // alias method: keep i with this probability...
  std::vector<int32_t> alias_;  // ...else take alias_[i]
  std::vector<float> weight_;   // 1/(n p_i), in [1/2 .. 2]: float is exact enough and small
};

}  // namespace edgetrain

#endif  // EDGETRAIN_ROW_SAMPLER_H_
