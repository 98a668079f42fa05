// ConsoleSink: the coordinator's human-readable output on stdout -- one line per agent event,
// the epoch table, the run's start and end. Every string that came from the network or a file is
// escaped (edgetrain::Printable) so that no agent id or version string can move the cursor,
// retitle the terminal or forge a line.
//
// Thread-safety: one thread. Ownership: borrows the FILE.
#ifndef EDGETRAIN_COORDINATOR_CONSOLE_SINK_H_
#define EDGETRAIN_COORDINATOR_CONSOLE_SINK_H_

#include <cstdio>
#include <string>

#include "events.h"

namespace edgetrain::coordinator {

class ConsoleSink : public EventSink {
 public:
  explicit ConsoleSink(std::FILE* out) : out_(out) {}
  void Emit(const Event& e) override;

 private:
  void Line(const std::string& text);
  void Row(const EpochBegan& e);

  std::FILE* out_;
};

}  // namespace edgetrain::coordinator

#endif  // EDGETRAIN_COORDINATOR_CONSOLE_SINK_H_
