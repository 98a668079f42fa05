// A coordinator Driver under test, without sockets: a manual clock, a scripted outbox that keeps
// every message the driver sends (decoded with the real decoder on demand), a sink that keeps
// every event, and fake agents that speak to the driver with the real encoder. Tests advance the
// clock and call Tick to make timeouts happen; a whole run takes milliseconds.
#ifndef EDGETRAIN_TESTS_DRIVER_HARNESS_H_
#define EDGETRAIN_TESTS_DRIVER_HARNESS_H_

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "driver.h"
#include "edgetrain/clock.h"
#include "edgetrain/dataset.h"
#include "edgetrain/wire.h"
#include "events.h"

namespace edgetrain::testing {

// Every message the driver sends, per connection, in order.
class ScriptedOutbox : public coordinator::Outbox {
 public:
  bool Send(std::string_view identity, std::string_view bytes) override {
    if (!accept) return false;
    queues_[std::string(identity)].emplace_back(bytes);
    return true;
  }
  // The messages for a connection not taken yet (raw bytes), which are then forgotten.
  std::deque<std::string> Take(const std::string& identity);
  bool accept = true;  // false: every send fails (the peer is gone)

 private:
  std::map<std::string, std::deque<std::string>> queues_;
};

class CollectingSink : public coordinator::EventSink {
 public:
  void Emit(const coordinator::Event& e) override { events.push_back(e); }
  template <typename T>
  std::vector<T> Of() const {
    std::vector<T> out;
    for (const auto& e : events) {
      if (const T* t = std::get_if<T>(&e)) out.push_back(*t);
    }
    return out;
  }
  std::vector<coordinator::Event> events;
};

// One decoded message the driver sent, with the bytes it points into.
struct Received {
  std::string bytes;
  wire::Message message;
  template <typename T>
  const T* As() const {
    return std::get_if<T>(&message.body);
  }
};

// A fake agent: one connection to the driver.
class FakeAgent {
 public:
  FakeAgent(coordinator::Driver* driver, ScriptedOutbox* outbox, std::string agent_id,
            std::string address = "10.0.0.1", std::string key = "");

  // Says Hello with the given facts (seq 1, session 0).
  void Hello(int64_t rows, int32_t dimension, std::vector<std::string> labels = {"-1", "+1"},
             bool newton = true, Task task = Task::kClassification);
  // Sends a message in its session (next seq).
  template <typename M>
  void Send(const M& m) {
    Deliver(encoder_.Encode(wire::Header{agent_id_, session_, ++seq_}, m));
  }
  // The same bytes as the last Send again (a retransmission).
  void Repeat() { Deliver(last_); }
  // Raw bytes from this connection.
  void Deliver(std::string_view bytes);

  // The messages the driver sent to this agent since the last call, decoded. A Welcome sets the
  // session; a Stop is answered by nothing (the test decides).
  std::vector<Received> Inbox();
  // The last message of type T in the inbox just taken, or null.
  template <typename T>
  static const T* Last(const std::vector<Received>& inbox) {
    for (auto it = inbox.rbegin(); it != inbox.rend(); ++it) {
      if (const T* t = it->As<T>()) return t;
    }
    return nullptr;
  }

  const std::string& identity() const { return identity_; }
  const std::string& agent_id() const { return agent_id_; }
  uint64_t session() const { return session_; }
  uint64_t seq() const { return seq_; }
  void set_session(uint64_t s) { session_ = s; }

 private:
  coordinator::Driver* driver_;
  ScriptedOutbox* outbox_;
  std::string identity_, agent_id_, address_, key_;
  uint64_t session_ = 0, seq_ = 0;
  wire::Encoder encoder_;
  wire::Decoder decoder_;
  std::string last_;
  std::vector<std::string_view> labels_;
  std::vector<std::string> label_storage_;
  static int next_connection_;
};

// The driver, its clock, outbox and events, with options for fast tests (insecure, short
// timeouts, quiet).
struct DriverRig {
  explicit DriverRig(coordinator::CoordinatorOptions options = DefaultOptions());
  static coordinator::CoordinatorOptions DefaultOptions();
  // Advances the clock by `seconds` in steps of `step`, ticking the driver after each.
  void Run(double seconds, double step = 0.05);
  std::unique_ptr<FakeAgent> Agent(const std::string& id, const std::string& address = "10.0.0.1",
                                   const std::string& key = "");

  coordinator::CoordinatorOptions options;
  ManualClock clock;
  ScriptedOutbox outbox;
  CollectingSink events;
  std::unique_ptr<coordinator::Driver> driver;
};

// A gradient pass of a shard at x, as an agent computes it (runtime code), sent as a GradSum.
wire::GradSumMsg GradSumOf(const Dataset& shard, const ProblemSpec& spec, const VectorView& x,
                           int64_t epoch, std::vector<double>* grad_storage,
                           DualSums* dual_storage);

}  // namespace edgetrain::testing

#endif  // EDGETRAIN_TESTS_DRIVER_HARNESS_H_
