#include "terminal_view.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "edgetrain/text.h"

namespace edgetrain::monitor {
namespace {

using edgetrain::StringPrintf;

long long Int(const Json& e, const char* key) { return IntField(e, key); }

// A string field, escaped: it comes from the network (agent ids, versions, reasons).
std::string Str(const Json& e, const char* key) {
  const auto it = e.find(key);
  if (it == e.end()) return "?";
  if (it->is_string()) return Printable(it->get_ref<const std::string&>(), 256);
  if (it->is_number()) return StringPrintf("%g", it->get<double>());
  return "?";
}

// "1234", "18.2k", "1.23M"
std::string Rate(double v) {
  if (!std::isfinite(v)) return "-";
  if (v >= 1e6) return StringPrintf("%.3gM", v / 1e6);
  if (v >= 1e4) return StringPrintf("%.3gk", v / 1e3);
  return StringPrintf("%.0f", v);
}

// Direction of the last change: lower is better for the objective and the stop measures.
std::string Arrow(double previous, double current, bool unicode) {
  if (!std::isfinite(previous) || !std::isfinite(current)) return " ";
  if (current < previous) return unicode ? "\xE2\x86\x93" : "v";  // ↓
  if (current > previous) return unicode ? "\xE2\x86\x91" : "^";  // ↑
  return "=";
}

// "down 3.2x" / "up 1.5x" for positive values.
std::string Factor(double previous, double current) {
  if (!(previous > 0) || !(current > 0) || !std::isfinite(previous) || !std::isfinite(current))
    return "";
  if (current < previous) return StringPrintf("down %.3gx", previous / current);
  if (current > previous) return StringPrintf("up %.3gx", current / previous);
  return "same";
}

// The epoch before the last one, when both are of the same segment (objectives over other rows
// are not compared).
const EpochPoint* Previous(const RunRecord& record) {
  const auto& epochs = record.epochs();
  if (epochs.size() < 2) return nullptr;
  const EpochPoint& prev = epochs[epochs.size() - 2];
  return prev.segment == epochs.back().segment ? &prev : nullptr;
}

// Columns (UTF-8 code points) of `s`.
size_t Columns(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string PadRight(std::string s, size_t width) {
  const size_t n = Columns(s);
  if (n < width) s.append(width - n, ' ');
  return s;
}

std::string PadLeft(const std::string& s, size_t width) {
  const size_t n = Columns(s);
  return n < width ? std::string(width - n, ' ') + s : s;
}

std::string Plural(long long n, const char* one, const char* many) {
  return StringPrintf("%lld %s", n, n == 1 ? one : many);
}

// "run 0123456789abcdef", or "run" before an event carried the id.
std::string RunName(const RunRecord& record) {
  return record.run_id().empty() ? std::string("run") : "run " + Printable(record.run_id(), 32);
}

std::string Sci(double v, const char* format = "%.3e") {
  return std::isfinite(v) ? StringPrintf(format, v) : std::string("-");
}

}  // namespace

std::string CutToWidth(const std::string& line, int width) {
  int columns = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(line[i]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    if (columns == width) return line.substr(0, i);
    ++columns;
  }
  return line;
}

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  if (seconds < 1) return StringPrintf("%.2f s", seconds);
  if (seconds < 10) return StringPrintf("%.1f s", seconds);
  const long long s = std::llround(seconds);
  if (s < 60) return StringPrintf("%lld s", s);
  if (s < 3600) return StringPrintf("%lld min %02lld s", s / 60, s % 60);
  if (s < 86400) return StringPrintf("%lld h %02lld min", s / 3600, s % 3600 / 60);
  return StringPrintf("%lld d %02lld h", s / 86400, s % 86400 / 3600);
}

std::string Sparkline(const std::vector<double>& values, bool log_scale, bool unicode) {
  static const char* const kBlocks[] = {"\xE2\x96\x81", "\xE2\x96\x82", "\xE2\x96\x83",
                                        "\xE2\x96\x84", "\xE2\x96\x85", "\xE2\x96\x86",
                                        "\xE2\x96\x87", "\xE2\x96\x88"};
  static const char kAscii[] = "_.-:=+*#";
  auto transform = [log_scale](double v) -> double {
    if (!std::isfinite(v) || (log_scale && !(v > 0))) return kMissing;
    return log_scale ? std::log10(v) : v;
  };
  double lo = INFINITY, hi = -INFINITY;
  for (double v : values) {
    const double t = transform(v);
    if (std::isnan(t)) continue;
    lo = std::min(lo, t);
    hi = std::max(hi, t);
  }
  std::string out;
  for (double v : values) {
    const double t = transform(v);
    if (std::isnan(t)) {
      out += ' ';
      continue;
    }
    const int level = hi > lo ? static_cast<int>(std::lround(7 * (t - lo) / (hi - lo))) : 3;
    if (unicode) {
      out += kBlocks[level];
    } else {
      out += kAscii[level];
    }
  }
  return out;
}

std::string StateSummary(const RunRecord& record) {
  const std::string why = Printable(record.why(), 200);
  switch (record.state()) {
    case RunState::kUnknown:
      return "no status from the coordinator yet";
    case RunState::kWaiting: {
      std::string line = why.empty() ? std::string("waiting for agents") : why;
      if (record.agents_connected() >= 0 && record.agents_needed() > 0) {
        line += StringPrintf(" (%lld of %lld connected)",
                             static_cast<long long>(record.agents_connected()),
                             static_cast<long long>(record.agents_needed()));
      } else if (record.agents_connected() >= 0) {
        line += " (" + Plural(record.agents_connected(), "agent", "agents") + " connected)";
      }
      return line;
    }
    case RunState::kRunning: {
      std::string line = record.epoch() >= 0 ? StringPrintf("running epoch %lld",
                                                            static_cast<long long>(record.epoch()))
                                             : std::string("running");
      if (!record.phase().empty()) line += " (" + Printable(record.phase(), 32) + " phase)";
      return line;
    }
    case RunState::kStopping:
      return "stopping" + (why.empty() ? std::string() : " (" + why + ")") +
             ": waiting for the agents' goodbyes";
    case RunState::kFinished: {
      const std::optional<FinishInfo>& f = record.finish();
      std::string line = "finished" + (why.empty() ? std::string() : " (" + why + ")");
      if (!f) return line;
      if (!f->evaluated) return line + " before any epoch was evaluated: no model";
      line += StringPrintf(" at epoch %lld", static_cast<long long>(f->epoch));
      if (std::isfinite(f->seconds)) line += " after " + FormatDuration(f->seconds);
      return line;
    }
  }
  return "?";
}

std::optional<std::string> DescribeEvent(const Json& e, const RunRecord& record) {
  const std::string name = EventName(e);
  if (name == "status") {
    // run_finished said it all; the statuses after it (stopping, finished) add nothing.
    if (!record.status_news() || record.finished()) return std::nullopt;
    std::string line = RunName(record) + ": " + StateSummary(record);
    const RunStatus& s = *record.status();
    if (record.state() == RunState::kRunning) {
      line += ", " + Plural(s.agents, "agent", "agents");
      if (s.evaluated) {
        line += StringPrintf(", best objective %.10g", s.objective);
        const RunRecord::StopMeasure m = record.CurrentStopMeasure();
        line += StringPrintf(", %s %s", m.name, Sci(m.value).c_str());
      }
      if (std::isfinite(record.run_eta_seconds()))
        line += ", run ETA " + FormatDuration(record.run_eta_seconds());
    }
    return line;
  }
  if (name == "epoch_begin") {
    if (record.epochs().empty()) return std::nullopt;
    const EpochPoint& p = record.epochs().back();
    const EpochPoint* prev = Previous(record);
    std::string line =
        StringPrintf("epoch %3lld  objective %.10g", static_cast<long long>(p.epoch), p.objective);
    if (prev != nullptr && std::isfinite(prev->objective) && std::isfinite(p.objective)) {
      line += StringPrintf(" (%+.2e)", p.objective - prev->objective);
    }
    line += StringPrintf("  kkt %.3e", p.kkt);
    if (prev != nullptr) {
      const std::string f = Factor(prev->kkt, p.kkt);
      if (!f.empty()) line += " (" + f + ")";
    }
    if (std::isfinite(p.rel_gap)) {
      line += StringPrintf("  rel_gap %.3e", p.rel_gap);
    } else if (std::isfinite(p.gap_bound)) {
      line += StringPrintf("  gap <= %.3e", p.gap_bound);
    }
    if (std::isfinite(p.rel_subopt)) line += StringPrintf("  rel_subopt %.3e", p.rel_subopt);
    line += StringPrintf("  nnz %lld  agents %lld  %.2f s", static_cast<long long>(p.nnz),
                         static_cast<long long>(p.agents), p.seconds);
    if (p.verdict == "baseline" && p.segment > 0) {
      line += StringPrintf("  new baseline: %lld rows, not compared with the epochs before",
                           static_cast<long long>(p.rows));
    } else if (p.best) {
      line += "  best";
    }
    if (std::isfinite(p.newton_alpha))
      line += StringPrintf("  Newton point (alpha %g)", p.newton_alpha);
    if (p.rolled_back) line += "  rolled back, eta halved";
    if (p.final) line += "  final";
    return line;
  }
  if (name == "agent_joined") {
    return StringPrintf(
        "agent %s joined from %s: %lld rows, dimension %lld, version %s; %lld connected",
        Str(e, "agent").c_str(), Str(e, "peer").c_str(), Int(e, "rows"), Int(e, "dimension"),
        Str(e, "software_version").c_str(), Int(e, "agents"));
  }
  if (name == "agent_left") {
    return StringPrintf("agent %s left: %s; %lld connected", Str(e, "agent").c_str(),
                        Str(e, "reason").c_str(), Int(e, "agents"));
  }
  if (name == "agent_refused") {
    return StringPrintf("agent %s refused: %s (%s)", Str(e, "agent").c_str(),
                        Str(e, "reason").c_str(), Str(e, "detail").c_str());
  }
  if (name == "message_refused") {
    return StringPrintf("message from %s (%s) refused: %s (%s)", Str(e, "agent").c_str(),
                        Str(e, "peer").c_str(), Str(e, "reason").c_str(), Str(e, "detail").c_str());
  }
  if (name == "key_refused") {
    return StringPrintf("%s key refused from %s: %s", Str(e, "domain").c_str(),
                        Str(e, "peer").c_str(), Str(e, "key").c_str());
  }
  if (name == "handshake_failed") {
    return StringPrintf("%lld handshakes failed: %s", Int(e, "count"), Str(e, "detail").c_str());
  }
  if (name == "newton") {  // docs/log-stream.md: a Newton epoch instead of an inner loop
    const bool taken = BoolField(e, "taken"), declined = BoolField(e, "declined");
    if (BoolField(e, "reused")) {
      return StringPrintf("epoch %lld: Newton step on %lld coordinates with the last blocks: %s",
                          Int(e, "epoch"), Int(e, "support"),
                          taken ? "x moved, the next snapshot judges it" : "not taken");
    }
    return StringPrintf(
        "epoch %lld: Newton step on %lld coordinates, blocks of %lld rows in %.2f s: %s",
        Int(e, "epoch"), Int(e, "support"), Int(e, "rows"), NumberField(e, "curvature_seconds", 0),
        taken ? "x moved, the next snapshot judges it"
              : (declined ? "an agent declined the block, inner loop instead"
                          : "not taken, inner loop instead"));
  }
  if (name == "newton_backtrack") {
    return StringPrintf(
        "epoch %lld: the Newton point did not lower P enough, trying %g of the step",
        Int(e, "epoch"), NumberField(e, "next_alpha", 0));
  }
  if (name == "newton_rejected") {
    return StringPrintf(
        "epoch %lld: the Newton line search failed, back to the best snapshot and an inner loop",
        Int(e, "epoch"));
  }
  if (name == "gradient_timeout") {
    return StringPrintf(
        "agent %s sent no gradient sum in time: epoch %lld went on without its %lld rows",
        Str(e, "agent").c_str(), Int(e, "epoch"), Int(e, "rows"));
  }
  if (name == "run_started" && record.run()) {
    const RunInfo& r = *record.run();
    std::string line = StringPrintf(
        "%s started: %s loss, l1 %g, l2 %g%s, %lld agents, dimension %lld, at most %lld "
        "epochs, tolerance %g, KKT tolerance %g",
        RunName(record).c_str(), Printable(r.loss, 64).c_str(), r.l1, r.l2,
        r.intercept ? ", intercept" : "", static_cast<long long>(r.agents),
        static_cast<long long>(r.dimension), static_cast<long long>(r.max_epochs), r.tolerance,
        r.kkt_tolerance);
    if (std::isfinite(r.reference_objective))
      line += StringPrintf(", reference objective %.15g", r.reference_objective);
    return line;
  }
  if (name == "waiting_for_agents") return StateSummary(record);
  if (name == "run_finished" && record.finish()) {
    const FinishInfo& f = *record.finish();
    const std::string reason = Printable(f.reason, 256);
    if (!f.evaluated) {
      return StringPrintf(
          "run finished (%s) before any epoch was evaluated: no model; %lld agents joined, "
          "%.2f s",
          reason.c_str(), static_cast<long long>(f.agents_joined), f.seconds);
    }
    std::string line =
        StringPrintf("run finished (%s): epoch %lld, objective %.15g, kkt %.3e", reason.c_str(),
                     static_cast<long long>(f.epoch), f.objective, f.kkt);
    if (std::isfinite(f.rel_gap)) line += StringPrintf(", rel_gap %.3e", f.rel_gap);
    line += StringPrintf(", nnz %lld, %lld updates applied, %lld refused, %.2f s",
                         static_cast<long long>(f.nnz), static_cast<long long>(f.updates_applied),
                         static_cast<long long>(f.updates_refused), f.seconds);
    if (std::isfinite(f.rel_subopt)) line += StringPrintf(", rel_subopt %.3e", f.rel_subopt);
    if (!f.model.empty()) line += ", model " + Printable(f.model, 512);
    return line;
  }
  return std::nullopt;
}

std::vector<std::string> RenderAgentTable(const RunRecord& record, int max_rows) {
  std::vector<std::string> lines;
  if (!record.status() || record.status()->agents_health.empty()) return lines;
  const std::vector<AgentHealth>& agents = record.status()->agents_health;
  // Text columns first (left-aligned), then numbers (right-aligned).
  const std::vector<std::string> header = {"agent", "address", "version", "role",
                                           "last",  "rows",    "applied", "refused",
                                           "stale", "rtt",     "heard",   "timeouts"};
  constexpr size_t kTextColumns = 5;
  std::vector<std::vector<std::string>> rows;
  const size_t shown = std::min(agents.size(), static_cast<size_t>(std::max(0, max_rows)));
  for (size_t i = 0; i < shown; ++i) {
    const AgentHealth& a = agents[i];
    rows.push_back(
        {Printable(a.agent, 24), Printable(a.address, 40), Printable(a.software_version, 24),
         Printable(a.role, 12), a.last_message.empty() ? "-" : Printable(a.last_message, 16),
         std::to_string(a.rows), std::to_string(a.updates_applied),
         std::to_string(a.updates_refused),
         std::isfinite(a.mean_staleness) ? StringPrintf("%.2f", a.mean_staleness) : "-",
         std::isfinite(a.rtt_seconds) ? StringPrintf("%.1f ms", 1e3 * a.rtt_seconds) : "-",
         std::isfinite(a.seconds_since_heard) ? StringPrintf("%.1f s", a.seconds_since_heard) : "-",
         std::to_string(a.gradient_timeouts)});
  }
  std::vector<size_t> widths(header.size());
  for (size_t c = 0; c < header.size(); ++c) {
    widths[c] = Columns(header[c]);
    for (const auto& row : rows) widths[c] = std::max(widths[c], Columns(row[c]));
  }
  const auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t c = 0; c < cells.size(); ++c) {
      if (c > 0) out += "  ";
      out += c < kTextColumns ? PadRight(cells[c], widths[c]) : PadLeft(cells[c], widths[c]);
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
  };
  lines.push_back(line(header));
  for (const auto& row : rows) lines.push_back(line(row));
  if (agents.size() > shown) {
    lines.push_back("... and " + Plural(static_cast<long long>(agents.size() - shown), "more agent",
                                        "more agents"));
  }
  return lines;
}

