#include "run_record.h"

#include <algorithm>
#include <cmath>

namespace edgetrain::monitor {
namespace {

double Number(const JsonValue& event, const std::string& key) {
  return event[key].NumberOr(kMissing);
}

int64_t Integer(const JsonValue& event, const std::string& key, int64_t fallback = 0) {
  const double v = event[key].NumberOr(kMissing);
  return std::isfinite(v) ? static_cast<int64_t>(std::llround(v)) : fallback;
}

bool Boolean(const JsonValue& event, const std::string& key) {
  const JsonValue& v = event[key];
  return v.type == JsonValue::Type::kBool && v.boolean;
}

}  // namespace

Status RunRecord::Consume(std::string_view json_text) {
  Result<JsonValue> parsed = ParseJson(json_text);
  if (!parsed.ok()) return parsed.status();
  return Consume(*parsed);
}

Status RunRecord::Consume(const JsonValue& e) {
  if (e.type != JsonValue::Type::kObject)
    return Status::InvalidArgument("event is not a JSON object");
  const JsonValue& name_value = e["event"];
  if (name_value.type != JsonValue::Type::kString) {
    return Status::InvalidArgument("event object has no string field \"event\"");
  }
  const std::string& name = name_value.string;
  const double time = Number(e, "time");
  ++events_seen_;
  if (std::isnan(first_event_time_)) first_event_time_ = time;

  if (name == "run_started") {
    // A new run: forget the previous one (a coordinator restarted under a running monitor).
    *this = RunRecord();
    events_seen_ = 1;
    first_event_time_ = time;
    RunInfo r;
    r.time = time;
    r.agents = Integer(e, "agents");
    r.dimension = Integer(e, "dimension");
    r.loss = e["loss"].StringOr("");
    r.l1 = Number(e, "l1");
    r.l2 = Number(e, "l2");
    r.intercept = Boolean(e, "intercept");
    r.max_epochs = Integer(e, "max_epochs");
    r.kkt_tolerance = Number(e, "kkt_tolerance");
    r.reference_objective = Number(e, "reference_objective");
    r.label_negative = e["label_negative"].StringOr("");
    r.label_positive = e["label_positive"].StringOr("");
    agents_connected_ = r.agents;
    run_ = std::move(r);
  } else if (name == "waiting_for_agents") {
    waiting_ = true;
    progress_.active = false;
  } else if (name == "run_finished") {
    FinishInfo f;
    f.time = time;
    f.reason = e["reason"].StringOr("");
    f.epoch = Integer(e, "epoch");
    f.objective = Number(e, "objective");
    f.kkt = Number(e, "kkt");
    f.nnz = Integer(e, "nnz");
    f.updates_applied = Integer(e, "updates_applied");
    f.updates_refused = Integer(e, "updates_refused");
    f.agents_joined = Integer(e, "agents_joined");
    f.seconds = Number(e, "seconds");
    f.rel_subopt = Number(e, "rel_subopt");
    f.model = e["model"].StringOr("");
    finish_ = std::move(f);
    progress_.active = false;
  } else if (name == "epoch_begin") {
    EpochPoint p;
    p.epoch = Integer(e, "epoch");
    p.time = time;
    p.seconds = Number(e, "seconds");
    p.objective = Number(e, "objective");
    p.kkt = Number(e, "kkt");
    p.gap_bound = Number(e, "gap_bound");
    p.rel_subopt = Number(e, "rel_subopt");
    p.nnz = Integer(e, "nnz");
    p.agents = Integer(e, "agents");
    p.eta = Number(e, "eta");
    p.inner_steps = Integer(e, "inner_steps");
    p.best = Boolean(e, "best");
    p.rolled_back = Boolean(e, "rolled_back");
    p.final = Boolean(e, "final");
    waiting_ = false;
    // The inner phase that follows (none after the final or a rolled-back snapshot).
    progress_ = InnerProgress();
    if (!p.final && !p.rolled_back) {
      progress_.active = true;
      progress_.epoch = p.epoch;
      progress_.inner_steps = p.inner_steps;
      progress_.seconds = p.seconds;
    }
    epochs_.push_back(std::move(p));
  } else if (name == "progress") {
    progress_.active = true;
    progress_.epoch = Integer(e, "epoch");
    progress_.updates_applied = Integer(e, "updates_applied");
    progress_.inner_steps = Integer(e, "inner_steps");
    progress_.updates_per_second = Number(e, "updates_per_second");
    progress_.seconds = Number(e, "seconds");
    if (std::isfinite(progress_.updates_per_second)) update_rate_ = progress_.updates_per_second;
    agents_connected_ = Integer(e, "agents", agents_connected_);
    waiting_ = false;
  } else if (name == "epoch_end") {
    const int64_t epoch = Integer(e, "epoch", -1);
    auto it = std::find_if(epochs_.rbegin(), epochs_.rend(),
                           [&](const EpochPoint& p) { return p.epoch == epoch; });
    const double rate = Number(e, "updates_per_second");
    if (it != epochs_.rend()) {
      it->ended = true;
      it->updates_applied = Integer(e, "updates_applied");
      it->updates_per_second = rate;
      it->inner_seconds = Number(e, "inner_seconds");
    }
    if (std::isfinite(rate)) update_rate_ = rate;
    if (progress_.epoch == epoch || progress_.epoch < 0) {
      progress_.epoch = epoch;
      progress_.updates_applied = Integer(e, "updates_applied");
      progress_.inner_steps = Integer(e, "inner_steps", progress_.inner_steps);
      progress_.updates_per_second = rate;
      progress_.seconds = Number(e, "seconds");
    }
    progress_.active = false;
  } else if (name == "newton") {
    progress_.active = false;  // a Newton epoch: no inner phase follows this snapshot
  } else if (name == "agent_joined" || name == "agent_left") {
    agents_connected_ = Integer(e, "agents", agents_connected_);
    if (name == "agent_joined") waiting_ = false;
  }
  // agent_refused, message_refused, gradient_timeout and unknown events change nothing here.
  return Status::Ok();
}

double RunRecord::FinalObjective() const {
  if (finish_ && std::isfinite(finish_->objective)) return finish_->objective;
  double best = kMissing;
  for (const EpochPoint& p : epochs_) {
    if (std::isfinite(p.objective) && !(p.objective >= best)) best = p.objective;
  }
  return best;
}

bool RunRecord::HasReferenceObjective() const {
  if (run_ && std::isfinite(run_->reference_objective)) return true;
  return std::any_of(epochs_.begin(), epochs_.end(),
                     [](const EpochPoint& p) { return std::isfinite(p.rel_subopt); });
}

double RunRecord::Suboptimality(const EpochPoint& point) const {
  if (HasReferenceObjective()) return point.rel_subopt;
  const double final_objective = FinalObjective();
  if (!std::isfinite(final_objective) || !std::isfinite(point.objective) || final_objective == 0)
    return kMissing;
  return (point.objective - final_objective) / std::fabs(final_objective);
}

}  // namespace edgetrain::monitor
