#include "report_files.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <string_view>
#include <vector>

#include "edgetrain/file_util.h"

namespace edgetrain::monitor {
namespace {

// ---- formatting --------------------------------------------------------------------------------

std::string Format(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string Format(const char* format, ...) {
  char buffer[512];
  va_list args;
  va_start(args, format);
  const int n = std::vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  return std::string(buffer,
                     static_cast<size_t>(std::clamp(n, 0, static_cast<int>(sizeof buffer) - 1)));
}

// Shortest text that reads back to the same double; "" for NaN and infinities.
std::string CsvNumber(double v) {
  if (!std::isfinite(v)) return "";
  char buffer[64];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  return ec == std::errc() ? std::string(buffer, end) : Format("%.17g", v);
}

std::string XmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // Control characters are not allowed in XML 1.0 text.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
  return out;
}

// ---- chart geometry ----------------------------------------------------------------------------

constexpr double kWidth = 1100;
constexpr double kHeight = 480;
constexpr double kPlotTop = 92;
constexpr double kPlotHeight = 300;
constexpr double kPlotWidth = 420;
constexpr double kLeftPanelX = 95;
constexpr double kRightPanelX = 625;
constexpr double kXPad = 10;  // keeps markers off the frame
constexpr const char* kKktColor = "#1f77b4";
constexpr const char* kSuboptColor = "#d62728";
constexpr const char* kFont = "DejaVu Sans, Helvetica, Arial, sans-serif";

struct Point {
  double x, y;  // data coordinates; y > 0
  int segment;  // points of different segments (sets of rows) are not joined
};

struct Series {
  std::string css_class;
  const char* color;
  std::vector<Point> points;
};

struct PanelSpec {
  std::string id;
  double x0;
  std::string x_title;
  bool integer_x;
  std::vector<Series> series;
  std::vector<double> baselines;  // x of the epochs that start a new segment
};

// Ticks at multiples of 1, 2 or 5 x 10^k, about `target` of them, within [lo, hi].
std::vector<double> NiceTicks(double lo, double hi, int target, double min_step) {
  std::vector<double> ticks;
  const double range = hi - lo;
  if (!(range > 0) || !std::isfinite(range)) return ticks;
  const double raw = range / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  }
  step = std::max(step, min_step);
  for (double k = std::ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k += 1) {
    const double t = k * step;
    ticks.push_back(t == 0 ? 0.0 : t);  // no "-0"
  }
  return ticks;
}

std::string TickLabel(double v) {
  if (v == 0) return "0";
  const double a = std::fabs(v);
  if (a >= 1e5 || a < 1e-3) return Format("%.0e", v);
  return Format("%g", v);
}

class SvgChart {
 public:
  SvgChart(double y_lo_decade, double y_hi_decade) : y_lo_(y_lo_decade), y_hi_(y_hi_decade) {}

  double MapY(double v) const {
    return kPlotTop + kPlotHeight * (y_hi_ - std::log10(v)) / (y_hi_ - y_lo_);
  }

