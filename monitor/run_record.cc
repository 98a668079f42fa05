#include "run_record.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace edgetrain::monitor {
namespace {

// The inner steps applied (progress, epoch_end, status): "steps_applied"; coordinators before the
// pipelined agents applied one step per Update and sent "updates_applied" only.
int64_t StepsApplied(const Json& e) {
  return IntField(e, "steps_applied", IntField(e, "updates_applied"));
}

// A boolean field, nullopt when absent (or not a boolean).
std::optional<bool> OptionalBool(const Json& e, const char* key) {
  const auto it = e.find(key);
  if (it == e.end() || !it->is_boolean()) return std::nullopt;
  return it->get<bool>();
}

// Adds an object's positive integer counts (reason -> count) to `totals`, saturating.
void AddCounts(const Json* counts, std::map<std::string, int64_t>* totals) {
  if (counts == nullptr) return;
  for (const auto& [reason, count] : counts->items()) {
    const int64_t n = IntField(*counts, reason.c_str());
    if (n <= 0) continue;
    int64_t& total = (*totals)[reason];
    total = n > std::numeric_limits<int64_t>::max() - total ? std::numeric_limits<int64_t>::max()
                                                            : total + n;
  }
}

}  // namespace

const char* MarkerKindName(Marker::Kind kind) {
  switch (kind) {
    case Marker::Kind::kAgentJoined:
      return "agent_joined";
    case Marker::Kind::kAgentLeft:
      return "agent_left";
    case Marker::Kind::kNewton:
      return "newton";
    case Marker::Kind::kRolledBack:
      return "rolled_back";
    case Marker::Kind::kBaseline:
      return "baseline";
  }
  return "?";
}

const char* RunStateName(RunState state) {
  switch (state) {
    case RunState::kUnknown:
      return "unknown";
    case RunState::kWaiting:
      return "waiting";
    case RunState::kRunning:
      return "running";
    case RunState::kStopping:
      return "stopping";
    case RunState::kFinished:
      return "finished";
  }
  return "?";
}

Status RunRecord::Consume(std::string_view json_text) {
  Result<Json> parsed = ParseEvent(json_text);
  if (!parsed.ok()) return parsed.status();
  return ConsumeEvent(*parsed);
}

void RunRecord::Reset() { *this = RunRecord(); }

Status RunRecord::ConsumeEvent(const Json& e) {
  if (!e.is_object()) return Status::InvalidArgument("event is not a JSON object");
  const auto name_it = e.find("event");
  if (name_it == e.end() || !name_it->is_string())
    return Status::InvalidArgument("event object has no string field \"event\"");
  const std::string& name = name_it->get_ref<const std::string&>();
  const double time = NumberField(e, "time");
  const std::string run_id = StringField(e, "run_id");

  // Whose event is it? Another run's starts a new record; run_started without a run_id (an older
  // coordinator) too.
  if ((!run_id.empty() && !run_id_.empty() && run_id != run_id_) ||
      (name == "run_started" && run_id.empty() && events_seen_ > 0)) {
    Reset();
  }
  if (!run_id.empty()) run_id_ = run_id;
  ++events_seen_;
  if (std::isnan(first_event_time_)) first_event_time_ = time;
  status_news_ = false;
  // A replay from the log stream's last-value cache repeats the latest status or run_started,
  // whenever any subscriber connects: news only to a record that has none of the kind yet. Folded
  // again, an old status would take back the progress that came after it.
  repeated_ =
      BoolField(e, "replay") && ((name == "status" && status_) || (name == "run_started" && run_));
  if (repeated_) return Status::Ok();

  if (name == "status") {
    OnStatus(e, time);
  } else if (name == "run_started") {
    StartRun(e, time);
  } else if (name == "waiting_for_agents") {
    state_ = RunState::kWaiting;
    why_ = StringField(e, "why", "waiting for agents");
    phase_.clear();
    agents_connected_ = IntField(e, "agents", agents_connected_);
    agents_needed_ = IntField(e, "needed", agents_needed_);
    progress_.active = false;
  } else if (name == "run_finished") {
    OnFinished(e, time);
  } else if (name == "epoch_begin") {
    OnEpochBegin(e, time);
  } else if (name == "progress") {
    progress_.active = true;
    progress_.epoch = IntField(e, "epoch");
    progress_.updates_applied = IntField(e, "updates_applied");
    progress_.steps_applied = StepsApplied(e);
    progress_.inner_steps = IntField(e, "inner_steps");
    progress_.updates_per_second = NumberField(e, "updates_per_second");
    progress_.seconds = NumberField(e, "seconds");
    NoteTrainingTime(time, progress_.seconds);
    if (std::isfinite(progress_.updates_per_second)) update_rate_ = progress_.updates_per_second;
    agents_connected_ = IntField(e, "agents", agents_connected_);
    epoch_ = progress_.epoch;
    if (!finished()) {
      state_ = RunState::kRunning;
      phase_ = "inner";
    }
  } else if (name == "epoch_end") {
    OnEpochEnd(e);
  } else if (name == "newton") {
    progress_.active = false;  // a Newton epoch: no inner phase follows this snapshot
    phase_ = "gradient";
  } else if (name == "agent_joined" || name == "agent_left") {
    agents_connected_ = IntField(e, "agents", agents_connected_);
    Marker m;
    m.kind = name == "agent_joined" ? Marker::Kind::kAgentJoined : Marker::Kind::kAgentLeft;
    m.time = time;
    m.agent = StringField(e, "agent");
    m.detail = StringField(e, "reason");
    AddMarker(std::move(m));
  }
  // agent_refused, message_refused, gradient_timeout and unknown events change nothing here.
  return Status::Ok();
}

