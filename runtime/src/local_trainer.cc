#include "edgetrain/local_trainer.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "edgetrain/coordinator_state.h"
#include "edgetrain/support_newton.h"
#include "edgetrain/svrg_worker.h"

namespace edgetrain {

Result<TrainResult> TrainLocal(const Dataset& data, const ProblemSpec& spec,
                               const TrainOptions& options,
                               const std::function<void(const EpochReport&)>& on_epoch) {
  if (data.rows() == 0) return Status::InvalidArgument("the training data has no rows");
  EDGETRAIN_RETURN_IF_ERROR(spec.Validate(data.task()));
  const auto start = std::chrono::steady_clock::now();
  auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };

  TrainResult result;
  SvrgWorker worker(&data, spec, DeriveSeed(options.seed, 0), options.sampling);
  worker.set_lazy(options.lazy);  // every step is applied before the next: lazy updates are exact
  result.smoothness = worker.smoothness();
  Result<StepPlan> plan = PlanSteps(result.smoothness, spec.reg.l2, options.steps);
  if (!plan.ok()) return plan.status();
  result.plan = *plan;

  CoordinatorState state(spec, data.dim());
  const int64_t p = state.model_size();
  std::vector<double> grad_sum(p);
  ModelUpdate update;
  update.Reset(p);

  int newton_cooldown = 0;
  NewtonLineSearch search;
  for (int64_t epoch = 0;; ++epoch) {
    state.BeginEpoch();
    double loss_sum = 0;
    worker.ComputeSnapshot(state.snapshot().data(), grad_sum.data(), &loss_sum);
    state.AddGradSum(VectorView::Dense(grad_sum.data(), p), loss_sum, data.rows());
    const SnapshotReport snap = state.FinishGradientPhase(result.plan.inner_steps);
    // A Newton trial point is judged by this snapshot's objective (Armijo, against the snapshot it
    // came from: the best so far), as in the distributed mode; a failed one is replaced by the
    // point half as far, then given up (x back to the best snapshot, inner loops for two epochs).
    double newton_alpha = 0;
    if (search.pending()) {
      std::vector<double> point;
      const NewtonLineSearch::Verdict v =
          search.Judge(snap.objective, state.best_objective(), &point);
      if (v == NewtonLineSearch::Verdict::kNextTrial) {
        state.JumpTo(point);
        continue;
      }
      if (v == NewtonLineSearch::Verdict::kFailed) {
        state.RevertToBest();
        newton_cooldown = kNewtonCooldownEpochs;
        continue;
      }
      newton_alpha = search.alpha();
    }
    const CoordinatorState::SnapshotVerdict verdict = state.JudgeSnapshot(snap);
    const bool rolled_back = verdict == CoordinatorState::SnapshotVerdict::kRolledBack;
    const bool best = verdict == CoordinatorState::SnapshotVerdict::kBest;

    EpochReport report;
    report.epoch = epoch;
    report.objective = snap.objective;
    report.kkt = snap.kkt;
    report.gap_bound = snap.gap_bound;
    report.nnz = snap.nnz;
    report.seconds = seconds();
    report.updates = state.applied_total();
    report.rolled_back = rolled_back;
    if (rolled_back) {
      // The step was too long for this data: x is back at the best snapshot; halve the step.
      result.plan.eta *= 0.5;
      if (++result.step_halvings > 40)
        return Status::Internal("training diverges even with tiny steps");
    } else if (best) {
      result.last = report;
      result.x = state.snapshot();
    }
    report.eta = result.plan.eta;
    report.probation = verdict == CoordinatorState::SnapshotVerdict::kProbation;
    report.newton_alpha = newton_alpha;
    report.newton_support = newton_alpha > 0 ? search.support().size() : 0;
    if (on_epoch) on_epoch(report);

    if (best && snap.kkt <= options.kkt_tolerance) {
      result.stop_reason = "kkt";
      break;
    }
    if (epoch >= options.max_epochs) {
      result.stop_reason = "max-epochs";
      break;
    }
    if (options.time_limit > 0 && report.seconds >= options.time_limit) {
      result.stop_reason = "time-limit";
      break;
    }
    if (rolled_back) continue;

    // A proximal Newton step on the working set (support_newton.h) replaces the epoch's inner
    // loop; the next snapshot judges its point. When no step can be made, or after a failed line
    // search, two epochs run inner loops before the next try.
    if (newton_cooldown > 0) {
      --newton_cooldown;
    } else if (options.newton_max_support > 0 && best) {
      NewtonSupport support;
      std::vector<double> direction;
      double decrease = 0;
      if (SerialNewtonDirection(data, spec, state.mu().data(), state.snapshot().data(),
                                NewtonWorkingSetSize(snap.nnz, options.newton_max_support),
                                &support, &direction, &decrease)) {
        std::vector<double> point;
        search.Start(std::move(support), std::move(direction), decrease, state.snapshot(), &point);
        state.JumpTo(point);
        ++result.newton_steps;
        continue;
      }
      newton_cooldown = kNewtonCooldownEpochs;
    }

    worker.BeginEpoch(state.mu().data(), result.plan.eta, result.plan.batch,
                      result.plan.inner_steps);
    for (int64_t t = 0; t < result.plan.inner_steps; ++t) {
      worker.Step(state.View(), &update);
      state.ApplyUpdate(update.delta.View(), update.guarded.View(), state.epoch(), state.version(),
                        0);
    }
  }
  return result;
}

}  // namespace edgetrain
