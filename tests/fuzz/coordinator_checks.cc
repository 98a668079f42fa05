// The stateful coordinator fuzzer: one coordinator::Driver (socket-free, a ManualClock, small
// limits) driven by a program decoded from the input (coordinator_program.h) -- fake agents on a
// few connections sending Hellos, gradient sums, updates, curvature blocks, heartbeats, goodbyes,
// raw and mutated bytes, other protocol versions and messages in other sessions, while the clock
// jumps and the driver ticks. Every message goes through the real wire::Encoder (built from
// fields the input chose) or is raw bytes; honest answers are computed the way an agent computes
// them (SvrgWorker, AccumulateSupportHessian, AdoptAnswer on a tiny fixed dataset), so runs reach
// the inner loop and Newton epochs, and the input perturbs them field by field.
//
// After every step the Driver's invariants are checked (docs/fuzzing.md, "coordinator"): x finite;
// every applied update answered once (applied answers = CoordinatorState::applied_total() =
// the summary's count, and the version = applied updates + the jumps the events announce); the
// roster, the bindings and the per-sender refusal counts within their bounds; no model before the
// run starts and its dimension within --max-dim (or --dim); every message the driver sends
// decodes with the decoder an agent would use and carries its session and increasing sequence
// numbers; every event renders as one valid JSON object and as console text without control
// characters; the time limit and a stop end the run within a bounded number of ticks.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "console_sink.h"
#include "coordinator_program.h"
#include "driver.h"
#include "edgetrain/model_replica.h"
#include "edgetrain/readers.h"
#include "edgetrain/support_newton.h"
#include "edgetrain/svrg_worker.h"
#include "edgetrain/text.h"
#include "edgetrain/update_answer.h"
#include "edgetrain/wire.h"
#include "fuzz_checks.h"
#include "json_sink.h"