  void Panel(std::string* out, const PanelSpec& panel, bool have_any) const {
    const double x0 = panel.x0;
    *out += Format("<g class=\"panel\" id=\"%s\">\n", panel.id.c_str());
    *out += Format(
        "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#ffffff\" "
        "stroke=\"#444444\"/>\n",
        x0, kPlotTop, kPlotWidth, kPlotHeight);
    // x range over every series of this panel
    double x_lo = INFINITY, x_hi = -INFINITY;
    for (const Series& s : panel.series) {
      for (const Point& p : s.points) {
        x_lo = std::min(x_lo, p.x);
        x_hi = std::max(x_hi, p.x);
      }
    }
    if (!panel.integer_x) x_lo = std::min(x_lo, 0.0);  // time axis starts at 0
    if (!std::isfinite(x_lo)) {
      x_lo = 0;
      x_hi = 1;
    }
    if (!(x_hi > x_lo)) x_hi = x_lo + 1;
    auto map_x = [&](double v) {
      return x0 + kXPad + (kPlotWidth - 2 * kXPad) * (v - x_lo) / (x_hi - x_lo);
    };

    // y grid: decades, labelled; minor ticks at 2..9 when the decades are few enough
    const int decades = static_cast<int>(std::lround(y_hi_ - y_lo_));
    const int label_every = std::max(1, (decades + 7) / 8);
    for (int k = static_cast<int>(std::lround(y_lo_)); k <= static_cast<int>(std::lround(y_hi_));
         ++k) {
      const double y = MapY(std::pow(10.0, k));
      *out += Format("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#dddddd\"/>\n",
                     x0, y, x0 + kPlotWidth, y);
      if ((k - static_cast<int>(std::lround(y_lo_))) % label_every == 0) {
        *out +=
            Format("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#444444\"/>\n",
                   x0 - 5, y, x0, y);
        *out += Format(
            "<text x=\"%.2f\" y=\"%.2f\" font-size=\"12\" text-anchor=\"end\">10"
            "<tspan dy=\"-6\" font-size=\"9\">%d</tspan></text>\n",
            x0 - 8, y + 4, k);
      }
      if (decades <= 8 && k < static_cast<int>(std::lround(y_hi_))) {
        for (int m = 2; m <= 9; ++m) {
          const double ym = MapY(m * std::pow(10.0, k));
          *out +=
              Format("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#444444\"/>\n",
                     x0 - 3, ym, x0, ym);
        }
      }
    }
    // x ticks
    for (double t : NiceTicks(x_lo, x_hi, 6, panel.integer_x ? 1.0 : 0.0)) {
      const double x = map_x(t);
      *out += Format("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#eeeeee\"/>\n",
                     x, kPlotTop, x, kPlotTop + kPlotHeight);
      *out += Format("<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#444444\"/>\n",
                     x, kPlotTop + kPlotHeight, x, kPlotTop + kPlotHeight + 5);
      *out +=
          Format("<text x=\"%.2f\" y=\"%.2f\" font-size=\"12\" text-anchor=\"middle\">%s</text>\n",
                 x, kPlotTop + kPlotHeight + 19, TickLabel(t).c_str());
    }
    *out +=
        Format("<text x=\"%.2f\" y=\"%.2f\" font-size=\"13\" text-anchor=\"middle\">%s</text>\n",
               x0 + kPlotWidth / 2, kPlotTop + kPlotHeight + 40, XmlEscape(panel.x_title).c_str());
    *out += Format(
        "<text x=\"%.2f\" y=\"%.2f\" font-size=\"13\" text-anchor=\"middle\" "
        "transform=\"rotate(-90 %.2f %.2f)\">KKT violation, suboptimality (log scale)</text>\n",
        x0 - 55, kPlotTop + kPlotHeight / 2, x0 - 55, kPlotTop + kPlotHeight / 2);
    if (!have_any) {
      *out += Format(
          "<text x=\"%.2f\" y=\"%.2f\" font-size=\"14\" fill=\"#888888\" text-anchor=\"middle\">"
          "no epochs with positive values to plot</text>\n",
          x0 + kPlotWidth / 2, kPlotTop + kPlotHeight / 2);
    }
    for (double bx : panel.baselines) {
      const double x = map_x(bx);
      *out += Format(
          "<g class=\"baseline\"><line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
          "stroke=\"#7b3294\" stroke-dasharray=\"4 3\"/><text x=\"%.2f\" y=\"%.2f\" "
          "font-size=\"10\" fill=\"#7b3294\">rows changed</text></g>\n",
          x, kPlotTop, x, kPlotTop + kPlotHeight, x + 3, kPlotTop + 12);
    }
    for (const Series& s : panel.series) {
      // One polyline per segment: objectives over other rows are not joined.
      for (size_t begin = 0; begin < s.points.size();) {
        size_t end = begin;
        while (end < s.points.size() && s.points[end].segment == s.points[begin].segment) ++end;
        std::string coords;
        for (size_t i = begin; i < end; ++i) {
          if (!coords.empty()) coords += ' ';
          coords += Format("%.2f,%.2f", map_x(s.points[i].x), MapY(s.points[i].y));
        }
        *out += Format(
            "<polyline class=\"series %s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" "
            "points=\"",
            s.css_class.c_str(), s.color);
        *out += coords;
        *out += "\"/>\n";
        begin = end;
      }
      if (!s.points.empty() && s.points.size() <= 200) {  // markers while they stay readable
        *out += Format("<g class=\"markers %s\" fill=\"%s\">\n", s.css_class.c_str(), s.color);
        for (const Point& p : s.points) {
          *out += Format("<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2.6\"/>\n", map_x(p.x), MapY(p.y));
        }
        *out += "</g>\n";
      }
    }
    *out += "</g>\n";
  }

