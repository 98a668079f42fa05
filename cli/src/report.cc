#include "edgetrain/cli/report.h"

#include <cinttypes>
#include <cmath>

#include "edgetrain/metrics.h"
#include "edgetrain/text.h"

namespace edgetrain::cli {

void EpochTable::PrintHeader() const {
  std::string line =
      StringPrintf("%6s  %-22s  %-10s  %-10s", "epoch", "objective", "kkt", "rel_gap");
  if (!std::isnan(reference_)) line += StringPrintf("  %-10s", "rel_subopt");
  line += StringPrintf("  %8s  %9s", "nnz", "seconds");
  out_.Write(Priority::kInfo, line);
}

void EpochTable::PrintRow(const EpochReport& r) const {
  std::string line = StringPrintf("%6" PRId64 "  %-22.16g  %-10.3e  %-10.3e", r.epoch, r.objective,
                                  r.kkt, r.relative_gap);
  if (!std::isnan(reference_))
    line += StringPrintf("  %-10.3e", (r.objective - reference_) / std::fabs(reference_));
  line += StringPrintf("  %8" PRId64 "  %9.3f", r.nnz, r.seconds);
  using Verdict = EpochDecision::Verdict;
  if (r.verdict == Verdict::kProbation) line += "  worse than the best snapshot (probation)";
  if (r.verdict == Verdict::kRolledBack) {
    line +=
        StringPrintf("  worse again: rolled back to the best snapshot, step halved to %.4g", r.eta);
  }
  if (r.verdict == Verdict::kTrial) line += "  Newton trial point rejected (Armijo)";
  if (r.action == EpochDecision::Action::kNewtonRejected)
    line += "; the line search gave up: back to the best snapshot";
  if (r.newton_alpha > 0) {
    line +=
        StringPrintf("  Newton step (alpha %g, |S| %" PRId64 ")", r.newton_alpha, r.newton_support);
  }
  out_.Write(Priority::kInfo, line);
}

void PrintMetrics(const LineSink& out, const std::string& what, const Model& model,
                  const Dataset& data) {
  const std::vector<double> z = Decisions(model, data);
  std::string line;
  if (model.task == Task::kClassification) {
    const ClassificationMetrics m = EvaluateClassification(data.y(), z, model.spec.loss);
    line = StringPrintf("%s: %" PRId64 " rows, accuracy %.4f, AUC %.4f", what.c_str(), m.rows,
                        m.accuracy, m.auc);
    if (!std::isnan(m.log_loss)) line += StringPrintf(", log-loss %.6f", m.log_loss);
  } else {
    const RegressionMetrics m = EvaluateRegression(data.y(), z);
    line = StringPrintf("%s: %" PRId64 " rows, RMSE %.6g, R^2 %.4f", what.c_str(), m.rows, m.rmse,
                        m.r2);
  }
  out.Write(Priority::kNotice, line);
}

}  // namespace edgetrain::cli