namespace edgetrain::fuzz {
namespace {

namespace co = edgetrain::coordinator;
namespace pg = program;

// Seconds: the driver's kFinalEvaluation (the last gradient phase after the time limit) and the
// longest stopping phase (two heartbeats, at most 5 s).
constexpr double kFinalEvaluation = 5;
constexpr double kStopGrace = 5;
constexpr double kEps = 1e-6;
#ifdef EDGETRAIN_FUZZ_TRACE  // to follow a reproducer: every step and event on stderr
constexpr bool kTrace = true;
#else
constexpr bool kTrace = false;
#endif

// ---- the input -----------------------------------------------------------------------------

class Input {
 public:
  Input(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  bool empty() const { return p_ == end_; }
  uint8_t U8() { return p_ == end_ ? 0 : *p_++; }
  // `bytes` little-endian bytes.
  uint64_t Bits(int bytes) {
    uint64_t v = 0;
    for (int k = 0; k < bytes; ++k) v |= uint64_t{U8()} << (8 * k);
    return v;
  }
  std::string_view Take(size_t n) {
    n = std::min(n, static_cast<size_t>(end_ - p_));
    const std::string_view s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

// A double for a field: small values, the edges of the range and non-finite bit patterns.
double Number(Input& in) {
  const uint8_t kind = in.U8();
  const double sign = (kind & 0x80) != 0 ? -1.0 : 1.0;
  switch (kind % 12) {
    case 0:
      return 0.0;
    case 1:
      return static_cast<int8_t>(in.U8()) / 8.0;
    case 2:
      return sign * 1.7e308;
    case 3:
      return sign * 1e-308;
    case 4:
      return sign * 5e-324;  // the smallest subnormal
    case 5:
      return sign * std::numeric_limits<double>::infinity();
    case 6:
      return std::numeric_limits<double>::quiet_NaN();
    case 7: {
      const uint64_t bits = in.Bits(8);
      double d;
      std::memcpy(&d, &bits, sizeof d);
      return d;
    }
    case 8:
      return sign * 1e20;
    case 9:
      return sign * 1e-12;
    default:
      return static_cast<int8_t>(in.U8()) * 1e3;
  }
}

// An integer field near its honest value, or at an edge.
int64_t Integer(Input& in, int64_t honest) {
  switch (in.U8() % 10) {
    case 0:
    case 1:
      return honest;
    case 2:
      return honest + 1;
    case 3:
      return honest - 1;
    case 4:
      return 0;
    case 5:
      return -1;
    case 6:
      return std::numeric_limits<int64_t>::max();
    case 7:
      return std::numeric_limits<int64_t>::min();
    case 8:
      return honest + static_cast<int8_t>(in.U8());
    default:
      return static_cast<int64_t>(in.Bits(8));
  }
}

// ---- the agents' data: 18 rows, 6 features, three shards with both classes each -------------

const Dataset& Shard(Task task, int k) {
  static const std::array<std::vector<Dataset>, 2> shards = [] {
    std::array<std::vector<Dataset>, 2> out;
    for (int t = 0; t < 2; ++t) {
      std::string text;
      for (int i = 0; i < 18; ++i) {
        double target = 0.1 * (i % 3);
        std::string features;
        for (int j = 1; j <= 6; ++j) {
          const int v = (i * 7 + j * 5) % 13 - 6;
          if ((i + j) % 3 == 0 || v == 0) continue;
          const double value = v / 4.0;
          if (j == 1) target += 0.5 * value;
          if (j == 3) target -= value;
          features += " " + std::to_string(j) + ":" + std::to_string(value);
        }
        text += (t == 0 ? (i % 2 == 0 ? "+1" : "-1") : std::to_string(target)) + features + "\n";
      }
      ReadOptions o;
      o.task = t == 0 ? Task::kClassification : Task::kRegression;
      o.defer_label_map = t == 0;  // as an agent reads its shard
      Result<Dataset> data = ParseLibsvm(text, "fuzz-shards", o);
      if (!data.ok()) Fail("the fuzzer's dataset does not parse: " + data.status().ToString());
      for (int s = 0; s < 3; ++s) out[t].push_back(data->Shard(s, 3));
    }
    return out;
  }();
  return shards[task == Task::kClassification ? 0 : 1][k % 3];
}

// ---- what the driver sends: decoded and checked as it leaves --------------------------------

// One connection as the driver sees it: the decoder its agent would use and the sequence numbers.
struct Connection {
  wire::Decoder decoder;
  uint64_t session = 0;  // of its last Welcome
  uint64_t last_seq = 0;
  std::deque<std::string>* inbox = nullptr;  // the slot holding this connection, if any
};

class CheckingOutbox : public co::Outbox {
 public:
  bool Send(std::string_view identity, std::string_view bytes) override;
  Connection& Of(const std::string& identity) { return connections_[identity]; }
  void Forget(const std::string& identity) { connections_[identity].inbox = nullptr; }

  // Run facts the checks need (set by the harness).
  const co::Driver* driver = nullptr;
  // Model answers with applied = true, and the updates (session, update_seq) they answered.
  int64_t applied = 0;
  std::set<std::pair<uint64_t, uint64_t>> applied_updates;

 private:
  std::map<std::string, Connection, std::less<>> connections_;
};

bool CheckingOutbox::Send(std::string_view identity, std::string_view bytes) {
  Connection& c = connections_[std::string(identity)];
  Result<wire::Message> m = c.decoder.Decode(bytes.data(), bytes.size());
  FUZZ_CHECK(m.ok(), "the driver sent a message its agent's decoder refuses: " +
                         m.status().ToString() + " (to " + std::string(identity) + ")");
  const wire::Header& h = m->header;
  const auto what = [&] {  // built only when a check fails
    return std::string(wire::MessageName(m->body)) + " to " + std::string(identity) + ", session " +
           std::to_string(h.session) + " seq " + std::to_string(h.seq);
  };
  if (std::holds_alternative<wire::RejectMsg>(m->body)) {
    FUZZ_CHECK(h.session == 0 && h.seq == 0, what());
  } else {
    FUZZ_CHECK(h.protocol == wire::kProtocolVersion, what());
    FUZZ_CHECK(h.session != 0, what());
    if (const auto* w = std::get_if<wire::WelcomeMsg>(&m->body)) {
      const CoordinatorState* state = driver->state();
      FUZZ_CHECK(state != nullptr, what());
      FUZZ_CHECK(w->dimension == state->dim(), what());
      // A new session (never reused), or the connection's own again: a Hello retry that crossed
      // its Welcome is answered with the same session, in sequence.
      FUZZ_CHECK(
          (h.session > c.session && h.seq == 1) || (h.session == c.session && h.seq > c.last_seq),
          what());
      c.decoder.set_model_size(w->problem.ModelSize(w->dimension));
      c.session = h.session;
    } else {
      // Only a welcomed connection hears anything but a Reject, in its session, seq increasing.
      FUZZ_CHECK(c.session != 0 && h.session == c.session && h.seq > c.last_seq, what());
    }
    c.last_seq = h.seq;
  }
  if (const auto* answer = std::get_if<wire::ModelMsg>(&m->body); answer && answer->applied) {
    ++applied;
    FUZZ_CHECK(applied_updates.emplace(h.session, answer->update_seq).second,
               "an update was applied twice: " + what());
  }
  if (c.inbox != nullptr) c.inbox->emplace_back(bytes);
  return true;
}

// ---- what the driver tells the world: rendered by both sinks and checked ---------------------

class LineChecker : public co::LineWriter {
 public:
  void Write(std::string_view topic, std::string_view line) override {
    if (kTrace) std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    FUZZ_CHECK(!j.is_discarded() && j.is_object() && j.contains("event"),
               "the log stream's line is not a JSON event: " + Printable(line, 300));
    FUZZ_CHECK(topic == "run" || topic == "agent" || topic == "epoch" || topic == "status",
               "topic " + Printable(topic));
  }
};

class CheckingSink : public co::EventSink {
 public:
  explicit CheckingSink(const Clock* clock) : clock_(clock), json_(clock, "fuzz-run", &lines_) {}
  void Emit(const co::Event& e) override;

  std::optional<double> run_started;  // clock time of RunStarted
  int32_t dimension = 0;              // RunStarted's
  int64_t jumps = 0;                  // x replaced outside the inner loop (one version each)

 private:
  const Clock* clock_;
  LineChecker lines_;
  co::JsonEventSink json_;
  bool agents_changed_ = true;
  static constexpr int kJsonChecks = 8;
  int json_checks_ = 0;
};

void CheckingSink::Emit(const co::Event& e) {
  using Action = EpochDecision::Action;
  if (const auto* s = std::get_if<co::RunStarted>(&e)) {
    FUZZ_CHECK(!run_started, "RunStarted twice");
    run_started = clock_->Now();
    dimension = s->dimension;
  } else if (std::holds_alternative<co::NewtonTrial>(e)) {
    ++jumps;  // a trial point, or back to the best snapshot
  } else if (const auto* b = std::get_if<co::EpochBegan>(&e)) {
    if (b->decision.action == Action::kRollBack) ++jumps;
  } else if (const auto* n = std::get_if<co::NewtonSolved>(&e)) {
    if (n->taken) ++jumps;  // the first trial point
  }
  // The log stream: events that carry strings from the network (the others hold numbers and the
  // driver's own words, which nlohmann renders as valid JSON by construction), the status only
  // when the agents changed since the last one checked, and only the first kJsonChecks of a run
  // (rendering and parsing every refusal of a flood took a third of the time).
  const bool outside_strings =
      std::holds_alternative<co::AgentJoined>(e) || std::holds_alternative<co::AgentLeft>(e) ||
      std::holds_alternative<co::AgentRefused>(e) ||
      std::holds_alternative<co::MessageRefused>(e) ||
      std::holds_alternative<co::GradientTimeout>(e) || std::holds_alternative<co::RunFinished>(e);
  if (outside_strings) agents_changed_ = true;
  const bool check =
      outside_strings || (std::holds_alternative<co::RunStatus>(e) && agents_changed_);
  if (kTrace || (check && json_checks_ < kJsonChecks)) {
    ++json_checks_;
    json_.Emit(e);
    if (std::holds_alternative<co::RunStatus>(e)) agents_changed_ = false;
  }
  // The console: one line per event (two for the run's start: its table header), printable.
  char* text = nullptr;
  size_t size = 0;
  std::FILE* out = open_memstream(&text, &size);
  FUZZ_CHECK(out != nullptr, "open_memstream");
  const cli::LineSink line(out, /*journal=*/false);
  co::ConsoleSink(&line).Emit(e);
  std::fclose(out);
  const std::string_view shown(text, size);
  const bool printable = IsValidUtf8(shown) && std::none_of(shown.begin(), shown.end(), [](char c) {
                           const auto u = static_cast<unsigned char>(c);
                           return (u < 0x20 && c != '\n') || u == 0x7f;
                         });
  const auto lines = std::count(shown.begin(), shown.end(), '\n');
  std::string failure;
  if (!printable) failure = "console text with control characters: ";
  if (lines > (std::holds_alternative<co::RunStarted>(e) ? 2 : 1))
    failure = "one event, several console lines: ";
  if (!failure.empty()) failure += Printable(shown, 400);
  std::free(text);
  FUZZ_CHECK(failure.empty(), failure);
}

// ---- the fake agents -----------------------------------------------------------------------

// One device on one connection: its messages, and an honest agent's state for its answers.
struct Slot {
  int index = 0;
  int generation = 0;
  std::string identity, address, key, agent_id;
  uint64_t session = 0, seq = 0;
  std::string last;   // the last message sent (for kRepeat and kMutate)
  std::string hello;  // its last Hello, repeated while it waits (as an agent does)
  double last_sent = 0;
  std::deque<std::string> inbox;
  wire::Encoder encoder;
  wire::Decoder decoder;
  // The honest agent (as edge_agent/agent.cc): welcomed with a problem it can train.
  enum class State : uint8_t { kHello, kIdle, kWaitPlan, kInner, kDone } state = State::kHello;
  bool can_answer = false;
  Dataset data;
  ProblemSpec spec;
  std::unique_ptr<SvrgWorker> worker;
  PipelineReplica model;  // its copy, kept as the agent keeps it (update_answer.h)
  int64_t version = 0, epoch = 0;
  int64_t snapshot_epoch = -1;  // the epoch whose snapshot ComputeSnapshot last saw
  std::vector<double> grad, mu;
  DualSums dual;
  ModelUpdate step, update;
  std::vector<int32_t> pos;
  bool grad_due = false, step_due = false, bye_due = false, awaiting = false;
  uint64_t update_seq = 0;
  std::optional<std::vector<int32_t>> curvature_due;
};

const char* const kAddresses[pg::kSlots] = {"10.0.0.1", "10.0.0.2", "10.0.0.1", ""};
const char* const kKeys[pg::kSlots] = {"KEY-A", "KEY-B", "KEY-A", "KEY-C"};

class Harness {
 public:
  Harness(Input* in, const co::CoordinatorOptions& options);
  void Step();
  void Finish();

 private:
  Slot& SlotOf(uint8_t b) { return slots_[b % pg::kSlots]; }
  void Connect(Slot& s);
  void Deliver(Slot& s, std::string_view bytes);
  template <typename M>
  void Send(Slot& s, const M& m) {
    Deliver(s, s.encoder.Encode(wire::Header{s.agent_id, s.session, ++s.seq}, m));
  }
  void Tick(double seconds);
  void Check();

  void Hello(Slot& s);
  void Answer(Slot& s, uint8_t perturb);
  void Autopilot(Slot& s);
  void Read(Slot& s);
  void OnWelcome(Slot& s, const wire::Header& h, const wire::WelcomeMsg& w);
  void OnMessage(Slot& s, const wire::Message& m);
  void SendGradSum(Slot& s, int kind);
  void SendUpdate(Slot& s, int kind);
  void SendCurvature(Slot& s, int kind);
  void Craft(Slot& s);
  VectorView CraftVector(int64_t p, std::vector<int32_t>* index, std::vector<double>* value);
  // The model's size for crafted vectors (before the run: the shards' 6 features + 1).
  int64_t ModelSize() const {
    const CoordinatorState* state = driver_->state();
    return state != nullptr ? state->model_size() : 7;
  }

  Input* in_;
  co::CoordinatorOptions options_;
  ManualClock clock_;
  CheckingOutbox outbox_;
  CheckingSink sink_;
  std::unique_ptr<co::Driver> driver_;
  std::array<Slot, pg::kSlots> slots_;
  std::set<std::string, std::less<>> revoked_;
  std::optional<double> limit_tick_;  // the first tick at or after the time limit
  std::optional<double> stop_seen_;   // when the run was first seen stopping
  std::vector<int32_t> scratch_index_[2];
  std::vector<double> scratch_value_[2];
};

Harness::Harness(Input* in, const co::CoordinatorOptions& options)
    : in_(in), options_(options), sink_(&clock_) {
  driver_ = std::make_unique<co::Driver>(options_, &clock_, &outbox_, &sink_);
  outbox_.driver = driver_.get();
  if (!options_.insecure) {
    driver_->set_key_check([this](std::string_view key) { return revoked_.count(key) == 0; });
    driver_->set_key_names([](std::string_view key) { return "device " + std::string(key); });
  }
  for (int k = 0; k < pg::kSlots; ++k) {
    slots_[k].index = k;
    slots_[k].address = kAddresses[k];
    slots_[k].key = options_.insecure ? "" : kKeys[k];
    slots_[k].agent_id = "line-" + std::to_string(k);
    Connect(slots_[k]);
  }
  driver_->Begin();
  Check();
}

void Harness::Connect(Slot& s) {
  if (!s.identity.empty()) outbox_.Forget(s.identity);
  s.identity = "conn-" + std::to_string(s.index) + "-" + std::to_string(s.generation++);
  outbox_.Of(s.identity).inbox = &s.inbox;
  s.inbox.clear();
  s.session = s.seq = 0;
  s.state = Slot::State::kHello;
  s.can_answer = false;
  s.worker.reset();
  s.hello.clear();
  s.decoder = wire::Decoder();
}

void Harness::Deliver(Slot& s, std::string_view bytes) {
  s.last.assign(bytes.data(), bytes.size());
  s.last_sent = clock_.Now();
  const co::Peer peer{s.identity, s.address, s.key};
  driver_->Receive(peer, s.last.data(), s.last.size());
  Check();
}

void Harness::Tick(double seconds) {
  clock_.Advance(seconds);
  driver_->Tick();
  const double now = clock_.Now();
  FUZZ_CHECK(!std::isnan(driver_->NextDeadline()), "NextDeadline");
  const double limit = options_.policy.stop.time_limit;
  if (limit > 0 && sink_.run_started && !limit_tick_ && now >= *sink_.run_started + limit) {
    limit_tick_ = now;
  }
  // Every wait ends by the time limit: one last gradient phase of at most kFinalEvaluation.
  if (limit_tick_ && now >= *limit_tick_ + kFinalEvaluation + kEps) {
    FUZZ_CHECK(driver_->stopping() || driver_->done(),
               "the time limit passed " + std::to_string(now - *sink_.run_started - limit) +
                   " s ago and the run goes on");
  }
  if (stop_seen_ && now >= *stop_seen_ + kStopGrace + kEps) {
    FUZZ_CHECK(driver_->done(), "stopping for " + std::to_string(now - *stop_seen_) + " s");
  }
  Check();
}

void Harness::Check() {
  const co::Driver& d = *driver_;
  const co::Roster& roster = d.roster();
  FUZZ_CHECK(roster.size() <= options_.max_agents, std::to_string(roster.size()) + " agents");
  FUZZ_CHECK(roster.refused_by_sender().size() <= co::Roster::kMaxSenders + 1, "refusal senders");
  FUZZ_CHECK(roster.bindings() <= static_cast<int64_t>(co::Roster::kMaxBindings), "bindings");
  if ((d.stopping() || d.done()) && !stop_seen_) stop_seen_ = clock_.Now();
  const CoordinatorState* state = d.state();
  if (state == nullptr) {
    FUZZ_CHECK(!sink_.run_started, "a run started without a model");
    FUZZ_CHECK(outbox_.applied == 0, "updates applied without a model");
    return;
  }
  FUZZ_CHECK(sink_.run_started, "a model allocated before the run started");
  FUZZ_CHECK(state->dim() == sink_.dimension, "the model's dimension is not the run's");
  FUZZ_CHECK(state->dim() <= std::max(options_.max_dimension, options_.dimension),
             "dimension " + std::to_string(state->dim()) + " above --max-dim");
  for (double v : state->x()) FUZZ_CHECK(std::isfinite(v), "x is not finite");
  // Applied = accepted: every applied update was answered as applied, once; the version counts
  // the applied updates and the jumps (rollbacks, Newton trial points) the events announced.
  FUZZ_CHECK(state->applied_total() == outbox_.applied,
             std::to_string(state->applied_total()) + " applied, " +
                 std::to_string(outbox_.applied) + " answered as applied");
  FUZZ_CHECK(d.summary().updates_applied == outbox_.applied, "the summary's count");
  FUZZ_CHECK(state->version() == outbox_.applied + sink_.jumps,
             "version " + std::to_string(state->version()) + ", " +
                 std::to_string(outbox_.applied) + " applied updates and " +
                 std::to_string(sink_.jumps) + " jumps");
}

// ---- the steps -------------------------------------------------------------------------------

void Harness::Step() {
  const uint8_t op = in_->U8() % pg::kOpCount;
  Slot& s = SlotOf(in_->U8());
  if (kTrace) std::fprintf(stderr, "-- t=%.2f op %d slot %d\n", clock_.Now(), op, s.index);
  switch (op) {
    case pg::kHello:
      Hello(s);
      return;
    case pg::kAnswer:
      Answer(s, in_->U8());
      return;
    case pg::kCraft:
      Craft(s);
      return;
    case pg::kGarbage:
      Deliver(s, in_->Take(in_->U8()));
      return;
    case pg::kMutate: {
      std::string bytes = s.last.empty() ? std::string(8, '\0') : s.last;
      for (int k = in_->U8() % 8; k >= 0; --k) {
        const size_t at = in_->Bits(2) % bytes.size();
        bytes[at] = static_cast<char>(in_->U8());
      }
      if ((in_->U8() & 1) != 0) bytes.resize(bytes.size() / 2);  // truncated
      Deliver(s, bytes);
      return;
    }
    case pg::kRepeat:
      Deliver(s, std::string(s.last));
      return;
    case pg::kOtherVersion: {
      const uint8_t b = in_->U8();
      const wire::Header h{s.agent_id, s.session, ++s.seq, static_cast<uint16_t>(b / 2)};
      if ((b & 1) == 0) {
        wire::HelloMsg hello;
        hello.rows = 6;
        hello.dimension = 6;
        Deliver(s, s.encoder.Encode(h, hello));
      } else {
        Deliver(s, s.encoder.Encode(h, wire::HeartbeatMsg{s.epoch, s.version}));
      }
      return;
    }
    case pg::kWrongSession: {
      const uint64_t session = in_->Bits(1) == 0 ? s.session + 1 : in_->Bits(8);
      const uint64_t seq = in_->Bits(8);
      Deliver(s, s.encoder.Encode(wire::Header{s.agent_id, session, seq},
                                  wire::HeartbeatMsg{s.epoch, s.version}));
      return;
    }
    case pg::kHeartbeat:
      Send(s, wire::HeartbeatMsg{s.epoch, s.version});
      return;
    case pg::kBye: {
      static const char* const kTexts[] = {"", "SIGTERM",
                                           "\x1b[2J\x1b]0;owned\x07\nagent press-7 left"};
      Send(s, wire::ByeMsg{kTexts[in_->U8() % 3]});
      return;
    }
    case pg::kReconnect:
      Connect(s);
      return;
    case pg::kTick: {
      static const double kSeconds[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 1000};
      const uint8_t b = in_->U8();
      if (b % 13 == 12) {  // exactly to the driver's next deadline
        Tick(std::max(0.0, driver_->NextDeadline() - clock_.Now()));
      } else {
        Tick(kSeconds[b % 13]);
      }
      return;
    }
    case pg::kAutopilot: {
      static const double kSeconds[] = {0.01, 0.05, 0.2, 0.5};
      const int rounds = 1 + in_->U8() % 64;
      const double step = kSeconds[in_->U8() % 4];
      for (int r = 0; r < rounds && !driver_->done(); ++r) {
        for (Slot& each : slots_) Autopilot(each);
        Tick(step);
      }
      return;
    }
    case pg::kRevoke:
      if (!options_.insecure && !s.key.empty()) {
        if (revoked_.erase(s.key) == 0) revoked_.insert(s.key);
        driver_->Revoke();
        Check();
      }
      return;
    case pg::kStop:
      driver_->RequestStop("interrupt");
      Check();
      return;
    default:
      return;
  }
}

void Harness::Finish() {
  driver_->RequestStop("interrupt");
  Check();
  FUZZ_CHECK(driver_->stopping() || driver_->done(), "RequestStop did not stop the run");
  for (int k = 0; k < 4 * static_cast<int>(kStopGrace) + 2 && !driver_->done(); ++k) {
    if (k % 2 == 0) {
      for (Slot& s : slots_) Answer(s, 0);  // honest agents say goodbye
    }
    Tick(0.5);
  }
  FUZZ_CHECK(driver_->done(), "the run did not end after a stop");
  const co::RunSummary& summary = driver_->summary();
  if (summary.evaluated) {
    const CoordinatorState* state = driver_->state();
    FUZZ_CHECK(state != nullptr && static_cast<int64_t>(summary.x.size()) == state->model_size(),
               "the summary's model");
    for (double v : summary.x) FUZZ_CHECK(std::isfinite(v), "the final model is not finite");
  }
}

// ---- Hello -----------------------------------------------------------------------------------

void Harness::Hello(Slot& s) {
  const uint8_t v = in_->U8();
  const uint32_t number = static_cast<uint32_t>(in_->Bits(4));
  static const std::string kLong(wire::kMaxAgentIdBytes, 'x');
  static const std::string kTooLong(wire::kMaxAgentIdBytes + 1, 'x');
  switch (v & 3) {
    case 0:
      s.agent_id = "line-" + std::to_string(s.index);  // its own
      break;
    case 1:
      s.agent_id = "line-0";  // slot 0's (slot 2 is the same device)
      break;
    case 2:
      s.agent_id = "\x1b]0;owned\x07\nagent press-7 left: said goodbye";
      break;
    default:
      s.agent_id = s.index % 2 == 0 ? "pr\xc3\xa9sse-\xe2\x9c\x93" : (v & 0x80 ? kTooLong : kLong);
      break;
  }
  const Dataset& data = Shard(options_.task, s.index);
  std::array<std::string_view, 2> labels;
  size_t label_count = 0;
  for (const std::string& l : data.raw_labels()) labels[label_count++] = l;
  wire::HelloMsg h;
  h.rows = data.rows();
  h.dimension = data.dim();
  h.task = options_.task;
  h.row_norm_sq_max = 1;
  h.row_norm_sq_mean = 0.5;
  h.software_version = "edgetrain 0.1.0 fuzz";
  h.incremental_models = true;
  h.newton = true;
  static const std::string kLongVersion(wire::kMaxVersionBytes, 'v');
  static const std::string kTooLongVersion(wire::kMaxVersionBytes + 1, 'v');
  static const std::string_view kOdd[][2] = {{"3", ""}, {"a", "b"}, {"+1", ""}, {"-1", "1.0"}};
  const uint8_t falsehood = v >> 5;
  switch ((v >> 2) & 7) {
    case 2:
      h.rows = Integer(*in_, data.rows());
      break;
    case 3: {
      const int32_t dims[] = {static_cast<int32_t>(number % 128),
                              options_.max_dimension,
                              options_.max_dimension + 1,
                              static_cast<int32_t>(kMaxModelDimension),
                              static_cast<int32_t>(number),
                              0,
                              -1,
                              data.dim() + 1};
      h.dimension = dims[falsehood];
      break;
    }
    case 4:
      h.task = options_.task == Task::kRegression ? Task::kClassification : Task::kRegression;
      break;
    case 5:
      label_count = falsehood % 3;
      for (size_t k = 0; k < label_count; ++k) labels[k] = kOdd[number % 4][k];
      break;
    case 6: {
      static const std::string_view kVersions[] = {"\x1b[2J\x1b]0;pwned\x07",
                                                   "0.1\nagent press-7 left: said goodbye",
                                                   "\xc2\x9b"
                                                   "31m",
                                                   "\xff\xfe"};
      h.software_version = falsehood < 4       ? kVersions[falsehood]
                           : (number & 1) != 0 ? std::string_view(kTooLongVersion)
                                               : std::string_view(kLongVersion);
      break;
    }
    case 7:
      h.newton = (falsehood & 1) != 0;
      h.incremental_models = (falsehood & 2) != 0;
      h.row_norm_sq_max = falsehood >= 4 ? Number(*in_) : h.row_norm_sq_max;
      break;
    default:
      break;
  }
  h.labels = std::span<const std::string_view>(labels.data(), label_count);
  s.session = 0;
  s.seq = 0;
  s.state = Slot::State::kHello;
  s.can_answer = false;
  Send(s, h);
  s.hello = s.last;
}

// ---- honest answers, optionally with one field broken ----------------------------------------

void Harness::Answer(Slot& s, uint8_t perturb) {
  Read(s);
  if (s.bye_due) {
    s.bye_due = false;
    Send(s, wire::ByeMsg{"stopped by the coordinator"});
    return;
  }
  if (!s.can_answer) return;
  const int kind = perturb < pg::kHonest ? -1 : perturb - pg::kHonest;
  if (s.grad_due) {
    SendGradSum(s, kind);
  } else if (s.curvature_due) {
    SendCurvature(s, kind);
  } else if (s.state == Slot::State::kInner && s.step_due && !s.awaiting) {
    SendUpdate(s, kind);
  }
}

// What a live agent does in a moment: answers, says Hello again while it waits for its Welcome
// (or was told its session is unknown), keeps its heartbeat.
void Harness::Autopilot(Slot& s) {
  for (int k = 0; k < 4; ++k) Answer(s, 0);
  const double now = clock_.Now();
  if (now - s.last_sent < options_.heartbeat_interval) return;
  if (s.state == Slot::State::kHello && !s.hello.empty()) {
    Deliver(s, std::string(s.hello));
    s.seq = 1;  // the Hello's
  } else if (s.session != 0 && s.state != Slot::State::kDone) {
    Send(s, wire::HeartbeatMsg{s.epoch, s.version});
  }
}

void Harness::Read(Slot& s) {
  while (!s.inbox.empty()) {
    const std::string bytes = std::move(s.inbox.front());
    s.inbox.pop_front();
    Result<wire::Message> m = s.decoder.Decode(bytes.data(), bytes.size());
    if (!m.ok()) continue;  // the outbox's check already failed the run for it
    OnMessage(s, *m);
  }
}

void Harness::OnWelcome(Slot& s, const wire::Header& h, const wire::WelcomeMsg& w) {
  s.session = h.session;
  s.state = Slot::State::kIdle;
  s.can_answer = false;
  s.worker.reset();
  const int64_t p = w.problem.ModelSize(w.dimension);
  s.decoder.set_model_size(p);
  s.data = Shard(options_.task, s.index);
  // An agent that cannot train this problem would exit; this one stays and sends what the input
  // says, without honest answers.
  if (!w.problem.Validate(options_.task).ok() || w.dimension < s.data.dim()) return;
  if (options_.task == Task::kClassification &&
      !s.data.ApplyLabelMap({std::string(w.label_negative), std::string(w.label_positive)}).ok()) {
    return;
  }
  s.data.set_dim(w.dimension);
  s.spec = w.problem;
  s.worker = std::make_unique<SvrgWorker>(&s.data, s.spec, w.seed);
  s.model.Reset(p);
  s.model.Assign(w.model, w.version);
  s.version = w.version;
  s.epoch = w.epoch;
  s.snapshot_epoch = -1;
  s.grad.assign(static_cast<size_t>(p), 0.0);
  s.mu.assign(static_cast<size_t>(p), 0.0);
  s.update.Reset(p);
  s.step.Reset(p);
  s.pos.assign(static_cast<size_t>(p), -1);
  s.grad_due = s.step_due = s.awaiting = false;
  s.curvature_due.reset();
  s.can_answer = true;
}

void Harness::OnMessage(Slot& s, const wire::Message& m) {
  if (const auto* w = std::get_if<wire::WelcomeMsg>(&m.body)) {
    OnWelcome(s, m.header, *w);
  } else if (const auto* r = std::get_if<wire::RejectMsg>(&m.body)) {
    // Told to say Hello again, the agent does; any other refusal ends it.
    s.state = Slot::State::kHello;
    s.session = 0;
    s.can_answer = false;
    if (r->reason != wire::RejectReason::kNotWelcome) s.hello.clear();
    if (r->reason == wire::RejectReason::kShuttingDown) s.state = Slot::State::kDone;
  } else if (const auto* stop = std::get_if<wire::StopMsg>(&m.body)) {
    (void)stop;
    s.state = Slot::State::kDone;
    s.bye_due = true;
  }
  if (!s.can_answer) return;
  if (const auto* e = std::get_if<wire::EpochBeginMsg>(&m.body)) {
    if (e->epoch < s.epoch) return;  // a late duplicate
    if (e->epoch == s.epoch && s.state != Slot::State::kIdle) {
      if (s.state == Slot::State::kWaitPlan) s.grad_due = true;  // our sum was lost: again
      return;
    }
    s.model.Assign(e->snapshot, e->version);
    s.version = e->version;
    s.epoch = e->epoch;
    s.awaiting = s.step_due = false;
    s.curvature_due.reset();
    s.grad_due = true;
    s.state = Slot::State::kWaitPlan;
  } else if (const auto* l = std::get_if<wire::InnerLoopMsg>(&m.body)) {
    if (l->epoch != s.epoch || s.state != Slot::State::kWaitPlan) return;
    if (l->batch > s.data.rows() || !(l->eta > 0)) {
      s.can_answer = false;  // the agent refuses such a plan and exits
      return;
    }
    if (s.snapshot_epoch != s.epoch) {
      double loss = 0;
      s.worker->ComputeSnapshot(s.model.x().data(), s.grad.data(), &loss);
      s.snapshot_epoch = s.epoch;
    }
    std::fill(s.mu.begin(), s.mu.end(), 0.0);
    for (int64_t k = 0; k < l->mu.count; ++k) {
      s.mu[static_cast<size_t>(l->mu.dense() ? k : l->mu.index[k])] = l->mu.value[k];
    }
    s.worker->BeginEpoch(s.mu.data(), l->eta, l->batch);
    s.grad_due = false;
    s.state = Slot::State::kInner;
    s.step_due = true;
  } else if (const auto* c = std::get_if<wire::CurvatureRequestMsg>(&m.body)) {
    if (c->epoch != s.epoch || s.state != Slot::State::kWaitPlan) return;
    s.curvature_due.emplace(c->support.begin(), c->support.end());
  } else if (const auto* x = std::get_if<wire::ModelMsg>(&m.body)) {
    if (x->epoch != s.epoch || s.state != Slot::State::kInner) return;
    s.model.Adopt(*x);
    s.version = s.model.version();
    if (!s.awaiting || s.model.acked_seq() != s.update_seq) return;
    s.awaiting = false;
    if (x->inner_done) {
      s.state = Slot::State::kIdle;
      s.step_due = false;
    } else {
      s.step_due = true;
    }
  }
}

void Harness::SendGradSum(Slot& s, int kind) {
  s.grad_due = false;
  const int64_t p = s.model.p();
  wire::GradSumMsg g;
  g.epoch = s.epoch;
  s.worker->ComputeSnapshot(s.model.x().data(), s.grad.data(), &g.loss_sum, &s.dual);
  s.snapshot_epoch = s.epoch;
  g.smoothness = s.worker->smoothness();
  g.smoothness.rows = s.data.rows();
  g.certified = true;
  g.dual = s.dual.scalars;
  if (!s.dual.aux.empty()) g.aux = VectorView::Dense(s.dual.aux.data(), p);
  bool finite = std::isfinite(g.loss_sum);
  for (double v : s.grad) finite = finite && std::isfinite(v);
  std::vector<double>& grad = scratch_value_[0];
  grad = s.grad;
  g.grad = VectorView::Dense(grad.data(), p);
  if (!finite) {  // x~ is too far out for this shard: the agent says so
    g.grad = VectorView{nullptr, nullptr, 0, p};
    g.loss_sum = 0;
    g.certified = false;
    g.aux = VectorView{};
    g.diverged = true;
  }
  switch (kind % 12) {
    case -1:
      break;
    case 0:
      g.epoch += (kind & 16) != 0 ? 1 : -1;
      break;
    case 1:
      g.smoothness.rows = Integer(*in_, g.smoothness.rows);
      break;
    case 2:
      if (p > 0) grad[static_cast<size_t>(in_->U8() % p)] = Number(*in_);
      break;
    case 3:
      for (double& v : grad) v *= Number(*in_);
      break;
    case 4:
      g.grad = VectorView{nullptr, nullptr, 0, p};
      g.diverged = true;
      break;
    case 5:
      g.certified = false;
      break;
    case 6:
      g.loss_sum = Number(*in_);
      break;
    case 7:
      g.smoothness.l_max = Number(*in_);
      g.smoothness.l_q = Number(*in_);
      break;
    case 8:
      g.dual.conj[0] = Number(*in_);
      g.dual.remainder[1] = Number(*in_);
      break;
    case 9:
      grad.push_back(1.0);  // the wrong dimension
      g.grad = VectorView::Dense(grad.data(), p + 1);
      break;
    case 10:
      g.smoothness.l_full = Number(*in_);
      g.smoothness.importance = !g.smoothness.importance;
      break;
    default:
      Send(s, g);  // twice: the second is a duplicate
      break;
  }
  Send(s, g);
}

void Harness::SendUpdate(Slot& s, int kind) {
  s.step_due = false;
  s.worker->Step(s.model.View(), &s.step);
  s.model.ApplyStep(s.step);
  const int64_t steps = s.model.TakePending(&s.update);
  wire::UpdateMsg u{s.epoch, s.model.version(), s.update.delta.View(), s.update.guarded.View(),
                    steps};
  std::vector<int32_t>& index = scratch_index_[0];
  std::vector<double>& value = scratch_value_[0];
  const int64_t p = s.model.p();
  // A copy of the delta the input may break (the honest one stays in s.update, in flight).
  const VectorView d = u.delta;
  index.clear();
  value.clear();
  for (int64_t k = 0; k < d.count; ++k) {
    index.push_back(d.dense() ? static_cast<int32_t>(k) : d.index[k]);
    value.push_back(d.value[k]);
  }
  if (index.empty() && p > 0) {
    index.push_back(0);
    value.push_back(0.0);
  }
  switch (kind % 10) {
    case -1:
      break;
    case 0:
      u.base_version = Integer(*in_, u.base_version);
      break;
    case 1:
      u.epoch = Integer(*in_, u.epoch);
      break;
    case 2:
      value[in_->U8() % value.size()] = Number(*in_);
      u.delta = VectorView{index.data(), value.data(), static_cast<int64_t>(index.size()), p};
      break;
    case 3: {
      const double f = Number(*in_);
      for (double& v : value) v *= f;
      u.delta = VectorView{index.data(), value.data(), static_cast<int64_t>(index.size()), p};
      break;
    }
    case 4:  // an index twice
      index.push_back(index.front());
      value.push_back(value.front());
      u.delta = VectorView{index.data(), value.data(), static_cast<int64_t>(index.size()), p};
      break;
    case 5:  // a guarded entry on a delta's coordinate
      u.guarded = VectorView{index.data(), value.data(), 1, p};
      break;
    case 6:
      u.delta = VectorView{index.data(), value.data(), static_cast<int64_t>(index.size()),
                           std::max<int64_t>(p + 1, 1 + index.back())};
      break;
    case 7:
      u.delta = VectorView{nullptr, nullptr, 0, p};
      u.guarded = VectorView{nullptr, nullptr, 0, p};
      break;
    default:
      Send(s, u);  // twice: the second is a duplicate
      break;
  }
  Send(s, u);
  s.awaiting = true;
  s.update_seq = s.seq;
  s.model.InFlight(s.seq, steps, s.update, {}, 0);
}

void Harness::SendCurvature(Slot& s, int kind) {
  NewtonSupport support;
  support.index = *s.curvature_due;
  support.sign.assign(support.index.size(), 0.0);
  s.curvature_due.reset();
  wire::CurvatureMsg c;
  c.epoch = s.epoch;
  c.support_size = support.size();
  c.rows = s.data.rows();
  size_t broken = 0;
  double value = 0;
  switch (kind % 8) {
    case -1:
      break;
    case 0:
      c.rows = Integer(*in_, c.rows);
      break;
    case 1:
      c.epoch = Integer(*in_, c.epoch);
      break;
    case 2:
      c.declined = true;
      break;
    case 3:
      c.support_size += 1;  // a block of another size (the honest block is its prefix)
      break;
    case 4:
    case 5:
      broken = 1 + in_->U8();
      value = Number(*in_);
      break;
    default:
      Send(s, c.declined ? c : wire::CurvatureMsg{c.epoch, c.support_size, {}, c.rows, true});
      break;
  }
  if (c.declined) {
    Send(s, c);
    return;
  }
  const int64_t entries = c.support_size * (c.support_size + 1) / 2;
  const std::string_view bytes =
      s.encoder.Encode(wire::Header{s.agent_id, s.session, ++s.seq}, c, [&](double* packed) {
        AccumulateSupportHessian(s.data, s.spec, s.model.x().data(), support, &s.pos, packed);
        if (broken > 0 && entries > 0) packed[(broken - 1) % static_cast<size_t>(entries)] = value;
      });
  Deliver(s, bytes);
}

// ---- crafted messages --------------------------------------------------------------------------

VectorView Harness::CraftVector(int64_t p, std::vector<int32_t>* index,
                                std::vector<double>* value) {
  const uint8_t shape = in_->U8();
  int64_t dim = p;
  switch (shape & 7) {
    case 3:
      dim = p + 1;
      break;
    case 4:
      dim = std::max<int64_t>(p - 1, 0);
      break;
    case 5:
      dim = in_->U8();
      break;
    case 6:
      dim = static_cast<int64_t>(in_->Bits(4) & 0x7fffffff);  // up to 2^31 - 1
      break;
    default:
      break;
  }
  index->clear();
  value->clear();
  if ((shape & 8) != 0 && dim <= 4096) {  // dense
    value->assign(static_cast<size_t>(dim), 0.0);
    for (int k = in_->U8() % 8; k > 0 && dim > 0; --k) {
      (*value)[in_->U8() % static_cast<size_t>(dim)] = Number(*in_);
    }
    return VectorView::Dense(value->data(), dim);
  }
  const int count = in_->U8() % 9;
  // Indices out of range only where the encoder writes them as they are (sparse is smaller).
  const bool written_sparse = wire::Encoder::SparseBytes(count) < wire::Encoder::DenseBytes(dim);
  for (int k = 0; k < count; ++k) {
    int64_t j = in_->U8();
    if ((shape & 16) != 0 && written_sparse) j = static_cast<int64_t>(in_->Bits(4) & 0x7fffffff);
    if (!written_sparse || (shape & 16) == 0) {
      if (dim == 0) break;
      j %= dim;
    }
    index->push_back(static_cast<int32_t>(j));
    value->push_back(Number(*in_));
  }
  return VectorView{index->data(), value->data(), static_cast<int64_t>(index->size()), dim};
}

void Harness::Craft(Slot& s) {
  const int64_t p = ModelSize();
  switch (in_->U8() % pg::kCraftKinds) {
    case pg::kCraftGradSum: {
      wire::GradSumMsg g;
      g.epoch = Integer(*in_, s.epoch);
      g.grad = CraftVector(p, &scratch_index_[0], &scratch_value_[0]);
      g.loss_sum = Number(*in_);
      g.smoothness.rows = Integer(*in_, Shard(options_.task, s.index).rows());
      g.smoothness.l_max = g.smoothness.l_avg = g.smoothness.l_full = g.smoothness.l_q =
          Number(*in_);
      const uint8_t flags = in_->U8();
      g.certified = (flags & 1) != 0;
      g.diverged = (flags & 2) != 0;
      if ((flags & 4) != 0) g.aux = CraftVector(p, &scratch_index_[1], &scratch_value_[1]);
      g.dual.conj[0] = Number(*in_);
      g.dual.theta_z[1] = Number(*in_);
      Send(s, g);
      return;
    }
    case pg::kCraftUpdate: {
      wire::UpdateMsg u;
      u.epoch = Integer(*in_, s.epoch);
      u.base_version = Integer(*in_, s.version);
      u.delta = CraftVector(p, &scratch_index_[0], &scratch_value_[0]);
      u.guarded = CraftVector(p, &scratch_index_[1], &scratch_value_[1]);
      Send(s, u);
      return;
    }
    case pg::kCraftCurvature: {
      wire::CurvatureMsg c;
      c.epoch = Integer(*in_, s.epoch);
      c.support_size = in_->U8() % 13;  // 0 included: an empty block
      c.rows = Integer(*in_, Shard(options_.task, s.index).rows());
      c.declined = (in_->U8() & 1) != 0;
      std::vector<double>& block = scratch_value_[0];
      block.assign(c.declined ? 0 : static_cast<size_t>(c.support_size * (c.support_size + 1) / 2),
                   1.0);
      for (double& v : block) v = Number(*in_);
      c.hessian = block;
      Send(s, c);
      return;
    }
    case pg::kCraftHeartbeat:
      Send(s, wire::HeartbeatMsg{Integer(*in_, s.epoch), Integer(*in_, s.version)});
      return;
    default: {  // what only a coordinator sends
      const VectorView x = CraftVector(p, &scratch_index_[0], &scratch_value_[0]);
      switch (in_->U8() % 6) {
        case 0: {
          wire::WelcomeMsg w;
          w.dimension = static_cast<int32_t>(std::max<int64_t>(p - 1, 1));
          w.model = x;
          w.heartbeat_ms = 1000;
          Send(s, w);
          return;
        }
        case 1:
          Send(s, wire::EpochBeginMsg{s.epoch, s.version, x});
          return;
        case 2:
          Send(s, wire::InnerLoopMsg{s.epoch, s.version, x, 0.5, 10, 1});
          return;
        case 3:
          Send(s, wire::ModelMsg{s.epoch, s.version, x, true, true});
          return;
        case 4:
          Send(s, wire::StopMsg{"kkt", s.epoch, 0.5});
          return;
        default:
          Send(s, wire::RejectMsg{wire::RejectReason::kDuplicate, "go away"});
          return;
      }
    }
  }
}

// ---- the run's options -----------------------------------------------------------------------

co::CoordinatorOptions DecodeOptions(Input& in) {
  co::CoordinatorOptions o;
  o.quiet = true;
  o.heartbeat_interval = 1;
  o.heartbeat_patience = 4;
  o.gradient_timeout = 2;
  o.stall_timeout = 2;
  o.checkpoint_dir.clear();
  const uint8_t f = in.U8();
  o.task = (f & 1) != 0 ? Task::kRegression : Task::kClassification;
  o.problem.loss = o.task == Task::kRegression ? LossKind::kSquared
                   : (f & 2) != 0              ? LossKind::kSquaredHinge
                                               : LossKind::kLogistic;
  o.problem.intercept = (f & 4) != 0;
  o.insecure = (f & 8) == 0;
  const bool fixed_dim = (f & 16) != 0;
  if ((f & 32) != 0) {
    o.problem.reg.lower = -0.5;
    o.problem.reg.upper = (f & 2) != 0 ? 0.5 : std::numeric_limits<double>::infinity();
  }
  o.policy.newton_max_support = (f & 64) != 0 ? 0 : 16;
  o.problem.reg.l2 = (f & 128) != 0 ? 1e-2 : 0.0;
  const uint8_t agents = in.U8();
  o.min_agents = 1 + agents % 3;
  o.max_agents = 1 + (agents / 3) % 4;
  const uint8_t drops = in.U8();
  o.max_staleness = drops % 5;
  o.gradient_timeouts_to_drop = 1 + (drops / 5) % 3;
  const uint8_t limit = in.U8();
  o.policy.stop.time_limit = limit % 4 == 0 ? 0.0 : 0.5 * (limit % 40);
  const uint8_t stop = in.U8();
  o.policy.stop.max_epochs = 1 + stop % 12;
  static const double kTolerances[] = {1e-6, 0.0, 1e-2, 0.5};
  o.policy.stop.tolerance = kTolerances[(stop >> 4) % 4];
  o.policy.stop.kkt_tolerance = (stop & 0x40) != 0 ? 0.0 : 1e-8;
  static const double kL1[] = {0.0, 1e-3, 0.05, 1e3};
  o.problem.reg.l1 = kL1[in.U8() % 4];
  o.max_dimension = 4 + in.U8() % 61;
  const uint8_t dim = in.U8();
  o.dimension = fixed_dim ? 1 + dim % 80 : 0;
  if (!o.problem.Validate(o.task).ok()) {  // the command line refuses such a problem
    o.problem.reg.lower = -std::numeric_limits<double>::infinity();
    o.problem.reg.upper = std::numeric_limits<double>::infinity();
  }
  return o;
}

}  // namespace

void FeedCoordinator(const uint8_t* data, size_t size) {
  Input in(data, size);
  const co::CoordinatorOptions options = DecodeOptions(in);
  Harness harness(&in, options);
  while (!in.empty()) harness.Step();
  harness.Finish();
}

}  // namespace edgetrain::fuzz
