#include "edgetrain/update_answer.h"

namespace edgetrain {

UpdateAnswer UpdateAnswerer::AnswerUpdate(CoordinatorState* state, const wire::UpdateMsg& update,
                                          const UpdateSender& from, int64_t max_staleness,
                                          wire::Encoder* encoder) {
  UpdateAnswer answer;
  answer.verdict = state->ApplyUpdate(update.delta, update.guarded, update.epoch,
                                      update.base_version, max_staleness);
  const bool applied = answer.verdict == UpdateVerdict::kApplied;
  answer.inner_done = state->InnerPhaseDone();
  // The agent holds x at the update's base version: when its own update went in exactly, it adds
  // it itself and the answer leaves out what only that update changed.
  const int64_t own = applied && state->last_update_exact() ? state->version() : -1;
  wire::ModelMsg m;
  m.epoch = state->epoch();
  m.version = state->version();
  m.x = VectorView::Dense(state->x().data(), state->model_size());
  m.applied = applied;
  m.inner_done = answer.inner_done;
  m.update_seq = from.update_seq;
  answer.incremental = from.incremental && update.base_version <= state->version() &&
                       state->ChangesSince(update.base_version, own, &changes_);
  if (answer.incremental) {
    m.since = update.base_version;
    m.own_exact = own >= 0;
    answer.bytes = encoder->Encode(from.reply, m, changes_);
  } else {
    answer.bytes = encoder->Encode(from.reply, m, state->support());
  }
  return answer;
}

std::string_view UpdateAnswerer::AnswerRepeat(const CoordinatorState& state,
                                              const UpdateSender& from, wire::Encoder* encoder) {
  wire::ModelMsg m;
  m.epoch = state.epoch();
  m.version = state.version();
  m.x = VectorView::Dense(state.x().data(), state.model_size());
  m.update_seq = from.update_seq;
  return encoder->Encode(from.reply, m, state.support());
}

bool AdoptAnswer(const wire::ModelMsg& answer, const InFlightUpdate& in_flight,
                 ModelReplica* replica, int64_t* version) {
  if (answer.since >= 0) {
    // Incremental: the changes since the version the Update was computed at. It applies to the
    // copy only as the answer to the Update in flight (whose Delta we hold) computed at the
    // copy's version; otherwise (the copy moved on after a duplicate's whole answer) it is not
    // ours to take.
    if (!in_flight.awaiting || answer.update_seq != in_flight.seq || answer.since != *version)
      return false;
    if (answer.own_exact) replica->Add(*in_flight.delta);
    replica->Overwrite(answer.x);
  } else {
    replica->Assign(answer.x);
  }
  *version = answer.version;
  return true;
}

}  // namespace edgetrain
