#include "edgetrain/row_sampler.h"

#include <algorithm>
#include <cassert>
#include <numeric>

namespace edgetrain {

RowSampler RowSampler::Uniform(const std::vector<double>& row_smoothness) {
  RowSampler s;
  s.n_ = static_cast<int64_t>(row_smoothness.size());
  for (double l : row_smoothness) s.l_q_ = std::max(s.l_q_, l);
  return s;
}

RowSampler RowSampler::Importance(const std::vector<double>& row_smoothness) {
  const int64_t n = static_cast<int64_t>(row_smoothness.size());
  assert(n > 0);
  const double total = std::accumulate(row_smoothness.begin(), row_smoothness.end(), 0.0);
  if (!(total > 0)) return Uniform(row_smoothness);
  RowSampler s;
  s.n_ = n;
  s.prob_.resize(n);
  s.alias_.resize(n);
  s.weight_.resize(n);
  // Scaled probabilities n p_i, split into "small" (< 1) and "large" (>= 1) for Vose's method.
  std::vector<double> scaled(n);
  std::vector<int32_t> small, large;
  for (int64_t i = 0; i < n; ++i) {
    const double np = 0.5 + 0.5 * static_cast<double>(n) * row_smoothness[i] / total;
    scaled[i] = np;
    s.weight_[i] = static_cast<float>(1.0 / np);
    s.l_q_ = std::max(s.l_q_, row_smoothness[i] * static_cast<double>(s.weight_[i]));
    (np < 1.0 ? small : large).push_back(static_cast<int32_t>(i));
  }
  while (!small.empty() && !large.empty()) {
    const int32_t l = small.back();
    small.pop_back();
    const int32_t g = large.back();
    s.prob_[l] = scaled[l];
    s.alias_[l] = g;
    scaled[g] = (scaled[g] + scaled[l]) - 1.0;
    if (scaled[g] < 1.0) {
      large.pop_back();
      small.push_back(g);
    }
  }
  for (int32_t i : large) s.prob_[i] = 1.0, s.alias_[i] = i;
  for (int32_t i : small) s.prob_[i] = 1.0, s.alias_[i] = i;  // rounding leftovers
  return s;
}

RowSampler RowSampler::Choose(const std::vector<double>& row_smoothness) {
  RowSampler uniform = Uniform(row_smoothness);
  if (row_smoothness.empty()) return uniform;
  RowSampler importance = Importance(row_smoothness);
  return importance.l_q() < 0.9 * uniform.l_q() ? std::move(importance) : std::move(uniform);
}

}  // namespace edgetrain
