#include "model_json.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "edgetrain/loss.h"

namespace edgetrain::agent {
namespace {

nlohmann::json Bound(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

}  // namespace

nlohmann::json ModelJson(const Model& m, bool all, bool by_magnitude) {
  nlohmann::json j;
  j["format"] = "edgetrain-model";
  j["format_version"] = 1;
  j["task"] = TaskName(m.task);
  j["loss"] = LossName(m.spec.loss);
  j["penalties"] = {{"l1", m.spec.reg.l1},
                    {"l2", m.spec.reg.l2},
                    {"lower", Bound(m.spec.reg.lower)},
                    {"upper", Bound(m.spec.reg.upper)}};
  j["fit_intercept"] = m.spec.intercept;
  j["dimension"] = m.dim;
  j["intercept"] = m.intercept;
  j["labels"] =
      m.labels ? nlohmann::json{{"negative", m.labels->negative}, {"positive", m.labels->positive}}
               : nlohmann::json();
  j["label_column"] = m.label_column.empty() ? nlohmann::json() : nlohmann::json(m.label_column);
  j["feature_names"] = m.feature_names;
  if (m.scaler.kind != ScalerKind::kNone) {
    j["scaler"] = {{"kind", ScalerName(m.scaler.kind)},
                   {"offset", m.scaler.offset},
                   {"factor", m.scaler.factor}};
  } else {
    j["scaler"] = nullptr;
  }
  j["missing"] = {{"policy", MissingPolicyName(m.missing)}, {"fill_values", m.fill_values}};
  std::vector<int32_t> order(m.dim);
  std::iota(order.begin(), order.end(), 0);
  if (by_magnitude) {
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return std::fabs(m.weights[a]) > std::fabs(m.weights[b]);
    });
  }
  nlohmann::json weights = nlohmann::json::array();
  for (int32_t k : order) {
    if (!all && m.weights[k] == 0.0) continue;
    nlohmann::json w = {{"index", k}, {"value", m.weights[k]}};
    if (!m.feature_names.empty()) w["name"] = m.feature_names[k];
    weights.push_back(std::move(w));
  }
  j["nonzero_weights"] = m.NonZeros();
  j["weights"] = std::move(weights);
  const TrainingSummary& s = m.summary;
  j["summary"] = {{"mode", s.mode},
                  {"epochs", s.epochs},
                  {"updates", s.updates},
                  {"rows", s.rows},
                  {"agents", s.agents},
                  {"objective", s.objective},
                  {"kkt_violation", s.kkt_violation},
                  {"seconds", s.seconds},
                  {"step_size", s.step_size},
                  {"inner_steps", s.inner_steps},
                  {"batch_size", s.batch_size},
                  {"stop_reason", s.stop_reason},
                  {"created_unix", s.created_unix},
                  {"software_version", s.software_version}};
  if (s.round > 0) {
    nlohmann::json rows = nlohmann::json::object();
    for (const auto& [agent, n] : s.agent_rows) rows[agent] = n;
    j["summary"]["round"] = s.round;
    j["summary"]["relative_gap"] =
        std::isfinite(s.relative_gap) ? nlohmann::json(s.relative_gap) : nlohmann::json(nullptr);
    j["summary"]["agent_rows"] = std::move(rows);
  }
  return j;
}

nlohmann::json SklearnJson(const Model& m) {
  std::vector<double> w;
  double b;
  m.EffectiveWeights(&w, &b);
  nlohmann::json j;
  j["format"] = "edgetrain-sklearn";
  j["format_version"] = 1;
  const double l1 = m.spec.reg.l1, l2 = m.spec.reg.l2;
  const double rows = static_cast<double>(std::max<int64_t>(1, m.summary.rows));
  if (m.task == Task::kClassification) {
    // P(w) = (1/n) sum loss + l1 |w|_1 + (l2/2)|w|^2; scikit-learn: C sum loss + penalty, so
    // C = 1 / (n * lambda) for the penalty that is there.
    const double lambda = l1 > 0 ? l1 : l2;
    j["estimator"] = m.spec.loss == LossKind::kLogistic ? "LogisticRegression" : "LinearSVC";
    j["params"] = {{"penalty", l1 > 0 && l2 > 0 ? "elasticnet"
                               : l1 > 0         ? "l1"
                                                : "l2"},
                   {"C", lambda > 0 ? 1.0 / (rows * lambda) : 1e300},
                   {"fit_intercept", m.spec.intercept}};
    j["classes"] = {m.labels->negative, m.labels->positive};
  } else {
    // scikit-learn's Lasso/ElasticNet: (1/2n)|y - Xw|^2 + alpha*l1_ratio|w|_1 +
    // (alpha/2)(1 - l1_ratio)|w|^2, the same as ours with alpha = l1 + l2.
    const double alpha = l1 + l2;
    j["estimator"] =
        l1 > 0 ? (l2 > 0 ? "ElasticNet" : "Lasso") : (l2 > 0 ? "Ridge" : "LinearRegression");
    // Ridge: |y - Xw|^2 + alpha |w|^2, alpha = n * l2.
    j["params"] = {{"alpha", l1 > 0 ? alpha : rows * l2},
                   {"l1_ratio", alpha > 0 ? l1 / alpha : 0.0},
                   {"fit_intercept", m.spec.intercept}};
    j["classes"] = nullptr;
  }
  j["coef"] = w;
  j["intercept"] = b;
  j["feature_names"] = m.feature_names;
  j["scaling"] = m.scaler.kind == ScalerKind::kNone ? "none" : "folded into coef and intercept";
  j["label_column"] = m.label_column.empty() ? nlohmann::json() : nlohmann::json(m.label_column);
  return j;
}

}  // namespace edgetrain::agent
