#include "edgetrain/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace edgetrain {

ClassificationMetrics EvaluateClassification(const std::vector<double>& y,
                                             const std::vector<double>& decision, LossKind loss) {
  ClassificationMetrics m;
  const size_t n = y.size();
  m.rows = static_cast<int64_t>(n);
  if (n == 0) {
    m.accuracy = m.auc = m.log_loss = std::numeric_limits<double>::quiet_NaN();
    return m;
  }
  int64_t correct = 0;
  double ll = 0.0;
  for (size_t i = 0; i < n; ++i) {
    correct += ((decision[i] > 0) == (y[i] > 0));
    ll += LogisticLoss::Value(decision[i], y[i]);  // = -log p(y_i)
  }
  m.accuracy = static_cast<double>(correct) / static_cast<double>(n);
  m.log_loss = loss == LossKind::kLogistic ? ll / static_cast<double>(n)
                                           : std::numeric_limits<double>::quiet_NaN();
  // AUC by the rank-sum (Mann-Whitney) statistic with average ranks for ties.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return decision[a] < decision[b]; });
  double rank_sum_pos = 0.0;
  int64_t pos = 0;
  for (size_t k = 0; k < n;) {
    size_t e = k;
    while (e + 1 < n && decision[order[e + 1]] == decision[order[k]]) ++e;
    const double avg_rank = 0.5 * static_cast<double>(k + e) + 1.0;
    for (size_t t = k; t <= e; ++t) {
      if (y[order[t]] > 0) {
        rank_sum_pos += avg_rank;
        ++pos;
      }
    }
    k = e + 1;
  }
  const int64_t neg = static_cast<int64_t>(n) - pos;
  if (pos == 0 || neg == 0) {
    m.auc = std::numeric_limits<double>::quiet_NaN();
  } else {
    m.auc = (rank_sum_pos - 0.5 * static_cast<double>(pos) * static_cast<double>(pos + 1)) /
            (static_cast<double>(pos) * static_cast<double>(neg));
  }
  return m;
}

RegressionMetrics EvaluateRegression(const std::vector<double>& y,
                                     const std::vector<double>& prediction) {
  RegressionMetrics m;
  const size_t n = y.size();
  m.rows = static_cast<int64_t>(n);
  if (n == 0) {
    m.rmse = m.r2 = std::numeric_limits<double>::quiet_NaN();
    return m;
  }
  const double mean = std::accumulate(y.begin(), y.end(), 0.0) / static_cast<double>(n);
  double ss_res = 0.0, ss_tot = 0.0;
  for (size_t i = 0; i < n; ++i) {
    ss_res += (y[i] - prediction[i]) * (y[i] - prediction[i]);
    ss_tot += (y[i] - mean) * (y[i] - mean);
  }
  m.rmse = std::sqrt(ss_res / static_cast<double>(n));
  m.r2 = ss_tot > 0 ? 1.0 - ss_res / ss_tot : std::numeric_limits<double>::quiet_NaN();
  return m;
}

std::vector<double> Decisions(const Model& model, const Dataset& data) {
  std::vector<double> w;
  double b;
  model.EffectiveWeights(&w, &b);
  std::vector<double> out(data.rows());
  for (int64_t i = 0; i < data.rows(); ++i) {
    const RowView row = data.Row(i);
    double z = b;
    for (int32_t k = 0; k < row.nnz; ++k) {
      if (row.index[k] < model.dim) z += w[row.index[k]] * row.value[k];
    }
    out[i] = z;
  }
  return out;
}

}  // namespace edgetrain
