// Proximal Newton steps on a working set: the second-order epochs of train-local and of the
// distributed mode (docs/algorithm.md, "Newton epochs").
//
// At a snapshot x with mu = (1/n) sum_i phi'(a_i.x) [a_i;1] (the snapshot's mu~), the working set S
// holds the non-zero weights, the zero weights whose optimality condition fails most (by
// decreasing violation |r_j|, r_j the minimum-norm subgradient: |mu_j| - l1 without a box) up to a
// size limit, and the intercept. The step d minimises the problem's quadratic model on S
// (coordinates outside S stay put),
//   q(d) = g.d + d.H d / 2 + sum_{j in S, weights} l1_j (|x_j + d_j| - |x_j|) + box(x_j + d_j),
//   g = mu_S + l2 x_S,   H = (1/n) A~_S^T diag(phi''(a~_i.x)) A~_S + l2 I   (|S| x |S|, dense),
// by coordinate descent (each move the exact minimiser along its coordinate: soft threshold, then
// clamped to the box), then exactly on the face CD found (one LDLT; entries at zero or at a bound
// stay fixed), as newGLMNET (liblinear -s 6) does on all coordinates. A backtracking line search
// on alpha (Armijo, sufficient decrease against decrease = g.d + l1 (|x+d|_1 - |x|_1) < 0) picks
// x + alpha d, which stays in the box (it is convex, and x and x + d are in it). l1_j, l2 and the
// box are per coordinate with a preconditioner (ProblemSpec::Penalty): everything here works in
// the solver's coordinates, where CD's stopping test and the working set's ranking see columns of
// one scale. ProxSVRG converges linearly
// at a rate set by the condition number on the support (0.91 per epoch on SpamAssassin); these
// steps converge quadratically once S holds the support, and from x = 0 they need no first-order
// warm-up when S starts small and grows with the model (as working-set l1 solvers do).
// They never decide stopping: the next snapshot's full gradient and KKT check do.
//
// The pieces are separate so the distributed mode can split them: agents accumulate their rows'
// Hessian blocks (AccumulateSupportHessian), the coordinator adds them, solves
// (ProxNewtonDirection) and judges each trial point by the next gradient phase.
//
// Cost: one pass over the rows for H (sum over rows of nnz_S(row)^2 / 2, or a blocked rank-k
// update for rows dense in S), O(|S|^2) per CD sweep plus one |F|^3/3 factorisation, one pass per
// line-search trial. Thread-safety: pure functions.
#ifndef EDGETRAIN_SUPPORT_NEWTON_H_
#define EDGETRAIN_SUPPORT_NEWTON_H_

#include <cstdint>
#include <vector>

#include "edgetrain/dataset.h"
#include "edgetrain/problem.h"

