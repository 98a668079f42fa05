// ConsoleSink: the coordinator's human-readable output on stdout -- one line per agent event,
// the epoch table, the run's start and end. Every string that came from the network or a file is
// escaped (edgetrain::Printable) so that no agent id or version string can move the cursor,
// retitle the terminal or forge a line.
//
// Every line has a priority (cli/log.h): warnings for refusals, failures and lost agents, notices
// for the run's milestones, info for the epoch table; under systemd the journal files each line
// under it (`journalctl -u edgetrain-coordinator -p warning`).
//
// Thread-safety: one thread. Ownership: borrows the sink.
#ifndef EDGETRAIN_COORDINATOR_CONSOLE_SINK_H_
#define EDGETRAIN_COORDINATOR_CONSOLE_SINK_H_

#include <cstdio>
#include <string>

#include "edgetrain/cli/log.h"
#include "events.h"

namespace edgetrain::coordinator {

class ConsoleSink : public EventSink {
 public:
  explicit ConsoleSink(const cli::LineSink* out) : out_(out) {}
  void Emit(const Event& e) override;

 private:
  void Row(const EpochBegan& e);

  const cli::LineSink* out_;
};

}  // namespace edgetrain::coordinator

#endif  // EDGETRAIN_COORDINATOR_CONSOLE_SINK_H_
