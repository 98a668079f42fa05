// The driver's status: the operators' view of the whole state (the `status` event).
#include <algorithm>
#include <limits>

#include "driver.h"

namespace edgetrain::coordinator {

namespace {

const char* RoleName(const Agent& a, CoordinatorState::Phase phase) {
  if (!a.welcomed()) return "pending";
  switch (a.role) {
    case Role::kIdle:
      return "idle";
    case Role::kAwaiting:
      return phase == CoordinatorState::Phase::kCurvature ? "curvature" : "gradient";
    case Role::kAnswered:
      return "answered";
    case Role::kInner:
      return "inner";
  }
  return "idle";
}

const char* PhaseName(CoordinatorState::Phase phase) {
  switch (phase) {
    case CoordinatorState::Phase::kGradient:
      return "gradient";
    case CoordinatorState::Phase::kCurvature:
      return "curvature";
    case CoordinatorState::Phase::kInner:
      return "inner";
    case CoordinatorState::Phase::kIdle:
      return "deciding";
  }
  return "";
}

}  // namespace

RunStatus Driver::CurrentStatus(double now) const {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  RunStatus s;
  s.state = run_ == Run::kWaiting    ? "waiting"
            : run_ == Run::kRunning  ? "running"
            : run_ == Run::kIdle     ? "idle"
            : run_ == Run::kStopping ? "stopping"
                                     : "finished";
  s.why = run_ == Run::kWaiting ? waiting_why_
          : run_ == Run::kIdle  ? "idle between rounds"
                                : summary_.stop_reason;
  if (run_ == Run::kIdle) s.next_round = scheduler_.Describe(now, scheduler_.NewRows(RowsNow()));
  s.insecure = options_.insecure;
  s.secure_log = options_.secure_log;
  s.agents = roster_.size();
  s.agents_needed = options_.min_agents;
  s.seconds = now - start_time_;
  s.tolerance = options_.policy.stop.tolerance;
  s.epoch_eta_seconds = s.run_eta_seconds = kNaN;
  const CoordinatorState::Phase phase = state_ ? state_->phase() : CoordinatorState::Phase::kIdle;
  if (state_) {
    s.epoch = state_->epoch() - 1;
    if (run_ == Run::kRunning) s.phase = PhaseName(phase);
    if (run_ == Run::kRunning && phase == CoordinatorState::Phase::kInner) {
      s.steps_applied = state_->applied_in_epoch();
      s.inner_steps = state_->inner_steps();
      const double rate = static_cast<double>(s.steps_applied) / std::max(1e-9, now - phase_start_);
      if (s.steps_applied > 0) {
        s.epoch_eta_seconds = static_cast<double>(s.inner_steps - s.steps_applied) / rate;
      }
    }
  }
  if (policy_ && policy_->have_best()) {
    const SnapshotReport& best = policy_->best_report();
    s.evaluated = true;
    s.objective = best.objective;
    s.kkt = best.kkt;
    s.relative_gap = best.relative_gap;
    s.rows = best.rows;
    if (run_ == Run::kRunning) {
      const StopRule& stop = options_.policy.stop;
      const double epochs_left = static_cast<double>(stop.max_epochs - s.epoch);
      const double seconds_left = stop.time_limit > 0 ? stop.time_limit - s.seconds : 0;
      s.run_eta_seconds = eta_.Estimate(now - start_time_, std::max(1.0, epochs_left),
                                        seconds_left > 0 ? seconds_left : 0);
    }
  }
  roster_.ForEach([&](const Agent& a) {
    AgentStatus as;
    as.agent = a.agent_id;
    as.address = a.address;
    as.software_version = a.software_version;
    // Agents say "VERSION ARCH" (edge_agent/agent.cc).
    const size_t space = a.software_version.rfind(' ');
    if (space != std::string::npos) as.arch = a.software_version.substr(space + 1);
    as.role = RoleName(a, phase);
    as.rows = std::max(a.rows, a.rows_now);
    as.updates_applied = a.health.updates_applied;
    as.updates_refused = a.health.updates_refused;
    as.refused_by_reason = a.health.refused_by_reason;
    as.rtt_seconds = a.health.rtt_us > 0 ? a.health.rtt_us * 1e-6 : kNaN;
    as.last_message = a.health.last_message;
    as.gradient_timeouts = a.health.gradient_timeouts;
    as.messages = a.health.messages;
    as.mean_staleness = a.health.updates_applied > 0
                            ? static_cast<double>(a.health.staleness_sum) /
                                  static_cast<double>(a.health.updates_applied)
                            : kNaN;
    as.seconds_since_heard = now - a.last_heard;
    s.agent_status.push_back(std::move(as));
  });
  return s;
}

void Driver::EmitStatus(double now) {
  next_status_ = now + kStatusInterval;
  events_->Emit(CurrentStatus(now));
}

}  // namespace edgetrain::coordinator
