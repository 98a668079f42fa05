// The driver's inbound side: decoding, authentication, admissions and departures.
#include "driver.h"

#include <algorithm>
#include <type_traits>

#include "edgetrain/crc32c.h"
#include "edgetrain/rng.h"

namespace edgetrain::coordinator {

Driver::Driver(const CoordinatorOptions& options, const Clock* clock, Outbox* outbox,
               EventSink* events, CheckpointStore* checkpoints, std::optional<Checkpoint> resume)
    : options_(options),
      clock_(clock),
      outbox_(outbox),
      events_(events),
      checkpoints_(checkpoints),
      resume_(std::move(resume)),
      roster_({options.insecure, options.max_agents}),
      decoder_(static_cast<size_t>(options.channel.max_message_bytes)),
      scheduler_(options.rounds) {
  labels_ = options_.labels;
  // A stale additive update can leave the box, so box-constrained runs take fresh updates only.
  max_staleness_ = options_.problem.reg.HasBox() ? 0 : options_.max_staleness;
}

Driver::~Driver() = default;

void Driver::Begin() {
  start_time_ = clock_->Now();
  next_liveness_ = start_time_;
  // A checkpoint of a round whose model was published since is history: rounds go on from the
  // model (a checkpoint without a round is a one-shot run's).
  if (resume_ && resume_->round > 0 && resume_->round <= published_round()) resume_.reset();
  const bool resumed = resume_ && resume_->round > 0;
  const bool wait = scheduler_.WaitFirst() && !resumed;
  // Every event names its round: the first one's number is known now.
  round_ = wait ? scheduler_.round() : resumed ? resume_->round : scheduler_.round() + 1;
  if (options_.insecure) events_->Emit(RunInsecure{});
  if (wait) {
    run_ = Run::kIdle;  // restarted between rounds: the next one starts at its trigger
    EmitStatus(start_time_);
    return;
  }
  BeginRound(resumed ? "resumed" : "start");
}

void Driver::Refuse(const Peer& peer, const std::string& who, const std::string& reason,
                    const std::string& detail) {
  roster_.CountRefusal(who, reason);
  ++epoch_refused_[reason];
  // Garbage from many connections must not flood the log (BurstLimit).
  const BurstLimit::Verdict v = refusal_limit_.Admit(clock_->Now());
  ReportHiddenRefusals(v.hidden);
  if (!v.show) return;
  events_->Emit(MessageRefused{who, std::string(peer.address), reason, detail});
}

void Driver::ReportHiddenRefusals(int64_t hidden) {
  if (hidden == 0) return;
  events_->Emit(
      MessageRefused{"(several)", "", "summary",
                     std::to_string(hidden) + " more refusals were not shown (rate limit)"});
}

void Driver::Reject(const Peer& peer, std::string_view agent_id, wire::RejectReason reason,
                    const std::string& text, uint16_t protocol) {
  wire::Header h{agent_id, 0, 0, protocol};
  const std::string_view bytes = encoder_.Encode(h, wire::RejectMsg{reason, text});
  bytes_out_ += static_cast<int64_t>(bytes.size());
  outbox_->Send(peer.identity, bytes);
  events_->Emit(AgentRefused{std::string(agent_id), std::string(peer.address),
                             wire::RejectReasonName(reason), text});
}

void Driver::Send(Agent& a, std::string_view bytes) {
  bytes_out_ += static_cast<int64_t>(bytes.size());
  if (outbox_->Send(a.identity, bytes)) a.last_sent = clock_->Now();
}

void Driver::Receive(const Peer& peer, const void* data, size_t size) {
  bytes_in_ += static_cast<int64_t>(size);
  const double now = clock_->Now();
  const Agent* known = roster_.Find(peer.identity);
  const std::string who = known != nullptr       ? known->agent_id
                          : peer.address.empty() ? "(unknown connection)"
                                                 : std::string(peer.address);
  if (key_allowed_ && !key_allowed_(peer.key)) {  // removed from the list since it connected
    Refuse(peer, who, "key_not_allowed", "key " + std::string(peer.key) + " is not allowed");
    return;
  }
  Result<wire::Message> m = decoder_.Decode(data, size);
  if (!m.ok()) {
    Refuse(peer, who, "malformed", m.status().message());
    return;
  }
  if (const auto* other = std::get_if<wire::OtherProtocolMsg>(&m->body)) {
    const std::string text =
        "this coordinator speaks protocol version " + std::to_string(wire::kProtocolVersion) +
        " (edgetrain " + EDGETRAIN_VERSION + "), the agent protocol version " +
        std::to_string(m->header.protocol) + ": run the same edgetrain version on both sides";
    Refuse(peer, who, "protocol_version", text);
    if (other->hello) {
      Reject(peer, m->header.agent_id, wire::RejectReason::kProtocolMismatch, text,
             m->header.protocol);
    }
    return;
  }
  if (const auto* hello = std::get_if<wire::HelloMsg>(&m->body)) {
    OnHello(peer, m->header, *hello);
    return;
  }
  const Roster::Check c = roster_.Authenticate(peer.identity, m->header, now);
  switch (c.kind) {
    case Roster::Check::Kind::kUnknownSender:
      Refuse(peer, who, "unknown_sender",
             std::string(wire::MessageName(m->body)) + " before Hello");
      Reject(peer, m->header.agent_id, wire::RejectReason::kNotWelcome,
             "no session: say Hello first");
      return;
    case Roster::Check::Kind::kWrongSession:
      Refuse(peer, who, "wrong_session",
             "session " + std::to_string(m->header.session) + ", expected " +
                 std::to_string(c.agent->session));
      if (c.agent->welcomed()) {
        Reject(peer, m->header.agent_id, wire::RejectReason::kNotWelcome,
               "stale session: say Hello again");
      }
      return;
    case Roster::Check::Kind::kRepeat:
      // Never applied twice. A repeated Update means our answer was lost: answer it again.
      ++duplicates_;
      ++epoch_refused_["duplicate"];
      OnRepeatedUpdate(*c.agent, m->header, *m);
      return;
    case Roster::Check::Kind::kOk:
      Dispatch(*c.agent, peer, *m);
      return;
  }
}

void Driver::Dispatch(Agent& a, const Peer& peer, const wire::Message& m) {
  a.health.last_message = wire::MessageName(m.body);
  if (run_ == Run::kStopping) {  // only a Bye ends it; anything else hears the Stop again
    if (std::holds_alternative<wire::ByeMsg>(m.body)) {
      RemoveAgent(a.identity, "said goodbye after the stop");
    } else {
      // The last round's model saved (its heartbeat comes before the Bye).
      if (const auto* hb = std::get_if<wire::HeartbeatMsg>(&m.body)) OnHeartbeat(a, *hb);
      Send(a,
           encoder_.Encode(a.NextHeader(), wire::StopMsg{summary_.stop_reason, summary_.epochs,
                                                         summary_.objective, a.session_applied}));
    }
    return;
  }
  if (const auto* hb = std::get_if<wire::HeartbeatMsg>(&m.body)) {
    OnHeartbeat(a, *hb);  // last_heard is the main thing (the roster updated it)
    return;
  }
  if ((!state_ || run_ == Run::kIdle) && !std::holds_alternative<wire::ByeMsg>(m.body)) {
    // Between rounds (or before a round's training started) only heartbeats are expected: what
    // else comes is late from the last round.
    ++updates_refused_;
    ++epoch_refused_["between_rounds"];
    return;
  }
  std::visit(
      [&](const auto& body) {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, wire::GradSumMsg>) {
          OnGradSum(a, body);
        } else if constexpr (std::is_same_v<T, wire::UpdateMsg>) {
          OnUpdate(a, m.header, body);
        } else if constexpr (std::is_same_v<T, wire::CurvatureMsg>) {
          OnCurvature(a, body);
        } else if constexpr (std::is_same_v<T, wire::ByeMsg>) {
          RemoveAgent(a.identity, body.text.empty() ? "said goodbye"
                                                    : "said goodbye: " + std::string(body.text));
        } else {
          Refuse(peer, a.agent_id, "unexpected_message",
                 std::string(wire::MessageName(m.body)) + " from an agent");
        }
      },
      m.body);
}

