// Text for edgetrain-monitor's terminal output, kept apart from the terminal itself so it can be
// tested: one plain line per noteworthy event (for logs and pipes), and the lines of the live
// view that main.cc redraws in place on a TTY. Every string from the stream goes through
// edgetrain::Printable: no event can forge a line or drive the terminal.
//
// Thread-safety: pure functions. Ownership: nothing retained.
#ifndef EDGETRAIN_MONITOR_TERMINAL_VIEW_H_
#define EDGETRAIN_MONITOR_TERMINAL_VIEW_H_

#include <optional>
#include <string>
#include <vector>

#include "event_json.h"
#include "run_record.h"

namespace edgetrain::monitor {

// One line (no newline, ASCII apart from strings from the stream) for run_started,
// waiting_for_agents, run_finished, epoch_begin, the Newton events, every topic-"agent" event,
// and a status that changed the state (RunRecord::status_news); nullopt for the rest (progress,
// epoch_end, periodic status, unknown events). `record` is the record after consuming `event`
// (epoch_begin lines show the change from the previous epoch of the same segment).
std::optional<std::string> DescribeEvent(const Json& event, const RunRecord& record);

// Where the run is, in words: "waiting for agents (1 of 2 connected)", "running epoch 5
// (inner phase)", "stopping (tol): waiting for the agents' goodbyes", "finished (tol) at epoch 7
// after 6.3 s", "finished (interrupted) before any epoch was evaluated: no model", ...
std::string StateSummary(const RunRecord& record);

// "0.04 s", "4.2 s", "42 s", "3 min 05 s", "2 h 05 min", "3 d 04 h"; "?" when not finite or
// negative.
std::string FormatDuration(double seconds);

struct LiveViewOptions {
  int width = 80;           // terminal columns; every line is cut to this many characters
  bool unicode = true;      // block characters and arrows; false: ASCII only
  std::string endpoint;     // shown in the header line
  int trend_epochs = 16;    // epochs in the sparklines
  int max_agent_rows = 12;  // rows of the per-agent table; more agents are summarised in one line
};

// The live view: header (endpoint, run id, settings), the state with the progress bar of the
// inner phase, the objective and the stop measure with trend arrows and sparklines (over the
// current segment), agents, update rate and ETAs, then the per-agent table of the last status.
// Five lines, plus the table (a header and one line per agent) once a status listed agents.
std::vector<std::string> RenderLiveView(const RunRecord& record, const LiveViewOptions& options);

// The per-agent table of the last status: a header line and one line per agent (agent, address,
// version, role, rows, updates applied and refused, mean staleness, seconds since heard, gradient
// timeouts); at most `max_rows` agents, then one line saying how many more. Empty without a
// status listing agents.
std::vector<std::string> RenderAgentTable(const RunRecord& record, int max_rows);

// One character per value, scaled between the values' minimum and maximum (log10 scale when
// `log_scale`; values that are not finite, or not positive on a log scale, show as a space).
std::string Sparkline(const std::vector<double>& values, bool log_scale, bool unicode);

// Cuts `line` to `width` characters (UTF-8 code points).
std::string CutToWidth(const std::string& line, int width);

}  // namespace edgetrain::monitor

#endif  // EDGETRAIN_MONITOR_TERMINAL_VIEW_H_
