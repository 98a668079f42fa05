// The coordinator's Driver at the speed of its logic: a manual clock, a scripted outbox and fake
// agents speaking the real wire format. Admission, the epoch phases, timeouts, repeats, late
// joiners, dead agents, malformed input, revoked keys, Newton epochs and the end of a run, each
// in milliseconds and without a socket.
#include "driver.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "console_sink.h"
#include "doctest/doctest.h"
#include "driver_harness.h"
#include "edgetrain/readers.h"
#include "edgetrain/support_newton.h"
#include "edgetrain/svrg_worker.h"
#include "test_util.h"

namespace edgetrain {
namespace {

using coordinator::AgentJoined;
using coordinator::AgentLeft;
using coordinator::AgentRefused;
using coordinator::EpochBegan;
using coordinator::GradientTimeout;
using coordinator::MessageRefused;
using testing::DriverRig;
using testing::FakeAgent;
using testing::Received;

const Dataset& Spam() {
  static const Dataset data = testing::LoadLibsvm(testing::SourcePath("data/spam/train.svm"));
  return data;
}

// An agent holding shard k of n of the spam data that answers the gradient phase honestly.
struct ShardAgent {
  ShardAgent(DriverRig* on, int k, int n, const std::string& address = "10.0.0.1")
      : rig(on), shard(Spam().Shard(k, n)) {
    agent = on->Agent("line-" + std::to_string(k), address);
  }
  void Hello() { agent->Hello(shard.rows(), shard.dim()); }
  // Answers the newest EpochBegin in `inbox` with its gradient sum; false if there is none.
  bool AnswerEpoch(const std::vector<Received>& inbox) {
    const auto* e = FakeAgent::Last<wire::EpochBeginMsg>(inbox);
    if (e == nullptr) return false;
    widened = shard;
    widened.set_dim(
        static_cast<int32_t>(e->snapshot.dim - (rig->options.problem.intercept ? 1 : 0)));
    agent->Send(
        testing::GradSumOf(widened, rig->options.problem, e->snapshot, e->epoch, &grad, &dual));
    return true;
  }
  DriverRig* rig;
  Dataset shard, widened;
  std::unique_ptr<FakeAgent> agent;
  std::vector<double> grad;
  DualSums dual;
};

TEST_CASE("driver: agents are welcomed when --min-agents have joined, then the first epoch") {
  coordinator::CoordinatorOptions o = DriverRig::DefaultOptions();
  o.min_agents = 2;
  DriverRig rig(o);
  ShardAgent a(&rig, 0, 2), b(&rig, 1, 2);
  a.Hello();
  CHECK(a.agent->Inbox().empty());  // waiting for the second agent
  a.Hello();                        // a repeated Hello while waiting changes nothing
  CHECK(rig.events.Of<AgentJoined>().size() == 1);
  b.Hello();
  for (ShardAgent* s : {&a, &b}) {
    const std::vector<Received> inbox = s->agent->Inbox();
    REQUIRE(inbox.size() == 2);
    const auto* w = inbox[0].As<wire::WelcomeMsg>();
    REQUIRE(w != nullptr);
    CHECK(w->dimension == Spam().dim());
    CHECK(SameLabel(w->label_positive, "1"));
    CHECK(inbox[1].As<wire::EpochBeginMsg>() != nullptr);
  }
  CHECK(rig.driver->state()->phase() == CoordinatorState::Phase::kGradient);
}

TEST_CASE("driver: the gradient sums of two shards give the whole data's objective") {
  coordinator::CoordinatorOptions o = DriverRig::DefaultOptions();
  o.min_agents = 2;
  o.policy.newton_max_support = 0;
  DriverRig rig(o);
  ShardAgent a(&rig, 0, 2), b(&rig, 1, 2);
  a.Hello();
  b.Hello();
  REQUIRE(a.AnswerEpoch(a.agent->Inbox()));
  CHECK(rig.events.Of<EpochBegan>().empty());  // still waiting for b
  REQUIRE(b.AnswerEpoch(b.agent->Inbox()));
  const std::vector<EpochBegan> began = rig.events.Of<EpochBegan>();
  REQUIRE(began.size() == 1);
  CHECK(began[0].report.objective == doctest::Approx(std::log(2.0)).epsilon(1e-12));  // x = 0
  CHECK(began[0].report.rows == Spam().rows());
  CHECK(std::isfinite(began[0].report.relative_gap));
  CHECK(began[0].decision.action == EpochDecision::Action::kInner);
  const auto* loop = FakeAgent::Last<wire::InnerLoopMsg>(a.agent->Inbox());
  REQUIRE(loop != nullptr);
  CHECK(loop->eta == doctest::Approx(began[0].decision.plan.eta));
  CHECK(loop->inner_steps == began[0].decision.plan.inner_steps);
}

TEST_CASE("driver: a silent agent gets EpochBegin again, then the epoch goes on without it") {
  coordinator::CoordinatorOptions o = DriverRig::DefaultOptions();
  o.min_agents = 2;
  o.policy.newton_max_support = 0;
  DriverRig rig(o);
  ShardAgent a(&rig, 0, 2), b(&rig, 1, 2);
  a.Hello();
  b.Hello();
  REQUIRE(a.AnswerEpoch(a.agent->Inbox()));
  b.agent->Inbox();
  // b stays silent (but keeps its heartbeat going): after two heartbeats it hears EpochBegin again.
  rig.Run(2.2);
  b.agent->Send(wire::HeartbeatMsg{1, 0});
  CHECK(FakeAgent::Last<wire::EpochBeginMsg>(b.agent->Inbox()) != nullptr);
  CHECK(rig.events.Of<EpochBegan>().empty());
  a.agent->Send(wire::HeartbeatMsg{1, 0});
  rig.Run(3.0);  // the gradient timeout (5 s) passes
  const std::vector<GradientTimeout> timeouts = rig.events.Of<GradientTimeout>();
  REQUIRE(timeouts.size() == 1);
  CHECK(timeouts[0].agent == "line-1");
  const std::vector<EpochBegan> began = rig.events.Of<EpochBegan>();
  REQUIRE(began.size() == 1);
  CHECK(began[0].report.rows == a.shard.rows());  // the epoch over a's rows alone
}

TEST_CASE("driver: an agent silent for heartbeat x patience is dropped, and the run waits") {
  DriverRig rig;
  ShardAgent a(&rig, 0, 1);
  a.Hello();
  a.agent->Inbox();
  rig.Run(10.5);
  const std::vector<AgentLeft> left = rig.events.Of<AgentLeft>();
  REQUIRE(left.size() == 1);
  CHECK(left[0].reason.find("silent") != std::string::npos);
  CHECK(rig.driver->roster().size() == 0);
  CHECK_FALSE(rig.driver->done());
}

TEST_CASE("driver: a late joiner gets the current model and takes part from the next epoch") {
  coordinator::CoordinatorOptions o = DriverRig::DefaultOptions();
  o.policy.newton_max_support = 0;
  DriverRig rig(o);
  ShardAgent a(&rig, 0, 2), b(&rig, 1, 2);
  a.Hello();
  REQUIRE(a.AnswerEpoch(a.agent->Inbox()));  // epoch 0 with a alone; its inner loop begins
  b.Hello();
  std::vector<Received> inbox = b.agent->Inbox();
  REQUIRE(inbox.size() == 1);
  const auto* w = inbox[0].As<wire::WelcomeMsg>();
  REQUIRE(w != nullptr);
  CHECK(w->epoch == rig.driver->state()->epoch());
  CHECK(w->version == rig.driver->state()->version());
  // a leaves (Bye): nobody is in the inner loop, so the next epoch starts, with b.
  a.agent->Send(wire::ByeMsg{"bye"});
  inbox = b.agent->Inbox();
  REQUIRE(b.AnswerEpoch(inbox));
  const std::vector<EpochBegan> began = rig.events.Of<EpochBegan>();
  REQUIRE(began.size() == 2);
  CHECK(began[1].report.rows == b.shard.rows());
  CHECK(began[1].decision.verdict == EpochDecision::Verdict::kBaseline);  // other rows
}

TEST_CASE("driver: malformed messages are refused and counted, a flood is summarised") {
  DriverRig rig;
  auto agent = rig.Agent("press-7");
  agent->Deliver("not a flatbuffer at all");
  std::vector<MessageRefused> refused = rig.events.Of<MessageRefused>();
  REQUIRE(refused.size() == 1);
  CHECK(refused[0].reason == "malformed");
  for (int k = 0; k < 500; ++k) agent->Deliver(std::string(64, static_cast<char>(k)));
  CHECK(rig.events.Of<MessageRefused>().size() <= 20);  // rate limited
  rig.clock.Advance(11);
  agent->Deliver("again");
  refused = rig.events.Of<MessageRefused>();
  CHECK(refused[refused.size() - 2].reason == "summary");
  CHECK(rig.driver->roster().refused() == 502);
  // Before Hello, a valid message is refused and answered with NotWelcome.
  agent->Send(wire::HeartbeatMsg{0, 0});
  const std::vector<Received> inbox = agent->Inbox();
  const auto* reject = FakeAgent::Last<wire::RejectMsg>(inbox);
  REQUIRE(reject != nullptr);
  CHECK(reject->reason == wire::RejectReason::kNotWelcome);
}

// One agent of a run with inner loops only, past its first gradient phase: `loop` is its InnerLoop.
struct OneAgentInnerLoop {
  static coordinator::CoordinatorOptions Options() {
    coordinator::CoordinatorOptions o = DriverRig::DefaultOptions();
    o.policy.newton_max_support = 0;
    return o;
  }
  OneAgentInnerLoop() : o(Options()), rig(o), a(&rig, 0, 1) {
    a.Hello();
    REQUIRE(a.AnswerEpoch(a.agent->Inbox()));
    inbox = a.agent->Inbox();
    loop = FakeAgent::Last<wire::InnerLoopMsg>(inbox);
    REQUIRE(loop != nullptr);
  }
  coordinator::CoordinatorOptions o;
  DriverRig rig;
  ShardAgent a;
  std::vector<Received> inbox;
  const wire::InnerLoopMsg* loop = nullptr;
};

TEST_CASE("driver: a repeated Update is answered again and never applied twice") {
  OneAgentInnerLoop run;
  const coordinator::CoordinatorOptions& o = run.o;
  DriverRig& rig = run.rig;
  ShardAgent& a = run.a;
  const wire::InnerLoopMsg* loop = run.loop;
  // One real inner step from the shard.
  SvrgWorker worker(&a.shard, o.problem, 1);
  std::vector<double> x(Spam().dim(), 0.0), g(Spam().dim());
  double loss = 0;
  worker.ComputeSnapshot(x.data(), g.data(), &loss);
  std::vector<double> mu(loop->mu.value, loop->mu.value + loop->mu.count);
  worker.BeginEpoch(mu.data(), loop->eta, loop->batch);
  ModelUpdate update;
  update.Reset(Spam().dim());
  worker.Step({x.data(), static_cast<int64_t>(x.size()), nullptr, 0, true}, &update);
  a.agent->Send(wire::UpdateMsg{loop->epoch, 0, update.delta.View(), update.guarded.View()});
  const int64_t version = rig.driver->state()->version();
  CHECK(version == 1);
  a.agent->Repeat();
  CHECK(rig.driver->state()->version() == 1);
  const std::vector<Received> answers = a.agent->Inbox();
  REQUIRE(answers.size() == 2);
  CHECK(answers[0].As<wire::ModelMsg>()->applied);
  CHECK_FALSE(answers[1].As<wire::ModelMsg>()->applied);
  CHECK(answers[1].As<wire::ModelMsg>()->since == -1);  // the whole model
}

TEST_CASE("driver: the status event's health of an agent: round trip, last message, refusals") {
  OneAgentInnerLoop run;
  DriverRig& rig = run.rig;
  ShardAgent& a = run.a;
  const int64_t epoch = run.loop->epoch;
  std::vector<int32_t> idx = {0};
  std::vector<double> val = {1e-3};
  const VectorView delta{idx.data(), val.data(), 1, Spam().dim()};
  a.agent->Send(wire::UpdateMsg{epoch, 0, delta, {}, 1, 2500});
  a.agent->Send(wire::UpdateMsg{epoch + 7, 0, delta, {}, 1, 2500});  // not this epoch: refused
  a.agent->Send(wire::HeartbeatMsg{epoch, 1, 3000});
  rig.Run(1.5);
  const std::vector<coordinator::RunStatus> status = rig.events.Of<coordinator::RunStatus>();
  REQUIRE_FALSE(status.empty());
  const coordinator::RunStatus& s = status.back();
  CHECK(s.insecure);
  REQUIRE(s.agent_status.size() == 1);
  const coordinator::AgentStatus& h = s.agent_status[0];
  CHECK(h.updates_applied == 1);
  CHECK(h.updates_refused == 1);
  CHECK(h.refused_by_reason == std::map<std::string, int64_t>{{"late_update", 1}});
  CHECK(h.rtt_seconds == doctest::Approx(3e-3));  // the latest report: the heartbeat's
  CHECK(h.last_message == "Heartbeat");
}

TEST_CASE("driver: a Hello retry that crossed the Welcome gets the same session again") {
  // Four agents with big Hellos (column statistics) wait for each other; an agent's retry timer
  // fired before its Welcome came. Once it was taken for a restart: agent_left, agent_joined.
  coordinator::CoordinatorOptions o = DriverRig::DefaultOptions();
  o.min_agents = 1;
  DriverRig rig(o);
  auto a = rig.Agent("line-1");
  a->Hello(100, 10);
  const auto* first = FakeAgent::Last<wire::WelcomeMsg>(a->Inbox());
  REQUIRE(first != nullptr);
  const uint64_t session = a->session();
  a->set_session(0);  // as the agent is while it waits: its retry says Hello in no session
  a->Hello(100, 10);
  const std::vector<Received> again = a->Inbox();
  REQUIRE(FakeAgent::Last<wire::WelcomeMsg>(again) != nullptr);
  CHECK(a->session() == session);
  CHECK(rig.events.Of<AgentJoined>().size() == 1);
  CHECK(rig.events.Of<AgentLeft>().empty());
  // Once the agent spoke in its session, a Hello on the same connection is a new session.
  a->Send(wire::HeartbeatMsg{0, 0});
  a->Hello(100, 10);
  CHECK(rig.events.Of<AgentJoined>().size() == 2);
  CHECK(rig.events.Of<AgentLeft>().size() == 1);
}

TEST_CASE("driver: a revoked key is shut out, also on its open connection") {
  coordinator::CoordinatorOptions o = DriverRig::DefaultOptions();
  o.insecure = false;
  DriverRig rig(o);
  std::string allowed = "KEY-A";
  rig.driver->set_key_check([&](std::string_view key) { return key == allowed; });
  auto a = rig.Agent("line-1", "10.0.0.1", "KEY-A");
  a->Hello(100, 10);
  CHECK(rig.events.Of<AgentJoined>().size() == 1);
  allowed = "KEY-B";  // the allow-list was reloaded without A
  rig.driver->Revoke();
  CHECK(rig.events.Of<AgentLeft>().size() == 1);
  a->Hello(100, 10);
  CHECK(rig.events.Of<AgentJoined>().size() == 1);
  CHECK(rig.events.Of<MessageRefused>().back().reason == "key_not_allowed");
}

TEST_CASE("driver: shards without features still get a model of at least one feature") {
  // Found by coordinator_fuzz (tests/fuzz/regressions/coordinator/hello-dimension-zero): a Welcome
  // of dimension 0 is refused by every agent's decoder, and the run could never start.
  coordinator::CoordinatorOptions o = DriverRig::DefaultOptions();
  o.task = Task::kRegression;
  o.problem.loss = LossKind::kSquared;
  DriverRig rig(o);
  auto a = rig.Agent("no-features");
  a->Hello(10, 0, {}, true, Task::kRegression);
  const std::vector<Received> inbox = a->Inbox();  // decoded as an agent decodes them
  REQUIRE(!inbox.empty());
  const auto* w = inbox[0].As<wire::WelcomeMsg>();
  REQUIRE(w != nullptr);
  CHECK(w->dimension == 1);
}

TEST_CASE("driver: a Newton epoch with nothing to move runs the inner loop instead") {
  // Found by coordinator_fuzz (tests/fuzz/regressions/coordinator/newton-empty-working-set): at
  // x~ = 0 with every |mu_j| <= l1 and the stop rules off, the working set is empty; a
  // CurvatureRequest for no coordinates is refused by every agent (and asserted on).
  coordinator::CoordinatorOptions o = DriverRig::DefaultOptions();
  o.task = Task::kRegression;
  o.problem.loss = LossKind::kSquared;
  o.problem.reg.l1 = 1e3;
  o.policy.stop.tolerance = 0;
  o.policy.stop.kkt_tolerance = 0;
  DriverRig rig(o);
  auto a = rig.Agent("optimal");
  a->Hello(100, 4, {}, true, Task::kRegression);
  std::vector<Received> inbox = a->Inbox();
  const auto* e = FakeAgent::Last<wire::EpochBeginMsg>(inbox);
  REQUIRE(e != nullptr);
  std::vector<double> g(4, 1.0);
  wire::GradSumMsg sum;
  sum.epoch = e->epoch;
  sum.grad = VectorView::Dense(g.data(), 4);
  sum.loss_sum = 1;
  sum.smoothness.rows = 100;
  sum.smoothness.l_max = sum.smoothness.l_avg = sum.smoothness.l_full = sum.smoothness.l_q = 1;
  a->Send(sum);
  CHECK(rig.events.Of<EpochBegan>().back().decision.action == EpochDecision::Action::kNewton);
  CHECK(rig.driver->state()->phase() == CoordinatorState::Phase::kInner);
  inbox = a->Inbox();
  CHECK(FakeAgent::Last<wire::InnerLoopMsg>(inbox) != nullptr);
  CHECK(FakeAgent::Last<wire::CurvatureRequestMsg>(inbox) == nullptr);
}

TEST_CASE(
    "driver: near the optimum a Newton epoch solves with the last blocks, without a "
    "CurvatureRequest") {
  coordinator::CoordinatorOptions o = DriverRig::DefaultOptions();
  DriverRig rig(o);
  ShardAgent a(&rig, 0, 1);
  a.Hello();
  std::vector<double> x;  // the last snapshot: the point of the blocks asked for
  int requests = 0;
  for (int k = 0; k < 100 && rig.events.Of<coordinator::RunFinished>().empty(); ++k) {
    const std::vector<Received> inbox = a.agent->Inbox();
    if (const auto* c = FakeAgent::Last<wire::CurvatureRequestMsg>(inbox)) {
      ++requests;
      NewtonSupport s;
      s.index.assign(c->support.begin(), c->support.end());
      s.sign.assign(s.index.size(), 0.0);
      std::vector<int32_t> pos(x.size(), -1);
      std::vector<double> block(s.index.size() * (s.index.size() + 1) / 2, 0.0);
      AccumulateSupportHessian(a.shard, rig.options.problem, x.data(), s, &pos, block.data());
      a.agent->Send(wire::CurvatureMsg{c->epoch, s.size(), block, a.shard.rows(), false});
      continue;
    }
    const auto* e = FakeAgent::Last<wire::EpochBeginMsg>(inbox);
    REQUIRE_MESSAGE(e != nullptr, "epoch ", k, ": neither an EpochBegin nor a CurvatureRequest");
    x.assign(static_cast<size_t>(e->snapshot.dim), 0.0);  // sent sparse or dense
    for (int64_t m = 0; m < e->snapshot.count; ++m)
      x[e->snapshot.dense() ? m : e->snapshot.index[m]] = e->snapshot.value[m];
    REQUIRE(a.AnswerEpoch(inbox));
  }
  const std::vector<coordinator::RunFinished> done = rig.events.Of<coordinator::RunFinished>();
  REQUIRE(done.size() == 1);
  CHECK((done[0].reason == "tol" || done[0].reason == "kkt"));
  CHECK(done[0].relative_gap <= 1e-6);  // the certificate: P - P* over the whole data
  int fresh = 0, reused = 0;
  for (const coordinator::NewtonSolved& n : rig.events.Of<coordinator::NewtonSolved>()) {
    CHECK(n.taken);
    (n.reused ? reused : fresh) += 1;
    if (n.reused) CHECK(n.bytes == 0);
  }
  INFO("Newton epochs with new blocks ", fresh, ", with the last ones ", reused);
  CHECK(reused >= 1);
  CHECK(fresh == requests);  // a reused block asked the agent for nothing
}

TEST_CASE("console lines carry journal priorities: warnings for refusals, notices for milestones") {
  char* text = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&text, &size);
  REQUIRE(out != nullptr);
  {
    const cli::LineSink journal(out, /*journal=*/true);
    coordinator::ConsoleSink sink(&journal);
    sink.Emit(coordinator::AgentJoined{"line-1", "10.0.0.1", "(insecure)", "", "0.1 x86_64", 10});
    sink.Emit(coordinator::MessageRefused{"line-2", "10.0.0.2", "malformed", "bad bytes"});
    sink.Emit(coordinator::CheckpointError{"disk full"});
    sink.Emit(coordinator::EpochBegan{});
    sink.Emit(coordinator::RunStatus{});  // the stream's only: no line
  }
  std::fclose(out);
  const std::string lines(text, size);
  std::free(text);
  INFO(lines);
  CHECK(lines.find("<5>agent line-1 joined") != std::string::npos);
  CHECK(lines.find("<4>refused a message from line-2") != std::string::npos);
  CHECK(lines.find("<3>checkpoint not written: disk full") != std::string::npos);
  CHECK(lines.find("<6>    -1  0   ") != std::string::npos);  // the (empty) epoch row
  CHECK(std::count(lines.begin(), lines.end(), '\n') == 4);
}

}  // namespace
}  // namespace edgetrain
