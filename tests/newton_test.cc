// Proximal Newton pieces (support_newton.h), checked against the math: the Hessian block against
// finite differences of the gradient, the direction against the optimality conditions of the
// quadratic model it minimises (l1, boxes, per-coordinate penalties of the preconditioner, and
// raw columns five orders of magnitude apart), the working set against its definition, and
// Newton epochs with a box against the inner loops' optimum.
#include <algorithm>
#include <cmath>
#include <vector>

#include "doctest/doctest.h"
#include "edgetrain/duality.h"
#include "edgetrain/local_trainer.h"
#include "edgetrain/problem.h"
#include "edgetrain/readers.h"
#include "edgetrain/rng.h"
#include "edgetrain/support_newton.h"
#include "test_util.h"

namespace edgetrain {
namespace {

// (1/n) sum_i phi'(a~_i . x) a~_i: the loss gradient, p entries.
std::vector<double> LossGradient(const Dataset& data, const ProblemSpec& spec,
                                 const std::vector<double>& x) {
  std::vector<double> g(x.size(), 0.0);
  double loss_sum = 0;
  LossGradientSum(data, spec, x.data(), g.data(), &loss_sum, nullptr);
  for (double& v : g) v /= static_cast<double>(data.rows());
  return g;
}

double Packed(const std::vector<double>& packed, int64_t a, int64_t b) {
  if (b > a) std::swap(a, b);
  return packed[a * (a + 1) / 2 + b];
}

// H_S (unnormalised, from AccumulateSupportHessian) against central differences of n * gradient.
void CheckHessianAgainstDifferences(const Dataset& data, const ProblemSpec& spec,
                                    const NewtonSupport& s, const std::vector<double>& x) {
  const int64_t m = s.size();
  std::vector<int32_t> pos(x.size(), -1);
  std::vector<double> packed(m * (m + 1) / 2, 0.0);
  AccumulateSupportHessian(data, spec, x.data(), s, &pos, packed.data());
  for (int32_t v : pos) REQUIRE(v == -1);  // scratch left clean
  const double n = static_cast<double>(data.rows());
  const double h = 1e-5;
  double worst = 0, scale = 0;
  for (int64_t b = 0; b < m; b += std::max<int64_t>(1, m / 12)) {  // a dozen columns
    std::vector<double> plus = x, minus = x;
    plus[s.index[b]] += h;
    minus[s.index[b]] -= h;
    const std::vector<double> gp = LossGradient(data, spec, plus),
                              gm = LossGradient(data, spec, minus);
    for (int64_t a = 0; a < m; ++a) {
      const double fd = n * (gp[s.index[a]] - gm[s.index[a]]) / (2 * h);
      worst = std::max(worst, std::fabs(fd - Packed(packed, a, b)));
      scale = std::max(scale, std::fabs(fd));
    }
  }
  INFO("largest entry ", scale, ", largest difference ", worst);
  CHECK(scale > 0);
  CHECK(worst <= 1e-6 * scale);
}

TEST_CASE(
    "the Hessian block equals finite differences of the gradient, blocked rows and scattered "
    "rows") {
  ProblemSpec spec;
  spec.reg.l1 = 1e-3;
  Rng rng(5);
  SUBCASE(
      "dense rows (heart_scale, every feature and the intercept in S): the blocked rank-k path") {
    const Dataset data = testing::LoadLibsvm(testing::SourcePath("data/heart_scale.svm"));
    spec.intercept = true;
    std::vector<double> x(spec.ModelSize(data.dim()));
    for (double& v : x) v = 0.3 * (rng.UniformDouble() - 0.5);
    std::vector<double> mu(x.size(), 1.0);  // every zero weight violates: all of them in S
    const NewtonSupport s = ChooseNewtonSupport(spec, mu.data(), x.data(), data.dim());
    CHECK(s.size() == data.dim() + 1);
    CheckHessianAgainstDifferences(data, spec, s, x);
  }
  SUBCASE(
      "spam, S = the terms of its first rows: those rows blocked over several panels, the rest "
      "scattered") {
    const Dataset data = testing::LoadLibsvm(testing::SourcePath("data/spam/train.svm"));
    std::vector<double> x(spec.ModelSize(data.dim()), 0.0);
    std::vector<double> mu(x.size(), 0.0);
    for (int64_t i = 0; i < 6; ++i) {
      const RowView row = data.Row(i);
      for (int32_t k = 0; k < row.nnz; ++k) mu[row.index[k]] = 1.0;
    }
    for (int32_t j = 0; j < data.dim(); j += 37) x[j] = 2.0 * (rng.UniformDouble() - 0.5);
    const NewtonSupport s = ChooseNewtonSupport(spec, mu.data(), x.data(), data.dim());
    std::vector<int32_t> pos(x.size(), -1);
    for (int64_t k = 0; k < s.size(); ++k) pos[s.index[k]] = static_cast<int32_t>(k);
    int64_t blocked = 0, scattered = 0;
    for (int64_t i = 0; i < data.rows(); ++i) {
      const RowView row = data.Row(i);
      int64_t in_s = 0;
      for (int32_t k = 0; k < row.nnz; ++k) in_s += pos[row.index[k]] >= 0;
      (8 * in_s >= s.size() ? blocked : scattered) += 1;
    }
    INFO("|S| ", s.size(), ", rows blocked ", blocked, ", scattered ", scattered);
    CHECK(s.size() > 2 * 64);  // several panels
    CHECK(blocked >= 6);
    CHECK(scattered > 0);
    CheckHessianAgainstDifferences(data, spec, s, x);
  }
  SUBCASE("sparse rows (spam tf-idf, 600 of 10 445 terms in S): the scattered path") {
    const Dataset data = testing::LoadLibsvm(testing::SourcePath("data/spam/train.svm"));
    std::vector<double> x(spec.ModelSize(data.dim()), 0.0);
    std::vector<double> mu(x.size(), 0.0);
    for (int32_t j = 0; j < data.dim(); j += 17) mu[j] = 1.0;  // 615 violators
    for (int32_t j = 0; j < data.dim(); j += 51) x[j] = 2.0 * (rng.UniformDouble() - 0.5);
    const NewtonSupport s = ChooseNewtonSupport(spec, mu.data(), x.data(), data.dim());
    CHECK(s.size() > 500);
    CheckHessianAgainstDifferences(data, spec, s, x);
  }
}

TEST_CASE("the working set: every non-zero weight, then the worst violators, in coordinate order") {
  ProblemSpec spec;
  spec.reg.l1 = 1.0;
  spec.intercept = true;
  const int32_t d = 8;
  const std::vector<double> x = {0, 2, 0, 0, -1, 0, 0, 0, 0.5};  // + intercept
  const std::vector<double> mu = {3, 0, 0.5, -5, 0, 2, -1.5, 4, 0};
  const NewtonSupport all = ChooseNewtonSupport(spec, mu.data(), x.data(), d);
  CHECK(all.index ==
        std::vector<int32_t>{0, 1, 3, 4, 5, 6, 7, 8});  // 2 does not violate (0.5 <= 1)
  CHECK(all.sign == std::vector<double>{-1, 1, 1, -1, -1, 1, -1, 0});
  const NewtonSupport five = ChooseNewtonSupport(spec, mu.data(), x.data(), d, 5);
  CHECK(five.index ==
        std::vector<int32_t>{1, 3, 4, 7, 8});  // weights 1, 4; violators -5 and 4; intercept
  CHECK(ChooseNewtonSupport(spec, mu.data(), x.data(), d, 2).size() ==
        0);  // 2 weights + intercept do not fit
  CHECK(NewtonWorkingSetSize(0, 2000) == kNewtonMinWorkingSet);
  CHECK(NewtonWorkingSetSize(700, 2000) == 1400);
  CHECK(NewtonWorkingSetSize(1500, 2000) == 2000);
  CHECK(NewtonWorkingSetSize(10, 0) == 0);
}

// The largest violation of q's optimality conditions at x + d, per coordinate the minimum-norm
// subgradient of q there (regularizer.h: l1, box), the intercept's plain derivative; and d.H d.
struct ModelCheck {
  double worst = 0;
  double dhd = 0;
  int64_t zeros = 0, at_bound = 0;
};

ModelCheck CheckModelOptimality(const ProblemSpec& spec, const NewtonSupport& s,
                                const std::vector<double>& packed, int64_t rows,
                                const std::vector<double>& mu, const std::vector<double>& x,
                                const std::vector<double>& d, int32_t dim) {
  ModelCheck c;
  const int64_t m = s.size();
  const double n = static_cast<double>(rows);
  for (int64_t a = 0; a < m; ++a) {
    const int32_t j = s.index[a];
    const bool weight = j < dim;
    const Regularizer reg = weight ? spec.Penalty(j) : Regularizer();
    double hd = 0;
    for (int64_t b = 0; b < m; ++b) hd += Packed(packed, a, b) / n * d[b];
    hd += reg.l2 * d[a];
    const double r = mu[j] + reg.l2 * x[j] + hd;
    c.dhd += d[a] * hd;
    const double w = x[j] + d[a];
    if (!weight) {
      c.worst = std::max(c.worst, std::fabs(r));
      continue;
    }
    CHECK(w >= reg.lower);  // x + d stays in the box
    CHECK(w <= reg.upper);
    c.zeros += w == 0.0;
    c.at_bound += w == reg.lower || w == reg.upper;
    Regularizer model = reg;  // the model's own penalty: l1 and the box (l2 is in H and g)
    model.l2 = 0;
    c.worst = std::max(c.worst, std::fabs(model.MinNormSubgradient(w, r)));
  }
  return c;
}

// The direction at x for data and spec: S of at most max_size, H, d; checks d minimises q exactly
// and that P decreases along it (Armijo at some alpha >= 1/16) through feasible line points.
ModelCheck CheckDirection(const Dataset& data, const ProblemSpec& spec,
                          const std::vector<double>& x, int64_t max_size) {
  const std::vector<double> mu = LossGradient(data, spec, x);
  const NewtonSupport s = ChooseNewtonSupport(spec, mu.data(), x.data(), data.dim(), max_size);
  const int64_t m = s.size();
  REQUIRE(m > 0);
  std::vector<int32_t> pos(x.size(), -1);
  std::vector<double> packed(m * (m + 1) / 2, 0.0);
  AccumulateSupportHessian(data, spec, x.data(), s, &pos, packed.data());
  std::vector<double> d;
  double decrease = 0;
  int sweeps = 0;
  REQUIRE(ProxNewtonDirection(spec, s, packed.data(), data.rows(), mu.data(), x.data(), data.dim(),
                              &d, &decrease, 200, &sweeps));
  const ModelCheck c = CheckModelOptimality(spec, s, packed, data.rows(), mu, x, d, data.dim());
  INFO("|S| ", m, ", sweeps ", sweeps, ", zero weights ", c.zeros, ", at a bound ", c.at_bound,
       ", largest violation ", c.worst);
  CHECK(c.worst <= 1e-10);  // exact: CD found the face, the face's linear system finished it
  CHECK(decrease < 0);
  CHECK(decrease <= -c.dhd * (1 - 1e-9));  // g.d + l1 change <= -d.H d at the minimiser
  std::vector<double> trial = x;
  const double p0 = testing::ObjectiveOf(data, spec, x);
  bool armijo = false;
  for (double alpha = 1; alpha >= kNewtonMinAlpha && !armijo; alpha *= 0.5) {
    NewtonLinePoint(s, d, alpha, x.data(), trial.data());
    armijo = testing::ObjectiveOf(data, spec, trial) <= p0 + kNewtonArmijo * alpha * decrease;
  }
  CHECK(armijo);
  return c;
}

TEST_CASE(
    "the proximal Newton direction satisfies the optimality conditions of the quadratic model") {
  const Dataset data = testing::LoadLibsvm(testing::SourcePath("data/spam/train.svm"));
  ProblemSpec spec;
  spec.reg.l1 = 1e-3;
  spec.reg.l2 = 1e-4;
  spec.intercept = true;
  Rng rng(9);
  std::vector<double> x(spec.ModelSize(data.dim()), 0.0);
  for (int32_t j = 0; j < data.dim(); j += 97) x[j] = rng.UniformDouble() - 0.5;
  const ModelCheck c = CheckDirection(data, spec, x, 400);
  CHECK(c.zeros > 0);  // the l1 part bites: some weights of S stay (or become) zero
}

TEST_CASE("with a box the direction clamps, keeps bound entries fixed and stays feasible") {
  const Dataset data =
      testing::LoadLibsvm(testing::SourcePath("data/diabetes.svm"), Task::kRegression);
  ProblemSpec spec;
  spec.loss = LossKind::kSquared;
  spec.reg.l1 = 0.05;
  spec.intercept = true;
  // The unconstrained lasso's weights reach -500 and +700: the box [-100, 300] binds.
  spec.reg.lower = -100;
  spec.reg.upper = 300;
  std::vector<double> x(spec.ModelSize(data.dim()), 0.0);
  ModelCheck c = CheckDirection(data, spec, x, 0);
  CHECK(c.at_bound > 0);
  // From inside the box, some weights at its bounds and some at zero.
  x = {-100, 0, 300, 120, -30, 0, 0, 0, 300, 10, 150};
  c = CheckDirection(data, spec, x, 0);
  CHECK(c.at_bound > 0);
  // Non-negativity: zero is both the kink and the bound.
  spec.reg.lower = 0;
  spec.reg.upper = INFINITY;
  c = CheckDirection(data, spec, std::vector<double>(x.size(), 0.0), 0);
  CHECK(c.zeros > 0);
}

TEST_CASE(
    "raw columns five orders of magnitude apart: the direction is still the exact minimiser, "
    "with and without per-coordinate penalties") {
  ReadOptions o;
  o.label_column = "diagnosis";
  Result<Dataset> raw = ReadCsvFile(testing::SourcePath("data/wdbc.csv"), o);
  REQUIRE(raw.ok());
  ProblemSpec spec;
  spec.reg.l1 = 1e-3;
  // Coordinate descent alone stops after 200 sweeps far from the face here (H's condition number
  // is 1e12); the face rounds finish it.
  CheckDirection(*raw, spec, std::vector<double>(raw->dim(), 0.0), 0);
  ProblemSpec scaled_spec = spec;
  scaled_spec.scales = ColumnScales::FromStats(ColumnStats::Compute(*raw));
  REQUIRE_FALSE(scaled_spec.scales.empty());
  Dataset scaled = *raw;
  ApplyColumnScales(&scaled, scaled_spec.scales);
  CheckDirection(scaled, scaled_spec, std::vector<double>(raw->dim(), 0.0), 0);
}

TEST_CASE("a kept Hessian block restricted to a smaller working set is the block computed on it") {
  const Dataset data = testing::LoadLibsvm(testing::SourcePath("data/spam/train.svm"));
  ProblemSpec spec;
  spec.reg.l1 = 1e-3;
  spec.intercept = true;
  Rng rng(9);
  std::vector<double> x(spec.ModelSize(data.dim()), 0.0), mu(x.size(), 0.0);
  for (int32_t j = 0; j < data.dim(); j += 23) mu[j] = 1.0;
  for (int32_t j = 0; j < data.dim(); j += 61) x[j] = rng.UniformDouble() - 0.5;
  const NewtonSupport s = ChooseNewtonSupport(spec, mu.data(), x.data(), data.dim());
  REQUIRE(s.size() > 300);
  NewtonSupport t;  // every third entry, the intercept (last) included
  for (int64_t a = 0; a < s.size(); ++a) {
    if (a % 3 == 0 || a == s.size() - 1) t.index.push_back(s.index[a]);
  }
  t.sign.assign(t.index.size(), 0.0);
  std::vector<int32_t> pos(x.size(), -1);
  std::vector<double> on_s(s.size() * (s.size() + 1) / 2, 0.0);
  std::vector<double> on_t(t.size() * (t.size() + 1) / 2, 0.0);
  AccumulateSupportHessian(data, spec, x.data(), s, &pos, on_s.data());
  AccumulateSupportHessian(data, spec, x.data(), t, &pos, on_t.data());
  std::vector<double> restricted;
  REQUIRE(RestrictHessianBlock(s, on_s.data(), t, &restricted));
  REQUIRE(restricted.size() == on_t.size());
  double worst = 0, scale = 0;  // the blocked and scattered paths add in different orders
  for (size_t k = 0; k < on_t.size(); ++k) {
    worst = std::max(worst, std::fabs(restricted[k] - on_t[k]));
    scale = std::max(scale, std::fabs(on_t[k]));
  }
  CHECK(scale > 0);
  CHECK(worst <= 1e-12 * scale);
  // A coordinate outside the kept support: no block.
  REQUIRE((t.index[0] == 0 && t.index[1] > 1));  // S holds the multiples of 23 and 61: not 1
  NewtonSupport wider = t;
  wider.index.insert(wider.index.begin() + 1, 1);
  wider.sign.push_back(0.0);
  CHECK_FALSE(RestrictHessianBlock(s, on_s.data(), wider, &restricted));
}

TEST_CASE(
    "train-local reuses the last Hessian block near the optimum and still certifies the gap") {
  const Dataset data = testing::LoadLibsvm(testing::SourcePath("data/spam/train.svm"));
  ProblemSpec spec;
  spec.reg.l1 = 1e-3;
  TrainOptions options;
  options.policy.stop.kkt_tolerance = 0;  // the certified gap alone stops it
  Result<TrainResult> r = TrainLocal(data, spec, options, nullptr);
  REQUIRE(r.ok());
  CHECK(r->stop_reason == "tol");
  CHECK(r->last.relative_gap <= 1e-6);
  INFO("Newton steps ", r->newton_steps, ", with the last block ", r->curvature_reuses);
  CHECK(r->curvature_reuses >= 1);
  CHECK(r->curvature_reuses < r->newton_steps);
  // The certificate is math on the model written: P(x) - P* <= gap, whatever block gave x.
  std::vector<double> g(r->x.size(), 0.0);
  double loss_sum = 0;
  DualSums dual;
  dual.Reset(spec, static_cast<int64_t>(r->x.size()));
  LossGradientSum(data, spec, r->x.data(), g.data(), &loss_sum, nullptr, &dual);
  const double objective = ObjectiveFromLossSum(spec, loss_sum, data.rows(), r->x.data(),
                                                static_cast<int64_t>(r->x.size()));
  const GapCertificate c = CertifyGap(spec, data.dim(), data.rows(), objective, g.data(), dual);
  CHECK(c.relative <= 1e-6);
}

TEST_CASE("Newton epochs on raw wdbc reach KKT 1e-9 in a few epochs, and with a box") {
  ReadOptions o;
  o.label_column = "diagnosis";
  Result<Dataset> raw = ReadCsvFile(testing::SourcePath("data/wdbc.csv"), o);
  REQUIRE(raw.ok());
  for (bool box : {false, true}) {
    ProblemSpec spec;
    spec.reg.l1 = 1e-3;
    spec.intercept = true;
    if (box) spec.reg.lower = 0;  // non-negative weights
    TrainOptions options;
    options.policy.stop.max_epochs = 60;
    options.policy.stop.kkt_tolerance = 1e-9;
    options.policy.stop.tolerance = 0;
    Result<TrainResult> r = TrainLocal(*raw, spec, options, nullptr);
    REQUIRE(r.ok());
    CAPTURE(box);
    CHECK(r->stop_reason == "kkt");
    CHECK(r->last.epoch <= 20);  // 69 before the face rounds: CD alone converged linearly
    CHECK(r->newton_steps >= r->last.epoch / 2);
    for (int32_t j = 0; j < raw->dim() && box; ++j) CHECK(r->x[j] >= 0.0);
  }
}

}  // namespace
}  // namespace edgetrain
