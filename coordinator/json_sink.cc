#include "json_sink.h"

#include <cmath>
#include <type_traits>

namespace edgetrain::coordinator {
namespace {

using json = nlohmann::ordered_json;

// Not-finite numbers are null (JSON has no NaN or infinity).
json Number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json Fields(const RunInsecure&) {
  return {{"detail",
           "plain text: agents are not authenticated and traffic is not encrypted (--insecure)"}};
}

json Fields(const RunStarted& e) {
  json j = {{"agents", e.agents},
            {"dimension", e.dimension},
            {"loss", LossName(e.problem.loss)},
            {"l1", e.problem.reg.l1},
            {"l2", e.problem.reg.l2},
            {"lower", Number(e.problem.reg.lower)},
            {"upper", Number(e.problem.reg.upper)},
            {"intercept", e.problem.intercept},
            {"max_epochs", e.stop.max_epochs},
            {"kkt_tolerance", e.stop.kkt_tolerance},
            {"tolerance", e.stop.tolerance},
            {"time_limit", e.stop.time_limit},
            {"insecure", e.insecure},
            {"secure_log", e.secure_log},
            {"reference_objective", Number(e.reference_objective)}};
  if (e.labels) {
    j["label_negative"] = e.labels->negative;
    j["label_positive"] = e.labels->positive;
  }
  return j;
}

json Fields(const RunResumed& e) {
  return {{"epoch", e.epoch},
          {"version", e.version},
          {"step_factor", e.step_factor},
          {"updates_applied", e.updates_applied},
          {"agents_before", e.agents_before}};
}

json Fields(const WaitingForAgents& e) {
  return {{"agents", e.agents}, {"needed", e.needed}, {"why", e.why}};
}

json Fields(const CheckpointError& e) { return {{"detail", e.detail}}; }

json Fields(const RunFinished& e) {
  json j = {{"reason", e.reason},
            {"evaluated", e.evaluated},
            {"epoch", e.epoch},
            {"objective", e.evaluated ? Number(e.objective) : json(nullptr)},
            {"kkt", e.evaluated ? Number(e.kkt) : json(nullptr)},
            {"rel_gap", e.evaluated ? Number(e.relative_gap) : json(nullptr)},
            {"nnz", e.nnz},
            {"updates_applied", e.updates_applied},
            {"updates_refused", e.updates_refused},
            {"messages_refused", e.messages_refused},
            {"agents_joined", e.agents_joined},
            {"seconds", e.seconds},
            {"bytes_in", e.bytes_in},
            {"bytes_out", e.bytes_out},
            {"model", e.model_path},
            {"refused", e.refused},
            {"refused_by_sender", e.refused_by_sender},
            {"duplicates", e.duplicates},
            {"repeats", e.repeats},
            {"newton_steps", e.newton_steps},
            {"newton_rejected", e.newton_rejected}};
  if (std::isfinite(e.reference_objective) && e.evaluated) {
    j["rel_subopt"] =
        Number((e.objective - e.reference_objective) / std::fabs(e.reference_objective));
  }
  return j;
}

json Fields(const RoundBegan& e) {
  return {{"trigger", e.trigger},
          {"warm_start_round", e.warm_start_round},
          {"new_rows", e.new_rows},
          {"agents", e.agents}};
}

json Fields(const RoundEnded& e) {
  return {{"reason", e.reason}, {"published", e.published},     {"model", e.model_path},
          {"detail", e.detail}, {"model_round", e.model_round}, {"seconds", e.seconds},
          {"next", e.next}};
}

json Fields(const ModelDelivered& e) {
  return {{"agent", e.agent},
          {"model_round", e.round},
          {"seconds", e.seconds},
          {"holding", e.holding},
          {"agents", e.agents}};
}

json Fields(const AgentJoined& e) {
  return {{"agent", e.agent},
          {"peer", e.peer},
          {"key", e.key},
          {"key_name", e.key_name},
          {"rows", e.rows},
          {"dimension", e.dimension},
          {"row_norm_sq_max", Number(e.row_norm_sq_max)},
          {"software_version", e.software_version},
          {"agents", e.agents}};
}

json Fields(const AgentLeft& e) {
  return {{"agent", e.agent}, {"reason", e.reason}, {"agents", e.agents}};
}

json Fields(const AgentRefused& e) {
  return {{"agent", e.agent}, {"peer", e.peer}, {"reason", e.reason}, {"detail", e.detail}};
}

json Fields(const MessageRefused& e) {
  return {{"agent", e.agent}, {"peer", e.peer}, {"reason", e.reason}, {"detail", e.detail}};
}

json Fields(const KeyRefused& e) {
  return {{"domain", e.domain}, {"peer", e.peer}, {"key", e.key}, {"count", e.count}};
}

json Fields(const HandshakeFailed& e) { return {{"detail", e.detail}, {"count", e.count}}; }

json Fields(const AllowListReloaded& e) {
  return {{"keys", e.keys}, {"subscriber_keys", e.subscriber_keys}};
}

json Fields(const AllowListError& e) { return {{"detail", e.detail}}; }

json Fields(const GradientTimeout& e) {
  return {{"agent", e.agent}, {"rows", e.rows}, {"epoch", e.epoch}, {"in_a_row", e.in_a_row}};
}

json Fields(const EpochBegan& e) {
  const SnapshotReport& r = e.report;
  const EpochDecision& d = e.decision;
  json j = {{"epoch", r.epoch - 1},
            {"objective", Number(r.objective)},
            {"kkt", Number(r.kkt)},
            {"gap_bound", Number(r.gap)},
            {"rel_gap", Number(r.relative_gap)},
            {"nnz", r.nnz},
            {"rows", r.rows},
            {"agents", e.agents},
            {"version", e.version},
            {"eta", d.plan.eta},
            {"inner_steps", d.plan.inner_steps},
            {"batch", d.plan.batch},
            {"seconds", e.seconds},
            {"best", d.keep_as_best},
            {"verdict", VerdictName(d.verdict)},
            {"action", ActionName(d.action)},
            {"step_factor", d.step_factor},
            {"rolled_back", d.verdict == EpochDecision::Verdict::kRolledBack},
            {"final", d.action == EpochDecision::Action::kStop}};
  if (d.newton_alpha > 0) j["newton_alpha"] = d.newton_alpha;
  if (std::isfinite(e.reference_objective)) {
    j["rel_subopt"] =
        Number((r.objective - e.reference_objective) / std::fabs(e.reference_objective));
  }
  return j;
}

json Fields(const NewtonTrial& e) {
  json j = {{"epoch", e.epoch},
            {"objective", Number(e.objective)},
            {"best_objective", Number(e.best_objective)},
            {"seconds", e.seconds}};
  if (!e.rejected) j["next_alpha"] = e.next_alpha;
  return j;
}

json Fields(const NewtonSolved& e) {
  return {{"epoch", e.epoch},   {"support", e.support},
          {"rows", e.rows},     {"declined", e.declined},
          {"taken", e.taken},   {"decrease", Number(e.decrease)},
          {"sweeps", e.sweeps}, {"solve_seconds", e.solve_seconds},
          {"bytes", e.bytes},   {"curvature_seconds", e.curvature_seconds},
          {"reused", e.reused}, {"seconds", e.seconds}};
}

json Fields(const Progress& e) {
  return {{"epoch", e.epoch},
          {"updates_applied", e.updates_applied},
          {"steps_applied", e.steps_applied},
          {"inner_steps", e.inner_steps},
          {"updates_per_second", e.updates_per_second},
          {"agents", e.agents},
          {"seconds", e.seconds}};
}

json Fields(const EpochEnded& e) {
  return {{"epoch", e.epoch},
          {"updates_applied", e.updates_applied},
          {"steps_applied", e.steps_applied},
          {"inner_steps", e.inner_steps},
          {"updates_per_second", e.updates_per_second},
          {"inner_seconds", e.inner_seconds},
          {"staleness_histogram", e.staleness_histogram},
          {"refused", e.refused},
          {"guarded_refused", e.guarded_refused},
          {"guarded_clipped", e.guarded_clipped},
          {"bytes_in", e.bytes_in},
          {"bytes_out", e.bytes_out},
          {"version", e.version},
          {"stalled", e.stalled},
          {"seconds", e.seconds}};
}

json Fields(const RunStatus& e) {
  json agents = json::array();
  for (const AgentStatus& a : e.agent_status) {
    agents.push_back({{"agent", a.agent},
                      {"address", a.address},
                      {"software_version", a.software_version},
                      {"arch", a.arch},
                      {"role", a.role},
                      {"rows", a.rows},
                      {"updates_applied", a.updates_applied},
                      {"updates_refused", a.updates_refused},
                      {"refused_by_reason", a.refused_by_reason},
                      {"gradient_timeouts", a.gradient_timeouts},
                      {"messages", a.messages},
                      {"mean_staleness", Number(a.mean_staleness)},
                      {"rtt_seconds", Number(a.rtt_seconds)},
                      {"last_message", a.last_message},
                      {"seconds_since_heard", a.seconds_since_heard}});
  }
  return {{"insecure", e.insecure},
          {"secure_log", e.secure_log},
          {"state", e.state},
          {"why", e.why},
          {"phase", e.phase},
          {"epoch", e.epoch},
          {"agents", e.agents},
          {"agents_needed", e.agents_needed},
          {"rows", e.rows},
          {"steps_applied", e.steps_applied},
          {"inner_steps", e.inner_steps},
          {"seconds", e.seconds},
          {"evaluated", e.evaluated},
          {"objective", e.evaluated ? Number(e.objective) : json(nullptr)},
          {"kkt", e.evaluated ? Number(e.kkt) : json(nullptr)},
          {"rel_gap", e.evaluated ? Number(e.relative_gap) : json(nullptr)},
          {"tolerance", e.tolerance},
          {"epoch_eta_seconds", Number(e.epoch_eta_seconds)},
          {"run_eta_seconds", Number(e.run_eta_seconds)},
          {"next_round", e.next_round},
          {"agent_status", agents}};
}

json Fields(const LogStreamRebound& e) {
  return {{"reason", e.reason},
          {"ignored_subscriptions", e.ignored_subscriptions},
          {"detail", e.detail}};
}

json Fields(const Note& e) { return {{"text", e.text}}; }

}  // namespace

nlohmann::ordered_json EventFields(const Event& e) {
  return std::visit([](const auto& v) { return Fields(v); }, e);
}

std::string JsonEventSink::Render(const Event& e) const {
  json j = {{"event", EventName(e)}, {"time", clock_->WallTime()}, {"run_id", run_id_}};
  if (round_) j["round"] = round_();
  j.update(EventFields(e));
  // The decoder lets only valid UTF-8 in; replace anything else rather than fail a log line.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

void JsonEventSink::Emit(const Event& e) {
  if (std::holds_alternative<Note>(e)) return;  // console only
  out_->Write(EventTopic(e), Render(e));
}

}  // namespace edgetrain::coordinator
