#include "web_views.h"

#include <charconv>
#include <cmath>
#include <optional>
#include <random>

#include "edgetrain/text.h"
#include "terminal_view.h"

namespace edgetrain::monitor {

// The page (monitor/page.html), embedded at build time (monitor/CMakeLists.txt).
extern const char kMonitorPageHtml[];

namespace {

using OrderedJson = nlohmann::ordered_json;

OrderedJson Number(double v) { return std::isfinite(v) ? OrderedJson(v) : OrderedJson(nullptr); }

// ---- Prometheus text format -------------------------------------------------------------------

// Shortest text that reads back to the same double; NaN and infinities as Prometheus spells them.
std::string MetricValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  return ec == std::errc() ? std::string(buffer, end) : StringPrintf("%.17g", v);
}

// A label value: backslash, double quote and newline escaped (the exposition format's rules).
std::string LabelValue(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

using Labels = std::vector<std::pair<const char*, std::string>>;

// One metric family: HELP and TYPE once, then its samples; a family without samples is left out.
class Family {
 public:
  Family(std::string* out, const char* name, const char* type, const char* help)
      : out_(out), name_(name), type_(type), help_(help) {}
  void Sample(const Labels& labels, double value) {
    if (!std::isfinite(value)) return;  // unknown: no sample
    if (!started_) {
      *out_ += StringPrintf("# HELP %s %s\n# TYPE %s %s\n", name_, help_, name_, type_);
      started_ = true;
    }
    *out_ += name_;
    if (!labels.empty()) {
      *out_ += '{';
      for (size_t i = 0; i < labels.size(); ++i) {
        if (i > 0) *out_ += ',';
        *out_ += std::string(labels[i].first) + "=\"" + LabelValue(labels[i].second) + '"';
      }
      *out_ += '}';
    }
    *out_ += ' ' + MetricValue(value) + '\n';
  }

 private:
  std::string* out_;
  const char* name_;
  const char* type_;
  const char* help_;
  bool started_ = false;
};

// The best snapshot's numbers: run_finished's, else the last status's, else the last epoch's.
struct Best {
  double objective = kMissing, kkt = kMissing, rel_gap = kMissing;
  int64_t rows = 0;
  bool known = false;
};
Best BestSnapshot(const RunRecord& record) {
  Best b;
  if (const auto& f = record.finish(); f && f->evaluated) {
    b = {f->objective, f->kkt, f->rel_gap, 0, true};
    if (record.status() && record.status()->evaluated) b.rows = record.status()->rows;
    return b;
  }
  if (const auto& s = record.status(); s && s->evaluated)
    return {s->objective, s->kkt, s->rel_gap, s->rows, true};
  for (auto it = record.epochs().rbegin(); it != record.epochs().rend(); ++it) {
    if (it->best) return {it->objective, it->kkt, it->rel_gap, it->rows, true};
  }
  return b;
}

// Seconds since training started, as of the last event that said.
std::string RandomNonce() {
  std::random_device device;
  std::string nonce;
  for (int i = 0; i < 4; ++i) nonce += StringPrintf("%08x", static_cast<unsigned>(device()));
  return nonce;
}

}  // namespace

void EventLog::Add(const Json& event, const RunRecord& record) {
  const std::string name = EventName(event);
  if (name == "status" || name == "progress") return;
  Entry entry;
  entry.seq = next_seq_++;
  entry.time = NumberField(event, "time");
  entry.event = name;
  if (std::optional<std::string> line = DescribeEvent(event, record)) {
    entry.text = std::move(*line);
  } else if (name == "epoch_end") {
    entry.text = StringPrintf("epoch %lld: inner phase ended, %lld updates at %.0f/s in %.2f s",
                              static_cast<long long>(IntField(event, "epoch")),
                              static_cast<long long>(IntField(event, "updates_applied")),
                              NumberField(event, "updates_per_second", 0),
                              NumberField(event, "inner_seconds", 0));
    if (const Json* refused = ObjectField(event, "refused"); refused && !refused->empty()) {
      const char* separator = "; refused: ";
      for (const auto& [reason, count] : refused->items()) {
        entry.text += separator + Printable(reason, 64) + " " +
                      std::to_string(IntField(*refused, reason.c_str()));
        separator = ", ";
      }
    }
    if (BoolField(event, "stalled")) entry.text += "; stalled";
  } else {
    Json rest = event;
    for (const char* key : {"event", "time", "run_id"}) rest.erase(key);
    entry.text = rest.dump(-1, ' ', false, Json::error_handler_t::replace);
    if (entry.text.size() > 400) entry.text = CutToWidth(entry.text, 400) + "...";
  }
  entries_.push_back(std::move(entry));
  if (entries_.size() > kCapacity) entries_.pop_front();
}

std::string RenderStateJson(const RunRecord& record, const EventLog& log, const MonitorInfo& info) {
  OrderedJson j;
  j["monitor"] = {{"endpoint", info.endpoint},
                  {"version", info.version},
                  {"curve", info.curve},
                  {"messages", info.messages},
                  {"refused", info.refused},
                  {"seconds_since_message", Number(info.seconds_since_message)},
                  {"seconds_running", Number(info.seconds_running)}};
  j["run_id"] = record.run_id();
  j["state"] = RunStateName(record.state());
  j["summary"] = StateSummary(record);
  j["why"] = record.why();
  j["phase"] = record.phase();
  j["epoch"] = record.epoch() >= 0 ? OrderedJson(record.epoch()) : OrderedJson(nullptr);
  j["agents"] = record.agents_connected() >= 0 ? OrderedJson(record.agents_connected())
                                               : OrderedJson(nullptr);
  j["agents_needed"] =
      record.agents_needed() >= 0 ? OrderedJson(record.agents_needed()) : OrderedJson(nullptr);
  j["seconds"] = Number(record.TrainingSeconds());
  const std::optional<bool> insecure = record.insecure();
  j["insecure"] = insecure ? OrderedJson(*insecure) : OrderedJson(nullptr);
  const InnerProgress& p = record.progress();
  j["progress"] = {{"active", p.active && record.state() == RunState::kRunning},
                   {"epoch", p.epoch},
                   {"updates_applied", p.updates_applied},
                   {"steps_applied", p.steps_applied},
                   {"inner_steps", p.inner_steps}};
  j["updates_per_second"] = Number(record.update_rate());
  j["epoch_eta_seconds"] = Number(record.epoch_eta_seconds());
  j["run_eta_seconds"] = Number(record.run_eta_seconds());
  const Best best = BestSnapshot(record);
  j["best"] = best.known ? OrderedJson{{"objective", Number(best.objective)},
                                       {"kkt", Number(best.kkt)},
                                       {"rel_gap", Number(best.rel_gap)},
                                       {"rows", best.rows}}
                         : OrderedJson(nullptr);
  const RunRecord::StopMeasure stop = record.CurrentStopMeasure();
  j["stop_measure"] = {
      {"name", stop.name}, {"value", Number(stop.value)}, {"tolerance", Number(stop.tolerance)}};
  if (const auto& r = record.run()) {
    j["settings"] = {{"loss", r->loss},
                     {"l1", Number(r->l1)},
                     {"l2", Number(r->l2)},
                     {"intercept", r->intercept},
                     {"dimension", r->dimension},
                     {"agents", r->agents},
                     {"max_epochs", r->max_epochs},
                     {"tolerance", Number(r->tolerance)},
                     {"kkt_tolerance", Number(r->kkt_tolerance)},
                     {"reference_objective", Number(r->reference_objective)},
                     {"insecure", r->insecure},
                     {"secure_log", r->secure_log},
                     {"started", Number(r->time)}};
  } else {
    j["settings"] = nullptr;
  }
  if (const auto& f = record.finish()) {
    j["finish"] = {{"reason", f->reason},
                   {"evaluated", f->evaluated},
                   {"epoch", f->epoch},
                   {"objective", Number(f->evaluated ? f->objective : kMissing)},
                   {"kkt", Number(f->evaluated ? f->kkt : kMissing)},
                   {"rel_gap", Number(f->evaluated ? f->rel_gap : kMissing)},
                   {"nnz", f->nnz},
                   {"seconds", Number(f->seconds)},
                   {"updates_applied", f->updates_applied},
                   {"updates_refused", f->updates_refused},
                   {"agents_joined", f->agents_joined},
                   {"model", f->model}};
  } else {
    j["finish"] = nullptr;
  }
  const auto& epochs = record.epochs();
  const size_t first = epochs.size() > kMaxStateEpochs ? epochs.size() - kMaxStateEpochs : 0;
  j["epochs_omitted"] = first;
  OrderedJson list = OrderedJson::array();
  for (size_t i = first; i < epochs.size(); ++i) {
    const EpochPoint& e = epochs[i];
    list.push_back({{"epoch", e.epoch},
                    {"seconds", Number(e.seconds)},
                    {"objective", Number(e.objective)},
                    {"kkt", Number(e.kkt)},
                    {"rel_gap", Number(e.rel_gap)},
                    {"rel_subopt", Number(e.rel_subopt)},
                    {"rows", e.rows},
                    {"agents", e.agents},
                    {"nnz", e.nnz},
                    {"verdict", e.verdict},
                    {"action", e.action},
                    {"best", e.best},
                    {"rolled_back", e.rolled_back},
                    {"final", e.final},
                    {"newton_alpha", Number(e.newton_alpha)},
                    {"segment", e.segment}});
  }
  j["epochs"] = std::move(list);
  OrderedJson markers = OrderedJson::array();
  for (const Marker& m : record.markers()) {
    markers.push_back({{"kind", MarkerKindName(m.kind)},
                       {"seconds", Number(record.SecondsAt(m.time))},
                       {"epoch", m.epoch >= 0 ? OrderedJson(m.epoch) : OrderedJson(nullptr)},
                       {"agent", m.agent},
                       {"detail", m.detail}});
  }
  j["markers"] = std::move(markers);
  OrderedJson agents = OrderedJson::array();
  if (const auto& s = record.status()) {
    for (const AgentHealth& a : s->agents_health) {
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
                        {"seconds_since_heard", Number(a.seconds_since_heard)},
                        {"last_message", a.last_message}});
    }
  }
  j["agent_status"] = std::move(agents);
  OrderedJson events = OrderedJson::array();
  for (const EventLog::Entry& e : log.entries()) {
    events.push_back(
        {{"seq", e.seq}, {"time", Number(e.time)}, {"event", e.event}, {"text", e.text}});
  }
  j["events"] = std::move(events);
  // Strings from the stream passed ParseEvent (valid UTF-8); replace rather than fail regardless.
  return j.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
}

