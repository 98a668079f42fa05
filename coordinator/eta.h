// ConvergenceEta: when will the run stop? From the trend of the stop measure (the certified
// relative gap, or the KKT violation when there is no gap) over the last snapshots: ProxSVRG and
// Newton epochs converge linearly or faster, so log(measure) is fitted by a line in time and
// extrapolated to the tolerance; the epoch and time limits cap the answer.
//
// Thread-safety: one thread. Ownership: values.
#ifndef EDGETRAIN_COORDINATOR_ETA_H_
#define EDGETRAIN_COORDINATOR_ETA_H_

#include <cstddef>
#include <deque>
#include <utility>

namespace edgetrain::coordinator {

class ConvergenceEta {
 public:
  static constexpr size_t kWindow = 6;  // snapshots in the fit

  // A best snapshot at `seconds` with stop measure `measure` (> 0) against `tolerance`.
  void Add(double seconds, double measure, double tolerance);
  // Forget the trend (the rows changed: another function).
  void Reset() { points_.clear(); }
  // Seconds from `now` until the measure reaches the tolerance; NaN when there is no trend (fewer
  // than 3 snapshots, or not decreasing). Capped by the limits when given (> 0): epochs_left
  // epochs of the mean epoch length, and seconds_left.
  double Estimate(double now, double epochs_left, double seconds_left) const;

 private:
  std::deque<std::pair<double, double>> points_;  // (seconds, log10 measure)
  double log_tolerance_ = 0;
};

}  // namespace edgetrain::coordinator

#endif  // EDGETRAIN_COORDINATOR_ETA_H_
