// What edgetrain-monitor --http serves (docs/operations.md): the live page, the run's state as
// JSON for that page (its data contract), Prometheus metrics, and a health probe; plus the log of
// recent events the page shows.
//
//   GET /             the page: one self-contained HTML document (CSS and JS inline, no other
//                     requests than /state.json); strings from the stream are only ever set as
//                     text (textContent), never as markup; a Content-Security-Policy allows its own
//                     inline style and script (by nonce) and fetches from the same origin only
//   GET /state.json   RenderStateJson
//   GET /metrics      RenderMetrics (Prometheus text exposition format 0.0.4)
//   GET /healthz      "ok": the monitor's loop is serving (it says nothing about the coordinator:
//                     see edgetrain_monitor_silence_seconds)
//
// Thread-safety: pure functions of their arguments; EventLog is a value (one thread at a time).
// Ownership: nothing retained.
#ifndef EDGETRAIN_MONITOR_WEB_VIEWS_H_
#define EDGETRAIN_MONITOR_WEB_VIEWS_H_

#include <cstdint>
#include <deque>
#include <string>

#include "http_server.h"
#include "run_record.h"

namespace edgetrain::monitor {

// The last events received (all but status and progress, which are state rather than news),
// numbered in arrival order, for the page's event log.
class EventLog {
 public:
  static constexpr size_t kCapacity = 200;
  struct Entry {
    int64_t seq = 0;  // 1, 2, ... over the monitor's life
    double time = kMissing;
    std::string event;  // the event's name, as received
    std::string text;   // a one-line description (DescribeEvent; epoch_end summarised), else
                        // the event's other fields as JSON
  };

  // Adds `event` (already folded into `record`, which DescribeEvent reads) unless it is a status
  // or a progress event.
  void Add(const Json& event, const RunRecord& record);
  const std::deque<Entry>& entries() const { return entries_; }

 private:
  std::deque<Entry> entries_;
  int64_t next_seq_ = 1;
};

// The monitor itself, as the views report it.
struct MonitorInfo {
  std::string endpoint;                     // --connect
  std::string version;                      // "edgetrain-monitor 0.1.0 (commit)"
  bool curve = false;                       // subscribed with CURVE keys
  int64_t messages = 0;                     // messages received
  int64_t refused = 0;                      // of which not strict JSON events (ParseEvent), ignored
  double seconds_since_message = kMissing;  // kMissing before the first one
  double seconds_running = 0;               // since the monitor started
};

// The page's data contract (docs/operations.md, "The page's data"): one JSON object with the
// monitor, the run's id, state, progress, ETAs, best snapshot, stop measure, settings, finish,
// the epochs (at most kMaxEpochs, the last ones), chart markers, the agents of the last status and
// the event log. Numbers that are not finite are null. Strings are the stream's, unescaped (the
// page sets them as text).
constexpr size_t kMaxStateEpochs = 5000;
std::string RenderStateJson(const RunRecord& record, const EventLog& log, const MonitorInfo& info);

// Prometheus text exposition format 0.0.4: the monitor's own counters, then (once a run id is
// known) the run's gauges and counters labelled run_id, and per agent of the last status the
// agent's, labelled run_id and agent. Unknown values have no sample. Metric names:
// docs/operations.md, "Prometheus".
std::string RenderMetrics(const RunRecord& record, const MonitorInfo& info);

// The page, with `nonce` (letters and digits) for its inline style and script.
std::string RenderPage(const std::string& nonce);

// Routes a request to the views above (404 for other paths).
HttpResponse ServeMonitor(const HttpRequest& request, const RunRecord& record, const EventLog& log,
                          const MonitorInfo& info);

}  // namespace edgetrain::monitor

#endif  // EDGETRAIN_MONITOR_WEB_VIEWS_H_
