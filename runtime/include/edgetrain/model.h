// Model: a trained linear model, its model file (FlatBuffers, schemas/model.fbs) and exports.
//
// The weights w and intercept b apply to scaled features (see Scaler); Decision() folds the
// scaler in, so callers pass rows exactly as read from the data file:
//   decision(a) = sum_j w_j factor_j (a_j - offset_j) + b
// Classification predicts the positive label when decision > 0; logistic models give the
// probability 1 / (1 + exp(-decision)).
//
// Thread-safety: a value type; const methods are safe concurrently.
#ifndef EDGETRAIN_MODEL_H_
#define EDGETRAIN_MODEL_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "edgetrain/dataset.h"
#include "edgetrain/problem.h"
#include "edgetrain/readers.h"
#include "edgetrain/scaler.h"
#include "edgetrain/status.h"

namespace edgetrain {

struct TrainingSummary {
  std::string mode;  // "local" or "distributed"
  int64_t epochs = 0;
  int64_t updates = 0;
  int64_t rows = 0;
  int32_t agents = 1;
  double objective = 0;
  double kkt_violation = 0;
  double seconds = 0;
  double step_size = 0;
  int64_t inner_steps = 0;
  int32_t batch_size = 0;
  std::string stop_reason;
  int64_t created_unix = 0;
  std::string software_version;
  // A coordinator's training rounds (model_dir.h): the round that made the model (0: not made in
  // rounds), its certified relative duality gap (NaN: none), and the agents that took part with
  // their rows.
  int64_t round = 0;
  double relative_gap = std::numeric_limits<double>::quiet_NaN();
  std::vector<std::pair<std::string, int64_t>> agent_rows;
};

struct Model {
  Task task = Task::kClassification;
  ProblemSpec spec;
  int32_t dim = 0;
  std::vector<double> weights;  // d entries (for scaled features)
  double intercept = 0;
  std::optional<LabelMap> labels;
  Scaler scaler;  // kind kNone: no scaling
  std::vector<std::string> feature_names;
  TrainingSummary summary;
  // How training read its data, so predict and score read new rows the same way.
  std::string label_column;  // CSV: the label column's name (empty for libsvm data)
  MissingPolicy missing = MissingPolicy::kError;
  std::vector<double> fill_values;  // kMean: one per feature, else empty

  // From a model vector x of spec.ModelSize(dim) entries.
  static Model FromVector(const std::vector<double>& x, int32_t dim, Task task,
                          const ProblemSpec& spec);
  // The model vector x (p entries) this model was built from.
  std::vector<double> ToVector() const;
  int64_t NonZeros() const;

  // Weights and intercept for raw (unscaled) features.
  void EffectiveWeights(std::vector<double>* w, double* b) const;
};

// Serializes to FlatBuffers bytes / parses them through the verifier plus semantic checks.
std::string SerializeModel(const Model& model);
Result<Model> ParseModel(std::string_view bytes, const std::string& source);

Status WriteModelFile(const std::string& path, const Model& model);
Result<Model> ReadModelFile(const std::string& path);

// liblinear's text model format (so liblinear's `predict` can use the weights). Labels are
// written as integers when both labels are integers, else as 1 (positive) and -1 (negative).
// A scaler is folded into the weights; a non-zero intercept is written as liblinear's bias
// feature (bias 1).
std::string ToLiblinearText(const Model& model);
Status WriteLiblinearModelFile(const std::string& path, const Model& model);

}  // namespace edgetrain

#endif  // EDGETRAIN_MODEL_H_
