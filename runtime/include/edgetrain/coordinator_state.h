// CoordinatorState: the coordinator's side of DAP-SVRG, socket-free.
//
// It owns the model x and only ever adds to it. Epoch life cycle:
//   BeginEpoch()            x~ := x, epoch++, the gradient sum is zeroed      (phase kGradient)
//   AddGradSum(G_k, ...)    once per agent taking part
//   FinishGradientPhase(m)  mu~ = (sum_k G_k) / n; P(x~) and the KKT violation at x~ come
//                           for free from mu~                                 (phase kInner)
//   ApplyUpdate(Delta, ...) x += Delta, version++ — refused if it belongs to another epoch or
//                           is staler than the bound; the epoch's inner phase ends after m
//                           applied updates. Guarded entries (see ModelUpdate) move their
//                           coordinate toward zero by at most their size, never past it; the
//                           entries of a stale update stop at zero rather than cross it.
// The only O(nnz(Delta)) work per update is the add (plus keeping the support list of x, so the
// model can travel sparse, and a log of the coordinates each update changed, so an agent can be
// answered with only what changed since the version it computed at: ChangesSince). Objective and
// KKT are O(p) once per epoch. No allocation after construction.
//
// Thread-safety: none; the coordinator's event loop owns it. Ownership: owns all vectors.
#ifndef EDGETRAIN_COORDINATOR_STATE_H_
#define EDGETRAIN_COORDINATOR_STATE_H_

#include <array>
#include <cstdint>
#include <limits>
#include <vector>

#include "edgetrain/problem.h"
#include "edgetrain/sparse_vector.h"
#include "edgetrain/status.h"
#include "edgetrain/svrg_worker.h"

namespace edgetrain {

// What the epoch's snapshot looked like.
struct SnapshotReport {
  int64_t epoch = 0;
  double objective = 0;  // P(x~)
  double kkt = 0;        // KKT violation at x~ (infinity norm)
  double gap_bound = 0;  // certified bound on P(x~) - P* (NaN without l2 > 0)
  int64_t nnz = 0;       // non-zero weights of x~ (intercept not counted)
  int64_t rows = 0;      // rows that contributed to mu~
  double loss_sum = 0;
};

enum class UpdateVerdict : uint8_t {
  kApplied = 0,
  kWrongEpoch,
  kTooStale,
  kFutureVersion,
  kWrongPhase,
  kWrongDimension
};
const char* UpdateVerdictName(UpdateVerdict verdict);

class CoordinatorState {
 public:
  enum class Phase : uint8_t { kIdle, kGradient, kInner };
  // Staleness histogram buckets: 0, 1, 2, 3-4, 5-8, 9-16, 17-32, >32.
  static constexpr int kStalenessBuckets = 8;
  static int StalenessBucket(int64_t staleness);

  // The model starts at the point of the box closest to zero (zero without a box).
  CoordinatorState(const ProblemSpec& spec, int32_t dim);

  const ProblemSpec& spec() const { return spec_; }
  int32_t dim() const { return dim_; }
  int64_t model_size() const { return p_; }
  const std::vector<double>& x() const { return x_; }
  const std::vector<int32_t>& support() const { return support_; }  // non-zeros of x, any order
  int64_t version() const { return version_; }
  int64_t epoch() const { return epoch_; }
  Phase phase() const { return phase_; }
  // x with its support, for a worker in the same process (serial mode).
  ModelView View() const {
    return {x_.data(), p_, support_.data(), static_cast<int64_t>(support_.size()), false};
  }

  void BeginEpoch();
  const std::vector<double>& snapshot() const { return snapshot_; }
  int64_t snapshot_version() const { return snapshot_version_; }

  // REQUIRES: phase() == kGradient; g.dim == p; values finite.
  void AddGradSum(const VectorView& g, double loss_sum, int64_t rows);
  int64_t gradient_rows() const { return grad_rows_; }

  // REQUIRES: phase() == kGradient and gradient_rows() > 0.
  SnapshotReport FinishGradientPhase(int64_t inner_steps);
  const std::vector<double>& mu() const { return mu_; }
  int64_t inner_steps() const { return inner_steps_; }
  int64_t applied_in_epoch() const { return applied_in_epoch_; }
  bool InnerPhaseDone() const {
    return phase_ == Phase::kInner && applied_in_epoch_ >= inner_steps_;
  }

  // Applies x += delta and the guarded entries (toward zero, never past it; exact adds when the
  // problem has a box, whose updates are fresh) when the update belongs to this epoch's inner
  // phase and version - base_version <= max_staleness. REQUIRES: values finite and indices < p
  // (the wire decoder checks both); guarded.dim == delta.dim (an empty view is fine).
  UpdateVerdict ApplyUpdate(const VectorView& delta, const VectorView& guarded, int64_t epoch,
                            int64_t base_version, int64_t max_staleness);
  // Whether the last applied update changed x exactly as x_j + Delta_j for every entry (no guarded
  // entry refused or clipped, no stale entry stopped at zero): an agent holding x at the update's
  // base version can then apply its own Delta itself.
  bool last_update_exact() const { return last_exact_; }

  // The coordinates that changed after version `since`, leaving out those changed only by the
  // update that made version `skip_version` (-1: none skipped), each once, in *out. False when the
  // log no longer covers `since` (too old, or x was replaced by a rollback or Restore) or the set
  // would not be smaller than the model: then the whole model must be sent.
  // REQUIRES: since <= version().
  bool ChangesSince(int64_t since, int64_t skip_version, std::vector<int32_t>* out);