 private:
  double y_lo_, y_hi_;
};

std::string TitleLine(const RunRecord& record) {
  const std::string id = record.run_id().empty() ? std::string() : " " + record.run_id();
  if (!record.run()) return "edgetrain run" + id + " (its settings did not reach this monitor)";
  const RunInfo& r = *record.run();
  std::string title =
      "edgetrain run" + id + ": " + (r.loss.empty() ? std::string("?") : r.loss) + " loss";
  title += Format(", l1 = %g, l2 = %g", r.l1, r.l2);
  if (r.intercept) title += ", intercept";
  title += Format(", %lld agent%s, dimension %lld", static_cast<long long>(r.agents),
                  r.agents == 1 ? "" : "s", static_cast<long long>(r.dimension));
  return title;
}

std::string SubtitleLine(const RunRecord& record) {
  std::string line;
  if (record.run() && std::isfinite(record.run()->time)) {
    line = "started " + FormatUtc(record.run()->time);
  } else if (std::isfinite(record.first_event_time())) {
    line = "first event seen " + FormatUtc(record.first_event_time());
  }
  if (!line.empty()) line += "  \xC2\xB7  ";  // U+00B7 middle dot
  if (const auto& f = record.finish(); f && !f->evaluated) {
    line += Format("stopped (%s) before any epoch was evaluated: no model", f->reason.c_str());
  } else if (f) {
    line += Format("stopped (%s) at epoch %lld after %.1f s: objective %.10g, KKT %.3g",
                   f->reason.c_str(), static_cast<long long>(f->epoch), f->seconds, f->objective,
                   f->kkt);
  } else {
    line += Format("run not finished when the monitor stopped (%zu epochs seen)",
                   record.epochs().size());
  }
  return line;
}

}  // namespace

std::string FormatUtc(double unix_seconds) {
  if (!std::isfinite(unix_seconds)) return "";
  const std::time_t t = static_cast<std::time_t>(std::floor(unix_seconds));
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return "";
  char buffer[64];
  const size_t n = std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return std::string(buffer, n);
}

std::string RenderCsv(const RunRecord& record) {
  std::string out =
      "epoch,seconds,objective,kkt,gap_bound,rel_subopt,nnz,agents,eta,updates_per_second\n";
  for (const EpochPoint& p : record.epochs()) {
    out += std::to_string(p.epoch) + ',' + CsvNumber(p.seconds) + ',' + CsvNumber(p.objective) +
           ',' + CsvNumber(p.kkt) + ',' + CsvNumber(p.gap_bound) + ',' + CsvNumber(p.rel_subopt) +
           ',' + std::to_string(p.nnz) + ',' + std::to_string(p.agents) + ',' + CsvNumber(p.eta) +
           ',' + CsvNumber(p.updates_per_second) + '\n';
  }
  return out;
}

