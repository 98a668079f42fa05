// SvrgWorker: an agent's side of DAP-SVRG on its local shard (no sockets).
//
// Per epoch s, with snapshot x~ and mu~ = (1/n) sum over all agents' rows of grad phi_i(x~):
//   ComputeSnapshot(x~)   -> G_k = sum_{i in shard} phi'(a_i.x~) [a_i;1] and the loss sum; the
//                            derivatives phi'(a_i.x~) are cached, one double per row.
//   BeginEpoch(mu~, eta, b)
//   Step(x^)              -> draws an i.i.d. mini-batch I (|I| = b) from the shard and returns
//       Delta = prox_{eta (h + (l2/2)|w|^2)}(x^ - eta v) - x^   (Regularizer::ProxWithL2),
//       v = (1/b) sum_{i in I} q_i (phi'(a_i.x^) - phi'(a_i.x~)) [a_i;1] + mu~,
//       q_i = 1/(n_k p_i) the sampler's weight (1 for uniform sampling; see RowSampler).
//       With a preconditioner (ProblemSpec::scales) the shard is already scaled and every
//       coordinate's prox has its own weights (ProblemSpec::Penalty).
//       Entries whose result lands exactly on a kink of h (0, a bound) go to the guarded part of
//       the ModelUpdate (see sparse_vector.h), the others to its delta part.
//
// Cost of a step: O(nnz of the mini-batch + |support(x^)| + |drift|), where drift is the set of
// coordinates that move away from zero even when no row touches them (prox(-eta mu~_j) != 0,
// computed once per epoch). With l1 at the optimum both sets are small, and so is Delta.
// No allocation after construction.
//
// Lazy ("just-in-time") updates, set_lazy(true), when every step is computed at the caller's
// current x and its update applied before the next step (TrainLocal; an agent's replica, which
// also merges the others' changes in between): with l1 and no l2 or box,
// a coordinate no drawn row touches follows x_j <- soft(x_j - eta mu~_j, eta l1_j) at every step,
// whose k-fold composition has a closed form (LazyL1Steps). A step then visits only the rows'
// non-zeros (and the intercept), bringing each up to date first; the epoch's last step brings
// every other coordinate up to date. Same iterates as the eager steps (up to rounding), at
// O(nnz of the mini-batch) per step instead of O(nnz + |support| + |drift|). It needs the step
// count of the epoch (BeginEpoch's inner_steps) and every step's update applied in order; with
// l2 > 0 or a box it is ignored (eager steps). An agent does not know how many of the epoch's
// steps will be its own: it brings everything up to date every `flush_every` steps instead, so
// the others see its drift at most that many steps late, and an epoch that ends early loses at
// most that many steps of it (docs/algorithm.md, "Lazy steps on the agents").
//
// Thread-safety: none; one worker per thread. Ownership: the shard is borrowed and must outlive
// the worker; everything else is owned.
#ifndef EDGETRAIN_SVRG_WORKER_H_
#define EDGETRAIN_SVRG_WORKER_H_

#include <cstdint>
#include <vector>

#include "edgetrain/dataset.h"
#include "edgetrain/duality.h"
#include "edgetrain/problem.h"
#include "edgetrain/rng.h"
#include "edgetrain/row_sampler.h"
#include "edgetrain/sparse_vector.h"
#include "edgetrain/step_size.h"

namespace edgetrain {

// The model an agent computes a step at: the values and, optionally, where they are non-zero.
struct ModelView {
  const double* x = nullptr;  // p values
  int64_t p = 0;
  const int32_t* support = nullptr;  // indices of all non-zeros of x, any order
  int64_t support_size = 0;
  bool dense = true;  // true: support unknown, every coordinate is visited
};

class SvrgWorker {
 public:
  enum class Sampling : uint8_t { kAuto, kUniform, kImportance };

