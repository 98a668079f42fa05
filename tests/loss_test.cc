// Losses and the full gradient, checked against finite differences of their values.
#include "edgetrain/loss.h"

#include <cmath>
#include <vector>

#include "doctest/doctest.h"
#include "edgetrain/problem.h"
#include "edgetrain/rng.h"
#include "test_util.h"

namespace edgetrain {
namespace {

const LossKind kAllLosses[] = {LossKind::kLogistic, LossKind::kSquared, LossKind::kSquaredHinge};

TEST_CASE("every loss derivative matches a central finite difference") {
  for (LossKind kind : kAllLosses) {
    for (double y : {-1.0, 1.0, 0.3}) {
      if (kind != LossKind::kSquared && y == 0.3) continue;
      for (double z = -6.0; z <= 6.0; z += 0.37) {
        const double h = 1e-6;
        const double fd = (LossValue(kind, z + h, y) - LossValue(kind, z - h, y)) / (2 * h);
        const double g = LossDeriv(kind, z, y);
        INFO(LossName(kind), " z=", z, " y=", y);
        CHECK(std::fabs(fd - g) <= 1e-7 * std::max(1.0, std::fabs(g)));
      }
    }
  }
}

TEST_CASE("every loss has second differences within its curvature bound") {
  for (LossKind kind : kAllLosses) {
    for (double y : {-1.0, 1.0}) {
      for (double z = -8.0; z <= 8.0; z += 0.01) {
        const double h = 1e-4;
        const double second = (LossDeriv(kind, z + h, y) - LossDeriv(kind, z - h, y)) / (2 * h);
        INFO(LossName(kind), " z=", z);
        CHECK(second >= -1e-9);  // convex
        CHECK(second <= LossCurvature(kind) + 1e-6);
        // phi'' itself (the Newton weights): the second difference, away from the squared
        // hinge's kink at y z = 1 where phi'' jumps.
        if (kind != LossKind::kSquaredHinge || std::fabs(1.0 - y * z) > 2 * h) {
          CHECK(LossSecondDeriv(kind, z, y) == doctest::Approx(second).epsilon(1e-6).scale(1.0));
        }
      }
    }
  }
  CHECK(LossCurvature(LossKind::kLogistic) == 0.25);
  CHECK(LossCurvature(LossKind::kSquared) == 1.0);
  CHECK(LossCurvature(LossKind::kSquaredHinge) == 2.0);
}

TEST_CASE("logistic loss is stable far from zero") {
  CHECK(LogisticLoss::Value(1000, 1) == doctest::Approx(0.0));
  CHECK(LogisticLoss::Value(-1000, 1) == doctest::Approx(1000.0));
  CHECK(std::isfinite(LogisticLoss::Deriv(-1000, 1)));
  CHECK(LogisticLoss::Deriv(-1000, 1) == doctest::Approx(-1.0));
  CHECK(LogisticLoss::Value(0, 1) == doctest::Approx(std::log(2.0)));
}

TEST_CASE("loss names round-trip") {
  for (LossKind kind : kAllLosses) CHECK(ParseLossName(LossName(kind)) == kind);
  CHECK_FALSE(ParseLossName("hinge").has_value());
}

// The full gradient of the smooth part (loss average + l2) against finite differences of P,
// on real data, with and without an intercept.
TEST_CASE("full gradient matches finite differences of the objective on heart_scale") {
  const Dataset data = testing::LoadLibsvm(testing::SourcePath("data/heart_scale.svm"));
  for (LossKind kind : {LossKind::kLogistic, LossKind::kSquaredHinge, LossKind::kSquared}) {
    for (bool intercept : {false, true}) {
      ProblemSpec spec;
      spec.loss = kind;
      spec.reg.l2 = 0.05;
      spec.intercept = intercept;
      const int64_t p = spec.ModelSize(data.dim());
      std::vector<double> x(p);
      Rng rng(7);
      for (double& v : x) v = rng.UniformDouble() - 0.5;
      std::vector<double> g(p);
      double loss_sum;
      LossGradientSum(data, spec, x.data(), g.data(), &loss_sum, nullptr);
      for (int64_t j = 0; j < p; ++j) {
        const double analytic = g[j] / data.rows() + (j < data.dim() ? spec.reg.l2 * x[j] : 0.0);
        std::vector<double> xp = x, xm = x;
        const double h = 1e-6;
        xp[j] += h;
        xm[j] -= h;
        const double fd =
            (Objective(data, spec, xp.data()) - Objective(data, spec, xm.data())) / (2 * h);
        INFO(LossName(kind), " intercept=", intercept, " j=", j);
        CHECK(std::fabs(fd - analytic) <= 1e-6 * std::max(1.0, std::fabs(analytic)));
      }
    }
  }
}

}  // namespace
}  // namespace edgetrain
