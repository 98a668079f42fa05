// Prediction quality metrics.
//
// Classification (targets -1/+1, decision values z): accuracy of sign(z) (z > 0 is +1), ROC AUC
// (probability that a random positive scores above a random negative, ties counting one half),
// and log-loss of p = 1/(1+exp(-z)) for logistic models (NaN for the others, which do not
// produce probabilities). Regression: RMSE and R^2 = 1 - SS_res/SS_tot.
//
// Thread-safety: pure functions.
#ifndef EDGETRAIN_METRICS_H_
#define EDGETRAIN_METRICS_H_

#include <cstdint>
#include <vector>

#include "edgetrain/dataset.h"
#include "edgetrain/loss.h"
#include "edgetrain/model.h"

namespace edgetrain {

struct ClassificationMetrics {
  int64_t rows = 0;
  double accuracy = 0;
  double auc = 0;       // NaN when one class is absent
  double log_loss = 0;  // NaN unless the loss is logistic
};

struct RegressionMetrics {
  int64_t rows = 0;
  double rmse = 0;
  double r2 = 0;  // NaN when the targets are constant
};

// REQUIRES: y.size() == decision.size().
ClassificationMetrics EvaluateClassification(const std::vector<double>& y,
                                             const std::vector<double>& decision, LossKind loss);
RegressionMetrics EvaluateRegression(const std::vector<double>& y,
                                     const std::vector<double>& prediction);

// Decision values of `model` on raw rows of `data` (features beyond the model's d are ignored,
// as liblinear does).
std::vector<double> Decisions(const Model& model, const Dataset& data);

}  // namespace edgetrain

#endif  // EDGETRAIN_METRICS_H_
