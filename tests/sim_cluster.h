// A whole distributed run in one thread and without sockets: a coordinator Driver and N
// AgentSessions (the product's socket-free halves) joined by simulated links with a latency, and
// optionally lost, duplicated and reordered messages, all on one manual clock. Deterministic for
// a seed, and fast: the agents compute for real, the network costs nothing.
#ifndef EDGETRAIN_TESTS_SIM_CLUSTER_H_
#define EDGETRAIN_TESTS_SIM_CLUSTER_H_

#include <functional>
#include <memory>
#include <queue>
#include <string>
#include <vector>

#include "agent_session.h"
#include "driver.h"
#include "driver_harness.h"
#include "edgetrain/clock.h"
#include "edgetrain/rng.h"

namespace edgetrain::testing {

struct LinkFaults {
  double latency = 100e-6;  // one way, seconds
  double jitter = 0;        // extra uniform delay in [0, jitter): reorders when > 0
  double drop = 0, duplicate = 0;
};

class SimCluster {
 public:
  // `before_begin` (optional) prepares the driver before Driver::Begin (RestorePublished).
  SimCluster(coordinator::CoordinatorOptions options, LinkFaults faults, uint64_t seed = 1,
             const std::function<void(coordinator::Driver&)>& before_begin = {});
  ~SimCluster();

  // An agent holding `data` (moved in); pipeline options as given (0: adaptive).
  void AddAgent(Dataset data, const std::string& id, agent::SessionOptions session = {});
  // Runs until the coordinator is done or `seconds` of simulated time passed; every `step`
  // seconds the links deliver what is due, the timers run and each agent computes until its
  // pipeline is full. Returns whether the run finished.
  bool Run(double seconds, double step = 50e-6);
  // Runs until `done()` holds or the coordinator is done, at most `seconds`; returns done().
  bool RunUntil(const std::function<bool()>& done, double seconds, double step = 50e-6);

  // Rounds: rows appended to an agent's "file": the agent picks them up between rounds (reported
  // in heartbeats) and at a RoundBegin, as a DataSource does.
  void GrowData(size_t i, Dataset more);
  // The rounds whose published models agent i saved (verified model files), in order.
  const std::vector<int64_t>& saved_rounds(size_t i) const { return agents_[i]->saved; }
  const Model& saved_model(size_t i) const { return agents_[i]->model; }

  coordinator::Driver& driver() { return *driver_; }
  CollectingSink& events() { return events_; }
  const agent::AgentSession& agent(size_t i) const { return *agents_[i]->session; }
  ManualClock& clock() { return clock_; }

 private:
  struct Message {
    double due;
    uint64_t order;
    size_t agent;  // the agent's index
    bool to_coordinator;
    std::string bytes;
    bool operator>(const Message& o) const { return due != o.due ? due > o.due : order > o.order; }
  };
  class AgentEnd;
  class CoordinatorEnd;
  struct AgentRun {
    Dataset data;
    std::string identity;
    std::unique_ptr<AgentEnd> link;
    std::unique_ptr<agent::AgentSession> session;
    double next_hello = 0;
    std::vector<Dataset> grown;  // appended to the "file", not read yet
    std::vector<int64_t> saved;
    Model model;  // the newest saved
  };
  void Refresh(AgentRun& a);
  void Post(size_t agent, bool to_coordinator, std::string_view bytes);
  void Deliver(double now);

  ManualClock clock_;
  LinkFaults faults_;
  Rng rng_;
  uint64_t order_ = 0;
  CollectingSink events_;
  std::unique_ptr<CoordinatorEnd> coordinator_end_;
  std::unique_ptr<coordinator::Driver> driver_;
  std::vector<std::unique_ptr<AgentRun>> agents_;
  std::priority_queue<Message, std::vector<Message>, std::greater<Message>> wire_;
};

}  // namespace edgetrain::testing

#endif  // EDGETRAIN_TESTS_SIM_CLUSTER_H_
