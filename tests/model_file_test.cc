// Model files: round trip, damage detection, liblinear export; prediction metrics.
#include <cmath>
#include <string>

#include "doctest/doctest.h"
#include "edgetrain/crc32c.h"
#include "edgetrain/file_util.h"
#include "edgetrain/metrics.h"
#include "edgetrain/model.h"
#include "edgetrain/rng.h"
#include "test_util.h"

namespace edgetrain {
namespace {

Model SampleModel() {
  Model m;
  m.task = Task::kClassification;
  m.spec.loss = LossKind::kSquaredHinge;
  m.spec.reg.l1 = 1e-3;
  m.spec.reg.l2 = 2e-4;
  m.spec.reg.lower = -1;
  m.spec.reg.upper = 5;
  m.spec.intercept = true;
  m.dim = 6;
  m.weights = {0, 1.5, 0, -0.25, 0, 3};
  m.intercept = -0.125;
  m.labels = LabelMap{"B", "M"};
  m.scaler.kind = ScalerKind::kStandard;
  m.scaler.offset = {1, 2, 3, 4, 5, 6};
  m.scaler.factor = {0.5, 0.25, 1, 2, 4, 8};
  m.feature_names = {"a", "b", "c", "d", "e", "f"};
  m.summary.mode = "distributed";
  m.summary.epochs = 12;
  m.summary.agents = 4;
  m.summary.objective = 0.123456789;
  m.summary.kkt_violation = 1e-9;
  m.summary.stop_reason = "kkt";
  m.summary.software_version = "0.1.0";
  return m;
}

TEST_CASE("CRC32C known answers") {
  CHECK(Crc32c("123456789", 9) == 0xE3069283u);  // the standard check value
  CHECK(Crc32c("", 0) == 0u);
  const std::string a = "hello, ", b = "world";
  CHECK(Crc32c(b.data(), b.size(), Crc32c(a.data(), a.size())) == Crc32c("hello, world", 12));
}

TEST_CASE("model file round trip keeps every field") {
  testing::TempDir dir;
  const Model m = SampleModel();
  REQUIRE(WriteModelFile(dir.File("m.etm"), m).ok());
  Result<Model> r = ReadModelFile(dir.File("m.etm"));
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(r->task == m.task);
  CHECK(r->spec.loss == m.spec.loss);
  CHECK(r->spec.reg.l1 == m.spec.reg.l1);
  CHECK(r->spec.reg.l2 == m.spec.reg.l2);
  CHECK(r->spec.reg.lower == m.spec.reg.lower);
  CHECK(r->spec.reg.upper == m.spec.reg.upper);
  CHECK(r->spec.intercept);
  CHECK(r->dim == 6);
  CHECK(r->weights == m.weights);
  CHECK(r->intercept == m.intercept);
  CHECK(*r->labels == *m.labels);
  CHECK(r->scaler.kind == ScalerKind::kStandard);
  CHECK(r->scaler.offset == m.scaler.offset);
  CHECK(r->scaler.factor == m.scaler.factor);
  CHECK(r->feature_names == m.feature_names);
  CHECK(r->summary.mode == "distributed");
  CHECK(r->summary.epochs == 12);
  CHECK(r->summary.agents == 4);
  CHECK(r->summary.objective == m.summary.objective);
  CHECK(r->summary.stop_reason == "kkt");
  // No temp file is left behind by the atomic write.
  CHECK(testing::Run({"sh", "-c", "ls " + dir.path() + " | wc -l"}).out == "1\n");
}

TEST_CASE("a damaged or truncated model file is refused with a clear error, never a crash") {
  const std::string good = SerializeModel(SampleModel());
  REQUIRE(ParseModel(good, "m").ok());
  for (size_t len = 0; len < good.size(); len += 7) {
    Result<Model> r = ParseModel(good.substr(0, len), "m.etm");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kCorrupt);
    CHECK(r.status().message().find("m.etm") != std::string::npos);
  }
  // Every single-bit flip is caught (by the identifier, the verifier or the checksum).
  Rng rng(5);
  for (size_t pos = 0; pos < good.size(); ++pos) {
    std::string bad = good;
    bad[pos] = static_cast<char>(bad[pos] ^ (1 << rng.Uniform(8)));
    Result<Model> r = ParseModel(bad, "m.etm");
    if (r.ok()) {
      // Only bytes outside the checksummed payload and the parsed fields may flip harmlessly
      // (FlatBuffers padding); then the model must be the original one.
      CHECK(r->weights == SampleModel().weights);
      CHECK(r->intercept == SampleModel().intercept);
      CHECK(r->scaler.offset == SampleModel().scaler.offset);
    } else {
      CHECK(r.status().code() == StatusCode::kCorrupt);
    }
  }
  CHECK_FALSE(ParseModel("not a model at all, just text", "x").ok());
  Result<Model> missing = ReadModelFile("/nonexistent/m.etm");
  CHECK(missing.status().code() == StatusCode::kNotFound);
}

TEST_CASE("effective weights fold the scaler into weights and intercept") {
  const Model m = SampleModel();
  std::vector<double> w;
  double b;
  m.EffectiveWeights(&w, &b);
  // decision(a) = sum_j w_j f_j (a_j - o_j) + b0 at a = (1..6) + 1
  double direct = m.intercept, folded = b;
  for (int j = 0; j < 6; ++j) {
    const double a = j + 2.0;
    direct += m.weights[j] * m.scaler.factor[j] * (a - m.scaler.offset[j]);
    folded += w[j] * a;
  }
  CHECK(folded == doctest::Approx(direct));
}

TEST_CASE("liblinear text export") {
  Model m = SampleModel();
  m.scaler = Scaler();
  m.spec.loss = LossKind::kLogistic;
  m.labels = LabelMap{"0", "1"};
  const std::string text = ToLiblinearText(m);
  CHECK(text.find("solver_type L1R_LR\n") == 0);
  CHECK(text.find("label 1 0\n") != std::string::npos);
  CHECK(text.find("nr_feature 6\n") != std::string::npos);
  CHECK(text.find("bias 1\n") != std::string::npos);  // the intercept travels as the bias weight
  m.labels = LabelMap{"B", "M"};                      // non-numeric labels become 1 / -1
  CHECK(ToLiblinearText(m).find("label 1 -1\n") != std::string::npos);
}

TEST_CASE("classification metrics against a hand-computed case") {
  const std::vector<double> y = {1, -1, 1, -1};
  const std::vector<double> z = {2, -1, -0.5, 0.5};
  const ClassificationMetrics m = EvaluateClassification(y, z, LossKind::kLogistic);
  CHECK(m.accuracy == doctest::Approx(0.5));
  CHECK(m.auc == doctest::Approx(0.75));  // pairs won: (2,-1) (2,.5) (-.5,-1); lost: (-.5,.5)
  const double ll =
      (std::log1p(std::exp(-2.0)) + std::log1p(std::exp(-1.0)) + 2 * std::log1p(std::exp(0.5))) / 4;
  CHECK(m.log_loss == doctest::Approx(ll));
  CHECK(EvaluateClassification(y, {0, 0, 0, 0}, LossKind::kLogistic).auc == doctest::Approx(0.5));
  CHECK(std::isnan(EvaluateClassification(y, z, LossKind::kSquaredHinge).log_loss));
  CHECK(std::isnan(EvaluateClassification({1, 1}, {0.1, 0.2}, LossKind::kLogistic).auc));
}

TEST_CASE("regression metrics against a hand-computed case") {
  const RegressionMetrics m = EvaluateRegression({1, 2, 3}, {1, 2, 4});
  CHECK(m.rmse == doctest::Approx(std::sqrt(1.0 / 3)));
  CHECK(m.r2 == doctest::Approx(0.5));
}

TEST_CASE("atomic writes replace the whole file") {
  testing::TempDir dir;
  REQUIRE(WriteFileAtomically(dir.File("f"), "first version, longer").ok());
  REQUIRE(WriteFileAtomically(dir.File("f"), "second").ok());
  CHECK(*ReadFile(dir.File("f")) == "second");
  CHECK_FALSE(WriteFileAtomically("/nonexistent-dir/f", "x").ok());
}

}  // namespace
}  // namespace edgetrain
