#include "edgetrain/update_answer.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace edgetrain {
namespace {

// An answer leaves out a change smaller than this many units in the last place of x_j.
constexpr double kRoundingUlps = 4.0;
constexpr double kEpsilon = std::numeric_limits<double>::epsilon();

}  // namespace

// ---- the coordinator's end --------------------------------------------------------------------

UpdateAnswerer::UpdateAnswerer(int64_t p)
    : acc_(static_cast<size_t>(p), 0.0), stamp_(static_cast<size_t>(p), 0u) {
  touched_.reserve(static_cast<size_t>(p));
}

void UpdateAnswerer::Accumulate(int32_t j, double v) {
  if (stamp_[j] != current_) {
    stamp_[j] = current_;
    acc_[j] = 0.0;
    touched_.push_back(j);
  }
  acc_[j] += v;
}

double UpdateAnswerer::Weight(int64_t steps, const CoordinatorState::Foreign& foreign) const {
  if (eta_lf_ <= 0 || foreign.steps <= 0) return 1.0;
  const double contraction = 1.0 - std::exp(-static_cast<double>(steps) * eta_lf_);
  return std::min(1.0, 1.6 / ((1.0 + foreign.owners) * contraction));
}

UpdateAnswer UpdateAnswerer::AnswerUpdate(CoordinatorState* state, const wire::UpdateMsg& update,
                                          const UpdateSender& from, int64_t max_staleness,
                                          wire::Encoder* encoder) {
  UpdateAnswer answer;
  const double weight =
      update.base_version <= state->version()
          ? Weight(update.steps, state->ForeignSteps(update.base_version, from.owner))
          : 1.0;
  answer.verdict =
      state->ApplyUpdate(update.delta, update.guarded, update.epoch, update.base_version,
                         max_staleness, from.owner, update.steps, weight);
  const bool applied = answer.verdict == UpdateVerdict::kApplied;
  answer.inner_done = state->InnerPhaseDone();
  answer.version = state->version();
  wire::ModelMsg m;
  m.epoch = state->epoch();
  m.version = state->version();
  m.applied = applied;
  m.inner_done = answer.inner_done;
  m.update_seq = from.update_seq;
  m.applied_count = from.applied_count + (applied ? 1 : 0);
  const int64_t p = state->model_size();
  // An update applied exactly (x_j + Delta_j for every entry) needs no correction: the agent adds
  // its Delta itself, and the two adds differ only by rounding (below). Any other needs its own
  // correction, which the change log gives only for a sparse update: a dense one that was not
  // applied as sent gets the whole model, as does an agent whose others' changes are too many.
  const bool own_dense = update.delta.dense() || update.guarded.dense();
  const bool own_exact = applied && state->last_update_exact();
  if (from.incremental && from.since <= state->version() && (!own_dense || own_exact)) {
    if (++current_ == 0) {  // wrapped: clear the stamps once every 2^32 answers
      std::fill(stamp_.begin(), stamp_.end(), 0u);
      current_ = 1;
    }
    touched_.clear();
    // Sparse costs 12 bytes an entry, the whole model 8 per coordinate: beyond 2p/3 entries the
    // whole model is the smaller answer.
    const int64_t budget = 2 * p / 3 - (own_exact ? 0 : update.delta.count + update.guarded.count);
    const int64_t others = state->ChangesFor(from.owner, from.since, budget,
                                             [&](int32_t j, double v) { Accumulate(j, v); });
    if (others >= 0) {
      // The own correction: what the update did (its log entries) minus what was sent.
      if (!own_exact) {
        if (applied) state->LastUpdateChanges([&](int32_t j, double v) { Accumulate(j, v); });
        for (const VectorView& part : {update.delta, update.guarded}) {
          for (int64_t k = 0; k < part.count; ++k) Accumulate(part.index[k], -part.value[k]);
        }
      }
      // Entries that cancelled are left out, and so are those that cancelled up to the rounding of
      // the coordinator's add, (x + v) - x against v: below 4 ulp of x_j they are smaller than the
      // rounding the agent's own add makes, and sending them made the answer to every sparse
      // update as long as the update.
      const double* x = state->x().data();
      touched_.erase(std::remove_if(touched_.begin(), touched_.end(),
                                    [&](int32_t j) {
                                      return std::fabs(acc_[j]) <=
                                             kRoundingUlps * kEpsilon * std::fabs(x[j]);
                                    }),
                     touched_.end());
      m.since = from.since;
      m.x = VectorView::Dense(acc_.data(), p);
      answer.incremental = true;
      answer.bytes = encoder->Encode(from.reply, m, touched_);
      return answer;
    }
  }
  m.processed_seq = from.update_seq;
  m.x = VectorView::Dense(state->x().data(), p);
  answer.bytes = encoder->Encode(from.reply, m, state->support());
  return answer;
}

