// Distributed DAP-SVRG in one process (tests/cluster.h): a Coordinator and EdgeAgents on threads,
// talking over real ZeroMQ TCP sockets on 127.0.0.1 (ephemeral ports read back), on bundled real
// data. Checked against the serial optimum (TrainLocal) and through the coordinator's log stream.
#include <chrono>
#include <cmath>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "cluster.h"
#include "doctest/doctest.h"
#include "edgetrain/wire.h"
#include "json_util.h"
#include "test_util.h"

namespace edgetrain {
namespace {

using coordinator::CoordinatorOptions;
using coordinator::RunSummary;
using testing::Cluster;

void CheckOptimum(const RunSummary& r) {
  const double reference = testing::SpamSerialOptimum();
  INFO("distributed ", r.objective, " serial ", reference, " stop ", r.stop_reason);
  CHECK(r.stop_reason == "kkt");
  CHECK(r.kkt <= 1e-8);
  CHECK(std::fabs(r.objective - reference) <= 1e-6 * std::fabs(reference));
  CHECK(testing::SpamObjective(r.x) == doctest::Approx(r.objective).epsilon(1e-12));
}

// Inner loops only (DAP-SVRG proper), unless a test turns the Newton epochs on: the membership
// tests need runs long enough to join and leave mid-way, and the update accounting needs updates.
CoordinatorOptions Options(int min_agents) {
  CoordinatorOptions o;
  o.policy.newton_max_support = 0;
  o.insecure = true;  // CURVE has its own tests (security_test.cc)
  o.min_agents = min_agents;
  o.policy.stop.max_epochs = 100;
  o.policy.stop.kkt_tolerance = 1e-8;
  o.policy.stop.tolerance = 0;  // stop on the KKT violation alone
  o.heartbeat_interval = 0.2;
  o.heartbeat_patience = 10;
  o.gradient_timeout = 2;
  return o;
}

void RunWithAgents(int k) {
  Cluster cluster(Options(k));
  for (int i = 0; i < k; ++i) cluster.AddAgent(i, k);
  const RunSummary& r = cluster.Wait();
  CheckOptimum(r);
  CHECK(r.agents_joined == k);
  // Every applied update was acknowledged to its agent as applied, and no other.
  int64_t acknowledged = 0;
  for (int i = 0; i < k; ++i) {
    REQUIRE(cluster.agent_result(i).ok());
    CHECK(cluster.agent_result(i)->stop_reason == "stop: kkt");
    acknowledged += cluster.agent_result(i)->updates_applied;
  }
  CHECK(acknowledged == r.updates_applied);
  CHECK(r.messages_refused == 0);
  // The log stream told the same story.
  CHECK(cluster.log().WaitFor(
      [](const testing::Json& e) { return testing::Str(e, "event") == "run_finished"; }, 5));
  const auto finished = cluster.log().Events("run_finished");
  REQUIRE(finished.size() == 1);
  CHECK(testing::Num(finished[0], "updates_applied") == static_cast<double>(r.updates_applied));
  int64_t applied_by_epoch = 0;
  for (const testing::Json& e : cluster.log().Events("epoch_end"))
    applied_by_epoch += static_cast<int64_t>(testing::Num(e, "updates_applied"));
  CHECK(applied_by_epoch == r.updates_applied);
}

TEST_CASE("1 agent reaches the serial optimum") { RunWithAgents(1); }
TEST_CASE("2 agents reach the serial optimum") { RunWithAgents(2); }
TEST_CASE("4 agents reach the serial optimum") { RunWithAgents(4); }
TEST_CASE("8 agents reach the serial optimum") { RunWithAgents(8); }

TEST_CASE(
    "Newton epochs: 3 agents' Hessian blocks summed give the serial optimum in a few epochs") {
  CoordinatorOptions o = Options(3);
  o.policy.newton_max_support = 2000;
  Cluster cluster(o);
  for (int i = 0; i < 3; ++i) cluster.AddAgent(i, 3);
  const RunSummary& r = cluster.Wait();
  CheckOptimum(r);
  INFO("epochs ", r.epochs, ", Newton steps ", r.newton_steps, ", taken back ", r.newton_rejected);
  CHECK(r.newton_steps >= 3);
  CHECK(r.epochs <= 15);  // inner loops alone need several times as many (the tests above)
  const auto newton = cluster.log().Events("newton");
  REQUIRE(!newton.empty());
  for (const testing::Json& e : newton) {
    CHECK(testing::Num(e, "rows") == 1600);  // every row's curvature, from all three agents
    CHECK(testing::Num(e, "support") <= 2000);
  }
  for (int i = 0; i < 3; ++i) {
    REQUIRE(cluster.agent_result(i).ok());
    CHECK(cluster.agent_result(i)->stop_reason == "stop: kkt");
  }
}

TEST_CASE(
    "Newton epochs: an agent that dies mid-run does not stall them, the others finish on their "
    "rows") {
  CoordinatorOptions o = Options(3);
  o.policy.newton_max_support = 2000;
  o.policy.stop.kkt_tolerance =
      0;  // never met: the run goes on after the optimum, so the death lands mid-run
  o.policy.stop.tolerance = 0;
  o.policy.stop.max_epochs = 40;
  Cluster cluster(o);
  cluster.AddAgent(0, 3);
  const size_t victim = cluster.AddAgent(1, 3, /*say_bye=*/false);
  cluster.AddAgent(2, 3);
  REQUIRE(cluster.log().WaitFor(
      [](const testing::Json& e) { return testing::Str(e, "event") == "newton"; }, 30));
  cluster.StopAgent(
      victim);  // no Bye: curvature or gradient phases wait for it in vain, then go on
  const RunSummary& r = cluster.Wait();
  INFO("stopped: ", r.stop_reason, " after ", r.epochs, " epochs, ", r.seconds, " s");
  CHECK(r.stop_reason == "max-epochs");
  CHECK(r.kkt <= 1e-8);  // the optimum of the rows still present, certified
  CHECK(r.rows < 1600);
  // Newton epochs went on with the two agents left: blocks of their rows only, steps taken.
  bool two_left = false;
  for (const testing::Json& e : cluster.log().Events("newton")) {
    two_left = two_left || (testing::Bool(e, "taken") &&
                            testing::Num(e, "rows") == static_cast<double>(r.rows));
  }
  CHECK(two_left);
}

TEST_CASE("a late joiner is welcomed with the current model and takes part") {
  Cluster cluster(Options(2));
  // The first two are slowed down, so the run is still going when the third comes.
  for (int k = 0; k < 2; ++k) {
    testing::AgentSpec spec;
    spec.shard = k;
    spec.shards = 3;
    spec.throttle = 20;
    cluster.AddAgent(spec);
  }
  REQUIRE(cluster.log().WaitFor(
      [](const testing::Json& e) {
        return testing::Str(e, "event") == "epoch_begin" && testing::Num(e, "epoch") >= 2;
      },
      30));
  const size_t late = cluster.AddAgent(2, 3);
  const RunSummary& r = cluster.Wait();
  CheckOptimum(r);
  CHECK(r.agents_joined == 3);
  REQUIRE(cluster.agent_result(late).ok());
  CHECK(cluster.agent_result(late)->epochs > 0);
  CHECK(cluster.agent_result(late)->updates_applied > 0);
  // Once it had joined, epochs had three agents and all the rows.
  bool three = false;
  for (const testing::Json& e : cluster.log().Events("epoch_begin"))
    three = three || (testing::Num(e, "agents") == 3 && testing::Num(e, "rows") == 1600);
  CHECK(three);
}

TEST_CASE("an agent that dies mid-epoch does not stall the run beyond the timeout") {
  Cluster cluster(Options(3));
  cluster.AddAgent(0, 3);
  const size_t victim = cluster.AddAgent(1, 3, /*say_bye=*/false);
  cluster.AddAgent(2, 3);
  // epoch_begin is published as the inner phase starts: the agent dies mid-epoch.
  REQUIRE(cluster.log().WaitFor(
      [](const testing::Json& e) {
        return testing::Str(e, "event") == "epoch_begin" && testing::Num(e, "epoch") >= 2;
      },
      30));
  const auto died = std::chrono::steady_clock::now();
  cluster.StopAgent(victim);  // no Bye: the coordinator must notice by itself
  REQUIRE(cluster.log().WaitFor(
      [](const testing::Json& e) {
        return testing::Str(e, "event") == "gradient_timeout" ||
               (testing::Str(e, "event") == "agent_left" &&
                testing::Str(e, "agent") == "agent-1of3");
      },
      10));
  // Noticed within the gradient timeout (2 s) or the heartbeat patience (0.2 s x 10), plus slack.
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - died).count() < 6.0);
  const RunSummary& r = cluster.Wait();
  // The optimum of the rows still present, certified.
  CHECK(r.stop_reason == "kkt");
  CHECK(r.kkt <= 1e-8);
  CHECK(r.rows < 1600);
}

