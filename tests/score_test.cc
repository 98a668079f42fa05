// The data side of edgetrain-agent as a plant engineer runs it: pipes and FIFOs into every
// --data command, predict without labels, score with model hot-swap, show-model and export
// (liblinear, JSON, scikit-learn through scripts/edgetrain_model.py), the model directory.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "doctest/doctest.h"
#include "edgetrain/metrics.h"
#include "edgetrain/model.h"
#include "edgetrain/model_dir.h"
#include "edgetrain/readers.h"
#include "edgetrain/scorer.h"
#include "test_util.h"

namespace edgetrain {
namespace {

using testing::SourcePath;
using testing::TempDir;

std::string AgentPath() { return testing::ProgramCommand("edge_agent/edgetrain-agent").back(); }

testing::CommandResult Agent(std::vector<std::string> args) {
  std::vector<std::string> cmd = testing::ProgramCommand("edge_agent/edgetrain-agent");
  cmd.insert(cmd.end(), args.begin(), args.end());
  return testing::Run(cmd);
}

testing::CommandResult Shell(const std::string& script) {
  return testing::Run({"/bin/sh", "-c", script});
}

std::vector<std::vector<std::string>> Table(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::istringstream l(line);
    std::string c;
    while (std::getline(l, c, '\t')) cells.push_back(c);
    rows.push_back(cells);
  }
  return rows;
}

TEST_CASE("every --data command reads a pipe, standard input and a FIFO in one pass") {
  const std::string agent = AgentPath();
  const std::string heart = SourcePath("data/heart_scale.svm");
  TempDir dir;
  testing::CommandResult r =
      Shell("cat '" + heart + "' | '" + agent + "' inspect --data /dev/stdin");
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("rows 270") != std::string::npos);
  r = Shell("gzip -c '" + heart + "' | '" + agent + "' inspect --data -");
  CHECK(r.out.find("rows 270") != std::string::npos);
  const std::string fifo = dir.File("fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  r = Shell("cat '" + heart + "' > '" + fifo + "' & '" + agent + "' inspect --data '" + fifo + "'");
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("rows 270") != std::string::npos);
  r = Shell("cat '" + heart + "' | '" + agent +
            "' train-local --data - --l1 1e-2 --quiet --model '" + dir.File("h.etm") + "'");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out.find("data -: 270 rows") != std::string::npos);
  r = Shell("cat '" + heart + "' > '" + fifo + "' & '" + agent + "' predict --data '" + fifo +
            "' --model '" + dir.File("h.etm") + "'");
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("270 rows, accuracy") != std::string::npos);
  for (const char* command : {"score", "show-model", "export", "predict", "inspect"}) {
    CHECK(Agent({command, "--help"}).exit_code == 0);
  }
  // Options: a bad format or delimiter is a usage error; a directory is not data.
  CHECK(Agent({"inspect", "--data", heart, "--format", "xml"}).exit_code == 2);
  CHECK(Agent({"inspect", "--data", heart, "--delimiter", ":"}).exit_code == 2);
  CHECK(Agent({"inspect", "--data", dir.path()}).exit_code == 2);
  // Binary input: one line, exit 1.
  r = Agent({"inspect", "--data", dir.File("h.etm")});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("show-model") != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
}

