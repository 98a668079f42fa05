// Failures survived: lost and repeated messages on every link, a device 10x slower than the rest,
// the coordinator killed (-9) mid-epoch and resumed from its checkpoint, and killed while writing
// checkpoints without ever being left without a loadable one.
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cluster.h"
#include "doctest/doctest.h"
#include "edgetrain/checkpoint.h"
#include "edgetrain/model.h"
#include "test_util.h"

namespace edgetrain {
namespace {

using testing::AgentSpec;
using testing::ChildProcess;
using testing::Cluster;

coordinator::CoordinatorOptions Options(int min_agents) {
  coordinator::CoordinatorOptions o;
  o.insecure = true;
  o.min_agents = min_agents;
  o.policy.newton_max_support =
      0;  // inner loops: the updates and their repeats are what these tests watch
  o.policy.stop.max_epochs = 150;
  o.policy.stop.tolerance = 0;  // the tests check the KKT violation
  o.heartbeat_interval = 0.2;
  o.heartbeat_patience = 10;
  o.gradient_timeout = 3;
  return o;
}

// 3 agents and the coordinator, 5 % of the messages dropped and 5 % duplicated on every link (each
// endpoint its own seed); checks the run reaches the serial optimum and every agent got its Stop
// (a lost one is repeated until the agent says Bye). Returns the run's summary.
const coordinator::RunSummary& RunWithFaults(Cluster& cluster, uint64_t agent_seed) {
  for (int k = 0; k < 3; ++k) {
    AgentSpec spec;
    spec.shard = k;
    spec.shards = 3;
    spec.faults = {0.05, 0.05, 0, 0.05, agent_seed + static_cast<uint64_t>(k)};
    cluster.AddAgent(spec);
  }
  const coordinator::RunSummary& r = cluster.Wait();
  // A certified stop: the KKT violation or the duality gap (a last Newton step can reach both at
  // once, and the gap is checked first).
  CHECK((r.stop_reason == "kkt" || r.stop_reason == "tol"));
  CHECK((r.kkt <= 1e-8 || r.relative_gap <= 1e-6));
  const double reference = testing::SpamSerialOptimum();
  CHECK(std::fabs(r.objective - reference) <= 1e-6 * reference);
  for (size_t i = 0; i < 3; ++i) {
    REQUIRE(cluster.agent_result(i).ok());
    CHECK(cluster.agent_result(i)->stop_reason == "stop: " + r.stop_reason);
  }
  return r;
}

TEST_CASE(
    "5% dropped and 5% duplicated messages on every link: the optimum, no update applied twice") {
  coordinator::CoordinatorOptions o = Options(3);
  o.channel.faults = {0.05, 0.05, 0, 0.05, 11};
  Cluster cluster(o);
  const coordinator::RunSummary& r = RunWithFaults(cluster, 100);
  // Repeats happened and were recognised (sequence numbers), and nothing was applied more often
  // than it was computed: every applied update is a distinct (agent, sequence number).
  CHECK(r.duplicates > 0);
  int64_t computed = 0, resent = 0;
  for (size_t i = 0; i < 3; ++i) {
    computed += cluster.agent_result(i)->updates_sent;
    resent += cluster.agent_result(i)->updates_resent;
  }
  CHECK(resent > 0);  // lost answers were recovered by repeating
  CHECK(r.updates_applied <= computed);
  // The model version counts applied updates exactly.
  const auto ends = cluster.log().Events("epoch_end");
  int64_t applied = 0;
  for (const testing::Json& e : ends)
    applied += static_cast<int64_t>(testing::Num(e, "updates_applied"));
  CHECK(applied == r.updates_applied);
}

TEST_CASE(
    "5% dropped and 5% duplicated messages with Newton epochs: the optimum, every agent stopped") {
  coordinator::CoordinatorOptions o = Options(3);
  o.policy.newton_max_support = 2000;
  o.channel.faults = {0.05, 0.05, 0, 0.05, 12};
  Cluster cluster(o);
  CHECK(RunWithFaults(cluster, 200).newton_steps > 0);
}

TEST_CASE("an agent 10x slower than the rest does not hold the others back") {
  Cluster cluster(Options(4));
  std::vector<size_t> fast;
  for (int k = 0; k < 3; ++k) fast.push_back(cluster.AddAgent(k, 4));
  AgentSpec slow;
  slow.shard = 3;
  slow.shards = 4;
  slow.agent_id = "slow";
  slow.throttle = 10;
  const size_t s = cluster.AddAgent(slow);
  const coordinator::RunSummary& r = cluster.Wait();
  CHECK(r.stop_reason == "kkt");
  CHECK(r.kkt <= 1e-8);
  // Not held back: while the slow one computed, every other agent kept working (each had several
  // times its updates applied: nobody waited for it within an epoch), and its updates were applied
  // too (damped by how much the others did meanwhile, never refused for that alone). Counted in
  // updates, not timed: a timed threshold failed on a busy 2-core machine.
  REQUIRE(cluster.agent_result(s).ok());
  const int64_t slow_applied = cluster.agent_result(s)->updates_applied;
  CHECK(slow_applied > 0);
  for (size_t k : fast) {
    REQUIRE(cluster.agent_result(k).ok());
    INFO("fast agent ", k, ": ", cluster.agent_result(k)->steps, " steps; slow agent ",
         cluster.agent_result(s)->steps);
    CHECK(cluster.agent_result(k)->steps >= 2 * cluster.agent_result(s)->steps);
  }
}

// ---- the coordinator killed: separate processes ----------------------------------------------

std::vector<std::string> Cmd(const std::string& program, std::vector<std::string> args) {
  std::vector<std::string> cmd = testing::ProgramCommand(program);
  cmd.insert(cmd.end(), args.begin(), args.end());
  return cmd;
}

std::string FreeEndpoint() {
  zmq::context_t context;
  zmq::socket_t probe(context, zmq::socket_type::router);
  probe.bind("tcp://127.0.0.1:0");
  return probe.get(zmq::sockopt::last_endpoint);
}

bool LogHas(const std::string& path, const std::string& needle) {
  return testing::ReadText(path).find(needle) != std::string::npos;
}

TEST_CASE(
    "kill -9 of the coordinator mid-epoch, restarted with --resume it finishes at the same "
    "optimum") {
  testing::TempDir dir;
  const std::string endpoint = FreeEndpoint();
  const std::vector<std::string> args = {
      "--bind", endpoint, "--log-bind", "", "--insecure", "--min-agents", "2", "--l1", "1e-3",
      "--model", dir.File("model.etm"), "--checkpoint-dir", dir.File("state"),
      "--checkpoint-interval", "0.1", "--heartbeat", "0.2", "--log-json", dir.File("log.jsonl"),
      "--resume",
      // inner loops: a run long enough to be killed inside one
      "--newton-max-support", "0"};
  auto first = std::make_unique<ChildProcess>(Cmd("coordinator/edgetrain-coordinator", args),
                                              dir.File("c1.out"));
  std::vector<std::unique_ptr<ChildProcess>> agents;
  for (int k = 1; k <= 2; ++k) {
    agents.push_back(std::make_unique<ChildProcess>(
        Cmd("edge_agent/edgetrain-agent",
            {"run", "--coordinator", endpoint, "--data", testing::SpamTrainPath(), "--shard",
             std::to_string(k) + "/2", "--insecure", "--agent-id", "a" + std::to_string(k)}),
        dir.File("a" + std::to_string(k) + ".out")));
  }
  // Wait until it is inside epoch 3's inner phase, then kill it without warning.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!LogHas(dir.File("log.jsonl"), "\"event\":\"epoch_begin\",\"time\"") ||
         !LogHas(dir.File("log.jsonl"), "\"epoch\":3,")) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // (At once: on an idle machine the whole run after epoch 3 takes about 0.25 s.)
  first->Signal(SIGKILL);
  CHECK(first->Wait(10) == 128 + SIGKILL);
  Result<Checkpoint> saved = CheckpointStore(dir.File("state")).LoadLatest();
  REQUIRE_MESSAGE(saved.ok(), saved.status().ToString());
  CHECK(saved->epoch >= 3);
  // The same command line again: it continues from the checkpoint; the agents find it by
  // themselves.
  ChildProcess second(Cmd("coordinator/edgetrain-coordinator", args), dir.File("c2.out"));
  REQUIRE_MESSAGE(second.Wait(120) == 0, testing::ReadText(dir.File("c2.out")));
  const std::string out = testing::ReadText(dir.File("c2.out"));
  CHECK(out.find("resuming from a checkpoint") != std::string::npos);
  CHECK(out.find("stopped: kkt") != std::string::npos);
  for (auto& a : agents) CHECK(a->Wait(20) == 0);
  Result<Model> model = ReadModelFile(dir.File("model.etm"));
  REQUIRE(model.ok());
  const double ours = testing::SpamObjective(model->ToVector());
  const double serial = testing::SpamSerialOptimum();
  INFO("after the crash: ", ours, ", serial: ", serial);
  CHECK(std::fabs(ours - serial) <= 1e-6 * serial);
}

TEST_CASE("kill -9 during checkpoint writes never leaves the run without a loadable checkpoint") {
  testing::TempDir dir;
  const std::string endpoint = FreeEndpoint();
  // A wide model (2 million weights: 16 MB checkpoints) written every 10 ms: the coordinator is
  // writing most of the time, so the kills land in the middle of writes.
  const std::vector<std::string> args = {"--bind",
                                         endpoint,
                                         "--log-bind",
                                         "",
                                         "--insecure",
                                         "--min-agents",
                                         "1",
                                         "--l1",
                                         "1e-3",
                                         "--dim",
                                         "2000000",
                                         "--checkpoint-dir",
                                         dir.File("state"),
                                         "--checkpoint-interval",
                                         "0.01",
                                         "--heartbeat",
                                         "0.2",
                                         "--resume",
                                         "--max-epochs",
                                         "1000000",
                                         "--kkt-tol",
                                         "0",
                                         "--tol",
                                         "0"};
  ChildProcess agent(Cmd("edge_agent/edgetrain-agent", {"run", "--coordinator", endpoint, "--data",
                                                        testing::SpamTrainPath(), "--insecure"}),
                     dir.File("agent.out"));
  std::mt19937 rng(7);
  int mid_write = 0;
  int64_t last_epoch = 0;
  for (int round = 0; round < 8; ++round) {
    ChildProcess coordinator(Cmd("coordinator/edgetrain-coordinator", args), dir.File("c.out"));
    // Kill it the moment a temporary checkpoint file appears (a write has begun; 16 MB plus an
    // fsync take milliseconds), after a random number of completed writes.
    int writes_to_skip = static_cast<int>(rng() % 4);
    bool in_write = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      bool tmp = false;
      std::error_code ec;
      for (const auto& entry : std::filesystem::directory_iterator(dir.File("state"), ec)) {
        tmp = tmp || entry.path().filename().string().find(".tmp.") != std::string::npos;
      }
      if (tmp && !in_write && writes_to_skip-- == 0) break;
      in_write = tmp;
    }
    coordinator.Signal(SIGKILL);
    coordinator.Wait(10);
    const testing::CommandResult ls = testing::Run({"ls", dir.File("state")});
    mid_write += ls.out.find(".tmp.") != std::string::npos;
    Result<Checkpoint> saved = CheckpointStore(dir.File("state")).LoadLatest();
    REQUIRE_MESSAGE(saved.ok(), "round ", round, ": ", saved.status().ToString(), "\n", ls.out);
    CHECK(saved->x.size() == 2000000);
    CHECK(saved->epoch >= last_epoch);  // never goes backwards
    last_epoch = saved->epoch;
  }
  INFO("kills that interrupted a write: ", mid_write);
  CHECK(mid_write >= 4);  // most kills must land inside a write, or the test proves nothing
  agent.Signal(SIGTERM);
  agent.Wait(10);
}

}  // namespace
}  // namespace edgetrain