std::string RenderMetrics(const RunRecord& record, const MonitorInfo& info) {
  std::string out;
  Family(&out, "edgetrain_monitor_messages_total", "counter",
         "Messages this monitor received from the log stream.")
      .Sample({}, static_cast<double>(info.messages));
  Family(&out, "edgetrain_monitor_messages_refused_total", "counter",
         "Messages that were not strict JSON log-stream events (ignored).")
      .Sample({}, static_cast<double>(info.refused));
  Family(&out, "edgetrain_monitor_silence_seconds", "gauge",
         "Seconds since the last message from the log stream (since the monitor started before "
         "the first); the coordinator publishes a status every second.")
      .Sample({}, std::isfinite(info.seconds_since_message) ? info.seconds_since_message
                                                            : info.seconds_running);
  if (record.run_id().empty()) return out;

  const std::string& id = record.run_id();
  const Labels run = {{"run_id", id}};
  {
    Family f(&out, "edgetrain_run_state", "gauge",
             "The run's state: 1 for the current one (waiting, running, stopping, finished).");
    if (record.state() != RunState::kUnknown) {
      for (RunState s :
           {RunState::kWaiting, RunState::kRunning, RunState::kStopping, RunState::kFinished}) {
        f.Sample({{"run_id", id}, {"state", RunStateName(s)}}, record.state() == s ? 1 : 0);
      }
    }
  }
  Family(
      &out, "edgetrain_run_insecure", "gauge",
      "1: the coordinator runs with --insecure (agents not authenticated, traffic in the clear).")
      .Sample(run, record.insecure() ? (*record.insecure() ? 1 : 0) : kMissing);
  Family(&out, "edgetrain_run_epoch", "gauge", "The current epoch (0: the initial model).")
      .Sample(run, record.epoch() >= 0 ? static_cast<double>(record.epoch()) : kMissing);
  Family(&out, "edgetrain_run_elapsed_seconds", "gauge", "Seconds since training started.")
      .Sample(run, record.TrainingSeconds());
  const Best best = BestSnapshot(record);
  Family(&out, "edgetrain_run_objective", "gauge", "The best snapshot's objective P(x).")
      .Sample(run, best.objective);
  Family(&out, "edgetrain_run_kkt_violation", "gauge",
         "The best snapshot's KKT violation (infinity norm of the minimum-norm subgradient).")
      .Sample(run, best.kkt);
  Family(&out, "edgetrain_run_rel_gap", "gauge",
         "The best snapshot's certified relative duality gap, which --tol stops at.")
      .Sample(run, best.rel_gap);
  Family(&out, "edgetrain_run_tolerance", "gauge", "--tol: the relative gap the run stops at.")
      .Sample(run, record.status() ? record.status()->tolerance
                                   : (record.run() ? record.run()->tolerance : kMissing));
  Family(&out, "edgetrain_run_agents", "gauge", "Agents connected to the coordinator.")
      .Sample(run, record.agents_connected() >= 0 ? static_cast<double>(record.agents_connected())
                                                  : kMissing);
  Family(&out, "edgetrain_run_agents_needed", "gauge", "--min-agents: agents training waits for.")
      .Sample(run,
              record.agents_needed() >= 0 ? static_cast<double>(record.agents_needed()) : kMissing);
  Family(&out, "edgetrain_run_updates_per_second", "gauge",
         "Updates applied per second in the last inner phase.")
      .Sample(run, record.update_rate());
  Family(&out, "edgetrain_run_epoch_eta_seconds", "gauge",
         "Estimated seconds until the running inner phase ends.")
      .Sample(run, record.epoch_eta_seconds());
  Family(&out, "edgetrain_run_eta_seconds", "gauge",
         "Estimated seconds until the stop measure reaches its tolerance (or a limit stops the "
         "run).")
      .Sample(run, record.finished() ? 0 : record.run_eta_seconds());
  Family(&out, "edgetrain_run_updates_applied_total", "counter",
         "Updates the coordinator applied in this run (as far as this monitor has seen).")
      .Sample(run, static_cast<double>(record.updates_applied_total()));
  Family(&out, "edgetrain_run_updates_refused_total", "counter",
         "Updates the coordinator refused in this run (as far as this monitor has seen).")
      .Sample(run, static_cast<double>(record.updates_refused_total()));
  {
    Family f(&out, "edgetrain_run_refused_total", "counter",
             "Messages and updates the coordinator refused, by reason.");
    for (const auto& [reason, count] : record.refused_by_reason())
      f.Sample({{"run_id", id}, {"reason", reason}}, static_cast<double>(count));
  }

  if (!record.status()) return out;
  const std::vector<AgentHealth>& agents = record.status()->agents_health;
  const auto per_agent = [&](const char* name, const char* type, const char* help,
                             double (*value)(const AgentHealth&)) {
    Family f(&out, name, type, help);
    for (const AgentHealth& a : agents) f.Sample({{"run_id", id}, {"agent", a.agent}}, value(a));
  };
  {
    Family f(&out, "edgetrain_agent_info", "gauge",
             "An agent connected to the coordinator: its address, software version and "
             "architecture.");
    for (const AgentHealth& a : agents) {
      f.Sample({{"run_id", id},
                {"agent", a.agent},
                {"address", a.address},
                {"software_version", a.software_version},
                {"arch", a.arch}},
               1);
    }
  }
  {
    Family f(&out, "edgetrain_agent_refused_total", "counter",
             "The agent's updates and messages the coordinator refused, by reason (this session).");
    for (const AgentHealth& a : agents) {
      for (const auto& [reason, count] : a.refused_by_reason)
        f.Sample({{"run_id", id}, {"agent", a.agent}, {"reason", reason}},
                 static_cast<double>(count));
    }
  }
  per_agent("edgetrain_agent_rows", "gauge", "Rows of the agent's data.",
            [](const AgentHealth& a) { return static_cast<double>(a.rows); });
  per_agent("edgetrain_agent_updates_applied_total", "counter",
            "The agent's updates the coordinator applied (this session).",
            [](const AgentHealth& a) { return static_cast<double>(a.updates_applied); });
  per_agent("edgetrain_agent_updates_refused_total", "counter",
            "The agent's updates the coordinator refused (this session).",
            [](const AgentHealth& a) { return static_cast<double>(a.updates_refused); });
  per_agent("edgetrain_agent_mean_staleness", "gauge",
            "Mean staleness of the agent's applied updates, in model versions.",
            [](const AgentHealth& a) { return a.mean_staleness; });
  per_agent("edgetrain_agent_rtt_seconds", "gauge",
            "Round trip of the agent's Updates, as the agent measured it (smoothed).",
            [](const AgentHealth& a) { return a.rtt_seconds; });
  per_agent("edgetrain_agent_silence_seconds", "gauge",
            "Seconds since the coordinator last heard from the agent.",
            [](const AgentHealth& a) { return a.seconds_since_heard; });
  per_agent("edgetrain_agent_gradient_timeouts_total", "counter",
            "Gradient phases that went on without the agent.",
            [](const AgentHealth& a) { return static_cast<double>(a.gradient_timeouts); });
  per_agent("edgetrain_agent_messages_total", "counter",
            "Messages the coordinator received from the agent (this session).",
            [](const AgentHealth& a) { return static_cast<double>(a.messages); });
  return out;
}

