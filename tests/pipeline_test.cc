// The agents' pipelined inner loop against the real coordinator Driver, in one thread without
// sockets (sim_cluster.h): several Updates in flight, answers that add the others' changes, and
// the recovery from lost, duplicated and reordered messages; each run must reach the serial
// optimum, and every applied update must have been acknowledged to its agent as applied.
#include <cmath>
#include <string>

#include "cluster.h"
#include "doctest/doctest.h"
#include "sim_cluster.h"

namespace edgetrain {
namespace {

using testing::LinkFaults;
using testing::SimCluster;

coordinator::CoordinatorOptions InnerLoops(int min_agents) {
  coordinator::CoordinatorOptions o = testing::DriverRig::DefaultOptions();
  o.min_agents = min_agents;
  o.policy.newton_max_support = 0;
  o.policy.stop.max_epochs = 200;
  o.policy.stop.kkt_tolerance = 1e-8;
  o.policy.stop.tolerance = 0;
  o.max_staleness = 1 << 20;
  o.problem = testing::SpamSpec();
  return o;
}

void CheckRun(SimCluster& sim, int agents) {
  const coordinator::RunSummary& r = sim.driver().summary();
  const double reference = testing::SpamSerialOptimum();
  INFO("stop " << r.stop_reason << " objective " << r.objective << " epochs " << r.epochs);
  CHECK(r.stop_reason == "kkt");
  CHECK(std::fabs(r.objective - reference) <= 1e-6 * std::fabs(reference));
  int64_t acknowledged = 0;
  for (int i = 0; i < agents; ++i) acknowledged += sim.agent(i).summary().updates_applied;
  CHECK(acknowledged == r.updates_applied);
}

TEST_CASE("pipelined agents: several Updates in flight each, the serial optimum") {
  for (int agents : {1, 2, 4}) {
    CAPTURE(agents);
    SimCluster sim(InnerLoops(agents), LinkFaults{});
    agent::SessionOptions pipeline;
    pipeline.steps_per_update = 16;
    pipeline.max_in_flight = 4;
    for (int k = 0; k < agents; ++k) {
      sim.AddAgent(testing::SpamShard(k, agents), "line-" + std::to_string(k), pipeline);
    }
    REQUIRE(sim.Run(60));
    CheckRun(sim, agents);
    for (int k = 0; k < agents; ++k) {
      CHECK(sim.agent(k).summary().answers_out_of_order == 0);
      CHECK(sim.agent(k).summary().updates_resent == 0);
    }
  }
}

}  // namespace
}  // namespace edgetrain
