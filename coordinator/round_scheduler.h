// RoundScheduler: when the coordinator's next training round starts (docs/deploy.md, "Rounds").
// A round is a whole run to its stop rule; between rounds the agents stay connected and idle.
// The next round is due when any of its triggers fires:
//   --round-every S      S seconds after the last round ended (its model's time after a restart);
//   --round-new-rows N   the agents' rows beyond what they brought to the last round sum to N
//                        (agents report their row count in heartbeats between rounds);
//   on request           `edgetrain-coordinator trigger` (SIGUSR1), or Request() in tests.
// With neither option a round starts only on request. --rounds N stops after N rounds of this
// process (1, the CLI's default: a one-shot run; 0: forever). The first round of a process starts
// as soon as the agents are there, unless a published model exists and the process runs rounds:
// then it waits for a trigger, as it would have without the restart.
//
// Nothing here reads a clock or a file: times are the caller's clock seconds.
// Thread-safety: none; the driver owns it. Ownership: values.
#ifndef EDGETRAIN_COORDINATOR_ROUND_SCHEDULER_H_
#define EDGETRAIN_COORDINATOR_ROUND_SCHEDULER_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>

namespace edgetrain::coordinator {

struct RoundOptions {
  int64_t rounds = 1;     // rounds this process runs (0: forever; 1: one-shot)
  double every = 0;       // seconds from a round's end to the next round (0: not scheduled)
  int64_t new_rows = 0;   // new rows that start a round (0: not used)
  std::string model_dir;  // where rounds publish (empty: nowhere)
  int keep_models = 10;   // model files kept in model_dir (0: all)
};

class RoundScheduler {
 public:
  explicit RoundScheduler(RoundOptions options) : options_(std::move(options)) {}

  // A published model of an earlier process: its round, when it ended (clock seconds, may be in
  // the past) and the rows each agent brought to it. `numbered` is the highest round number used
  // so far (published or not). REQUIRES: before the first Begin.
  void Restore(int64_t round, double ended_at, std::map<std::string, int64_t> rows,
               int64_t numbered);

  // Whether this process trains in rounds (agents stay between them), not a one-shot run.
  bool rounds_mode() const { return options_.rounds != 1; }
  const RoundOptions& options() const { return options_; }
  // Whether the first round waits for a trigger (see the top).
  bool WaitFirst() const { return rounds_mode() && restored_; }
  // Starts the next round, or round `round` when given (a resumed one): returns its number.
  int64_t Begin(int64_t round = 0);
  // The round just begun ended (published or not) at `now`; `rows`: each agent's rows in it.
  void Ended(double now, std::map<std::string, int64_t> rows);
  // Whether another round may start after the current or last one.
  bool More() const { return options_.rounds == 0 || begun_ < options_.rounds; }
  int64_t round() const { return round_; }

  void Request() { requested_ = true; }
  // New rows: the sum over agents of their rows now beyond their rows in the last round (an agent
  // that was not in it counts whole).
  int64_t NewRows(const std::map<std::string, int64_t>& rows_now) const;
  // What starts the next round now ("schedule", "new rows", "request"), or "" when none fires.
  std::string Due(double now, int64_t new_rows) const;
  // When the schedule fires (infinity without --round-every or before a round ended).
  double NextDeadline() const;
  // For the status: "next round in 41 s, after 1000 new rows (230 so far) or on request".
  std::string Describe(double now, int64_t new_rows) const;

 private:
  RoundOptions options_;
  int64_t round_ = 0;  // the current or last round's number
  int64_t begun_ = 0;  // rounds begun by this process
  bool restored_ = false;
  bool ended_ = false;  // a round ended (here or in the restored process)
  double ended_at_ = 0;
  bool requested_ = false;
  std::map<std::string, int64_t> rows_;  // per agent id, in the last round
};

}  // namespace edgetrain::coordinator

#endif  // EDGETRAIN_COORDINATOR_ROUND_SCHEDULER_H_