void RunRecord::StartRun(const Json& e, double time) {
  RunInfo r;
  r.time = time;
  r.agents = IntField(e, "agents");
  r.dimension = IntField(e, "dimension");
  r.loss = StringField(e, "loss");
  r.l1 = NumberField(e, "l1");
  r.l2 = NumberField(e, "l2");
  r.intercept = BoolField(e, "intercept");
  r.max_epochs = IntField(e, "max_epochs");
  r.kkt_tolerance = NumberField(e, "kkt_tolerance");
  r.tolerance = NumberField(e, "tolerance");
  r.reference_objective = NumberField(e, "reference_objective");
  r.insecure = BoolField(e, "insecure");
  r.secure_log = BoolField(e, "secure_log");
  r.label_negative = StringField(e, "label_negative");
  r.label_positive = StringField(e, "label_positive");
  // The coordinator repeats run_started to new subscribers: it says nothing newer than a status.
  if (!status_ && agents_connected_ < 0) agents_connected_ = r.agents;
  run_ = std::move(r);
}

void RunRecord::OnStatus(const Json& e, double time) {
  RunStatus s;
  s.time = time;
  s.state = StringField(e, "state");
  s.why = StringField(e, "why");
  s.phase = StringField(e, "phase");
  s.epoch = IntField(e, "epoch");
  s.seconds = NumberField(e, "seconds");
  s.agents = IntField(e, "agents");
  s.agents_needed = IntField(e, "agents_needed");
  s.steps_applied = StepsApplied(e);
  s.inner_steps = IntField(e, "inner_steps");
  s.evaluated = BoolField(e, "evaluated");
  s.objective = NumberField(e, "objective");
  s.kkt = NumberField(e, "kkt");
  s.rel_gap = NumberField(e, "rel_gap");
  s.rows = IntField(e, "rows");
  s.tolerance = NumberField(e, "tolerance");
  s.epoch_eta_seconds = NumberField(e, "epoch_eta_seconds");
  s.run_eta_seconds = NumberField(e, "run_eta_seconds");
  s.insecure = OptionalBool(e, "insecure");
  s.secure_log = OptionalBool(e, "secure_log");
  const auto agents = e.find("agent_status");
  if (agents != e.end() && agents->is_array()) {
    for (const Json& a : *agents) {
      if (!a.is_object()) continue;
      AgentHealth h;
      h.agent = StringField(a, "agent");
      h.address = StringField(a, "address");
      h.software_version = StringField(a, "software_version");
      h.arch = StringField(a, "arch");
      h.role = StringField(a, "role");
      h.rows = IntField(a, "rows");
      h.updates_applied = IntField(a, "updates_applied");
      h.updates_refused = IntField(a, "updates_refused");
      AddCounts(ObjectField(a, "refused_by_reason"), &h.refused_by_reason);
      h.gradient_timeouts = IntField(a, "gradient_timeouts");
      h.messages = IntField(a, "messages");
      h.mean_staleness = NumberField(a, "mean_staleness");
      h.rtt_seconds = NumberField(a, "rtt_seconds");
      h.seconds_since_heard = NumberField(a, "seconds_since_heard");
      h.last_message = StringField(a, "last_message");
      s.agents_health.push_back(std::move(h));
    }
  }

  // After the stop the agents say goodbye and the last status lists none: the final page and
  // table keep each agent's last numbers, marked as gone.
  if (s.agents_health.empty() && (s.state == "stopping" || s.state == "finished") && status_ &&
      !status_->agents_health.empty()) {
    s.agents_health = status_->agents_health;
    for (AgentHealth& h : s.agents_health) h.role = "left";
  }
  has_rel_gap_ = has_rel_gap_ || std::isfinite(s.rel_gap);
  status_news_ = !status_ || status_->state != s.state || status_->why != s.why;
  if (s.state == "waiting") {
    state_ = RunState::kWaiting;
  } else if (s.state == "running") {
    state_ = RunState::kRunning;
  } else if (s.state == "stopping") {
    state_ = RunState::kStopping;
  } else if (s.state == "finished") {
    state_ = RunState::kFinished;
  }
  if (finished()) state_ = RunState::kFinished;  // run_finished has the last word
  why_ = s.why;
  phase_ = s.phase;
  epoch_ = s.epoch;
  agents_connected_ = s.agents;
  agents_needed_ = s.agents_needed;
  if (state_ == RunState::kRunning) NoteTrainingTime(time, s.seconds);
  if (state_ == RunState::kRunning && s.phase == "inner") {
    if (progress_.epoch != s.epoch) progress_ = InnerProgress();
    progress_.active = true;
    progress_.epoch = s.epoch;
    progress_.steps_applied = s.steps_applied;
    progress_.inner_steps = s.inner_steps;
    progress_.seconds = s.seconds;
  } else {
    progress_.active = false;
  }

  // Run totals: per agent id, a count lower than the last one is a new session's.
  for (const AgentHealth& h : s.agents_health) {
    AgentCounts& c = agent_counts_[h.agent];
    if (h.updates_applied < c.applied || h.updates_refused < c.refused) {
      c.banked_applied += c.applied;
      c.banked_refused += c.refused;
    }
    c.applied = h.updates_applied;
    c.refused = h.updates_refused;
  }
  int64_t applied = 0, refused = 0;
  for (const auto& [agent, c] : agent_counts_) {
    applied += c.banked_applied + c.applied;
    refused += c.banked_refused + c.refused;
  }
  updates_applied_total_ = std::max(updates_applied_total_, applied);
  updates_refused_total_ = std::max(updates_refused_total_, refused);
  status_ = std::move(s);
}

