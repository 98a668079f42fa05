#include "edgetrain/support_newton.h"

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "edgetrain/loss.h"

namespace edgetrain {

int64_t NewtonWorkingSetSize(int64_t nonzero_weights, int64_t max_support) {
  if (max_support <= 0) return 0;
  return std::min(max_support, std::max(kNewtonMinWorkingSet, 2 * nonzero_weights));
}

NewtonSupport ChooseNewtonSupport(const ProblemSpec& spec, const double* mu, const double* x,
                                  int32_t dim, int64_t max_size) {
  // The non-zero weights, with their sign, and the zero weights whose optimality condition fails
  // (the minimum-norm subgradient there is not zero: |mu_j| > l1_j, or pointing into the box at a
  // bound), with the sign of the orthant they move into (-sign mu_j). The violation is measured
  // in the solver's coordinates, where every column has the same scale (column_scales.h).
  std::vector<int32_t> nonzero;
  std::vector<std::pair<double, int32_t>> violators;  // (violation, j)
  for (int32_t j = 0; j < dim; ++j) {
    if (x[j] != 0.0) {
      nonzero.push_back(j);
      continue;
    }
    const double r = std::fabs(spec.Penalty(j).MinNormSubgradient(0.0, mu[j]));
    if (r > 0.0) violators.emplace_back(r, j);
  }
  NewtonSupport s;
  if (max_size > 0) {
    const int64_t room = max_size - static_cast<int64_t>(nonzero.size()) - (spec.intercept ? 1 : 0);
    if (room < 0) return s;
    if (static_cast<int64_t>(violators.size()) > room) {
      auto worse = [](const auto& a, const auto& b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
      };
      std::nth_element(violators.begin(), violators.begin() + room, violators.end(), worse);
      violators.resize(static_cast<size_t>(room));
    }
  }
  s.index = nonzero;
  for (const auto& v : violators) s.index.push_back(v.second);
  std::sort(s.index.begin(), s.index.end());
  for (int32_t j : s.index)
    s.sign.push_back(x[j] != 0.0 ? (x[j] > 0 ? 1.0 : -1.0) : (mu[j] > 0 ? -1.0 : 1.0));
  if (spec.intercept) {
    s.index.push_back(dim);
    s.sign.push_back(0.0);
  }
  if (spec.reg.HasBox()) {
    constexpr double kInf = std::numeric_limits<double>::infinity();
    for (int32_t j : s.index) {
      const Regularizer reg = j < dim ? spec.Penalty(j) : Regularizer();
      s.lower.push_back(j < dim ? reg.lower : -kInf);
      s.upper.push_back(j < dim ? reg.upper : kInf);
    }
  }
  return s;
}

namespace {

// A row with at least 1/kDenseRowShare of its entries in S goes through the blocked path.
constexpr int64_t kDenseRowShare = 8;
constexpr double kBlockedSpeedup =
    10.0;  // measured: ~7 GFLOP/s blocked, ~0.7 scattered (x86-64, SSE2)

void MarkSupport(const NewtonSupport& s, std::vector<int32_t>* pos) {
  for (int64_t k = 0; k < s.size(); ++k) (*pos)[s.index[k]] = static_cast<int32_t>(k);
}

void UnmarkSupport(const NewtonSupport& s, std::vector<int32_t>* pos) {
  for (int32_t j : s.index) (*pos)[j] = -1;
}

// One entry's part of the model q: its l1 weight and box in the solver's coordinates (the
// intercept: none), and whether it is penalised at all.
struct EntryPenalty {
  double l1 = 0;
  double lower = -std::numeric_limits<double>::infinity();
  double upper = std::numeric_limits<double>::infinity();
  bool weight = false;
  // The minimiser of (h/2)(w - u)^2 + l1 |w| over [lower, upper]: the soft threshold, clamped
  // (for a convex function of one variable the constrained minimiser is the projection).
  double Minimise(double u, double h) const {
    if (!weight) return u;
    const double t = l1 / h;
    const double soft = u > t ? u - t : (u < -t ? u + t : 0.0);
    return std::clamp(soft, lower, upper);
  }
  bool AtBound(double w) const { return w <= lower || w >= upper; }
};

// The model q on S, solved in place: w = x + d, hd = H d.
//
// Coordinate descent converges slowly on ill-conditioned H (correlated pixels, tf-idf terms, raw
// sensor columns), and an inexact subproblem makes proximal Newton only linearly convergent. Once
// CD has found the face -- which weights are zero or at a bound of the box (fixed, set G) and the
// signs of the others (free, F; the intercept always) -- the model's minimiser on it solves one
// linear system:
//   H_FF (w_F - x_F) = -(g_F + l1_F sign w_F) - H_FG (w_G - x_G).
// When that point keeps every sign, stays in the box and leaves the fixed entries optimal (the
// model's minimum-norm subgradient there is zero) it is the exact minimiser of q. Otherwise the
// face is corrected as in an active-set method, each move decreasing q: when CD stopped short of
// the right face (a sign would flip, a bound would be crossed), w moves along the segment toward
// that point up to the first crossing, where that entry becomes fixed; when the point is on the
// right face but a fixed entry is not optimal there, w moves to it and the violating entries are
// released by one exact coordinate move each. Then the face is solved again. This finishes in a
// few rounds where CD alone would need thousands of sweeps (raw columns five orders of magnitude
// apart, H's condition number 1e12).
class ModelSolver {
 public:
  enum class Face : uint8_t { kExact, kCrossed, kViolated, kStuck };

