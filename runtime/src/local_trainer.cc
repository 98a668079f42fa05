#include "edgetrain/local_trainer.h"

#include <chrono>

#include "edgetrain/coordinator_state.h"
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
  result.smoothness = EstimateSmoothness(data, spec);
  Result<StepPlan> plan = PlanSteps(result.smoothness, spec.reg.l2, options.steps);
  if (!plan.ok()) return plan.status();
  result.plan = *plan;

  CoordinatorState state(spec, data.dim());
  SvrgWorker worker(&data, spec, DeriveSeed(options.seed, 0));
  const int64_t p = state.model_size();
  std::vector<double> grad_sum(p);
  SparseVector delta(p);

  for (int64_t epoch = 0;; ++epoch) {
    state.BeginEpoch();
    double loss_sum = 0;
    worker.ComputeSnapshot(state.snapshot().data(), grad_sum.data(), &loss_sum);
    state.AddGradSum(VectorView::Dense(grad_sum.data(), p), loss_sum, data.rows());
    const SnapshotReport snap = state.FinishGradientPhase(result.plan.inner_steps);

    EpochReport report;
    report.epoch = epoch;
    report.objective = snap.objective;
    report.kkt = snap.kkt;
    report.gap_bound = snap.gap_bound;
    report.nnz = snap.nnz;
    report.seconds = seconds();
    report.updates = state.applied_total();
    if (on_epoch) on_epoch(report);
    result.last = report;
    result.x = state.snapshot();

    if (snap.kkt <= options.kkt_tolerance) {
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

    worker.BeginEpoch(state.mu().data(), result.plan.eta, result.plan.batch);
    for (int64_t t = 0; t < result.plan.inner_steps; ++t) {
      worker.Step(state.View(), &delta);
      state.ApplyUpdate(delta.View(), state.epoch(), state.version(), 0);
    }
  }
  return result;
}

}  // namespace edgetrain