std::string_view UpdateAnswerer::AnswerRepeat(const CoordinatorState& state,
                                              const UpdateSender& from, uint64_t processed_seq,
                                              wire::Encoder* encoder) {
  wire::ModelMsg m;
  m.epoch = state.epoch();
  m.version = state.version();
  m.x = VectorView::Dense(state.x().data(), state.model_size());
  m.update_seq = from.update_seq;
  m.processed_seq = processed_seq;
  m.applied_count = from.applied_count;
  m.inner_done = state.InnerPhaseDone();
  return encoder->Encode(from.reply, m, state.support());
}

// ---- the agent's end --------------------------------------------------------------------------

void PipelineReplica::Reset(int64_t p) {
  copy_.Reset(p);
  version_ = 0;
  pending_.assign(static_cast<size_t>(p), 0.0);
  guard_.assign(static_cast<size_t>(p), 0);
  stamp_.assign(static_cast<size_t>(p), 0u);
  current_ = 1;
  touched_.clear();
  touched_.reserve(static_cast<size_t>(p));
  pending_steps_ = 0;
  ring_.resize(kMaxInFlight);
  head_ = count_ = 0;
  buffered_.clear();
  acked_seq_ = 0;
}

void PipelineReplica::Assign(const VectorView& x, int64_t version) {
  copy_.Assign(x);
  version_ = version;
  for (int32_t j : touched_) stamp_[j] = 0;
  touched_.clear();
  pending_steps_ = 0;
  head_ = count_ = 0;
  buffered_.clear();
}

void PipelineReplica::ApplyStep(const ModelUpdate& step) {
  auto take = [&](const SparseVector& part, uint8_t guarded) {
    const int64_t n = part.nnz();
    const int32_t* index = part.index().data();
    const double* value = part.value().data();
    for (int64_t k = 0; k < n; ++k) {
      const int32_t j = index[k];
      AddToCopy(j, value[k]);
      if (stamp_[j] != current_) {
        stamp_[j] = current_;
        pending_[j] = 0.0;
        touched_.push_back(j);
      }
      pending_[j] += value[k];
      guard_[j] = guarded;
    }
  };
  take(step.delta, 0);
  take(step.guarded, 1);
  ++pending_steps_;
}

int64_t PipelineReplica::TakePending(ModelUpdate* out) {
  out->Clear();
  for (int32_t j : touched_) {
    const double v = pending_[j];
    if (v == 0.0) continue;
    (guard_[j] ? out->guarded : out->delta).Push(j, v);
  }
  touched_.clear();
  if (++current_ == 0) {
    std::fill(stamp_.begin(), stamp_.end(), 0u);
    current_ = 1;
  }
  const int64_t steps = pending_steps_;
  pending_steps_ = 0;
  return steps;
}

