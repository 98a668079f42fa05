#include "edgetrain/local_trainer.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "edgetrain/coordinator_state.h"
#include "edgetrain/duality.h"
#include "edgetrain/support_newton.h"
#include "edgetrain/svrg_worker.h"

namespace edgetrain {
namespace {

// The run on the solver's columns: data scaled with spec.scales (none: as they are); the result's
// x is the best snapshot in the solver's coordinates.
Result<TrainResult> Train(const Dataset& data, const ProblemSpec& spec, const TrainOptions& options,
                          const std::function<void(const EpochReport&)>& on_epoch) {
  SteadyClock steady;
  const Clock& clock = options.clock != nullptr ? *options.clock : steady;
  const double start = clock.Now();

  TrainResult result;
  SvrgWorker worker(&data, spec, DeriveSeed(options.seed, 0), options.sampling);
  worker.set_lazy(options.lazy);  // every step is applied before the next: lazy updates are exact
  result.smoothness = worker.smoothness();
  EpochPolicy policy(spec, options.policy);
  EpochContext context;
  context.smoothness = result.smoothness;

  CoordinatorState state(spec, data.dim());
  const int64_t p = state.model_size();
  if (!options.start.empty()) state.Restore(StartToSolver(spec, options.start), 0, 0);
  std::vector<double> grad_sum(p);
  DualSums dual;
  ModelUpdate update;
  update.Reset(p);
  KeptCurvature kept;  // the last Newton epoch's Hessian block (EpochDecision::reuse_curvature)
  for (;;) {
    state.BeginEpoch();
    GradientPart part;
    worker.ComputeSnapshot(state.snapshot().data(), grad_sum.data(), &part.loss_sum, &dual);
    part.grad = VectorView::Dense(grad_sum.data(), p);
    part.rows = data.rows();
    part.dual = dual.scalars;
    if (!dual.aux.empty()) part.aux = VectorView::Dense(dual.aux.data(), p);
    state.AddGradSum(part);
    const SnapshotReport snap = state.FinishGradientPhase();
    context.seconds = clock.Now() - start;
    Result<EpochDecision> decided = policy.Decide(snap, context);
    if (!decided.ok()) return decided.status();
    const EpochDecision& d = *decided;
    if (d.keep_as_best) state.KeepSnapshotAsBest();

    EpochReport report;
    report.epoch = snap.epoch - 1;
    report.objective = snap.objective;
    report.kkt = snap.kkt;
    report.gap = snap.gap;
    report.relative_gap = snap.relative_gap;
    report.nnz = snap.nnz;
    report.seconds = context.seconds;
    report.updates = state.applied_total();
    report.eta = d.plan.eta > 0 ? d.plan.eta : result.plan.eta;
    report.verdict = d.verdict;
    report.action = d.action;
    report.newton_alpha = d.newton_alpha;
    report.newton_support = d.newton_alpha > 0 ? policy.line_search_support().size() : 0;
    if (d.keep_as_best) {
      result.last = report;
      result.x = state.snapshot();
    }
    if (on_epoch) on_epoch(report);
    if (d.action == EpochDecision::Action::kNewton || d.action == EpochDecision::Action::kInner) {
      result.plan = d.plan;
    }

    switch (d.action) {
      case EpochDecision::Action::kStop:
        result.stop_reason = d.stop_reason;
        result.step_halvings = policy.step_halvings();
        result.newton_steps = static_cast<int>(policy.newton_steps());
        if (d.failed) {
          return Status::Internal(policy.DivergedMessage());
        }
        return result;
      case EpochDecision::Action::kRollBack:
      case EpochDecision::Action::kNewtonRejected:
        state.RevertToBest();
        continue;
      case EpochDecision::Action::kTrialPoint:
        state.JumpTo(policy.trial_point());
        continue;
      case EpochDecision::Action::kNewton: {
        NewtonSupport support;
        std::vector<double> direction;
        double decrease = 0;
        bool reused = false;
        const bool found = SerialNewtonDirection(
            data, spec, state.mu().data(), state.snapshot().data(), d.working_set, &support,
            &direction, &decrease, &kept, d.reuse_curvature, &reused);
        result.curvature_reuses += reused;
        if (found) {
          state.JumpTo(policy.BeginLineSearch(std::move(support), std::move(direction), decrease,
                                              state.snapshot()));
          continue;
        }
        policy.NewtonDeclined();  // this epoch runs the inner loop instead
        break;
      }
      case EpochDecision::Action::kInner:
        break;
    }
    state.BeginInnerPhase(d.plan.inner_steps);
    worker.BeginEpoch(state.mu().data(), d.plan.eta, d.plan.batch, d.plan.inner_steps);
    for (int64_t t = 0; t < d.plan.inner_steps; ++t) {
      worker.Step(state.View(), &update);
      state.ApplyUpdate(update.delta.View(), update.guarded.View(), state.epoch(), state.version(),
                        0);
    }
  }
}

}  // namespace

Result<TrainResult> TrainLocal(const Dataset& data, const ProblemSpec& spec,
                               const TrainOptions& options,
                               const std::function<void(const EpochReport&)>& on_epoch) {
  if (data.rows() == 0) return Status::InvalidArgument("the training data has no rows");
  EDGETRAIN_RETURN_IF_ERROR(spec.Validate(data.task()));
  const size_t p = static_cast<size_t>(data.dim()) + (spec.intercept ? 1 : 0);
  if (!options.start.empty() && options.start.size() != p) {
    return Status::InvalidArgument("the starting point has " +
                                   std::to_string(options.start.size()) + " entries, the model " +
                                   std::to_string(p));
  }
  if (!std::all_of(options.start.begin(), options.start.end(),
                   [](double v) { return std::isfinite(v); })) {
    return Status::InvalidArgument("the starting point is not finite");
  }
  ProblemSpec solver = spec;
  Dataset scaled;
  const Dataset* train = &data;
  if (solver.scales.empty() && options.precondition) {
    solver.scales = ColumnScales::FromStats(ColumnStats::Compute(data), spec.intercept);
    if (!solver.scales.empty()) {
      scaled = data;
      ApplyColumnScales(&scaled, solver.scales);
      train = &scaled;
    }
  }
  Result<TrainResult> r = Train(*train, solver, options, on_epoch);
  if (r.ok()) {
    r->x = ModelToUser(solver, std::move(r->x));
    r->scales = solver.scales;
  }
  return r;
}

}  // namespace edgetrain