TEST_CASE(
    "malformed, truncated, wrong-dimension and NaN messages are refused and logged while training "
    "goes on") {
  Cluster cluster(Options(2));
  cluster.AddAgent(0, 2);
  cluster.AddAgent(1, 2);
  REQUIRE(cluster.log().WaitFor(
      [](const testing::Json& e) {
        return testing::Str(e, "event") == "epoch_begin" && testing::Num(e, "epoch") >= 1;
      },
      30));
  // A rogue connection, as an attacker or a broken device would be.
  zmq::socket_t rogue(cluster.context(), zmq::socket_type::dealer);
  rogue.set(zmq::sockopt::linger, 0);
  rogue.connect(cluster.endpoint());
  wire::Encoder e;
  const int64_t p = 10445;
  const wire::Header h{"rogue", 1, 1};
  ModelUpdate wide;
  wide.Reset(p + 1);
  wide.delta.Push(static_cast<int32_t>(p), 1.0);
  ModelUpdate nan;
  nan.Reset(p);
  nan.delta.Push(7, std::nan(""));
  ModelUpdate fine;
  fine.Reset(p);
  fine.delta.Push(7, 100.0);
  auto update = [&](const ModelUpdate& u) {
    return std::string(e.Encode(h, wire::UpdateMsg{1, 0, u.delta.View(), u.guarded.View()}));
  };
  const std::string wrong_dim = update(wide);
  const std::string with_nan = update(nan);
  const std::string unknown = update(fine);
  const std::string truncated = unknown.substr(0, unknown.size() / 2);
  const std::string garbage = "this is not a FlatBuffer, just bytes on the wire";
  for (const std::string& m : {garbage, truncated, wrong_dim, with_nan, unknown}) {
    rogue.send(zmq::buffer(m), zmq::send_flags::none);
  }
  REQUIRE(cluster.log().WaitFor(
      [](const testing::Json& ev) {
        return testing::Str(ev, "event") == "message_refused" &&
               testing::Str(ev, "reason") == "unknown_sender";
      },
      10));
  const RunSummary& r = cluster.Wait();
  CheckOptimum(r);  // none of it was applied
  CHECK(r.messages_refused == 5);
  const auto refused = cluster.log().Events("message_refused");
  REQUIRE(refused.size() == 5);
  int malformed = 0;
  for (const testing::Json& ev : refused) {
    CHECK(testing::Str(ev, "peer") == "127.0.0.1");
    malformed += testing::Str(ev, "reason") == "malformed";
  }
  CHECK(malformed == 4);
  bool dimension = false, non_finite = false;
  for (const testing::Json& ev : refused) {
    dimension = dimension || testing::Str(ev, "detail").find("dimension 10446, expected 10445") !=
                                 std::string::npos;
    non_finite = non_finite || testing::Str(ev, "detail").find("non-finite") != std::string::npos;
  }
  CHECK(dimension);
  CHECK(non_finite);
}

}  // namespace
}  // namespace edgetrain