void RunRecord::OnEpochBegin(const Json& e, double time) {
  EpochPoint p;
  p.epoch = IntField(e, "epoch");
  p.time = time;
  p.seconds = NumberField(e, "seconds");
  p.objective = NumberField(e, "objective");
  p.kkt = NumberField(e, "kkt");
  p.gap_bound = NumberField(e, "gap_bound");
  p.rel_gap = NumberField(e, "rel_gap");
  p.rel_subopt = NumberField(e, "rel_subopt");
  p.nnz = IntField(e, "nnz");
  p.rows = IntField(e, "rows");
  p.agents = IntField(e, "agents");
  p.eta = NumberField(e, "eta");
  p.inner_steps = IntField(e, "inner_steps");
  p.verdict = StringField(e, "verdict");
  p.action = StringField(e, "action");
  p.newton_alpha = NumberField(e, "newton_alpha");
  p.best = BoolField(e, "best");
  p.rolled_back = BoolField(e, "rolled_back");
  p.final = BoolField(e, "final");
  // A new baseline after the first epoch seen: the rows changed.
  if (p.verdict == "baseline" && !epochs_.empty()) {
    ++segment_;
    Marker m;
    m.kind = Marker::Kind::kBaseline;
    m.time = time;
    m.epoch = p.epoch;
    m.detail = std::to_string(p.rows) + " rows from " + std::to_string(p.agents) +
               (p.agents == 1 ? " agent" : " agents");
    AddMarker(std::move(m));
  }
  p.segment = segment_;
  has_rel_gap_ = has_rel_gap_ || std::isfinite(p.rel_gap);
  if (p.rolled_back) AddMarker({Marker::Kind::kRolledBack, time, p.epoch, "", ""});
  if (std::isfinite(p.newton_alpha)) AddMarker({Marker::Kind::kNewton, time, p.epoch, "", ""});
  NoteTrainingTime(time, p.seconds);
  epoch_ = p.epoch;
  if (!finished()) {
    state_ = p.final ? RunState::kStopping : RunState::kRunning;
    phase_ = p.final                   ? ""
             : p.action == "newton"    ? "curvature"
             : p.action == "roll-back" ? "gradient"
                                       : "inner";
  }
  // The inner phase that follows (none after the final or a rolled-back snapshot, nor before a
  // Newton step).
  progress_ = InnerProgress();
  const bool inner = p.action.empty() ? !p.final && !p.rolled_back : p.action == "inner";
  if (inner) {
    progress_.active = true;
    progress_.epoch = p.epoch;
    progress_.inner_steps = p.inner_steps;
    progress_.seconds = p.seconds;
  }
  epochs_.push_back(std::move(p));
}

