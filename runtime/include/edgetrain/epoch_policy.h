// EpochPolicy: what happens after each snapshot, the one rule train-local and the coordinator
// share (docs/algorithm.md, "The epoch policy").
//
// Every epoch starts with a gradient pass at the snapshot x~, which certifies it: P(x~), the KKT
// violation and the duality gap (SnapshotReport). From that report and what the run can do this
// epoch (EpochContext), Decide() returns one decision:
//   kStop          the stop rule holds (below); the model is the best snapshot.
//   kRollBack      the divergence safeguard: x~ was worse than the best snapshot twice in a row,
//                  or not finite; x returns to the best snapshot and the step is halved.
//   kTrialPoint    a Newton trial point failed the Armijo test: the next, half as far along d,
//                  is judged by the next snapshot (x jumps to trial_point()).
//   kNewtonRejected  the line search gave up below kNewtonMinAlpha: x returns to the best
//                  snapshot and Newton waits kNewtonCooldownEpochs epochs.
//   kNewton        a proximal Newton epoch on a working set of at most `working_set`
//                  coordinates (support_newton.h); when it yields a descent direction the caller
//                  hands it to BeginLineSearch and jumps to the first trial point, else it calls
//                  NewtonDeclined and runs the inner loop of `plan` instead. With
//                  reuse_curvature the caller may solve with the last Newton epoch's Hessian
//                  block (restricted to the new working set, when it covers it) instead of a new
//                  curvature pass: the snapshot is that epoch's accepted full step, which did what
//                  its quadratic model promised and cut the stop measure tenfold
//                  (kReuseMinFit, kReuseMinDrop in support_newton.h).
//   kInner         a ProxSVRG inner loop with `plan` (eta already scaled by the safeguard).
//
// Judging a snapshot: the first one over a set of rows (the first, or after agents joined or
// left: P is another function then; rows and row_set tell) is the baseline; one no worse than the
// best (beyond 1e-12 relative) is the new best; a worse one is on probation once, rolled back the
// second time. The caller keeps the vectors (CoordinatorState keeps x, the snapshot and the best
// snapshot); the policy keeps the numbers and says which vector to keep (keep_as_best) or to return
// to.
//
// Newton or inner loop, by measured cost: a Newton epoch moves a working set's Hessian blocks
// (|S|(|S|+1)/2 numbers from every agent) besides its gradient passes, so on a slow network or a
// large working set an inner-loop epoch can buy more. The policy measures what each kind of
// epoch bought: the decrease of log(stop measure) (the certified relative gap, else the KKT
// violation) of the best snapshot per second of the run's clock, time on the wire included
// (ProgressMeter). When both are known and inner loops have been faster, eligible epochs run the
// inner loop, and Newton is tried again every kNewtonProbeEvery of them; when a Newton epoch took
// longer than kSlowNewtonSeconds and no inner epoch has been measured yet, the next one is an
// inner loop, to measure it.
//
// The step: halved on every rollback, doubled back (up to the planned step) after
// kStepRecoveryEpochs best snapshots in a row; a rollback that follows such a recovery doubles the
// streak the next recovery needs (up to kMaxRecoveryEpochs). When the step has come down to
// 2^-kMaxStepHalvings of the planned one the run stops as "diverged" (a failure: no model is
// published); halvings earned back do not count.
//
// The stop rule, checked on every snapshot (a stop returns the best snapshot, with its report):
//   "tol"         the snapshot is the best and its certified relative duality gap <= tolerance;
//   "kkt"         the snapshot is the best and its KKT violation <= kkt_tolerance;
//   "max-epochs"  max_epochs inner loops or Newton steps have run;
//   "time-limit"  seconds >= time_limit;
//   RequestStop's reason (the caller noticed a time limit or an interrupt mid-epoch);
//   "diverged"    the safeguard halved the step kMaxStepHalvings times.
//
// Thread-safety: none; one policy per run, owned by the trainer or the coordinator's driver.
// Ownership: owns its copies (the line search's direction and base point).
#ifndef EDGETRAIN_EPOCH_POLICY_H_
#define EDGETRAIN_EPOCH_POLICY_H_

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "edgetrain/problem.h"
#include "edgetrain/status.h"
#include "edgetrain/step_size.h"
#include "edgetrain/support_newton.h"

