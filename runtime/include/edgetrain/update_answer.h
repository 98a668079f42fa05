// The inner loop's exchange, both ends, socket-free: the coordinator applies an agent's Update to
// its CoordinatorState and encodes the Model answer (UpdateAnswerer::AnswerUpdate); the agent
// brings its copy of the model to that answer (AdoptAnswer). The coordinator, the agent,
// tests/alloc_test.cc and bench/coordinator_throughput.cc all call these two, so the allocation
// test and the throughput benchmark measure the product.
//
// Answers: an agent whose Hello set incremental_models gets only the coordinates changed since
// the version its Update was computed at (without its own update when that was applied exactly:
// it adds it itself), so an answer costs O(what changed), not O(model); otherwise, or when the
// change log cannot say (docs/protocol.md, "Incremental model answers"), the whole model.
//
// Thread-safety: none (the coordinator's event loop, the agent's loop). Ownership: the answerer
// owns its change list; answers live in the caller's Encoder until its next call.
#ifndef EDGETRAIN_UPDATE_ANSWER_H_
#define EDGETRAIN_UPDATE_ANSWER_H_

#include <cstdint>
#include <string_view>
#include <vector>

#include "edgetrain/coordinator_state.h"
#include "edgetrain/model_replica.h"
#include "edgetrain/sparse_vector.h"
#include "edgetrain/wire.h"

namespace edgetrain {

// Who sent an Update, and how to answer it.
struct UpdateSender {
  wire::Header reply;        // the answer's envelope: the agent's id, session and next seq
  uint64_t update_seq = 0;   // the Update's sequence number (every answer names it)
  bool incremental = false;  // the agent takes incremental answers (its Hello said so)
};

struct UpdateAnswer {
  UpdateVerdict verdict = UpdateVerdict::kApplied;
  bool inner_done = false;   // this update completed the epoch's inner phase
  bool incremental = false;  // the answer holds only what changed since the update's base
  std::string_view bytes;    // the encoded Model answer, valid until the encoder's next call
};

// The coordinator's end.
class UpdateAnswerer {
 public:
  // Reserves the change list for a model of p entries once; answering never allocates after.
  explicit UpdateAnswerer(int64_t p) { changes_.reserve(static_cast<size_t>(p)); }

  // Applies the update (CoordinatorState::ApplyUpdate with the staleness bound) and encodes the
  // Model answer: applied or not, inner_done when it completed the epoch, incremental when the
  // sender takes it and the change log reaches back to the update's base version.
  // REQUIRES: the update passed the Decoder with the state's model size.
  UpdateAnswer AnswerUpdate(CoordinatorState* state, const wire::UpdateMsg& update,
                            const UpdateSender& from, int64_t max_staleness,
                            wire::Encoder* encoder);

  // A repeated Update (its sequence number was seen): never applied twice, answered with the
  // whole model (applied false, inner_done false).
  static std::string_view AnswerRepeat(const CoordinatorState& state, const UpdateSender& from,
                                       wire::Encoder* encoder);

 private:
  std::vector<int32_t> changes_;  // an incremental answer's coordinates (capacity p)
};

// The agent's end: the Update it has in flight.
struct InFlightUpdate {
  bool awaiting = false;               // an Update is out and its answer has not come
  uint64_t seq = 0;                    // its sequence number
  const ModelUpdate* delta = nullptr;  // its Delta (added to the copy when own_exact)
};

// Brings the agent's copy (the model at version *version) to the answer's model and sets
// *version. A whole model (since -1) is always taken. An incremental one only as the answer to the
// Update in flight computed at *version (then x + own Delta when own_exact, and the listed entries
// overwritten); any other is ignored (returns false, nothing changed): the repeated Update then
// brings the whole model. REQUIRES: the answer passed the Decoder with the replica's size.
bool AdoptAnswer(const wire::ModelMsg& answer, const InFlightUpdate& in_flight,
                 ModelReplica* replica, int64_t* version);

}  // namespace edgetrain

#endif  // EDGETRAIN_UPDATE_ANSWER_H_
