// ModelReplica: an agent's copy of the coordinator's model x^ and where it is non-zero.
//
// Assign() takes a received vector (sparse or dense): the entries of the previous support are
// cleared and the new ones written, so a sparse model costs O(nnz old + nnz new), not O(p).
// View() gives the SvrgWorker the values and the support. Memory: p doubles and p ints, once.
//
// Thread-safety: none. Ownership: owns its arrays; View() points into them.
#ifndef EDGETRAIN_MODEL_REPLICA_H_
#define EDGETRAIN_MODEL_REPLICA_H_

#include <cstdint>
#include <vector>

#include "edgetrain/sparse_vector.h"
#include "edgetrain/svrg_worker.h"

namespace edgetrain {

class ModelReplica {
 public:
  ModelReplica() = default;
  explicit ModelReplica(int64_t p) { Reset(p); }

  // All zeros, dimension p.
  void Reset(int64_t p);
  // REQUIRES: v.dim == p(), indices < p (the wire decoder checks both).
  void Assign(const VectorView& v);

  int64_t p() const { return static_cast<int64_t>(x_.size()); }
  const std::vector<double>& x() const { return x_; }
  ModelView View() const {
    return {x_.data(), p(), support_.data(), static_cast<int64_t>(support_.size()), false};
  }

 private:
  std::vector<double> x_;
  std::vector<int32_t> support_;
};

}  // namespace edgetrain

#endif  // EDGETRAIN_MODEL_REPLICA_H_