void PipelineReplica::InFlight(uint64_t seq, int64_t steps, const ModelUpdate& sent,
                               std::string_view bytes, double sent_at) {
  Flight& f = ring_[(head_ + count_) % kMaxInFlight];
  ++count_;
  f.seq = seq;
  f.steps = steps;
  f.sent_at = sent_at;
  f.resent = false;
  f.index.clear();
  f.value.clear();
  for (const SparseVector* part : {&sent.delta, &sent.guarded}) {
    f.index.insert(f.index.end(), part->index().begin(), part->index().end());
    f.value.insert(f.value.end(), part->value().begin(), part->value().end());
  }
  f.bytes.assign(bytes.data(), bytes.size());  // capacity reused: no allocation once warm
}

void PipelineReplica::Acknowledge(uint64_t seq) {
  acked_seq_ = 0;
  while (count_ > 0 && ring_[head_].seq <= seq) {
    const Flight& f = ring_[head_];
    if (f.seq == seq) {
      acked_seq_ = seq;
      acked_.seq = seq;
      acked_.steps = f.steps;
      acked_.sent_at = f.sent_at;
      acked_.resent = f.resent;
    }
    PopOldest();
  }
}

void PipelineReplica::TakeBuffered() {
  for (bool progress = true; progress;) {
    progress = false;
    for (size_t k = 0; k < buffered_.size(); ++k) {
      Buffered& b = buffered_[k];
      if (b.since < version_) {  // superseded by a whole model
        buffered_.erase(buffered_.begin() + static_cast<std::ptrdiff_t>(k));
        progress = true;
        break;
      }
      if (b.since != version_) continue;
      for (size_t e = 0; e < b.index.size(); ++e) AddToCopy(b.index[e], b.value[e]);
      version_ = b.version;
      Acknowledge(b.update_seq);
      buffered_.erase(buffered_.begin() + static_cast<std::ptrdiff_t>(k));
      progress = true;
      break;
    }
  }
}

PipelineReplica::Adoption PipelineReplica::Adopt(const wire::ModelMsg& answer) {
  acked_seq_ = 0;
  if (answer.since < 0) {
    if (answer.version < version_) return Adoption::kIgnored;
    // The whole model holds every own Update up to processed_seq: rebuild the copy from it and
    // the newer ones (in flight, and the pending steps not sent yet).
    copy_.Assign(answer.x);
    version_ = answer.version;
    Acknowledge(answer.processed_seq);
    for (int k = 0; k < count_; ++k) {
      const Flight& f = At(k);
      for (size_t e = 0; e < f.index.size(); ++e) AddToCopy(f.index[e], f.value[e]);
    }
    for (int32_t j : touched_) AddToCopy(j, pending_[j]);
    TakeBuffered();
    return Adoption::kWhole;
  }
  if (answer.since < version_) return Adoption::kIgnored;
  if (answer.since > version_) {
    constexpr size_t kMaxBuffered = 64;  // beyond: wait for the repeat's whole model
    if (buffered_.size() < kMaxBuffered) {
      Buffered b;
      b.since = answer.since;
      b.version = answer.version;
      b.update_seq = answer.update_seq;
      const VectorView& v = answer.x;
      for (int64_t k = 0; k < v.count; ++k) {
        const int32_t j = v.dense() ? static_cast<int32_t>(k) : v.index[k];
        if (v.value[k] != 0.0) {
          b.index.push_back(j);
          b.value.push_back(v.value[k]);
        }
      }
      buffered_.push_back(std::move(b));
    }
    return Adoption::kBuffered;
  }
  const VectorView& v = answer.x;
  if (v.dense()) {
    for (int64_t j = 0; j < v.count; ++j) {
      if (v.value[j] != 0.0) AddToCopy(static_cast<int32_t>(j), v.value[j]);
    }
  } else {
    for (int64_t k = 0; k < v.count; ++k) AddToCopy(v.index[k], v.value[k]);
  }
  version_ = answer.version;
  Acknowledge(answer.update_seq);
  const uint64_t acked = acked_seq_;
  TakeBuffered();
  if (acked != 0) acked_seq_ = acked;
  return Adoption::kApplied;
}

}  // namespace edgetrain
