// What one faulty or hostile agent can do to the coordinator, each case of issue 15 as a
// regression: crafted messages through the real decoder into the socket-free Driver. Every case
// is refused or survived as docs/security.md ("Threat model") says.
#include <cmath>
#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "driver.h"
#include "driver_harness.h"
#include "edgetrain/readers.h"
#include "test_util.h"

namespace edgetrain {
namespace {

using coordinator::AgentJoined;
using coordinator::AgentLeft;
using coordinator::AgentRefused;
using coordinator::MessageRefused;
using testing::DriverRig;
using testing::FakeAgent;
using testing::Received;

coordinator::CoordinatorOptions InnerOnly() {
  coordinator::CoordinatorOptions o = DriverRig::DefaultOptions();
  o.policy.newton_max_support = 0;
  o.task = Task::kRegression;
  o.problem.loss = LossKind::kSquared;
  return o;
}

// Hello, a gradient sum of zeros and the inner loop's start for one regression agent.
void IntoInnerLoop(DriverRig* rig, FakeAgent* a, int32_t dim, int64_t rows) {
  a->Hello(rows, dim, {}, true, Task::kRegression);
  const std::vector<Received> inbox = a->Inbox();
  const auto* e = FakeAgent::Last<wire::EpochBeginMsg>(inbox);
  REQUIRE(e != nullptr);
  std::vector<double> g(dim, 1.0);  // not optimal: the run goes on
  wire::GradSumMsg sum;
  sum.epoch = e->epoch;
  sum.grad = VectorView::Dense(g.data(), dim);
  sum.loss_sum = 1.0;
  sum.smoothness.rows = rows;
  sum.smoothness.l_max = sum.smoothness.l_avg = sum.smoothness.l_full = sum.smoothness.l_q = 1;
  a->Send(sum);
  REQUIRE(rig->driver->state()->phase() == CoordinatorState::Phase::kInner);
  a->Inbox();
}

TEST_CASE("hostile: agent ids reused across connections never crash the coordinator") {
  DriverRig rig;
  auto c1 = rig.Agent("A1"), c2 = rig.Agent("A2"), c3 = rig.Agent("A1");
  c1->Hello(100, 10);
  // The same connection now claims another id: refused, the first id stays.
  wire::Encoder enc;
  std::vector<std::string_view> labels = {"-1", "+1"};
  wire::HelloMsg h;
  h.rows = 100;
  h.dimension = 10;
  h.labels = labels;
  const std::string_view bytes = enc.Encode(wire::Header{"A2", 0, 2}, h);
  rig.driver->Receive({c1->identity(), "10.0.0.1", ""}, bytes.data(), bytes.size());
  REQUIRE_FALSE(rig.events.Of<AgentRefused>().empty());
  CHECK(rig.events.Of<AgentRefused>().back().reason == "Duplicate");
  c2->Hello(100, 10);  // A2 from a second connection: admitted
  c3->Hello(100, 10);  // A1 from a third, same device: a restart, replacing the first
  CHECK(rig.driver->roster().size() == 2);
  CHECK(rig.events.Of<AgentLeft>().back().reason.find("replaced") != std::string::npos);
  c1->Send(wire::HeartbeatMsg{0, 0});  // the replaced connection is a stranger now
  CHECK(rig.events.Of<MessageRefused>().back().reason == "unknown_sender");
}

TEST_CASE("hostile: an id belongs to the key that first used it, a clash names both") {
  coordinator::CoordinatorOptions o = DriverRig::DefaultOptions();
  o.insecure = false;
  DriverRig rig(o);
  rig.driver->set_key_check([](std::string_view) { return true; });
  auto real = rig.Agent("line-1", "10.0.0.1", "KEY-REAL");
  auto thief = rig.Agent("line-1", "10.0.0.66", "KEY-THIEF");
  real->Hello(100, 10);
  real->Inbox();  // its Welcome
  thief->Hello(100, 10);
  const std::vector<Received> inbox = thief->Inbox();
  const auto* reject = FakeAgent::Last<wire::RejectMsg>(inbox);
  REQUIRE(reject != nullptr);
  CHECK(reject->reason == wire::RejectReason::kDuplicate);
  CHECK(reject->text.find("KEY-REAL") != std::string_view::npos);
  CHECK(reject->text.find("KEY-THIEF") != std::string_view::npos);
  CHECK(rig.driver->roster().size() == 1);
  // Even after the real device is gone the id stays its own for the run.
  real->Send(wire::ByeMsg{"restart"});
  thief->Hello(100, 10);
  CHECK(rig.driver->roster().size() == 0);
  real->Hello(100, 10);  // the real device comes back
  CHECK(rig.driver->roster().size() == 1);
}

TEST_CASE("hostile: two honest devices with one id (insecure: two addresses) are told so") {
  DriverRig rig;
  auto a = rig.Agent("plc", "10.0.0.1"), b = rig.Agent("plc", "10.0.0.2");
  a->Hello(100, 10);
  b->Hello(100, 10);
  const auto* reject = FakeAgent::Last<wire::RejectMsg>(b->Inbox());
  REQUIRE(reject != nullptr);
  CHECK(reject->reason == wire::RejectReason::kDuplicate);
  CHECK(reject->text.find("10.0.0.1") != std::string_view::npos);
}

TEST_CASE("hostile: memory stays bounded under a flood of ids and strangers") {
  DriverRig rig;
  auto a = rig.Agent("first");
  a->Hello(100, 10);
  wire::Encoder enc;
  std::vector<std::string_view> labels = {"-1"};
  wire::HelloMsg h;
  h.rows = 100;
  h.dimension = 10;
  h.labels = labels;
  for (int k = 0; k < 20000; ++k) {  // new ids on one connection
    const std::string id = "id-" + std::to_string(k);
    const std::string_view bytes = enc.Encode(wire::Header{id, 0, 1}, h);
    rig.driver->Receive({a->identity(), "10.0.0.1", ""}, bytes.data(), bytes.size());
  }
  CHECK(rig.driver->roster().size() == 1);
  CHECK(rig.driver->roster().bindings() == 1);
  for (int k = 0; k < 20000; ++k) {  // messages from strangers, each with a new id
    const std::string id = "x-" + std::to_string(k), conn = "stranger-" + std::to_string(k);
    const std::string_view bytes = enc.Encode(wire::Header{id, 7, 1}, wire::HeartbeatMsg{0, 0});
    const std::string address = "10.9." + std::to_string(k);
    rig.driver->Receive({conn, address, ""}, bytes.data(), bytes.size());
  }
  const size_t senders = rig.driver->roster().refused_by_sender().size();
  CHECK(senders <= coordinator::Roster::kMaxSenders + 1);
  CHECK(rig.driver->roster().size() == 1);
}

TEST_CASE("hostile: a Hello at the dimension cap is refused before anything is allocated") {
  DriverRig rig;
  auto a = rig.Agent("wide");
  a->Hello(100, kMaxModelDimension);
  const auto* reject = FakeAgent::Last<wire::RejectMsg>(a->Inbox());
  REQUIRE(reject != nullptr);
  CHECK(reject->reason == wire::RejectReason::kDimensionTooLarge);
  CHECK(rig.driver->state() == nullptr);
}

TEST_CASE("hostile: a gradient sum over more rows than the Hello declared drops the agent") {
  coordinator::CoordinatorOptions o = InnerOnly();
  o.min_agents = 2;
  DriverRig rig(o);
  auto honest = rig.Agent("honest", "10.0.0.1"), liar = rig.Agent("liar", "10.0.0.2");
  honest->Hello(800, 4, {}, true, Task::kRegression);
  liar->Hello(800, 4, {}, true, Task::kRegression);
  honest->Inbox();
  const auto* e = FakeAgent::Last<wire::EpochBeginMsg>(liar->Inbox());
  REQUIRE(e != nullptr);
  std::vector<double> g(4, 1.0);
  wire::GradSumMsg sum;
  sum.epoch = e->epoch;
  sum.grad = VectorView::Dense(g.data(), 4);
  sum.loss_sum = 1;
  sum.smoothness.rows = 1'000'000'000'000'000;
  sum.smoothness.l_max = sum.smoothness.l_avg = sum.smoothness.l_full = sum.smoothness.l_q = 1;
  liar->Send(sum);
  CHECK(rig.events.Of<AgentLeft>().back().agent == "liar");
  CHECK(rig.driver->state()->gradient_rows() == 0);  // nothing of it was added
}

TEST_CASE("hostile: two huge Deltas cannot make the model infinite") {
  DriverRig rig(InnerOnly());
  auto a = rig.Agent("poison");
  IntoInnerLoop(&rig, a.get(), 4, 100);
  const std::vector<int32_t> idx = {1};
  const std::vector<double> big = {1.7e308};
  const VectorView delta{idx.data(), big.data(), 1, 4};
  const VectorView none{nullptr, nullptr, 0, 4};
  const int64_t epoch = rig.driver->state()->epoch();
  a->Send(wire::UpdateMsg{epoch, 0, delta, none});
  a->Send(wire::UpdateMsg{epoch, 1, delta, none});
  for (double v : rig.driver->state()->x()) CHECK(std::isfinite(v));
  const auto* answer = FakeAgent::Last<wire::ModelMsg>(a->Inbox());
  REQUIRE(answer != nullptr);
  CHECK_FALSE(answer->applied);
}

TEST_CASE("hostile: the time limit holds while an agent never answers the gradient phase") {
  coordinator::CoordinatorOptions o = InnerOnly();
  o.gradient_timeout = 1000;      // without the time limit this phase would wait 1000 s
  o.heartbeat_patience = 100000;  // b is SIGSTOPped, not gone: its connection stays
  o.policy.stop.time_limit = 8;
  DriverRig rig(o);
  auto a = rig.Agent("a", "10.0.0.1"), stopped = rig.Agent("b", "10.0.0.2");
  IntoInnerLoop(&rig, a.get(), 4, 100);
  stopped->Hello(100, 4, {}, true, Task::kRegression);  // joins, then never answers
  rig.Run(20, 0.25);  // a's inner loop stalls (5 s), the next gradient phase waits for b
  const bool ended = rig.driver->stopping() || rig.driver->done();
  CHECK(ended);
  CHECK(rig.clock.Now() - 1000.0 <= 20);
  CHECK(rig.driver->summary().stop_reason == "time-limit");
}

TEST_CASE("hostile: a live agent that never answers gradient phases is dropped, then benched") {
  coordinator::CoordinatorOptions o = InnerOnly();
  o.min_agents = 2;
  o.gradient_timeout = 2;
  o.gradient_timeouts_to_drop = 3;
  DriverRig rig(o);
  auto honest = rig.Agent("honest", "10.0.0.1"), mute = rig.Agent("mute", "10.0.0.2");
  honest->Hello(100, 4, {}, true, Task::kRegression);
  mute->Hello(100, 4, {}, true, Task::kRegression);
  std::vector<double> g(4, 1.0);
  for (int epoch = 0; epoch < 3; ++epoch) {
    const auto* e = FakeAgent::Last<wire::EpochBeginMsg>(honest->Inbox());
    REQUIRE(e != nullptr);
    wire::GradSumMsg sum;
    sum.epoch = e->epoch;
    sum.grad = VectorView::Dense(g.data(), 4);
    sum.loss_sum = 1;
    sum.smoothness.rows = 100;
    sum.smoothness.l_max = sum.smoothness.l_avg = sum.smoothness.l_full = sum.smoothness.l_q = 1;
    honest->Send(sum);
    mute->Send(wire::HeartbeatMsg{0, 0});
    for (int t = 0; t < 9; ++t) {  // 2.25 s: the mute agent's gradient phase times out
      rig.clock.Advance(0.25);
      honest->Send(wire::HeartbeatMsg{0, 0});
      mute->Send(wire::HeartbeatMsg{0, 0});
      rig.driver->Tick();
    }
    // The honest agent's inner loop stalls (it sends nothing): the next epoch starts.
    rig.Run(5.5, 0.25);
    honest->Send(wire::HeartbeatMsg{0, 0});
  }
  bool dropped = false;
  for (const AgentLeft& l : rig.events.Of<AgentLeft>()) dropped |= l.agent == "mute";
  CHECK(dropped);
  mute->Hello(100, 4, {}, true, Task::kRegression);
  const auto* reject = FakeAgent::Last<wire::RejectMsg>(mute->Inbox());
  REQUIRE(reject != nullptr);
  CHECK(reject->reason == wire::RejectReason::kNotWelcome);
}

TEST_CASE("hostile: the time limit ends the run when the last agent leaves its last evaluation") {
  coordinator::CoordinatorOptions o = InnerOnly();
  o.policy.stop.time_limit = 3;
  DriverRig rig(o);
  auto a = rig.Agent("leaver");
  IntoInnerLoop(&rig, a.get(), 4, 100);
  rig.Run(3.1, 0.25);  // the time limit: one last gradient phase evaluates the model
  REQUIRE(FakeAgent::Last<wire::EpochBeginMsg>(a->Inbox()) != nullptr);
  REQUIRE_FALSE(rig.driver->stopping());
  a->Send(wire::ByeMsg{"shutting down"});  // nobody is left to evaluate it, nobody will come
  rig.Run(0.5, 0.25);
  CHECK(rig.driver->done());
  CHECK(rig.driver->summary().stop_reason == "time-limit");
}

}  // namespace
}  // namespace edgetrain
