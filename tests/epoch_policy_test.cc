// EpochPolicy, the one decision rule of train-local and the coordinator, driven by hand: the
// divergence safeguard (probation, rollback, a new baseline over other rows, the step earned
// back, giving up), the Newton line search (a failed trial, giving up, the cooldown), and every
// stop rule.
#include "edgetrain/epoch_policy.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "doctest/doctest.h"

namespace edgetrain {
namespace {

using Action = EpochDecision::Action;
using Verdict = EpochDecision::Verdict;

struct Driver {
  explicit Driver(EpochPolicyOptions options, ProblemSpec spec = {}) : policy(spec, options) {
    context.smoothness.rows = 100;
    context.smoothness.l_max = 1;
    context.smoothness.l_avg = 1;
    context.smoothness.l_full = 1;
    context.smoothness.l_q = 1;
  }
  // The snapshot of the next epoch, with this objective over these rows.
  EpochDecision Next(double objective, int64_t rows = 100, double kkt = 1, double rel_gap = 1,
                     int64_t nnz = 5) {
    SnapshotReport r;
    r.epoch = ++epoch;
    r.objective = objective;
    r.rows = rows;
    r.kkt = kkt;
    r.relative_gap = rel_gap;
    r.gap = rel_gap * objective;
    r.nnz = nnz;
    Result<EpochDecision> d = policy.Decide(r, context);
    REQUIRE(d.ok());
    return *d;
  }
  EpochPolicy policy;
  EpochContext context;
  int64_t epoch = 0;
};

EpochPolicyOptions InnerOnly() {
  EpochPolicyOptions o;
  o.newton_max_support = 0;
  o.stop.max_epochs = 1000;
  return o;
}

TEST_CASE("policy: probation once, then a rollback that halves the step") {
  Driver d(InnerOnly());
  EpochDecision first = d.Next(1.0);
  CHECK(first.verdict == Verdict::kBaseline);
  CHECK(first.keep_as_best);
  CHECK(first.action == Action::kInner);
  const double eta = first.plan.eta;
  CHECK(eta > 0);
  EpochDecision worse = d.Next(2.0);
  CHECK(worse.verdict == Verdict::kProbation);
  CHECK_FALSE(worse.keep_as_best);
  CHECK(worse.action == Action::kInner);  // training goes on from it
  EpochDecision again = d.Next(1.5);
  CHECK(again.verdict == Verdict::kRolledBack);
  CHECK(again.action == Action::kRollBack);
  EpochDecision back = d.Next(1.0);  // the best snapshot again
  CHECK(back.verdict == Verdict::kBest);
  CHECK(back.plan.eta == doctest::Approx(eta / 2));
  CHECK(d.policy.rollbacks() == 1);
  // A non-finite snapshot is rolled back at once.
  CHECK(d.Next(std::nan("")).action == Action::kRollBack);
}

TEST_CASE("policy: over another set of rows the objective is a new baseline, not a rollback") {
  Driver d(InnerOnly());
  d.Next(1.0);
  d.Next(1.2);  // probation
  EpochDecision joined = d.Next(5.0, 150);
  CHECK(joined.verdict == Verdict::kBaseline);
  CHECK(joined.keep_as_best);
  CHECK(joined.action == Action::kInner);
  CHECK(d.policy.best_report().rows == 150);
}

TEST_CASE(
    "policy: the step is earned back after 8 best snapshots, and a run that keeps "
    "diverging stops as a failure") {
  Driver d(InnerOnly());
  const double eta = d.Next(1.0).plan.eta;
  d.Next(2.0);
  CHECK(d.Next(2.0).action == Action::kRollBack);
  double objective = 1.0;
  for (int k = 0; k < EpochPolicy::kStepRecoveryEpochs - 1; ++k) {
    CHECK(d.Next(objective -= 0.01).plan.eta == doctest::Approx(eta / 2));
  }
  CHECK(d.Next(objective -= 0.01).plan.eta == doctest::Approx(eta));
  // Worse and worse: probation, rollback, ... until the step is 2^-41 of the planned one.
  EpochDecision last;
  for (int k = 0; k < 200; ++k) {
    last = d.Next(10.0 + k);
    if (last.action == Action::kStop) break;
  }
  CHECK(last.action == Action::kStop);
  CHECK(last.stop_reason == "diverged");
  CHECK(last.failed);
  CHECK(d.policy.step_halvings() == EpochPolicy::kMaxStepHalvings + 2);  // one was earned back
  CHECK(d.policy.step_depth() == EpochPolicy::kMaxStepHalvings + 1);
}

// Near the edge of stability (raw Shuttle without an intercept on 2 agents: a run of 500 epochs
// that improves, overshoots after each recovery and is rolled back) the step saws up and down.
// Halvings earned back do not count towards "diverged", and each premature recovery doubles the
// streak the next one needs, so the sawing slows down instead of ending the run.
TEST_CASE("policy: a step that is earned back and lost again many times is not a divergence") {
  EpochPolicyOptions o = InnerOnly();
  o.stop.max_epochs = 100000;
  Driver d(o);
  double objective = 1.0;
  const double eta = d.Next(objective).plan.eta;
  int rollbacks = 0;
  for (int cycle = 0; cycle < 60; ++cycle) {
    // Worse twice: rolled back, the step halved.
    d.Next(objective + 0.5);
    REQUIRE(d.Next(objective + 0.5).action == Action::kRollBack);
    ++rollbacks;
    d.Next(objective);  // the best snapshot again
    // Improving until the step is back to the planned one.
    for (int k = 0; k < EpochPolicy::kMaxRecoveryEpochs && d.policy.step_depth() > 0; ++k) {
      const EpochDecision e = d.Next(objective -= 1e-4);
      REQUIRE(e.action == Action::kInner);
    }
    REQUIRE(d.policy.step_depth() == 0);
  }
  CHECK(d.policy.step_halvings() == rollbacks);
  CHECK(rollbacks > EpochPolicy::kMaxStepHalvings);
  CHECK(d.Next(objective -= 1e-4).plan.eta == doctest::Approx(eta));
  CHECK(d.policy.recovery_epochs() == EpochPolicy::kMaxRecoveryEpochs);
}

TEST_CASE("policy: Newton epochs when the weights fit, a failed line search, then the cooldown") {
  EpochPolicyOptions o;
  o.newton_max_support = 50;
  o.stop.max_epochs = 100;
  Driver d(o);
  EpochDecision first = d.Next(1.0, 100, 1, 1, /*nnz=*/10);
  CHECK(first.action == Action::kNewton);
  CHECK(first.working_set == std::min<int64_t>(kNewtonMinWorkingSet, 50));
  // The Newton direction: d = (1, 0, ...) on S = {0}, decrease -0.1.
  NewtonSupport s;
  s.index = {0};
  s.sign = {1};
  const std::vector<double> from = {0.5, 0, 0};
  const std::vector<double>& point = d.policy.BeginLineSearch(s, {1.0}, -0.1, from);
  CHECK(point[0] == 1.5);
  // Trial x~ + d is no better: the next trial is x~ + d/2, judged by the next snapshot.
  EpochDecision trial = d.Next(1.5);
  CHECK(trial.action == Action::kTrialPoint);
  CHECK(trial.verdict == Verdict::kTrial);
  CHECK(d.policy.trial_point()[0] == 1.0);
  CHECK(d.Next(1.5).action == Action::kTrialPoint);  // alpha 1/4
  CHECK(d.Next(1.5).action == Action::kTrialPoint);  // alpha 1/8
  CHECK(d.Next(1.5).action == Action::kTrialPoint);  // alpha 1/16
  EpochDecision rejected = d.Next(1.5);
  CHECK(rejected.action == Action::kNewtonRejected);
  CHECK(d.policy.newton_rejected() == 1);
  // Back at the best snapshot: inner loops for kNewtonCooldownEpochs epochs, then Newton again.
  for (int k = 0; k < kNewtonCooldownEpochs; ++k) CHECK(d.Next(1.0).action == Action::kInner);
  CHECK(d.Next(0.99).action == Action::kNewton);
  // An accepted trial reports its step length.
  d.policy.BeginLineSearch(s, {1.0}, -0.1, from);
  EpochDecision accepted = d.Next(0.9);
  CHECK(accepted.newton_alpha == 1.0);
  CHECK(accepted.verdict == Verdict::kBest);
  // A Newton epoch that found no step: inner loops for the cooldown.
  d.policy.NewtonDeclined();
  CHECK(d.Next(0.85).action == Action::kInner);
}

// An accepted Newton step from `d`'s best snapshot: its direction, then the trial point judged.
EpochDecision NewtonStep(Driver* d, double objective, double rel_gap) {
  NewtonSupport s;
  s.index = {0};
  s.sign = {1};
  d->policy.BeginLineSearch(s, {1.0}, -1.0, {0.0});
  return d->Next(objective, 100, 1, rel_gap, 10);
}

TEST_CASE(
    "policy: the last Hessian block may serve again only after a full step that did what its "
    "model promised and cut the stop measure tenfold") {
  EpochPolicyOptions o;
  o.newton_max_support = 50;
  o.stop.tolerance = 1e-15;  // the gaps below do not stop the run
  Driver d(o);
  NewtonSupport s;
  s.index = {0};
  s.sign = {1};
  // A Newton step with this decrease from the best snapshot, accepted at this objective and gap.
  auto step = [&](double decrease, double objective, double rel_gap) {
    d.policy.BeginLineSearch(s, {1.0}, decrease, {0.0});
    const EpochDecision e = d.Next(objective, 100, 1, rel_gap, 10);
    CHECK(e.newton_alpha == 1.0);
    CHECK(e.action == Action::kNewton);
    return e;
  };
  EpochDecision first = d.Next(1.0, 100, 1, 1e-1, 10);
  REQUIRE(first.action == Action::kNewton);
  CHECK_FALSE(first.reuse_curvature);  // no Newton step behind it
  // Fell by half the decrease (an exact quadratic model) and the gap 1e-1 -> 1e-3: reuse.
  CHECK(step(-0.2, 0.9, 1e-3).reuse_curvature);
  // The model fits but the gap fell only fivefold: a new block.
  CHECK_FALSE(step(-0.02, 0.89, 2e-4).reuse_curvature);
  // Twentyfold, but the objective fell by a tenth of what the model promised: a new block.
  CHECK_FALSE(step(-0.1, 0.88, 1e-5).reuse_curvature);
  // Fell by more than the whole decrease: the model was wrong the other way.
  CHECK_FALSE(step(-0.001, 0.8785, 1e-7).reuse_curvature);
  // A step taken at alpha 1/2 (the first trial failed): a new block.
  d.policy.BeginLineSearch(s, {1.0}, -0.01, {0.0});
  CHECK(d.Next(0.9, 100, 1, 1e-7, 10).action == Action::kTrialPoint);
  const EpochDecision half = d.Next(0.8755, 100, 1, 1e-9, 10);
  CHECK(half.newton_alpha == 0.5);
  CHECK_FALSE(half.reuse_curvature);
}

TEST_CASE("policy: Newton or inner loop by what each bought per second, wire time included") {
  EpochPolicyOptions o;
  o.newton_max_support = 50;
  o.stop.max_epochs = 1000;
  o.stop.kkt_tolerance = 0;
  o.stop.tolerance = 1e-12;
  SUBCASE("slow Newton epochs (large blocks on a slow link): inner loops take over") {
    Driver d(o);
    REQUIRE(d.Next(1.0, 100, 1, 1e-1, 10).action == Action::kNewton);
    d.context.seconds += 20;  // the Hessian blocks took 20 s to arrive; the gap fell 10x
    const EpochDecision after = NewtonStep(&d, 0.9, 1e-2);
    CHECK(after.newton_alpha == 1.0);
    CHECK(after.action == Action::kInner);  // slow and no inner epoch measured yet: measure one
    d.context.seconds += 0.5;               // an inner epoch: 0.5 s, the gap fell 2x
    CHECK(d.Next(0.89, 100, 1, 5e-3, 10).action == Action::kInner);
    CHECK(d.policy.inner_progress().rate() > d.policy.newton_progress().rate());
    // Inner loops keep the run while they buy more; Newton is tried again every few epochs.
    int newton = 0;
    double gap = 5e-3;
    for (int k = 0; k < 2 * EpochPolicy::kNewtonProbeEvery; ++k) {
      d.context.seconds += 0.5;
      gap *= 0.5;
      const EpochDecision e = d.Next(0.88 - 1e-3 * k, 100, 1, gap, 10);
      if (e.action == Action::kNewton) {
        ++newton;
        d.context.seconds += 20;
        gap *= 0.1;
        NewtonStep(&d, 0.87 - 1e-3 * k, gap);
      }
    }
    CHECK(newton >= 1);
    CHECK(newton <= 2);
  }
  SUBCASE("fast Newton epochs stay Newton epochs") {
    Driver d(o);
    REQUIRE(d.Next(1.0, 100, 1, 1e-1, 10).action == Action::kNewton);
    d.context.seconds += 0.05;
    CHECK(NewtonStep(&d, 0.9, 1e-4).action == Action::kNewton);
    d.context.seconds += 0.05;
    CHECK(NewtonStep(&d, 0.89, 1e-8).action == Action::kNewton);
    CHECK(d.policy.newton_progress().known());
    CHECK_FALSE(d.policy.inner_progress().known());
  }
}

TEST_CASE("policy: Newton with a box, but not for a participant that cannot, or too many weights") {
  EpochPolicyOptions o;
  o.newton_max_support = 50;
  ProblemSpec box;
  box.reg.lower = 0;
  CHECK(Driver(o, box).Next(1.0).action == Action::kNewton);
  Driver unable(o);
  unable.context.newton_capable = false;
  CHECK(unable.Next(1.0).action == Action::kInner);
  CHECK(Driver(o).Next(1.0, 100, 1, 1, /*nnz=*/60).action == Action::kInner);
  CHECK(Driver(o).Next(1.0, 100, 1, 1, /*nnz=*/50).action == Action::kInner);  // no room to grow
}

TEST_CASE("policy: every stop rule, checked on the snapshot it holds for") {
  EpochPolicyOptions o = InnerOnly();
  o.stop.tolerance = 1e-6;
  o.stop.kkt_tolerance = 1e-8;
  o.stop.max_epochs = 5;
  o.stop.time_limit = 10;
  {
    Driver d(o);
    d.Next(1.0);
    CHECK(d.Next(0.9, 100, 1e-3, 1e-6).stop_reason == "tol");
  }
  {
    Driver d(o);
    d.Next(1.0);
    CHECK(d.Next(0.9, 100, 1e-9, 1e-3).stop_reason == "kkt");
    // A worse snapshot with a tiny gap is not a stop: the model must be the best one.
    Driver e(o);
    e.Next(1.0);
    CHECK(e.Next(1.1, 100, 1e-9, 1e-9).action == Action::kInner);
  }
  {
    Driver d(o);
    EpochDecision last;
    for (int k = 0; k <= 5; ++k) last = d.Next(1.0 - 0.01 * k);
    CHECK(last.stop_reason == "max-epochs");
    CHECK(d.epoch == 6);  // epochs 0..5: five inner loops ran
  }
  {
    Driver d(o);
    d.Next(1.0);
    d.context.seconds = 10;
    CHECK(d.Next(0.9).stop_reason == "time-limit");
  }
  {
    Driver d(o);
    d.Next(1.0);
    d.policy.RequestStop("interrupted");
    EpochDecision stop = d.Next(0.9);
    CHECK(stop.stop_reason == "interrupted");
    CHECK_FALSE(stop.failed);
    CHECK(d.policy.best_report().objective == 0.9);
  }
  {
    Driver d(o);  // the limits hold during a line search too
    d.Next(1.0);
    NewtonSupport s;
    s.index = {0};
    s.sign = {1};
    d.policy.BeginLineSearch(s, {1.0}, -0.1, {0.0});
    d.context.seconds = 11;
    EpochDecision stop = d.Next(2.0);
    CHECK(stop.action == Action::kStop);
    CHECK(stop.stop_reason == "time-limit");
    CHECK(d.policy.best_report().objective == 1.0);
  }
}

}  // namespace
}  // namespace edgetrain