  ModelSolver(const NewtonSupport& s, const double* x, Eigen::MatrixXd h, Eigen::VectorXd g,
              std::vector<EntryPenalty> pen)
      : s_(s), h_(std::move(h)), g_(std::move(g)), pen_(std::move(pen)) {
    const int64_t m = s.size();
    x_.resize(m);
    for (int64_t a = 0; a < m; ++a) x_[a] = x[s.index[a]];
    w_ = x_;
    hd_ = Eigen::VectorXd::Zero(m);
  }
  const Eigen::VectorXd& w() const { return w_; }

  // Cyclic CD, up to max_sweeps or until no entry moves by more than 1e-12 relative to the
  // largest; returns the sweeps made.
  int Sweeps(int max_sweeps) {
    const int64_t m = s_.size();
    int sweep = 0;
    while (sweep < max_sweeps) {
      ++sweep;
      double largest_move = 0.0, largest_w = 0.0;
      for (int64_t a = 0; a < m; ++a) {
        largest_move = std::max(largest_move, std::fabs(Move(a)));
        largest_w = std::max(largest_w, std::fabs(w_[a]));
      }
      if (largest_move <= 1e-12 * std::max(largest_w, 1e-300)) break;
    }
    return sweep;
  }

  // One exact coordinate move of every fixed entry whose optimality condition fails.
  void ReleaseViolators() {
    for (int64_t a = 0; a < s_.size(); ++a) {
      if (Fixed(a) && Violation(a) > Tolerance(a)) Move(a);
    }
  }

