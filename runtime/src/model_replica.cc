#include "edgetrain/model_replica.h"

#include <algorithm>
#include <cassert>

namespace edgetrain {

void ModelReplica::Reset(int64_t p) {
  x_.assign(p, 0.0);
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
      if (v.value[j] != 0.0) support_.push_back(static_cast<int32_t>(j));
    }
    return;
  }
  for (int64_t k = 0; k < v.count; ++k) {
    const int32_t j = v.index[k];
    if (v.value[k] == 0.0) continue;
    if (x_[j] == 0.0) support_.push_back(j);  // a repeated index is counted once
    x_[j] = v.value[k];
  }
}

}  // namespace edgetrain
