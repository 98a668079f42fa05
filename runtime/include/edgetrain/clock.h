// Clock: the time source the coordinator and agents read, injected so tests can control it.
// SteadyClock is the real one; ManualClock moves only when told (Advance), so a test can run a
// whole protocol -- timeouts, heartbeats, repeats -- in milliseconds and deterministically.
//
// Thread-safety: SteadyClock is safe to share; ManualClock is for one thread.
#ifndef EDGETRAIN_CLOCK_H_
#define EDGETRAIN_CLOCK_H_

#include <chrono>

namespace edgetrain {

class Clock {
 public:
  virtual ~Clock() = default;
  // Seconds on a monotonic scale (only differences are meaningful).
  virtual double Now() const = 0;
  // Seconds since the Unix epoch (for timestamps in logs).
  virtual double WallTime() const = 0;
};

class SteadyClock : public Clock {
 public:
  double Now() const override {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  double WallTime() const override {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

class ManualClock : public Clock {
 public:
  explicit ManualClock(double start = 1000.0, double wall_offset = 1.7e9)
      : now_(start), wall_offset_(wall_offset) {}
  double Now() const override { return now_; }
  double WallTime() const override { return now_ + wall_offset_; }
  // REQUIRES: seconds >= 0.
  void Advance(double seconds) { now_ += seconds; }
  void Set(double now) { now_ = now; }

 private:
  double now_;
  double wall_offset_;
};

}  // namespace edgetrain

#endif  // EDGETRAIN_CLOCK_H_