  // One face step (above): kExact (w is q's minimiser), kCrossed (w moved to the first
  // crossing), kViolated (w moved to the face's minimiser, where a fixed entry is not optimal) or
  // kStuck (an empty or singular face, or one past the budget of multiply-adds in *work).
  Face FaceStep(double* work, double budget) {
    const int64_t m = s_.size();
    std::vector<int64_t> face, fixed;
    for (int64_t a = 0; a < m; ++a) (Fixed(a) ? fixed : face).push_back(a);
    const int64_t f = static_cast<int64_t>(face.size());
    const double cost =
        static_cast<double>(f) * static_cast<double>(f) * static_cast<double>(f) / 3;
    if (f == 0 || *work + cost > budget) return Face::kStuck;
    *work += cost;
    Eigen::MatrixXd hff(f, f);
    Eigen::VectorXd rhs(f);
    for (int64_t r = 0; r < f; ++r) {
      const int64_t a = face[r];
      const double sign = pen_[a].weight ? (w_[a] > 0 ? 1.0 : -1.0) : 0.0;
      double v = -(g_[a] + pen_[a].l1 * sign);
      for (int64_t b : fixed) v -= h_(a, b) * (w_[b] - x_[b]);
      rhs[r] = v;
      for (int64_t c = 0; c < f; ++c) hff(r, c) = h_(a, face[c]);
    }
    const Eigen::LDLT<Eigen::MatrixXd> ldlt(hff);
    if (ldlt.info() != Eigen::Success) return Face::kStuck;
    const Eigen::VectorXd step = ldlt.solve(rhs);
    if (!step.allFinite()) return Face::kStuck;
    // The first crossing on the segment from w to the face's minimiser: t in (0, 1].
    double t = 1.0;
    int64_t limit = -1;
    double limit_value = 0.0;
    for (int64_t r = 0; r < f; ++r) {
      const int64_t a = face[r];
      if (!pen_[a].weight) continue;
      const double from = w_[a], to = x_[a] + step[r];
      double target = 0.0;
      if ((to > 0) != (from > 0) || to == 0.0) {
        target = 0.0;  // the sign flips: zero on the way (inside the box, where w is)
      } else if (to < pen_[a].lower) {
        target = pen_[a].lower;
      } else if (to > pen_[a].upper) {
        target = pen_[a].upper;
      } else {
        continue;
      }
      const double ta = (target - from) / (to - from);
      if (ta < t) {
        t = ta;
        limit = a;
        limit_value = target;
      }
    }
    for (int64_t r = 0; r < f; ++r) {
      const int64_t a = face[r];
      const double to = x_[a] + step[r];
      double v = limit < 0 ? to : w_[a] + t * (to - w_[a]);
      if (pen_[a].weight && limit >= 0) {  // rounding must not cross what t stops short of
        if ((v > 0) != (w_[a] > 0)) v = 0.0;
        v = std::clamp(v, pen_[a].lower, pen_[a].upper);
      }
      w_[a] = v;
    }
    if (limit >= 0) w_[limit] = limit_value;
    hd_.noalias() = h_ * (w_ - x_);
    if (limit >= 0) return Face::kCrossed;
    for (int64_t b : fixed) {
      if (Violation(b) > Tolerance(b)) return Face::kViolated;
    }
    return Face::kExact;
  }

 private:
  // Zero, or at a bound of the box: not part of the face's linear system.
  bool Fixed(int64_t a) const { return pen_[a].weight && (w_[a] == 0.0 || pen_[a].AtBound(w_[a])); }
  // The model's minimum-norm subgradient at an entry (a zero weight wanting to move, a bound the
  // model pushes away from), in absolute value.
  double Violation(int64_t a) const {
    Regularizer r;
    r.l1 = pen_[a].l1;
    r.lower = pen_[a].lower;
    r.upper = pen_[a].upper;
    return std::fabs(r.MinNormSubgradient(w_[a], g_[a] + hd_[a]));
  }
  double Tolerance(int64_t a) const {
    return 1e-9 * std::max({pen_[a].l1, std::fabs(g_[a]), 1e-300});
  }
  // The exact minimiser of q along entry a, box and l1 included (EntryPenalty::Minimise); hd
  // follows (one column). Returns the move.
  double Move(int64_t a) {
    const double haa = h_(a, a);
    const double next = pen_[a].Minimise(w_[a] - (g_[a] + hd_[a]) / haa, haa);
    const double delta = next - w_[a];
    if (delta != 0.0) {
      w_[a] = next;
      hd_.noalias() += delta * h_.col(a);
    }
    return delta;
  }

