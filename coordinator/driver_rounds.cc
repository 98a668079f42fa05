// The driver's training rounds: the start of a round (RoundBegin, the agents' new Hellos, the
// warm start), its end (the publish rule, RoundEnd with the model), the agents between rounds.
#include <algorithm>
#include <cmath>

#include "driver.h"
#include "edgetrain/model_dir.h"

namespace edgetrain::coordinator {

bool Driver::RoundEvents() const {
  return scheduler_.rounds_mode() || !options_.rounds.model_dir.empty();
}

void Driver::RestorePublished(Model model, int64_t numbered) {
  // The round ended when its model was made: the schedule goes on from then.
  const double ended =
      clock_->Now() -
      std::max(0.0, clock_->WallTime() - static_cast<double>(model.summary.created_unix));
  std::map<std::string, int64_t> rows(model.summary.agent_rows.begin(),
                                      model.summary.agent_rows.end());
  scheduler_.Restore(model.summary.round, ended, std::move(rows), numbered);
  round_ended_ = ended;
  round_ = scheduler_.round();
  // The label mapping stays the model's, so that +1 means the same in every round.
  if (!labels_ && model.labels) labels_ = model.labels;
  published_bytes_ = SerializeModel(model);
  published_ = std::move(model);
}

void Driver::TriggerRound() {
  if (run_ != Run::kIdle) {
    events_->Emit(Note{"a round was requested while " +
                       std::string(run_ == Run::kDone ? "finished" : "a round runs") +
                       ": ignored"});
    return;
  }
  scheduler_.Request();
}

std::map<std::string, int64_t> Driver::RowsNow() const {
  std::map<std::string, int64_t> rows;
  roster_.ForEach([&](const Agent& a) {
    if (a.welcomed()) rows[a.agent_id] = std::max(a.rows, a.rows_now);
  });
  return rows;
}

void Driver::ResetRound() {
  state_.reset();
  policy_.reset();
  answerer_.reset();
  plan_ = StepPlan{};
  smoothness_.clear();
  summary_ = RunSummary{};
  eta_ = ConvergenceEta{};
  epoch_refused_.clear();
  duplicates_ = repeats_ = updates_refused_ = bytes_in_ = bytes_out_ = 0;
  agents_joined_ = 0;
  last_rate_ = 0;
}

void Driver::BeginRound(const std::string& trigger) {
  const double now = clock_->Now();
  const int64_t new_rows = scheduler_.NewRows(RowsNow());
  if (round_ > 0 && run_ == Run::kIdle) ResetRound();
  round_ = scheduler_.Begin(resume_ ? resume_->round : 0);
  start_time_ = now;
  run_ = Run::kWaiting;
  waiting_why_ = "waiting for agents";
  // Every agent re-reads its data and says Hello again (a new session of the same id).
  int pending = 0;
  roster_.ForEach([&](Agent& a) {
    if (!a.welcomed()) return;
    a.round_pending = true;
    a.role = Role::kIdle;
    a.phase_sent = now;
    Send(a, encoder_.Encode(a.NextHeader(), wire::RoundBeginMsg{round_}));
    ++pending;
  });
  round_deadline_ = pending > 0 ? now + options_.gradient_timeout : 0;
  if (RoundEvents()) {
    events_->Emit(
        RoundBegan{round_, trigger, resume_ ? 0 : published_round(), new_rows, roster_.size()});
  }
  std::string why;
  if (ReadyToStart(&why)) {
    StartTraining();
    return;
  }
  waiting_why_ = why;
  events_->Emit(WaitingForAgents{roster_.size(), options_.min_agents, why});
  EmitStatus(now);
}

void Driver::WarmStart() {
  if (!published_) return;
  // The published weights (for the same features: a wider model pads with zeros), its intercept
  // last, in the user's units (StartToSolver: into the box, into the preconditioner's units).
  std::vector<double> x(static_cast<size_t>(state_->model_size()), 0.0);
  const int32_t d = std::min(dimension_, published_->dim);
  std::copy(published_->weights.begin(), published_->weights.begin() + d, x.begin());
  if (options_.problem.intercept && published_->spec.intercept) x.back() = published_->intercept;
  state_->Restore(StartToSolver(state_->spec(), std::move(x)), 0, state_->epoch());
}

std::string Driver::Publish(const std::string& reason, std::string* path) {
  if (!failure_.ok()) return failure_.message();
  if (!summary_.evaluated) return "no epoch ran";
  if (reason != "tol" && reason != "kkt") {
    return "stopped by " + reason + " before the stop rule's tolerance was reached";
  }
  if (!std::all_of(summary_.x.begin(), summary_.x.end(), [](double v) { return std::isfinite(v); }))
    return "the model is not finite";
  if (options_.rounds.model_dir.empty()) return "no --model-dir";
  Model model = BuildModel(reason);
  PublishOptions publish;
  publish.keep = options_.rounds.keep_models;
  Result<std::string> written = PublishModel(options_.rounds.model_dir, round_, model, publish);
  if (!written.ok()) return written.status().message();
  *path = *written;
  summary_.published = true;
  published_bytes_ = SerializeModel(model);
  published_ = std::move(model);
  return "";
}

void Driver::EndRound(const std::string& reason) {
  const double now = clock_->Now();
  std::string path;
  const std::string why_not = Publish(reason, &path);
  failure_ = Status::Ok();  // a failed round keeps the previous model; the service goes on
  std::map<std::string, int64_t> rows;
  roster_.ForEach([&](Agent& a) {
    if (!a.welcomed()) return;
    if (!a.round_pending) rows[a.agent_id] = a.rows;
    a.role = Role::kIdle;
    a.participant = false;
    a.round_pending = false;
  });
  scheduler_.Ended(now, std::move(rows));
  round_ended_ = now;
  resume_.reset();
  run_ = Run::kIdle;
  const std::string next = scheduler_.Describe(now, scheduler_.NewRows(RowsNow()));
  round_text_ = "round " + std::to_string(round_) +
                (why_not.empty() ? " published"
                                 : " not published (" + why_not + "); the model of round " +
                                       std::to_string(published_round()) + " stays") +
                "; " + next;
  roster_.ForEach([&](Agent& a) {
    if (a.welcomed()) SendRoundEnd(a, round_text_);
  });
  events_->Emit(RoundEnded{round_, reason, why_not.empty(), path, why_not, published_round(),
                           summary_.seconds, next});
  EmitRunFinished(path);
  EmitStatus(now);
}

void Driver::SendRoundEnd(Agent& a, const std::string& text) {
  wire::RoundEndMsg m;
  m.round = round_;
  if (published_) {
    m.model_round = published_round();
    m.model = published_bytes_;
  }
  m.text = std::string_view(text).substr(0, wire::kMaxTextBytes);
  m.heartbeat_ms = static_cast<uint32_t>(options_.heartbeat_interval * 1000);
  Send(a, encoder_.Encode(a.NextHeader(), m));
}

void Driver::AdmitBetweenRounds(Agent& a) {
  // A session without a Welcome: the agent waits, heartbeating, for the next RoundBegin, and
  // gets the model in service now.
  a.session = next_session_++;
  a.role = Role::kIdle;
  a.participant = false;
  a.seq_out = 0;
  SendRoundEnd(a, round_text_.empty()
                      ? "between rounds; " +
                            scheduler_.Describe(clock_->Now(), scheduler_.NewRows(RowsNow()))
                      : round_text_);
  EmitStatus(clock_->Now());
}

void Driver::OnHeartbeat(Agent& a, const wire::HeartbeatMsg& m) {
  if (m.rtt_us > 0) a.health.rtt_us = m.rtt_us;
  if (m.rows > 0) a.rows_now = m.rows;
  if (m.model_round <= a.model_round) return;
  a.model_round = m.model_round;
  if (m.model_round != published_round()) return;
  int64_t holding = 0, agents = 0;
  roster_.ForEach([&](const Agent& other) {
    if (!other.welcomed()) return;
    ++agents;
    holding += other.model_round == m.model_round;
  });
  events_->Emit(
      ModelDelivered{a.agent_id, m.model_round, clock_->Now() - round_ended_, holding, agents});
}

}  // namespace edgetrain::coordinator