namespace edgetrain {

// The policy both modes share.
constexpr int64_t kNewtonMinWorkingSet = 256;  // the first working set, from x = 0
constexpr double kNewtonArmijo = 0.01;         // sufficient decrease: sigma
constexpr double kNewtonMinAlpha =
    1.0 / 16;  // shortest step tried before falling back to an inner loop
constexpr int kNewtonCooldownEpochs =
    2;  // inner-loop epochs after a Newton epoch that made no step
// A Hessian block may cost up to this many scattered multiply-adds per non-zero of the rows (about
// 100 passes' worth; on Fashion-MNIST with |S| = 727, 35 000 rows: 1.3 s measured).
constexpr double kNewtonMaxWorkPerNonzero = 100.0;
// A Newton epoch may solve with the last Newton epoch's Hessian block instead of a new one (a
// chord step: no curvature pass over the rows, nothing on the wire) when that epoch's full step
// did what its model promised -- the objective fell by kReuseMinFit..kReuseMaxFit times
// `decrease` (an exact quadratic model gives 1/2..1: q(d) lies between decrease / 2 and decrease)
// -- and the stop measure fell at least kReuseMinDrop-fold: the quadratic-convergence region, where
// the Hessian barely moves between steps. The line search still judges the step.
constexpr double kReuseMinFit = 0.4;
constexpr double kReuseMaxFit = 1.1;
constexpr double kReuseMinDrop = 10.0;

// The working set's size limit: twice the non-zero weights, at least kNewtonMinWorkingSet, at most
// max_support (0: no Newton steps).
int64_t NewtonWorkingSetSize(int64_t nonzero_weights, int64_t max_support);

// S with the orthant of each entry: index in coordinate order (the intercept, when fitted, last),
// sign = sign x_j, or -sign mu_j for a zero weight (0 for the intercept).
struct NewtonSupport {
  std::vector<int32_t> index;
  std::vector<double> sign;
  // With a box: each entry's bounds in the solver's coordinates (the intercept's infinite), which
  // keep line points in the box against rounding; empty otherwise.
  std::vector<double> lower, upper;
  int64_t size() const { return static_cast<int64_t>(index.size()); }
};

// S at x for the snapshot gradient mu (both p entries). max_size > 0 limits S to max_size entries
// (intercept included): every non-zero weight, then the violating zero weights by decreasing
// violation |r_j| (ProblemSpec::Penalty(j).MinNormSubgradient(0, mu_j)); the weights left out stay
// zero this step, which keeps d a descent direction. Empty when the non-zero weights alone do not
// fit.
NewtonSupport ChooseNewtonSupport(const ProblemSpec& spec, const double* mu, const double* x,
                                  int32_t dim, int64_t max_size = 0);

// Multiply-adds AccumulateSupportHessian would spend on these rows, the blocked ones counted at
// their lower cost. *pos is p entries of scratch, all -1 before and after.
double SupportHessianWork(const Dataset& data, const ProblemSpec& spec, const NewtonSupport& s,
                          std::vector<int32_t>* pos);

// The unnormalised Hessian block of the rows at x: sum_i phi''(a~_i . x) a~_{i,S} a~_{i,S}^T, lower
// triangle packed row by row (entry (a, b), b <= a, at a(a+1)/2 + b), added to packed
// (|S|(|S|+1)/2 entries). Rows dense in S go through blocked rank-k updates, sparse ones scatter.
void AccumulateSupportHessian(const Dataset& data, const ProblemSpec& spec, const double* x,
                              const NewtonSupport& s, std::vector<int32_t>* pos, double* packed);

// The proximal Newton direction d on S (above) for H = packed / rows + l2 I: cyclic coordinate
// descent (O(|S|^2) a sweep, up to max_sweeps or until no coordinate moves by more than 1e-12
// relative to the largest), then the exact minimiser of q on CD's face when that keeps every sign
// and leaves the zero weights and those at a bound optimal. x + d is in the box.
// *decrease = g.d + sum_j l1_j (|x_j+d_j| - |x_j|), negative unless x minimises q. False when H has
// no curvature along a moving coordinate or d is not finite.
bool ProxNewtonDirection(const ProblemSpec& spec, const NewtonSupport& s, const double* packed,
                         int64_t rows, const double* mu, const double* x, int32_t dim,
                         std::vector<double>* direction, double* decrease, int max_sweeps = 200,
                         int* sweeps = nullptr);

// out := x + alpha d on S, kept in s's box (a point within 1e-15 relative of a bound is put on
// it); the other coordinates of out are left as they are (callers start from a copy of x).
void NewtonLinePoint(const NewtonSupport& s, const std::vector<double>& direction, double alpha,
                     const double* x, double* out);

// The block on t of a packed Hessian block on s (both in increasing coordinate order), packed the
// same way into *out: false when t has a coordinate outside s.
bool RestrictHessianBlock(const NewtonSupport& s, const double* packed, const NewtonSupport& t,
                          std::vector<double>* out);

// The Hessian block a Newton epoch solved with, kept for a next one that may reuse it
// (EpochDecision::reuse_curvature; the coordinator keeps its own sums in CoordinatorState).
struct KeptCurvature {
  NewtonSupport support;
  std::vector<double> packed;  // unnormalised, over `rows` rows
  int64_t rows = 0;            // 0: nothing kept
};

// The serial direction (train-local): S (at most working_set entries, NewtonWorkingSetSize), H
// over all of data's rows, d. With `kept`: when `reuse` and the kept block covers S over the same
// rows, H is its restriction to S (*reused = true) instead of a pass over the rows; the block
// solved with is kept for the next epoch. REQUIRES: x has p entries, mu the (1/n) loss-gradient
// sum at x. False (no step) when H would cost more than kNewtonMaxWorkPerNonzero per non-zero, or
// when d is not a descent direction.
bool SerialNewtonDirection(const Dataset& data, const ProblemSpec& spec, const double* mu,
                           const double* x, int64_t working_set, NewtonSupport* s,
                           std::vector<double>* direction, double* decrease,
                           KeptCurvature* kept = nullptr, bool reuse = false,
                           bool* reused = nullptr);

// The backtracking line search of a Newton epoch whose trial points are judged by the next
// snapshot, whose full gradient pass gives P there anyway (both modes): Start() gives the first
// point x~ + d; Judge() of the objective there accepts it by the Armijo rule
// P <= P(x~) + kNewtonArmijo alpha decrease (+ 1e-12 |P(x~)|, the objective's rounding near the
// optimum, where the decrease is smaller), or gives the next point x~ + (alpha / 2) d, or gives
// up below kNewtonMinAlpha (x should then return to x~). Not thread-safe; owns its copies.
class NewtonLineSearch {
 public:
  enum class Verdict : uint8_t { kAccepted, kNextTrial, kFailed };
  // REQUIRES: decrease < 0, direction on s, from (= x~) p entries. *point := x~ + d.
  void Start(NewtonSupport s, std::vector<double> direction, double decrease,
             const std::vector<double>& from, std::vector<double>* point);
  bool pending() const { return pending_; }  // a trial point awaits its objective
  double alpha() const { return alpha_; }    // of the trial point (or the accepted one)
  double decrease() const { return decrease_; }
  const NewtonSupport& support() const { return support_; }
  // objective: P at the trial point; base_objective: P(x~). kNextTrial writes the next trial
  // point into *point; kAccepted and kFailed end the search.
  Verdict Judge(double objective, double base_objective, std::vector<double>* point);
  // The point's objective cannot be compared with P(x~) (agents joined or left): take it as it is.
  void Abandon() { pending_ = false; }

 private:
  NewtonSupport support_;
  std::vector<double> direction_, from_;
  double decrease_ = 0, alpha_ = 1;
  bool pending_ = false;
};

}  // namespace edgetrain

#endif  // EDGETRAIN_SUPPORT_NEWTON_H_
