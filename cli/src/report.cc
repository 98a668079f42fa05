#include "edgetrain/cli/report.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>

#include "edgetrain/metrics.h"

namespace edgetrain::cli {

void EpochTable::PrintHeader() const {
  std::printf("%6s  %-22s  %-10s  %-10s", "epoch", "objective", "kkt", "rel_gap");
  if (!std::isnan(reference_)) std::printf("  %-10s", "rel_subopt");
  std::printf("  %8s  %9s\n", "nnz", "seconds");
  std::fflush(stdout);
}

void EpochTable::PrintRow(const EpochReport& r) const {
  std::printf("%6" PRId64 "  %-22.16g  %-10.3e  %-10.3e", r.epoch, r.objective, r.kkt,
              r.relative_gap);
  if (!std::isnan(reference_)) {
    std::printf("  %-10.3e", (r.objective - reference_) / std::fabs(reference_));
  }
  std::printf("  %8" PRId64 "  %9.3f", r.nnz, r.seconds);
  using Verdict = EpochDecision::Verdict;
  if (r.verdict == Verdict::kProbation) std::printf("  worse than the best snapshot (probation)");
  if (r.verdict == Verdict::kRolledBack)
    std::printf("  worse again: rolled back to the best snapshot, step halved to %.4g", r.eta);
  if (r.verdict == Verdict::kTrial) std::printf("  Newton trial point rejected (Armijo)");
  if (r.action == EpochDecision::Action::kNewtonRejected)
    std::printf("; the line search gave up: back to the best snapshot");
  if (r.newton_alpha > 0) {
    std::printf("  Newton step (alpha %g, |S| %" PRId64 ")", r.newton_alpha, r.newton_support);
  }
  std::printf("\n");
  std::fflush(stdout);
}

void PrintMetrics(const std::string& what, const Model& model, const Dataset& data,
                  std::FILE* out) {
  const std::vector<double> z = Decisions(model, data);
  if (model.task == Task::kClassification) {
    const ClassificationMetrics m = EvaluateClassification(data.y(), z, model.spec.loss);
    std::fprintf(out, "%s: %" PRId64 " rows, accuracy %.4f, AUC %.4f", what.c_str(), m.rows,
                 m.accuracy, m.auc);
    if (!std::isnan(m.log_loss)) std::fprintf(out, ", log-loss %.6f", m.log_loss);
    std::fprintf(out, "\n");
  } else {
    const RegressionMetrics m = EvaluateRegression(data.y(), z);
    std::fprintf(out, "%s: %" PRId64 " rows, RMSE %.6g, R^2 %.4f\n", what.c_str(), m.rows, m.rmse,
                 m.r2);
  }
  std::fflush(out);
}

}  // namespace edgetrain::cli