namespace edgetrain {

// What one snapshot's gradient pass certified.
struct SnapshotReport {
  int64_t epoch = 0;     // 1 for the first snapshot (x = the starting point)
  double objective = 0;  // P(x~)
  double kkt = 0;        // KKT violation at x~ (infinity norm)
  double gap = std::numeric_limits<double>::quiet_NaN();  // certified P(x~) - P* bound (duality.h)
  double relative_gap = std::numeric_limits<double>::quiet_NaN();  // gap / |P(x~)|
  int64_t nnz = 0;       // non-zero weights of x~ (intercept not counted)
  int64_t rows = 0;      // rows behind it
  uint64_t row_set = 0;  // which rows: a hash of the parts summed (0 in train-local)
  double loss_sum = 0;
};

struct StopRule {
  double tolerance = 1e-6;      // certified relative duality gap (0: not used)
  double kkt_tolerance = 1e-8;  // KKT violation (0: not used)
  int64_t max_epochs = 100;     // inner loops or Newton steps
  double time_limit = 0;        // seconds, 0 = none
};

struct EpochPolicyOptions {
  StopRule stop;
  StepOptions steps;
  // Largest working set of a Newton epoch (0: inner loops only); the caller caps it at what its
  // transport can carry.
  int64_t newton_max_support = 2000;
};

// What the run can do in the epoch being decided.
struct EpochContext {
  double seconds = 0;          // since the run started, on the run's clock
  Smoothness smoothness;       // of the rows taking part (CombineSmoothness over the participants)
  bool newton_capable = true;  // every participant can send its Hessian block
};

struct EpochDecision {
  enum class Action : uint8_t { kStop, kRollBack, kTrialPoint, kNewtonRejected, kNewton, kInner };
  enum class Verdict : uint8_t {
    kBaseline,    // the first snapshot over this set of rows: kept as the best
    kBest,        // no worse than the best: kept as the best
    kProbation,   // worse than the best, the first time in a row: training goes on from it
    kRolledBack,  // worse twice in a row, or not finite
    kTrial        // a Newton trial point that failed the Armijo test
  };
  Action action = Action::kInner;
  Verdict verdict = Verdict::kBest;
  bool keep_as_best = false;     // the caller keeps this snapshot as the best
  std::string stop_reason;       // kStop
  bool failed = false;           // kStop: the run failed (diverged): publish nothing
  StepPlan plan;                 // kNewton (its fallback) and kInner
  int64_t working_set = 0;       // kNewton
  bool reuse_curvature = false;  // kNewton: the last Newton epoch's Hessian block may serve
  double newton_alpha = 0;       // > 0: this snapshot is an accepted Newton point of this length
  double step_factor = 1;        // the safeguard's factor on the planned step
};

const char* ActionName(EpochDecision::Action action);     // "stop", "roll-back", ...
const char* VerdictName(EpochDecision::Verdict verdict);  // "baseline", "best", ...

// Progress per second of one kind of epoch: an exponentially weighted mean (half weight on the
// newest) of -d log(measure) / d seconds over the epochs recorded.
class ProgressMeter {
 public:
  // REQUIRES: seconds > 0; measures > 0 and finite (else nothing is recorded).
  void Record(double seconds, double measure_before, double measure_after);
  bool known() const { return count_ > 0; }
  double rate() const { return rate_; }  // decades of e per second
  double last_seconds() const { return last_seconds_; }

 private:
  int count_ = 0;
  double rate_ = 0, last_seconds_ = 0;
};

class EpochPolicy {
 public:
  static constexpr int kNewtonProbeEvery = 8;
  static constexpr double kSlowNewtonSeconds = 1.0;
  static constexpr int kStepRecoveryEpochs = 8;
  static constexpr int kMaxRecoveryEpochs = 64;
  static constexpr int kMaxStepHalvings = 40;

