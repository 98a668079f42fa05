#include "options.h"

#include <cstdio>

#include "edgetrain/crc32c.h"

namespace edgetrain::coordinator {

uint64_t CheckpointFingerprint(const CoordinatorOptions& o) {
  const Regularizer& r = o.problem.reg;
  char text[512];
  std::snprintf(text, sizeof text,
                "task=%d loss=%d l1=%.17g l2=%.17g lower=%.17g upper=%.17g intercept=%d dim=%d",
                static_cast<int>(o.task), static_cast<int>(o.problem.loss), r.l1, r.l2, r.lower,
                r.upper, o.problem.intercept ? 1 : 0, o.dimension);
  std::string s = text;
  if (o.labels) s += " labels=" + o.labels->negative + "," + o.labels->positive;
  if (o.positive_label) s += " positive=" + *o.positive_label;
  // A checkpoint holds the model in the user's units: a run resumed with another preconditioner
  // continues from the same model; with another scaler the features mean something else.
  if (o.scale) s += std::string(" scale=") + ScalerName(*o.scale);
  return (static_cast<uint64_t>(Crc32c(s.data(), s.size())) << 32) |
         Crc32c(s.data(), s.size(), 0x9e3779b9u);
}

}  // namespace edgetrain::coordinator