std::string Driver::HelloProblem(const wire::HelloMsg& m, std::string_view identity,
                                 wire::RejectReason* reason) const {
  *reason = wire::RejectReason::kTaskMismatch;
  if (m.task != options_.task) {
    return std::string("this run is ") + TaskName(options_.task) +
           " but the agent's data is read for " + TaskName(m.task) +
           " (check --task on both sides)";
  }
  *reason = wire::RejectReason::kBadMessage;
  if (m.rows <= 0)
    return "an agent needs rows to take part (its Hello says " + std::to_string(m.rows) + ")";
  *reason = wire::RejectReason::kDimensionTooLarge;
  if (m.dimension > options_.max_dimension) {  // the model is held dense: refuse before allocating
    return "the agent's data has " + std::to_string(m.dimension) + " features; this coordinator " +
           "takes at most " + std::to_string(options_.max_dimension) + " (--max-dim)";
  }
  *reason = wire::RejectReason::kTaskMismatch;
  if (m.scale >= 0) {
    const std::optional<ScalerKind> run = RunScale(identity);
    if (run && static_cast<int8_t>(*run) != m.scale) {
      return std::string("the agent asks --scale ") + ScalerName(static_cast<ScalerKind>(m.scale)) +
             " but this run scales with " + ScalerName(*run) +
             " (the coordinator's --scale, or the agents' first request, decides)";
    }
  }
  *reason = wire::RejectReason::kDimensionTooLarge;
  // Between rounds the next round may widen the model.
  const int32_t limit = state_ && run_ != Run::kIdle
                            ? dimension_
                            : (resume_ ? resume_->dimension : options_.dimension);
  if (limit > 0 && m.dimension > limit) {
    return "the agent's data has " + std::to_string(m.dimension) + " features but the model has " +
           std::to_string(limit) + " (start the coordinator with --dim " +
           std::to_string(m.dimension) + ")";
  }
  if (options_.task != Task::kClassification) return "";
  *reason = wire::RejectReason::kLabelsConflict;
  std::vector<std::string> labels(m.labels.begin(), m.labels.end());
  if (labels_) {
    for (const std::string& l : labels) {
      if (!labels_->Map(l)) {
        return "label '" + l + "' is not one of the run's labels '" + labels_->negative +
               "' and '" + labels_->positive + "'";
      }
    }
    return "";
  }
  const std::vector<std::string> distinct = roster_.DistinctLabels(identity, labels);
  if (distinct.size() > 2) {
    return "the agents' data holds more than two labels (" + distinct[0] + ", " + distinct[1] +
           ", " + distinct[2] + "); binary classification needs two";
  }
  return "";
}

