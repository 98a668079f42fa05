// BurstLimit: the rate limit of the coordinator's repetitive log lines (refused messages, failed
// handshakes, refused keys). In each window of `window` seconds the first `burst` events are
// shown; the rest are only counted, and the count is reported once the window has ended (by the
// next Admit, or by Flush from a timer), so a flood from many connections costs a few lines.
//
// Thread-safety: one thread. Ownership: a value.
#ifndef EDGETRAIN_COORDINATOR_BURST_LIMIT_H_
#define EDGETRAIN_COORDINATOR_BURST_LIMIT_H_

#include <cstdint>

namespace edgetrain::coordinator {

class BurstLimit {
 public:
  // REQUIRES: burst >= 1, window > 0.
  BurstLimit(int burst, double window) : burst_(burst), window_(window) {}

  struct Verdict {
    bool show = false;   // log this event
    int64_t hidden = 0;  // events hidden in the window that just ended: report them first
  };
  Verdict Admit(double now) {
    Verdict v;
    v.hidden = Flush(now);
    if (now >= window_end_) {
      window_end_ = now + window_;
      shown_ = 0;
    }
    v.show = ++shown_ <= burst_;
    if (!v.show) ++hidden_;
    return v;
  }
  // The events hidden in a window that has ended (0 while it runs); they are then forgotten.
  int64_t Flush(double now) {
    if (now < window_end_ || hidden_ == 0) return 0;
    const int64_t h = hidden_;
    hidden_ = 0;
    return h;
  }

 private:
  int burst_;
  double window_;
  double window_end_ = 0;
  int shown_ = 0;
  int64_t hidden_ = 0;
};

}  // namespace edgetrain::coordinator

#endif  // EDGETRAIN_COORDINATOR_BURST_LIMIT_H_
