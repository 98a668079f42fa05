// The inner loop's exchange, both ends, socket-free (docs/protocol.md, "Answers"): the coordinator
// applies an agent's Update to its CoordinatorState and encodes the answer (UpdateAnswerer); the
// agent keeps its copy of the model in step with the answers while several Updates are in flight
// (PipelineReplica). The coordinator, the agent, tests/alloc_test.cc and
// bench/coordinator_throughput.cc all call these, so the allocation test and the throughput
// benchmark measure the product.
//
// An agent never waits for an answer: it steps on its copy, applies its own steps to it at once,
// sums them into the next Update, and keeps several Updates in flight. Answers come in the order
// of the Updates; each one continues the previous (since = the previous answer's version) and
// holds what to ADD to the copy: the other agents' changes since, and for the update answered
// what the coordinator did differently from what was sent (zero when applied exactly, -Delta
// when refused). So the copy equals the coordinator's x at the answer's version plus the agent's
// own newer steps, up to rounding. A lost answer shows as a gap; the agent then repeats its
// oldest unanswered Update, and a repeated Update is answered with the whole model and the
// newest Update the coordinator processed, from which the copy is rebuilt exactly.
//
// Thread-safety: none (the coordinator's driver, the agent's session). Ownership: each owns its
// scratch, allocated once for the model size; answers live in the caller's Encoder until its next
// call.
#ifndef EDGETRAIN_UPDATE_ANSWER_H_
#define EDGETRAIN_UPDATE_ANSWER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "edgetrain/coordinator_state.h"
#include "edgetrain/model_replica.h"
#include "edgetrain/sparse_vector.h"
#include "edgetrain/wire.h"

namespace edgetrain {

// Who sent an Update, and how to answer it.
struct UpdateSender {
  wire::Header reply;         // the answer's envelope: the agent's id, session and next seq
  uint64_t update_seq = 0;    // the Update's sequence number (every answer names it)
  bool incremental = false;   // the agent takes incremental answers (its Hello said so)
  uint64_t owner = 0;         // tags its changes in the state's log (its session)
  int64_t since = 0;          // the version the previous answer to this agent brought it to
  int64_t applied_count = 0;  // its Updates applied before this one (the answer adds this one)
};

struct UpdateAnswer {
  UpdateVerdict verdict = UpdateVerdict::kApplied;
  bool inner_done = false;   // this update completed the epoch's inner phase
  bool incremental = false;  // additive changes, not the whole model
  int64_t version = 0;       // the version the answer brings the agent to (its next `since`)
  std::string_view bytes;    // the encoded answer, valid until the encoder's next call
};

// The coordinator's end.
class UpdateAnswerer {
 public:
  // Scratch for a model of p entries, once; answering never allocates after.
  explicit UpdateAnswerer(int64_t p);

  // Applies the update (CoordinatorState::ApplyUpdate with the staleness bound) and encodes the
  // answer: incremental when the sender takes it and the change log covers (since, version] with
  // fewer entries than the model has, else the whole model.
  // REQUIRES: the update passed the Decoder with the state's model size; since <= version.
  UpdateAnswer AnswerUpdate(CoordinatorState* state, const wire::UpdateMsg& update,
                            const UpdateSender& from, int64_t max_staleness,
                            wire::Encoder* encoder);

  // Damping of concurrent updates (docs/algorithm.md, "Combining concurrent updates"): eta * L_f
  // of the epoch's plan; 0 turns it off (every update applied as sent).
  void set_eta_lf(double eta_lf) { eta_lf_ = eta_lf; }
  // The weight an update of `steps` steps gets when `foreign` was applied since its base.
  double Weight(int64_t steps, const CoordinatorState::Foreign& foreign) const;

  // A repeated Update (its sequence number was seen): never applied twice, answered with the
  // whole model and the newest Update of the session processed (processed_seq).
  static std::string_view AnswerRepeat(const CoordinatorState& state, const UpdateSender& from,
                                       uint64_t processed_seq, wire::Encoder* encoder);

 private:
  void Accumulate(int32_t j, double v);