// `run` reads its shard the same way: one agent from a gzip pipe on stdin, one from a FIFO.
TEST_CASE("run --data: agents fed from a pipe and from a FIFO train with a coordinator") {
  TempDir dir;
  const std::string heart = SourcePath("data/heart_scale.svm");
  std::vector<std::string> coordinator =
      testing::ProgramCommand("coordinator/edgetrain-coordinator");
  coordinator.insert(
      coordinator.end(),
      {"--bind", "tcp://127.0.0.1:0", "--log-bind", "tcp://127.0.0.1:0", "--endpoints-file",
       dir.File("endpoints"), "--min-agents", "2", "--l1", "1e-2", "--model", dir.File("model.etm"),
       "--max-epochs", "50", "--heartbeat", "0.2", "--insecure"});
  testing::ChildProcess c(coordinator, dir.File("coordinator.out"));
  REQUIRE(testing::WaitForFile(dir.File("endpoints"), 10));
  const std::string endpoint = testing::ReadEndpoints(dir.File("endpoints"))["agents"];
  const std::string fifo = dir.File("fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  testing::ChildProcess piped(
      {"/bin/sh", "-c",
       "gzip -c '" + heart + "' | '" + AgentPath() + "' run --insecure --quiet --coordinator " +
           endpoint + " --data - --agent-id piped"},
      dir.File("piped.out"));
  testing::ChildProcess fed({"/bin/sh", "-c",
                             "cat '" + heart + "' > '" + fifo + "' & exec '" + AgentPath() +
                                 "' run --insecure --quiet --coordinator " + endpoint +
                                 " --data '" + fifo + "' --agent-id fifo"},
                            dir.File("fifo.out"));
  REQUIRE_MESSAGE(c.Wait(120) == 0, testing::ReadText(dir.File("coordinator.out")));
  CHECK(piped.Wait(20) == 0);
  CHECK(fed.Wait(20) == 0);
  Result<Model> model = ReadModelFile(dir.File("model.etm"));
  REQUIRE(model.ok());
  CHECK(model->summary.agents == 2);
  CHECK(model->summary.rows == 540);
}