 private:
  const NewtonSupport& s_;
  Eigen::MatrixXd h_;  // symmetric, both triangles: column a is read whole
  Eigen::VectorXd g_;
  std::vector<EntryPenalty> pen_;
  Eigen::VectorXd x_, w_, hd_;
};

// The face rounds' budget: factorisations worth two of the largest face (1500 entries, 1.1e9
// multiply-adds each), at most kMaxFaceRounds of them.
constexpr double kMaxFace = 1500;
constexpr int kMaxFaceRounds = 200;

}  // namespace

double SupportHessianWork(const Dataset& data, const ProblemSpec& spec, const NewtonSupport& s,
                          std::vector<int32_t>* pos) {
  MarkSupport(s, pos);
  const int64_t m = s.size();
  double work = 0.0;
  for (int64_t i = 0; i < data.rows(); ++i) {
    const RowView row = data.Row(i);
    int64_t in_s = spec.intercept ? 1 : 0;
    for (int32_t k = 0; k < row.nnz; ++k) in_s += (*pos)[row.index[k]] >= 0;
    // The two paths of AccumulateSupportHessian: a dense row costs its share of a blocked rank-k
    // update (m^2 / 2 multiply-adds at several per cycle, counted as kBlockedSpeedup times cheaper
    // than the scattered ones); a sparse row nnz_S^2 / 2 scattered multiply-adds.
    if (kDenseRowShare * in_s >= m) {
      work += 0.5 * static_cast<double>(m) * static_cast<double>(m + 1) / kBlockedSpeedup;
    } else {
      work += 0.5 * static_cast<double>(in_s) * static_cast<double>(in_s + 1);
    }
  }
  UnmarkSupport(s, pos);
  return work;
}

void AccumulateSupportHessian(const Dataset& data, const ProblemSpec& spec, const double* x,
                              const NewtonSupport& s, std::vector<int32_t>* pos, double* packed) {
  const int64_t m = s.size();
  if (m == 0) return;
  const int32_t d = data.dim();
  MarkSupport(s, pos);
  // A row with at least m/kDenseRowShare entries in S is written, scaled by sqrt(phi''), into a
  // column of a dense block, and every kBlock such rows become one rank-kBlock update at BLAS-3
  // speed: panel by panel of kBlock columns, a small dense product added into the packed lower
  // triangle, which stays the only |S|^2 storage (agents on small devices send it as it is). A row
  // with fewer entries in S is scattered entry by entry (O(nnz_S^2), whatever m is).
  // When a full m x m matrix costs less than a tenth of the rows' own memory (Fashion-MNIST's
  // shards), the blocks go into it through one symmetric rank-k update each (Eigen's fastest
  // kernel: 25 % quicker than the panels, measured on 35 000 rows, |S| = 256) and it is added into
  // the triangle at the end.
  constexpr int64_t kBlock = 64;
  const double data_bytes = static_cast<double>(data.nnz()) * (sizeof(int32_t) + sizeof(double));
  const bool full =
      static_cast<double>(m) * static_cast<double>(m) * sizeof(double) <= 0.1 * data_bytes;
  Eigen::MatrixXd h = full ? Eigen::MatrixXd::Zero(m, m) : Eigen::MatrixXd();
  Eigen::MatrixXd block = Eigen::MatrixXd::Zero(m, kBlock);
  Eigen::MatrixXd panel(full ? 0 : kBlock, full ? 0 : m);  // panel(k, a - c0) = H(a, c0 + k)
  int64_t filled = 0;
  auto flush = [&] {
    const auto b = block.leftCols(filled);
    if (full) h.selfadjointView<Eigen::Lower>().rankUpdate(b);
    for (int64_t c0 = 0; c0 < m && !full; c0 += kBlock) {
      const int64_t width = std::min(kBlock, m - c0);
      auto t = panel.topLeftCorner(width, m - c0);
      t.noalias() = b.middleRows(c0, width) * b.bottomRows(m - c0).transpose();
      for (int64_t a = c0; a < m; ++a) {
        double* out = packed + a * (a + 1) / 2 + c0;
        const double* in = t.col(a - c0).data();
        const int64_t upto = std::min(width, a - c0 + 1);
        for (int64_t k = 0; k < upto; ++k) out[k] += in[k];
      }
    }
    block.leftCols(filled).setZero();
    filled = 0;
  };
  std::vector<int32_t> at;
  std::vector<double> val;
  at.reserve(static_cast<size_t>(m));
  val.reserve(static_cast<size_t>(m));
  for (int64_t i = 0; i < data.rows(); ++i) {
    const RowView row = data.Row(i);
    const double w = LossSecondDeriv(spec.loss, Margin(row, x, d, spec.intercept), row.y);
    if (w == 0.0) continue;
    at.clear();
    val.clear();
    for (int32_t k = 0; k < row.nnz; ++k) {
      const int32_t a = (*pos)[row.index[k]];
      if (a >= 0) {
        at.push_back(a);
        val.push_back(row.value[k]);
      }
    }
    if (spec.intercept && (*pos)[d] >= 0) {
      at.push_back((*pos)[d]);
      val.push_back(1.0);
    }
    if (kDenseRowShare * static_cast<int64_t>(at.size()) >= m) {
      const double sw = std::sqrt(w);
      double* column = block.col(filled).data();
      for (size_t k = 0; k < at.size(); ++k) column[at[k]] = sw * val[k];
      if (++filled == kBlock) flush();
      continue;
    }
    for (size_t k = 0; k < at.size(); ++k) {
      const double wa = w * val[k];
      for (size_t l = 0; l <= k; ++l) {
        const int64_t r = std::max(at[k], at[l]), c = std::min(at[k], at[l]);
        packed[r * (r + 1) / 2 + c] += wa * val[l];
      }
    }
  }
  if (filled > 0) flush();
  for (int64_t a = 0; a < m && full; ++a) {
    double* out = packed + a * (a + 1) / 2;
    for (int64_t b = 0; b <= a; ++b) out[b] += h(a, b);
  }
  UnmarkSupport(s, pos);
}

bool ProxNewtonDirection(const ProblemSpec& spec, const NewtonSupport& s, const double* packed,
                         int64_t rows, const double* mu, const double* x, int32_t dim,
                         std::vector<double>* direction, double* decrease, int max_sweeps,
                         int* sweeps) {
  const int64_t m = s.size();
  if (m == 0 || rows <= 0) return false;
  const double inv_n = 1.0 / static_cast<double>(rows);
  Eigen::MatrixXd h(m, m);
  Eigen::VectorXd g(m);
  std::vector<EntryPenalty> pen_entries(static_cast<size_t>(m));
  for (int64_t a = 0; a < m; ++a) {
    const int32_t j = s.index[a];
    const bool weight = j < dim;
    double l2 = 0.0;
    if (weight) {
      const Regularizer reg = spec.Penalty(j);
      pen_entries[a] = EntryPenalty{reg.l1, reg.lower, reg.upper, true};
      l2 = reg.l2;
    }
    g[a] = mu[j] + l2 * x[j];
    const double* row = packed + a * (a + 1) / 2;
    for (int64_t b = 0; b <= a; ++b) h(a, b) = h(b, a) = row[b] * inv_n;
    h(a, a) += l2;
    if (!(h(a, a) > 0.0)) {
      if (!weight || g[a] != 0.0) return false;  // no curvature along a moving coordinate
      h(a, a) = 1.0;                             // a column no row touches: d_a stays 0
    }
  }
  ModelSolver solver(s, x, std::move(h), std::move(g), std::move(pen_entries));
  int sweep = solver.Sweeps(max_sweeps);
  double face_work = 0.0;
  const double face_budget = 2 * kMaxFace * kMaxFace * kMaxFace / 3;
  for (int round = 0; round < kMaxFaceRounds; ++round) {
    const ModelSolver::Face face = solver.FaceStep(&face_work, face_budget);
    if (face == ModelSolver::Face::kExact || face == ModelSolver::Face::kStuck) break;
    if (face == ModelSolver::Face::kViolated) solver.ReleaseViolators();
  }
  if (sweeps != nullptr) *sweeps = sweep;
  const Eigen::VectorXd& w = solver.w();
  direction->resize(static_cast<size_t>(m));
  double dec = 0.0;
  for (int64_t a = 0; a < m; ++a) {
    const int32_t j = s.index[a];
    const double d = w[a] - x[j];
    (*direction)[a] = d;
    dec += (mu[j] + (j < dim ? spec.Penalty(j).l2 * x[j] : 0.0)) * d;
    if (j < dim) dec += spec.Penalty(j).l1 * (std::fabs(w[a]) - std::fabs(x[j]));
  }
  *decrease = dec;
  return std::isfinite(dec);
}

void NewtonLinePoint(const NewtonSupport& s, const std::vector<double>& direction, double alpha,
                     const double* x, double* out) {
  if (s.lower.empty()) {
    for (int64_t a = 0; a < s.size(); ++a) out[s.index[a]] = x[s.index[a]] + alpha * direction[a];
    return;
  }
  // x and x + d are in the box, so x + alpha d is for alpha in [0, 1]; only rounding can leave it
  // (x + (b - x) need not be b), and a point a few ulps from a bound is put on it.
  for (int64_t a = 0; a < s.size(); ++a) {
    double v = x[s.index[a]] + alpha * direction[a];
    const double lo = s.lower[a], hi = s.upper[a];
    if (std::isfinite(lo) && v <= lo + 1e-15 * std::fabs(lo)) v = lo;
    if (std::isfinite(hi) && v >= hi - 1e-15 * std::fabs(hi)) v = hi;
    out[s.index[a]] = v;
  }
}

bool RestrictHessianBlock(const NewtonSupport& s, const double* packed, const NewtonSupport& t,
                          std::vector<double>* out) {
  // at[b]: t's entry b in s (both increasing: one merge).
  std::vector<int64_t> at(static_cast<size_t>(t.size()));
  int64_t k = 0;
  for (int64_t b = 0; b < t.size(); ++b) {
    while (k < s.size() && s.index[k] < t.index[b]) ++k;
    if (k == s.size() || s.index[k] != t.index[b]) return false;
    at[b] = k;
  }
  out->resize(static_cast<size_t>(t.size() * (t.size() + 1) / 2));
  double* o = out->data();
  for (int64_t a = 0; a < t.size(); ++a) {
    const double* row = packed + at[a] * (at[a] + 1) / 2;  // at[b] <= at[a] for b <= a
    for (int64_t b = 0; b <= a; ++b) *o++ = row[at[b]];
  }
  return true;
}

bool SerialNewtonDirection(const Dataset& data, const ProblemSpec& spec, const double* mu,
                           const double* x, int64_t working_set, NewtonSupport* s,
                           std::vector<double>* direction, double* decrease, KeptCurvature* kept,
                           bool reuse, bool* reused) {
  if (reused != nullptr) *reused = false;
  if (working_set <= 0) return false;
  const int32_t d = data.dim();
  *s = ChooseNewtonSupport(spec, mu, x, d, working_set);
  const int64_t m = s->size();
  if (m == 0) return false;
  std::vector<double> packed;
  if (reuse && kept != nullptr && kept->rows == data.rows() &&
      RestrictHessianBlock(kept->support, kept->packed.data(), *s, &packed)) {
    if (reused != nullptr) *reused = true;
  } else {
    std::vector<int32_t> pos(static_cast<size_t>(spec.ModelSize(d)), -1);
    const double work = SupportHessianWork(data, spec, *s, &pos);
    if (work > kNewtonMaxWorkPerNonzero * static_cast<double>(std::max<int64_t>(data.nnz(), 1)))
      return false;
    packed.assign(static_cast<size_t>(m * (m + 1) / 2), 0.0);
    AccumulateSupportHessian(data, spec, x, *s, &pos, packed.data());
  }
  const bool ok =
      ProxNewtonDirection(spec, *s, packed.data(), data.rows(), mu, x, d, direction, decrease) &&
      *decrease < 0.0;
  if (kept != nullptr) *kept = KeptCurvature{*s, std::move(packed), data.rows()};
  return ok;
}

void NewtonLineSearch::Start(NewtonSupport s, std::vector<double> direction, double decrease,
                             const std::vector<double>& from, std::vector<double>* point) {
  support_ = std::move(s);
  direction_ = std::move(direction);
  decrease_ = decrease;
  from_ = from;
  alpha_ = 1.0;
  pending_ = true;
  *point = from_;
  NewtonLinePoint(support_, direction_, alpha_, from_.data(), point->data());
}

NewtonLineSearch::Verdict NewtonLineSearch::Judge(double objective, double base_objective,
                                                  std::vector<double>* point) {
  // Near the optimum the decrease is below the objective's rounding (a sum over all rows): a
  // point within the policy's own tolerance for "no worse" (1e-12 relative) passes.
  if (objective <=
      base_objective + kNewtonArmijo * alpha_ * decrease_ + 1e-12 * std::fabs(base_objective)) {
    pending_ = false;
    return Verdict::kAccepted;
  }
  if (alpha_ * 0.5 < kNewtonMinAlpha) {
    pending_ = false;
    return Verdict::kFailed;
  }
  alpha_ *= 0.5;
  *point = from_;
  NewtonLinePoint(support_, direction_, alpha_, from_.data(), point->data());
  return Verdict::kNextTrial;
}

}  // namespace edgetrain