std::vector<std::string> RenderLiveView(const RunRecord& record, const LiveViewOptions& options) {
  const bool u = options.unicode;
  const std::string dot = u ? " \xC2\xB7 " : " | ";
  std::vector<std::string> lines;

  // 1: header: where, which run, its settings
  std::string header = options.endpoint;
  if (!record.run_id().empty()) header += dot + "run " + Printable(record.run_id(), 32);
  if (record.run()) {
    const RunInfo& r = *record.run();
    header += dot + StringPrintf("%s, l1 %g, l2 %g, d %lld", Printable(r.loss, 64).c_str(), r.l1,
                                 r.l2, static_cast<long long>(r.dimension));
  }
  const RunRecord::StopMeasure stop = record.CurrentStopMeasure();
  if (std::isfinite(stop.tolerance)) header += dot + StringPrintf("tol %g", stop.tolerance);
  if (record.insecure().value_or(false)) header += dot + "INSECURE (no CURVE)";
  lines.push_back(header);

  // 2: state / progress bar
  const InnerProgress& pr = record.progress();
  std::string state;
  if (record.state() == RunState::kRunning && pr.active && pr.inner_steps > 0) {
    const double fraction =
        std::clamp(static_cast<double>(pr.steps_applied) / pr.inner_steps, 0.0, 1.0);
    const std::string prefix = StringPrintf("epoch %lld ", static_cast<long long>(pr.epoch));
    const std::string suffix = StringPrintf(" %3.0f%%  %lld/%lld steps", 100 * fraction,
                                            static_cast<long long>(pr.steps_applied),
                                            static_cast<long long>(pr.inner_steps));
    const int bar =
        std::clamp(options.width - static_cast<int>(prefix.size() + suffix.size()) - 2, 10, 60);
    const int filled = static_cast<int>(std::lround(fraction * bar));
    std::string bar_text;
    for (int i = 0; i < bar; ++i)
      bar_text += i < filled ? (u ? "\xE2\x96\x88" : "#") : (u ? "\xE2\x96\x91" : ".");
    state = prefix + "[" + bar_text + "]" + suffix;
  } else {
    state = StateSummary(record);
  }
  lines.push_back(state);

  // 3, 4: objective and stop measure with arrow and sparkline over the last epochs of the
  // current segment
  const auto& epochs = record.epochs();
  size_t first = epochs.size() > static_cast<size_t>(options.trend_epochs)
                     ? epochs.size() - static_cast<size_t>(options.trend_epochs)
                     : 0;
  while (first < epochs.size() && epochs[first].segment != epochs.back().segment) ++first;
  const bool gap = std::string(stop.name) == "rel_gap";
  const auto measure = [gap](const EpochPoint& p) { return gap ? p.rel_gap : p.kkt; };
  std::vector<double> objectives, measures;
  for (size_t i = first; i < epochs.size(); ++i) {
    objectives.push_back(epochs[i].objective);
    measures.push_back(measure(epochs[i]));
  }
  const EpochPoint* last = epochs.empty() ? nullptr : &epochs.back();
  const EpochPoint* prev = Previous(record);
  const char* measure_label = gap ? "rel_gap  " : "KKT      ";
  if (last == nullptr) {
    std::string objective_line = "objective -";
    if (record.status() && record.status()->evaluated) {
      objective_line = StringPrintf("objective %.10g (best so far)", record.status()->objective);
    }
    lines.push_back(objective_line);
    lines.push_back(std::string(measure_label) + " " + Sci(stop.value));
  } else {
    std::string objective_line = PadRight(StringPrintf("objective %.10g", last->objective), 28) +
                                 " " + Arrow(prev ? prev->objective : NAN, last->objective, u) +
                                 "  " + Sparkline(objectives, false, u);
    if (std::isfinite(last->rel_subopt))
      objective_line += StringPrintf("  rel_subopt %.2e", last->rel_subopt);
    if (last->verdict == "baseline" && last->segment > 0)
      objective_line += "  new baseline (rows changed)";
    lines.push_back(objective_line);
    std::string measure_line =
        PadRight(std::string(measure_label) + " " + Sci(measure(*last)), 28) + " " +
        Arrow(prev ? measure(*prev) : NAN, measure(*last), u) + "  " + Sparkline(measures, true, u);
    if (prev != nullptr) {
      const std::string f = Factor(measure(*prev), measure(*last));
      if (!f.empty()) measure_line += "  " + f;
    }
    if (std::isfinite(stop.tolerance)) measure_line += StringPrintf("  (tol %g)", stop.tolerance);
    lines.push_back(measure_line);
  }

  // 5: agents, rate, model size, time, ETAs
  std::string status;
  if (record.agents_connected() >= 0) {
    status = StringPrintf("agents %lld", static_cast<long long>(record.agents_connected()));
    if (record.agents_needed() > 0)
      status += StringPrintf(" of %lld needed", static_cast<long long>(record.agents_needed()));
  } else {
    status = "agents ?";
  }
  status += dot + Rate(record.update_rate()) + " updates/s";
  if (last != nullptr) status += dot + StringPrintf("nnz %lld", static_cast<long long>(last->nnz));
  if (const double seconds = record.TrainingSeconds(); std::isfinite(seconds))
    status += dot + FormatDuration(seconds);
  if (std::isfinite(record.epoch_eta_seconds()))
    status += dot + "epoch ETA " + FormatDuration(record.epoch_eta_seconds());
  if (record.state() == RunState::kRunning && record.status()) {
    status += dot + "run ETA " +
              (std::isfinite(record.run_eta_seconds()) ? FormatDuration(record.run_eta_seconds())
                                                       : std::string("?"));
  }
  if (record.run() && record.run()->max_epochs > 0) {
    status +=
        dot + StringPrintf("max %lld epochs", static_cast<long long>(record.run()->max_epochs));
  }
  lines.push_back(status);

  // 6...: the agents
  for (std::string& line : RenderAgentTable(record, options.max_agent_rows))
    lines.push_back(std::move(line));

  for (std::string& line : lines) line = CutToWidth(line, options.width);
  return lines;
}

}  // namespace edgetrain::monitor