TEST_CASE("predict without labels: the model's label column, id columns, output to stdout") {
  TempDir dir;
  const std::string wdbc = SourcePath("data/wdbc.csv");
  testing::CommandResult r =
      Agent({"train-local", "--data", wdbc, "--label-column", "diagnosis", "--scale", "standard",
             "--l1", "1e-3", "--quiet", "--model", dir.File("w.etm")});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  // New rows: a serial number and a time first, no label column, semicolons.
  std::ifstream in(wdbc);
  std::string header, line, text;
  std::getline(in, header);
  const size_t label_at = header.find("diagnosis");
  const int label_index =
      static_cast<int>(std::count(header.begin(), header.begin() + label_at, ','));
  auto drop_label = [&](const std::string& row) {
    std::vector<std::string> cells;
    std::istringstream l(row);
    std::string c, out;
    int k = 0;
    while (std::getline(l, c, ',')) {
      if (k++ != label_index) out += ";" + c;
    }
    return out;
  };
  text = "serial;time" + drop_label(header) + "\n";
  int n = 0;
  while (std::getline(in, line) && n < 20) {
    text += "p" + std::to_string(n) + ";10:" + std::to_string(10 + n) + drop_label(line) + "\n";
    ++n;
  }
  testing::WriteText(dir.File("new.csv"), text);
  r = Agent({"predict", "--model", dir.File("w.etm"), "--data", dir.File("new.csv"), "--delimiter",
             ";", "--id-column", "serial,time", "--output", "-"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.err.find("20 rows without labels") != std::string::npos);
  const auto table = Table(r.out);
  REQUIRE(table.size() == 21);
  CHECK(table[0] == std::vector<std::string>{"serial", "time", "label", "decision", "probability"});
  CHECK(table[3][0] == "p2");
  CHECK(table[3][1] == "10:12");
  // The same decisions as on the labeled file (which also reports metrics).
  r = Agent(
      {"predict", "--model", dir.File("w.etm"), "--data", wdbc, "--output", dir.File("p.tsv")});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("accuracy") != std::string::npos);
  const auto labeled = Table(testing::ReadText(dir.File("p.tsv")));
  for (int i = 1; i <= 20; ++i) CHECK(labeled[i][1] == table[i][3]);
  // libsvm rows without labels.
  testing::WriteText(dir.File("u.svm"), "1:0.5 3:1\n2:-1\n");
  r = Agent({"train-local", "--data", SourcePath("data/heart_scale.svm"), "--quiet", "--model",
             dir.File("h.etm")});
  REQUIRE(r.exit_code == 0);
  r = Agent(
      {"predict", "--model", dir.File("h.etm"), "--data", dir.File("u.svm"), "--output", "-"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(Table(r.out).size() == 3);
}

TEST_CASE(
    "show-model and export: JSON round trip, liblinear as train-local writes it, scikit-learn") {
  TempDir dir;
  const std::string wdbc = SourcePath("data/wdbc.csv");
  testing::CommandResult r =
      Agent({"train-local", "--data", wdbc, "--label-column", "diagnosis", "--scale", "standard",
             "--l1", "1e-3", "--intercept", "--quiet", "--model", dir.File("w.etm"),
             "--liblinear-model", dir.File("w.liblinear")});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  Result<Model> model = ReadModelFile(dir.File("w.etm"));
  REQUIRE(model.ok());

  r = Agent({"show-model", dir.File("w.etm")});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("label column 'diagnosis'") != std::string::npos);
  CHECK(r.out.find("scaler standard") != std::string::npos);
  r = Agent({"show-model", dir.File("w.etm"), "--json", "--all"});
  REQUIRE(r.exit_code == 0);
  const nlohmann::json j = nlohmann::json::parse(r.out);
  CHECK(j["intercept"].get<double>() == model->intercept);
  CHECK(j["weights"].size() == static_cast<size_t>(model->dim));
  double previous = 1e300;
  for (const auto& w : j["weights"]) {
    const int32_t k = w["index"].get<int32_t>();
    CHECK(w["value"].get<double>() == model->weights[k]);  // exact
    CHECK(w["name"].get<std::string>() == model->feature_names[k]);
    CHECK(std::fabs(w["value"].get<double>()) <= previous);
    previous = std::fabs(w["value"].get<double>());
  }
  CHECK(j["scaler"]["offset"].get<std::vector<double>>() == model->scaler.offset);
  CHECK(j["summary"]["objective"].get<double>() == model->summary.objective);
  CHECK(j["penalties"]["lower"].is_null());
  r = Agent({"show-model", dir.File("w.etm"), "--json"});
  CHECK(nlohmann::json::parse(r.out)["weights"].size() == static_cast<size_t>(model->NonZeros()));

  r = Agent({"export", dir.File("w.etm"), "--format", "liblinear", "--output", "-"});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == testing::ReadText(dir.File("w.liblinear")));
  r = Agent({"export", dir.File("w.etm"), "--format", "json", "--output", dir.File("w.json")});
  REQUIRE(r.exit_code == 0);
  const nlohmann::json full = nlohmann::json::parse(testing::ReadText(dir.File("w.json")));
  for (int32_t k = 0; k < model->dim; ++k)
    CHECK(full["weights"][k]["value"].get<double>() == model->weights[k]);
  CHECK(Agent({"export", dir.File("w.etm"), "--format", "onnx", "--output", "-"}).exit_code == 2);

  // scikit-learn: the Python reader (from the .etm and from the export) against predict, on a
  // CSV classification model and a libsvm regression model.
  struct Case {
    std::string model, data, label;
    std::vector<std::string> train;
  };
  const std::vector<Case> cases = {{dir.File("w.etm"), wdbc, "diagnosis", {}},
                                   {dir.File("d.etm"),
                                    SourcePath("data/diabetes.svm"),
                                    "",
                                    {"--task", "regression", "--loss", "squared", "--l1", "1e-2",
                                     "--l2", "1e-3", "--intercept", "--scale", "maxabs"}}};
  for (const Case& c : cases) {
    if (!c.train.empty()) {
      std::vector<std::string> args = {"train-local", "--data",  c.data,
                                       "--quiet",     "--model", c.model};
      args.insert(args.end(), c.train.begin(), c.train.end());
      REQUIRE(Agent(args).exit_code == 0);
    }
    REQUIRE(Agent({"predict", "--model", c.model, "--data", c.data, "--output", c.model + ".tsv"})
                .exit_code == 0);
    REQUIRE(Agent({"export", c.model, "--format", "sklearn", "--output", c.model + ".json"})
                .exit_code == 0);
    REQUIRE(Agent({"export", c.model, "--format", "json", "--output", c.model + ".full.json"})
                .exit_code == 0);
    std::vector<std::string> check = {EDGETRAIN_PYTHON,
                                      SourcePath("tests/reference/model_reader_check.py"),
                                      c.model,
                                      c.model + ".json",
                                      c.model + ".full.json",
                                      c.data,
                                      c.model + ".tsv"};
    if (!c.label.empty()) check.push_back(c.label);
    r = testing::Run(check);
    CHECK_MESSAGE(r.exit_code == 0, r.out << r.err);
    CHECK(r.out == "ok\n");
  }
}

