// CoordinatorState: the model side of DAP-SVRG, socket-free: what the coordinator keeps (and
// train-local, which is the same algorithm with one worker in the process).
//
// It owns the model x and, per update, only ever adds to it. Epoch life cycle (phase()):
//   BeginEpoch()             x~ := x, epoch++, the gradient sums are zeroed        (kGradient)
//   AddGradSum(part)         once per agent taking part: G_k, its loss sum, rows and its part
//                            of the duality certificate (duality.h)
//   FinishGradientPhase()    mu~ = (sum_k G_k) / n; P(x~), the KKT violation and the certified
//                            duality gap at x~ come for free from the sums             (kIdle)
//   -- the EpochPolicy decides; the caller keeps x~ as the best (KeepSnapshotAsBest), returns
//      to the best (RevertToBest), jumps to a Newton trial point (JumpTo), or begins: --
//   BeginCurvaturePhase(S)   a Newton epoch: the Hessian blocks of the agents' rows on S are
//   AddCurvature(block)      added up; NewtonDirection() solves the |S| x |S| system  (kCurvature)
//   BeginInnerPhase(m)       an inner loop of m applied updates:                        (kInner)
//   ApplyUpdate(Delta, ...)  x += Delta, version++ -- refused if it belongs to another epoch, is
//                            staler than the bound, or would make x non-finite; the phase ends
//                            after m applied updates (InnerPhaseDone). Guarded entries (see
//                            ModelUpdate) move their coordinate toward zero by at most their
//                            size, never past it; the entries of a stale update stop at zero
//                            rather than cross it.
// The only O(nnz(Delta)) work per update is the add (plus keeping the support list of x, so the
// model can travel sparse, and a log of the coordinates each update changed, so an agent can be
// answered with only what changed since the version it computed at: ChangesSince). Objective,
// KKT and the gap are O(p) once per epoch. No allocation in ApplyUpdate and ChangesSince.
//
// Thread-safety: none; the coordinator's driver owns it. Ownership: owns all vectors.
#ifndef EDGETRAIN_COORDINATOR_STATE_H_
#define EDGETRAIN_COORDINATOR_STATE_H_

#include <array>
#include <cstdint>
#include <limits>
#include <vector>

#include "edgetrain/duality.h"
#include "edgetrain/epoch_policy.h"
#include "edgetrain/problem.h"
#include "edgetrain/sparse_vector.h"
#include "edgetrain/status.h"
#include "edgetrain/support_newton.h"
#include "edgetrain/svrg_worker.h"

namespace edgetrain {

// One gradient pass at the snapshot over some rows (an agent's shard, or all rows in train-local).
struct GradientPart {
  VectorView grad;      // sum_i phi'(z_i) [a_i; 1], p entries
  double loss_sum = 0;  // sum_i phi(z_i)
  int64_t rows = 0;
  DualScalars dual;       // the certificate's scalar sums (duality.h)
  VectorView aux;         // DualSums::aux (intercept only; empty otherwise)
  bool certified = true;  // false: the sender has no certificate sums (the gap is then NaN)
  bool diverged = false;  // the pass was not finite: P(x~) is taken as infinite
};

enum class UpdateVerdict : uint8_t {
  kApplied = 0,
  kWrongEpoch,
  kTooStale,
  kFutureVersion,
  kWrongPhase,
  kWrongDimension,
  kNonFinite
};
const char* UpdateVerdictName(UpdateVerdict verdict);

class CoordinatorState {
 public:
  enum class Phase : uint8_t { kIdle, kGradient, kCurvature, kInner };
  // Staleness histogram buckets: 0, 1, 2, 3-4, 5-8, 9-16, 17-32, >32.
  static constexpr int kStalenessBuckets = 8;
  static int StalenessBucket(int64_t staleness);

  // The model starts at the point of the box closest to zero (zero without a box). With a
  // preconditioner (spec.scales) x is in the solver's coordinates throughout: the agents' shards
  // are scaled with the same scales, and the model written is ModelToUser(spec, best_snapshot()).
  // The objective, KKT violation and gap in the reports are the user's (problem.h).
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

  // ---- the gradient phase
  void BeginEpoch();
  const std::vector<double>& snapshot() const { return snapshot_; }
  int64_t snapshot_version() const { return snapshot_version_; }
  // REQUIRES: phase() == kGradient; part.grad.dim == p (part.aux too, with an intercept); values
  // finite.
  void AddGradSum(const GradientPart& part);
  // A part without the certificate's sums (the snapshot's gap is then NaN).
  void AddGradSum(const VectorView& grad, double loss_sum, int64_t rows) {
    GradientPart part;
    part.grad = grad;
    part.loss_sum = loss_sum;
    part.rows = rows;
    part.certified = false;
    AddGradSum(part);
  }
  int64_t gradient_rows() const { return grad_rows_; }
  // REQUIRES: phase() == kGradient and gradient_rows() > 0. Leaves phase kIdle.
  SnapshotReport FinishGradientPhase();
  const std::vector<double>& mu() const { return mu_; }