void Driver::OnHello(const Peer& peer, const wire::Header& h, const wire::HelloMsg& m) {
  const double now = clock_->Now();
  if (run_ == Run::kStopping || run_ == Run::kDone) {
    Reject(peer, h.agent_id, wire::RejectReason::kShuttingDown, "the run has finished");
    return;
  }
  if (auto b = benched_.find(h.agent_id); b != benched_.end()) {
    if (now < b->second) {
      Reject(peer, h.agent_id, wire::RejectReason::kNotWelcome,
             "dropped for not answering gradient phases; admitted again in " +
                 std::to_string(static_cast<int64_t>(b->second - now) + 1) + " s");
      return;
    }
    benched_.erase(b);
  }
  wire::RejectReason reason;
  if (std::string problem = HelloProblem(m, peer.identity, &reason); !problem.empty()) {
    Reject(peer, h.agent_id, reason, problem);
    return;
  }
  Roster::Admission admission = roster_.Admit(peer, h.agent_id, now);
  if (admission.kind == Roster::Admission::Kind::kRefused) {
    Reject(peer, h.agent_id, admission.reason, admission.text);
    return;
  }
  if (admission.kind == Roster::Admission::Kind::kRetry) return;  // still waiting for the start
  if (admission.kind == Roster::Admission::Kind::kRewelcome) {
    // The same session again (a lost Welcome is replaced; a duplicate the agent ignores): nobody
    // left and nobody joined.
    if (state_ && run_ != Run::kIdle) SendWelcome(*admission.agent);
    return;
  }
  Agent& a = *admission.agent;
  if (admission.replaced) {
    a.model_round = admission.replaced->model_round;
    // An agent's Hello for a new round replaces its session between rounds: nobody left.
    if (!admission.replaced->round_pending) {
      events_->Emit(AgentLeft{admission.replaced->agent_id,
                              "replaced by a new session of the same agent", roster_.size()});
      AgentGone(*admission.replaced);
    }
  }
  a.software_version = std::string(m.software_version);
  a.rows = m.rows;
  a.dimension = m.dimension;
  a.labels.assign(m.labels.begin(), m.labels.end());
  a.row_norm_sq_max = m.row_norm_sq_max;
  a.incremental = m.incremental_models;
  a.newton = m.newton;
  a.scale_request = m.scale;
  if (!state_ && !m.column_stats.empty()) a.column_stats = m.column_stats.ToStats(m.rows);
  a.seq_in = h.seq;
  ++agents_joined_;
  events_->Emit(AgentJoined{a.agent_id, a.address, a.key.empty() ? "(insecure)" : a.key,
                            key_name_ ? key_name_(a.key) : "", a.software_version, a.rows,
                            roster_.size(), a.dimension, a.row_norm_sq_max});
  if (run_ == Run::kIdle) {
    AdmitBetweenRounds(a);
    return;
  }
  if (!state_) {
    std::string why;
    if (ReadyToStart(&why)) {
      StartTraining();
    } else {
      waiting_why_ = why;
      events_->Emit(WaitingForAgents{roster_.size(), options_.min_agents, why});
      EmitStatus(now);
    }
    return;
  }
  Welcome(a);
  if (run_ == Run::kWaiting) {  // every agent had left: training goes on with this one
    run_ = Run::kRunning;
    StartEpoch();
  }
}

