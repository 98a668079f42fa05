// Human-readable output shared by the executables: the per-epoch training table and the
// prediction-quality summary.
//
// Thread-safety: writes to stdout; call from one thread.
#ifndef EDGETRAIN_CLI_REPORT_H_
#define EDGETRAIN_CLI_REPORT_H_

#include <cstdio>
#include <string>

#include "edgetrain/dataset.h"
#include "edgetrain/local_trainer.h"
#include "edgetrain/model.h"

namespace edgetrain::cli {

// One line per epoch: epoch, objective, KKT violation, certified relative duality gap,
// relative suboptimality (when a reference objective is known), non-zeros, seconds.
class EpochTable {
 public:
  explicit EpochTable(double reference_objective) : reference_(reference_objective) {}
  void PrintHeader() const;
  void PrintRow(const EpochReport& r) const;

 private:
  double reference_;
};

// Prints accuracy/AUC/log-loss (classification) or RMSE/R^2 (regression) of `model` on `data`,
// prefixed by `what` ("test", "data"), to `out`.
void PrintMetrics(const std::string& what, const Model& model, const Dataset& data,
                  std::FILE* out = stdout);

}  // namespace edgetrain::cli

#endif  // EDGETRAIN_CLI_REPORT_H_