void RunRecord::OnEpochEnd(const Json& e) {
  const int64_t epoch = IntField(e, "epoch", -1);
  auto it = std::find_if(epochs_.rbegin(), epochs_.rend(),
                         [&](const EpochPoint& p) { return p.epoch == epoch; });
  const double rate = NumberField(e, "updates_per_second");
  if (it != epochs_.rend()) {
    it->ended = true;
    it->updates_applied = IntField(e, "updates_applied");
    it->updates_per_second = rate;
    it->inner_seconds = NumberField(e, "inner_seconds");
  }
  if (std::isfinite(rate)) update_rate_ = rate;
  if (progress_.epoch == epoch || progress_.epoch < 0) {
    progress_.epoch = epoch;
    progress_.updates_applied = IntField(e, "updates_applied");
    progress_.steps_applied = StepsApplied(e);
    progress_.inner_steps = IntField(e, "inner_steps", progress_.inner_steps);
    progress_.updates_per_second = rate;
    progress_.seconds = NumberField(e, "seconds");
  }
  progress_.active = false;
  if (!finished()) phase_ = "gradient";
  AddCounts(ObjectField(e, "refused"), &refused_by_reason_);
}

void RunRecord::OnFinished(const Json& e, double time) {
  FinishInfo f;
  f.time = time;
  f.reason = StringField(e, "reason");
  f.epoch = IntField(e, "epoch");
  f.objective = NumberField(e, "objective");
  f.kkt = NumberField(e, "kkt");
  f.rel_gap = NumberField(e, "rel_gap");
  // Older coordinators did not say; then an objective means an evaluated snapshot.
  f.evaluated = BoolField(e, "evaluated", std::isfinite(f.objective));
  f.nnz = IntField(e, "nnz");
  f.updates_applied = IntField(e, "updates_applied");
  f.updates_refused = IntField(e, "updates_refused");
  f.messages_refused = IntField(e, "messages_refused");
  f.agents_joined = IntField(e, "agents_joined");
  f.seconds = NumberField(e, "seconds");
  f.rel_subopt = NumberField(e, "rel_subopt");
  f.model = StringField(e, "model");
  if (const Json* refused = ObjectField(e, "refused")) {
    for (const auto& [reason, count] : refused->items()) {
      if (!count.is_number()) continue;
      const int64_t n = IntField(*refused, reason.c_str());
      f.refused[reason] = n;
      int64_t& total = refused_by_reason_[reason];
      total = std::max(total, n);
    }
  }
  updates_applied_total_ = std::max(updates_applied_total_, f.updates_applied);
  updates_refused_total_ = std::max(updates_refused_total_, f.updates_refused);
  state_ = RunState::kFinished;
  why_ = f.reason;
  phase_.clear();
  if (f.evaluated) epoch_ = f.epoch;
  finish_ = std::move(f);
  progress_.active = false;
}