  EpochPolicy(const ProblemSpec& spec, const EpochPolicyOptions& options);

  // REQUIRES: report from the gradient pass of the snapshot the last decision led to.
  // Errors: the step cannot be planned from ctx.smoothness (no rows).
  Result<EpochDecision> Decide(const SnapshotReport& report, const EpochContext& ctx);

  // After a kNewton decision that found a descent direction on s (decrease < 0) from x~ (the
  // snapshot just judged): starts the line search; returns the first trial point x~ + d.
  const std::vector<double>& BeginLineSearch(NewtonSupport s, std::vector<double> direction,
                                             double decrease, const std::vector<double>& from);
  // After a kNewton decision that made no step: the epoch runs the inner loop of its plan, and
  // Newton waits kNewtonCooldownEpochs epochs.
  void NewtonDeclined();
  // The point a kTrialPoint decision jumps to.
  const std::vector<double>& trial_point() const { return trial_point_; }

  // What a "diverged" stop tells the user.
  std::string DivergedMessage() const;

  // The next Decide stops with this reason (after judging its snapshot).
  void RequestStop(std::string reason);
  bool stop_requested() const { return !requested_stop_.empty(); }

  // Restores what a checkpoint keeps (resuming a run). REQUIRES: 0 < factor <= 1.
  void RestoreStepFactor(double factor) { step_factor_ = factor; }

  bool have_best() const { return have_best_; }
  const SnapshotReport& best_report() const { return best_; }
  double best_objective() const { return best_.objective; }
  double step_factor() const { return step_factor_; }
  int step_halvings() const { return halvings_; }  // all of them, earned back or not
  // The step is 2^-step_depth() of the planned one.
  int step_depth() const;                                   // -log2(step_factor())
  int recovery_epochs() const { return recovery_epochs_; }  // the streak the next recovery needs
  int64_t rollbacks() const { return rollbacks_; }
  int64_t newton_steps() const { return newton_steps_; }        // line searches begun
  int64_t newton_rejected() const { return newton_rejected_; }  // line searches given up
  const ProgressMeter& newton_progress() const { return newton_meter_; }
  const ProgressMeter& inner_progress() const { return inner_meter_; }
  const NewtonSupport& line_search_support() const { return search_.support(); }
  double line_search_alpha() const { return search_.alpha(); }  // of the pending trial point

 private:
  EpochDecision::Verdict Judge(const SnapshotReport& r);
  std::string StopReason(const SnapshotReport& r, bool best, const EpochContext& ctx) const;
  bool WantNewton(const SnapshotReport& r, bool best, const EpochContext& ctx);
  bool NewtonPaysOff();
  // The epoch kind running since the last decision (none after a stop, rollback or trial).
  enum class Running : uint8_t { kNone, kNewton, kInner };
  void Measure(double seconds);
  void StartMeasuring(Running kind, double seconds);

  ProblemSpec spec_;
  EpochPolicyOptions options_;
  SnapshotReport best_;
  bool have_best_ = false;
  int worse_streak_ = 0;
  double step_factor_ = 1.0;
  int improving_streak_ = 0;
  int halvings_ = 0;
  int recovery_epochs_ = kStepRecoveryEpochs;
  bool recovered_since_rollback_ = false;
  int64_t rollbacks_ = 0;
  int newton_cooldown_ = 0;
  int64_t newton_steps_ = 0;
  int64_t newton_rejected_ = 0;
  NewtonLineSearch search_;
  std::vector<double> trial_point_;
  std::string requested_stop_;
  ProgressMeter newton_meter_, inner_meter_;
  Running running_ = Running::kNone;
  double running_since_ = 0, running_measure_ = 0;
  int newton_skipped_ = 0;
};

}  // namespace edgetrain

#endif  // EDGETRAIN_EPOCH_POLICY_H_
