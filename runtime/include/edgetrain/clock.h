// Clock: the time source the coordinator and agents read, injected so tests can control it.
//
// Thread-safety: SteadyClock is safe to share; implementations must be.
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

}  // namespace edgetrain

#endif  // EDGETRAIN_CLOCK_H_
