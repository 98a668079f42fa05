// Step size eta and inner-loop length m of (DAP-)ProxSVRG, chosen from the data.
//
// Smoothness of the loss part per row: L_i = c ||[a_i; 1]||^2, c the loss curvature bound
// (the 1 only with an intercept), of the solver's columns (after the preconditioner). L_max = max_i
// L_i, L_avg = mean_i L_i, and L_f the smoothness of the average f, c lambda_max(A^T A)/n + l2,
// estimated by power iteration (a Rayleigh quotient, a lower bound, so it is inflated by a safety
// factor).
//
// For i.i.d. mini-batches of size b the variance-reduced estimator behaves like a function with
// "expected smoothness" L(b) = (1 - 1/b) L_f + L_Q / b (Gower et al., SGD: general analysis and
// improved rates, ICML 2019), where L_Q is the smoothness of one drawn row as the sampler weights
// it (L_max for uniform sampling, at most 2 L_avg for importance sampling, see RowSampler). The
// step is eta = step_scale / (L(b) + l2); each epoch runs m = epoch_passes * n / b inner steps
// (Xiao & Zhang use m ~ 2n for b = 1). The worker takes l2 in its prox, so EpochPolicy plans with
// l2 = 0.
//
// Thread-safety: pure functions.
#ifndef EDGETRAIN_STEP_SIZE_H_
#define EDGETRAIN_STEP_SIZE_H_

#include <cstdint>
#include <vector>

#include "edgetrain/dataset.h"
#include "edgetrain/problem.h"
#include "edgetrain/row_sampler.h"
#include "edgetrain/status.h"

namespace edgetrain {

// Smoothness of the loss part over some rows (l2 not included).
struct Smoothness {
  int64_t rows = 0;
  double l_max = 0;         // max_i c ||[a_i;1]||^2
  double l_avg = 0;         // mean_i c ||[a_i;1]||^2
  double l_full = 0;        // c lambda_max(A~^T A~) / n, an upper estimate
  double l_q = 0;           // smoothness of one row as the sampler draws and weights it
  bool importance = false;  // the sampler draws by importance
};

// L_i = c ||[a_i;1]||^2 for every row (l2 not included).
std::vector<double> RowSmoothness(const Dataset& data, const ProblemSpec& spec);

// `top` (optional): on entry a start for the power iteration, on return its last iterate. A start
// of the right size (the top vector of the same shard before it grew, a training round ago) needs
// only kWarmPowerIterations.
// REQUIRES: data.rows() > 0; sampler built from RowSmoothness(data, spec).
constexpr int kWarmPowerIterations = 1;
Smoothness EstimateSmoothness(const Dataset& data, const ProblemSpec& spec,
                              const RowSampler& sampler, int power_iterations = 12,
                              std::vector<double>* top = nullptr);

// The smoothness of the union of disjoint row sets (the shards of all agents): the max of L_max
// and L_Q, the row-weighted means of L_avg and L_f (A^T A / n is the weighted mean of the shards'
// A_k^T A_k / n_k, so its top eigenvalue is at most the weighted mean of theirs).
Smoothness CombineSmoothness(const std::vector<Smoothness>& parts);

struct StepOptions {
  double eta = 0;             // > 0: use this step instead of choosing one
  double step_scale = 2.0;    // eta = step_scale / L(b) (the divergence safeguard backs it off)
  int32_t batch = 1;          // mini-batch size b
  int64_t inner_steps = 0;    // > 0: use this m instead of epoch_passes * n / b
  double epoch_passes = 2.0;  // data passes of inner steps per epoch
};

struct StepPlan {
  double eta = 0;
  int64_t inner_steps = 0;
  int32_t batch = 1;
  double l_batch = 0;  // L(b), including l2
};

// REQUIRES: smoothness.rows > 0.
Result<StepPlan> PlanSteps(const Smoothness& smoothness, double l2, const StepOptions& options);

}  // namespace edgetrain

#endif  // EDGETRAIN_STEP_SIZE_H_