  // ---- between phases (the policy's decision)
  // Remembers the snapshot just reported as the best (its vector; the policy keeps its numbers).
  void KeepSnapshotAsBest() { best_ = snapshot_; }
  const std::vector<double>& best_snapshot() const { return best_; }
  // Moves x to a point computed outside the inner loop (a Newton trial point) as one new version.
  // REQUIRES: x.size() == p. Leaves phase kIdle.
  void JumpTo(const std::vector<double>& x);
  // Returns x to the best snapshot as one new version (a rollback, or a rejected Newton step).
  void RevertToBest() { JumpTo(best_); }
  // Replaces the model (resuming from a checkpoint); the best snapshot becomes x.
  // REQUIRES: x.size() == p.
  void Restore(const std::vector<double>& x, int64_t version, int64_t epoch);

  // ---- the curvature phase (a Newton epoch)
  // REQUIRES: phase() == kIdle after FinishGradientPhase; S non-empty, indices < p.
  void BeginCurvaturePhase(NewtonSupport s);
  const NewtonSupport& newton_support() const { return support_s_; }
  // Adds one agent's Hessian block on S (|S|(|S|+1)/2 packed doubles, support_newton.h) of `rows`
  // rows. REQUIRES: phase() == kCurvature.
  void AddCurvature(const double* packed, int64_t rows);
  int64_t curvature_rows() const { return curvature_rows_; }
  int64_t hessian_bytes() const {
    return static_cast<int64_t>(hessian_sum_.size() * sizeof(double));
  }
  // The proximal Newton direction on S from the summed blocks (ProxNewtonDirection). False when
  // the blocks do not cover exactly the rows behind mu~ or no descent direction exists. Leaves
  // phase kIdle.
  bool NewtonDirection(std::vector<double>* direction, double* decrease, int* sweeps);
  // A Newton epoch without a curvature phase (EpochDecision::reuse_curvature): the last complete
  // block, restricted to S, stands for the new one; NewtonDirection follows as after the phase.
  // False (nothing changes) when no complete block over the rows behind mu~ is kept or S has a
  // coordinate outside its support. REQUIRES: phase() == kIdle after FinishGradientPhase; S
  // non-empty, increasing.
  bool ReuseCurvature(NewtonSupport s);

  // ---- the inner phase
  // REQUIRES: phase() == kIdle after FinishGradientPhase; inner_steps > 0.
  void BeginInnerPhase(int64_t inner_steps);
  int64_t inner_steps() const { return inner_steps_; }
  int64_t applied_in_epoch() const { return applied_in_epoch_; }  // inner steps, not updates
  int64_t updates_in_epoch() const { return updates_in_epoch_; }  // Updates applied
  bool InnerPhaseDone() const {
    return phase_ == Phase::kInner && applied_in_epoch_ >= inner_steps_;
  }

  // Applies x += delta and the guarded entries (toward zero, never past it; exact adds when the
  // problem has a box, whose updates are fresh) when the update belongs to this epoch's inner
  // phase, its staleness (the versions since base_version made by other owners) is at most
  // max_staleness and every result is finite (kNonFinite
  // otherwise: nothing is applied). The update counts `steps` inner steps towards the phase's m
  // (an agent sends the sum of several steps in one update); `owner` tags its entries in the
  // change log (ChangesFor). REQUIRES: values finite and indices < p, no index twice (the wire
  // decoder checks all three); guarded.dim == delta.dim (an empty view is fine); steps >= 1.
  // `scale` (0 < scale <= 1) damps the update: scale * Delta is applied (guarded entries move
  // toward zero by at most scale |Delta_j|); see UpdateAnswerer.
  UpdateVerdict ApplyUpdate(const VectorView& delta, const VectorView& guarded, int64_t epoch,
                            int64_t base_version, int64_t max_staleness, uint64_t owner = 0,
                            int64_t steps = 1, double scale = 1.0);
  // The staleness of an update from `owner` computed at `since`: the versions in (since,
  // version()] made by updates of other owners (all of them for owner 0, or when the log no
  // longer says).
  int64_t ForeignVersions(int64_t since, uint64_t owner) const;
  // The inner steps those versions summed (their updates' `steps`) and how many distinct other
  // owners made them (counted up to 64); -1 steps when the log no longer says.
  struct Foreign {
    int64_t steps = 0;
    int owners = 0;
  };
  Foreign ForeignSteps(int64_t since, uint64_t owner) const;
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

