// Text for edgetrain-monitor's terminal output, kept apart from the terminal itself so it can be
// tested: one plain line per noteworthy event (for logs and pipes), and the lines of the live
// view that main.cc redraws in place on a TTY.
//
// Thread-safety: pure functions. Ownership: nothing retained.
#ifndef EDGETRAIN_MONITOR_TERMINAL_VIEW_H_
#define EDGETRAIN_MONITOR_TERMINAL_VIEW_H_

#include <optional>
#include <string>
#include <vector>

#include "edgetrain/json.h"
#include "run_record.h"

namespace edgetrain::monitor {

// One line (no newline, ASCII apart from strings from the stream) for run_started,
// waiting_for_agents, run_finished, epoch_begin and every topic-"agent" event; nullopt for the
// rest (progress, epoch_end, unknown events). `record` is the record after consuming `event`
// (epoch_begin lines show the change from the previous epoch).
std::optional<std::string> DescribeEvent(const JsonValue& event, const RunRecord& record);

struct LiveViewOptions {
  int width = 80;         // terminal columns; every line is cut to this many characters
  bool unicode = true;    // block characters and arrows; false: ASCII only
  std::string endpoint;   // shown in the header line
  int trend_epochs = 16;  // epochs in the sparklines
};

// The live view: header, progress bar of the inner phase, objective and KKT with trend arrows
// and sparklines, agents connected and update rate. Always the same number of lines (5).
std::vector<std::string> RenderLiveView(const RunRecord& record, const LiveViewOptions& options);

// One character per value, scaled between the values' minimum and maximum (log10 scale when
// `log_scale`; values that are not finite, or not positive on a log scale, show as a space).
std::string Sparkline(const std::vector<double>& values, bool log_scale, bool unicode);

// Cuts `line` to `width` characters (UTF-8 code points).
std::string CutToWidth(const std::string& line, int width);

}  // namespace edgetrain::monitor

#endif  // EDGETRAIN_MONITOR_TERMINAL_VIEW_H_