void Driver::Welcome(Agent& a) {
  a.session = next_session_++;
  a.role = Role::kIdle;
  a.participant = false;
  a.seq_out = 0;
  SendWelcome(a);
}

void Driver::SendWelcome(Agent& a) {
  wire::WelcomeMsg w;
  w.problem = options_.problem;
  w.dimension = dimension_;
  if (labels_) {
    w.label_negative = labels_->negative;
    w.label_positive = labels_->positive;
  }
  w.heartbeat_ms = static_cast<uint32_t>(options_.heartbeat_interval * 1000);
  w.epoch = state_->epoch();
  w.version = state_->version();
  a.answered_to = state_->version();
  w.model = VectorView::Dense(state_->x().data(), state_->model_size());
  w.seed = DeriveSeed(options_.seed, Crc32c(a.agent_id.data(), a.agent_id.size()), a.session);
  w.scaler = wire::ScalerView::Of(scaler_);
  const std::vector<double>& scales = scales_.scales();
  const std::vector<double>& offsets = scales_.offsets();
  w.column_scales = scales;
  w.column_offsets = offsets;
  Send(a, encoder_.Encode(a.NextHeader(), w, state_->support()));
}

std::optional<ScalerKind> Driver::RunScale(std::string_view except) const {
  if (state_) return scaler_.kind;
  if (options_.scale) return options_.scale;
  std::optional<ScalerKind> asked;
  roster_.ForEach([&](const Agent& a) {
    if (!asked && a.identity != except && a.scale_request >= 0)
      asked = static_cast<ScalerKind>(a.scale_request);
  });
  return asked;
}

void Driver::RemoveAgent(std::string_view identity, const std::string& why) {
  std::optional<Agent> gone = roster_.Remove(identity);
  if (!gone) return;
  events_->Emit(AgentLeft{gone->agent_id, why, roster_.size()});
  AgentGone(*gone);
}

void Driver::AgentGone(const Agent& gone) {
  if (run_ == Run::kStopping) {
    if (roster_.welcomed() == 0) EndStopping();
    return;
  }
  if (run_ == Run::kWaiting && !state_ && gone.round_pending) {
    std::string why;  // the round waited for its Hello
    if (ReadyToStart(&why)) StartTraining();
    return;
  }
  if (run_ != Run::kRunning || !gone.welcomed()) return;
  if (roster_.welcomed() == 0) {
    // Nobody left to make progress: wait for agents (x and the policy's memory stay).
    run_ = Run::kWaiting;
    waiting_why_ = "no agents left";
    events_->Emit(WaitingForAgents{0, 1, waiting_why_});
    EmitStatus(clock_->Now());
    return;
  }
  using Phase = CoordinatorState::Phase;
  const Phase phase = state_->phase();
  if (phase == Phase::kInner) {
    bool anyone = false;
    roster_.ForEach([&](const Agent& a) { anyone |= a.role == Role::kInner; });
    if (!anyone) {
      EndInnerPhase(false);
      StartEpoch();
    }
  } else if (gone.role == Role::kAwaiting && PhaseComplete()) {
    if (phase == Phase::kGradient) FinishGradientPhase();
    if (phase == Phase::kCurvature) FinishCurvaturePhase();
  }
}

void Driver::Revoke() {
  if (!key_allowed_) return;
  for (const std::string& identity : roster_.Revoked(key_allowed_)) {
    RemoveAgent(identity, "its key was removed from the allow-list");
  }
}

}  // namespace edgetrain::coordinator
