#include "edgetrain/coordinator_state.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstring>
#include <type_traits>

namespace edgetrain {

const char* UpdateVerdictName(UpdateVerdict verdict) {
  switch (verdict) {
    case UpdateVerdict::kApplied:
      return "applied";
    case UpdateVerdict::kWrongEpoch:
      return "wrong_epoch";
    case UpdateVerdict::kTooStale:
      return "too_stale";
    case UpdateVerdict::kFutureVersion:
      return "future_version";
    case UpdateVerdict::kWrongPhase:
      return "wrong_phase";
    case UpdateVerdict::kWrongDimension:
      return "wrong_dimension";
    case UpdateVerdict::kNonFinite:
      return "non_finite";
  }
  return "unknown";
}

int CoordinatorState::StalenessBucket(int64_t s) {
  if (s <= 2) return static_cast<int>(std::max<int64_t>(s, 0));
  if (s <= 4) return 3;
  if (s <= 8) return 4;
  if (s <= 16) return 5;
  if (s <= 32) return 6;
  return 7;
}

CoordinatorState::CoordinatorState(const ProblemSpec& spec, int32_t dim)
    : spec_(spec),
      dim_(dim),
      p_(spec.ModelSize(dim)),
      x_(p_, 0.0),
      snapshot_(p_, 0.0),
      grad_sum_(p_, 0.0),
      mu_(p_, 0.0),
      best_(p_, 0.0),
      pos_(p_, -1),
      log_capacity_(std::bit_ceil(static_cast<uint64_t>(2 * p_ + 65536))),
      log_mask_(log_capacity_ - 1),
      log_index_(static_cast<size_t>(log_capacity_)),
      log_value_(static_cast<size_t>(log_capacity_)),
      log_records_(kLogRecords),
      mark_(p_, 0) {
  support_.reserve(p_);
  for (int32_t j = 0; j < dim; ++j) x_[j] = spec.Penalty(j).Start();
  best_ = x_;
  dual_.Reset(spec_, p_);
  RebuildSupport();
}

void CoordinatorState::SupportChanged(int32_t j, double before) {
  if (before == 0.0) {  // became non-zero
    pos_[j] = static_cast<int32_t>(support_.size());
    support_.push_back(j);
    return;
  }
  const int32_t at = pos_[j];  // became zero
  const int32_t last = support_.back();
  support_[at] = last;
  pos_[last] = at;
  support_.pop_back();
  pos_[j] = -1;
}

void CoordinatorState::RebuildSupport() {
  support_.clear();
  std::fill(pos_.begin(), pos_.end(), -1);
  for (int64_t j = 0; j < p_; ++j) {
    if (x_[j] != 0.0) {
      pos_[j] = static_cast<int32_t>(support_.size());
      support_.push_back(static_cast<int32_t>(j));
    }
  }
}

void CoordinatorState::BeginEpoch() {
  ++epoch_;
  snapshot_ = x_;
  snapshot_version_ = version_;
  std::fill(grad_sum_.begin(), grad_sum_.end(), 0.0);
  dual_.Reset(spec_, p_);
  dual_complete_ = true;
  diverged_ = false;
  loss_sum_ = 0;
  grad_rows_ = 0;
  applied_in_epoch_ = 0;
  updates_in_epoch_ = 0;
  inner_steps_ = 0;
  staleness_hist_.fill(0);
  phase_ = Phase::kGradient;
}

namespace {

void AddInto(const VectorView& v, std::vector<double>* sum) {
  if (v.dense()) {
    for (int64_t j = 0; j < v.count; ++j) (*sum)[j] += v.value[j];
  } else {
    for (int64_t k = 0; k < v.count; ++k) (*sum)[v.index[k]] += v.value[k];
  }
}

}  // namespace

void CoordinatorState::AddGradSum(const GradientPart& part) {
  assert(phase_ == Phase::kGradient && part.grad.dim == p_);
  AddInto(part.grad, &grad_sum_);
  if (!dual_.aux.empty() && part.aux.dim == p_) AddInto(part.aux, &dual_.aux);
  dual_.scalars.Add(part.dual);
  dual_complete_ &= part.certified;
  diverged_ |= part.diverged;
  loss_sum_ += part.loss_sum;
  grad_rows_ += part.rows;
}

SnapshotReport CoordinatorState::FinishGradientPhase() {
  assert(phase_ == Phase::kGradient && grad_rows_ > 0);
  const double inv_n = 1.0 / static_cast<double>(grad_rows_);
  for (int64_t j = 0; j < p_; ++j) mu_[j] = grad_sum_[j] * inv_n;
  SnapshotReport r;
  r.epoch = epoch_;
  r.rows = grad_rows_;
  r.loss_sum = loss_sum_;
  r.objective = diverged_
                    ? std::numeric_limits<double>::infinity()
                    : ObjectiveFromLossSum(spec_, loss_sum_, grad_rows_, snapshot_.data(), p_);
  r.kkt = KktViolation(spec_, mu_.data(), snapshot_.data(), p_).max_abs;
  const GapCertificate gap =
      CertifyGap(spec_, dim_, grad_rows_, r.objective, grad_sum_.data(), dual_);
  if (dual_complete_ && !diverged_) {
    r.gap = gap.gap;
    r.relative_gap = gap.relative;
  }
  for (int32_t j = 0; j < dim_; ++j) r.nnz += (snapshot_[j] != 0.0);
  phase_ = Phase::kIdle;
  return r;
}

void CoordinatorState::BeginCurvaturePhase(NewtonSupport s) {
  assert(phase_ == Phase::kIdle && s.size() > 0);
  const int64_t m = s.size();
  support_s_ = std::move(s);
  hessian_sum_.assign(static_cast<size_t>(m * (m + 1) / 2), 0.0);
  curvature_rows_ = 0;
  curvature_complete_ = false;
  phase_ = Phase::kCurvature;
}

bool CoordinatorState::ReuseCurvature(NewtonSupport s) {
  assert(phase_ == Phase::kIdle && s.size() > 0);
  std::vector<double> block;
  if (!curvature_complete_ || curvature_rows_ != grad_rows_ ||
      !RestrictHessianBlock(support_s_, hessian_sum_.data(), s, &block)) {
    return false;
  }
  support_s_ = std::move(s);
  hessian_sum_ = std::move(block);
  phase_ = Phase::kCurvature;
  return true;
}

void CoordinatorState::AddCurvature(const double* packed, int64_t rows) {
  assert(phase_ == Phase::kCurvature);
  double* sum = hessian_sum_.data();
  const size_t count = hessian_sum_.size();
  for (size_t k = 0; k < count; ++k) sum[k] += packed[k];
  curvature_rows_ += rows;
}

bool CoordinatorState::NewtonDirection(std::vector<double>* direction, double* decrease,
                                       int* sweeps) {
  assert(phase_ == Phase::kCurvature);
  phase_ = Phase::kIdle;
  // Every row behind mu~ must be in H too: a Hessian over other rows does not match the gradient.
  curvature_complete_ = curvature_rows_ == grad_rows_;
  if (!curvature_complete_) return false;
  return ProxNewtonDirection(spec_, support_s_, hessian_sum_.data(), curvature_rows_, mu_.data(),
                             snapshot_.data(), dim_, direction, decrease, 200, sweeps) &&
         *decrease < 0.0;
}

void CoordinatorState::BeginInnerPhase(int64_t inner_steps) {
  assert(phase_ == Phase::kIdle && inner_steps > 0);
  inner_steps_ = inner_steps;
  applied_in_epoch_ = 0;
  phase_ = Phase::kInner;
}

UpdateVerdict CoordinatorState::ApplyUpdate(const VectorView& delta, const VectorView& guarded,
                                            int64_t epoch, int64_t base_version,
                                            int64_t max_staleness, uint64_t owner, int64_t steps,
                                            double scale) {
  if (delta.dim != p_ || (guarded.count > 0 && guarded.dim != p_))
    return UpdateVerdict::kWrongDimension;
  if (phase_ != Phase::kInner || applied_in_epoch_ >= inner_steps_)
    return UpdateVerdict::kWrongPhase;
  if (epoch != epoch_) return UpdateVerdict::kWrongEpoch;
  if (base_version > version_) return UpdateVerdict::kFutureVersion;
  // Staleness counts the changes the sender had not seen: the versions since its base made by
  // others (its own later updates are in its copy already: it applies its steps at once).
  const int64_t staleness = ForeignVersions(base_version, owner);
  if (staleness > max_staleness) return UpdateVerdict::kTooStale;
  // Each Delta is finite (the decoder checks), the sum need not be: two of +1.7e308 make inf.
  // Refused whole, so x stays finite whatever an agent sends. (Guarded entries move toward zero.)
  // A dense Delta is checked in the pass that adds it (AddDense).
  if (!delta.dense() && !AddStaysFinite(delta)) return UpdateVerdict::kNonFinite;
  // A stale update (computed at an older version) does not carry a coordinate across zero: it
  // stops at zero. With l1, zero is where the prox puts coordinates; crossing it on the strength
  // of an outdated copy makes near-zero weights oscillate between agents. Fresh updates (and so
  // the serial mode) are exact adds.
  const bool stop_at_zero = staleness > 0 && spec_.reg.l1 > 0 && !spec_.reg.HasBox();
  const int64_t log_begin = log_head_;
  bool exact = scale == 1.0;
  auto add = [&](int32_t j, double v) {
    v *= scale;
    if (v == 0.0) return;
    if (stop_at_zero) {
      const double r = x_[j];
      if (r != 0.0 && (r > 0) != (r + v > 0) && r + v != 0.0) {
        ++crossings_stopped_;
        exact = false;
        AddTo(j, -r);
        return;
      }
    }
    AddTo(j, v);
  };
  const bool plain = !stop_at_zero && scale == 1.0;
  if (delta.dense()) {
    if (!AddDense(delta.value, scale, stop_at_zero, &exact)) return UpdateVerdict::kNonFinite;
  } else if (plain) {
    // Plain adds (the common case): a tight loop with the log append branch-free and the support
    // list touched only when a coordinate becomes zero or non-zero. Scattered adds into a model
    // larger than the caches wait on memory: the coordinates 16 entries ahead are prefetched so
    // the misses overlap.
    constexpr int64_t kAhead = 16;
    double* __restrict x = x_.data();
    int32_t* __restrict log = log_index_.data();
    double* __restrict log_value = log_value_.data();
    const int32_t* index = delta.index;
    const double* value = delta.value;
    int64_t head = log_head_;
    const int64_t mask = log_mask_;
    for (int64_t k = 0; k < delta.count; ++k) {
      if (k + kAhead < delta.count) __builtin_prefetch(x + index[k + kAhead], 1);
      const int32_t j = index[k];
      const double before = x[j];
      const double after = before + value[k];
      x[j] = after;
      log[head & mask] = j;
      log_value[head & mask] = after - before;
      head += static_cast<int64_t>(after != before);
      if ((before == 0.0) != (after == 0.0)) SupportChanged(j, before);
    }
    log_head_ = head;
  } else {
    for (int64_t k = 0; k < delta.count; ++k) add(delta.index[k], delta.value[k]);
  }
  const bool box = spec_.reg.HasBox();
  auto guard = [&](int32_t j, double v) {
    v *= scale;
    if (v == 0.0) return;
    if (box) {  // fresh updates only: the add lands exactly on the kink
      AddTo(j, v);
      return;
    }
    const double r = x_[j];
    if (r == 0.0 || (v > 0) == (r > 0)) {  // already zero, or the move points away from zero
      ++guarded_refused_;
      exact = false;
      return;
    }
    if (std::fabs(v) >= std::fabs(r)) {
      if (std::fabs(v) > std::fabs(r)) {
        ++guarded_clipped_;
        exact = false;
      }
      AddTo(j, -r);  // exactly zero (and exactly r + v when v == -r)
    } else {
      AddTo(j, v);
    }
  };
  if (guarded.dense()) {
    for (int64_t j = 0; j < guarded.count; ++j) guard(static_cast<int32_t>(j), guarded.value[j]);
  } else {
    for (int64_t k = 0; k < guarded.count; ++k) guard(guarded.index[k], guarded.value[k]);
  }
  ++version_;
  last_exact_ = exact;
  LogRecord& record = log_records_[static_cast<size_t>(version_ % kLogRecords)];
  record.version = version_;
  record.begin = log_begin;
  record.end = log_head_;
  record.dense = delta.dense();
  record.owner = owner;
  record.steps = steps;
  // A damped update counts for the steps it is worth: the epoch runs m steps of progress.
  applied_in_epoch_ += std::max<int64_t>(1, std::llround(static_cast<double>(steps) * scale));
  ++updates_in_epoch_;
  ++applied_total_;
  ++staleness_hist_[StalenessBucket(staleness)];
  return UpdateVerdict::kApplied;
}

bool CoordinatorState::ChangesSince(int64_t since, int64_t skip_version,
                                    std::vector<int32_t>* out) {
  out->clear();
  if (since < log_floor_ || since > version_ || version_ - since > kLogRecords) return false;
  int64_t total = 0;
  for (int64_t v = since + 1; v <= version_; ++v) {
    const LogRecord& r = log_records_[static_cast<size_t>(v % kLogRecords)];
    if (r.version != v || r.begin < log_head_ - log_capacity_) return false;  // overwritten
    if (v != skip_version) total += r.dense ? p_ : r.end - r.begin;
  }
  // Sparse costs 12 bytes an entry, the whole model 8 per coordinate: beyond 2p/3 entries the
  // whole model is smaller anyway (and collecting would cost more than sending it).
  if (3 * total >= 2 * p_) return false;
  if (++mark_stamp_ == 0) {  // wrapped: clear the stamps once every 2^32 calls
    std::fill(mark_.begin(), mark_.end(), 0u);
    mark_stamp_ = 1;
  }
  for (int64_t v = since + 1; v <= version_; ++v) {
    if (v == skip_version) continue;
    const LogRecord& r = log_records_[static_cast<size_t>(v % kLogRecords)];
    for (int64_t k = r.begin; k < r.end; ++k) {
      const int32_t j = log_index_[static_cast<size_t>(k & log_mask_)];
      if (mark_[j] != mark_stamp_) {
        mark_[j] = mark_stamp_;
        out->push_back(j);
      }
    }
  }
  return true;
}

int64_t CoordinatorState::ForeignVersions(int64_t since, uint64_t owner) const {
  const int64_t all = version_ - since;
  if (owner == 0 || all > kLogRecords || since < log_floor_) return all;
  int64_t foreign = 0;
  for (int64_t v = since + 1; v <= version_; ++v) {
    const LogRecord& r = log_records_[static_cast<size_t>(v % kLogRecords)];
    if (r.version != v) return all;
    foreign += r.owner != owner;
  }
  return foreign;
}

CoordinatorState::Foreign CoordinatorState::ForeignSteps(int64_t since, uint64_t owner) const {
  Foreign f;
  if (version_ - since > kLogRecords || since < log_floor_) {
    f.steps = -1;
    return f;
  }
  uint64_t seen[64];
  for (int64_t v = since + 1; v <= version_; ++v) {
    const LogRecord& r = log_records_[static_cast<size_t>(v % kLogRecords)];
    if (r.version != v) {
      f.steps = -1;
      return f;
    }
    if (owner != 0 && r.owner == owner) continue;
    f.steps += r.steps;
    if (std::find(seen, seen + f.owners, r.owner) == seen + f.owners && f.owners < 64) {
      seen[f.owners++] = r.owner;
    }
  }
  return f;
}

bool CoordinatorState::AddDense(const double* v, double scale, bool stop_at_zero, bool* exact) {
  // One vectorised pass: the sums go to the spare buffer with two bit tests each, adds and ANDs
  // only (the baseline x86-64 and armv7 vector units have no 64-bit compare). For a double's
  // magnitude bits m (sign cleared, m < 2^63), m + kMagnitude carries into bit 63 exactly when
  // m != 0, so the AND of those keeps bit 63 exactly when no sum is zero (then the support list,
  // full before, stands; otherwise it is rebuilt, one more pass); m + kPastFinite reaches bit 63
  // exactly when m >= the bits of infinity (inf and NaN), so the OR of those has bit 63 set when
  // any sum is not finite. A stale update stops at zero instead of crossing it (ApplyUpdate).
  constexpr uint64_t kMagnitude = 0x7fffffffffffffffull;
  constexpr uint64_t kPastFinite = 0x8000000000000000ull - 0x7ff0000000000000ull;
  spare_.resize(static_cast<size_t>(p_));
  const double* __restrict x = x_.data();
  double* __restrict out = spare_.data();
  uint64_t all_nonzero = ~uint64_t{0}, not_finite = 0;
  int64_t stopped = 0;
  auto pass = [&](auto stop) {  // stop: std::true_type or false_type, one loop each
    for (int64_t j = 0; j < p_; ++j) {
      const double r = x[j];
      double after = r + scale * v[j];
      if constexpr (decltype(stop)::value) {
        const bool cross = (r != 0.0) & ((r > 0.0) != (after > 0.0)) & (after != 0.0);
        stopped += cross;
        after = cross ? 0.0 : after;
      }
      out[j] = after;
      uint64_t bits;
      std::memcpy(&bits, &after, sizeof bits);
      const uint64_t magnitude = bits & kMagnitude;
      all_nonzero &= magnitude + kMagnitude;
      not_finite |= magnitude + kPastFinite;
    }
  };
  if (stop_at_zero) {
    pass(std::true_type{});
  } else {
    pass(std::false_type{});
  }
  if ((not_finite >> 63) != 0) return false;
  x_.swap(spare_);
  crossings_stopped_ += stopped;
  if (stopped > 0) *exact = false;
  if (static_cast<int64_t>(support_.size()) != p_ || (all_nonzero >> 63) == 0) RebuildSupport();
  return true;
}

bool CoordinatorState::AddStaysFinite(const VectorView& delta) const {
  const double* x = x_.data();
  bool finite = true;
  if (delta.dense()) {
    for (int64_t j = 0; j < delta.count; ++j) finite &= std::isfinite(x[j] + delta.value[j]);
  } else {
    for (int64_t k = 0; k < delta.count; ++k) {
      finite &= std::isfinite(x[delta.index[k]] + delta.value[k]);
    }
  }
  return finite;
}

void CoordinatorState::JumpTo(const std::vector<double>& x) {
  assert(static_cast<int64_t>(x.size()) == p_);
  x_ = x;
  ++version_;
  RebuildSupport();
  ForgetChanges();
  phase_ = Phase::kIdle;
}

void CoordinatorState::Restore(const std::vector<double>& x, int64_t version, int64_t epoch) {
  assert(static_cast<int64_t>(x.size()) == p_);
  x_ = x;
  best_ = x;
  version_ = version;
  epoch_ = epoch;
  ForgetChanges();
  phase_ = Phase::kIdle;
  RebuildSupport();
}

}  // namespace edgetrain
