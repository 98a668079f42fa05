// TrainLocal: ProxSVRG on one device — an SvrgWorker and a CoordinatorState in one process.
//
// This is exactly the distributed algorithm with one agent and no staleness: the worker computes
// each Delta at the coordinator's current x, and the state adds it. Every epoch starts with a
// full gradient at the snapshot, which certifies the snapshot: P(x~) and its KKT violation are
// reported, and when the violation is within the tolerance training stops and returns that
// snapshot (so the returned model carries a checked optimality certificate).
//
// Thread-safety: a free function; the callback runs on the caller's thread.
#ifndef EDGETRAIN_LOCAL_TRAINER_H_
#define EDGETRAIN_LOCAL_TRAINER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "edgetrain/dataset.h"
#include "edgetrain/problem.h"
#include "edgetrain/status.h"
#include "edgetrain/step_size.h"
#include "edgetrain/svrg_worker.h"

namespace edgetrain {

struct TrainOptions {
  StepOptions steps;
  int64_t max_epochs = 100;     // inner loops; the snapshot after the last one is evaluated too
  double kkt_tolerance = 1e-8;  // stop at the first snapshot whose KKT violation is <= this
  double time_limit = 0;        // seconds; 0 = none
  uint64_t seed = 1;
  SvrgWorker::Sampling sampling = SvrgWorker::Sampling::kAuto;
  // Lazy (just-in-time) l1 updates: a step costs O(nnz of its rows) instead of also visiting
  // the support and the drift set; the same iterates (SvrgWorker::set_lazy). l1 without l2/box.
  bool lazy = true;
  // Proximal Newton steps on a working set of at most this many coordinates (support_newton.h)
  // instead of inner loops whenever they lower P enough; 0 = never (plain ProxSVRG). Stopping is
  // still decided by each snapshot's KKT check.
  int64_t newton_max_support = 2000;
};

// One line of the training log: the snapshot that starts epoch `epoch` (epoch 0 = initial model).
struct EpochReport {
  int64_t epoch = 0;
  double objective = 0;
  double kkt = 0;
  double gap_bound = 0;  // certified bound on P - P* (NaN unless l2 > 0 without intercept)
  int64_t nnz = 0;
  double seconds = 0;          // since training started
  int64_t updates = 0;         // inner steps applied so far
  double eta = 0;              // the step the next inner loop uses
  bool probation = false;      // worse than the best snapshot, once: training goes on from it
  bool rolled_back = false;    // worse twice in a row: x returned to the best, the step halved
  double newton_alpha = 0;     // > 0: this snapshot is the point of a Newton step of this length
  int64_t newton_support = 0;  // ... on a working set of this size
};

struct TrainResult {
  std::vector<double> x;  // the best snapshot (p entries); `last` describes it
  EpochReport last;
  StepPlan plan;
  Smoothness smoothness;
  std::string stop_reason;  // "kkt", "max-epochs" or "time-limit"
  int step_halvings = 0;    // times the divergence safeguard halved the step
  int newton_steps = 0;     // epochs that were proximal Newton steps
};

Result<TrainResult> TrainLocal(const Dataset& data, const ProblemSpec& spec,
                               const TrainOptions& options,
                               const std::function<void(const EpochReport&)>& on_epoch);

}  // namespace edgetrain

#endif  // EDGETRAIN_LOCAL_TRAINER_H_