std::string RenderSvgChart(const RunRecord& record) {
  const bool reference = record.HasReferenceObjective();
  Series kkt_by_epoch{"kkt", kKktColor, {}}, subopt_by_epoch{"subopt", kSuboptColor, {}};
  Series kkt_by_time{"kkt", kKktColor, {}}, subopt_by_time{"subopt", kSuboptColor, {}};
  std::vector<double> baselines_by_epoch, baselines_by_time;
  double y_min = INFINITY, y_max = -INFINITY;
  auto plottable = [](double v) { return std::isfinite(v) && v > 0; };
  for (const EpochPoint& p : record.epochs()) {
    const double subopt = record.Suboptimality(p);
    const double x = static_cast<double>(p.epoch);
    if (plottable(p.kkt)) {
      kkt_by_epoch.points.push_back({x, p.kkt, p.segment});
      if (std::isfinite(p.seconds)) kkt_by_time.points.push_back({p.seconds, p.kkt, p.segment});
    }
    if (plottable(subopt)) {
      subopt_by_epoch.points.push_back({x, subopt, p.segment});
      if (std::isfinite(p.seconds)) subopt_by_time.points.push_back({p.seconds, subopt, p.segment});
    }
    if (p.segment > 0 && p.verdict == "baseline") {
      baselines_by_epoch.push_back(x);
      if (std::isfinite(p.seconds)) baselines_by_time.push_back(p.seconds);
    }
    for (double v : {p.kkt, subopt}) {
      if (plottable(v)) {
        y_min = std::min(y_min, v);
        y_max = std::max(y_max, v);
      }
    }
  }
  const bool have_any = std::isfinite(y_min);
  double y_lo = have_any ? std::floor(std::log10(y_min)) : -3;
  double y_hi = have_any ? std::ceil(std::log10(y_max)) : 0;
  if (!(y_hi > y_lo)) y_hi = y_lo + 1;

  std::string out;
  out += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += Format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f "
      "%.0f\" "
      "font-family=\"%s\">\n",
      kWidth, kHeight, kWidth, kHeight, kFont);
  out += "<title>" + XmlEscape(TitleLine(record)) + "</title>\n";
  out += Format("<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", kWidth,
                kHeight);
  out += Format(
      "<text x=\"%.2f\" y=\"28\" font-size=\"17\" font-weight=\"bold\" "
      "text-anchor=\"middle\">%s</text>\n",
      kWidth / 2, XmlEscape(TitleLine(record)).c_str());
  out += Format(
      "<text x=\"%.2f\" y=\"50\" font-size=\"12\" fill=\"#555555\" "
      "text-anchor=\"middle\">%s</text>\n",
      kWidth / 2, XmlEscape(SubtitleLine(record)).c_str());
  out += Format(
      "<text x=\"%.2f\" y=\"%.2f\" font-size=\"13\" text-anchor=\"middle\">by epoch</text>\n",
      kLeftPanelX + kPlotWidth / 2, kPlotTop - 8);
  out +=
      Format("<text x=\"%.2f\" y=\"%.2f\" font-size=\"13\" text-anchor=\"middle\">by time</text>\n",
             kRightPanelX + kPlotWidth / 2, kPlotTop - 8);

  SvgChart chart(y_lo, y_hi);
  chart.Panel(&out,
              {"panel-epoch",
               kLeftPanelX,
               "epoch",
               true,
               {kkt_by_epoch, subopt_by_epoch},
               baselines_by_epoch},
              have_any);
  chart.Panel(&out,
              {"panel-time",
               kRightPanelX,
               "seconds since training started",
               false,
               {kkt_by_time, subopt_by_time},
               baselines_by_time},
              have_any);

  // legend, centred under the panels
  std::string subopt_label;
  if (reference) {
    subopt_label = "relative suboptimality (P - P*)/|P*|";
  } else if (record.finished()) {
    subopt_label = "suboptimality (P - P_final)/|P_final|, P_final from run_finished";
  } else {
    subopt_label = "suboptimality (P - P_best)/|P_best|, P_best the lowest objective seen";
  }
  if (!baselines_by_epoch.empty()) subopt_label += ", within each set of rows";
  const double legend_y = kHeight - 22;
  constexpr double kCharWidth = 7.2;  // about, for 13 px text
  const double first_width = 36 + kCharWidth * 13 + 40;
  const double legend_x =
      kWidth / 2 - (first_width + 36 + kCharWidth * static_cast<double>(subopt_label.size())) / 2;
  out += "<g class=\"legend\" font-size=\"13\">\n";
  out += Format(
      "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" stroke-width=\"2\"/>"
      "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\"/>\n",
      legend_x, legend_y - 4, legend_x + 28, legend_y - 4, kKktColor, legend_x + 14, legend_y - 4,
      kKktColor);
  out += Format("<text x=\"%.2f\" y=\"%.2f\">KKT violation</text>\n", legend_x + 36, legend_y);
  const double second_x = legend_x + first_width;
  out += Format(
      "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" stroke-width=\"2\"/>"
      "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\"/>\n",
      second_x, legend_y - 4, second_x + 28, legend_y - 4, kSuboptColor, second_x + 14,
      legend_y - 4, kSuboptColor);
  out += Format("<text x=\"%.2f\" y=\"%.2f\">%s</text>\n", second_x + 36, legend_y,
                XmlEscape(subopt_label).c_str());
  out += "</g>\n</svg>\n";
  return out;
}

Status WriteCsv(const std::string& path, const RunRecord& record) {
  return WriteFileAtomically(path, RenderCsv(record));
}

Status WriteSvgChart(const std::string& path, const RunRecord& record) {
  return WriteFileAtomically(path, RenderSvgChart(record));
}

}  // namespace edgetrain::monitor
