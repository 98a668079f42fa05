#include "edgetrain/model_replica.h"

#include <algorithm>
#include <cassert>

namespace edgetrain {

void ModelReplica::Reset(int64_t p) {
  x_.assign(p, 0.0);
  pos_.assign(p, -1);
  support_.clear();
  support_.reserve(p);
}

void ModelReplica::Assign(const VectorView& v) {
  assert(v.dim == p());
  for (int32_t j : support_) x_[j] = 0.0;
  support_.clear();
  if (v.dense()) {
    for (int64_t j = 0; j < v.count; ++j) {
      x_[j] = v.value[j];
      if (v.value[j] != 0.0) {
        pos_[j] = static_cast<int32_t>(support_.size());
        support_.push_back(static_cast<int32_t>(j));
      }
    }
    return;
  }
  for (int64_t k = 0; k < v.count; ++k) {
    const int32_t j = v.index[k];
    if (v.value[k] == 0.0) continue;
    if (x_[j] == 0.0) {  // a repeated index is counted once
      pos_[j] = static_cast<int32_t>(support_.size());
      support_.push_back(j);
    }
    x_[j] = v.value[k];
  }
}

void ModelReplica::Add(const ModelUpdate& update) {
  assert(update.delta.dim() == p());
  for (const SparseVector* part : {&update.delta, &update.guarded}) {
    const std::vector<int32_t>& index = part->index();
    const std::vector<double>& value = part->value();
    for (size_t k = 0; k < index.size(); ++k) Set(index[k], x_[index[k]] + value[k]);
  }
}

void ModelReplica::Overwrite(const VectorView& v) {
  assert(v.dim == p());
  if (v.dense()) {
    Assign(v);
    return;
  }
  for (int64_t k = 0; k < v.count; ++k) Set(v.index[k], v.value[k]);
}

}  // namespace edgetrain
