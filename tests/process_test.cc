// The distributed mode as a user runs it: edgetrain-coordinator and edgetrain-agent as separate
// processes on loopback, with a Python (pyzmq) subscriber reading the log stream from outside
// our code.
#include <cmath>
#include <csignal>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "cluster.h"
#include "doctest/doctest.h"
#include "edgetrain/local_trainer.h"
#include "edgetrain/model.h"
#include "edgetrain/model_dir.h"
#include "edgetrain/readers.h"
#include "edgetrain/scaler.h"
#include "json_util.h"
#include "test_util.h"

namespace edgetrain {
namespace {

using testing::ChildProcess;

const std::string kSpam = testing::SourcePath("data/spam/train.svm");

std::vector<std::string> Cmd(const std::string& program, std::vector<std::string> args) {
  std::vector<std::string> cmd = testing::ProgramCommand(program);
  cmd.insert(cmd.end(), args.begin(), args.end());
  return cmd;
}

std::vector<testing::Json> JsonLines(const std::string& path) {
  std::vector<testing::Json> out;
  std::istringstream in(testing::ReadText(path));
  for (std::string line; std::getline(in, line);) {
    Result<testing::Json> v = testing::ParseJson(line);
    REQUIRE_MESSAGE(v.ok(), "bad JSON line in ", path, ": ", line);
    out.push_back(std::move(v).value());
  }
  return out;
}

// Waits until the JSON log file has an event satisfying pred.
template <typename Pred>
bool WaitForEvent(const std::string& path, Pred pred, double seconds) {
  return testing::WaitUntil(
      [&] {
        std::istringstream in(testing::ReadText(path));
        for (std::string line; std::getline(in, line);) {
          Result<testing::Json> v = testing::ParseJson(line);
          if (v.ok() && pred(*v)) return true;
        }
        return false;
      },
      seconds);
}

std::vector<std::string> CoordinatorArgs(const testing::TempDir& dir, int min_agents) {
  return {"--bind",
          "tcp://127.0.0.1:0",
          "--log-bind",
          "tcp://127.0.0.1:0",
          "--endpoints-file",
          dir.File("endpoints"),
          "--min-agents",
          std::to_string(min_agents),
          "--l1",
          "1e-3",
          "--model",
          dir.File("model.etm"),
          "--max-epochs",
          "100",
          "--log-json",
          dir.File("log.jsonl"),
          "--heartbeat",
          "0.2",
          "--insecure"};
}

// A coordinator, `agents` agent processes on shards of the file, and the pyzmq subscriber. With
// newton false the coordinator runs inner loops only (so the subscriber also sees, and checks the
// format of, progress and epoch_end events); else the default Newton epochs.
void RunProcesses(int agent_count, bool newton) {
  testing::TempDir dir;
  std::vector<std::string> args = CoordinatorArgs(dir, agent_count);
  if (!newton) args.insert(args.end(), {"--newton-max-support", "0"});
  ChildProcess coordinator(Cmd("coordinator/edgetrain-coordinator", args),
                           dir.File("coordinator.out"));
  REQUIRE(testing::WaitForFile(dir.File("endpoints"), 10));
  auto endpoints = testing::ReadEndpoints(dir.File("endpoints"));
  ChildProcess subscriber(
      {EDGETRAIN_PYTHON, testing::SourcePath("tests/reference/log_subscriber.py"), endpoints["log"],
       dir.File("subscriber.json"), "120"},
      dir.File("subscriber.out"));
  REQUIRE(testing::WaitForFile(dir.File("subscriber.json.ready"),
                               30));  // subscribed before the run starts
  std::vector<std::unique_ptr<ChildProcess>> agents;
  for (int k = 1; k <= agent_count; ++k) {
    agents.push_back(std::make_unique<ChildProcess>(
        Cmd("edge_agent/edgetrain-agent",
            {"run", "--coordinator", endpoints["agents"], "--data", kSpam, "--shard",
             std::to_string(k) + "/" + std::to_string(agent_count), "--agent-id",
             "press-" + std::to_string(k), "--insecure"}),
        dir.File("agent" + std::to_string(k) + ".out")));
  }
  REQUIRE_MESSAGE(coordinator.Wait(120) == 0, testing::ReadText(dir.File("coordinator.out")));
  for (auto& a : agents) CHECK_MESSAGE(a->Wait(20) == 0, testing::ReadText(a->output_path()));
  REQUIRE_MESSAGE(subscriber.Wait(20) == 0, testing::ReadText(dir.File("subscriber.out"))
                                                << testing::ReadText(dir.File("subscriber.json")));

  // The model file: same format as train-local, the serial optimum to 1e-6.
  Result<Model> model = ReadModelFile(dir.File("model.etm"));
  REQUIRE_MESSAGE(model.ok(), model.status().ToString());
  CHECK(model->summary.mode == "distributed");
  CHECK(model->summary.agents == agent_count);
  CHECK(model->summary.kkt_violation <= 1e-8);
  const Dataset data = testing::LoadLibsvm(kSpam);
  const double ours = Objective(data, model->spec, model->ToVector().data());
  const double serial = testing::SpamSerialOptimum();
  INFO("distributed ", ours, " serial ", serial);
  CHECK(std::fabs(ours - serial) <= 1e-6 * serial);

  // What pyzmq saw, checked against the documented format.
  Result<testing::Json> seen = testing::ParseJson(testing::ReadText(dir.File("subscriber.json")));
  REQUIRE(seen.ok());
  CHECK((*seen)["errors"].empty());
  CHECK(testing::Num((*seen)["counts"], "agent_joined") == agent_count);
  CHECK(testing::Num((*seen)["counts"], "run_started") == 1);
  CHECK(testing::Num((*seen)["counts"], "epoch_begin") >= 3);
  if (newton) {
    CHECK(testing::Num((*seen)["counts"], "newton") >= 1);
  } else {
    CHECK(testing::Num((*seen)["counts"], "epoch_end") >= 1);
  }
  const std::string reason = testing::Str((*seen)["finished"], "reason");
  CHECK((reason == "tol" || reason == "kkt"));
  // The JSON-lines file holds the same events.
  int begins = 0;
  for (const testing::Json& e : JsonLines(dir.File("log.jsonl")))
    begins += testing::Str(e, "event") == "epoch_begin";
  CHECK(begins == static_cast<int>(testing::Num((*seen)["counts"], "epoch_begin")));
  CHECK(testing::StoppedConverged(testing::ReadText(dir.File("coordinator.out")), "stopped: "));
  CHECK(testing::StoppedConverged(testing::ReadText(dir.File("agent1.out")), "stop: "));
}

TEST_CASE(
    "1 agent process reaches the serial optimum with Newton epochs, pyzmq reads the log stream") {
  RunProcesses(1, true);
}
TEST_CASE(
    "2 agent processes reach the serial optimum with Newton epochs, pyzmq reads the log stream") {
  RunProcesses(2, true);
}
TEST_CASE(
    "4 agent processes reach the serial optimum with inner loops only, pyzmq reads the log "
    "stream") {
  RunProcesses(4, false);
}
TEST_CASE(
    "8 agent processes reach the serial optimum with inner loops only, pyzmq reads the log "
    "stream") {
  RunProcesses(8, false);
}

// Raw wdbc (areas ~700 next to fractal dimensions ~0.005) on two agent processes: their Hellos
// carry the shards' column statistics; the coordinator merges them into the preconditioner and,
// when an agent asks run --scale standard, into the run's scaler, and writes the model in the
// user's units (with the scaler): the serial optimum on the whole file, scaled the same way.
TEST_CASE("raw wdbc on 2 agent processes: merged statistics, one scaler, the model in user units") {
  const std::string wdbc = testing::SourcePath("data/wdbc.csv");
  ReadOptions read;
  read.label_column = "diagnosis";
  Result<Dataset> whole = ReadCsvFile(wdbc, read);
  REQUIRE(whole.ok());
  for (bool scale : {false, true}) {
    CAPTURE(scale);
    testing::TempDir dir;
    std::vector<std::string> args = CoordinatorArgs(dir, 2);
    args.push_back("--intercept");
    ChildProcess coordinator(Cmd("coordinator/edgetrain-coordinator", args),
                             dir.File("coordinator.out"));
    REQUIRE(testing::WaitForFile(dir.File("endpoints"), 10));
    auto endpoints = testing::ReadEndpoints(dir.File("endpoints"));
    std::vector<std::unique_ptr<ChildProcess>> agents;
    for (int k = 1; k <= 2; ++k) {
      std::vector<std::string> a = {"run",
                                    "--coordinator",
                                    endpoints["agents"],
                                    "--data",
                                    wdbc,
                                    "--label-column",
                                    "diagnosis",
                                    "--shard",
                                    std::to_string(k) + "/2",
                                    "--insecure"};
      if (scale && k == 1) a.insert(a.end(), {"--scale", "standard"});  // the other follows
      agents.push_back(std::make_unique<ChildProcess>(Cmd("edge_agent/edgetrain-agent", a),
                                                      dir.File("agent" + std::to_string(k))));
    }
    REQUIRE_MESSAGE(coordinator.Wait(120) == 0, testing::ReadText(dir.File("coordinator.out")));
    for (auto& a : agents) CHECK_MESSAGE(a->Wait(20) == 0, testing::ReadText(a->output_path()));
    Result<Model> model = ReadModelFile(dir.File("model.etm"));
    REQUIRE_MESSAGE(model.ok(), model.status().ToString());
    CHECK(model->summary.kkt_violation <= 1e-8);
    // The reference: the whole file, scaled as train-local --scale would.
    Dataset data = *whole;
    if (scale) {
      const Scaler fit = Scaler::Fit(data, ScalerKind::kStandard);
      REQUIRE(model->scaler.kind == ScalerKind::kStandard);
      for (size_t j = 0; j < fit.offset.size(); ++j) {
        CHECK(model->scaler.offset[j] == doctest::Approx(fit.offset[j]).epsilon(1e-12));
        CHECK(model->scaler.factor[j] == doctest::Approx(fit.factor[j]).epsilon(1e-12));
      }
      data = fit.Apply(data);
    } else {
      CHECK(model->scaler.kind == ScalerKind::kNone);
    }
    TrainOptions serial;
    serial.policy.stop.kkt_tolerance = 1e-10;
    Result<TrainResult> reference = TrainLocal(data, model->spec, serial, nullptr);
    REQUIRE(reference.ok());
    const double ours = Objective(data, model->spec, model->ToVector().data());
    INFO("distributed ", ours, " serial ", reference->last.objective);
    CHECK(std::fabs(ours - reference->last.objective) <= 1e-6 * reference->last.objective);
    CHECK(ours == doctest::Approx(model->summary.objective).epsilon(1e-9));
  }
}

TEST_CASE("SIGTERM makes an agent say goodbye and exit 0 while the others finish the run") {
  testing::TempDir dir;
  // Inner loops only: with Newton epochs the run can end before the signal (this tests the agent).
  std::vector<std::string> args = CoordinatorArgs(dir, 3);
  args.insert(args.end(), {"--newton-max-support", "0"});
  ChildProcess coordinator(Cmd("coordinator/edgetrain-coordinator", args),
                           dir.File("coordinator.out"));
  REQUIRE(testing::WaitForFile(dir.File("endpoints"), 10));
  const auto endpoints = testing::ReadEndpoints(dir.File("endpoints"));
  std::vector<std::unique_ptr<ChildProcess>> agents;
  for (int k = 1; k <= 3; ++k) {
    agents.push_back(std::make_unique<ChildProcess>(
        Cmd("edge_agent/edgetrain-agent",
            {"run", "--coordinator", endpoints.at("agents"), "--data", kSpam, "--shard",
             std::to_string(k) + "/3", "--agent-id", "line-" + std::to_string(k), "--insecure"}),
        dir.File("agent" + std::to_string(k) + ".out")));
  }
  REQUIRE(WaitForEvent(
      dir.File("log.jsonl"),
      [](const testing::Json& e) {
        return testing::Str(e, "event") == "epoch_begin" && testing::Num(e, "epoch") >= 2;
      },
      60));
  agents[1]->Signal(SIGTERM);
  CHECK(agents[1]->Wait(10) == 0);
  CHECK(testing::ReadText(agents[1]->output_path()).find("interrupted") != std::string::npos);
  REQUIRE_MESSAGE(coordinator.Wait(120) == 0, testing::ReadText(dir.File("coordinator.out")));
  CHECK(agents[0]->Wait(10) == 0);
  CHECK(agents[2]->Wait(10) == 0);
  bool goodbye = false;
  for (const testing::Json& e : JsonLines(dir.File("log.jsonl"))) {
    goodbye = goodbye ||
              (testing::Str(e, "event") == "agent_left" && testing::Str(e, "agent") == "line-2" &&
               testing::Str(e, "reason").find("said goodbye") == 0);
  }
  CHECK(goodbye);
  Result<Model> model = ReadModelFile(dir.File("model.etm"));
  REQUIRE(model.ok());
  CHECK(model->summary.stop_reason == "kkt");
}

TEST_CASE("an agent started before its coordinator keeps retrying, then trains") {
  testing::TempDir dir;
  // A free port: bind an ephemeral one and release it.
  std::string endpoint;
  {
    zmq::context_t context;
    zmq::socket_t probe(context, zmq::socket_type::router);
    probe.bind("tcp://127.0.0.1:0");
    endpoint = probe.get(zmq::sockopt::last_endpoint);
  }
  ChildProcess agent(Cmd("edge_agent/edgetrain-agent",
                         {"run", "--coordinator", endpoint, "--data", kSpam, "--insecure"}),
                     dir.File("agent.out"));
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  CHECK(agent.Wait(0) == -1);  // still waiting, not given up
  auto args = CoordinatorArgs(dir, 1);
  args[1] = endpoint;
  ChildProcess coordinator(Cmd("coordinator/edgetrain-coordinator", args),
                           dir.File("coordinator.out"));
  REQUIRE_MESSAGE(coordinator.Wait(120) == 0, testing::ReadText(dir.File("coordinator.out")));
  CHECK(agent.Wait(10) == 0);
  CHECK(testing::StoppedConverged(testing::ReadText(dir.File("agent.out")), "stop: "));
}

// Lines [begin, end) of a text file.
std::string Lines(const std::string& path, int begin, int end) {
  std::istringstream in(testing::ReadText(path));
  std::string out;
  int k = 0;
  for (std::string line; std::getline(in, line); ++k) {
    if (k >= begin && k < end) out += line + "\n";
  }
  return out;
}

TEST_CASE("rounds: 2 agent processes, their files grown by appends, hold each published model") {
  testing::TempDir dir;
  std::vector<std::string> args = CoordinatorArgs(dir, 2);
  args.insert(args.end(), {"--rounds", "3", "--round-new-rows", "100", "--model-dir",
                           dir.File("published"), "--keep-models", "2"});
  ChildProcess coordinator(Cmd("coordinator/edgetrain-coordinator", args),
                           dir.File("coordinator.out"));
  REQUIRE(testing::WaitForFile(dir.File("endpoints"), 10));
  const auto endpoints = testing::ReadEndpoints(dir.File("endpoints"));
  const std::string log = dir.File("log.jsonl");
  const std::vector<std::string> files = {dir.File("press-1.svm"), dir.File("press-2.svm")};
  testing::WriteText(files[0], Lines(kSpam, 0, 720));
  testing::WriteText(files[1], Lines(kSpam, 800, 1520));
  std::vector<std::unique_ptr<ChildProcess>> agents;
  for (int k = 0; k < 2; ++k) {
    const std::string id = "press-" + std::to_string(k + 1);
    agents.push_back(std::make_unique<ChildProcess>(
        Cmd("edge_agent/edgetrain-agent",
            {"run", "--coordinator", endpoints.at("agents"), "--data", files[k], "--agent-id", id,
             "--model-dir", dir.File(id + "-models"), "--insecure"}),
        dir.File(id + ".out")));
  }
  // Every agent says (a heartbeat) that it saved the model of the round.
  auto everywhere = [&](int round) {
    return WaitForEvent(
        log,
        [round](const testing::Json& e) {
          return testing::Str(e, "event") == "model_delivered" &&
                 testing::Num(e, "model_round") == round && testing::Num(e, "holding") == 2 &&
                 testing::Num(e, "agents") == 2;
        },
        60);
  };
  REQUIRE_MESSAGE(everywhere(1), testing::ReadText(dir.File("coordinator.out")));
  // The plant's logger appends rows (80 on each device: 160 >= --round-new-rows 100).
  for (int k = 0; k < 2; ++k) {
    std::ofstream(files[k], std::ios::app)
        << Lines(kSpam, k == 0 ? 720 : 1520, k == 0 ? 800 : 1600);
  }
  REQUIRE_MESSAGE(everywhere(2), testing::ReadText(dir.File("coordinator.out")));
  // The service is restarted between rounds (SIGTERM: the agents are not stopped, they reconnect
  // to the new process on the same port), which goes on from the published model of round 2.
  coordinator.Signal(SIGTERM);
  REQUIRE(coordinator.Wait(20) == 0);
  for (std::string& a : args) {
    if (a == "tcp://127.0.0.1:0" && &a == &args[1]) a = endpoints.at("agents");
    if (a == log) a = dir.File("log2.jsonl");
  }
  ChildProcess restarted(Cmd("coordinator/edgetrain-coordinator", args),
                         dir.File("coordinator2.out"));
  REQUIRE(WaitForEvent(
      dir.File("log2.jsonl"),
      [](const testing::Json& e) {
        return testing::Str(e, "event") == "status" && testing::Str(e, "state") == "idle" &&
               testing::Num(e, "agents") == 2 && testing::Num(e, "round") == 2;
      },
      30));
  // The third round on request (--rounds counts this process's rounds: it would run three more).
  const testing::CommandResult trigger = testing::Run(
      Cmd("coordinator/edgetrain-coordinator", {"trigger", "--model-dir", dir.File("published")}));
  CHECK_MESSAGE(trigger.exit_code == 0, trigger.err);
  REQUIRE(WaitForEvent(
      dir.File("log2.jsonl"),
      [](const testing::Json& e) {
        return testing::Str(e, "event") == "model_delivered" &&
               testing::Num(e, "model_round") == 3 && testing::Num(e, "holding") == 2;
      },
      60));
  restarted.Signal(SIGTERM);
  REQUIRE_MESSAGE(restarted.Wait(20) == 0, testing::ReadText(dir.File("coordinator2.out")));
  for (auto& a : agents) {
    a->Signal(SIGTERM);
    CHECK_MESSAGE(a->Wait(20) == 0, testing::ReadText(a->output_path()));
  }

  std::vector<testing::Json> rounds_started, rounds_finished;
  std::vector<testing::Json> events = JsonLines(log), after = JsonLines(dir.File("log2.jsonl"));
  events.insert(events.end(), after.begin(), after.end());
  for (const testing::Json& e : events) {
    CHECK(testing::Num(e, "round") >= 1);  // every event names its round
    if (testing::Str(e, "event") == "round_started") rounds_started.push_back(e);
    if (testing::Str(e, "event") == "round_finished") rounds_finished.push_back(e);
  }
  REQUIRE(rounds_started.size() == 3);
  CHECK(testing::Str(rounds_started[0], "trigger") == "start");
  CHECK(testing::Str(rounds_started[1], "trigger") == "new rows");
  CHECK(testing::Num(rounds_started[1], "new_rows") == 160);
  CHECK(testing::Num(rounds_started[1], "warm_start_round") == 1);
  CHECK(testing::Str(rounds_started[2], "trigger") == "request");
  CHECK(testing::Num(rounds_started[2], "round") == 3);
  CHECK(testing::Num(rounds_started[2], "warm_start_round") == 2);
  REQUIRE(rounds_finished.size() == 3);
  for (const testing::Json& e : rounds_finished) CHECK(testing::Bool(e, "published"));
  // The coordinator's latest model, trained on all 1 600 rows, is what every agent holds.
  Result<Model> published = ReadLatestModel(dir.File("published"));
  REQUIRE(published.ok());
  CHECK(published->summary.round == 3);
  CHECK(published->summary.agent_rows ==
        std::vector<std::pair<std::string, int64_t>>{{"press-1", 800}, {"press-2", 800}});
  const double serial = testing::SpamSerialOptimum();
  CHECK(std::fabs(published->summary.objective - serial) <= 1e-6 * serial);
  CHECK(*ListModelRounds(dir.File("published")) == std::vector<int64_t>{2, 3});
  for (const char* id : {"press-1", "press-2"}) {
    Result<Model> held = ReadLatestModel(dir.File(std::string(id) + "-models"));
    REQUIRE_MESSAGE(held.ok(), held.status().ToString());
    CHECK(held->summary.round == 3);
    CHECK(held->weights == published->weights);
  }
  CHECK(!testing::WaitForFile(dir.File("published/coordinator.pid"), 0));  // removed at exit
}

TEST_CASE("edgetrain-coordinator: --help documents the options, bad options exit 2 with one line") {
  const testing::CommandResult help =
      testing::Run(Cmd("coordinator/edgetrain-coordinator", {"--help"}));
  CHECK(help.exit_code == 0);
  for (const char* option :
       {"--bind", "--log-bind", "--min-agents", "--max-staleness", "--gradient-timeout",
        "--max-epochs", "--kkt-tol", "--time-limit", "--l1", "--batch", "--log-json", "--model"}) {
    INFO(option);
    CHECK(help.out.find(option) != std::string::npos);
  }
  CHECK(help.out.find("tcp://*:5555") != std::string::npos);
  for (const auto& args : std::vector<std::vector<std::string>>{{"--min-agents", "0", "--insecure"},
                                                                {"--labels", "x", "--insecure"},
                                                                {"--nope"},
                                                                {},
                                                                {"--key", "k.key"}}) {
    const testing::CommandResult r = testing::Run(Cmd("coordinator/edgetrain-coordinator", args));
    CHECK(r.exit_code == 2);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
  // (An endpoint ZeroMQ cannot use is a bad option too; an address in use exits 1:
  // exit_code_test.cc.)
  const testing::CommandResult bad = testing::Run(
      Cmd("coordinator/edgetrain-coordinator", {"--bind", "tcp://256.1.1.1:1", "--insecure"}));
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("cannot bind") != std::string::npos);
}

}  // namespace
}  // namespace edgetrain
