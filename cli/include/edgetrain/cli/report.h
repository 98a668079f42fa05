// Human-readable output shared by the executables: the per-epoch training table and the
// prediction-quality summary.
//
// Thread-safety: writes to the sink it is given; call from one thread. Ownership: EpochTable
// borrows its sink, which must outlive it.
#ifndef EDGETRAIN_CLI_REPORT_H_
#define EDGETRAIN_CLI_REPORT_H_

#include <string>

#include "edgetrain/cli/log.h"
#include "edgetrain/dataset.h"
#include "edgetrain/local_trainer.h"
#include "edgetrain/model.h"

namespace edgetrain::cli {

// One line per epoch: epoch, objective, KKT violation, certified relative duality gap,
// relative suboptimality (when a reference objective is known), non-zeros, seconds; written to
// `out` at Priority::kInfo (progress).
class EpochTable {
 public:
  EpochTable(const LineSink& out, double reference_objective)
      : out_(out), reference_(reference_objective) {}
  void PrintHeader() const;
  void PrintRow(const EpochReport& r) const;

 private:
  const LineSink& out_;
  double reference_;
};

// Writes accuracy/AUC/log-loss (classification) or RMSE/R^2 (regression) of `model` on `data`,
// prefixed by `what` ("test", "data"), to `out` at Priority::kNotice (a result).
void PrintMetrics(const LineSink& out, const std::string& what, const Model& model,
                  const Dataset& data);

}  // namespace edgetrain::cli

#endif  // EDGETRAIN_CLI_REPORT_H_
