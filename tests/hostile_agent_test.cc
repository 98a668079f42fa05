// What one faulty or hostile agent can do to the coordinator, each case of issue 15 as a
// regression: crafted messages through the real decoder into the socket-free Driver. Every case
// is refused or survived as docs/security.md ("Threat model") says; that section maps each case
// to its test here or elsewhere (the readers' limits in ingest_test.cc, the config file in
// config_test.cc, a hostile coordinator in exit_code_test.cc, sequences of all of them in the
// coordinator fuzzer, tests/fuzz/coordinator_checks.cc).
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "console_sink.h"
#include "doctest/doctest.h"
#include "driver.h"
#include "driver_harness.h"
#include "edgetrain/readers.h"
#include "json_sink.h"
#include "test_util.h"

namespace edgetrain {
namespace {

using coordinator::AgentJoined;
using coordinator::AgentLeft;
using coordinator::AgentRefused;
using coordinator::EpochBegan;
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

// A gradient sum of ones (not optimal: the run goes on) over `rows` rows; *g holds the vector.
wire::GradSumMsg OnesSum(int64_t epoch, int32_t dim, int64_t rows, std::vector<double>* g) {
  g->assign(dim, 1.0);
  wire::GradSumMsg sum;
  sum.epoch = epoch;
  sum.grad = VectorView::Dense(g->data(), dim);
  sum.loss_sum = 1.0;
  sum.smoothness.rows = rows;
  sum.smoothness.l_max = sum.smoothness.l_avg = sum.smoothness.l_full = sum.smoothness.l_q = 1;
  return sum;
}

// Hello and a gradient sum for one regression agent: the phase the policy chooses next begins
// (an inner loop with InnerOnly options, else a Newton epoch's curvature phase).
void IntoNextPhase(DriverRig* rig, FakeAgent* a, int32_t dim, int64_t rows) {
  a->Hello(rows, dim, {}, true, Task::kRegression);
  const std::vector<Received> inbox = a->Inbox();
  const auto* e = FakeAgent::Last<wire::EpochBeginMsg>(inbox);
  REQUIRE(e != nullptr);
  std::vector<double> g;
  a->Send(OnesSum(e->epoch, dim, rows, &g));
  REQUIRE(rig->driver->state()->phase() != CoordinatorState::Phase::kGradient);
}

// A Hello for a classification shard of 100 rows and 10 features with labels -1 and +1.
wire::HelloMsg HelloWith(std::string_view software_version) {
  static const std::string_view kLabels[] = {"-1", "+1"};
  wire::HelloMsg h;
  h.rows = 100;
  h.dimension = 10;
  h.labels = kLabels;
  h.software_version = software_version;
  return h;
}

// "honest" (10.0.0.1) and another agent (10.0.0.2), regression shards of `rows` rows and 4
// features, both said Hello (with --min-agents 2 the run starts).
struct TwoAgents {
  TwoAgents(DriverRig* rig, const std::string& other_id, int64_t rows)
      : honest(rig->Agent("honest", "10.0.0.1")), other(rig->Agent(other_id, "10.0.0.2")) {
    honest->Hello(rows, 4, {}, true, Task::kRegression);
    other->Hello(rows, 4, {}, true, Task::kRegression);
  }
  std::unique_ptr<FakeAgent> honest, other;
};

void IntoInnerLoop(DriverRig* rig, FakeAgent* a, int32_t dim, int64_t rows) {
  IntoNextPhase(rig, a, dim, rows);
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
  TwoAgents agents(&rig, "liar", 800);
  FakeAgent* liar = agents.other.get();
  agents.honest->Inbox();
  const auto* e = FakeAgent::Last<wire::EpochBeginMsg>(liar->Inbox());
  REQUIRE(e != nullptr);
  std::vector<double> g;
  liar->Send(OnesSum(e->epoch, 4, 1'000'000'000'000'000, &g));
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
  TwoAgents agents(&rig, "mute", 100);
  FakeAgent *honest = agents.honest.get(), *mute = agents.other.get();
  std::vector<double> g;
  for (int epoch = 0; epoch < 3; ++epoch) {
    const auto* e = FakeAgent::Last<wire::EpochBeginMsg>(honest->Inbox());
    REQUIRE(e != nullptr);
    honest->Send(OnesSum(e->epoch, 4, 100, &g));
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

TEST_CASE("hostile: a gradient pass that diverged rolls the model back, not into a wedge") {
  // Issue 15 case 2 without an attacker: a step far too large (--eta 10000) moves x where the
  // agents' gradient sums overflow. They say so (diverged), and the safeguard returns to the best
  // snapshot with a halved step although no finite gradient phase completed.
  DriverRig rig(InnerOnly());
  auto a = rig.Agent("far-out");
  IntoInnerLoop(&rig, a.get(), 4, 100);
  const std::vector<int32_t> idx = {0, 1, 2, 3};
  const std::vector<double> step = {1e100, -1e100, 1e100, -1e100};  // finite: applied
  const VectorView none{nullptr, nullptr, 0, 4};
  a->Send(wire::UpdateMsg{rig.driver->state()->epoch(), 0, {idx.data(), step.data(), 4, 4}, none});
  REQUIRE(rig.driver->state()->x()[0] == 1e100);
  rig.Run(5.5, 0.25);  // the inner loop stalls: the next epoch's gradient phase at x~ = x
  const std::vector<Received> inbox = a->Inbox();
  const auto* e = FakeAgent::Last<wire::EpochBeginMsg>(inbox);
  REQUIRE(e != nullptr);
  std::vector<double> g;
  wire::GradSumMsg overflow = OnesSum(e->epoch, 4, 100, &g);
  overflow.grad = none;
  overflow.loss_sum = 0;
  overflow.diverged = true;
  a->Send(overflow);
  const std::vector<EpochBegan> began = rig.events.Of<EpochBegan>();
  REQUIRE(began.size() == 2);
  CHECK(began[1].decision.action == EpochDecision::Action::kRollBack);
  for (double v : rig.driver->state()->x()) CHECK(v == 0.0);  // the best snapshot: x~ of epoch 0
  CHECK(rig.driver->policy()->step_factor() == 0.5);
  CHECK(FakeAgent::Last<wire::EpochBeginMsg>(a->Inbox()) != nullptr);  // and training goes on
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

TEST_CASE("hostile: a curvature block over more rows than the Hello declared drops the agent") {
  coordinator::CoordinatorOptions o = InnerOnly();
  o.policy.newton_max_support = 16;  // Newton epochs
  o.min_agents = 2;
  DriverRig rig(o);
  TwoAgents agents(&rig, "liar", 100);
  FakeAgent* liar = agents.other.get();
  std::vector<double> g;
  for (FakeAgent* agent : {agents.honest.get(), liar}) {
    const std::vector<Received> inbox = agent->Inbox();
    const auto* e = FakeAgent::Last<wire::EpochBeginMsg>(inbox);
    REQUIRE(e != nullptr);
    agent->Send(OnesSum(e->epoch, 4, 100, &g));
  }
  REQUIRE(rig.driver->state()->phase() == CoordinatorState::Phase::kCurvature);
  const std::vector<Received> inbox = liar->Inbox();
  const auto* request = FakeAgent::Last<wire::CurvatureRequestMsg>(inbox);
  REQUIRE(request != nullptr);
  const auto s = static_cast<int64_t>(request->support.size());
  const std::vector<double> block(static_cast<size_t>(s * (s + 1) / 2), 1.0);
  liar->Send(wire::CurvatureMsg{request->epoch, s, block, 1'000'000'000'000'000, false});
  CHECK(rig.events.Of<AgentLeft>().back().agent == "liar");
  CHECK(rig.driver->state()->curvature_rows() == 0);  // nothing of it was added
}

TEST_CASE("hostile: strings over their limits are refused before anything is kept") {
  DriverRig rig;
  auto a = rig.Agent("verbose");
  wire::Encoder enc;
  const std::string version(1 << 20, 'v');  // issue 15: 32 MB each; the limit is 256 bytes
  wire::HelloMsg h = HelloWith(version);
  a->Deliver(enc.Encode(wire::Header{"verbose", 0, 1}, h));
  h.software_version = "1.0";
  const std::string id(wire::kMaxAgentIdBytes + 1, 'x');
  a->Deliver(enc.Encode(wire::Header{id, 0, 1}, h));
  CHECK(rig.driver->roster().size() == 0);
  CHECK(rig.driver->roster().bindings() == 0);
  const std::vector<MessageRefused> refused = rig.events.Of<MessageRefused>();
  REQUIRE(refused.size() == 2);
  for (const MessageRefused& r : refused) {
    CHECK(r.reason == "malformed");
    CHECK(r.detail.size() < 200);  // the log line names the field, not its content
  }
  CHECK(refused[0].detail.find("software_version") != std::string::npos);
  CHECK(refused[1].detail.find("agent_id") != std::string::npos);
}

TEST_CASE("hostile: no shard wider than --max-dim, and the model keeps the size it started with") {
  coordinator::CoordinatorOptions o = InnerOnly();
  o.max_dimension = 64;
  DriverRig rig(o);
  auto early = rig.Agent("wide-early", "10.0.0.3");
  early->Hello(100, 65, {}, true, Task::kRegression);
  std::vector<Received> inbox = early->Inbox();
  const auto* reject = FakeAgent::Last<wire::RejectMsg>(inbox);
  REQUIRE(reject != nullptr);
  CHECK(reject->reason == wire::RejectReason::kDimensionTooLarge);
  CHECK(reject->text.find("--max-dim") != std::string_view::npos);
  CHECK(rig.driver->state() == nullptr);
  auto a = rig.Agent("narrow", "10.0.0.1");
  IntoInnerLoop(&rig, a.get(), 4, 100);
  auto late = rig.Agent("wide-late", "10.0.0.2");
  late->Hello(100, 50, {}, true, Task::kRegression);  // within --max-dim, wider than the model
  inbox = late->Inbox();
  reject = FakeAgent::Last<wire::RejectMsg>(inbox);
  REQUIRE(reject != nullptr);
  CHECK(reject->reason == wire::RejectReason::kDimensionTooLarge);
  CHECK(reject->text.find("--dim 50") != std::string_view::npos);
  CHECK(rig.driver->state()->dim() == 4);
}

TEST_CASE("hostile: a Delta naming a coordinate twice is refused whole, nothing is applied") {
  DriverRig rig(InnerOnly());
  auto a = rig.Agent("twice");
  IntoInnerLoop(&rig, a.get(), 4, 100);
  const int64_t epoch = rig.driver->state()->epoch();
  const std::vector<int32_t> idx = {2, 2};
  const std::vector<double> val = {0.5, 0.5};
  const std::vector<int32_t> one = {2};
  const VectorView none{nullptr, nullptr, 0, 4};
  a->Send(wire::UpdateMsg{epoch, 0, {idx.data(), val.data(), 2, 4}, none});
  // The same coordinate in the delta and in the guarded part (wire.fbs: disjoint).
  a->Send(
      wire::UpdateMsg{epoch, 0, {one.data(), val.data(), 1, 4}, {one.data(), val.data(), 1, 4}});
  CHECK(rig.driver->state()->version() == 0);
  CHECK(rig.driver->state()->applied_total() == 0);
  for (double v : rig.driver->state()->x()) CHECK(v == 0.0);
  CHECK(a->Inbox().empty());  // no answer: the message is not an update
  const std::vector<MessageRefused> refused = rig.events.Of<MessageRefused>();
  REQUIRE(refused.size() == 2);
  CHECK(refused[0].reason == "malformed");
  CHECK(refused[0].detail == "Update.delta: index 2 appears twice");
  CHECK(refused[1].reason == "malformed");
  CHECK(refused[1].detail == "Update.guarded: index 2 is also in Update.delta");
}

TEST_CASE("hostile: garbage from thousands of connections makes a bounded number of log lines") {
  DriverRig rig;
  // Issue 15: 2 974 refusal lines in 15 s from garbage connections.
  const std::string garbage = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";  // a TLS hello
  for (int k = 0; k < 3000; ++k) {
    if (k % 200 == 0) {
      rig.clock.Advance(1);
      rig.driver->Tick();
    }
    const std::string connection = "garbage-" + std::to_string(k);
    const std::string address = "10.7." + std::to_string(k / 250) + "." + std::to_string(k % 250);
    rig.driver->Receive({connection, address, ""}, garbage.data(), garbage.size());
  }
  const size_t lines = rig.events.Of<MessageRefused>().size();
  CHECK(lines <= 2 * (20 + 1));  // two windows of 10 s: 20 refusals shown, then a summary
  int summaries = 0;
  for (const MessageRefused& m : rig.events.Of<MessageRefused>())
    summaries += m.reason == "summary";
  CHECK(summaries == 1);  // the first window's; the second's comes with the next refusal
  CHECK(rig.driver->roster().refused() == 3000);  // every one counted
  CHECK(rig.driver->roster().refused_by_sender().size() <= coordinator::Roster::kMaxSenders + 1);
}

// A log stream in memory: the JSON lines, in order.
class Lines : public coordinator::LineWriter {
 public:
  void Write(std::string_view, std::string_view line) override { lines.emplace_back(line); }
  std::vector<std::string> lines;
};

TEST_CASE("hostile: terminal escapes from the network reach the console escaped, JSON intact") {
  // Issue 15 case 11: an id with ESC/BEL/newline forged "agent press-7 left: said goodbye",
  // cleared the screen and set the window title; the version string and a Bye's text too.
  const std::string evil = "\x1b]0;owned\x07\nagent press-7 left: said goodbye\x1b[2J";
  DriverRig rig;
  auto a = rig.Agent(evil, "10.0.0.1");
  auto other = rig.Agent(evil, "10.0.0.2");  // another device with the same id: refused
  wire::Encoder enc;
  const wire::HelloMsg h = HelloWith(evil);
  a->Deliver(enc.Encode(wire::Header{evil, 0, 1}, h));
  a->Inbox();                           // its Welcome: now in a session
  a->Deliver("\x1b[31mnot a message");  // refused, logged with its sender's id
  other->Deliver(enc.Encode(wire::Header{evil, 0, 1}, h));
  a->Deliver(enc.Encode(wire::Header{evil, a->session(), 2}, wire::ByeMsg{evil}));
  REQUIRE(rig.events.Of<AgentJoined>().size() == 1);
  REQUIRE(rig.events.Of<MessageRefused>().size() == 1);
  REQUIRE(rig.events.Of<AgentRefused>().size() == 1);
  REQUIRE(rig.events.Of<AgentLeft>().size() == 1);

  std::FILE* console = std::tmpfile();
  REQUIRE(console != nullptr);
  const cli::LineSink console_lines(console, /*journal=*/false);
  coordinator::ConsoleSink sink(&console_lines);
  Lines stream;
  coordinator::JsonEventSink json(&rig.clock, "run-1", &stream);
  for (const coordinator::Event& e : rig.events.events) {
    sink.Emit(e);
    json.Emit(e);
  }
  std::rewind(console);
  std::string text;
  for (int c = std::fgetc(console); c != EOF; c = std::fgetc(console)) text += static_cast<char>(c);
  std::fclose(console);
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    CHECK_MESSAGE((c == '\n' || (u >= 0x20 && u != 0x7f)), "control byte " << int{u});
  }
  CHECK(text.find("\nagent press-7 left") == std::string::npos);  // no forged line
  CHECK(text.find("\\x1b]0;owned\\x07\\nagent press-7 left") != std::string::npos);
  // The log stream keeps every string as received, as valid JSON, one line per event.
  int checked = 0;
  for (const std::string& line : stream.lines) {
    CHECK(line.find('\n') == std::string::npos);
    const nlohmann::json j = nlohmann::json::parse(line);
    const std::string event = j.at("event");
    if (event == "agent_joined") {
      CHECK(j.at("agent") == evil);
      CHECK(j.at("software_version") == evil);
      ++checked;
    } else if (event == "message_refused" || event == "agent_refused") {
      CHECK(j.at("agent") == evil);
      ++checked;
    } else if (event == "agent_left") {
      CHECK(j.at("reason") == "said goodbye: " + evil);
      ++checked;
    }
  }
  CHECK(checked == 4);
}

TEST_CASE("the log stream binds to loopback unless the operator names an address") {
  // Issue 15 case 7, as far as it holds today: a plain PUB that anyone on the network could
  // subscribe to (and fill with subscriptions) is no longer the default.
  const std::string bind = coordinator::CoordinatorOptions{}.log_bind;
  CHECK(bind.rfind("tcp://127.0.0.1:", 0) == 0);
}

}  // namespace
}  // namespace edgetrain
