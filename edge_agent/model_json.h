// JSON views of a model for show-model and export (nlohmann::json).
//
// ModelJson: every field of the model file ("format": "edgetrain-model"). Numbers are written
// so that they read back to the same double; an infinite box bound is null (no bound).
// SklearnJson: what scikit-learn needs to rebuild the estimator ("format": "edgetrain-sklearn"):
// the scaler folded into coef and intercept (the weights on raw features), the classes, the
// estimator's name and its penalty parameters; read by scripts/edgetrain_model.py.
#ifndef EDGETRAIN_EDGE_AGENT_MODEL_JSON_H_
#define EDGETRAIN_EDGE_AGENT_MODEL_JSON_H_

#include <nlohmann/json.hpp>

#include "edgetrain/model.h"

namespace edgetrain::agent {

// `all`: every weight, else the non-zero ones; `by_magnitude`: largest |w| first, else by index.
nlohmann::json ModelJson(const Model& model, bool all, bool by_magnitude);
nlohmann::json SklearnJson(const Model& model);

}  // namespace edgetrain::agent

#endif  // EDGETRAIN_EDGE_AGENT_MODEL_JSON_H_
