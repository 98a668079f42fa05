// The driver's clock: heartbeats, repeated phase messages, deadlines, progress, checkpoints, the
// time limit, and the end of a run.
#include <algorithm>
#include <ctime>
#include <limits>

#include "driver.h"
#include "edgetrain/crc32c.h"
#include "edgetrain/model.h"

namespace edgetrain::coordinator {

double Driver::NextDeadline() const {
  if (run_ == Run::kDone) return clock_->Now();
  if (run_ == Run::kStopping) return stop_deadline_;
  double next = std::min(next_liveness_, next_status_);
  if (run_ == Run::kIdle) return std::min(next, scheduler_.NextDeadline());
  if (run_ == Run::kWaiting && !state_ && round_deadline_ > clock_->Now()) {
    next = std::min(next, round_deadline_);
  }
  if (run_ == Run::kRunning) {
    next = std::min(next, phase_deadline_);
    if (state_->phase() == CoordinatorState::Phase::kInner) {
      next = std::min(next, next_progress_);
      if (checkpoints_ != nullptr) next = std::min(next, next_checkpoint_);
    }
  }
  if (state_ && options_.policy.stop.time_limit > 0 && !policy_->stop_requested()) {
    next = std::min(next, start_time_ + options_.policy.stop.time_limit);
  }
  return next;
}

void Driver::Tick() {
  const double now = clock_->Now();
  if (run_ == Run::kStopping) {
    if (now >= stop_deadline_) EndStopping();
    return;
  }
  if (run_ == Run::kDone) return;
  if (now >= next_status_) EmitStatus(now);
  ReportHiddenRefusals(refusal_limit_.Flush(now));
  if (now >= next_liveness_) CheckLiveness(now);
  if (run_ == Run::kIdle) {
    if (std::string due = scheduler_.Due(now, scheduler_.NewRows(RowsNow())); !due.empty()) {
      BeginRound(due);
    }
    return;
  }
  if (run_ == Run::kWaiting && !state_ && round_deadline_ > 0 && now >= round_deadline_) {
    round_deadline_ = 0;  // the round starts without the agents that did not say Hello
    std::string why;
    if (ReadyToStart(&why)) StartTraining();
    return;
  }
  if (state_) OnTimeLimit(now);
  if (run_ != Run::kRunning) return;
  if (now >= phase_deadline_) OnPhaseDeadline(now);
  if (run_ != Run::kRunning || state_->phase() != CoordinatorState::Phase::kInner) return;
  if (now >= next_progress_) EmitProgress(now);
  if (checkpoints_ != nullptr && now >= next_checkpoint_) SaveCheckpoint();
}

void Driver::CheckLiveness(double now) {
  next_liveness_ = now + options_.heartbeat_interval / 4;
  const double patience = options_.heartbeat_interval * options_.heartbeat_patience;
  for (const std::string& identity : roster_.Silent(now, patience)) {
    char why[64];
    std::snprintf(why, sizeof why, "silent for %.1f s", patience);
    RemoveAgent(identity, why);
    if (run_ == Run::kStopping || run_ == Run::kDone) return;
  }
  roster_.ForEach([&](Agent& a) {
    if (!a.welcomed()) return;
    if (a.round_pending && now - a.phase_sent > 2 * options_.heartbeat_interval) {
      a.phase_sent = now;  // its RoundBegin may have been lost
      Send(a, encoder_.Encode(a.NextHeader(), wire::RoundBeginMsg{round_}));
      return;
    }
    // A phase message may have been lost: repeat it to an agent that has not answered.
    const bool silent_in_phase =
        a.role == Role::kAwaiting || (a.role == Role::kInner && a.epoch_updates == 0);
    if (silent_in_phase && now - a.phase_sent > 2 * options_.heartbeat_interval) {
      RepeatPhaseMessage(a, now);
    } else if (now - a.last_sent >= options_.heartbeat_interval) {
      const int64_t epoch = state_ ? state_->epoch() : 0, version = state_ ? state_->version() : 0;
      Send(a, encoder_.Encode(a.NextHeader(), wire::HeartbeatMsg{epoch, version}));
    }
  });
}

void Driver::RepeatPhaseMessage(Agent& a, double now) {
  a.phase_sent = now;
  ++repeats_;
  const int64_t p = state_->model_size();
  switch (state_->phase()) {
    case CoordinatorState::Phase::kGradient:
      Send(a,
           encoder_.Encode(a.NextHeader(),
                           wire::EpochBeginMsg{state_->epoch(), state_->snapshot_version(),
                                               VectorView::Dense(state_->snapshot().data(), p)}));
      return;
    case CoordinatorState::Phase::kCurvature:
      Send(a, encoder_.Encode(a.NextHeader(),
                              wire::CurvatureRequestMsg{state_->epoch(), state_->snapshot_version(),
                                                        state_->newton_support().index}));
      return;
    case CoordinatorState::Phase::kInner:
      Send(a, encoder_.Encode(a.NextHeader(), InnerLoop()));
      return;
    case CoordinatorState::Phase::kIdle:
      return;
  }
}

void Driver::OnPhaseDeadline(double now) {
  using Phase = CoordinatorState::Phase;
  const Phase phase = state_->phase();
  if (phase == Phase::kInner) {
    EndInnerPhase(true);  // no update applied for --stall-timeout
    StartEpoch();
    return;
  }
  // Gradient or curvature phase: the silent agents are left out of this epoch.
  std::vector<std::string> to_drop;
  roster_.ForEach([&](Agent& a) {
    if (a.role != Role::kAwaiting) return;
    a.role = Role::kIdle;
    if (phase != Phase::kGradient) return;
    ++a.health.gradient_timeouts;
    ++a.gradient_timeouts_in_a_row;
    events_->Emit(
        GradientTimeout{a.agent_id, a.rows, state_->epoch() - 1, a.gradient_timeouts_in_a_row});
    if (a.gradient_timeouts_in_a_row >= options_.gradient_timeouts_to_drop) {
      to_drop.push_back(a.identity);
    }
  });
  // An agent that is alive but never answers would cost every epoch the whole timeout: after
  // --gradient-timeouts-to-drop in a row it is dropped, and its id is refused for a while.
  for (const std::string& identity : to_drop) {
    if (const Agent* a = roster_.Find(identity); a != nullptr) {
      if (benched_.size() >= kMaxBenched) benched_.erase(benched_.begin());
      benched_[a->agent_id] = now + 10 * options_.gradient_timeout;
    }
    RemoveAgent(identity, "no gradient sum in " +
                              std::to_string(options_.gradient_timeouts_to_drop) +
                              " epochs in a row");
    if (run_ != Run::kRunning) return;
  }
  if (phase == Phase::kGradient) FinishGradientPhase();
  if (phase == Phase::kCurvature) FinishCurvaturePhase();
}

void Driver::OnTimeLimit(double now) {
  const double limit = options_.policy.stop.time_limit;
  if (limit <= 0 || now - start_time_ < limit) return;
  if (policy_->stop_requested()) {
    // The last evaluation lost its agents (all left or went silent): nobody is left to wait for.
    if (run_ == Run::kWaiting) Finish("time-limit");
    return;
  }
  // Every wait ends at the time limit: the current model is evaluated by one last, short gradient
  // phase when an inner loop was running; otherwise the best snapshot is the model.
  policy_->RequestStop("time-limit");
  const CoordinatorState::Phase phase = state_->phase();
  if (run_ == Run::kRunning && phase == CoordinatorState::Phase::kInner) {
    EndInnerPhase(false);
    StartEpoch();
  } else if (run_ == Run::kRunning && phase == CoordinatorState::Phase::kGradient) {
    phase_deadline_ = std::min(phase_deadline_, now + kFinalEvaluation);
  } else {
    Finish("time-limit");
  }
}

void Driver::EmitProgress(double now) {
  next_progress_ = now + kProgressInterval;
  Progress p;
  p.epoch = state_->epoch() - 1;
  p.updates_applied = state_->updates_in_epoch();
  p.steps_applied = state_->applied_in_epoch();
  p.inner_steps = state_->inner_steps();
  p.updates_per_second =
      static_cast<double>(p.updates_applied) / std::max(1e-9, now - phase_start_);
  p.agents = roster_.welcomed();
  p.seconds = now - start_time_;
  events_->Emit(p);
}

uint64_t Driver::OptionsFingerprint() const { return CheckpointFingerprint(options_); }

void Driver::SaveCheckpoint() {
  if (checkpoints_ == nullptr || !state_) return;
  next_checkpoint_ = clock_->Now() + options_.checkpoint_interval;
  // Never from a state that training would not continue from: x is finite by construction (an
  // update that would make it non-finite is refused), and a rollback has already moved x back.
  Checkpoint c;
  c.fingerprint = OptionsFingerprint();
  c.dimension = dimension_;
  c.labels = labels_;
  c.epoch = state_->epoch();
  c.version = state_->version();
  c.x = ModelToUser(state_->spec(), state_->x());  // the user's units, whatever the preconditioner
  c.step_factor = policy_->step_factor();
  c.next_session = next_session_;
  roster_.ForEach([&](const Agent& a) {
    if (a.welcomed()) c.roster.push_back(a.agent_id);
  });
  c.updates_applied = summary_.updates_applied;
  c.created_unix = static_cast<int64_t>(std::time(nullptr));
  c.round = RoundEvents() ? round_ : 0;
  Result<std::string> path = checkpoints_->Save(c);
  if (!path.ok()) events_->Emit(CheckpointError{path.status().message()});  // training goes on
}

void Driver::RequestStop(const std::string& reason) {
  if (run_ == Run::kStopping || run_ == Run::kDone) return;
  if (run_ == Run::kIdle) {  // between rounds: nothing to finish; agents wait for the restart
    run_ = Run::kDone;
    EmitStatus(clock_->Now());
    return;
  }
  Finish(reason);
}

void Driver::Fail(const Status& status) {
  failure_ = status;
  Finish("error");
}

void Driver::FillSummary(const std::string& reason, double now) {
  summary_.stop_reason = reason;
  summary_.agents_joined = agents_joined_;
  summary_.messages_refused = roster_.refused();
  summary_.duplicates = duplicates_;
  summary_.updates_refused = updates_refused_;
  summary_.seconds = now - start_time_;
  summary_.labels = labels_;
  summary_.dimension = dimension_;
  summary_.eta = plan_.eta;
  summary_.inner_steps = plan_.inner_steps;
  summary_.round = round_;
  if (state_ && policy_->have_best()) {
    const SnapshotReport& best = policy_->best_report();
    summary_.evaluated = true;
    summary_.x = ModelToUser(state_->spec(), state_->best_snapshot());  // the user's units
    summary_.objective = best.objective;
    summary_.kkt = best.kkt;
    summary_.relative_gap = best.relative_gap;
    summary_.nnz = best.nnz;
    summary_.rows = best.rows;
    summary_.epochs = best.epoch - 1;
    summary_.newton_steps = policy_->newton_steps();
    summary_.newton_rejected = policy_->newton_rejected();
  }
}

void Driver::Finish(const std::string& reason) {
  const double now = clock_->Now();
  FillSummary(reason, now);
  const bool interrupted = reason == "interrupted";
  if (scheduler_.rounds_mode() && !interrupted && scheduler_.More()) {
    EndRound(reason);  // agents stay for the next round
    return;
  }
  run_ = Run::kStopping;
  // The round's model is published (rounds, or a one-shot run with --model-dir) and goes to every
  // agent with the Stop; then --model is written (fsync can take longer than the agents' heartbeat
  // patience on a busy disk: they have heard the Stop by then). An interrupted service running
  // rounds says nothing: its agents wait for it to come back.
  std::string published, why_not;
  if (RoundEvents()) {
    why_not = Publish(reason, &published);
    round_text_ = "round " + std::to_string(round_) +
                  (why_not.empty() ? " published" : " not published (" + why_not + ")");
  }
  const bool silent = scheduler_.rounds_mode() && interrupted;
  roster_.ForEach([&](Agent& a) {
    if (silent) return;
    if (a.welcomed()) {
      if (RoundEvents() && published_) SendRoundEnd(a, round_text_);
      Send(a,
           encoder_.Encode(a.NextHeader(), wire::StopMsg{reason, summary_.epochs,
                                                         summary_.objective, a.session_applied}));
    } else {
      const Peer peer{a.identity, a.address, a.key};
      Reject(peer, a.agent_id, wire::RejectReason::kShuttingDown, reason);
    }
  });
  WriteModel(reason);
  if (RoundEvents()) {
    round_ended_ = now;
    events_->Emit(RoundEnded{round_, reason, why_not.empty(), published, why_not, published_round(),
                             summary_.seconds, ""});
  }
  const std::string written = summary_.evaluated && failure_.ok() ? options_.model_path : "";
  EmitRunFinished(written.empty() ? published : written);
  EmitStatus(now);
  // A Stop can be lost like any message; agents answer it with Bye, and until every welcomed one
  // has (for at most two heartbeats) anything else an agent sends is answered with the Stop again.
  stop_deadline_ = now + std::clamp(2 * options_.heartbeat_interval, 0.5, 5.0);
  if (silent) {
    run_ = Run::kDone;
    EmitStatus(now);
  } else if (roster_.welcomed() == 0) {
    EndStopping();
  }
}

void Driver::EmitRunFinished(const std::string& model_path) {
  RunFinished f;
  f.reason = summary_.stop_reason;
  f.evaluated = summary_.evaluated;
  f.epoch = summary_.epochs;
  f.nnz = summary_.nnz;
  f.objective = summary_.objective;
  f.kkt = summary_.kkt;
  f.relative_gap = summary_.relative_gap;
  f.updates_applied = summary_.updates_applied;
  f.updates_refused = updates_refused_;
  f.messages_refused = roster_.refused();
  f.duplicates = duplicates_;
  f.repeats = repeats_;
  f.newton_steps = summary_.newton_steps;
  f.newton_rejected = summary_.newton_rejected;
  f.agents_joined = agents_joined_;
  f.bytes_in = bytes_in_;
  f.bytes_out = bytes_out_;
  f.seconds = summary_.seconds;
  f.model_path = model_path;
  f.refused = roster_.refused_by_reason();
  f.refused_by_sender = roster_.refused_by_sender();
  f.reference_objective = options_.reference_objective;
  events_->Emit(f);
}

Model Driver::BuildModel(const std::string& reason) const {
  Model model = Model::FromVector(summary_.x, dimension_, options_.task, options_.problem);
  model.labels = labels_;
  if (scaler_.kind != ScalerKind::kNone) model.scaler = scaler_;
  TrainingSummary& s = model.summary;
  s.mode = "distributed";
  s.epochs = summary_.epochs;
  s.updates = summary_.updates_applied;
  s.rows = summary_.rows;
  s.agents = agents_joined_;
  s.objective = summary_.objective;
  s.kkt_violation = summary_.kkt;
  s.seconds = summary_.seconds;
  s.step_size = plan_.eta;
  s.inner_steps = plan_.inner_steps;
  s.batch_size = plan_.batch;
  s.stop_reason = reason;
  s.created_unix = static_cast<int64_t>(clock_->WallTime());
  s.software_version = EDGETRAIN_VERSION;
  s.round = round_;
  s.relative_gap = summary_.relative_gap;
  roster_.ForEach([&](const Agent& a) {
    if (a.welcomed() && !a.round_pending) s.agent_rows.emplace_back(a.agent_id, a.rows);
  });
  std::sort(s.agent_rows.begin(), s.agent_rows.end());  // by agent id
  return model;
}

void Driver::WriteModel(const std::string& reason) {
  if (!summary_.evaluated || !failure_.ok() || options_.model_path.empty()) return;
  if (Status st = WriteModelFile(options_.model_path, BuildModel(reason)); !st.ok()) failure_ = st;
}

void Driver::EndStopping() {
  run_ = Run::kDone;
  EmitStatus(clock_->Now());
  std::string ids;
  roster_.ForEach([&](const Agent& a) {
    if (a.welcomed()) ids += (ids.empty() ? "" : ", ") + a.agent_id;
  });
  if (!ids.empty()) {
    events_->Emit(
        Note{"no goodbye after the Stop from: " + ids + " (they reconnect until stopped)"});
  }
}

}  // namespace edgetrain::coordinator
