// The serial trainer against mathematics and against the real peers on bundled real data:
// KKT optimality, liblinear's optimum for L1-logistic and L1-squared-hinge, scikit-learn's for
// lasso, elastic net and non-negative lasso (inner loops and Newton epochs), SciPy's for a box,
// and linear convergence with l2 > 0.
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "edgetrain/local_trainer.h"
#include "edgetrain/readers.h"
#include "edgetrain/scaler.h"
#include "test_util.h"

namespace edgetrain {
namespace {

TrainResult Train(const Dataset& data, const ProblemSpec& spec, int64_t max_epochs = 500,
                  std::vector<EpochReport>* log = nullptr) {
  TrainOptions o;
  o.policy.stop.max_epochs = max_epochs;
  o.policy.stop.kkt_tolerance = 1e-8;
  o.policy.stop.tolerance = 0;  // stop on the KKT violation alone
  Result<TrainResult> r = TrainLocal(data, spec, o, [&](const EpochReport& e) {
    if (log) log->push_back(e);
  });
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return std::move(r).value();
}

// liblinear's optimum, recomputed as P from the weights in its model file.
double LiblinearObjective(const Dataset& data, const std::string& path, const ProblemSpec& spec,
                          int solver) {
  REQUIRE_MESSAGE(std::string(EDGETRAIN_LIBLINEAR_TRAIN).size() > 0,
                  "liblinear-train is not installed (scripts/test installs liblinear-tools)");
  testing::TempDir dir;
  std::ostringstream c;
  c.precision(17);
  c << 1.0 / (spec.reg.l1 * static_cast<double>(data.rows()));
  const testing::CommandResult run =
      testing::Run({EDGETRAIN_LIBLINEAR_TRAIN, "-s", std::to_string(solver), "-B", "-1", "-e",
                    "1e-10", "-c", c.str(), "-q", path, dir.File("ll.model")});
  REQUIRE_MESSAGE(run.exit_code == 0, run.err);
  testing::LiblinearModel m = testing::ReadLiblinearModel(dir.File("ll.model"));
  REQUIRE(m.labels.size() == 2);
  // liblinear's weights score its first label; ours score the +1 class.
  if (!SameLabel(m.labels[0], data.labels()->positive)) {
    for (double& w : m.w) w = -w;
  }
  return testing::ObjectiveOf(data, spec, m.w);
}

TEST_CASE("L1-logistic on SpamAssassin: KKT <= 1e-8 and liblinear -s 6's objective to 1e-6") {
  const std::string path = testing::SourcePath("data/spam/train.svm");
  const Dataset data = testing::LoadLibsvm(path);
  ProblemSpec spec;
  spec.loss = LossKind::kLogistic;
  spec.reg.l1 = 1e-3;
  const TrainResult r = Train(data, spec);
  CHECK(r.stop_reason == "kkt");
  CHECK(r.last.kkt <= 1e-8);
  // Recompute P and the KKT violation from scratch at the returned weights.
  const double ours = Objective(data, spec, r.x.data());
  CHECK(ours == doctest::Approx(r.last.objective).epsilon(1e-12));
  const double reference = LiblinearObjective(data, path, spec, 6);
  INFO("ours ", ours, " liblinear ", reference);
  CHECK(std::fabs(ours - reference) <= 1e-6 * std::fabs(reference));
}

TEST_CASE("L1 squared hinge on heart_scale matches liblinear -s 5") {
  const std::string path = testing::SourcePath("data/heart_scale.svm");
  const Dataset data = testing::LoadLibsvm(path);
  ProblemSpec spec;
  spec.loss = LossKind::kSquaredHinge;
  spec.reg.l1 = 5e-3;
  const TrainResult r = Train(data, spec);
  CHECK(r.last.kkt <= 1e-8);
  const double reference = LiblinearObjective(data, path, spec, 5);
  INFO("ours ", r.last.objective, " liblinear ", reference);
  CHECK(std::fabs(r.last.objective - reference) <= 1e-6 * std::fabs(reference));
}

double SklearnObjective(const std::vector<std::string>& args) {
  std::vector<std::string> cmd = {EDGETRAIN_PYTHON,
                                  testing::SourcePath("tests/reference/sklearn_objective.py")};
  cmd.insert(cmd.end(), args.begin(), args.end());
  const testing::CommandResult run = testing::Run(cmd);
  REQUIRE_MESSAGE(
      run.exit_code == 0,
      "scikit-learn reference failed (scripts/test installs python3-sklearn): " << run.err);
  return std::stod(run.out);
}

TEST_CASE("lasso, elastic net and non-negative lasso on Diabetes match scikit-learn (tol 1e-12)") {
  const std::string path = testing::SourcePath("data/diabetes.svm");
  const Dataset data = testing::LoadLibsvm(path, Task::kRegression);
  struct Case {
    double l1, l2;
    bool nonneg;
    std::vector<std::string> args;
  };
  const std::vector<Case> cases = {
      {0.1, 0.0, false, {path, "lasso", "0.1"}},
      {0.05 * 0.7, 0.05 * 0.3, false, {path, "elasticnet", "0.05", "0.7"}},
      {0.1, 0.0, true, {path, "lasso", "0.1", "--positive"}},
  };
  for (const Case& c : cases) {
    ProblemSpec spec;
    spec.loss = LossKind::kSquared;
    spec.reg.l1 = c.l1;
    spec.reg.l2 = c.l2;
    if (c.nonneg) spec.reg.lower = 0;
    spec.intercept = true;
    const TrainResult r = Train(data, spec, 2000);
    const double reference = SklearnObjective(c.args);
    INFO(c.args[1], " l1=", c.l1, " l2=", c.l2, " nonneg=", c.nonneg, ": ours ", r.last.objective,
         " sklearn ", reference);
    CHECK(r.last.kkt <= 1e-8);
    CHECK(std::fabs(r.last.objective - reference) <= 1e-6 * std::fabs(reference));
    if (c.nonneg) {
      for (int32_t j = 0; j < data.dim(); ++j) CHECK(r.x[j] >= 0.0);
    }
  }
}

TEST_CASE("Newton epochs with a box on Diabetes: scikit-learn's non-negative lasso, SciPy's box") {
  const std::string path = testing::SourcePath("data/diabetes.svm");
  const Dataset data = testing::LoadLibsvm(path, Task::kRegression);
  struct Case {
    double l1, l2, lower, upper;
    std::vector<std::string> args;
  };
  // The unconstrained lasso's weights reach -210 and +517, the elastic net's (alpha 0.05) -62
  // and +102: the boxes bind.
  const std::vector<Case> cases = {
      {0.1, 0.0, 0.0, INFINITY, {path, "lasso", "0.1", "--positive"}},
      {0.1, 0.0, -100, 300, {path, "box", "0.1", "1", "-100", "300"}},
      {0.05 * 0.7, 0.05 * 0.3, -50, 100, {path, "box", "0.05", "0.7", "-50", "100"}},
  };
  for (const Case& c : cases) {
    ProblemSpec spec;
    spec.loss = LossKind::kSquared;
    spec.reg.l1 = c.l1;
    spec.reg.l2 = c.l2;
    spec.reg.lower = c.lower;
    spec.reg.upper = c.upper;
    spec.intercept = true;
    TrainOptions o;
    o.policy.stop.max_epochs = 50;
    o.policy.stop.kkt_tolerance = 1e-8;
    o.policy.stop.tolerance = 0;
    Result<TrainResult> r = TrainLocal(data, spec, o, nullptr);
    REQUIRE(r.ok());
    const double reference = SklearnObjective(c.args);
    INFO(c.args[1], " l1=", c.l1, " l2=", c.l2, " box [", c.lower, ", ", c.upper, "]: ours ",
         r->last.objective, " after ", r->last.epoch, " epochs, reference ", reference);
    CHECK(r->stop_reason == "kkt");
    CHECK(r->last.kkt <= 1e-8);
    CHECK(r->newton_steps >= 1);
    CHECK(r->last.epoch <= 5);  // the exact model minimiser: one or two Newton steps
    CHECK(std::fabs(r->last.objective - reference) <= 1e-9 * std::fabs(reference));
    int64_t at_bound = 0;
    for (int32_t j = 0; j < data.dim(); ++j) {
      CHECK(r->x[j] >= c.lower);
      CHECK(r->x[j] <= c.upper);
      at_bound += r->x[j] == c.lower || r->x[j] == c.upper;
    }
    CHECK(at_bound > 0);
  }
}

TEST_CASE("with l2 > 0 the certified suboptimality bound decreases linearly") {
  const Dataset data = testing::LoadLibsvm(testing::SourcePath("data/spam/train.svm"));
  ProblemSpec spec;
  spec.reg.l1 = 1e-4;
  spec.reg.l2 = 1e-3;
  std::vector<EpochReport> log;
  const TrainResult r = Train(data, spec, 60, &log);
  REQUIRE(log.size() > 12);
  // Linear convergence: the bound shrinks at least 10x every 8 epochs, all the way down.
  for (size_t e = 2; e + 8 < log.size(); e += 8) {
    INFO("epoch ", e, ": ", log[e].gap, " -> ", log[e + 8].gap);
    CHECK(log[e + 8].gap <= 0.1 * log[e].gap);
  }
  CHECK(r.last.kkt <= 1e-8);
  // The certificate is sound: the objective at every epoch is within its bound of the optimum.
  for (const EpochReport& e : log)
    CHECK(e.objective - r.last.objective <= e.gap * (1 + 1e-9) + 1e-15);
}

TEST_CASE("Shuttle sensors from CSV with standard scaling and an intercept reach KKT <= 1e-8") {
  ReadOptions o;
  o.label_column = "Class";
  o.positive_label = "Rad.Flow";
  Result<Dataset> raw = ReadCsvFile(testing::SourcePath("data/shuttle-train.csv"), o);
  REQUIRE(raw.ok());
  const Dataset data = Scaler::Fit(*raw, ScalerKind::kStandard).Apply(*raw);
  ProblemSpec spec;
  spec.reg.l1 = 1e-3;
  spec.intercept = true;
  const TrainResult r = Train(data, spec, 200);
  CHECK(r.smoothness.importance);  // outlying rows: importance sampling chosen
  CHECK(r.last.kkt <= 1e-8);
}

}  // namespace
}  // namespace edgetrain
