#include "edgetrain/support_newton.h"

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "edgetrain/loss.h"

namespace edgetrain {

int64_t NewtonWorkingSetSize(int64_t nonzero_weights, int64_t max_support) {
  if (max_support <= 0) return 0;
  return std::min(max_support, std::max(kNewtonMinWorkingSet, 2 * nonzero_weights));
}

NewtonSupport ChooseNewtonSupport(const ProblemSpec& spec, const double* mu, const double* x,
                                  int32_t dim, int64_t max_size) {
  // The non-zero weights, with their sign, and the zero weights whose optimality condition fails
  // (|mu_j| > l1), with the sign of the orthant they move into (-sign mu_j).
  std::vector<int32_t> nonzero, violators;
  for (int32_t j = 0; j < dim; ++j) {
    if (x[j] != 0.0) {
      nonzero.push_back(j);
    } else if (std::fabs(mu[j]) > spec.reg.l1) {
      violators.push_back(j);
    }
  }
  NewtonSupport s;
  if (max_size > 0) {
    const int64_t room = max_size - static_cast<int64_t>(nonzero.size()) - (spec.intercept ? 1 : 0);
    if (room < 0) return s;
    if (static_cast<int64_t>(violators.size()) > room) {
      auto worse = [&](int32_t a, int32_t b) { return std::fabs(mu[a]) > std::fabs(mu[b]); };
      std::nth_element(violators.begin(), violators.begin() + room, violators.end(), worse);
      violators.resize(static_cast<size_t>(room));
    }
  }
  s.index = nonzero;
  s.index.insert(s.index.end(), violators.begin(), violators.end());
  std::sort(s.index.begin(), s.index.end());
  for (int32_t j : s.index)
    s.sign.push_back(x[j] != 0.0 ? (x[j] > 0 ? 1.0 : -1.0) : (mu[j] > 0 ? -1.0 : 1.0));
  if (spec.intercept) {
    s.index.push_back(dim);
    s.sign.push_back(0.0);
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

// Coordinate descent converges slowly on ill-conditioned H (correlated pixels, tf-idf terms), and
// an inexact subproblem makes proximal Newton only linearly convergent. Once CD has found the
// face -- which weights are zero and the signs of the others -- the model's minimiser on it
// solves one linear system: with F the non-zero entries (the intercept always), G the zero ones,
//   H_FF (w_F - x_F) = -(g_F + l1 sign w_F) + H_FG x_G.
// It replaces CD's w when it keeps every sign and the zero entries stay optimal
// (|g_G + (H (w - x))_G| <= l1), i.e. when it is the exact minimiser of q.
void PolishOnFace(const NewtonSupport& s, const Eigen::MatrixXd& h, const Eigen::VectorXd& g,
                  double l1, const double* x, int32_t dim, Eigen::VectorXd* w) {
  constexpr int64_t kMaxFace = 1500;  // LDLT of the face: |F|^3 / 3 multiply-adds
  const int64_t m = s.size();
  std::vector<int64_t> face, zero;
  for (int64_t a = 0; a < m; ++a) ((*w)[a] != 0.0 || s.index[a] >= dim ? face : zero).push_back(a);
  const int64_t f = static_cast<int64_t>(face.size());
  if (f == 0 || f > kMaxFace) return;
  Eigen::MatrixXd hff(f, f);
  Eigen::VectorXd rhs(f);
  for (int64_t r = 0; r < f; ++r) {
    const int64_t a = face[r];
    const double sign = s.index[a] < dim ? ((*w)[a] > 0 ? 1.0 : -1.0) : 0.0;
    double v = -(g[a] + l1 * sign);
    for (int64_t b : zero) v += h(a, b) * x[s.index[b]];
    rhs[r] = v;
    for (int64_t c = 0; c < f; ++c) hff(r, c) = h(a, face[c]);
  }
  const Eigen::LDLT<Eigen::MatrixXd> ldlt(hff);
  if (ldlt.info() != Eigen::Success) return;
  const Eigen::VectorXd step = ldlt.solve(rhs);
  if (!step.allFinite()) return;
  Eigen::VectorXd candidate = Eigen::VectorXd::Zero(m);
  for (int64_t r = 0; r < f; ++r) {
    const int64_t a = face[r];
    candidate[a] = x[s.index[a]] + step[r];
    if (s.index[a] < dim && (candidate[a] > 0) != ((*w)[a] > 0)) return;  // a sign flipped
    if (s.index[a] < dim && candidate[a] == 0.0) return;
  }
  Eigen::VectorXd d(m);
  for (int64_t a = 0; a < m; ++a) d[a] = candidate[a] - x[s.index[a]];
  for (int64_t b : zero) {
    if (std::fabs(g[b] + h.row(b).dot(d)) > l1 * (1 + 1e-9)) return;  // a zero weight wants to move
  }
  *w = candidate;
}

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
  const double l1 = spec.reg.l1, l2 = spec.reg.l2;
  const double inv_n = 1.0 / static_cast<double>(rows);
  Eigen::MatrixXd h(m, m);  // symmetric, both triangles: column a is read whole
  Eigen::VectorXd g(m), w(m);
  for (int64_t a = 0; a < m; ++a) {
    const int32_t j = s.index[a];
    const bool weight = j < dim;
    g[a] = mu[j] + (weight ? l2 * x[j] : 0.0);
    w[a] = x[j];
    const double* row = packed + a * (a + 1) / 2;
    for (int64_t b = 0; b <= a; ++b) h(a, b) = h(b, a) = row[b] * inv_n;
    if (weight) h(a, a) += l2;
    if (!(h(a, a) > 0.0)) {
      if (!weight || g[a] != 0.0) return false;  // no curvature along a moving coordinate
      h(a, a) = 1.0;                             // a column no row touches: d_a stays 0
    }
  }
  // CD on q over the new point w = x + d; hd = H d kept up to date (one column per move).
  Eigen::VectorXd hd = Eigen::VectorXd::Zero(m);
  int sweep = 0;
  while (sweep < max_sweeps) {
    ++sweep;
    double largest_move = 0.0, largest_w = 0.0;
    for (int64_t a = 0; a < m; ++a) {
      const double haa = h(a, a);
      const double grad = g[a] + hd[a];
      const double u = w[a] - grad / haa;
      double next = u;
      if (s.index[a] < dim) {
        const double t = l1 / haa;
        next = u > t ? u - t : (u < -t ? u + t : 0.0);
      }
      const double delta = next - w[a];
      if (delta != 0.0) {
        w[a] = next;
        hd.noalias() += delta * h.col(a);
        largest_move = std::max(largest_move, std::fabs(delta));
      }
      largest_w = std::max(largest_w, std::fabs(next));
    }
    if (largest_move <= 1e-12 * std::max(largest_w, 1e-300)) break;
  }
  if (sweeps != nullptr) *sweeps = sweep;
  PolishOnFace(s, h, g, l1, x, dim, &w);
  direction->resize(static_cast<size_t>(m));
  double dec = 0.0;
  for (int64_t a = 0; a < m; ++a) {
    const int32_t j = s.index[a];
    const double d = w[a] - x[j];
    (*direction)[a] = d;
    dec += g[a] * d;
    if (j < dim) dec += l1 * (std::fabs(w[a]) - std::fabs(x[j]));
  }
  *decrease = dec;
  return std::isfinite(dec);
}

void NewtonLinePoint(const NewtonSupport& s, const std::vector<double>& direction, double alpha,
                     const double* x, double* out) {
  for (int64_t a = 0; a < s.size(); ++a) out[s.index[a]] = x[s.index[a]] + alpha * direction[a];
}

bool SerialNewtonDirection(const Dataset& data, const ProblemSpec& spec, const double* mu,
                           const double* x, int64_t working_set, NewtonSupport* s,
                           std::vector<double>* direction, double* decrease) {
  if (spec.reg.HasBox() || working_set <= 0) return false;
  const int32_t d = data.dim();
  *s = ChooseNewtonSupport(spec, mu, x, d, working_set);
  const int64_t m = s->size();
  if (m == 0) return false;
  std::vector<int32_t> pos(static_cast<size_t>(spec.ModelSize(d)), -1);
  const double work = SupportHessianWork(data, spec, *s, &pos);
  if (work > kNewtonMaxWorkPerNonzero * static_cast<double>(std::max<int64_t>(data.nnz(), 1)))
    return false;
  std::vector<double> packed(static_cast<size_t>(m * (m + 1) / 2), 0.0);
  AccumulateSupportHessian(data, spec, x, *s, &pos, packed.data());
  return ProxNewtonDirection(spec, *s, packed.data(), data.rows(), mu, x, d, direction, decrease) &&
         *decrease < 0.0;
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
  if (objective <= base_objective + kNewtonArmijo * alpha_ * decrease_) {
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