  // Calls add(j, change) for every change the updates of versions (since, version()] made, except
  // those of the updates `owner` sent (the agent holds its own changes already), summing nothing:
  // a coordinate may come several times. Returns the number of entries, or -1 when the log does
  // not cover the range (too old, another owner's dense update in it, x replaced by a rollback) or
  // holds more than max_entries of them: then the whole model must be sent instead.
  // REQUIRES: since <= version().
  template <typename Add>
  int64_t ChangesFor(uint64_t owner, int64_t since, int64_t max_entries, Add&& add) const {
    if (since < log_floor_ || version_ - since > kLogRecords) return -1;
    int64_t total = 0;
    for (int64_t v = since + 1; v <= version_; ++v) {
      const LogRecord& r = log_records_[static_cast<size_t>(v % kLogRecords)];
      if (r.version != v) return -1;
      if (owner != 0 && r.owner == owner) continue;  // its own, dense or not: not read
      if (r.begin < log_head_ - log_capacity_ || r.dense) return -1;
      total += r.end - r.begin;
    }
    if (total > max_entries) return -1;
    for (int64_t v = since + 1; v <= version_; ++v) {
      const LogRecord& r = log_records_[static_cast<size_t>(v % kLogRecords)];
      if (r.owner == owner) continue;
      for (int64_t k = r.begin; k < r.end; ++k) {
        const size_t at = static_cast<size_t>(k & log_mask_);
        add(log_index_[at], log_value_[at]);
      }
    }
    return total;
  }
  // Calls add(j, change) for the changes the last applied update made (after - before).
  // REQUIRES: an update was applied since the last rollback, Restore or JumpTo.
  template <typename Add>
  void LastUpdateChanges(Add&& add) const {
    const LogRecord& r = log_records_[static_cast<size_t>(version_ % kLogRecords)];
    for (int64_t k = r.begin; k < r.end; ++k) {
      const size_t at = static_cast<size_t>(k & log_mask_);
      add(log_index_[at], log_value_[at]);
    }
  }

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

 private:
  void AddTo(int32_t j, double v) {
    const double before = x_[j];
    const double after = before + v;
    x_[j] = after;
    if (after != before) {
      const size_t at = static_cast<size_t>(log_head_++ & log_mask_);
      log_index_[at] = j;
      log_value_[at] = after - before;
    }
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
  bool AddStaysFinite(const VectorView& delta) const;
  // x += scale * v for a dense Delta (p entries) in one pass into spare_, stopping entries at zero
  // when stop_at_zero (counted; *exact cleared); spare_ becomes x only when every sum is finite.
  // False (x unchanged) otherwise. No log entries: the update's record is dense.
  bool AddDense(const double* v, double scale, bool stop_at_zero, bool* exact);

  // x_[j] went from `before` to a value on the other side of "zero or not": updates the support
  // list.
  void SupportChanged(int32_t j, double before);
  // x was replaced wholesale: no incremental answer can reach back before the current version.
  void ForgetChanges() { log_floor_ = version_; }

  ProblemSpec spec_;
  int32_t dim_;
  int64_t p_;
  std::vector<double> x_;
  std::vector<double> spare_;  // a dense update's sums, swapped with x_ (allocated at the first)
  std::vector<double> snapshot_;
  std::vector<double> grad_sum_;
  std::vector<double> mu_;
  std::vector<double> best_;   // the snapshot the policy judged best
  DualSums dual_;              // the certificate's sums over the gradient phase
  bool dual_complete_ = true;  // every part carried them
  bool diverged_ = false;      // a part's pass was not finite
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
  int64_t updates_in_epoch_ = 0;
  int64_t guarded_refused_ = 0;
  int64_t guarded_clipped_ = 0;
  int64_t crossings_stopped_ = 0;
  std::array<int64_t, kStalenessBuckets> staleness_hist_{};
  // The curvature phase.
  NewtonSupport support_s_;
  std::vector<double> hessian_sum_;  // packed lower triangle, |S|(|S|+1)/2
  int64_t curvature_rows_ = 0;
  bool curvature_complete_ = false;  // the block holds every row behind its gradient

  // The change log: a ring of coordinate indices (log_capacity_ entries, a power of two above two
  // dense updates) and, per version v, where the entries of the update that made v start and end.
  struct LogRecord {
    int64_t version = -1;
    int64_t begin = 0, end = 0;  // positions in the unbounded sequence of log entries
    bool dense = false;          // a dense update: every coordinate may have changed
    uint64_t owner = 0;          // who sent the update (ApplyUpdate's owner)
    int64_t steps = 0;           // the inner steps it summed
  };
  static constexpr int64_t kLogRecords = 4096;
  int64_t log_capacity_ = 0;
  int64_t log_mask_ = 0;  // log_capacity_ - 1
  std::vector<int32_t> log_index_;
  std::vector<double> log_value_;       // each entry's change (x after - x before)
  std::vector<LogRecord> log_records_;  // version v at v % kLogRecords
  int64_t log_head_ = 0;
  int64_t log_floor_ = 0;       // changes after this version are all in the log
  std::vector<uint32_t> mark_;  // p, for ChangesSince's de-duplication
  uint32_t mark_stamp_ = 0;
  bool last_exact_ = false;
};

}  // namespace edgetrain

#endif  // EDGETRAIN_COORDINATOR_STATE_H_
