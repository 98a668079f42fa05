// The certified duality gap against the mathematics it claims, on bundled real data: for every
// loss, with and without an intercept, l1, elastic net, non-negativity and a box, in the user's
// coordinates and in the preconditioner's (scaled, centred columns), the gap at any
// point x bounds P(x) - P* from above (P* approached by a solution with KKT <= 1e-10), and it
// shrinks to nothing at the solution.
#include "edgetrain/duality.h"

#include <cmath>
#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "edgetrain/local_trainer.h"
#include "edgetrain/readers.h"
#include "edgetrain/rng.h"
#include "edgetrain/scaler.h"
#include "test_util.h"

namespace edgetrain {
namespace {

struct Case {
  std::string name;
  Dataset data;
  ProblemSpec spec;
};

GapCertificate Certify(const Dataset& data, const ProblemSpec& spec, const std::vector<double>& x,
                       double* objective) {
  const int64_t p = spec.ModelSize(data.dim());
  std::vector<double> grad(p);
  double loss_sum = 0;
  DualSums sums;
  LossGradientSum(data, spec, x.data(), grad.data(), &loss_sum, nullptr, &sums);
  *objective = ObjectiveFromLossSum(spec, loss_sum, data.rows(), x.data(), p);
  return CertifyGap(spec, data.dim(), data.rows(), *objective, grad.data(), sums);
}

// The certificate computed from two shards' sums equals the one from the whole data.
void CheckAdditive(const Case& c, const std::vector<double>& x) {
  const int64_t p = c.spec.ModelSize(c.data.dim());
  const int64_t n = c.data.rows();
  std::vector<double> grad(p, 0.0), part(p);
  DualSums total, sums;
  total.Reset(c.spec, p);
  double loss = 0;
  for (int k = 0; k < 2; ++k) {
    const Dataset shard = c.data.Shard(k, 2);
    double l = 0;
    LossGradientSum(shard, c.spec, x.data(), part.data(), &l, nullptr, &sums);
    for (int64_t j = 0; j < p; ++j) grad[j] += part[j];
    total.Add(sums);
    loss += l;
  }
  const double objective = ObjectiveFromLossSum(c.spec, loss, n, x.data(), p);
  const GapCertificate split = CertifyGap(c.spec, c.data.dim(), n, objective, grad.data(), total);
  double whole_objective = 0;
  const GapCertificate whole = Certify(c.data, c.spec, x, &whole_objective);
  CHECK(split.dual == doctest::Approx(whole.dual).epsilon(1e-9));
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  const Dataset spam = testing::LoadLibsvm(testing::SourcePath("data/spam/train.svm"));
  const Dataset heart = testing::LoadLibsvm(testing::SourcePath("data/heart_scale.svm"));
  const Dataset diabetes =
      testing::LoadLibsvm(testing::SourcePath("data/diabetes.svm"), Task::kRegression);
  ReadOptions wdbc_options;
  wdbc_options.label_column = "diagnosis";
  Result<Dataset> wdbc = ReadCsvFile(testing::SourcePath("data/wdbc.csv"), wdbc_options);
  REQUIRE(wdbc.ok());
  auto add = [&](std::string name, const Dataset& data, LossKind loss, double l1, double l2,
                 bool intercept, double lower = -INFINITY, double upper = INFINITY) {
    Case c{std::move(name), data, {}};
    c.spec.loss = loss;
    c.spec.reg.l1 = l1;
    c.spec.reg.l2 = l2;
    c.spec.reg.lower = lower;
    c.spec.reg.upper = upper;
    c.spec.intercept = intercept;
    cases.push_back(std::move(c));
  };
  add("spam L1-logistic", spam, LossKind::kLogistic, 1e-3, 0, false);
  add("spam L1 squared hinge", spam, LossKind::kSquaredHinge, 1e-3, 0, false);
  add("heart L1-logistic, intercept", heart, LossKind::kLogistic, 1e-2, 0, true);
  add("heart elastic-net squared hinge, intercept", heart, LossKind::kSquaredHinge, 1e-2, 1e-2,
      true);
  add("wdbc unscaled L1-logistic, intercept", *wdbc, LossKind::kLogistic, 1e-3, 0, true);
  add("diabetes lasso, intercept", diabetes, LossKind::kSquared, 0.1, 0, true);
  add("diabetes elastic net", diabetes, LossKind::kSquared, 0.1, 0.5, false);
  add("diabetes non-negative lasso, intercept", diabetes, LossKind::kSquared, 0.1, 0, true, 0.0);
  add("diabetes box [-5, 5], intercept", diabetes, LossKind::kSquared, 0.0, 0.0, true, -5, 5);
  add("heart l2 only, intercept", heart, LossKind::kLogistic, 0, 0.05, true);
  // In the solver's coordinates of the preconditioner (column_scales.h): scaled, centred columns
  // and per-coordinate penalties; the certificate is the user's all the same.
  auto preconditioned = [&](std::string name, const Dataset& data, LossKind loss, double l1,
                            double l2, bool intercept, double lower = -INFINITY,
                            double upper = INFINITY) {
    add(std::move(name), data, loss, l1, l2, intercept, lower, upper);
    Case& c = cases.back();
    c.spec.scales = ColumnScales::FromStats(ColumnStats::Compute(c.data), intercept);
    REQUIRE_FALSE(c.spec.scales.empty());
    ApplyColumnScales(&c.data, c.spec.scales);
  };
  preconditioned("wdbc unscaled L1-logistic, preconditioned", *wdbc, LossKind::kLogistic, 1e-3, 0,
                 false);
  preconditioned("wdbc unscaled elastic net, centred and scaled, intercept", *wdbc,
                 LossKind::kLogistic, 1e-3, 1e-2, true);
  preconditioned("wdbc unscaled non-negative L1 squared hinge, centred and scaled, intercept",
                 *wdbc, LossKind::kSquaredHinge, 1e-3, 0, true, 0.0);
  preconditioned("wdbc unscaled box [-0.5, 2], preconditioned", *wdbc, LossKind::kLogistic, 1e-3, 0,
                 false, -0.5, 2.0);
  return cases;
}

TEST_CASE("the duality gap bounds P(x) - P* from above everywhere and vanishes at the solution") {
  for (const Case& c : Cases()) {
    CAPTURE(c.name);
    TrainOptions o;
    o.policy.stop.max_epochs = 3000;
    o.policy.stop.kkt_tolerance = 1e-12;
    o.policy.stop.tolerance = 0;  // stop on KKT only: the certificate is what is under test
    Result<TrainResult> r = TrainLocal(c.data, c.spec, o, nullptr);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    REQUIRE(r->last.kkt <= 1e-12);
    const std::vector<double> x_star = ModelToSolver(c.spec, r->x);  // in the data's coordinates
    double p_star = 0;  // P(x*) >= P*: P(x) - P(x*) <= P(x) - P* <= gap(x)
    const GapCertificate at_star = Certify(c.data, c.spec, x_star, &p_star);
    CHECK(at_star.relative <= 1e-8);
    CHECK(at_star.dual <= p_star + 1e-12 * std::fabs(p_star));
    CheckAdditive(c, x_star);
    // Points on the way (t x*), beside it (x* + noise, inside the box) and x = 0.
    Rng rng(3);
    for (int k = 0; k < 12; ++k) {
      std::vector<double> x = x_star;
      if (k < 6) {
        for (double& v : x) v *= k / 6.0;
      } else {
        const double size = std::pow(10.0, -(k - 5));
        for (size_t j = 0; j < x.size(); ++j) {
          if (rng.Uniform(3) != 0) continue;
          const bool weight = !c.spec.intercept || j + 1 < x.size();
          x[j] += size * (2 * rng.UniformDouble() - 1);
          if (weight) {
            const Regularizer reg = c.spec.Penalty(static_cast<int64_t>(j));
            x[j] = std::clamp(x[j], reg.lower, reg.upper);
          }
        }
      }
      double objective = 0;
      const GapCertificate g = Certify(c.data, c.spec, x, &objective);
      CAPTURE(k);
      CHECK(std::isfinite(g.gap));
      CHECK(g.gap >= objective - p_star - 1e-12 * std::fabs(p_star));
      CHECK(g.dual <= p_star + 1e-12 * std::fabs(p_star));
    }
  }
}

}  // namespace
}  // namespace edgetrain
