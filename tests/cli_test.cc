// edgetrain-agent as a user runs it: help, option errors, train-local -> predict, liblinear's
// own predict on the exported weights, and damaged model files.
#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "edgetrain/model.h"
#include "test_util.h"

namespace edgetrain {
namespace {

testing::CommandResult Agent(std::vector<std::string> args) {
  std::vector<std::string> cmd = testing::ProgramCommand("edge_agent/edgetrain-agent");
  cmd.insert(cmd.end(), args.begin(), args.end());
  return testing::Run(cmd);
}

size_t Lines(const std::string& s) {
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

TEST_CASE("--help documents every option with its default") {
  const testing::CommandResult r = Agent({"train-local", "--help"});
  CHECK(r.exit_code == 0);
  for (const char* option : {"--data",
                             "--test",
                             "--model",
                             "--liblinear-model",
                             "--loss",
                             "--l1",
                             "--l2",
                             "--lower",
                             "--upper",
                             "--nonneg",
                             "--intercept",
                             "--task",
                             "--label-column",
                             "--features",
                             "--positive-label",
                             "--scale",
                             "--batch",
                             "--eta",
                             "--step-scale",
                             "--inner-steps",
                             "--epoch-passes",
                             "--max-epochs",
                             "--kkt-tol",
                             "--time-limit",
                             "--seed",
                             "--reference-objective",
                             "--quiet"}) {
    INFO(option);
    CHECK(r.out.find(option) != std::string::npos);
  }
  CHECK(r.out.find("--kkt-tol FLOAT:NUMBER >= 0=1e-08") != std::string::npos);
  CHECK(r.out.find("=logistic") != std::string::npos);
  CHECK(Agent({"predict", "--help"}).exit_code == 0);
  CHECK(Agent({"--version"}).exit_code == 0);
}

TEST_CASE("bad options give a one-line error and exit code 2") {
  const std::vector<std::vector<std::string>> bad = {
      {},
      {"frobnicate"},
      {"train-local", "--model", "m"},
      {"train-local", "--data", "/nonexistent", "--model", "m"},
      {"train-local", "--data", testing::SourcePath("data/heart_scale.svm"), "--model", "m", "--l1",
       "-1"},
      {"train-local", "--data", testing::SourcePath("data/heart_scale.svm"), "--model", "m",
       "--loss", "hinge"},
      {"train-local", "--data", testing::SourcePath("data/heart_scale.svm"), "--model", "m",
       "--batch", "0"},
      {"train-local", "--data", testing::SourcePath("data/heart_scale.svm"), "--model", "m",
       "--bogus"},
  };
  for (const auto& args : bad) {
    const testing::CommandResult r = Agent(args);
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(Lines(r.err) == 1);
    CHECK(r.err.find("error:") != std::string::npos);
  }
}

TEST_CASE("a data error exits 1 and names file, line and column") {
  testing::TempDir dir;
  testing::WriteText(dir.File("bad.svm"), "1 1:1\n-1 2:x\n");
  const testing::CommandResult r =
      Agent({"train-local", "--data", dir.File("bad.svm"), "--model", dir.File("m")});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find(dir.File("bad.svm") + ":2:6:") != std::string::npos);
}

TEST_CASE("train-local writes a model that predict and liblinear's predict both read") {
  testing::TempDir dir;
  const std::string train = testing::SourcePath("data/spam/train.svm");
  const std::string test = testing::SourcePath("data/spam/test.svm");
  testing::CommandResult r =
      Agent({"train-local", "--data", train, "--test", test, "--l1", "1e-3", "--model",
             dir.File("spam.etm"), "--liblinear-model", dir.File("spam.liblinear")});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  // One line per epoch with epoch, objective, kkt, gap bound, nnz, seconds.
  CHECK(r.out.find("epoch  objective") != std::string::npos);
  CHECK(testing::StoppedConverged(r.out, "stopped: "));
  CHECK(r.out.find("test: 400 rows, accuracy") != std::string::npos);

  r = Agent({"predict", "--model", dir.File("spam.etm"), "--data", test, "--output",
             dir.File("pred.tsv")});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out.find("accuracy") != std::string::npos);
  CHECK(r.out.find("AUC") != std::string::npos);
  CHECK(r.out.find("log-loss") != std::string::npos);

