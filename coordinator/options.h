// CoordinatorOptions: everything an edgetrain-coordinator run is configured by (one field per
// command-line option, with its default), and RunSummary: what a run ends with.
//
// Thread-safety: values. Ownership: values.
#ifndef EDGETRAIN_COORDINATOR_OPTIONS_H_
#define EDGETRAIN_COORDINATOR_OPTIONS_H_

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "edgetrain/dataset.h"
#include "edgetrain/epoch_policy.h"
#include "edgetrain/problem.h"
#include "edgetrain/readers.h"
#include "edgetrain/scaler.h"
#include "edgetrain/transport/channel.h"
#include "round_scheduler.h"

namespace edgetrain::coordinator {

struct CoordinatorOptions {
  std::string bind = "tcp://*:5555";  // agents connect here
  std::string log_bind =
      "tcp://127.0.0.1:5556";  // the log stream (empty: none); loopback unless named
  std::string log_json;        // also write the log as JSON lines ("-" = stdout)
  std::string model_path;      // the model file written at the end (empty: none)
  std::string endpoints_file;  // write the resolved endpoints here after binding

  // Security (docs/security.md). Either key_path (CURVE: authenticated, encrypted) or insecure.
  bool insecure = false;       // plain text: no authentication, no encryption
  std::string key_path;        // the coordinator's secret key file (from keygen)
  std::string allow_path;      // agents' public keys that may join (reloaded on SIGHUP)
  bool secure_log = false;     // the log stream needs CURVE too
  std::string log_allow_path;  // subscribers' keys (required with secure_log)

  Task task = Task::kClassification;
  ProblemSpec problem;
  std::optional<LabelMap> labels;             // a fixed label mapping
  std::optional<std::string> positive_label;  // else: which of the agents' two labels is +1
  // --scale: the run's scaler, fitted on the merged ColumnStats of the agents present at the
  // start and sent to every agent (Welcome); unset: what the agents ask (run --scale), else none.
  std::optional<ScalerKind> scale;
  // The solver's preconditioner (docs/algorithm.md) from the same statistics; false: none.
  bool precondition = true;
  int32_t dimension = 0;  // 0: the largest among the agents present at start
  int32_t max_dimension =
      kDefaultMaxDimension;  // no agent whose data is wider is admitted (--max-dim)

  int min_agents = 1;
  int max_agents = 1024;  // connections admitted at once; Hellos beyond are refused
  // The stop rule, the step options and the Newton working-set limit (epoch_policy.h).
  EpochPolicyOptions policy;
  int64_t max_staleness =
      64;               // versions by other agents since the update's base (docs/protocol.md)
  bool damping = true;  // damp concurrent updates (UpdateAnswerer::Weight)
  double gradient_timeout = 30;  // seconds a gradient phase waits for a silent agent
  int gradient_timeouts_to_drop =
      3;                      // an agent silent in this many gradient phases in a row is dropped
  double stall_timeout = 30;  // seconds without an applied update before an epoch ends early
  double heartbeat_interval = 1;  // seconds
  int heartbeat_patience = 10;    // intervals of silence before an agent is declared gone
  uint64_t seed = 1;
  bool quiet = false;            // no human-readable progress on stdout
  bool console_journal = false;  // stdout is the journal's stream: lines carry "<N>" priorities

  // Checkpoints (runtime/include/edgetrain/checkpoint.h): written at every epoch start and every
  // checkpoint_interval seconds into checkpoint_dir (empty: none). With resume the newest loadable
  // one is continued (its options must match); without one the run starts afresh.
  std::string checkpoint_dir;
  double checkpoint_interval = 30;
  bool resume = false;
  double reference_objective = std::nan("");
  transport::ChannelOptions channel;
  // Training rounds and where their models are published (round_scheduler.h, model_dir.h).
  RoundOptions rounds;
};

struct RunSummary {
  std::string stop_reason;
  int64_t epochs = 0;  // the epoch of the model returned (0 = initial)
  double objective = 0;
  double kkt = 0;
  double relative_gap = 0;
  int64_t nnz = 0;
  int64_t rows = 0;
  bool evaluated = false;  // false: no epoch ran (stopped while waiting): no model
  int32_t dimension = 0;
  std::optional<LabelMap> labels;
  std::vector<double> x;  // the best evaluated snapshot (p entries)
  int64_t updates_applied = 0;
  int64_t updates_refused = 0;   // valid messages refused by the state (stale, late, ...)
  int64_t messages_refused = 0;  // malformed or unexpected messages
  int64_t duplicates = 0;        // repeated messages (sequence numbers), never applied twice
  int agents_joined = 0;
  bool resumed = false;  // continued from a checkpoint
  int64_t resumed_epoch = 0;
  double seconds = 0;
  double eta = 0;
  int64_t inner_steps = 0;
  int64_t newton_steps = 0;     // Newton points taken
  int64_t newton_rejected = 0;  // line searches given up
  int64_t round = 0;            // the (last) training round
  bool published = false;       // its model went into --model-dir
};

// What a checkpoint must have been made with to be resumed: task, loss, penalties, intercept,
// dimension and labels (a hash of them).
uint64_t CheckpointFingerprint(const CoordinatorOptions& options);

}  // namespace edgetrain::coordinator

#endif  // EDGETRAIN_COORDINATOR_OPTIONS_H_
