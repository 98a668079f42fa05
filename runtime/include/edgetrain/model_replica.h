// ModelReplica: an agent's copy of the coordinator's model x^ and where it is non-zero.
//
// Assign() takes a received vector (sparse or dense): the entries of the previous support are
// cleared and the new ones written, so a sparse model costs O(nnz old + nnz new), not O(p).
// An incremental answer (docs/protocol.md) is applied with Add (the agent's own update) and
// Overwrite (the entries that changed), each O(entries). View() gives the SvrgWorker the values
// and the support. Memory: p doubles and 2p ints, once.
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
  // x_j += Delta_j for the entries of both parts (the coordinator's exact application).
  // REQUIRES: update.delta.dim() == p().
  void Add(const ModelUpdate& update);
  // x_j += v.
  void AddTo(int32_t j, double v) { Set(j, x_[j] + v); }
  // x_j = v_j for every entry of v (zeros included); a dense v replaces everything.
  // REQUIRES: as for Assign.
  void Overwrite(const VectorView& v);

  int64_t p() const { return static_cast<int64_t>(x_.size()); }
  const std::vector<double>& x() const { return x_; }
  ModelView View() const {
    return {x_.data(), p(), support_.data(), static_cast<int64_t>(support_.size()), false};
  }

 private:
  void Set(int32_t j, double value) {
    const double before = x_[j];
    x_[j] = value;
    if (before == 0.0 && value != 0.0) {
      pos_[j] = static_cast<int32_t>(support_.size());
      support_.push_back(j);
    } else if (before != 0.0 && value == 0.0) {
      const int32_t at = pos_[j], last = support_.back();
      support_[at] = last;
      pos_[last] = at;
      support_.pop_back();
    }
  }

  std::vector<double> x_;
  std::vector<int32_t> support_;
  std::vector<int32_t> pos_;  // where j sits in support_ (valid while x_[j] != 0)
};

}  // namespace edgetrain

#endif  // EDGETRAIN_MODEL_REPLICA_H_
