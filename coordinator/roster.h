// Roster: who the coordinator is talking to -- agents by connection, their sessions and sequence
// numbers, what their Hello declared, and which credential each agent id belongs to. It decides
// admissions and authenticates messages, and returns what happened (an Admission, a Check)
// instead of calling back: the driver acts on it.
//
// Identity (docs/security.md, "Threat model"): an agent id is bound, for the run, to the
// credential that first used it -- its CURVE public key, or with --insecure its IP address. A
// Hello with a bound id from another credential is refused as Duplicate, naming both; from the
// same credential (a restarted device, a new connection) it replaces the earlier session. One
// connection speaks for one agent id. Everything is bounded: at most max_agents connections hold
// an agent; bindings of ids not connected are evicted least recently used beyond kMaxBindings;
// refusal counts per sender keep kMaxSenders senders (the rest are counted as "others").
//
// Thread-safety: none; the driver owns it. Ownership: owns the agent records.
#ifndef EDGETRAIN_COORDINATOR_ROSTER_H_
#define EDGETRAIN_COORDINATOR_ROSTER_H_

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "edgetrain/scaler.h"
#include "edgetrain/wire.h"

namespace edgetrain::coordinator {

// A connection, as the transport knows it.
struct Peer {
  std::string_view identity;  // ZeroMQ routing id of the connection
  std::string_view address;   // remote IP ("" when unknown)
  std::string_view key;       // the CURVE public key it authenticated with ("" when insecure)
};

// An agent's part in the current phase of the epoch.
enum class Role : uint8_t {
  kIdle,      // welcomed, not taking part in this phase (a late joiner, or timed out)
  kAwaiting,  // sent the phase's message (EpochBegin, CurvatureRequest), its answer is due
  kAnswered,  // answered it
  kInner,     // in the inner loop
};

// What the coordinator knows about one agent's health (the operators' per-agent view).
struct AgentHealth {
  int64_t updates_applied = 0;
  int64_t updates_refused = 0;
  int64_t messages = 0;
  int64_t staleness_sum = 0;  // over applied updates
  int64_t gradient_timeouts = 0;
  std::map<std::string, int64_t> refused_by_reason;  // the driver's fixed words: bounded
  uint32_t rtt_us = 0;                               // as the agent last reported it
  const char* last_message = "";                     // wire::MessageName of the last one
};

struct Agent {
  std::string identity, agent_id, address, key, software_version;
  uint64_t session = 0;  // 0: waiting for the start (not welcomed yet)
  uint64_t seq_in = 0, seq_out = 0;
  double last_heard = 0, last_sent = 0, phase_sent = 0;
  // Declared in its Hello.
  int64_t rows = 0;
  int32_t dimension = 0;
  std::vector<std::string> labels;
  double row_norm_sq_max = 0;
  bool incremental = false, newton = false;
  // The shard's column statistics (until the run starts and merges them; empty: not sent) and
  // the scaler it asked for (-1: none asked).
  std::optional<ColumnStats> column_stats;
  int8_t scale_request = -1;
  // The epoch.
  Role role = Role::kIdle;
  bool participant = false;  // its gradient sum is in this epoch's mu~
  int64_t epoch_updates = 0;
  int64_t answered_to = 0;  // the version its last answer (or EpochBegin, Welcome) brought it to
  int64_t session_applied = 0;  // its Updates applied in this session
  int gradient_timeouts_in_a_row = 0;
  AgentHealth health;
  // Training rounds.
  bool round_pending = false;  // told RoundBegin; its Hello for the round has not come yet
  int64_t rows_now = 0;        // between rounds: the rows it reported in a heartbeat (0: none)
  int64_t model_round = 0;     // the newest published round whose model it said it saved

  bool welcomed() const { return session != 0; }
  // The next header to this agent.
  wire::Header NextHeader() { return {agent_id, session, ++seq_out}; }
};

struct RosterOptions {
  bool insecure = false;
  int max_agents = 1024;
};

class Roster {
 public:
  static constexpr size_t kMaxBindings = 8192;
  static constexpr size_t kMaxSenders = 256;

  explicit Roster(RosterOptions options) : options_(options) {}

  struct Admission {
    // kRetry: a repeated Hello while waiting for the start; kRewelcome: a Hello repeated on the
    // connection of an agent welcomed that has sent nothing since (its retry crossed the Welcome).
    enum class Kind : uint8_t { kNew, kRetry, kRewelcome, kRefused };
    Kind kind = Kind::kRefused;
    wire::RejectReason reason = wire::RejectReason::kBadMessage;
    std::string text;        // kRefused: why, for the Reject and the log
    Agent* agent = nullptr;  // kNew (a fresh record: the caller fills what the Hello declared),
                             // kRetry and kRewelcome (the record, heard again)
    std::optional<Agent> replaced;  // kNew: the earlier session of this id, now removed
  };
  // A Hello from `peer` for `agent_id`.
  Admission Admit(const Peer& peer, std::string_view agent_id, double now);

  struct Check {
    enum class Kind : uint8_t { kOk, kUnknownSender, kWrongSession, kRepeat };
    Kind kind = Kind::kUnknownSender;
    Agent* agent = nullptr;  // all but kUnknownSender
  };
  // Any other message: from a known connection, the agent's id and session, a new sequence number.
  Check Authenticate(std::string_view identity, const wire::Header& header, double now);

  Agent* Find(std::string_view identity);
  // Removes the agent of a connection (its id stays bound to its credential).
  std::optional<Agent> Remove(std::string_view identity);
  // The connections whose key `allowed` no longer accepts (after an allow-list reload).
  std::vector<std::string> Revoked(const std::function<bool(std::string_view key)>& allowed) const;
  // The connections silent for longer than `patience` seconds.
  std::vector<std::string> Silent(double now, double patience) const;

  // The distinct raw labels the agents declared (all but the connection `except`), plus `extra`.
  std::vector<std::string> DistinctLabels(std::string_view except,
                                          const std::vector<std::string>& extra) const;

  void ForEach(const std::function<void(Agent&)>& f);
  void ForEach(const std::function<void(const Agent&)>& f) const;
  int size() const { return static_cast<int>(agents_.size()); }
  int welcomed() const;
  int64_t bindings() const { return static_cast<int64_t>(bindings_.size()); }

  // Refusals, counted per reason and per sender (an agent id, or the peer address of a connection
  // that is not an agent); bounded.
  void CountRefusal(const std::string& sender, const std::string& reason);
  const std::map<std::string, int64_t>& refused_by_reason() const { return by_reason_; }
  const std::map<std::string, int64_t>& refused_by_sender() const { return by_sender_; }
  int64_t refused() const { return refused_; }

 private:
  struct Binding {
    std::string credential;
    std::string address;
    std::list<std::string>::iterator lru;  // position in lru_ (most recent at the front)
  };
  std::string CredentialOf(const Peer& peer) const;
  void Bind(std::string_view agent_id, const std::string& credential, std::string_view address);
  std::string InUseText(std::string_view agent_id, const Binding& b, const Peer& peer) const;

  RosterOptions options_;
  std::map<std::string, std::unique_ptr<Agent>, std::less<>> agents_;  // by connection
  std::map<std::string, std::string, std::less<>> connection_of_;      // agent id -> connection
  std::map<std::string, Binding, std::less<>> bindings_;               // agent id -> credential
  std::list<std::string> lru_;                                         // agent ids, recent first
  std::map<std::string, int64_t> by_reason_, by_sender_;
  int64_t refused_ = 0;
};

}  // namespace edgetrain::coordinator

#endif  // EDGETRAIN_COORDINATOR_ROSTER_H_
