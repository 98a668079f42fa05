#include "coordinator.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <set>

#include "edgetrain/crc32c.h"
#include "edgetrain/file_util.h"
#include "edgetrain/model.h"
#include "edgetrain/rng.h"
#include "edgetrain/text.h"

namespace edgetrain::coordinator {

struct Coordinator::Agent {
  std::string identity;
  std::string agent_id;
  std::string peer;
  std::string public_key;  // CURVE key it authenticated with ("" when insecure)
  std::string software_version;
  uint64_t session = 0;
  Role role = Role::kPending;
  int64_t rows = 0;
  int32_t dim = 0;
  std::vector<std::string> labels;
  uint64_t seq_in = 0;
  uint64_t seq_out = 0;
  double last_heard = 0;
  double last_sent = 0;
  double phase_sent = 0;      // when its phase message went out (repeated if it stays silent)
  int64_t epoch_updates = 0;  // Updates from it in this inner phase
  int64_t updates_applied = 0;
  bool incremental = false;  // takes incremental Model answers (its Hello said so)
  bool newton = false;       // answers a CurvatureRequest with a Curvature (its Hello said so)
};

namespace {

std::string Format(const char* fmt, double a) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, a);
  return buf;
}

JsonWriter RefusedJson(const std::map<std::string, int64_t>& counts) {
  JsonWriter w;
  for (const auto& [reason, n] : counts) w.Field(reason, n);
  return w;
}

}  // namespace

Coordinator::Coordinator(const CoordinatorOptions& options, zmq::context_t* context,
                         const Clock* clock)
    : options_(options),
      context_(context),
      clock_(clock),
      router_(context, options.channel),
      log_(context, clock),
      decoder_(static_cast<size_t>(options.channel.max_message_bytes)) {
  labels_ = options_.labels;
  // A stale additive update can leave the box, so box-constrained runs take fresh updates only.
  max_staleness_ = options_.problem.reg.HasBox() ? 0 : options_.max_staleness;
}

Coordinator::~Coordinator() = default;

Status Coordinator::LoadAllowLists() {
  EDGETRAIN_RETURN_IF_ERROR(agent_keys_.Load(options_.allow_path));
  if (options_.secure_log) {
    EDGETRAIN_RETURN_IF_ERROR(log_keys_.Load(
        options_.log_allow_path.empty() ? options_.allow_path : options_.log_allow_path));
  }
  return Status::Ok();
}

void Coordinator::ReloadAllowLists() {
  if (options_.insecure) return;
  if (Status st = LoadAllowLists();
      !st.ok()) {  // keep the old lists: a typo must not open or close the door
    JsonWriter w;
    w.Field("detail", st.message());
    log_.Publish("agent", "allow_list_error", w);
    PrintLine("allow-list not reloaded: " + st.message());
    return;
  }
  JsonWriter w;
  w.Field("keys", static_cast<int64_t>(agent_keys_.size()));
  log_.Publish("agent", "allow_list_reloaded", w);
  PrintLine("allow-list reloaded: " + std::to_string(agent_keys_.size()) + " agent keys");
  std::vector<std::string> revoked;
  for (const auto& [id, a] : agents_) {
    if (!agent_keys_.Contains(a->public_key)) revoked.push_back(id);
  }
  for (const std::string& id : revoked) RemoveAgent(id, "its key was removed from the allow-list");
}

Status Coordinator::Bind() {
  transport::CurveConfig agents_curve, log_curve;
  if (options_.insecure) {
    if (!options_.key_path.empty() || options_.secure_log) {
      return Status::InvalidArgument("--insecure cannot be combined with --key or --log-secure");
    }
  } else {
    if (options_.key_path.empty() || options_.allow_path.empty()) {
      return Status::InvalidArgument(
          "agents must be authenticated: give --key (see 'edgetrain-coordinator keygen') and "
          "--allow (the agents' "
          "public keys), or --insecure on a network you trust");
    }
    Result<transport::CurveKeyPair> keys = transport::ReadSecretKeyFile(options_.key_path);
    if (!keys.ok()) return keys.status();
    EDGETRAIN_RETURN_IF_ERROR(LoadAllowLists());
    zap_ = std::make_unique<transport::ZapHandler>(context_);
    zap_->SetAllowList("agents", &agent_keys_);
    if (options_.secure_log) zap_->SetAllowList("log", &log_keys_);
    zap_->OnDecision([this](const std::string& domain, const std::string& address,
                            const std::string& key, bool ok) {
      if (ok) return;
      JsonWriter w;
      w.Field("domain", domain).Field("peer", address).Field("key", key.empty() ? "(none)" : key);
      log_.Publish("agent", "key_refused", w);
      PrintLine("refused a connection from " + address + " (" + domain + "): key " +
                (key.empty() ? "(none)" : key) + " is not on the allow-list");
    });
    router_.AttachZap(zap_.get());
    agents_curve = {transport::CurveConfig::Mode::kServer, *keys, "", "agents"};
    if (options_.secure_log) log_curve = {transport::CurveConfig::Mode::kServer, *keys, "", "log"};
    transport::ApplyCurve(router_.socket(), agents_curve);
  }
  router_.OnHandshakeFailure([this](const std::string& what) {
    JsonWriter w;
    w.Field("detail", what);
    log_.Publish("agent", "handshake_failed", w);
    PrintLine("a connection failed its handshake: " + what);
  });
  Result<std::string> agents = router_.Bind(options_.bind);
  if (!agents.ok()) return agents.status().WithContext("--bind");
  agent_endpoint_ = *agents;
  Result<std::string> logs = log_.Bind(options_.log_bind, log_curve);
  if (!logs.ok()) return logs.status().WithContext("--log-bind");
  log_endpoint_ = *logs;
  if (!options_.log_json.empty()) EDGETRAIN_RETURN_IF_ERROR(log_.OpenFile(options_.log_json));
  if (!options_.checkpoint_dir.empty()) {
    checkpoints_ = std::make_unique<CheckpointStore>(options_.checkpoint_dir);
    if (options_.resume) {
      std::vector<std::string> skipped;
      Result<Checkpoint> c = checkpoints_->LoadLatest(&skipped);
      for (const std::string& why : skipped) PrintLine("skipping a checkpoint: " + why);
      if (c.ok()) {
        if (c->fingerprint != OptionsFingerprint()) {
          return Status::InvalidArgument(
              options_.checkpoint_dir +
              ": the checkpoint was made with other options (loss, penalties, task, "
              "labels or dimension); start without --resume or with the same options");
        }
        resume_ = std::move(c).value();
      } else if (c.status().code() != StatusCode::kNotFound) {
        return c.status();
      } else {
        PrintLine("no checkpoint in " + options_.checkpoint_dir + ": starting a new run");
      }
    }
  } else if (options_.resume) {
    return Status::InvalidArgument("--resume needs --checkpoint-dir");
  }
  if (!options_.endpoints_file.empty()) {
    EDGETRAIN_RETURN_IF_ERROR(WriteFileAtomically(
        options_.endpoints_file, "agents=" + agent_endpoint_ + "\nlog=" + log_endpoint_ + "\n"));
  }
  return Status::Ok();
}

