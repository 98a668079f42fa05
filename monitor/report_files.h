// The files edgetrain-monitor writes when a run ends: the per-epoch series as CSV and a
// convergence chart as a self-contained SVG (no fonts, scripts or external references).
//
// CSV: a header line, then one row per evaluated snapshot (epoch_begin) in arrival order:
//   epoch,seconds,objective,kkt,gap_bound,rel_subopt,nnz,agents,eta,updates_per_second
// where updates_per_second comes from the matching epoch_end. Numbers are written in the
// shortest form that reads back to the same double; missing values (null in the stream, no
// epoch_end) are empty fields.
//
// SVG: a title (run id, loss, l1, l2, agents, dimension from run_started, the date, how the run
// ended), then two panels side by side with the same log10 y axis: KKT violation and
// suboptimality against the epoch (left) and against the seconds since training started (right).
// The suboptimality is rel_subopt when the run reports it, else (P - P_ref)/|P_ref| within each
// segment (set of rows), P_ref from run_finished for the last one (RunRecord::Suboptimality);
// values that are not positive are left out. Each panel is a <g class="panel"> with, per
// segment, one <polyline class="series kkt"> and one <polyline class="series subopt"> (a series
// with no plottable point has no polyline), and a <g class="baseline"> dashed line where a new
// segment starts (the rows changed).
//
// Thread-safety: pure functions of the record. Ownership: nothing retained.
#ifndef EDGETRAIN_MONITOR_REPORT_FILES_H_
#define EDGETRAIN_MONITOR_REPORT_FILES_H_

#include <string>

#include "edgetrain/status.h"
#include "run_record.h"

namespace edgetrain::monitor {

std::string RenderCsv(const RunRecord& record);
std::string RenderSvgChart(const RunRecord& record);

// "2024-05-01 12:34:56 UTC" for Unix seconds; "" for a missing time.
std::string FormatUtc(double unix_seconds);

// Render and write with WriteFileAtomically.
Status WriteCsv(const std::string& path, const RunRecord& record);
Status WriteSvgChart(const std::string& path, const RunRecord& record);

}  // namespace edgetrain::monitor

#endif  // EDGETRAIN_MONITOR_REPORT_FILES_H_