void RunRecord::AddMarker(Marker marker) {
  if (markers_.size() >= kMaxMarkers)
    markers_.erase(markers_.begin(), markers_.begin() + kMaxMarkers / 2);
  markers_.push_back(std::move(marker));
}

void RunRecord::NoteTrainingTime(double time, double seconds) {
  if (std::isnan(training_start_time_) && std::isfinite(time) && std::isfinite(seconds))
    training_start_time_ = time - seconds;
}

double RunRecord::SecondsAt(double time) const {
  if (!std::isfinite(time) || !std::isfinite(training_start_time_)) return kMissing;
  return std::max(0.0, time - training_start_time_);
}

std::optional<bool> RunRecord::insecure() const {
  if (run_) return run_->insecure;
  return status_ ? status_->insecure : std::nullopt;
}

double RunRecord::TrainingSeconds() const {
  double seconds = kMissing;
  const auto later = [&](double s) {
    if (std::isfinite(s) && !(seconds >= s)) seconds = s;
  };
  if (finish_) later(finish_->seconds);
  if (status_ && state_ != RunState::kWaiting) later(status_->seconds);
  if (!epochs_.empty()) later(epochs_.back().seconds);
  later(progress_.seconds);
  return seconds;
}

RunRecord::StopMeasure RunRecord::CurrentStopMeasure() const {
  double rel_gap = kMissing, kkt = kMissing;
  if (finish_ && finish_->evaluated) {
    rel_gap = finish_->rel_gap;
    kkt = finish_->kkt;
  } else if (status_ && status_->evaluated) {
    rel_gap = status_->rel_gap;
    kkt = status_->kkt;
  } else if (!epochs_.empty()) {
    rel_gap = epochs_.back().rel_gap;
    kkt = epochs_.back().kkt;
  }
  StopMeasure m;
  // Before any snapshot, the measure --tol will compare.
  if (has_rel_gap_ || std::isfinite(rel_gap) || epochs_.empty()) {
    m.name = "rel_gap";
    m.value = rel_gap;
    m.tolerance = status_ ? status_->tolerance : (run_ ? run_->tolerance : kMissing);
  } else {
    m.name = "kkt";
    m.value = kkt;
    m.tolerance = run_ ? run_->kkt_tolerance : kMissing;
  }
  return m;
}

double RunRecord::epoch_eta_seconds() const {
  const bool inner = state_ == RunState::kRunning && progress_.active;
  return inner && status_ ? status_->epoch_eta_seconds : kMissing;
}

double RunRecord::run_eta_seconds() const {
  return state_ == RunState::kRunning && status_ ? status_->run_eta_seconds : kMissing;
}

double RunRecord::ReferenceObjective(int segment) const {
  if (segment == segment_ && finish_ && finish_->evaluated && std::isfinite(finish_->objective))
    return finish_->objective;
  double best = kMissing;
  for (const EpochPoint& p : epochs_) {
    if (p.segment == segment && std::isfinite(p.objective) && !(p.objective >= best))
      best = p.objective;
  }
  return best;
}

double RunRecord::FinalObjective() const { return ReferenceObjective(segment_); }

bool RunRecord::HasReferenceObjective() const {
  if (run_ && std::isfinite(run_->reference_objective)) return true;
  return std::any_of(epochs_.begin(), epochs_.end(),
                     [](const EpochPoint& p) { return std::isfinite(p.rel_subopt); });
}

double RunRecord::Suboptimality(const EpochPoint& point) const {
  if (HasReferenceObjective()) return point.rel_subopt;
  const double reference = ReferenceObjective(point.segment);
  if (!std::isfinite(reference) || !std::isfinite(point.objective) || reference == 0)
    return kMissing;
  return (point.objective - reference) / std::fabs(reference);
}

}  // namespace edgetrain::monitor