void Coordinator::PrintLine(const std::string& line) const {
  if (options_.quiet || options_.log_json == "-") return;
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

wire::Header Coordinator::HeaderFor(Agent& a) { return {a.agent_id, a.session, ++a.seq_out}; }

void Coordinator::SendTo(Agent& a, std::string_view bytes) {
  if (router_.Send(a.identity, bytes)) a.last_sent = clock_->Now();
}

void Coordinator::Refuse(const std::string& who, const std::string& peer, const std::string& reason,
                         const std::string& what) {
  ++refused_messages_;
  ++refused_by_reason_[reason];
  ++refused_by_sender_[who == "an unknown connection" ? peer : who];
  ++epoch_refused_[reason];
  JsonWriter w;
  w.Field("agent", who).Field("peer", peer).Field("reason", reason).Field("detail", what);
  log_.Publish("agent", "message_refused", w);
  PrintLine("refused a message from " + who + (peer.empty() ? "" : " (" + peer + ")") + ": " +
            reason + ": " + what);
}

void Coordinator::Reject(const std::string& identity, const std::string& agent_id,
                         wire::RejectReason reason, const std::string& text, uint16_t protocol) {
  router_.Send(identity,
               encoder_.Encode({agent_id, 0, 0, protocol}, wire::RejectMsg{reason, text}));
  JsonWriter w;
  w.Field("agent", agent_id).Field("reason", wire::RejectReasonName(reason)).Field("detail", text);
  log_.Publish("agent", "agent_refused", w);
  PrintLine("refused agent " + agent_id + ": " + text);
}

void Coordinator::HandleMessage(const transport::Inbound& in) {
  static const std::string kUnknown = "an unknown connection";
  const std::string& identity = in.identity;
  const std::string& peer = in.peer_address;
  auto it = agents_.find(identity);
  const std::string& who =
      it != agents_.end() ? it->second->agent_id : kUnknown;  // no copy per message
  if (!options_.insecure &&
      !agent_keys_.Contains(in.user_id)) {  // removed from the list since it connected
    Refuse(who, peer, "key_not_allowed", "key " + in.user_id + " is not on the allow-list");
    return;
  }
  Result<wire::Message> m = decoder_.Decode(in.payload.data(), in.payload.size());
  if (!m.ok()) {
    Refuse(who, peer, "malformed", m.status().message());
    return;
  }
  const wire::Header& h = m->header;
  if (const auto* other = std::get_if<wire::OtherProtocolMsg>(&m->body)) {
    const std::string agent_id(h.agent_id);
    Refuse(agent_id, peer, "protocol_version",
           "protocol version " + std::to_string(h.protocol) + ", expected " +
               std::to_string(wire::kProtocolVersion));
    // Answered in the agent's own version: the Reject's layout is the same in every version.
    if (other->hello) {
      Reject(identity, agent_id, wire::RejectReason::kProtocolMismatch,
             "this coordinator speaks protocol version " + std::to_string(wire::kProtocolVersion) +
                 " (edgetrain " EDGETRAIN_VERSION "), the agent protocol version " +
                 std::to_string(h.protocol) + ": run the same edgetrain version on both sides",
             h.protocol);
    }
    return;
  }
  if (const auto* hello = std::get_if<wire::HelloMsg>(&m->body)) {
    HandleHello(in, h, *hello);
    return;
  }
  if (it == agents_.end()) {
    const std::string agent_id(h.agent_id);
    Refuse(agent_id, peer, "unknown_sender",
           std::string(wire::MessageName(m->body)) + " before Hello");
    Reject(identity, agent_id, wire::RejectReason::kNotWelcome, "no session: say Hello first");
    return;
  }
  Agent& a = *it->second;
  if (h.agent_id != a.agent_id || h.session != a.session || a.role == Role::kPending) {
    const std::string agent_id(h.agent_id);
    Refuse(agent_id, peer, "wrong_session",
           "session " + std::to_string(h.session) + ", expected " + std::to_string(a.session));
    if (a.role != Role::kPending)
      Reject(identity, agent_id, wire::RejectReason::kNotWelcome, "stale session: say Hello again");
    return;
  }
  if (h.seq <= a.seq_in) {
    // Never applied twice. A repeated Update means our answer was lost: answer again (no new step
    // follows unless the agent was waiting for exactly this answer).
    ++duplicates_;
    ++epoch_refused_["duplicate"];
    a.last_heard = clock_->Now();
    if (std::holds_alternative<wire::UpdateMsg>(m->body) && phase_ == Phase::kInner &&
        a.role == Role::kInner) {
      SendTo(a, UpdateAnswerer::AnswerRepeat(*state_, {HeaderFor(a), h.seq, a.incremental},
                                             &encoder_));
    }
    return;
  }
  a.seq_in = h.seq;
  a.last_heard = clock_->Now();
  if (const auto* g = std::get_if<wire::GradSumMsg>(&m->body)) {
    HandleGradSum(a, *g);
  } else if (const auto* u = std::get_if<wire::UpdateMsg>(&m->body)) {
    HandleUpdate(a, *u, h.seq);
  } else if (const auto* c = std::get_if<wire::CurvatureMsg>(&m->body)) {
    HandleCurvature(a, *c);
  } else if (const auto* bye = std::get_if<wire::ByeMsg>(&m->body)) {
    RemoveAgent(identity,
                "said goodbye" + (bye->text.empty() ? std::string() : ": " + Printable(bye->text)));
  } else if (!std::holds_alternative<wire::HeartbeatMsg>(m->body)) {
    Refuse(a.agent_id, peer, "unexpected_message",
           std::string(wire::MessageName(m->body)) + " from an agent");
  }
}

void Coordinator::HandleHello(const transport::Inbound& in, const wire::Header& header,
                              const wire::HelloMsg& h) {
  const std::string& identity = in.identity;
  const std::string& peer = in.peer_address;
  const std::string agent_id(header.agent_id);
  if (phase_ == Phase::kDone) {
    Reject(identity, agent_id, wire::RejectReason::kShuttingDown, "the run has finished");
    return;
  }
  if (h.task != options_.task) {
    Reject(identity, agent_id, wire::RejectReason::kTaskMismatch,
           std::string("this run is ") + TaskName(options_.task) +
               " but the agent's data is read for " + TaskName(h.task) +
               " (check --task on both sides)");
    return;
  }
  std::vector<std::string> labels(h.labels.begin(), h.labels.end());
  if (h.dimension > kMaxModelDimension) {  // the model is held dense: refuse before allocating
    Reject(identity, agent_id, wire::RejectReason::kDimensionTooLarge,
           "the agent's data has " + std::to_string(h.dimension) + " features; the limit is " +
               std::to_string(kMaxModelDimension));
    return;
  }
  const int32_t limit = state_ ? dimension_ : (resume_ ? resume_->dimension : options_.dimension);
  if (limit > 0 && h.dimension > limit) {
    Reject(identity, agent_id, wire::RejectReason::kDimensionTooLarge,
           "the agent's data has " + std::to_string(h.dimension) + " features but the model has " +
               std::to_string(limit) + " (start the coordinator with --dim " +
               std::to_string(h.dimension) + ")");
    return;
  }
  if (options_.task == Task::kClassification) {
    if (labels_) {
      for (const std::string& l : labels) {
        if (!labels_->Map(l)) {
          Reject(identity, agent_id, wire::RejectReason::kLabelsConflict,
                 "label '" + l + "' is not one of the run's labels '" + labels_->negative +
                     "' and '" + labels_->positive + "'");
          return;
        }
      }
    } else {
      const std::vector<std::string> distinct = DistinctLabels(agent_id, labels);
      if (distinct.size() > 2) {
        Reject(identity, agent_id, wire::RejectReason::kLabelsConflict,
               "the agents' data holds more than two labels (" + distinct[0] + ", " + distinct[1] +
                   ", " + distinct[2] + "); binary classification needs two");
        return;
      }
    }
  }
  // A Hello from an agent id we know: a retry while waiting, or a restart (new session).
  if (auto known = identity_of_.find(agent_id); known != identity_of_.end()) {
    Agent& old = *agents_.at(known->second);
    if (old.role == Role::kPending && known->second == identity) {
      old.last_heard = clock_->Now();
      return;  // the agent is still waiting for the start
    }
    RemoveAgent(known->second, "replaced by a new session of the same agent");
  }
  auto agent = std::make_unique<Agent>();
  Agent& a = *agent;
  a.identity = identity;
  a.agent_id = agent_id;
  a.peer = peer;
  a.public_key = in.user_id;
  a.software_version = h.software_version;
  a.rows = h.rows;
  a.dim = h.dimension;
  a.labels = labels;
  a.incremental = h.incremental_models;
  a.newton = h.newton;
  a.last_heard = clock_->Now();
  a.seq_in = header.seq;
  agents_[identity] = std::move(agent);
  identity_of_[agent_id] = identity;
  ++agents_joined_;
  JsonWriter w;
  w.Field("agent", agent_id)
      .Field("peer", peer)
      .Field("key", a.public_key.empty() ? "(insecure)" : a.public_key)
      .Field("key_name", agent_keys_.NameOf(a.public_key))
      .Field("rows", a.rows)
      .Field("dimension", static_cast<int64_t>(a.dim))
      .Field("row_norm_sq_max", h.row_norm_sq_max)
      .Field("software_version", a.software_version)
      .Field("agents", static_cast<int64_t>(agents_.size()));
  log_.Publish("agent", "agent_joined", w);
  PrintLine("agent " + agent_id + " joined from " + (peer.empty() ? "?" : peer) + ": " +
            std::to_string(a.rows) + " rows, " + std::to_string(a.dim) + " features (" +
            std::to_string(agents_.size()) + " agents)");
  if (!state_) {
    std::string why;
    if (ReadyToStart(&why)) Start();
    return;
  }
  Welcome(a);
  if (phase_ == Phase::kWaiting) StartEpoch();
}

std::vector<std::string> Coordinator::DistinctLabels(const std::string& except_agent,
                                                     const std::vector<std::string>& extra) const {
  std::vector<std::string> distinct;
  auto add = [&](const std::string& l) {
    if (std::none_of(distinct.begin(), distinct.end(),
                     [&](const std::string& d) { return SameLabel(d, l); })) {
      distinct.push_back(l);
    }
  };
  for (const auto& [id, a] : agents_) {
    if (a->agent_id == except_agent) continue;
    for (const std::string& l : a->labels) add(l);
  }
  for (const std::string& l : extra) add(l);
  return distinct;
}

uint64_t Coordinator::OptionsFingerprint() const {
  const Regularizer& r = options_.problem.reg;
  char text[512];
  std::snprintf(text, sizeof text,
                "task=%d loss=%d l1=%.17g l2=%.17g lower=%.17g upper=%.17g intercept=%d dim=%d",
                static_cast<int>(options_.task), static_cast<int>(options_.problem.loss), r.l1,
                r.l2, r.lower, r.upper, options_.problem.intercept ? 1 : 0, options_.dimension);
  std::string s = text;
  if (options_.labels)
    s += " labels=" + options_.labels->negative + "," + options_.labels->positive;
  if (options_.positive_label) s += " positive=" + *options_.positive_label;
  return (static_cast<uint64_t>(Crc32c(s.data(), s.size())) << 32) |
         Crc32c(s.data(), s.size(), 0x9e3779b9u);
}

void Coordinator::SaveCheckpoint() {
  if (!checkpoints_ || !state_) return;
  Checkpoint c;
  c.fingerprint = OptionsFingerprint();
  c.dimension = dimension_;
  c.labels = labels_;
  c.epoch = state_->epoch();
  c.version = state_->version();
  c.x = state_->x();
  c.step_factor = policy_->step_factor();
  c.next_session = next_session_;
  for (const auto& [id, a] : agents_) {
    if (a->role != Role::kPending) c.roster.push_back(a->agent_id);
  }
  c.updates_applied = summary_.updates_applied;
  c.created_unix = static_cast<int64_t>(std::time(nullptr));
  Result<std::string> path = checkpoints_->Save(c);
  if (!path.ok()) {  // training goes on; the operator sees it
    JsonWriter w;
    w.Field("detail", path.status().message());
    log_.Publish("run", "checkpoint_error", w);
    PrintLine("checkpoint not written: " + path.status().message());
  }
  next_checkpoint_ = clock_->Now() + options_.checkpoint_interval;
}

bool Coordinator::ReadyToStart(std::string* why) const {
  if (static_cast<int>(agents_.size()) < options_.min_agents) {
    *why = "waiting for agents";
    return false;
  }
  if (options_.task == Task::kClassification && !labels_) {
    if (DistinctLabels("", {}).size() < 2) {
      *why = "waiting for an agent whose data holds the second label";
      return false;
    }
  }
  return true;
}

void Coordinator::Welcome(Agent& a) {
  a.session = next_session_++;
  a.role = Role::kIdle;
  a.seq_out = 0;
  wire::WelcomeMsg info;
  info.problem = options_.problem;
  info.dimension = dimension_;
  if (labels_) {
    info.label_negative = labels_->negative;
    info.label_positive = labels_->positive;
  }
  info.heartbeat_ms = static_cast<uint32_t>(
      std::clamp(options_.heartbeat_interval * 1000, 1.0, double{wire::kMaxHeartbeatMs}));
  info.epoch = state_->epoch();
  info.version = state_->version();
  info.model = VectorView::Dense(state_->x().data(), state_->model_size());
  info.seed = DeriveSeed(options_.seed, Crc32c(a.agent_id.data(), a.agent_id.size()), a.session);
  SendTo(a, encoder_.Encode(HeaderFor(a), info, state_->support()));
}

void Coordinator::Start() {
  dimension_ = resume_ ? resume_->dimension : options_.dimension;
  if (resume_) labels_ = resume_->labels;
  for (const auto& [id, a] : agents_) dimension_ = std::max(dimension_, a->dim);
  if (options_.task == Task::kClassification && !labels_) {
    const std::vector<std::string> distinct = DistinctLabels("", {});
    Result<LabelMap> map = ChooseLabelMap(distinct[0], distinct[1], options_.positive_label);
    if (!map.ok()) {
      Fail(map.status());
      return;
    }
    labels_ = *map;
  }
  state_ = std::make_unique<CoordinatorState>(options_.problem, dimension_);
  EpochPolicyOptions policy = options_.policy;
  policy.newton_max_support = NewtonMaxSupport();
  policy_ = std::make_unique<EpochPolicy>(options_.problem, policy);
  decoder_.set_model_size(state_->model_size());
  answerer_.emplace(state_->model_size());  // answering never allocates after this
  start_time_ = clock_->Now();
  if (resume_) {
    state_->Restore(resume_->x, resume_->version, resume_->epoch);
    policy_->RestoreStepFactor(resume_->step_factor);
    next_session_ = std::max(next_session_, resume_->next_session);
    summary_.updates_applied = resume_->updates_applied;
    summary_.resumed = true;
    summary_.resumed_epoch = resume_->epoch;
    JsonWriter r;
    r.Field("epoch", resume_->epoch)
        .Field("version", resume_->version)
        .Field("step_factor", resume_->step_factor)
        .Field("updates_applied", resume_->updates_applied)
        .Field("agents_before", static_cast<int64_t>(resume_->roster.size()));
    log_.Publish("run", "run_resumed", r);
    PrintLine("resuming from a checkpoint: epoch " + std::to_string(resume_->epoch - 1) +
              ", model version " + std::to_string(resume_->version));
  }
  JsonWriter w;
  w.Field("agents", static_cast<int64_t>(agents_.size()))
      .Field("dimension", static_cast<int64_t>(dimension_))
      .Field("loss", LossName(options_.problem.loss))
      .Field("l1", options_.problem.reg.l1)
      .Field("l2", options_.problem.reg.l2)
      .Field("intercept", options_.problem.intercept)
      .Field("max_epochs", options_.policy.stop.max_epochs)
      .Field("kkt_tolerance", options_.policy.stop.kkt_tolerance)
      .Field("tolerance", options_.policy.stop.tolerance)
      .Field("insecure", options_.insecure)
      .Field("secure_log", options_.secure_log)
      .Field("reference_objective", options_.reference_objective);
  if (labels_)
    w.Field("label_negative", labels_->negative).Field("label_positive", labels_->positive);
  log_.Publish("run", "run_started", w);
  PrintLine("training starts: " + std::to_string(agents_.size()) + " agents, " +
            std::to_string(dimension_) + " features, loss " + LossName(options_.problem.loss));
  for (auto& [id, a] : agents_) Welcome(*a);
  if (!options_.quiet && options_.log_json != "-") {
    std::printf("%6s  %-22s  %-10s  %-10s  %8s  %9s  %6s  %9s  %s\n", "epoch", "objective", "kkt",
                "rel_gap", "nnz", "seconds", "agents", "updates/s", "notes");
    std::fflush(stdout);
  }
  StartEpoch();
}

void Coordinator::StartEpoch() {
  int welcomed = 0;
  for (const auto& [id, a] : agents_) welcomed += (a->role != Role::kPending);
  if (welcomed == 0) {
    phase_ = Phase::kWaiting;
    log_.Publish("run", "waiting_for_agents", JsonWriter());
    PrintLine("no agents left: waiting for agents to join");
    return;
  }
  state_->BeginEpoch();
  SaveCheckpoint();
  const auto& snapshot = state_->snapshot();
  for (auto& [id, a] : agents_) {
    if (a->role == Role::kPending) continue;
    a->role = Role::kGradient;
    a->phase_sent = clock_->Now();
    SendTo(*a, encoder_.Encode(
                   HeaderFor(*a),
                   wire::EpochBeginMsg{state_->epoch(), state_->version(),
                                       VectorView::Dense(snapshot.data(), state_->model_size())}));
  }
  epoch_smoothness_.clear();
  epoch_refused_.clear();
  state_->ResetEpochCounters();
  phase_ = Phase::kGradient;
  phase_deadline_ = clock_->Now() + options_.gradient_timeout;
}

void Coordinator::HandleGradSum(Agent& a, const wire::GradSumMsg& g) {
  if (phase_ != Phase::kGradient || a.role != Role::kGradient || g.epoch != state_->epoch()) {
    ++updates_refused_;
    ++epoch_refused_["late_gradient"];
    return;
  }
  state_->AddGradSum(g.grad, g.loss_sum, g.smoothness.rows);
  epoch_smoothness_.push_back(g.smoothness);
  a.role = Role::kGradientDone;
  for (const auto& [id, other] : agents_) {
    if (other->role == Role::kGradient) return;
  }
  FinishGradientPhase();
}

void Coordinator::FinishGradientPhase() {
  const double now = clock_->Now();
  if (state_->gradient_rows() == 0) {  // nobody answered: try again with whoever is there
    if (policy_->stop_requested()) {
      Finish("time-limit");
      return;
    }
    StartEpoch();
    return;
  }
  const SnapshotReport report = state_->FinishGradientPhase();
  EpochContext context;
  context.seconds = now - start_time_;
  context.smoothness = CombineSmoothness(epoch_smoothness_);
  for (const auto& [id, a] : agents_) {
    if (a->role == Role::kGradientDone && !a->newton) context.newton_capable = false;
  }
  Result<EpochDecision> decided = policy_->Decide(report, context);
  if (!decided.ok()) {
    Fail(decided.status());
    return;
  }
  const EpochDecision& d = *decided;
  if (d.keep_as_best) state_->KeepSnapshotAsBest();
  if (d.action == EpochDecision::Action::kNewton || d.action == EpochDecision::Action::kInner) {
    plan_ = d.plan;
  }
  last_report_ = report;
  PublishEpoch(report, d, now);
  using Action = EpochDecision::Action;
  switch (d.action) {
    case Action::kStop:
      if (d.failed) {
        Fail(Status::Internal("training diverges even with tiny steps (the step was halved " +
                              std::to_string(policy_->step_halvings()) + " times)"));
      } else {
        Finish(d.stop_reason);
      }
      return;
    case Action::kRollBack:
      state_->RevertToBest();
      StartEpoch();
      return;
    case Action::kTrialPoint:
      state_->JumpTo(policy_->trial_point());
      StartEpoch();
      return;
    case Action::kNewtonRejected:
      PrintLine("the Newton point did not lower P (" + Format("%.16g", report.objective) +
                "): back to the best snapshot");
      state_->RevertToBest();
      StartEpoch();
      return;
    case Action::kNewton:
      BeginCurvaturePhase(now, d.working_set);
      return;
    case Action::kInner:
      BeginInnerPhase(now);
      return;
  }
}

void Coordinator::PublishEpoch(const SnapshotReport& report, const EpochDecision& d, double now) {
  const int64_t epoch = report.epoch - 1;
  int participants = 0;
  for (const auto& [id, a] : agents_) participants += (a->role == Role::kGradientDone);
  const double seconds = now - start_time_;
  const bool rolled_back = d.verdict == EpochDecision::Verdict::kRolledBack;
  if (d.action == EpochDecision::Action::kTrialPoint ||
      d.action == EpochDecision::Action::kNewtonRejected) {
    JsonWriter w;
    w.Field("epoch", epoch)
        .Field("objective", report.objective)
        .Field("best_objective", policy_->best_objective())
        .Field("seconds", seconds);
    log_.Publish(
        "epoch",
        d.action == EpochDecision::Action::kTrialPoint ? "newton_backtrack" : "newton_rejected", w);
    return;
  }
  JsonWriter w;
  w.Field("epoch", epoch)
      .Field("objective", report.objective)
      .Field("kkt", report.kkt)
      .Field("gap_bound", report.gap)
      .Field("rel_gap", report.relative_gap)
      .Field("nnz", report.nnz)
      .Field("rows", report.rows)
      .Field("agents", static_cast<int64_t>(participants))
      .Field("version", state_->version())
      .Field("eta", plan_.eta)
      .Field("inner_steps", plan_.inner_steps)
      .Field("batch", static_cast<int64_t>(plan_.batch))
      .Field("seconds", seconds)
      .Field("best", d.keep_as_best)
      .Field("verdict", VerdictName(d.verdict))
      .Field("rolled_back", rolled_back)
      .Field("final", d.action == EpochDecision::Action::kStop);
  if (!std::isnan(options_.reference_objective)) {
    w.Field("rel_subopt", (report.objective - options_.reference_objective) /
                              std::fabs(options_.reference_objective));
  }
  log_.Publish("epoch", "epoch_begin", w);
  if (!options_.quiet && options_.log_json != "-") {
    std::string notes;
    if (d.verdict == EpochDecision::Verdict::kProbation) notes = "worse than the best (probation)";
    if (d.verdict == EpochDecision::Verdict::kBaseline && epoch > 0) notes = "new rows: baseline";
    if (rolled_back) notes = "worse again: rolled back, step halved";
    std::printf("%6" PRId64 "  %-22.16g  %-10.3e  %-10.3e  %8" PRId64 "  %9.3f  %6d  %9s  %s\n",
                epoch, report.objective, report.kkt, report.relative_gap, report.nnz, seconds,
                participants, last_rate_ > 0 ? Format("%.0f", last_rate_).c_str() : "-",
                notes.c_str());
    std::fflush(stdout);
  }
}

int64_t Coordinator::NewtonMaxSupport() const {
  return std::min(options_.policy.newton_max_support, wire::kMaxNewtonSupport);
}

void Coordinator::BeginCurvaturePhase(double now, int64_t working_set) {
  // The working set grows with the model, as in working-set l1 solvers (celer, blitz): small
  // blocks early keep the first steps (from x = 0, where every useful weight violates) cheap.
  state_->BeginCurvaturePhase(ChooseNewtonSupport(
      options_.problem, state_->mu().data(), state_->snapshot().data(), dimension_, working_set));
  curvature_declined_ = false;
  curvature_start_ = now;
  for (auto& [id, a] : agents_) {
    if (a->role != Role::kGradientDone) continue;
    a->role = Role::kCurvature;
    a->phase_sent = now;
    SendTo(*a, encoder_.Encode(HeaderFor(*a),
                               wire::CurvatureRequestMsg{state_->epoch(), state_->version(),
                                                         state_->newton_support().index}));
  }
  phase_ = Phase::kCurvature;
  phase_deadline_ = now + options_.gradient_timeout;
}

void Coordinator::HandleCurvature(Agent& a, const wire::CurvatureMsg& c) {
  if (phase_ != Phase::kCurvature || a.role != Role::kCurvature || c.epoch != state_->epoch() ||
      c.support_size != state_->newton_support().size()) {
    ++updates_refused_;
    ++epoch_refused_["late_curvature"];
    return;
  }
  a.role = Role::kCurvatureDone;
  if (c.declined) {
    curvature_declined_ = true;
  } else {
    state_->AddCurvature(c.hessian.data(), c.rows);
  }
  for (const auto& [id, other] : agents_) {
    if (other->role == Role::kCurvature) return;
  }
  FinishCurvaturePhase();
}

void Coordinator::FinishCurvaturePhase() {
  const double now = clock_->Now();
  // Every row behind mu~ must be in H too (an agent that left or timed out, or one that declined,
  // leaves a Hessian that does not match the gradient): then the epoch runs an inner loop instead.
  std::vector<double> direction;
  double decrease = 0.0;
  int sweeps = 0;
  const int64_t rows = state_->curvature_rows();
  const bool solved =
      state_->NewtonDirection(&direction, &decrease, &sweeps) && !curvature_declined_;
  JsonWriter w;
  w.Field("epoch", state_->epoch() - 1)
      .Field("support", state_->newton_support().size())
      .Field("rows", rows)
      .Field("declined", curvature_declined_)
      .Field("taken", solved)
      .Field("decrease", decrease)
      .Field("sweeps", static_cast<int64_t>(sweeps))
      .Field("solve_seconds", clock_->Now() - now)
      .Field("bytes", state_->hessian_bytes())
      .Field("curvature_seconds", now - curvature_start_)
      .Field("seconds", now - start_time_);
  log_.Publish("epoch", "newton", w);
  if (!solved) {
    policy_->NewtonDeclined();
    BeginInnerPhase(now);
    return;
  }
  state_->JumpTo(policy_->BeginLineSearch(state_->newton_support(), std::move(direction), decrease,
                                          state_->snapshot()));
  StartEpoch();
}

wire::InnerLoopMsg Coordinator::InnerLoopPlan(int64_t version) const {
  return {state_->epoch(),
          version,
          VectorView::Dense(state_->mu().data(), state_->model_size()),
          plan_.eta,
          plan_.inner_steps,
          plan_.batch};
}

void Coordinator::BeginInnerPhase(double now) {
  for (auto& [id, a] : agents_) {
    if (a->role != Role::kGradientDone && a->role != Role::kCurvatureDone) continue;
    a->role = Role::kInner;
    a->phase_sent = now;
    a->epoch_updates = 0;
    SendTo(*a, encoder_.Encode(HeaderFor(*a), InnerLoopPlan(state_->version())));
  }
  state_->BeginInnerPhase(plan_.inner_steps);
  phase_ = Phase::kInner;
  inner_start_ = now;
  next_progress_ = now + kProgressInterval;
  last_update_time_ = now;
  phase_deadline_ = now + options_.stall_timeout;
  bytes_in_mark_ = router_.counters().bytes_in;
  bytes_out_mark_ = router_.counters().bytes_out;
  guarded_refused_mark_ = state_->guarded_refused();
  guarded_clipped_mark_ = state_->guarded_clipped();
}

void Coordinator::HandleUpdate(Agent& a, const wire::UpdateMsg& u, uint64_t seq) {
  if (phase_ != Phase::kInner || u.epoch != state_->epoch()) {
    ++updates_refused_;
    ++epoch_refused_["late_update"];  // in flight when the epoch ended: expected, not an error
    return;
  }
  if (a.role != Role::kInner) {
    ++updates_refused_;
    ++epoch_refused_["not_participant"];
    return;
  }
  ++a.epoch_updates;
  // Every update is answered, so agents can count what was applied; the update that completes
  // the epoch is answered with inner_done (no further step) before the next epoch begins.
  const UpdateAnswer answer = answerer_->AnswerUpdate(
      state_.get(), u, {HeaderFor(a), seq, a.incremental}, max_staleness_, &encoder_);
  SendTo(a, answer.bytes);
  const UpdateVerdict verdict = answer.verdict;
  const bool applied = verdict == UpdateVerdict::kApplied;
  if (applied) {
    ++a.updates_applied;
    ++summary_.updates_applied;
    last_update_time_ = clock_->Now();
    phase_deadline_ = last_update_time_ + options_.stall_timeout;
  } else {
    ++updates_refused_;
    ++epoch_refused_[UpdateVerdictName(verdict)];
  }
  if (answer.inner_done) {
    EndEpoch();
    StartEpoch();
  }
}

void Coordinator::EndEpoch() {
  const double now = clock_->Now();
  const double seconds = std::max(1e-9, now - inner_start_);
  const double rate = static_cast<double>(state_->applied_in_epoch()) / seconds;
  last_rate_ = rate;  // shown in the next progress line
  const auto& hist = state_->staleness_histogram();
  std::vector<int64_t> histogram(hist.begin(), hist.end());
  JsonWriter w;
  w.Field("epoch", state_->epoch() - 1)
      .Field("updates_applied", state_->applied_in_epoch())
      .Field("inner_steps", state_->inner_steps())
      .Field("updates_per_second", rate)
      .Field("inner_seconds", seconds)
      .Field("staleness_histogram", histogram)
      .Object("refused", RefusedJson(epoch_refused_))
      .Field("guarded_refused", state_->guarded_refused() - guarded_refused_mark_)
      .Field("guarded_clipped", state_->guarded_clipped() - guarded_clipped_mark_)
      .Field("bytes_in", router_.counters().bytes_in - bytes_in_mark_)
      .Field("bytes_out", router_.counters().bytes_out - bytes_out_mark_)
      .Field("version", state_->version())
      .Field("seconds", now - start_time_);
  log_.Publish("epoch", "epoch_end", w);
}

void Coordinator::RemoveAgent(const std::string& identity, const std::string& why) {
  auto it = agents_.find(identity);
  if (it == agents_.end()) return;
  const std::string agent_id = it->second->agent_id;
  const Role role = it->second->role;
  if (auto id = identity_of_.find(agent_id); id != identity_of_.end() && id->second == identity)
    identity_of_.erase(id);
  agents_.erase(it);
  JsonWriter w;
  w.Field("agent", agent_id)
      .Field("reason", why)
      .Field("agents", static_cast<int64_t>(agents_.size()));
  log_.Publish("agent", "agent_left", w);
  PrintLine("agent " + agent_id + " left: " + why + " (" + std::to_string(agents_.size()) +
            " agents)");
  if (phase_ == Phase::kGradient && role == Role::kGradient) {
    for (const auto& [other_id, other] : agents_) {
      if (other->role == Role::kGradient) return;
    }
    FinishGradientPhase();
  } else if (phase_ == Phase::kCurvature && role == Role::kCurvature) {
    for (const auto& [other_id, other] : agents_) {
      if (other->role == Role::kCurvature) return;
    }
    FinishCurvaturePhase();
  } else if (phase_ == Phase::kInner) {
    for (const auto& [other_id, other] : agents_) {
      if (other->role == Role::kInner) return;
    }
    EndEpoch();  // nobody left to make progress in this inner phase
    StartEpoch();
  }
}

double Coordinator::NextDeadline(double now) const {
  double next = now + options_.heartbeat_interval;
  if (phase_ == Phase::kGradient || phase_ == Phase::kCurvature || phase_ == Phase::kInner) {
    next = std::min(next, phase_deadline_);
  }
  if (phase_ == Phase::kInner) next = std::min(next, next_progress_);
  if (phase_ == Phase::kInner && checkpoints_) next = std::min(next, next_checkpoint_);
  if (state_ && options_.policy.stop.time_limit > 0 && !policy_->stop_requested()) {
    next = std::min(next, start_time_ + options_.policy.stop.time_limit);
  }
  return next;
}

void Coordinator::OnTimers(double now) {
  if (now >= next_heartbeat_check_) {
    next_heartbeat_check_ = now + options_.heartbeat_interval / 4;
    const double patience = options_.heartbeat_interval * options_.heartbeat_patience;
    std::vector<std::string> silent;
    const double repeat_after = 2 * options_.heartbeat_interval;
    for (auto& [id, a] : agents_) {
      if (now - a->last_heard > patience) {
        silent.push_back(id);
        continue;
      }
      // A phase message may have been lost: repeat it to an agent that has not answered.
      if (a->role == Role::kGradient && now - a->phase_sent > repeat_after) {
        a->phase_sent = now;
        ++repeats_;
        SendTo(*a, encoder_.Encode(HeaderFor(*a),
                                   wire::EpochBeginMsg{state_->epoch(), state_->snapshot_version(),
                                                       VectorView::Dense(state_->snapshot().data(),
                                                                         state_->model_size())}));
      } else if (a->role == Role::kCurvature && now - a->phase_sent > repeat_after) {
        a->phase_sent = now;
        ++repeats_;
        SendTo(*a, encoder_.Encode(HeaderFor(*a), wire::CurvatureRequestMsg{
                                                      state_->epoch(), state_->snapshot_version(),
                                                      state_->newton_support().index}));
      } else if (a->role == Role::kInner && a->epoch_updates == 0 &&
                 now - a->phase_sent > repeat_after) {
        a->phase_sent = now;
        ++repeats_;
        SendTo(*a, encoder_.Encode(HeaderFor(*a), InnerLoopPlan(state_->snapshot_version())));
      } else if (a->role != Role::kPending && now - a->last_sent >= options_.heartbeat_interval) {
        SendTo(*a, encoder_.Encode(HeaderFor(*a),
                                   wire::HeartbeatMsg{state_->epoch(), state_->version()}));
      }
    }
    for (const std::string& id : silent) {
      if (phase_ == Phase::kDone) break;
      RemoveAgent(id, "silent for " + Format("%.1f", patience) + " s");
    }
  }
  if (phase_ == Phase::kDone) return;
  if (state_ && options_.policy.stop.time_limit > 0 && !policy_->stop_requested() &&
      now - start_time_ >= options_.policy.stop.time_limit) {
    // Every wait ends at the time limit: the current model is evaluated by one last gradient
    // phase when an inner loop was running (for at most kFinalEvaluation seconds), otherwise the
    // best snapshot is the model.
    policy_->RequestStop("time-limit");
    if (phase_ == Phase::kInner) {
      EndEpoch();
      StartEpoch();
      phase_deadline_ = std::min(phase_deadline_, now + kFinalEvaluation);
    } else if (phase_ == Phase::kGradient) {
      phase_deadline_ = std::min(phase_deadline_, now + kFinalEvaluation);
    } else {
      Finish("time-limit");
      return;
    }
  }
  if (phase_ == Phase::kGradient && now >= phase_deadline_) {
    for (auto& [id, a] : agents_) {
      if (a->role != Role::kGradient) continue;
      a->role = Role::kIdle;
      JsonWriter w;
      w.Field("agent", a->agent_id).Field("rows", a->rows).Field("epoch", state_->epoch() - 1);
      log_.Publish("agent", "gradient_timeout", w);
      PrintLine("agent " + a->agent_id + " sent no gradient sum within " +
                Format("%.1f", options_.gradient_timeout) + " s: the epoch proceeds without its " +
                std::to_string(a->rows) + " rows");
    }
    FinishGradientPhase();
  } else if (phase_ == Phase::kCurvature && now >= phase_deadline_) {
    for (auto& [id, a] : agents_) {
      if (a->role != Role::kCurvature) continue;
      a->role = Role::kIdle;
      PrintLine("agent " + a->agent_id + " sent no curvature within " +
                Format("%.1f", options_.gradient_timeout) + " s: no Newton step this epoch");
    }
    FinishCurvaturePhase();
  } else if (phase_ == Phase::kInner && now >= next_progress_) {
    next_progress_ = now + kProgressInterval;
    JsonWriter w;
    w.Field("epoch", state_->epoch() - 1)
        .Field("updates_applied", state_->applied_in_epoch())
        .Field("inner_steps", state_->inner_steps())
        .Field("updates_per_second",
               static_cast<double>(state_->applied_in_epoch()) / std::max(1e-9, now - inner_start_))
        .Field("agents", static_cast<int64_t>(agents_.size()))
        .Field("seconds", now - start_time_);
    log_.Publish("epoch", "progress", w);
  }
  if (phase_ == Phase::kInner && checkpoints_ && now >= next_checkpoint_) SaveCheckpoint();
  if (phase_ == Phase::kInner && now >= phase_deadline_) {
    PrintLine("no update applied for " + Format("%.1f", options_.stall_timeout) +
              " s: ending the epoch early");
    EndEpoch();
    StartEpoch();
  }
}

void Coordinator::Fail(const Status& status) {
  failure_ = status;
  Finish("error");
}

void Coordinator::Finish(const std::string& reason) {
  phase_ = Phase::kDone;
  summary_.stop_reason = reason;
  summary_.agents_joined = agents_joined_;
  summary_.messages_refused = refused_messages_;
  summary_.duplicates = duplicates_;
  summary_.updates_refused = updates_refused_;
  summary_.seconds = clock_->Now() - start_time_;
  summary_.labels = labels_;
  summary_.dimension = dimension_;
  if (state_ && policy_->have_best()) {
    const SnapshotReport& best = policy_->best_report();
    summary_.x = state_->best_snapshot();
    summary_.objective = best.objective;
    summary_.kkt = best.kkt;
    summary_.relative_gap = best.relative_gap;
    summary_.nnz = best.nnz;
    summary_.rows = best.rows;
    summary_.epochs = best.epoch - 1;
    summary_.newton_steps = policy_->newton_steps();
    summary_.newton_rejected = policy_->newton_rejected();
  }
  summary_.eta = plan_.eta;
  summary_.inner_steps = plan_.inner_steps;
  // Tell the agents first: the model is decided, and writing it (fsync) can take longer than
  // their heartbeat patience on a busy disk.
  for (auto& [id, a] : agents_) {
    if (a->role == Role::kPending) {
      router_.Send(a->identity,
                   encoder_.Encode({a->agent_id, 0, 0},
                                   wire::RejectMsg{wire::RejectReason::kShuttingDown, reason}));
    } else {
      SendTo(*a, encoder_.Encode(HeaderFor(*a),
                                 wire::StopMsg{reason, summary_.epochs, summary_.objective}));
    }
  }
  router_.LingerOnClose(2000);  // the Stops above must reach the agents before the process exits
  if (state_ && policy_->have_best() && failure_.ok() && !options_.model_path.empty()) {
    Model model = Model::FromVector(summary_.x, dimension_, options_.task, options_.problem);
    model.labels = labels_;
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
    s.created_unix = static_cast<int64_t>(std::time(nullptr));
    s.software_version = EDGETRAIN_VERSION;
    if (Status st = WriteModelFile(options_.model_path, model); !st.ok()) {
      failure_ = st;
      summary_.stop_reason = "error";
    }
  }
  JsonWriter w;
  w.Field("reason", summary_.stop_reason)
      .Field("epoch", summary_.epochs)
      .Field("objective", summary_.objective)
      .Field("kkt", summary_.kkt)
      .Field("nnz", summary_.nnz)
      .Field("updates_applied", summary_.updates_applied)
      .Field("updates_refused", summary_.updates_refused)
      .Field("messages_refused", summary_.messages_refused)
      .Field("agents_joined", static_cast<int64_t>(agents_joined_))
      .Field("seconds", summary_.seconds)
      .Field("bytes_in", router_.counters().bytes_in)
      .Field("bytes_out", router_.counters().bytes_out)
      .Field("model", options_.model_path)
      .Object("refused", RefusedJson(refused_by_reason_))
      .Object("refused_by_sender", RefusedJson(refused_by_sender_))
      .Field("duplicates", duplicates_)
      .Field("repeats", repeats_)
      .Field("newton_steps", summary_.newton_steps)
      .Field("newton_rejected", summary_.newton_rejected);
  if (!std::isnan(options_.reference_objective)) {
    w.Field("rel_subopt", (summary_.objective - options_.reference_objective) /
                              std::fabs(options_.reference_objective));
  }
  log_.Publish("run", "run_finished", w);
}

Result<RunSummary> Coordinator::Run(const std::atomic<bool>* stop_requested,
                                    std::atomic<bool>* reload_requested) {
  start_time_ = clock_->Now();
  if (options_.insecure) {
    JsonWriter w;
    w.Field("detail",
            "plain text: agents are not authenticated and traffic is not encrypted (--insecure)");
    log_.Publish("run", "insecure", w);
    PrintLine("WARNING: --insecure: agents are not authenticated and traffic is not encrypted");
  }
  transport::Inbound in;
  while (phase_ != Phase::kDone) {
    if (stop_requested != nullptr && stop_requested->load()) {
      Finish("interrupted");
      break;
    }
    if (reload_requested != nullptr && reload_requested->exchange(false)) ReloadAllowLists();
    const double now = clock_->Now();
    const int timeout_ms =
        static_cast<int>(std::clamp((NextDeadline(now) - now) * 1000.0, 0.0, 200.0));
    if (router_.Receive(timeout_ms, &in)) {
      HandleMessage(in);
      // Drain what is queued before looking at the timers again.
      for (int k = 0; k < 256 && phase_ != Phase::kDone && router_.Receive(0, &in); ++k)
        HandleMessage(in);
    }
    if (phase_ != Phase::kDone) OnTimers(clock_->Now());
  }
  SeeAgentsOff();
  if (!failure_.ok()) return failure_;
  return summary_;
}

void Coordinator::SeeAgentsOff() {
  // A Stop can be lost like any message (a reconnect drops what was queued). An agent that
  // missed it cannot tell a finished run from a crashed coordinator (which --resume brings
  // back), so it would wait and reconnect forever. Agents answer Stop with Bye; until every
  // welcomed agent has, and for at most two heartbeat intervals (<= 5 s), whatever else an agent
  // sends (a heartbeat, a repeated Update) is answered with the Stop again.
  std::set<std::string> waiting;
  for (const auto& [identity, a] : agents_) {
    if (a->role != Role::kPending) waiting.insert(identity);
  }
  const double deadline = clock_->Now() + std::clamp(2 * options_.heartbeat_interval, 0.5, 5.0);
  transport::Inbound in;
  while (!waiting.empty() && clock_->Now() < deadline) {
    const int timeout_ms =
        static_cast<int>(std::clamp((deadline - clock_->Now()) * 1000.0, 0.0, 100.0));
    if (!router_.Receive(timeout_ms, &in)) continue;
    auto w = waiting.find(in.identity);
    if (w == waiting.end()) continue;
    Result<wire::Message> m = decoder_.Decode(in.payload.data(), in.payload.size());
    if (!m.ok()) continue;
    Agent& a = *agents_.at(in.identity);
    if (std::holds_alternative<wire::ByeMsg>(m->body)) {
      waiting.erase(w);
    } else if (m->header.session == a.session) {
      SendTo(a, encoder_.Encode(HeaderFor(a), wire::StopMsg{summary_.stop_reason, summary_.epochs,
                                                            summary_.objective}));
    }
  }
  if (!waiting.empty()) {
    std::string ids;
    for (const std::string& identity : waiting)
      ids += (ids.empty() ? "" : ", ") + agents_.at(identity)->agent_id;
    PrintLine("no goodbye after Stop from: " + ids + " (they reconnect until stopped)");
  }
}

}  // namespace edgetrain::coordinator
