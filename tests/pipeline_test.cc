// The agents' pipelined inner loop against the real coordinator Driver, in one thread without
// sockets (sim_cluster.h): several Updates in flight, answers that add the others' changes,
// damped concurrent updates, and the recovery from lost, duplicated and reordered messages. Each
// run must reach the serial optimum without a rollback, and every applied update must have been
// acknowledged to its agent as applied.
#include <cmath>
#include <string>

#include "cluster.h"
#include "doctest/doctest.h"
#include "edgetrain/local_trainer.h"
#include "sim_cluster.h"
#include "test_util.h"

namespace edgetrain {
namespace {

using testing::LinkFaults;
using testing::SimCluster;

coordinator::CoordinatorOptions InnerLoops(int min_agents) {
  coordinator::CoordinatorOptions o = testing::DriverRig::DefaultOptions();
  o.min_agents = min_agents;
  o.policy.newton_max_support = 0;
  o.policy.stop.max_epochs = 60;
  o.policy.stop.kkt_tolerance = 1e-8;
  o.policy.stop.tolerance = 0;
  o.problem = testing::SpamSpec();
  return o;
}

struct Outcome {
  int64_t epochs = 0;
  int rollbacks = 0;
};

Outcome RunAgents(int agents, LinkFaults faults, agent::SessionOptions pipeline,
                  uint64_t seed = 1) {
  SimCluster sim(InnerLoops(agents), faults, seed);
  for (int k = 0; k < agents; ++k) {
    sim.AddAgent(testing::SpamShard(k, agents), "line-" + std::to_string(k), pipeline);
  }
  REQUIRE(sim.Run(120));
  const coordinator::RunSummary& r = sim.driver().summary();
  const double reference = testing::SpamSerialOptimum();
  INFO("agents " << agents << " stop " << r.stop_reason << " objective " << r.objective
                 << " epochs " << r.epochs);
  CHECK(r.stop_reason == "kkt");
  CHECK(std::fabs(r.objective - reference) <= 1e-6 * std::fabs(reference));
  // No update applied twice, and each agent learnt of every one of its own that was applied.
  int64_t acknowledged = 0;
  for (int i = 0; i < agents; ++i) acknowledged += sim.agent(i).summary().updates_applied;
  CHECK(acknowledged == r.updates_applied);
  Outcome out;
  out.epochs = r.epochs;
  for (const auto& e : sim.events().Of<coordinator::EpochBegan>()) {
    out.rollbacks += e.decision.verdict == EpochDecision::Verdict::kRolledBack;
  }
  return out;
}

TEST_CASE("pipelined agents: 1, 2, 4 and 8 agents, 4 Updates of 64 steps in flight each") {
  agent::SessionOptions pipeline;
  pipeline.steps_per_update = 64;
  pipeline.max_in_flight = 4;
  const Outcome two = RunAgents(2, LinkFaults{}, pipeline);
  CHECK(two.rollbacks == 0);
  for (int agents : {1, 4, 8}) {
    const Outcome o = RunAgents(agents, LinkFaults{}, pipeline);
    CHECK(o.rollbacks == 0);
    INFO("agents " << agents << ": " << o.epochs << " epochs, 2 agents " << two.epochs);
    CHECK(o.epochs <= two.epochs + 2);  // more agents, no more epochs (issue 12)
  }
}

TEST_CASE("pipelined agents: lost, duplicated and reordered messages on every link") {
  agent::SessionOptions pipeline;
  pipeline.steps_per_update = 16;
  pipeline.max_in_flight = 4;
  LinkFaults faults;
  faults.latency = 200e-6;
  faults.jitter = 300e-6;  // answers overtake each other
  faults.drop = 0.03;
  faults.duplicate = 0.03;
  const Outcome o = RunAgents(3, faults, pipeline, 7);
  CHECK(o.rollbacks == 0);
}

// The epoch policy is one object in both modes (runtime/include/edgetrain/epoch_policy.h): a step
// far too large makes both train-local and the coordinator's driver roll back (halving the step)
// until the inner loops make progress, and both then stop by --tol at the same optimum.
TEST_CASE("policy in both modes: a step 32x too large rolls back, then the run stops by --tol") {
  EpochPolicyOptions policy;
  policy.newton_max_support = 0;
  policy.steps.step_scale = 64;  // 32x the default
  policy.stop.max_epochs = 80;
  policy.stop.kkt_tolerance = 0;
  policy.stop.tolerance = 1e-6;
  auto rollbacks_in = [](const auto& verdicts) {
    int n = 0;
    for (EpochDecision::Verdict v : verdicts) n += v == EpochDecision::Verdict::kRolledBack;
    return n;
  };
  // As train-local.
  TrainOptions local;
  local.policy = policy;
  std::vector<EpochDecision::Verdict> local_verdicts;
  Result<TrainResult> serial =
      TrainLocal(testing::LoadLibsvm(testing::SpamTrainPath()), testing::SpamSpec(), local,
                 [&](const EpochReport& e) { local_verdicts.push_back(e.verdict); });
  REQUIRE(serial.ok());
  // As the coordinator's driver, with two agents.
  coordinator::CoordinatorOptions o = InnerLoops(2);
  o.policy = policy;
  SimCluster sim(o, LinkFaults{}, 1);
  for (int k = 0; k < 2; ++k) sim.AddAgent(testing::SpamShard(k, 2), "line-" + std::to_string(k));
  REQUIRE(sim.Run(120));
  const coordinator::RunSummary& r = sim.driver().summary();
  std::vector<EpochDecision::Verdict> driver_verdicts;
  for (const auto& e : sim.events().Of<coordinator::EpochBegan>())
    driver_verdicts.push_back(e.decision.verdict);
  INFO("train-local: ", serial->stop_reason, " after ", serial->last.epoch, " epochs, ",
       rollbacks_in(local_verdicts), " rollbacks; driver: ", r.stop_reason, " after ", r.epochs,
       " epochs, ", rollbacks_in(driver_verdicts), " rollbacks");
  CHECK(rollbacks_in(local_verdicts) >= 1);
  CHECK(rollbacks_in(driver_verdicts) >= 1);
  CHECK(serial->stop_reason == "tol");
  CHECK(r.stop_reason == "tol");
  CHECK(r.objective == doctest::Approx(serial->last.objective).epsilon(2e-6));
}

}  // namespace
}  // namespace edgetrain
