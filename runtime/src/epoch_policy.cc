#include "edgetrain/epoch_policy.h"

#include <algorithm>
#include <cmath>

namespace edgetrain {

const char* ActionName(EpochDecision::Action action) {
  switch (action) {
    case EpochDecision::Action::kStop:
      return "stop";
    case EpochDecision::Action::kRollBack:
      return "roll-back";
    case EpochDecision::Action::kTrialPoint:
      return "trial-point";
    case EpochDecision::Action::kNewtonRejected:
      return "newton-rejected";
    case EpochDecision::Action::kNewton:
      return "newton";
    case EpochDecision::Action::kInner:
      return "inner";
  }
  return "unknown";
}

const char* VerdictName(EpochDecision::Verdict verdict) {
  switch (verdict) {
    case EpochDecision::Verdict::kBaseline:
      return "baseline";
    case EpochDecision::Verdict::kBest:
      return "best";
    case EpochDecision::Verdict::kProbation:
      return "probation";
    case EpochDecision::Verdict::kRolledBack:
      return "rolled-back";
    case EpochDecision::Verdict::kTrial:
      return "trial";
  }
  return "unknown";
}

EpochPolicy::EpochPolicy(const ProblemSpec& spec, const EpochPolicyOptions& options)
    : spec_(spec), options_(options) {}

int EpochPolicy::step_depth() const {
  return std::max(0, static_cast<int>(std::lround(-std::log2(step_factor_))));
}

std::string EpochPolicy::DivergedMessage() const {
  return "training diverges even with tiny steps (the step was halved to 2^-" +
         std::to_string(step_depth()) + " of the planned one)";
}

void EpochPolicy::RequestStop(std::string reason) {
  if (requested_stop_.empty()) requested_stop_ = std::move(reason);
}

EpochDecision::Verdict EpochPolicy::Judge(const SnapshotReport& r) {
  using Verdict = EpochDecision::Verdict;
  const bool finite = std::isfinite(r.objective);
  // Agents joined or left: P is a different function now, the old best is no yardstick.
  const bool new_rows = !have_best_ || r.rows != best_.rows || r.row_set != best_.row_set;
  if (finite &&
      (new_rows || !(r.objective > best_.objective + 1e-12 * std::fabs(best_.objective)))) {
    best_ = r;
    have_best_ = true;
    worse_streak_ = 0;
    return new_rows ? Verdict::kBaseline : Verdict::kBest;
  }
  if (finite && ++worse_streak_ < 2) return Verdict::kProbation;
  worse_streak_ = 0;
  return Verdict::kRolledBack;
}

std::string EpochPolicy::StopReason(const SnapshotReport& r, bool best,
                                    const EpochContext& ctx) const {
  const StopRule& stop = options_.stop;
  if (!requested_stop_.empty()) return requested_stop_;
  if (step_depth() > kMaxStepHalvings) return "diverged";
  if (best && stop.tolerance > 0 && r.relative_gap <= stop.tolerance) return "tol";
  if (best && stop.kkt_tolerance > 0 && r.kkt <= stop.kkt_tolerance) return "kkt";
  if (r.epoch - 1 >= stop.max_epochs) return "max-epochs";
  if (stop.time_limit > 0 && ctx.seconds >= stop.time_limit) return "time-limit";
  return "";
}

void ProgressMeter::Record(double seconds, double measure_before, double measure_after) {
  if (!(seconds > 0) || !(measure_before > 0) || !(measure_after > 0) ||
      !std::isfinite(measure_before) || !std::isfinite(measure_after)) {
    return;
  }
  const double rate = (std::log(measure_before) - std::log(measure_after)) / seconds;
  rate_ = count_++ == 0 ? rate : 0.5 * rate_ + 0.5 * rate;
  last_seconds_ = seconds;
}

namespace {
// The stop rule's measure of a snapshot: the certified relative gap, else the KKT violation.
double StopMeasure(const SnapshotReport& r) {
  return std::isfinite(r.relative_gap) && r.relative_gap > 0 ? r.relative_gap : r.kkt;
}
}  // namespace

void EpochPolicy::StartMeasuring(Running kind, double seconds) {
  running_ = kind;
  running_since_ = seconds;
  running_measure_ = have_best_ ? StopMeasure(best_) : 0;
}

void EpochPolicy::Measure(double seconds) {
  // What the epoch kind running since the last decision bought: the best snapshot's measure now
  // against then (a Newton epoch includes its curvature phase and line-search trials).
  if (running_ == Running::kNone || !have_best_) return;
  ProgressMeter& meter = running_ == Running::kNewton ? newton_meter_ : inner_meter_;
  meter.Record(seconds - running_since_, running_measure_, StopMeasure(best_));
  running_ = Running::kNone;
}

bool EpochPolicy::NewtonPaysOff() {
  // Never measured against each other: Newton, unless its last epoch was slow and no inner epoch
  // has been measured yet (then one inner epoch, to compare).
  if (!inner_meter_.known()) {
    return !(newton_meter_.known() && newton_meter_.last_seconds() > kSlowNewtonSeconds);
  }
  if (!newton_meter_.known() || newton_meter_.rate() >= inner_meter_.rate()) return true;
  // Inner loops have bought more per second: Newton again now and then, as costs change.
  if (++newton_skipped_ >= kNewtonProbeEvery) {
    newton_skipped_ = 0;
    return true;
  }
  return false;
}

bool EpochPolicy::WantNewton(const SnapshotReport& r, bool best, const EpochContext& ctx) {
  // A proximal Newton step on a working set S (the non-zero weights and the zero ones whose
  // optimality condition fails most) replaces the epoch's inner loop whenever the non-zero
  // weights fit: from the start on low-dimensional or very sparse problems, after first-order
  // epochs have thinned the weights otherwise. The inner loop remains for agents that cannot send
  // curvature, after a Newton epoch that made no step and after a failed line search.
  if (newton_cooldown_ > 0) {
    --newton_cooldown_;
    return false;
  }
  if (options_.newton_max_support <= 0 || !best || !ctx.newton_capable) return false;
  // S must have room for a violating zero weight: the non-zero ones alone gain nothing.
  if (r.nnz + (spec_.intercept ? 1 : 0) >= options_.newton_max_support) return false;
  return NewtonPaysOff();
}

Result<EpochDecision> EpochPolicy::Decide(const SnapshotReport& r, const EpochContext& ctx) {
  using Action = EpochDecision::Action;
  using Verdict = EpochDecision::Verdict;
  EpochDecision d;
  // A Newton trial point is judged first, against the snapshot it came from (the best so far),
  // by the Armijo rule; over other rows (agents joined or left) it is taken as it is.
  bool trial_failed = false;
  bool model_fit = false;  // an accepted full Newton step that did what its model promised
  const double measure_before = have_best_ ? StopMeasure(best_) : 0;
  if (search_.pending()) {
    if (r.rows != best_.rows || r.row_set != best_.row_set) {
      search_.Abandon();
    } else {
      const NewtonLineSearch::Verdict v =
          search_.Judge(r.objective, best_.objective, &trial_point_);
      if (v == NewtonLineSearch::Verdict::kAccepted) {
        d.newton_alpha = search_.alpha();
        const double fit = (best_.objective - r.objective) / -search_.decrease();
        model_fit = d.newton_alpha == 1.0 && fit >= kReuseMinFit && fit <= kReuseMaxFit;
      } else {
        trial_failed = true;
        d.verdict = Verdict::kTrial;
        if (v == NewtonLineSearch::Verdict::kFailed) {
          ++newton_rejected_;
          newton_cooldown_ = kNewtonCooldownEpochs;
          d.action = Action::kNewtonRejected;
        } else {
          d.action = Action::kTrialPoint;
        }
      }
    }
  }
  if (!trial_failed) d.verdict = Judge(r);
  if (!trial_failed) Measure(ctx.seconds);  // a pending line search is still the Newton epoch
  const bool best = d.verdict == Verdict::kBest || d.verdict == Verdict::kBaseline;
  d.keep_as_best = best;
  // The divergence safeguard halves the step on a rollback; a run of improving epochs earns it
  // back (x2 after kStepRecoveryEpochs in a row, up to the planned step), so one bad stretch (a
  // burst of stale updates, agents coming and going) does not slow the rest of the run for good.
  // A rollback right after the step was earned back says the recovery came too soon: the next
  // one needs twice the streak (at most kMaxRecoveryEpochs), so a long run near the edge of
  // stability (an ill-conditioned problem, several agents) does not saw up and down forever.
  if (d.verdict == Verdict::kRolledBack) {
    if (recovered_since_rollback_) {
      recovery_epochs_ = std::min(2 * recovery_epochs_, kMaxRecoveryEpochs);
    }
    recovered_since_rollback_ = false;
    step_factor_ *= 0.5;
    ++halvings_;
    ++rollbacks_;
    improving_streak_ = 0;
  } else if (best && step_factor_ < 1 && ++improving_streak_ >= recovery_epochs_) {
    step_factor_ = std::min(1.0, 2 * step_factor_);
    recovered_since_rollback_ = true;
    improving_streak_ = 0;
  } else if (!best) {
    improving_streak_ = 0;
  }
  d.step_factor = step_factor_;
  d.stop_reason = StopReason(r, best, ctx);
  if (!d.stop_reason.empty()) {
    d.action = Action::kStop;
    d.failed = d.stop_reason == "diverged";
    return d;
  }
  if (trial_failed) return d;
  if (d.verdict == Verdict::kRolledBack) {
    d.action = Action::kRollBack;
    return d;
  }
  // The worker takes the l2 part in its prox (Regularizer::ProxWithL2): the step answers to the
  // data's smoothness alone.
  Result<StepPlan> plan = PlanSteps(ctx.smoothness, 0.0, options_.steps);
  if (!plan.ok()) return plan.status();
  d.plan = *plan;
  d.plan.eta *= step_factor_;
  if (WantNewton(r, best, ctx)) {
    d.action = Action::kNewton;
    d.working_set = NewtonWorkingSetSize(r.nnz, options_.newton_max_support);
    d.reuse_curvature = model_fit && StopMeasure(r) * kReuseMinDrop <= measure_before;
    StartMeasuring(Running::kNewton, ctx.seconds);
  } else {
    d.action = Action::kInner;
    StartMeasuring(Running::kInner, ctx.seconds);
  }
  return d;
}

const std::vector<double>& EpochPolicy::BeginLineSearch(NewtonSupport s,
                                                        std::vector<double> direction,
                                                        double decrease,
                                                        const std::vector<double>& from) {
  search_.Start(std::move(s), std::move(direction), decrease, from, &trial_point_);
  ++newton_steps_;
  return trial_point_;
}

void EpochPolicy::NewtonDeclined() {
  newton_cooldown_ = kNewtonCooldownEpochs;
  if (running_ == Running::kNewton) running_ = Running::kInner;  // the epoch runs the inner loop
}

}  // namespace edgetrain
