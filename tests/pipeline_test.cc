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

// The epoch policy is one object in both modes (runtime/include/edgetrain/epoch_policy.h). Both
// train-local and the coordinator's driver start from a model with the optimum's weights times
// -20 (a model gone bad) and a step 32x too large: the Newton direction from that point, where the
// logistic curvature is nearly zero, is far too long, so its line search fails and x returns to
// the start; the inner loops then roll back (halving the step) until they make progress, and both
// runs stop by --tol at the same optimum.
TEST_CASE("policy in both modes: a failed line search, rollbacks, then the stop by --tol") {
  EpochPolicyOptions policy;
  policy.steps.step_scale = 64;  // 32x the default
  policy.stop.max_epochs = 80;
  policy.stop.kkt_tolerance = 0;
  policy.stop.tolerance = 1e-6;
  const Dataset data = testing::LoadLibsvm(testing::SpamTrainPath());
  TrainOptions local;
  local.policy.stop.tolerance = 1e-9;
  Result<TrainResult> good = TrainLocal(data, testing::SpamSpec(), local, nullptr);
  REQUIRE(good.ok());
  std::vector<double> bad = good->x;
  for (double& v : bad) v *= -20;
  struct Count {
    int rejected = 0, rollbacks = 0;
    void Add(EpochDecision::Action a, EpochDecision::Verdict v) {
      rejected += a == EpochDecision::Action::kNewtonRejected;
      rollbacks += v == EpochDecision::Verdict::kRolledBack;
    }
  };
  // As train-local.
  local.policy = policy;
  local.start = bad;
  Count serial_count;
  double serial_first = 0;
  Result<TrainResult> serial =
      TrainLocal(data, testing::SpamSpec(), local, [&](const EpochReport& e) {
        if (e.epoch == 0) serial_first = e.objective;
        serial_count.Add(e.action, e.verdict);
      });
  REQUIRE(serial.ok());
  // As the coordinator's driver, with two agents, warm-started from the same model.
  coordinator::CoordinatorOptions o = InnerLoops(2);
  o.policy = policy;
  SimCluster sim(o, LinkFaults{}, 1, [&](coordinator::Driver& driver) {
    driver.RestorePublished(
        Model::FromVector(bad, data.dim(), Task::kClassification, testing::SpamSpec()), 1);
  });
  for (int k = 0; k < 2; ++k) sim.AddAgent(testing::SpamShard(k, 2), "line-" + std::to_string(k));
  REQUIRE(sim.Run(120));
  const coordinator::RunSummary& r = sim.driver().summary();
  Count driver_count;
  for (const auto& e : sim.events().Of<coordinator::EpochBegan>())
    driver_count.Add(e.decision.action, e.decision.verdict);
  // The driver reports the line search's trial points and its end as NewtonTrial events.
  for (const auto& e : sim.events().Of<coordinator::NewtonTrial>())
    driver_count.rejected += e.rejected;
  // Both start at the same point, the model in the user's units (the preconditioner is internal).
  REQUIRE(!sim.events().Of<coordinator::EpochBegan>().empty());
  CHECK(sim.events().Of<coordinator::EpochBegan>().front().report.objective ==
        doctest::Approx(serial_first).epsilon(1e-9));
  INFO("train-local: ", serial->stop_reason, " after ", serial->last.epoch, " epochs, ",
       serial_count.rejected, " failed line searches, ", serial_count.rollbacks,
       " rollbacks; driver: ", r.stop_reason, " after ", r.epochs, " epochs, ",
       driver_count.rejected, " failed line searches, ", driver_count.rollbacks, " rollbacks");
  CHECK(serial_count.rejected >= 1);
  CHECK(driver_count.rejected >= 1);
  CHECK(serial_count.rollbacks >= 1);
  CHECK(driver_count.rollbacks >= 1);
  CHECK(serial->stop_reason == "tol");
  CHECK(r.stop_reason == "tol");
  CHECK(serial->last.objective == doctest::Approx(good->last.objective).epsilon(2e-6));
  CHECK(r.objective == doctest::Approx(good->last.objective).epsilon(2e-6));
}

}  // namespace
}  // namespace edgetrain
