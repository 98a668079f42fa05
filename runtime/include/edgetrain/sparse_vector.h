// SparseVector and VectorView: the two shapes a model update or model vector takes.
//
// SparseVector owns (index, value) pairs in any order without duplicates, with capacity reserved
// once for the full dimension so that filling it never allocates. VectorView is a non-owning
// view of either a sparse list or a dense array of `dim` values; the coordinator applies updates
// straight from a VectorView into a received message (no copy).
//
// Thread-safety: none. Ownership: VectorView does not own; it must not outlive its storage.
#ifndef EDGETRAIN_SPARSE_VECTOR_H_
#define EDGETRAIN_SPARSE_VECTOR_H_

#include <cassert>
#include <cstdint>
#include <vector>

namespace edgetrain {

struct VectorView {
  const int32_t* index = nullptr;  // null with count == dim: dense
  const double* value = nullptr;
  int64_t count = 0;  // entries in value (0: an empty vector, sparse or dense alike)
  int64_t dim = 0;

  bool dense() const { return index == nullptr && count > 0; }
  static VectorView Dense(const double* v, int64_t dim) { return {nullptr, v, dim, dim}; }
};

class SparseVector {
 public:
  SparseVector() = default;
  explicit SparseVector(int64_t dim) { Reset(dim); }

  // Sets the dimension and reserves room for every coordinate; clears the entries.
  void Reset(int64_t dim) {
    dim_ = dim;
    index_.clear();
    value_.clear();
    index_.reserve(dim);
    value_.reserve(dim);
  }
  void Clear() {
    index_.clear();
    value_.clear();
  }
  // REQUIRES: 0 <= i < dim, i not present yet.
  void Push(int32_t i, double v) {
    assert(i >= 0 && i < dim_);
    index_.push_back(i);
    value_.push_back(v);
  }

  int64_t dim() const { return dim_; }
  int64_t nnz() const { return static_cast<int64_t>(index_.size()); }
  const std::vector<int32_t>& index() const { return index_; }
  const std::vector<double>& value() const { return value_; }
  VectorView View() const { return {index_.data(), value_.data(), nnz(), dim_}; }

 private:
  int64_t dim_ = 0;
  std::vector<int32_t> index_;
  std::vector<double> value_;
};

// One DAP-SVRG update Delta = prox(x^ - eta v) - x^, split in two parts:
//   delta    entries added unconditionally;
//   guarded  entries whose prox result is exactly zero (the kink of l1): Delta_j = -x^_j.
// The coordinator moves a guarded coordinate toward zero by at most |Delta_j|, never past zero
// and never away from it. Fresh (x_j == x^_j) that is exactly x_j + Delta_j = 0; stale, it keeps
// several agents that "zero" the same coordinate from their own copies from pushing it to the
// other side — a plain add would overshoot by about (K - 1) x_j with K agents, and measured with
// 8 agents left every weight non-zero. (With a box constraint updates are fresh, see the
// coordinator, and kinks at the bounds are guarded too; then the move is exact as well.)
struct ModelUpdate {
  SparseVector delta;
  SparseVector guarded;

  void Reset(int64_t dim) {
    delta.Reset(dim);
    guarded.Reset(dim);
  }
  void Clear() {
    delta.Clear();
    guarded.Clear();
  }
  int64_t nnz() const { return delta.nnz() + guarded.nnz(); }
};

}  // namespace edgetrain

#endif  // EDGETRAIN_SPARSE_VECTOR_H_