TEST_CASE("model directory: versioned files, latest re-pointed, retention never removes latest") {
  TempDir dir;
  const std::string models = dir.File("models");
  Model m;
  m.task = Task::kRegression;
  m.dim = 1;
  m.weights = {1};
  CHECK(ResolveLatest(models).status().code() == StatusCode::kNotFound);
  for (int round = 1; round <= 5; ++round) {
    m.weights[0] = round;
    Result<std::string> path = PublishModel(models, round, m, 3);
    REQUIRE_MESSAGE(path.ok(), path.status().ToString());
    CHECK(*path == models + "/" + ModelFileName(round));
  }
  CHECK(ModelFileName(7) == "model-000007.etm");
  CHECK(*ListModelRounds(models) == std::vector<int64_t>{3, 4, 5});
  std::string path;
  Result<Model> latest = ReadLatestModel(models, &path);
  REQUIRE(latest.ok());
  CHECK(latest->weights[0] == 5);
  CHECK(path == models + "/model-000005.etm");
  // A rollback: round 2 published again after 5 is kept though it is the oldest.
  m.weights[0] = 2;
  REQUIRE(PublishModel(models, 2, m, 2).ok());
  CHECK(*ListModelRounds(models) == std::vector<int64_t>{2, 5});
  CHECK(ReadLatestModel(models)->weights[0] == 2);
}

