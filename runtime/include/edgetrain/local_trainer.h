// TrainLocal: ProxSVRG on one device -- an SvrgWorker, a CoordinatorState and the EpochPolicy in
// one process.
//
// This is exactly the distributed algorithm with one agent and no staleness: the worker computes
// each Delta at the state's current x, and the state adds it; the same EpochPolicy as the
// coordinator's decides every epoch (stop, roll back, Newton step or inner loop). Every epoch
// starts with a full gradient at the snapshot, which certifies it: P(x~), its KKT violation and
// its duality gap are reported, and training stops when the stop rule holds, returning the best
// snapshot (so the returned model carries a checked optimality certificate).
//
// By default the solver runs on preconditioned columns (column_scales.h): the scales come from
// the data's column statistics, the data is scaled (a copy, or in place for the Dataset* form),
// and everything returned is in the user's units all the same: x (TrainResult::x is the user's
// weights), P, the KKT violation and the gap. Only the smoothness and the step describe the
// solver's (scaled) columns.
//
// Thread-safety: a free function; the callback runs on the caller's thread. Ownership: borrows
// the data and the clock.
#ifndef EDGETRAIN_LOCAL_TRAINER_H_
#define EDGETRAIN_LOCAL_TRAINER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "edgetrain/clock.h"
#include "edgetrain/column_scales.h"
#include "edgetrain/dataset.h"
#include "edgetrain/epoch_policy.h"
#include "edgetrain/problem.h"
#include "edgetrain/status.h"
#include "edgetrain/step_size.h"
#include "edgetrain/svrg_worker.h"

namespace edgetrain {

struct TrainOptions {
  // The stop rule, the step options and the Newton working-set limit (epoch_policy.h); Newton
  // epochs on at most policy.newton_max_support coordinates, 0 = plain ProxSVRG.
  EpochPolicyOptions policy;
  uint64_t seed = 1;
  SvrgWorker::Sampling sampling = SvrgWorker::Sampling::kAuto;
  // Lazy (just-in-time) l1 updates: a step costs O(nnz of its rows) instead of also visiting
  // the support and the drift set; the same iterates (SvrgWorker::set_lazy). l1 without l2/box.
  bool lazy = true;
  // Run on preconditioned columns (column_scales.h), unless the spec brings its own scales (then
  // the data must already be scaled with them). false: on the columns as they are.
  bool precondition = true;
  const Clock* clock = nullptr;  // the run's time (time limit, reports); null: a SteadyClock
  // Non-empty: the starting point (p entries, the intercept last, in the user's units), e.g. a
  // model trained before on fewer rows; empty: x = 0. Entries outside the box are clamped.
  std::vector<double> start;
};

// One line of the training log: the snapshot that starts epoch `epoch` (epoch 0 = initial model)
// and what the policy made of it.
struct EpochReport {
  int64_t epoch = 0;
  double objective = 0;
  double kkt = 0;
  double gap = 0;           // certified bound on P - P* (duality.h; NaN when none exists)
  double relative_gap = 0;  // gap / |P|
  int64_t nnz = 0;
  double seconds = 0;   // since training started
  int64_t updates = 0;  // inner steps applied so far
  double eta = 0;       // the step the next inner loop uses
  EpochDecision::Verdict verdict = EpochDecision::Verdict::kBest;
  EpochDecision::Action action = EpochDecision::Action::kInner;
  double newton_alpha = 0;     // > 0: this snapshot is the point of a Newton step of this length
  int64_t newton_support = 0;  // ... on a working set of this size
};

struct TrainResult {
  std::vector<double> x;  // the best snapshot (p entries), in the user's units; `last` describes it
  EpochReport last;
  StepPlan plan;             // of the solver's columns
  Smoothness smoothness;     // of the solver's columns
  ColumnScales scales;       // the preconditioner the solver ran with (empty: none)
  std::string stop_reason;   // "tol", "kkt", "max-epochs" or "time-limit"
  int step_halvings = 0;     // times the divergence safeguard halved the step
  int newton_steps = 0;      // epochs that were proximal Newton steps
  int curvature_reuses = 0;  // ... that solved with the previous one's Hessian block
};

// Errors: no rows, a problem that does not fit the data, a start of the wrong size, or a run that
// diverged even with the step halved EpochPolicy::kMaxStepHalvings times. spec.scales empty: the
// preconditioner is chosen here (options.precondition) and the run works on a scaled copy of
// `data`; set: `data` is already scaled with them (ApplyColumnScales), as a caller short of memory
// does in place.
Result<TrainResult> TrainLocal(const Dataset& data, const ProblemSpec& spec,
                               const TrainOptions& options,
                               const std::function<void(const EpochReport&)>& on_epoch);

}  // namespace edgetrain

#endif  // EDGETRAIN_LOCAL_TRAINER_H_