std::string RenderPage(const std::string& nonce) {
  std::string page = kMonitorPageHtml;
  const std::string mark = "@NONCE@";
  for (size_t at = page.find(mark); at != std::string::npos; at = page.find(mark, at)) {
    page.replace(at, mark.size(), nonce);
    at += nonce.size();
  }
  return page;
}

HttpResponse ServeMonitor(const HttpRequest& request, const RunRecord& record, const EventLog& log,
                          const MonitorInfo& info) {
  HttpResponse r;
  if (request.path == "/" || request.path == "/index.html") {
    const std::string nonce = RandomNonce();
    r.content_type = "text/html; charset=utf-8";
    r.body = RenderPage(nonce);
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'none'; style-src 'nonce-" + nonce +
                               "'; script-src 'nonce-" + nonce +
                               "'; connect-src 'self'; img-src data:; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'");
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
  } else if (request.path == "/state.json") {
    r.content_type = "application/json";
    r.body = RenderStateJson(record, log, info);
  } else if (request.path == "/metrics") {
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = RenderMetrics(record, info);
  } else if (request.path == "/healthz") {
    r.body = "ok\n";
  } else {
    r.status = 404;
    r.body = "not found: / (the page), /state.json, /metrics, /healthz\n";
  }
  return r;
}

}  // namespace edgetrain::monitor