// A writer feeds rows into a FIFO while the model directory is re-published many times (two
// models alternating, one damaged file, then a third model): every row is scored exactly once,
// by one of the models, and after the last switch by the last model.
TEST_CASE("score: hot-swap between rows without dropping or repeating a row") {
  TempDir dir;
  const std::string heart = SourcePath("data/heart_scale.svm");
  const std::string models = dir.File("models");
  Result<Dataset> data = ReadDataFile(heart, {});
  REQUIRE(data.ok());
  std::vector<std::shared_ptr<const Model>> m;
  for (const char* l1 : {"1e-3", "3e-2", "1e-1"}) {
    const std::string path = dir.File(std::string("m") + l1 + ".etm");
    REQUIRE(
        Agent({"train-local", "--data", heart, "--l1", l1, "--quiet", "--model", path}).exit_code ==
        0);
    m.push_back(std::make_shared<const Model>(ReadModelFile(path).value()));
  }
  int64_t round = 1;
  REQUIRE(PublishModel(models, round, *m[0], 4).ok());
  const std::string fifo = dir.File("rows");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  testing::ChildProcess score({AgentPath(), "score", "--model", models, "--data", fifo,
                               "--check-every", "0.005", "--no-header"},
                              dir.File("out"), dir.File("err"));
  const std::string text = testing::ReadText(heart);
  std::vector<std::string> lines;
  {
    std::istringstream in(text);
    std::string l;
    while (std::getline(in, l)) lines.push_back(l + "\n");
  }
  const int fd = ::open(fifo.c_str(), O_WRONLY);
  REQUIRE(fd >= 0);
  int64_t written = 0;
  auto write_rows = [&](int count) {
    for (int k = 0; k < count; ++k) {
      const std::string& l = lines[written % lines.size()];
      REQUIRE(::write(fd, l.data(), l.size()) == static_cast<ssize_t>(l.size()));
      ++written;
    }
  };
  for (int swap = 0; swap < 40; ++swap) {
    write_rows(37);
    REQUIRE(PublishModel(models, ++round, *m[swap % 2], 4).ok());
    if (swap == 20) {  // a damaged file re-pointed as latest: the old model stays
      testing::WriteText(models + "/model-999999.etm", "not a model");
      REQUIRE(::symlink("model-999999.etm", (models + "/.tmp").c_str()) == 0);
      REQUIRE(std::rename((models + "/.tmp").c_str(), (models + "/latest").c_str()) == 0);
      write_rows(50);
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      REQUIRE(PublishModel(models, ++round, *m[1], 4).ok());
    }
  }
  // The last switch, to the third model: wait until score says so, then the final rows.
  REQUIRE(PublishModel(models, ++round, *m[2], 4).ok());
  const std::string last = ModelFileName(round);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (testing::ReadText(dir.File("err")).find(last) == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE(testing::ReadText(dir.File("err")).find(last) != std::string::npos);
  const int64_t before_last = written;
  write_rows(300);
  ::close(fd);
  REQUIRE(score.Wait(30) == 0);

  const std::string err = testing::ReadText(dir.File("err"));
  CHECK(err.find("keeping the model in use") != std::string::npos);
  const auto out = Table(testing::ReadText(dir.File("out")));
  REQUIRE(static_cast<int64_t>(out.size()) == written);  // none dropped, none repeated
  std::vector<Scorer> scorers;
  for (const auto& model : m) scorers.emplace_back(model);
  int used[3] = {0, 0, 0};
  for (int64_t i = 0; i < written; ++i) {
    const RowView row = data->Row(i % data->rows());
    const double z = std::stod(out[i][1]);
    int which = -1;
    for (int k = 0; k < 3; ++k) {
      if (z == scorers[k].Decision(row)) which = k;
    }
    REQUIRE_MESSAGE(which >= 0, "row " << i << ": " << out[i][1]);
    ++used[which];
    if (i >= before_last) CHECK(which == 2);
  }
  CHECK(used[0] > 0);
  CHECK(used[1] > 0);
}

TEST_CASE(
    "score --follow: a growing file is scored as it grows, and a truncated one from its start") {
  TempDir dir;
  const std::string heart = SourcePath("data/heart_scale.svm");
  REQUIRE(
      Agent({"train-local", "--data", heart, "--quiet", "--model", dir.File("h.etm")}).exit_code ==
      0);
  const std::string text = testing::ReadText(heart);
  const std::string first = text.substr(0, text.find('\n', 1000) + 1);
  testing::WriteText(dir.File("log.svm"), first);
  testing::ChildProcess score({AgentPath(), "score", "--model", dir.File("h.etm"), "--data",
                               dir.File("log.svm"), "--follow", "--check-every", "0.01"},
                              dir.File("out"), dir.File("err"));
  auto wait_lines = [&](size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (Table(testing::ReadText(dir.File("out"))).size() < n &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return Table(testing::ReadText(dir.File("out"))).size();
  };
  const size_t rows1 = static_cast<size_t>(std::count(first.begin(), first.end(), '\n'));
  CHECK(wait_lines(rows1 + 1) == rows1 + 1);
  {
    std::ofstream f(dir.File("log.svm"), std::ios::app);
    f << text.substr(first.size()) << "+1 1:0.5";  // a partial last line waits
  }
  CHECK(wait_lines(271) == 271);
  {
    std::ofstream f(dir.File("log.svm"), std::ios::app);
    f << " 3:1\n";
  }
  CHECK(wait_lines(272) == 272);
  testing::WriteText(dir.File("log.svm"), "-1 2:1\n");  // truncated: from its start
  CHECK(wait_lines(273) == 273);
  score.Signal(SIGTERM);
  CHECK(score.Wait(10) == 0);
  CHECK(testing::ReadText(dir.File("err")).find("truncated") != std::string::npos);
}

}  // namespace
}  // namespace edgetrain
