#include <cmath>
#include <cstdio>
#include <string>
#include "cluster.h"
#include "doctest/doctest.h"
#include "sim_cluster.h"
namespace edgetrain {
namespace {
using testing::LinkFaults;
using testing::SimCluster;
TEST_CASE("explore") {
  const double ref = testing::SpamSerialOptimum();
  for (int agents : {4}) {
    for (double scale : {2.0, 1.0, 0.5, 0.25}) {
      for (int stale : {1 << 20, 8}) {
        const int k = 16, depth = 1;
    coordinator::CoordinatorOptions o = testing::DriverRig::DefaultOptions();
    o.min_agents = agents; o.policy.newton_max_support = 0; o.policy.stop.max_epochs = 100;
    o.policy.stop.kkt_tolerance = 1e-8; o.policy.stop.tolerance = 0; o.max_staleness = stale;
    o.policy.steps.step_scale = scale; o.policy.stop.max_epochs = 60;
    o.problem = testing::SpamSpec();
    SimCluster sim(o, LinkFaults{});
    agent::SessionOptions p; p.steps_per_update = k; p.max_in_flight = depth;
    for (int a = 0; a < agents; ++a) sim.AddAgent(testing::SpamShard(a, agents), "l" + std::to_string(a), p);
    sim.Run(120);
    const auto& r = sim.driver().summary();
    int rollbacks = 0;
    for (const auto& e : sim.events().Of<coordinator::EpochBegan>()) rollbacks += e.decision.verdict == EpochDecision::Verdict::kRolledBack;
    std::printf("scale %.2f stale %d | agents %d k %3d depth %d: %s epochs %3lld subopt %.2e rollbacks %d\n", scale, stale, agents, k, depth, r.stop_reason.c_str(), (long long)r.epochs, (r.objective-ref)/ref, rollbacks);
      }
    }
  }
}
}  // namespace
}  // namespace edgetrain
