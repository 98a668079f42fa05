#include "terminal_view.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>

#include "edgetrain/text.h"

namespace edgetrain::monitor {
namespace {

std::string Format(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string Format(const char* format, ...) {
  char buffer[1024];
  va_list args;
  va_start(args, format);
  const int n = std::vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  return std::string(buffer,
                     static_cast<size_t>(std::clamp(n, 0, static_cast<int>(sizeof buffer) - 1)));
}

long long Int(const JsonValue& e, const std::string& key) {
  const double v = e[key].NumberOr(0);
  return std::isfinite(v) ? std::llround(v) : 0;
}

// A string field, escaped: it comes from the network (agent ids, versions, reasons).
std::string Str(const JsonValue& e, const std::string& key) {
  const JsonValue& v = e[key];
  if (v.type == JsonValue::Type::kString) return Printable(v.string, 256);
  if (v.type == JsonValue::Type::kNumber) return Format("%g", v.number);
  return "?";
}

// "1234", "18.2k", "1.23M"
std::string Rate(double v) {
  if (!std::isfinite(v)) return "-";
  if (v >= 1e6) return Format("%.3gM", v / 1e6);
  if (v >= 1e4) return Format("%.3gk", v / 1e3);
  return Format("%.0f", v);
}

// Direction of the last change: lower is better for both the objective and the KKT violation.
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
  if (current < previous) return Format("down %.3gx", previous / current);
  if (current > previous) return Format("up %.3gx", current / previous);
  return "same";
}

const EpochPoint* Previous(const RunRecord& record) {
  const auto& epochs = record.epochs();
  return epochs.size() >= 2 ? &epochs[epochs.size() - 2] : nullptr;
}

std::string Pad(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
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

std::optional<std::string> DescribeEvent(const JsonValue& e, const RunRecord& record) {
  const std::string name = e["event"].StringOr("");
  if (name == "epoch_begin") {
    if (record.epochs().empty()) return std::nullopt;
    const EpochPoint& p = record.epochs().back();
    const EpochPoint* prev = Previous(record);
    std::string line =
        Format("epoch %3lld  objective %.10g", static_cast<long long>(p.epoch), p.objective);
    if (prev != nullptr && std::isfinite(prev->objective) && std::isfinite(p.objective)) {
      line += Format(" (%+.2e)", p.objective - prev->objective);
    }
    line += Format("  kkt %.3e", p.kkt);
    if (prev != nullptr) {
      const std::string f = Factor(prev->kkt, p.kkt);
      if (!f.empty()) line += " (" + f + ")";
    }
    if (std::isfinite(p.gap_bound)) line += Format("  gap <= %.3e", p.gap_bound);
    if (std::isfinite(p.rel_subopt)) line += Format("  rel_subopt %.3e", p.rel_subopt);
    line += Format("  nnz %lld  agents %lld  %.2f s", static_cast<long long>(p.nnz),
                   static_cast<long long>(p.agents), p.seconds);
    if (p.best) line += "  best";
    if (p.rolled_back) line += "  rolled back, eta halved";
    if (p.final) line += "  final";
    return line;
  }
  if (name == "agent_joined") {
    return Format("agent %s joined from %s: %lld rows, dimension %lld, version %s; %lld connected",
                  Str(e, "agent").c_str(), Str(e, "peer").c_str(), Int(e, "rows"),
                  Int(e, "dimension"), Str(e, "software_version").c_str(), Int(e, "agents"));
  }
  if (name == "agent_left") {
    return Format("agent %s left: %s; %lld connected", Str(e, "agent").c_str(),
                  Str(e, "reason").c_str(), Int(e, "agents"));
  }
  if (name == "agent_refused") {
    return Format("agent %s refused: %s (%s)", Str(e, "agent").c_str(), Str(e, "reason").c_str(),
                  Str(e, "detail").c_str());
  }
  if (name == "message_refused") {
    return Format("message from %s (%s) refused: %s (%s)", Str(e, "agent").c_str(),
                  Str(e, "peer").c_str(), Str(e, "reason").c_str(), Str(e, "detail").c_str());
  }
  if (name == "newton") {  // docs/log-stream.md: a Newton epoch instead of an inner loop
    const bool taken = e["taken"].boolean, declined = e["declined"].boolean;
    return Format("epoch %lld: Newton step on %lld coordinates, blocks of %lld rows in %.2f s: %s",
                  Int(e, "epoch"), Int(e, "support"), Int(e, "rows"),
                  e["curvature_seconds"].NumberOr(0),
                  taken ? "x moved, the next snapshot judges it"
                        : (declined ? "an agent declined the block, inner loop instead"
                                    : "not taken, inner loop instead"));
  }
  if (name == "newton_backtrack") {
    return Format("epoch %lld: the Newton point did not lower P enough, trying %g of the step",
                  Int(e, "epoch"), e["next_alpha"].NumberOr(0));
  }
  if (name == "newton_rejected") {
    return Format(
        "epoch %lld: the Newton line search failed, back to the best snapshot and an inner loop",
        Int(e, "epoch"));
  }
  if (name == "gradient_timeout") {
    return Format("agent %s sent no gradient sum in time: epoch %lld went on without its %lld rows",
                  Str(e, "agent").c_str(), Int(e, "epoch"), Int(e, "rows"));
  }
  if (name == "run_started" && record.run()) {
    const RunInfo& r = *record.run();
    std::string line = Format(
        "run started: %s loss, l1 %g, l2 %g%s, %lld agents, dimension %lld, at most %lld epochs, "
        "KKT tolerance %g",
        Printable(r.loss, 64).c_str(), r.l1, r.l2, r.intercept ? ", intercept" : "",
        static_cast<long long>(r.agents), static_cast<long long>(r.dimension),
        static_cast<long long>(r.max_epochs), r.kkt_tolerance);
    if (std::isfinite(r.reference_objective))
      line += Format(", reference objective %.15g", r.reference_objective);
    return line;
  }
  if (name == "waiting_for_agents")
    return std::string("no agents left: waiting for agents to join");
  if (name == "run_finished" && record.finish()) {
    const FinishInfo& f = *record.finish();
    std::string line = Format(
        "run finished (%s): epoch %lld, objective %.15g, kkt %.3e, nnz %lld, %lld updates "
        "applied, %lld refused, %.2f s",
        Printable(f.reason, 256).c_str(), static_cast<long long>(f.epoch), f.objective, f.kkt,
        static_cast<long long>(f.nnz), static_cast<long long>(f.updates_applied),
        static_cast<long long>(f.updates_refused), f.seconds);
    if (std::isfinite(f.rel_subopt)) line += Format(", rel_subopt %.3e", f.rel_subopt);
    if (!f.model.empty()) line += ", model " + f.model;
    return line;
  }
  return std::nullopt;
}

std::vector<std::string> RenderLiveView(const RunRecord& record, const LiveViewOptions& options) {
  const bool u = options.unicode;
  const std::string dot = u ? " \xC2\xB7 " : " | ";
  std::vector<std::string> lines;

  // 1: header
  std::string header = options.endpoint + dot;
  if (record.run()) {
    const RunInfo& r = *record.run();
    header += Format("%s, l1 %g, l2 %g, d %lld", Printable(r.loss, 64).c_str(), r.l1, r.l2,
                     static_cast<long long>(r.dimension));
  } else {
    header += "run settings not seen (joined mid-run)";
  }
  lines.push_back(header);

  // 2: phase / progress bar
  const InnerProgress& pr = record.progress();
  std::string phase;
  if (record.finished()) {
    const FinishInfo& f = *record.finish();
    phase = Format("finished (%s) at epoch %lld after %.1f s", Printable(f.reason, 256).c_str(),
                   static_cast<long long>(f.epoch), f.seconds);
  } else if (record.waiting_for_agents()) {
    phase = "waiting for agents to join";
  } else if (pr.active && pr.inner_steps > 0) {
    const double fraction =
        std::clamp(static_cast<double>(pr.updates_applied) / pr.inner_steps, 0.0, 1.0);
    const std::string prefix = Format("epoch %lld ", static_cast<long long>(pr.epoch));
    const std::string suffix =
        Format(" %3.0f%%  %lld/%lld updates", 100 * fraction,
               static_cast<long long>(pr.updates_applied), static_cast<long long>(pr.inner_steps));
    const int bar =
        std::clamp(options.width - static_cast<int>(prefix.size() + suffix.size()) - 2, 10, 60);
    const int filled = static_cast<int>(std::lround(fraction * bar));
    std::string bar_text;
    for (int i = 0; i < bar; ++i)
      bar_text += i < filled ? (u ? "\xE2\x96\x88" : "#") : (u ? "\xE2\x96\x91" : ".");
    phase = prefix + "[" + bar_text + "]" + suffix;
  } else if (record.epochs().empty()) {
    phase = "waiting for the first snapshot";
  } else {
    phase = Format("epoch %lld: gradient phase (evaluating the snapshot)",
                   static_cast<long long>(record.epochs().back().epoch + 1));
  }
  lines.push_back(phase);

  // 3, 4: objective and KKT with arrow and sparkline over the last epochs
  const auto& epochs = record.epochs();
  const size_t first = epochs.size() > static_cast<size_t>(options.trend_epochs)
                           ? epochs.size() - static_cast<size_t>(options.trend_epochs)
                           : 0;
  std::vector<double> objectives, kkts;
  for (size_t i = first; i < epochs.size(); ++i) {
    objectives.push_back(epochs[i].objective);
    kkts.push_back(epochs[i].kkt);
  }
  const EpochPoint* last = epochs.empty() ? nullptr : &epochs.back();
  const EpochPoint* prev = Previous(record);
  if (last == nullptr) {
    lines.push_back("objective -");
    lines.push_back("KKT       -");
  } else {
    std::string objective_line = Pad(Format("objective %.10g", last->objective), 28) + " " +
                                 Arrow(prev ? prev->objective : NAN, last->objective, u) + "  " +
                                 Sparkline(objectives, false, u);
    if (std::isfinite(last->rel_subopt))
      objective_line += Format("  rel_subopt %.2e", last->rel_subopt);
    lines.push_back(objective_line);
    std::string kkt_line = Pad(Format("KKT       %.3e", last->kkt), 28) + " " +
                           Arrow(prev ? prev->kkt : NAN, last->kkt, u) + "  " +
                           Sparkline(kkts, true, u);
    if (prev != nullptr) {
      const std::string f = Factor(prev->kkt, last->kkt);
      if (!f.empty()) kkt_line += "  " + f;
    }
    lines.push_back(kkt_line);
  }

  // 5: agents, rate, model size, time
  std::string status =
      record.agents_connected() >= 0
          ? Format("agents %lld connected", static_cast<long long>(record.agents_connected()))
          : std::string("agents ?");
  status += dot + Rate(record.update_rate()) + " updates/s";
  if (last != nullptr) {
    status += dot + Format("nnz %lld", static_cast<long long>(last->nnz));
    const double seconds = pr.active && std::isfinite(pr.seconds) ? pr.seconds : last->seconds;
    status += dot + Format("%.1f s", seconds);
  }
  if (record.run() && record.run()->max_epochs > 0) {
    status += dot + Format("max %lld epochs", static_cast<long long>(record.run()->max_epochs));
  }
  lines.push_back(status);

  for (std::string& line : lines) line = CutToWidth(line, options.width);
  return lines;
}

}  // namespace edgetrain::monitor