  std::vector<double> acc_;      // p: the answer's changes, valid where stamp_ == current_
  std::vector<uint32_t> stamp_;  // p
  uint32_t current_ = 0;
  std::vector<int32_t> touched_;  // capacity p
  double eta_lf_ = 0;
};

// The agent's end: its copy of the model with several Updates in flight.
class PipelineReplica {
 public:
  PipelineReplica() = default;
  // All zeros, dimension p; scratch allocated once.
  void Reset(int64_t p);

  // The whole model x at `version` (a Welcome, an EpochBegin): nothing in flight or pending.
  void Assign(const VectorView& x, int64_t version);

  // One inner step at the copy: applied to it at once and added to the pending Update.
  // REQUIRES: step.delta.dim() == p().
  void ApplyStep(const ModelUpdate& step);
  int64_t pending_steps() const { return pending_steps_; }

  // Moves the pending steps into *out (cleared first; guarded entries: coordinates the agent's
  // own last step put at zero) and records the Update as in flight under `seq`, with its encoded
  // bytes for a repeat. Returns the number of steps.
  int64_t TakePending(ModelUpdate* out);
  // REQUIRES: in_flight() < kMaxInFlight.
  void InFlight(uint64_t seq, int64_t steps, const ModelUpdate& sent, std::string_view bytes,
                double sent_at);

  enum class Adoption : uint8_t {
    kApplied,   // in order: added to the copy (and any buffered successors after it)
    kWhole,     // a whole model: the copy rebuilt from it and the newer own Updates
    kBuffered,  // ahead of a missing answer: kept until the gap fills
    kIgnored,   // already seen (a duplicate, or older than a whole model taken since)
  };
  // An answer from the coordinator (the decoder checked it against p).
  Adoption Adopt(const wire::ModelMsg& answer);

  // The oldest Update in flight (its seq, bytes and when it was sent), or null.
  struct Flight {
    uint64_t seq = 0;
    int64_t steps = 0;
    double sent_at = 0;
    bool resent = false;
    std::vector<int32_t> index;  // delta then guarded entries, as sent
    std::vector<double> value;
    std::string bytes;
  };
  Flight* oldest() { return count_ == 0 ? nullptr : &ring_[head_]; }
  const Flight* oldest() const { return count_ == 0 ? nullptr : &ring_[head_]; }
  int in_flight() const { return count_; }
  // Most Updates in flight at once.
  static constexpr int kMaxInFlight = 64;
  bool gap() const { return !buffered_.empty(); }  // an answer is missing
  // What the last kApplied/kWhole adoption acknowledged: the Update answered and whether it was
  // applied; -1 when an adoption acknowledged nothing new.
  uint64_t acked_seq() const { return acked_seq_; }
  const Flight& acked() const { return acked_; }

  int64_t p() const { return copy_.p(); }
  int64_t version() const { return version_; }
  const std::vector<double>& x() const { return copy_.x(); }
  ModelView View() const { return copy_.View(); }

 private:
  void AddToCopy(int32_t j, double v) { copy_.AddTo(j, v); }
  void Acknowledge(uint64_t seq);
  void TakeBuffered();
  void PopOldest() {
    head_ = (head_ + 1) % kMaxInFlight;
    --count_;
  }
  const Flight& At(int k) const { return ring_[(head_ + k) % kMaxInFlight]; }

  ModelReplica copy_;
  int64_t version_ = 0;  // the coordinator version the copy has every other change up to
  // The pending Update: own steps not yet sent, summed (dense scratch with stamps).
  std::vector<double> pending_;
  std::vector<uint8_t> guard_;  // the coordinate's last own step put it at zero
  std::vector<uint32_t> stamp_;
  uint32_t current_ = 1;
  std::vector<int32_t> touched_;
  int64_t pending_steps_ = 0;
  std::vector<Flight> ring_;  // in flight, oldest at head_ (kMaxInFlight slots, reused)
  int head_ = 0, count_ = 0;
  struct Buffered {
    int64_t since = 0, version = 0;
    uint64_t update_seq = 0;
    std::vector<int32_t> index;
    std::vector<double> value;
  };
  std::vector<Buffered> buffered_;  // answers ahead of a missing one
  uint64_t acked_seq_ = 0;
  Flight acked_;
};

}  // namespace edgetrain

#endif  // EDGETRAIN_UPDATE_ANSWER_H_
