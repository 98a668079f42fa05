// Proximal operators and the minimum-norm subgradient: values, properties, consistency.
#include <cmath>
#include <limits>
#include <vector>

#include "doctest/doctest.h"
#include "edgetrain/group_lasso.h"
#include "edgetrain/problem.h"
#include "edgetrain/regularizer.h"
#include "edgetrain/rng.h"

namespace edgetrain {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<Regularizer> SomeRegularizers() {
  std::vector<Regularizer> regs;
  for (double l1 : {0.0, 0.3, 2.0}) {
    for (auto box : std::vector<std::pair<double, double>>{
             {-kInf, kInf}, {0.0, kInf}, {-1.5, 0.7}, {0.2, 3.0}}) {
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

// The preconditioner's per-coordinate penalties (Regularizer::Scaled, s a power of two) and the
// l2 part taken in the prox (ProxWithL2): the same properties, exactly.
std::vector<Regularizer> SomeScaledRegularizers() {
  std::vector<Regularizer> regs;
  for (Regularizer r : SomeRegularizers()) {
    for (double l2 : {0.0, 0.4}) {
      r.l2 = l2;
      for (int e : {-9, -1, 0, 3, 12})
        regs.push_back(r.Scaled(std::ldexp(1.0, e), std::ldexp(1.0, -e)));
    }
  }
  return regs;
}

TEST_CASE("per-coordinate penalties: the prox of h(s z) is the prox of h, rescaled, bit for bit") {
  // g(z) = h(s z) has prox_{eta g}(v) = prox_{eta s^2 h}(s v) / s; with s a power of two every
  // rounding is the same. Value and subgradient follow the same change of variables.
  Rng rng(4);
  for (const Regularizer& r : SomeRegularizers()) {
    for (int e : {-9, -1, 3, 12}) {
      const double s = std::ldexp(1.0, e), inv = std::ldexp(1.0, -e);
      Regularizer with_l2 = r;
      with_l2.l2 = 0.4;
      const Regularizer g = r.Scaled(s, inv), g2 = with_l2.Scaled(s, inv);
      for (int i = 0; i < 200; ++i) {
        const double v = (rng.UniformDouble() - 0.5) * 10 * inv;
        const double eta = 0.1 + rng.UniformDouble();
        CHECK(g.Prox(v, eta) == r.Prox(s * v, eta * s * s) * inv);
        CHECK(g2.ProxWithL2(v, eta) == with_l2.ProxWithL2(s * v, eta * s * s) * inv);
        CHECK(g2.Value(v) == with_l2.Value(s * v));
        const double grad = (rng.UniformDouble() - 0.5) * 4;
        CHECK(g.MinNormSubgradient(v, grad * s) == r.MinNormSubgradient(s * v, grad) * s);
      }
    }
  }
}

TEST_CASE("ProxWithL2 is the prox of h + (l2/2) w^2, and Prox itself without l2") {
  Rng rng(5);
  for (const Regularizer& r : SomeScaledRegularizers()) {
    for (int i = 0; i < 500; ++i) {
      const double u = (rng.UniformDouble() - 0.5) * 10, v = (rng.UniformDouble() - 0.5) * 10;
      const double eta = 0.1 + rng.UniformDouble();
      const double p = r.ProxWithL2(v, eta), pu = r.ProxWithL2(u, eta);
      if (r.l2 == 0) CHECK(p == r.Prox(v, eta));
      CHECK(p >= r.lower);
      CHECK(p <= r.upper);
      // Optimality: 0 in (p - v)/eta + l2 p + dh(p).
      CHECK(std::fabs(r.MinNormSubgradient(p, (p - v) / eta + r.l2 * p)) <=
            1e-12 * (1 + std::fabs(v) / eta));
      CHECK(std::fabs(pu - p) <= std::fabs(u - v) + 1e-12);
      CHECK((pu - p) * (pu - p) <= (pu - p) * (u - v) + 1e-12);
    }
  }
}

TEST_CASE("KKT with a preconditioner is the user's KKT, mapped back") {
  // The same point and gradient in both coordinates: x_j = s_j z_j, mu~_j = s_j mu_j, and with a
  // centred column the intercept's gradient enters: mu~_j = s_j (mu_j - m_j mu_b).
  ProblemSpec user;
  user.reg.l1 = 0.3;
  user.reg.l2 = 0.2;
  user.reg.lower = -2;
  user.reg.upper = 5;
  user.intercept = true;
  const std::vector<double> x = {0.0, 1.5, -2.0, 5.0, 0.0, 0.7};  // 5 weights + intercept
  const std::vector<double> mu = {0.1, -0.8, 1.3, -0.4, -0.9, 0.25};
  ProblemSpec solver = user;
  solver.scales =
      ColumnScales::FromValues({0.25, 4.0, 1.0, 0.5, 64.0}, {0.0, 3.0, -1.0, 0.0, 0.5}).value();
  const std::vector<double> z = ModelToSolver(solver, x);
  std::vector<double> mu_z = mu;
  for (int32_t j = 0; j < 5; ++j)
    mu_z[j] = solver.scales.scale(j) * (mu[j] - solver.scales.offset(j) * mu[5]);
  const KktNorms a = KktViolation(user, mu.data(), x.data(), 6);
  const KktNorms b = KktViolation(solver, mu_z.data(), z.data(), 6);
  CHECK(a.max_abs > 0);
  CHECK(b.max_abs == doctest::Approx(a.max_abs).epsilon(1e-14));
  CHECK(b.l2 == doctest::Approx(a.l2).epsilon(1e-14));
  CHECK(PenaltyValue(solver, z.data(), 6) == doctest::Approx(PenaltyValue(user, x.data(), 6)));
}

TEST_CASE("minimum-norm subgradient values") {
  Regularizer r;
  r.l1 = 1.0;
  CHECK(r.MinNormSubgradient(0.0, 0.5) == 0.0);  // |g| <= l1 at zero: optimal
  CHECK(r.MinNormSubgradient(0.0, 1.5) == 0.5);  // |g| - l1
  CHECK(r.MinNormSubgradient(0.0, -1.5) == -0.5);
  CHECK(r.MinNormSubgradient(2.0, 0.5) == 1.5);  // g + l1 sign(x)
  CHECK(r.MinNormSubgradient(-2.0, 0.5) == -0.5);
  Regularizer nonneg;
  nonneg.lower = 0;
  CHECK(nonneg.MinNormSubgradient(0.0, 3.0) == 0.0);    // pushing against the bound: optimal
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

// ---- group lasso (runtime/include/edgetrain/group_lasso.h) ----

namespace edgetrain {
namespace {

double Dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t j = 0; j < a.size(); ++j) s += a[j] * b[j];
  return s;
}

std::vector<double> RandomVector(Rng& rng, int64_t d, double scale) {
  std::vector<double> v(d);
  for (double& x : v) x = (rng.UniformDouble() - 0.5) * scale;
  return v;
}

TEST_CASE("group lasso with groups of one is the l1 prox") {
  Rng rng(21);
  const GroupLasso h{0.7, 1};
  Regularizer l1;
  l1.l1 = 0.7;
  const std::vector<double> v = RandomVector(rng, 200, 4);
  std::vector<double> p(v.size());
  h.Prox(v.data(), static_cast<int64_t>(v.size()), 0.9, p.data());
  for (size_t j = 0; j < v.size(); ++j)
    CHECK(p[j] == doctest::Approx(l1.Prox(v[j], 0.9)).epsilon(1e-15));
  double l1_norm = 0;
  for (double x : v) l1_norm += std::fabs(x);
  CHECK(h.Value(v.data(), 200) == doctest::Approx(0.7 * l1_norm));
}

TEST_CASE("group lasso prox: block soft-thresholding, whole groups zeroed, last group shorter") {
  const GroupLasso h{1.0, 3};
  // groups {0,1,2} norm 5 (3,4,0): scaled by 1 - 2/5; {3,4,5} norm 1 <= 2: zeroed; {6} (the short
  // last group) -3: soft-thresholded to -1.
  const std::vector<double> v = {3, 4, 0, 0.6, 0.8, 0, -3};
  std::vector<double> p(v.size());
  h.Prox(v.data(), 7, 2.0, p.data());
  const std::vector<double> want = {1.8, 2.4, 0, 0, 0, 0, -1};
  for (size_t j = 0; j < v.size(); ++j) CHECK(p[j] == doctest::Approx(want[j]).epsilon(1e-15));
  CHECK(h.Value(v.data(), 7) == doctest::Approx(5 + 1 + 3));
  std::vector<double> in_place = v;
  h.Prox(in_place.data(), 7, 2.0, in_place.data());
  CHECK(in_place == p);
  CHECK(GroupLasso{1.0, 0}.Validate().code() == StatusCode::kInvalidArgument);
  CHECK(GroupLasso{-1.0, 2}.Validate().code() == StatusCode::kInvalidArgument);
  CHECK(GroupLasso{0.5, 4}.Validate().ok());
}

TEST_CASE("group lasso prox is firmly non-expansive and optimal for its subproblem") {
  Rng rng(22);
  for (int32_t g : {1, 2, 5, 16}) {
    const GroupLasso h{0.3 + rng.UniformDouble(), g};
    const int64_t d = 7 * g + 3;
    for (int i = 0; i < 300; ++i) {
      const double eta = 0.1 + rng.UniformDouble();
      const std::vector<double> u = RandomVector(rng, d, 3), v = RandomVector(rng, d, 3);
      std::vector<double> pu(d), pv(d), a(d), b(d);
      h.Prox(u.data(), d, eta, pu.data());
      h.Prox(v.data(), d, eta, pv.data());
      for (int64_t j = 0; j < d; ++j) {
        a[j] = pu[j] - pv[j];
        b[j] = u[j] - v[j];
      }
      CHECK(Dot(a, a) <= Dot(a, b) + 1e-12);  // firm non-expansiveness
      // Optimality of p = prox(v): (v - p)/eta is in the subdifferential of h at p, group by group:
      // lambda p_G/||p_G|| where p_G != 0, a vector of norm <= lambda where p_G = 0.
      for (int64_t start = 0; start < d; start += g) {
        const int64_t end = std::min<int64_t>(d, start + g);
        double norm_p = 0, norm_r = 0;
        for (int64_t j = start; j < end; ++j) norm_p += pv[j] * pv[j];
        norm_p = std::sqrt(norm_p);
        for (int64_t j = start; j < end; ++j) {
          const double r = (v[j] - pv[j]) / eta;
          norm_r += r * r;
          if (norm_p > 0)
            CHECK(r == doctest::Approx(h.lambda * pv[j] / norm_p).epsilon(1e-9).scale(1));
        }
        CHECK(std::sqrt(norm_r) <= h.lambda * (1 + 1e-12));
      }
      // And it beats random nearby points on h(p) + ||p - v||^2 / (2 eta).
      auto objective = [&](const std::vector<double>& p) {
        double sq = 0;
        for (int64_t j = 0; j < d; ++j) sq += (p[j] - v[j]) * (p[j] - v[j]);
        return h.Value(p.data(), d) + sq / (2 * eta);
      };
      const double best = objective(pv);
      std::vector<double> q = pv;
      for (int64_t j = 0; j < d; ++j) q[j] += (rng.UniformDouble() - 0.5) * 1e-3;
      CHECK(best <= objective(q) + 1e-12);
    }
  }
}

}  // namespace
}  // namespace edgetrain