  // Guarded entries not applied because their coordinate was already zero or on the other side
  // of zero, and those cut short at zero.
  int64_t guarded_refused() const { return guarded_refused_; }
  int64_t guarded_clipped() const { return guarded_clipped_; }
  // Entries of stale updates stopped at zero instead of crossing it.
  int64_t crossings_stopped() const { return crossings_stopped_; }

  // Counters since construction.
  int64_t applied_total() const { return applied_total_; }
  const std::array<int64_t, kStalenessBuckets>& staleness_histogram() const {
    return staleness_hist_;
  }
  void ResetEpochCounters() { staleness_hist_.fill(0); }

  // The divergence safeguard, judged once per epoch right after FinishGradientPhase:
  //   kBest        the snapshot is the best so far (it is remembered) — or the first over a new
  //                set of rows (agents joined or left: P changed, the old best is forgotten);
  //   kProbation   worse than the best (beyond rounding) for the first time in a row: training
  //                goes on from it, since SVRG's first epoch from far away often overshoots;
  //   kRolledBack  worse twice in a row, or not finite: x returns to the best snapshot (phase
  //                kIdle); the caller halves the step and begins a new epoch.
  enum class SnapshotVerdict : uint8_t { kBest, kProbation, kRolledBack };
  // REQUIRES: phase() == kInner.
  SnapshotVerdict JudgeSnapshot(const SnapshotReport& report);
  const std::vector<double>& best_snapshot() const { return best_; }
  double best_objective() const { return best_objective_; }
  int64_t best_rows() const { return best_rows_; }
  int64_t rollbacks() const { return rollbacks_; }

  // Moves x to a point computed outside the inner loop (a Newton step on the support) as one new
  // version; the best snapshot stays, so the next epoch's snapshot is judged against it.
  // REQUIRES: x.size() == p. Leaves phase kIdle.
  void JumpTo(const std::vector<double>& x);
  // Returns x to the best snapshot as one new version, without counting a rollback (a Newton
  // step that did not lower P is simply not taken). Leaves phase kIdle.
  void RevertToBest();

  // Replaces the model (resuming from a checkpoint). REQUIRES: x.size() == p.
  void Restore(const std::vector<double>& x, int64_t version, int64_t epoch);

 private:
  void AddTo(int32_t j, double v) {
    const double before = x_[j];
    const double after = before + v;
    x_[j] = after;
    if (after != before) log_index_[static_cast<size_t>(log_head_++ & log_mask_)] = j;
    if (before == 0.0 && after != 0.0) {
      pos_[j] = static_cast<int32_t>(support_.size());
      support_.push_back(j);
    } else if (before != 0.0 && after == 0.0) {
      const int32_t at = pos_[j];
      const int32_t last = support_.back();
      support_[at] = last;
      pos_[last] = at;
      support_.pop_back();
      pos_[j] = -1;
    }
  }
  void RebuildSupport();
  // x_[j] went from `before` to a value on the other side of "zero or not": updates the support
  // list.
  void SupportChanged(int32_t j, double before);
  // x was replaced wholesale: no incremental answer can reach back before the current version.
  void ForgetChanges() { log_floor_ = version_; }

  ProblemSpec spec_;
  int32_t dim_;
  int64_t p_;
  std::vector<double> x_;
  std::vector<double> snapshot_;
  std::vector<double> grad_sum_;
  std::vector<double> mu_;
  std::vector<double> best_;  // the snapshot with the lowest objective so far
  double best_objective_ = std::numeric_limits<double>::infinity();
  int64_t best_rows_ = -1;  // rows behind best_objective_
  int64_t rollbacks_ = 0;
  int worse_streak_ = 0;
  std::vector<int32_t> support_;
  std::vector<int32_t> pos_;
  double loss_sum_ = 0;
  int64_t grad_rows_ = 0;
  int64_t version_ = 0;
  int64_t snapshot_version_ = 0;
  int64_t epoch_ = 0;
  Phase phase_ = Phase::kIdle;
  int64_t inner_steps_ = 0;
  int64_t applied_in_epoch_ = 0;
  int64_t applied_total_ = 0;
  int64_t guarded_refused_ = 0;
  int64_t guarded_clipped_ = 0;
  int64_t crossings_stopped_ = 0;
  std::array<int64_t, kStalenessBuckets> staleness_hist_{};

  // The change log: a ring of coordinate indices (log_capacity_ entries, a power of two above two
  // dense updates) and, per version v, where the entries of the update that made v start and end.
  struct LogRecord {
    int64_t version = -1;
    int64_t begin = 0, end = 0;  // positions in the unbounded sequence of log entries
    bool dense = false;          // a dense update: every coordinate may have changed
  };
  static constexpr int64_t kLogRecords = 4096;
  int64_t log_capacity_ = 0;
  int64_t log_mask_ = 0;  // log_capacity_ - 1
  std::vector<int32_t> log_index_;
  std::vector<LogRecord> log_records_;  // version v at v % kLogRecords
  int64_t log_head_ = 0;
  int64_t log_floor_ = 0;       // changes after this version are all in the log
  std::vector<uint32_t> mark_;  // p, for ChangesSince's de-duplication
  uint32_t mark_stamp_ = 0;
  bool last_exact_ = false;
};

}  // namespace edgetrain

#endif  // EDGETRAIN_COORDINATOR_STATE_H_
