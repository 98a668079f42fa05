#include "eta.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace edgetrain::coordinator {

void ConvergenceEta::Add(double seconds, double measure, double tolerance) {
  if (!(measure > 0) || !std::isfinite(measure) || !(tolerance > 0)) return;
  log_tolerance_ = std::log10(tolerance);
  points_.emplace_back(seconds, std::log10(measure));
  while (points_.size() > kWindow) points_.pop_front();
}

double ConvergenceEta::Estimate(double now, double epochs_left, double seconds_left) const {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  double estimate = kNaN;
  if (points_.size() >= 3) {
    // Least squares of log10(measure) on time.
    double st = 0, sm = 0, stt = 0, stm = 0;
    for (const auto& [t, m] : points_) {
      st += t;
      sm += m;
      stt += t * t;
      stm += t * m;
    }
    const double n = static_cast<double>(points_.size());
    const double var = stt - st * st / n;
    const double slope = var > 0 ? (stm - st * sm / n) / var : 0;
    if (slope < 0) {
      const double fitted_now = (sm + slope * (n * now - st)) / n;  // the line at `now`
      estimate = std::max(0.0, (log_tolerance_ - fitted_now) / slope);
    }
  }
  if (epochs_left > 0 && points_.size() >= 2) {
    const double per_epoch =
        (points_.back().first - points_.front().first) / static_cast<double>(points_.size() - 1);
    const double cap = epochs_left * per_epoch;
    estimate = std::isnan(estimate) ? cap : std::min(estimate, cap);
  }
  if (seconds_left > 0)
    estimate = std::isnan(estimate) ? seconds_left : std::min(estimate, seconds_left);
  return estimate;
}

}  // namespace edgetrain::coordinator