  // Builds the row sampler and measures the shard's smoothness (one pass over the rows plus a
  // short power iteration, warm from `power_start` when given: EstimateSmoothness's `top`).
  // REQUIRES: shard->rows() > 0; spec valid for the shard's task.
  SvrgWorker(const Dataset* shard, const ProblemSpec& spec, uint64_t seed,
             Sampling sampling = Sampling::kAuto, std::vector<double>* power_start = nullptr);

  int64_t model_size() const { return p_; }
  const Dataset& shard() const { return *shard_; }
  const Smoothness& smoothness() const { return smoothness_; }

  // Gradient phase at the snapshot, with the shard's part of the duality certificate when `dual`
  // is given (duality.h). REQUIRES: x_tilde and grad_sum have p entries.
  void ComputeSnapshot(const double* x_tilde, double* grad_sum, double* loss_sum,
                       DualSums* dual = nullptr);

  // REQUIRES: ComputeSnapshot at this epoch's snapshot; mu has p entries; eta > 0; batch >= 1;
  // inner_steps > 0 when lazy (the number of Step calls of this epoch, or kUnknownSteps with
  // flush_every > 0: every flush_every-th step brings every coordinate up to date).
  static constexpr int64_t kUnknownSteps = INT64_MAX;
  void BeginEpoch(const double* mu, double eta, int32_t batch, int64_t inner_steps = 0,
                  int64_t flush_every = 0);

  // Lazy with kUnknownSteps: changes the flush period of this epoch. REQUIRES: flush_every > 0.
  void set_flush_every(int64_t flush_every) { flush_every_ = flush_every; }

  // Lazy updates (see above). REQUIRES: set before BeginEpoch.
  void set_lazy(bool lazy) { lazy_requested_ = lazy; }
  bool lazy() const { return lazy_; }

  // One inner step at x^; *update is cleared and filled.
  // REQUIRES: BeginEpoch; update->delta.dim() == update->guarded.dim() == p.
  void Step(const ModelView& x_hat, ModelUpdate* update);

  int64_t drift_size() const { return static_cast<int64_t>(drift_.size()); }

 private:
  template <typename Loss>
  void StepImpl(const ModelView& x_hat, ModelUpdate* update);
  template <typename Loss>
  void LazyStepImpl(const ModelView& x_hat, ModelUpdate* update);
  // Marks coordinate j as visited in this step (zeroing its accumulator on first visit).
  void Touch(int32_t j) {
    if (stamp_[j] != current_) {
      stamp_[j] = current_;
      acc_[j] = 0.0;
      touched_.push_back(j);
    }
  }

  const Dataset* shard_;
  ProblemSpec spec_;
  Rng rng_;
  RowSampler sampler_;
  Smoothness smoothness_;
  int32_t d_;
  int64_t p_;
  double eta_ = 0;
  int32_t batch_ = 1;
  std::vector<double> snapshot_deriv_;  // phi'(a_i . x~), one per row
  std::vector<double> mu_;              // p
  std::vector<int32_t> drift_;
  std::vector<double> acc_;      // p, valid where stamp_ == current_
  std::vector<uint32_t> stamp_;  // p
  uint32_t current_ = 0;
  std::vector<int32_t> touched_;  // capacity p
  // Lazy mode: x^_j is current up to step last_[j] of the epoch; cur_ holds the caught-up values.
  bool lazy_requested_ = false;
  bool lazy_ = false;
  int64_t step_ = 0;
  int64_t inner_steps_ = 0;
  int64_t flush_every_ = 0;
  std::vector<int64_t> last_;  // p (lazy only)
  std::vector<double> cur_;    // p (lazy only)
};

// k applications of x <- soft(x - a, t) = sign(x - a) max(|x - a| - t, 0), t >= 0, in O(1):
// what a coordinate that no row touches goes through in k inner steps (a = eta mu~_j,
// t = eta l1_j, the coordinate's own weight). REQUIRES: k >= 0, t >= 0.
double LazyL1Steps(double x, int64_t k, double a, double t);

}  // namespace edgetrain

#endif  // EDGETRAIN_SVRG_WORKER_H_
