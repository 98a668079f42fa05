// Test fixtures for distributed runs in one process: a Coordinator and EdgeAgents on threads over
// real ZeroMQ TCP sockets on 127.0.0.1 (ephemeral ports), a collector of the log stream, and the
// bundled SpamAssassin problem they train (with its serial optimum).
#ifndef EDGETRAIN_TESTS_CLUSTER_H_
#define EDGETRAIN_TESTS_CLUSTER_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "agent.h"
#include "coordinator.h"
#include "edgetrain/transport/curve.h"
#include "json_util.h"

namespace edgetrain::testing {

// data/spam/train.svm with L1-logistic regression, l1 = 1e-3.
const std::string& SpamTrainPath();
ProblemSpec SpamSpec();
// The serial optimum of SpamSpec() on the whole file (TrainLocal to KKT 1e-10; computed once).
double SpamSerialOptimum();
// Shard k of n (0-based), read the way `edgetrain-agent run` reads it.
Dataset SpamShard(int k, int n);
// P(x) on the whole file.
double SpamObjective(const std::vector<double>& x);

// Collects the log stream's events on a thread until run_finished.
class LogCollector {
 public:
  LogCollector(zmq::context_t* context, const std::string& endpoint);
  ~LogCollector();

  std::vector<testing::Json> Events(const std::string& name);
  // Waits until an event satisfies `pred` (or the timeout).
  template <typename Pred>
  bool WaitFor(Pred pred, double seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (const testing::Json& e : events_) {
          if (pred(e)) return true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

 private:
  void Loop();

  zmq::socket_t socket_;
  std::thread thread_;
  std::atomic<bool> done_{false};
  std::mutex mu_;
  std::vector<testing::Json> events_;
};

// How an agent of a Cluster runs.
struct AgentSpec {
  int shard = 0;  // shard `shard` of `shards` of SpamTrainPath()
  int shards = 1;
  std::string agent_id;  // default "agent-<shard>of<shards>"
  bool say_bye = true;   // false: stopping it is a crash (no Bye)
  transport::CurveConfig curve;
  transport::FaultOptions faults;
  double throttle = 1;
};

// A coordinator on a thread plus agents on threads, in one process.
class Cluster {
 public:
  // The options' endpoints become 127.0.0.1 with ephemeral ports; quiet; the problem SpamSpec()
  // unless one is set. REQUIRES: the options pass Coordinator::Bind.
  explicit Cluster(coordinator::CoordinatorOptions options);
  ~Cluster();

  size_t AddAgent(const AgentSpec& spec);
  size_t AddAgent(int shard, int shards, bool say_bye = true) {
    AgentSpec spec;
    spec.shard = shard;
    spec.shards = shards;
    spec.say_bye = say_bye;
    return AddAgent(spec);
  }
  // Stops an agent now (a crash when it was added with say_bye = false).
  void StopAgent(size_t i);
  // The coordinator re-reads its allow-lists (as on SIGHUP).
  void RequestReload() { reload_ = true; }

  // Joins the coordinator, then the agents; agents still running `grace` seconds later (never
  // welcomed, so never told to stop) are stopped.
  const coordinator::RunSummary& Wait(double grace = 10);
  const Result<agent::AgentSummary>& agent_result(size_t i) const { return agents_[i]->result; }
  LogCollector& log() { return *log_; }
  zmq::context_t& context() { return context_; }
  const std::string& endpoint() const { return coordinator_->agent_endpoint(); }

 private:
  struct AgentRun {
    std::unique_ptr<agent::EdgeAgent> agent;
    std::thread thread;
    std::atomic<bool> stop{false};
    std::atomic<bool> done{false};
    Result<agent::AgentSummary> result = Status::Internal("not run");
  };

  zmq::context_t context_{1};
  SteadyClock clock_;
  std::unique_ptr<coordinator::Coordinator> coordinator_;
  std::unique_ptr<LogCollector> log_;
  std::thread coordinator_thread_;
  std::atomic<bool> stop_coordinator_{false};
  std::atomic<bool> reload_{false};
  Result<coordinator::RunSummary> result_ = Status::Internal("not run");
  std::vector<std::unique_ptr<AgentRun>> agents_;
};

}  // namespace edgetrain::testing

#endif  // EDGETRAIN_TESTS_CLUSTER_H_