  REQUIRE_MESSAGE(std::string(EDGETRAIN_LIBLINEAR_PREDICT).size() > 0,
                  "liblinear-tools not installed");
  const testing::CommandResult ll = testing::Run(
      {EDGETRAIN_LIBLINEAR_PREDICT, test, dir.File("spam.liblinear"), dir.File("ll.out")});
  REQUIRE_MESSAGE(ll.exit_code == 0, ll.err);
  // Same predicted label on every row.
  std::istringstream ours(testing::ReadText(dir.File("pred.tsv")));
  std::istringstream theirs(testing::ReadText(dir.File("ll.out")));
  std::string line, label;
  std::getline(ours, line);  // header
  int rows = 0;
  while (std::getline(ours, line) && std::getline(theirs, label)) {
    ++rows;
    CHECK(std::stod(line.substr(0, line.find('\t'))) == std::stod(label));
  }
  CHECK(rows == 400);
}

TEST_CASE(
    "train-local: Newton epochs by default, inner loops only with --newton-max-support 0, one "
    "optimum") {
  testing::TempDir dir;
  const std::string train = testing::SourcePath("data/spam/train.svm");
  const testing::CommandResult newton = Agent({"train-local", "--data", train, "--l1", "1e-3",
                                               "--kkt-tol", "1e-10", "--model", dir.File("a.etm")});
  const testing::CommandResult inner =
      Agent({"train-local", "--data", train, "--l1", "1e-3", "--kkt-tol", "1e-10",
             "--newton-max-support", "0", "--model", dir.File("b.etm")});
  REQUIRE_MESSAGE(newton.exit_code == 0, newton.err);
  REQUIRE_MESSAGE(inner.exit_code == 0, inner.err);
  CHECK(newton.out.find("Newton step (alpha ") != std::string::npos);
  CHECK(inner.out.find("Newton step") == std::string::npos);
  Result<Model> a = ReadModelFile(dir.File("a.etm")), b = ReadModelFile(dir.File("b.etm"));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->summary.objective == doctest::Approx(b->summary.objective).epsilon(1e-9));
  CHECK(a->summary.epochs < b->summary.epochs);
}

TEST_CASE("regression through the CLI: lasso on Diabetes, predict prints RMSE and R^2") {
  testing::TempDir dir;
  const std::string data = testing::SourcePath("data/diabetes.svm");
  testing::CommandResult r =
      Agent({"train-local", "--data", data, "--task", "regression", "--loss", "squared", "--l1",
             "0.1", "--intercept", "--model", dir.File("d.etm"), "--quiet"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  r = Agent({"predict", "--model", dir.File("d.etm"), "--data", data});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("RMSE") != std::string::npos);
  CHECK(r.out.find("R^2") != std::string::npos);
}

TEST_CASE("CSV through the CLI: scaler stored in the model and applied at prediction") {
  testing::TempDir dir;
  const testing::CommandResult r =
      Agent({"train-local", "--data", testing::SourcePath("data/wdbc.csv"), "--label-column",
             "diagnosis", "--positive-label", "malignant", "--scale", "standard", "--intercept",
             "--l1", "1e-2", "--model", dir.File("w.etm"), "--quiet"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const testing::CommandResult p =
      Agent({"predict", "--model", dir.File("w.etm"), "--data",
             testing::SourcePath("data/wdbc.csv"), "--label-column", "diagnosis"});
  REQUIRE_MESSAGE(p.exit_code == 0, p.err);
  // Standardised L1-logistic separates WDBC well; unscaled weights would not.
  const size_t at = p.out.find("accuracy ");
  REQUIRE(at != std::string::npos);
  CHECK(std::stod(p.out.substr(at + 9)) > 0.95);
}

TEST_CASE("predict refuses a damaged model file with exit code 1") {
  testing::TempDir dir;
  const std::string data = testing::SourcePath("data/heart_scale.svm");
  REQUIRE(Agent({"train-local", "--data", data, "--l1", "0.01", "--model", dir.File("h.etm"),
                 "--quiet"})
              .exit_code == 0);
  std::string bytes = testing::ReadText(dir.File("h.etm"));
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x10);
  testing::WriteText(dir.File("bad.etm"), bytes);
  const testing::CommandResult r =
      Agent({"predict", "--model", dir.File("bad.etm"), "--data", data});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("bad.etm") != std::string::npos);
  CHECK(r.err.find("not a valid edgetrain model file") != std::string::npos);
}

}  // namespace
}  // namespace edgetrain
