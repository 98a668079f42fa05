// Proximal operators and the minimum-norm subgradient: values, properties, consistency.
#include <cmath>
#include <limits>
#include <vector>

#include "doctest/doctest.h"
#include "edgetrain/problem.h"
#include "edgetrain/regularizer.h"
#include "edgetrain/rng.h"

namespace edgetrain {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<Regularizer> SomeRegularizers() {
  std::vector<Regularizer> regs;
  for (double l1 : {0.0, 0.3, 2.0}) {
    for (auto box : std::vector<std::pair<double, double>>{{-kInf, kInf}, {0.0, kInf}, {-1.5, 0.7}, {0.2, 3.0}}) {
      Regularizer r;
      r.l1 = l1;
      r.lower = box.first;
      r.upper = box.second;
      regs.push_back(r);
    }
  }
  return regs;
}

TEST_CASE("with no penalty and no box the prox is the identity") {
  Regularizer r;
  Rng rng(1);
  for (int i = 0; i < 1000; ++i) {
    const double v = (rng.UniformDouble() - 0.5) * 100;
    CHECK(r.Prox(v, 0.7) == v);
  }
}

TEST_CASE("l1 prox is soft-thresholding at eta*l1") {
  Regularizer r;
  r.l1 = 0.5;
  const double eta = 2.0;  // threshold 1
  CHECK(r.Prox(3.0, eta) == 2.0);
  CHECK(r.Prox(-3.0, eta) == -2.0);
  CHECK(r.Prox(0.5, eta) == 0.0);
  CHECK(r.Prox(-1.0, eta) == 0.0);
  CHECK(r.Prox(1.0, eta) == 0.0);
  CHECK(r.Prox(1.25, eta) == 0.25);
}

TEST_CASE("box and non-negativity props are projections") {
  Regularizer nonneg;
  nonneg.lower = 0;
  CHECK(nonneg.Prox(-5.0, 1.0) == 0.0);
  CHECK(nonneg.Prox(5.0, 1.0) == 5.0);
  Regularizer box;
  box.lower = -1;
  box.upper = 2;
  CHECK(box.Prox(7.0, 1.0) == 2.0);
  CHECK(box.Prox(-7.0, 1.0) == -1.0);
  CHECK(box.Prox(0.5, 1.0) == 0.5);
  box.l1 = 1.0;  // soft-threshold first, then project
  CHECK(box.Prox(7.0, 1.0) == 2.0);
  CHECK(box.Prox(1.5, 1.0) == 0.5);
  CHECK(box.Prox(-1.5, 1.0) == -0.5);
}

TEST_CASE("every prox is non-expansive and firmly so on random points") {
  Rng rng(2);
  for (const Regularizer& r : SomeRegularizers()) {
    for (int i = 0; i < 2000; ++i) {
      const double u = (rng.UniformDouble() - 0.5) * 10, v = (rng.UniformDouble() - 0.5) * 10;
      const double eta = 0.1 + rng.UniformDouble();
      const double pu = r.Prox(u, eta), pv = r.Prox(v, eta);
      CHECK(std::fabs(pu - pv) <= std::fabs(u - v) + 1e-15);
      CHECK((pu - pv) * (pu - pv) <= (pu - pv) * (u - v) + 1e-12);  // firm non-expansiveness
    }
  }
}

// p = prox_{eta h}(v) minimises h(p) + (p - v)^2 / (2 eta): so 0 is in (p - v)/eta + dh(p), i.e.
// the minimum-norm subgradient with smooth part g = (p - v)/eta vanishes. This ties the prox to
// the KKT computation independently of either implementation.
TEST_CASE("prox output satisfies its own optimality condition") {
  Rng rng(3);
  for (const Regularizer& r : SomeRegularizers()) {
    for (int i = 0; i < 2000; ++i) {
      const double v = (rng.UniformDouble() - 0.5) * 10;
      const double eta = 0.1 + rng.UniformDouble();
      const double p = r.Prox(v, eta);
      CHECK(p >= r.lower);
      CHECK(p <= r.upper);
      CHECK(std::fabs(r.MinNormSubgradient(p, (p - v) / eta)) <= 1e-12);
      // And it beats nearby feasible points.
      const double obj = r.Value(p) + (p - v) * (p - v) / (2 * eta);
      for (double step : {-1e-3, 1e-3}) {
        const double q = std::clamp(p + step, r.lower, r.upper);
        CHECK(obj <= r.Value(q) + (q - v) * (q - v) / (2 * eta) + 1e-12);
      }
    }
  }
}

TEST_CASE("minimum-norm subgradient values") {
  Regularizer r;
  r.l1 = 1.0;
  CHECK(r.MinNormSubgradient(0.0, 0.5) == 0.0);   // |g| <= l1 at zero: optimal
  CHECK(r.MinNormSubgradient(0.0, 1.5) == 0.5);   // |g| - l1
  CHECK(r.MinNormSubgradient(0.0, -1.5) == -0.5);
  CHECK(r.MinNormSubgradient(2.0, 0.5) == 1.5);   // g + l1 sign(x)
  CHECK(r.MinNormSubgradient(-2.0, 0.5) == -0.5);
  Regularizer nonneg;
  nonneg.lower = 0;
  CHECK(nonneg.MinNormSubgradient(0.0, 3.0) == 0.0);   // pushing against the bound: optimal
  CHECK(nonneg.MinNormSubgradient(0.0, -3.0) == -3.0);  // wants to grow: violation
}

TEST_CASE("regularizer validation") {
  Regularizer r;
  CHECK(r.Validate().ok());
  r.l1 = -1;
  CHECK_FALSE(r.Validate().ok());
  r.l1 = 0;
  r.lower = 2;
  r.upper = 1;
  CHECK_FALSE(r.Validate().ok());
  r.upper = 3;
  CHECK(r.Validate().ok());
}

TEST_CASE("KKT norms and the strong-convexity gap bound") {
  ProblemSpec spec;
  spec.reg.l1 = 1.0;
  spec.reg.l2 = 0.5;
  const std::vector<double> x = {0.0, 2.0, 0.0};
  const std::vector<double> mu = {0.5, -2.0, -3.0};  // gradient of the loss average
  const KktNorms k = KktViolation(spec, mu.data(), x.data(), 3);
  // r = {0, -2 + 0.5*2 + 1 = 0, -3 + 1 = -2}
  CHECK(k.max_abs == doctest::Approx(2.0));
  CHECK(k.l2 == doctest::Approx(2.0));
  CHECK(k.gap_bound == doctest::Approx(4.0 / (2 * 0.5)));
  spec.intercept = true;
  CHECK(std::isnan(KktViolation(spec, mu.data(), x.data(), 3).gap_bound));
}

}  // namespace
}  // namespace edgetrain
