#include "edgetrain/wire.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>

#include "edgetrain/fb/wire_generated.h"
#include "edgetrain/model.h"
#include "edgetrain/text.h"

namespace edgetrain::wire {

namespace fb = ::edgetrain::fb::wire;

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "wire vectors are read in place; big-endian hosts would need byte swapping");

// The layout every protocol version keeps (schemas/wire.fbs): a peer of another version must be
// able to read our envelope and our Reject, and we theirs.
static_assert(fb::Envelope::VT_PROTOCOL == 4 && fb::Envelope::VT_AGENT_ID == 6 &&
                  fb::Envelope::VT_SESSION == 8 && fb::Envelope::VT_SEQ == 10 &&
                  fb::Envelope::VT_MESSAGE_TYPE == 12 && fb::Envelope::VT_MESSAGE == 14,
              "the Envelope layout is stable across protocol versions");
static_assert(static_cast<int>(fb::Message::Hello) == 1 &&
                  static_cast<int>(fb::Message::Welcome) == 2 &&
                  static_cast<int>(fb::Message::Reject) == 3,
              "the union slots of Hello, Welcome and Reject are stable across protocol versions");
static_assert(fb::Reject::VT_REASON == 4 && fb::Reject::VT_TEXT == 6,
              "the Reject layout is stable across protocol versions");
static_assert(static_cast<int>(fb::RejectReason::ProtocolVersion) ==
                      static_cast<int>(RejectReason::kProtocolMismatch) &&
                  static_cast<int>(fb::RejectReason::NotWelcome) ==
                      static_cast<int>(RejectReason::kNotWelcome),
              "RejectReason mirrors the schema's values");
// The shared enums (schemas/enums.fbs) carry the runtime's values byte for byte.
static_assert(static_cast<int>(::edgetrain::fb::Loss::Logistic) ==
                      static_cast<int>(LossKind::kLogistic) &&
                  static_cast<int>(::edgetrain::fb::Loss::Squared) ==
                      static_cast<int>(LossKind::kSquared) &&
                  static_cast<int>(::edgetrain::fb::Loss::SquaredHinge) ==
                      static_cast<int>(LossKind::kSquaredHinge),
              "Loss mirrors LossKind");
static_assert(static_cast<int>(::edgetrain::fb::Task::Classification) ==
                      static_cast<int>(Task::kClassification) &&
                  static_cast<int>(::edgetrain::fb::Task::Regression) ==
                      static_cast<int>(Task::kRegression),
              "Task mirrors edgetrain::Task");

const char* RejectReasonName(RejectReason reason) {
  const auto r = static_cast<fb::RejectReason>(reason);
  if (r < fb::RejectReason::MIN || r > fb::RejectReason::MAX) return "Unknown";
  return fb::EnumNameRejectReason(r);
}

const char* MessageName(const Body& body) {
  static constexpr const char* kNames[] = {
      "Hello",   "Welcome",   "Reject",           "EpochBegin",
      "GradSum", "InnerLoop", "CurvatureRequest", "Curvature",
      "Update",  "Model",     "Heartbeat",        "Bye",
      "Stop",    "RoundEnd",  "RoundBegin",       "another protocol version"};
  static_assert(std::size(kNames) == std::variant_size_v<Body>);
  return kNames[body.index()];
}

namespace {

// Non-finite doubles have all exponent bits set: (bits & exponent) + 2^52 carries into bit 63
// exactly for them. One branch-free pass of 64-bit and/add/or (SSE2-vectorisable: this reads
// every value of every inbound vector).
bool AllFinite(const double* val, size_t count) {
  constexpr uint64_t kExponent = 0x7ff0000000000000ull, kOne = uint64_t{1} << 52;
  uint64_t carry = 0;
  for (size_t k = 0; k < count; ++k) {
    uint64_t bits;
    std::memcpy(&bits, val + k, sizeof bits);
    carry |= (bits & kExponent) + kOne;
  }
  return (carry >> 63) == 0;
}

Status Refuse(const char* field, const std::string& what) {
  return Status::InvalidArgument(std::string(field) + ": " + what);
}

Status NonNegative(int64_t v, const char* field) {
  return v >= 0 ? Status::Ok() : Refuse(field, "negative (" + std::to_string(v) + ")");
}

// A message's epoch and model version (both >= 0), into *epoch and *version.
template <typename Table>
Status EpochAndVersion(const Table& t, const char* message, int64_t* epoch, int64_t* version) {
  *epoch = t.epoch();
  *version = t.version();
  for (const auto& [value, name] : {std::pair{*epoch, ".epoch"}, std::pair{*version, ".version"}}) {
    if (value < 0) {
      return Status::InvalidArgument(std::string(message) + name + ": negative (" +
                                     std::to_string(value) + ")");
    }
  }
  return Status::Ok();
}

Status FiniteNonNegative(double v, const char* field) {
  return std::isfinite(v) && v >= 0
             ? Status::Ok()
             : Refuse(field, "not a finite number >= 0 (" + std::to_string(v) + ")");
}

// A string field: at most max_bytes of valid UTF-8 (absent: empty, or refused when required).
Status ReadString(const flatbuffers::String* s, const char* field, size_t max_bytes, bool required,
                  std::string_view* out) {
  if (s == nullptr) {
    *out = {};
    return required ? Refuse(field, "missing") : Status::Ok();
  }
  *out = std::string_view(s->data(), s->size());
  if (out->size() > max_bytes) {
    return Refuse(
        field, std::to_string(out->size()) + " bytes (at most " + std::to_string(max_bytes) + ")");
  }
  if (!IsValidUtf8(*out)) return Refuse(field, "not valid UTF-8");
  return Status::Ok();
}

flatbuffers::Offset<flatbuffers::String> String(flatbuffers::FlatBufferBuilder& fbb,
                                                std::string_view s) {
  return fbb.CreateString(s.data(), s.size());
}

// Only the envelope's own fields, not the union member: what a message of another protocol
// version is verified with (its tables may differ from ours; the envelope does not).
struct EnvelopeHead : private flatbuffers::Table {
  bool Verify(flatbuffers::Verifier& v) const {
    return VerifyTableStart(v) && VerifyField<uint16_t>(v, fb::Envelope::VT_PROTOCOL, 2) &&
           VerifyOffset(v, fb::Envelope::VT_AGENT_ID) &&
           v.VerifyString(GetPointer<const flatbuffers::String*>(fb::Envelope::VT_AGENT_ID)) &&
           VerifyField<uint64_t>(v, fb::Envelope::VT_SESSION, 8) &&
           VerifyField<uint64_t>(v, fb::Envelope::VT_SEQ, 8) &&
           VerifyField<uint8_t>(v, fb::Envelope::VT_MESSAGE_TYPE, 1) &&
           VerifyOffset(v, fb::Envelope::VT_MESSAGE) && v.EndTable();
  }
};

// A vector of numbers read in place: exactly `count` entries (absent: refused unless count is
// 0), 8-byte aligned (a crafted message can misplace them, see PayloadReader::Vector), finite.
template <typename T>
Status Numbers(const flatbuffers::Vector<T>* v, size_t count, const char* field,
               std::span<const T>* out) {
  *out = {};
  const size_t size = v != nullptr ? v->size() : 0;
  if (size != count) {
    return Refuse(field, std::to_string(size) + " entries, expected " + std::to_string(count));
  }
  if (count == 0) return Status::Ok();
  const T* data = v->data();
  if (reinterpret_cast<uintptr_t>(data) % alignof(T) != 0)
    return Refuse(field, "values not 8-byte aligned");
  if constexpr (std::is_floating_point_v<T>) {
    if (!AllFinite(data, count)) return Refuse(field, "holds a non-finite value");
  }
  *out = std::span<const T>(data, count);
  return Status::Ok();
}

}  // namespace

ColumnStatsView ColumnStatsView::Of(const ColumnStats& s) {
  return {s.nonzeros, s.sum, s.sum_squares, s.min, s.max};
}

ColumnStats ColumnStatsView::ToStats(int64_t rows) const {
  ColumnStats s;
  s.rows = rows;
  s.nonzeros.assign(nonzeros.begin(), nonzeros.end());
  s.sum.assign(sum.begin(), sum.end());
  s.sum_squares.assign(sum_squares.begin(), sum_squares.end());
  s.min.assign(min.begin(), min.end());
  s.max.assign(max.begin(), max.end());
  return s;
}

ScalerView ScalerView::Of(const Scaler& s) { return {s.kind, s.offset, s.factor}; }

Scaler ScalerView::ToScaler() const {
  Scaler s;
  s.kind = kind;
  s.offset.assign(offset.begin(), offset.end());
  s.factor.assign(factor.begin(), factor.end());
  return s;
}

// The decoder's shared checks, for the per-message decoders below: vectors against the model
// size, repeated indices (stamps sized to the model), strings.
class PayloadReader {
 public:
  explicit PayloadReader(Decoder* d) : d_(*d) {}

  int64_t model_size() const { return d_.model_size_; }

  // A Vector field: dimension (the model's when known), lengths, indices in range, values finite
  // and aligned; *increasing: whether its indices increase (none, or dense: true). Repeats are
  // checked by Distinct.
  Status Vector(const fb::Vector* v, const char* field, bool required, VectorView* out,
                bool* increasing) const {
    *out = VectorView{nullptr, nullptr, 0, d_.model_size_};
    *increasing = true;
    if (v == nullptr) return required ? Refuse(field, "missing") : Status::Ok();
    const int64_t dim = v->dim();
    if (dim <= 0 || dim > int64_t{kMaxModelDimension} + 1) {
      return Refuse(field, "dimension " + std::to_string(dim) + " (a model has 1 to " +
                               std::to_string(int64_t{kMaxModelDimension} + 1) + " entries)");
    }
    if (d_.model_size_ > 0 && dim != d_.model_size_) {
      return Refuse(field, "dimension " + std::to_string(dim) + ", expected " +
                               std::to_string(d_.model_size_));
    }
    const auto* value = v->value();
    const uint32_t count = value != nullptr ? value->size() : 0;
    const int32_t* index = nullptr;
    if (v->index() != nullptr) {
      if (v->index()->size() != count) {
        return Refuse(field, std::to_string(v->index()->size()) + " indices but " +
                                 std::to_string(count) + " values");
      }
      if (count > static_cast<uint64_t>(dim)) {
        return Refuse(field,
                      std::to_string(count) + " entries for dimension " + std::to_string(dim));
      }
      // One branch-free pass (SSE2-vectorisable: 32-bit signed compares); 0 < dim <= 2^26 + 1, so
      // an index is valid exactly when, read as int32, it is >= 0 and < dim. The same pass sees
      // whether the indices increase (then none repeats: Distinct has nothing to do).
      index = reinterpret_cast<const int32_t*>(v->index()->data());
      const int32_t limit = static_cast<int32_t>(dim);
      int32_t out_of_range = 0, unordered = 0;
      if (count > 0)
        out_of_range = static_cast<int32_t>(index[0] < 0) | static_cast<int32_t>(index[0] >= limit);
      for (uint32_t k = 1; k < count; ++k) {
        out_of_range |=
            static_cast<int32_t>(index[k] < 0) | static_cast<int32_t>(index[k] >= limit);
        unordered |= static_cast<int32_t>(index[k - 1] >= index[k]);
      }
      *increasing = unordered == 0;
      if (out_of_range != 0) {
        uint32_t bad = 0;
        for (uint32_t k = 0; k < count && bad == 0; ++k) {
          if (v->index()->Get(k) >= static_cast<uint64_t>(dim)) bad = v->index()->Get(k);
        }
        return Refuse(field, "index " + std::to_string(bad) + " out of range (dimension " +
                                 std::to_string(dim) + ")");
      }
    } else if (count != static_cast<uint64_t>(dim)) {
      return Refuse(field, "dense with " + std::to_string(count) + " values for dimension " +
                               std::to_string(dim));
    }
    const double* val = value != nullptr ? value->data() : nullptr;
    // Values are read in place: the verifier only checks a vector's 4-byte length, so a crafted
    // message can place the doubles at 4 mod 8 (the Encoder aligns them to 8; FlatBuffers leaves
    // an empty vector unpadded, which is harmless since nothing is read).
    if (count > 0 && reinterpret_cast<uintptr_t>(val) % alignof(double) != 0)
      return Refuse(field, "values not 8-byte aligned");
    if (!AllFinite(val, count)) return Refuse(field, "holds a non-finite value");
    *out = VectorView{index, val, count, dim};
    return Status::Ok();
  }

  // No index twice within `a`, within `b`, or in both (b: an optional second vector of the same
  // message). O(nnz): stamps sized to the model, allocated by set_model_size; a vector alone whose
  // indices increase (a_increasing, from Vector) needs none.
  Status Distinct(const VectorView& a, bool a_increasing, const char* a_field,
                  const VectorView& b = {}, const char* b_field = "") {
    if (b.index == nullptr && a_increasing) return Status::Ok();
    if (d_.model_size_ <= 0) return DistinctBySorting(a, a_field, b, b_field);
    if (++d_.stamp_now_ == 0) {  // wrapped after 2^32 index sets: start the stamps over
      std::fill(d_.stamp_.begin(), d_.stamp_.end(), 0u);
      d_.stamp_now_ = 1;
    }
    const uint32_t now = d_.stamp_now_;
    uint32_t* stamp = d_.stamp_.data();
    for (const auto& [v, field] : {std::pair{&a, a_field}, std::pair{&b, b_field}}) {
      if (v->index == nullptr) continue;
      for (int64_t k = 0; k < v->count; ++k) {
        const int32_t j = v->index[k];
        if (stamp[j] == now) return Repeated(a, a_field, field, j);
        stamp[j] = now;
      }
    }
    return Status::Ok();
  }

  // Hello's labels live in the decoder (HelloMsg::labels points there).
  std::array<std::string_view, 2>& labels() { return d_.labels_; }

 private:
  // While the model size is unknown (no stamps yet): sort a copy of the indices. Before a model
  // exists only a Welcome's vector is ever used, so this is not on a steady-state path.
  Status DistinctBySorting(const VectorView& a, const char* a_field, const VectorView& b,
                           const char* b_field) {
    std::vector<int32_t>& all = d_.sorted_;
    all.clear();
    for (const VectorView* v : {&a, &b}) {
      if (v->index != nullptr) all.insert(all.end(), v->index, v->index + v->count);
    }
    std::sort(all.begin(), all.end());
    const auto twice = std::adjacent_find(all.begin(), all.end());
    if (twice == all.end()) return Status::Ok();
    const int32_t j = *twice;
    const bool in_b =
        b.index != nullptr && std::find(b.index, b.index + b.count, j) != b.index + b.count;
    return Repeated(a, a_field, in_b ? b_field : a_field, j);
  }

  static Status Repeated(const VectorView& a, const char* a_field, const char* field, int32_t j) {
    const bool in_a =
        a.index != nullptr && std::find(a.index, a.index + a.count, j) != a.index + a.count;
    if (field != a_field && in_a) {
      return Refuse(field, "index " + std::to_string(j) + " is also in " + a_field);
    }
    return Refuse(field, "index " + std::to_string(j) + " appears twice");
  }

  Decoder& d_;
};

void Decoder::set_model_size(int64_t p) {
  model_size_ = p;
  stamp_.assign(p > 0 ? static_cast<size_t>(p) : 0, 0u);
  stamp_now_ = 0;
  sorted_ = {};
}

// ---- Encoder basics ---------------------------------------------------------------------------

std::string_view Encoder::Finish(const Header& h, uint8_t type, flatbuffers::Offset<void> body) {
  auto id = String(fbb_, h.agent_id);
  fb::EnvelopeBuilder e(fbb_);
  e.add_protocol(h.protocol);
  e.add_agent_id(id);
  e.add_session(h.session);
  e.add_seq(h.seq);
  e.add_message_type(static_cast<fb::Message>(type));
  e.add_message(body);
  fb::FinishEnvelopeBuffer(fbb_, e.Finish());
  return std::string_view(reinterpret_cast<const char*>(fbb_.GetBufferPointer()), fbb_.GetSize());
}

flatbuffers::Offset<void> Encoder::Vector(const double* dense, int64_t dim,
                                          std::span<const int32_t> entries) {
  const auto nnz = static_cast<int64_t>(entries.size());
  if (SparseBytes(nnz) < DenseBytes(dim)) {
    uint32_t* idx;
    double* val;
    auto index_off = fbb_.CreateUninitializedVector(static_cast<size_t>(nnz), &idx);
    if (nnz > 0) std::memcpy(idx, entries.data(), static_cast<size_t>(nnz) * sizeof(uint32_t));
    auto value_off = fbb_.CreateUninitializedVector(static_cast<size_t>(nnz), &val);
    for (int64_t k = 0; k < nnz; ++k) val[k] = dense[entries[k]];
    return fb::CreateVector(fbb_, dim, index_off, value_off).Union();
  }
  auto value_off = fbb_.CreateVector(dense, static_cast<size_t>(dim));
  return fb::CreateVector(fbb_, dim, 0, value_off).Union();
}

flatbuffers::Offset<void> Encoder::Vector(const VectorView& v) {
  if (v.dense()) {  // send its non-zeros when that is smaller
    scratch_index_.clear();
    for (int64_t j = 0; j < v.dim; ++j) {
      if (v.value[j] != 0.0) scratch_index_.push_back(static_cast<int32_t>(j));
    }
    return Vector(v.value, v.dim, scratch_index_);
  }
  const int64_t nnz = v.count;
  if (SparseBytes(nnz) < DenseBytes(v.dim)) {
    auto index_off =
        fbb_.CreateVector(reinterpret_cast<const uint32_t*>(v.index), static_cast<size_t>(nnz));
    auto value_off = fbb_.CreateVector(v.value, static_cast<size_t>(nnz));
    return fb::CreateVector(fbb_, v.dim, index_off, value_off).Union();
  }
  double* val;
  auto value_off = fbb_.CreateUninitializedVector(static_cast<size_t>(v.dim), &val);
  std::memset(val, 0, static_cast<size_t>(v.dim) * sizeof(double));
  for (int64_t k = 0; k < nnz; ++k) val[v.index[k]] = v.value[k];
  return fb::CreateVector(fbb_, v.dim, 0, value_off).Union();
}

namespace {

flatbuffers::Offset<fb::Vector> AsVector(flatbuffers::Offset<void> v) {
  return flatbuffers::Offset<fb::Vector>(v.o);
}

template <typename T>
uint8_t Type(T type) {
  return static_cast<uint8_t>(type);
}

// ---- Problem (inside Welcome): encoded and decoded here only ----------------------------------

flatbuffers::Offset<fb::Problem> EncodeProblem(flatbuffers::FlatBufferBuilder& fbb,
                                               const ProblemSpec& p) {
  return fb::CreateProblem(fbb, static_cast<::edgetrain::fb::Loss>(p.loss), p.reg.l1, p.reg.l2,
                           p.reg.lower, p.reg.upper, p.intercept);
}

Status DecodeProblem(const fb::Problem* p, ProblemSpec* out) {
  if (p == nullptr) return Refuse("Welcome.problem", "missing");
  const auto loss = p->loss();
  if (loss < ::edgetrain::fb::Loss::MIN || loss > ::edgetrain::fb::Loss::MAX) {
    return Refuse("Welcome.problem.loss",
                  "unknown value " + std::to_string(static_cast<int>(loss)));
  }
  out->loss = static_cast<LossKind>(loss);
  out->reg.l1 = p->l1();
  out->reg.l2 = p->l2();
  out->reg.lower = p->lower();
  out->reg.upper = p->upper();
  out->intercept = p->intercept();
  if (Status st = out->reg.Validate(); !st.ok()) return Refuse("Welcome.problem", st.message());
  return Status::Ok();
}

}  // namespace

// ---- Hello ------------------------------------------------------------------------------------

std::string_view Encoder::Encode(const Header& h, const HelloMsg& m) {
  fbb_.Clear();
  flatbuffers::Offset<flatbuffers::String> labels[2];
  const size_t count = std::min<size_t>(m.labels.size(), 2);
  for (size_t k = 0; k < count; ++k) labels[k] = String(fbb_, m.labels[k]);
  auto labels_off = fbb_.CreateVector(labels, count);
  auto version = String(fbb_, m.software_version);
  flatbuffers::Offset<fb::ColumnStats> stats = 0;
  if (!m.column_stats.empty()) {
    const ColumnStatsView& c = m.column_stats;
    auto nonzeros = fbb_.CreateVector(c.nonzeros.data(), c.nonzeros.size());
    auto sum = fbb_.CreateVector(c.sum.data(), c.sum.size());
    auto sum_squares = fbb_.CreateVector(c.sum_squares.data(), c.sum_squares.size());
    auto min = fbb_.CreateVector(c.min.data(), c.min.size());
    auto max = fbb_.CreateVector(c.max.data(), c.max.size());
    stats = fb::CreateColumnStats(fbb_, nonzeros, sum, sum_squares, min, max);
  }
  auto body = fb::CreateHello(fbb_, m.rows, m.dimension, static_cast<::edgetrain::fb::Task>(m.task),
                              labels_off, m.row_norm_sq_max, m.row_norm_sq_mean, m.data_fingerprint,
                              version, m.incremental_models, m.newton, stats, m.scale);
  return Finish(h, Type(fb::Message::Hello), body.Union());
}

namespace {

Status Decode(PayloadReader& r, const fb::Hello& t, HelloMsg* m) {
  m->rows = t.rows();
  if (m->rows <= 0) return Refuse("Hello.rows", std::to_string(m->rows) + " (at least 1)");
  m->dimension = t.dimension();
  if (m->dimension < 0) return Refuse("Hello.dimension", "negative");
  const auto task = t.task();
  if (task < ::edgetrain::fb::Task::MIN || task > ::edgetrain::fb::Task::MAX)
    return Refuse("Hello.task", "unknown value " + std::to_string(static_cast<int>(task)));
  m->task = static_cast<Task>(task);
  size_t count = 0;
  if (const auto* labels = t.labels(); labels != nullptr) {
    if (labels->size() > 2)
      return Refuse("Hello.labels", std::to_string(labels->size()) + " labels (at most 2)");
    for (const flatbuffers::String* l : *labels) {
      EDGETRAIN_RETURN_IF_ERROR(
          ReadString(l, "Hello.labels", kMaxLabelBytes, true, &r.labels()[count]));
      ++count;
    }
  }
  m->labels = std::span<const std::string_view>(r.labels().data(), count);
  m->row_norm_sq_max = t.row_norm_sq_max();
  m->row_norm_sq_mean = t.row_norm_sq_mean();
  EDGETRAIN_RETURN_IF_ERROR(FiniteNonNegative(m->row_norm_sq_max, "Hello.row_norm_sq_max"));
  EDGETRAIN_RETURN_IF_ERROR(FiniteNonNegative(m->row_norm_sq_mean, "Hello.row_norm_sq_mean"));
  m->data_fingerprint = t.data_fingerprint();
  EDGETRAIN_RETURN_IF_ERROR(ReadString(t.software_version(), "Hello.software_version",
                                       kMaxVersionBytes, false, &m->software_version));
  m->incremental_models = t.incremental_models();
  m->newton = t.newton();
  m->scale = t.scale();
  if (m->scale < -1 || m->scale > static_cast<int8_t>(ScalerKind::kMaxAbs))
    return Refuse("Hello.scale", "unknown value " + std::to_string(m->scale));
  m->column_stats = {};
  if (const fb::ColumnStats* c = t.column_stats(); c != nullptr) {
    // Up to one entry per feature: a shard widened by an earlier Welcome says Hello with the
    // model's dimension, and its columns beyond the stats hold no cells.
    const size_t d = c->nonzeros() != nullptr ? c->nonzeros()->size() : 0;
    if (d > static_cast<size_t>(m->dimension)) {
      return Refuse("Hello.column_stats.nonzeros", std::to_string(d) + " entries for " +
                                                       std::to_string(m->dimension) + " features");
    }
    ColumnStatsView& v = m->column_stats;
    EDGETRAIN_RETURN_IF_ERROR(
        Numbers(c->nonzeros(), d, "Hello.column_stats.nonzeros", &v.nonzeros));
    EDGETRAIN_RETURN_IF_ERROR(Numbers(c->sum(), d, "Hello.column_stats.sum", &v.sum));
    EDGETRAIN_RETURN_IF_ERROR(
        Numbers(c->sum_squares(), d, "Hello.column_stats.sum_squares", &v.sum_squares));
    EDGETRAIN_RETURN_IF_ERROR(Numbers(c->min(), d, "Hello.column_stats.min", &v.min));
    EDGETRAIN_RETURN_IF_ERROR(Numbers(c->max(), d, "Hello.column_stats.max", &v.max));
    for (size_t j = 0; j < d; ++j) {
      if (v.nonzeros[j] < 0 || v.nonzeros[j] > m->rows) {
        return Refuse("Hello.column_stats.nonzeros",
                      "column " + std::to_string(j) + ": " + std::to_string(v.nonzeros[j]) +
                          " cells in " + std::to_string(m->rows) + " rows");
      }
      if (v.sum_squares[j] < 0 || (v.nonzeros[j] > 0 && v.min[j] > v.max[j])) {
        return Refuse("Hello.column_stats", "column " + std::to_string(j) +
                                                ": inconsistent (negative sum of squares, "
                                                "or min above max)");
      }
    }
  }
  return Status::Ok();
}

}  // namespace

// ---- Welcome ----------------------------------------------------------------------------------

namespace {

flatbuffers::Offset<fb::Welcome> WelcomeBody(flatbuffers::FlatBufferBuilder& fbb,
                                             const WelcomeMsg& m,
                                             flatbuffers::Offset<fb::Vector> model) {
  // (Strings and the vector are built first: FlatBuffers tables cannot nest their construction.)
  auto problem = EncodeProblem(fbb, m.problem);
  auto neg = String(fbb, m.label_negative);
  auto pos = String(fbb, m.label_positive);
  flatbuffers::Offset<fb::Scaler> scaler = 0;
  if (m.scaler.kind != ScalerKind::kNone) {
    auto offset = fbb.CreateVector(m.scaler.offset.data(), m.scaler.offset.size());
    auto factor = fbb.CreateVector(m.scaler.factor.data(), m.scaler.factor.size());
    scaler = fb::CreateScaler(fbb, static_cast<int8_t>(m.scaler.kind), offset, factor);
  }
  flatbuffers::Offset<flatbuffers::Vector<double>> scales = 0, offsets = 0;
  if (!m.column_scales.empty())
    scales = fbb.CreateVector(m.column_scales.data(), m.column_scales.size());
  if (!m.column_offsets.empty())
    offsets = fbb.CreateVector(m.column_offsets.data(), m.column_offsets.size());
  return fb::CreateWelcome(fbb, problem, m.dimension, neg, pos, m.heartbeat_ms, m.epoch, m.version,
                           model, m.seed, scaler, scales, offsets);
}

}  // namespace

std::string_view Encoder::Encode(const Header& h, const WelcomeMsg& m) {
  fbb_.Clear();
  auto model = AsVector(Vector(m.model));
  return Finish(h, Type(fb::Message::Welcome), WelcomeBody(fbb_, m, model).Union());
}

std::string_view Encoder::Encode(const Header& h, const WelcomeMsg& m,
                                 std::span<const int32_t> entries) {
  fbb_.Clear();
  auto model = AsVector(Vector(m.model.value, m.model.dim, entries));
  return Finish(h, Type(fb::Message::Welcome), WelcomeBody(fbb_, m, model).Union());
}

namespace {

Status Decode(PayloadReader& r, const fb::Welcome& t, WelcomeMsg* m) {
  EDGETRAIN_RETURN_IF_ERROR(DecodeProblem(t.problem(), &m->problem));
  m->dimension = t.dimension();
  if (m->dimension <= 0 || m->dimension > kMaxModelDimension) {
    return Refuse("Welcome.dimension", std::to_string(m->dimension) + " (1 to " +
                                           std::to_string(kMaxModelDimension) + ")");
  }
  EDGETRAIN_RETURN_IF_ERROR(ReadString(t.label_negative(), "Welcome.label_negative", kMaxLabelBytes,
                                       false, &m->label_negative));
  EDGETRAIN_RETURN_IF_ERROR(ReadString(t.label_positive(), "Welcome.label_positive", kMaxLabelBytes,
                                       false, &m->label_positive));
  m->heartbeat_ms = t.heartbeat_ms();
  if (m->heartbeat_ms < 1 || m->heartbeat_ms > kMaxHeartbeatMs) {
    return Refuse("Welcome.heartbeat_ms", std::to_string(m->heartbeat_ms) + " (1 to " +
                                              std::to_string(kMaxHeartbeatMs) + ")");
  }
  EDGETRAIN_RETURN_IF_ERROR(EpochAndVersion(t, "Welcome", &m->epoch, &m->version));
  bool increasing;
  EDGETRAIN_RETURN_IF_ERROR(r.Vector(t.model(), "Welcome.model", true, &m->model, &increasing));
  const int64_t p = m->problem.ModelSize(m->dimension);
  if (m->model.dim != p) {
    return Refuse("Welcome.model", "dimension " + std::to_string(m->model.dim) +
                                       " for a model of " + std::to_string(p) + " entries");
  }
  EDGETRAIN_RETURN_IF_ERROR(r.Distinct(m->model, increasing, "Welcome.model"));
  m->seed = t.seed();
  const size_t d = static_cast<size_t>(m->dimension);
  m->scaler = {};
  if (const fb::Scaler* sc = t.scaler(); sc != nullptr) {
    const int8_t kind = sc->kind();
    if (kind < static_cast<int8_t>(ScalerKind::kStandard) ||
        kind > static_cast<int8_t>(ScalerKind::kMaxAbs))
      return Refuse("Welcome.scaler.kind", "unknown value " + std::to_string(kind));
    m->scaler.kind = static_cast<ScalerKind>(kind);
    EDGETRAIN_RETURN_IF_ERROR(Numbers(sc->offset(), d, "Welcome.scaler.offset", &m->scaler.offset));
    EDGETRAIN_RETURN_IF_ERROR(Numbers(sc->factor(), d, "Welcome.scaler.factor", &m->scaler.factor));
    for (size_t j = 0; j < d; ++j) {
      if (m->scaler.factor[j] == 0.0)
        return Refuse("Welcome.scaler.factor", "column " + std::to_string(j) + " is 0");
    }
  }
  m->column_scales = {};
  m->column_offsets = {};
  if (t.column_scales() != nullptr) {
    const size_t count = t.column_scales()->size();
    if (count > d) {
      return Refuse("Welcome.column_scales",
                    std::to_string(count) + " entries for " + std::to_string(d) + " features");
    }
    EDGETRAIN_RETURN_IF_ERROR(
        Numbers(t.column_scales(), count, "Welcome.column_scales", &m->column_scales));
    for (size_t j = 0; j < count; ++j) {
      if (!(m->column_scales[j] > 0))
        return Refuse("Welcome.column_scales", "column " + std::to_string(j) + " is not positive");
    }
    if (t.column_offsets() != nullptr) {
      EDGETRAIN_RETURN_IF_ERROR(
          Numbers(t.column_offsets(), count, "Welcome.column_offsets", &m->column_offsets));
    }
  } else if (t.column_offsets() != nullptr) {
    return Refuse("Welcome.column_offsets", "offsets without column_scales");
  }
  return Status::Ok();
}

}  // namespace

// ---- Reject (stable layout: decoded in every protocol version) --------------------------------

std::string_view Encoder::Encode(const Header& h, const RejectMsg& m) {
  fbb_.Clear();
  auto text = String(fbb_, m.text);
  auto body = fb::CreateReject(fbb_, static_cast<fb::RejectReason>(m.reason), text);
  return Finish(h, Type(fb::Message::Reject), body.Union());
}

namespace {

// Any reason value passes (a newer peer may add some; RejectReasonName says "Unknown").
Status Decode(PayloadReader&, const fb::Reject& t, RejectMsg* m) {
  m->reason = static_cast<RejectReason>(t.reason());
  return ReadString(t.text(), "Reject.text", kMaxTextBytes, false, &m->text);
}

}  // namespace

// ---- EpochBegin -------------------------------------------------------------------------------

std::string_view Encoder::Encode(const Header& h, const EpochBeginMsg& m) {
  fbb_.Clear();
  auto x = AsVector(Vector(m.snapshot));
  auto body = fb::CreateEpochBegin(fbb_, m.epoch, m.version, x);
  return Finish(h, Type(fb::Message::EpochBegin), body.Union());
}

namespace {

Status Decode(PayloadReader& r, const fb::EpochBegin& t, EpochBeginMsg* m) {
  EDGETRAIN_RETURN_IF_ERROR(EpochAndVersion(t, "EpochBegin", &m->epoch, &m->version));
  bool increasing;
  EDGETRAIN_RETURN_IF_ERROR(
      r.Vector(t.snapshot(), "EpochBegin.snapshot", true, &m->snapshot, &increasing));
  return r.Distinct(m->snapshot, increasing, "EpochBegin.snapshot");
}

}  // namespace

// ---- GradSum ----------------------------------------------------------------------------------

std::string_view Encoder::Encode(const Header& h, const GradSumMsg& m) {
  fbb_.Clear();
  auto g = AsVector(Vector(m.grad));
  flatbuffers::Offset<fb::Vector> aux;
  if (m.certified && m.aux.count > 0) aux = AsVector(Vector(m.aux));
  flatbuffers::Offset<fb::DualSums> dual;
  if (m.certified) {
    const DualScalars& d = m.dual;
    dual =
        fb::CreateDualSums(fbb_, d.conj[0], d.conj[1], d.theta_z[0], d.theta_z[1], d.misfit_loss[0],
                           d.misfit_loss[1], d.remainder[0], d.remainder[1], d.target_sum);
  }
  const Smoothness& s = m.smoothness;
  auto body = fb::CreateGradSum(fbb_, m.epoch, g, m.loss_sum, s.rows, s.l_max, s.l_avg, s.l_full,
                                s.l_q, dual, aux, m.diverged);
  return Finish(h, Type(fb::Message::GradSum), body.Union());
}

namespace {

Status DecodeDual(const fb::DualSums& t, DualScalars* d) {
  d->conj[0] = t.conj_negative();
  d->conj[1] = t.conj_positive();
  d->theta_z[0] = t.theta_z_negative();
  d->theta_z[1] = t.theta_z_positive();
  d->misfit_loss[0] = t.misfit_negative();
  d->misfit_loss[1] = t.misfit_positive();
  d->remainder[0] = t.remainder_negative();
  d->remainder[1] = t.remainder_positive();
  d->target_sum = t.target_sum();
  for (double v : {d->conj[0], d->conj[1], d->theta_z[0], d->theta_z[1], d->target_sum}) {
    if (!std::isfinite(v)) return Refuse("GradSum.dual", "a sum is not finite");
  }
  for (double v : {d->misfit_loss[0], d->misfit_loss[1], d->remainder[0], d->remainder[1]}) {
    EDGETRAIN_RETURN_IF_ERROR(FiniteNonNegative(v, "GradSum.dual"));
  }
  return Status::Ok();
}

Status Decode(PayloadReader& r, const fb::GradSum& t, GradSumMsg* m) {
  m->epoch = t.epoch();
  EDGETRAIN_RETURN_IF_ERROR(NonNegative(m->epoch, "GradSum.epoch"));
  bool increasing;
  EDGETRAIN_RETURN_IF_ERROR(r.Vector(t.grad(), "GradSum.grad", true, &m->grad, &increasing));
  EDGETRAIN_RETURN_IF_ERROR(r.Distinct(m->grad, increasing, "GradSum.grad"));
  m->loss_sum = t.loss_sum();
  EDGETRAIN_RETURN_IF_ERROR(FiniteNonNegative(m->loss_sum, "GradSum.loss_sum"));
  m->diverged = t.diverged();
  if (m->diverged && (m->grad.count != 0 || m->loss_sum != 0)) {
    return Refuse("GradSum.diverged", "a diverged pass carries no gradient and no loss");
  }
  m->certified = t.dual() != nullptr;
  if (m->certified) EDGETRAIN_RETURN_IF_ERROR(DecodeDual(*t.dual(), &m->dual));
  EDGETRAIN_RETURN_IF_ERROR(r.Vector(t.aux(), "GradSum.aux", false, &m->aux, &increasing));
  EDGETRAIN_RETURN_IF_ERROR(r.Distinct(m->aux, increasing, "GradSum.aux"));
  Smoothness& s = m->smoothness;
  s.rows = t.rows();
  if (s.rows <= 0) return Refuse("GradSum.rows", std::to_string(s.rows) + " (at least 1)");
  s.l_max = t.l_max();
  s.l_avg = t.l_avg();
  s.l_full = t.l_full();
  s.l_q = t.l_q();
  EDGETRAIN_RETURN_IF_ERROR(FiniteNonNegative(s.l_max, "GradSum.l_max"));
  EDGETRAIN_RETURN_IF_ERROR(FiniteNonNegative(s.l_avg, "GradSum.l_avg"));
  EDGETRAIN_RETURN_IF_ERROR(FiniteNonNegative(s.l_full, "GradSum.l_full"));
  return FiniteNonNegative(s.l_q, "GradSum.l_q");
}

}  // namespace

// ---- InnerLoop --------------------------------------------------------------------------------

std::string_view Encoder::Encode(const Header& h, const InnerLoopMsg& m) {
  fbb_.Clear();
  auto mu = AsVector(Vector(m.mu));
  auto body = fb::CreateInnerLoop(fbb_, m.epoch, m.version, mu, m.eta, m.inner_steps, m.batch,
                                  m.participants);
  return Finish(h, Type(fb::Message::InnerLoop), body.Union());
}

namespace {

Status Decode(PayloadReader& r, const fb::InnerLoop& t, InnerLoopMsg* m) {
  EDGETRAIN_RETURN_IF_ERROR(EpochAndVersion(t, "InnerLoop", &m->epoch, &m->version));
  bool increasing;
  EDGETRAIN_RETURN_IF_ERROR(r.Vector(t.mu(), "InnerLoop.mu", true, &m->mu, &increasing));
  EDGETRAIN_RETURN_IF_ERROR(r.Distinct(m->mu, increasing, "InnerLoop.mu"));
  m->eta = t.eta();
  if (!std::isfinite(m->eta) || !(m->eta > 0))
    return Refuse("InnerLoop.eta", "not a finite step > 0 (" + std::to_string(m->eta) + ")");
  m->inner_steps = t.inner_steps();
  if (m->inner_steps < 1)
    return Refuse("InnerLoop.inner_steps", std::to_string(m->inner_steps) + " (at least 1)");
  m->batch = t.batch();
  if (m->batch < 1) return Refuse("InnerLoop.batch", std::to_string(m->batch) + " (at least 1)");
  m->participants = t.participants();
  if (m->participants < 1) {
    return Refuse("InnerLoop.participants", std::to_string(m->participants) + " (at least 1)");
  }
  return Status::Ok();
}

}  // namespace

// ---- CurvatureRequest -------------------------------------------------------------------------

std::string_view Encoder::Encode(const Header& h, const CurvatureRequestMsg& m) {
  fbb_.Clear();
  auto support =
      fbb_.CreateVector(reinterpret_cast<const uint32_t*>(m.support.data()), m.support.size());
  auto body = fb::CreateCurvatureRequest(fbb_, m.epoch, m.version, support);
  return Finish(h, Type(fb::Message::CurvatureRequest), body.Union());
}

namespace {

Status Decode(PayloadReader& r, const fb::CurvatureRequest& t, CurvatureRequestMsg* m) {
  EDGETRAIN_RETURN_IF_ERROR(EpochAndVersion(t, "CurvatureRequest", &m->epoch, &m->version));
  const auto* support = t.support();
  const int64_t size = support != nullptr ? support->size() : 0;
  if (size < 1 || size > kMaxNewtonSupport) {
    return Refuse("CurvatureRequest.support", std::to_string(size) + " coordinates (1 to " +
                                                  std::to_string(kMaxNewtonSupport) + ")");
  }
  const int64_t limit = r.model_size() > 0 ? r.model_size() : int64_t{kMaxModelDimension} + 1;
  int64_t previous = -1;
  for (uint32_t j : *support) {
    if (static_cast<int64_t>(j) <= previous) {
      return Refuse("CurvatureRequest.support", "not increasing (" + std::to_string(j) + " after " +
                                                    std::to_string(previous) + ")");
    }
    if (static_cast<int64_t>(j) >= limit) {
      return Refuse("CurvatureRequest.support", "coordinate " + std::to_string(j) +
                                                    " out of range (model of " +
                                                    std::to_string(limit) + ")");
    }
    previous = j;
  }
  m->support = std::span<const int32_t>(reinterpret_cast<const int32_t*>(support->data()),
                                        static_cast<size_t>(size));
  return Status::Ok();
}

}  // namespace

// ---- Curvature --------------------------------------------------------------------------------

std::string_view Encoder::Encode(const Header& h, const CurvatureMsg& m) {
  return Encode(h, m, [&](double* out) {
    // An empty block has no data pointer: memcpy from null is undefined even for 0 bytes.
    if (!m.hessian.empty()) std::memcpy(out, m.hessian.data(), m.hessian.size() * sizeof(double));
  });
}

std::string_view Encoder::Encode(const Header& h, const CurvatureMsg& m,
                                 const std::function<void(double* packed)>& fill) {
  fbb_.Clear();
  flatbuffers::Offset<flatbuffers::Vector<double>> v = 0;
  if (!m.declined) {
    const auto count = static_cast<size_t>(m.support_size * (m.support_size + 1) / 2);
    double* out = nullptr;
    v = fbb_.CreateUninitializedVector(count, &out);
    if (count > 0) {
      std::memset(out, 0, count * sizeof(double));
      fill(out);  // before any other builder call: `out` points into the builder's buffer
    }
  }
  auto body = fb::CreateCurvature(fbb_, m.epoch, static_cast<uint32_t>(m.support_size), v, m.rows,
                                  m.declined);
  return Finish(h, Type(fb::Message::Curvature), body.Union());
}

namespace {

Status Decode(PayloadReader&, const fb::Curvature& t, CurvatureMsg* m) {
  m->epoch = t.epoch();
  EDGETRAIN_RETURN_IF_ERROR(NonNegative(m->epoch, "Curvature.epoch"));
  m->support_size = t.support_size();
  if (m->support_size < 1 || m->support_size > kMaxNewtonSupport) {
    return Refuse("Curvature.support_size", std::to_string(m->support_size) + " (1 to " +
                                                std::to_string(kMaxNewtonSupport) + ")");
  }
  m->rows = t.rows();
  if (m->rows <= 0) return Refuse("Curvature.rows", std::to_string(m->rows) + " (at least 1)");
  m->declined = t.declined();
  const auto* h = t.hessian();
  const int64_t count = h != nullptr ? h->size() : 0;
  if (m->declined) {
    if (count != 0) return Refuse("Curvature.hessian", std::to_string(count) + " values, declined");
    m->hessian = {};
    return Status::Ok();
  }
  const int64_t expected = m->support_size * (m->support_size + 1) / 2;
  if (count != expected) {
    return Refuse("Curvature.hessian", std::to_string(count) + " values for a support of " +
                                           std::to_string(m->support_size) +
                                           " (the packed lower triangle has " +
                                           std::to_string(expected) + ")");
  }
  if (reinterpret_cast<uintptr_t>(h->data()) % alignof(double) != 0)
    return Refuse("Curvature.hessian", "values not 8-byte aligned");
  if (!AllFinite(h->data(), h->size()))
    return Refuse("Curvature.hessian", "holds a non-finite value");
  m->hessian = std::span<const double>(h->data(), h->size());
  return Status::Ok();
}

}  // namespace

// ---- Update -----------------------------------------------------------------------------------

std::string_view Encoder::Encode(const Header& h, const UpdateMsg& m) {
  fbb_.Clear();
  auto d = AsVector(Vector(m.delta));
  flatbuffers::Offset<fb::Vector> g = 0;
  if (m.guarded.count > 0) g = AsVector(Vector(m.guarded));
  auto body = fb::CreateUpdate(fbb_, m.epoch, m.base_version, d, g, m.steps, m.rtt_us);
  return Finish(h, Type(fb::Message::Update), body.Union());
}

namespace {

Status Decode(PayloadReader& r, const fb::Update& t, UpdateMsg* m) {
  m->epoch = t.epoch();
  m->base_version = t.base_version();
  EDGETRAIN_RETURN_IF_ERROR(NonNegative(m->epoch, "Update.epoch"));
  EDGETRAIN_RETURN_IF_ERROR(NonNegative(m->base_version, "Update.base_version"));
  m->rtt_us = t.rtt_us();
  m->steps = t.steps();
  if (m->steps < 1 || m->steps > kMaxStepsPerUpdate) {
    return Refuse("Update.steps",
                  std::to_string(m->steps) + " (1 to " + std::to_string(kMaxStepsPerUpdate) + ")");
  }
  bool delta_increasing, guarded_increasing;
  EDGETRAIN_RETURN_IF_ERROR(
      r.Vector(t.delta(), "Update.delta", true, &m->delta, &delta_increasing));
  EDGETRAIN_RETURN_IF_ERROR(
      r.Vector(t.guarded(), "Update.guarded", false, &m->guarded, &guarded_increasing));
  if (t.guarded() == nullptr) {
    m->guarded.dim = m->delta.dim;  // absent: empty, of the same dimension
  } else if (m->guarded.dim != m->delta.dim) {
    return Refuse("Update.guarded", "dimension " + std::to_string(m->guarded.dim) +
                                        ", Update.delta has " + std::to_string(m->delta.dim));
  }
  return r.Distinct(m->delta, delta_increasing, "Update.delta", m->guarded, "Update.guarded");
}

}  // namespace

// ---- Model ------------------------------------------------------------------------------------

namespace {

flatbuffers::Offset<void> ModelBody(flatbuffers::FlatBufferBuilder& fbb, const ModelMsg& m,
                                    flatbuffers::Offset<fb::Vector> x) {
  return fb::CreateModel(fbb, m.epoch, m.version, x, m.applied, m.inner_done, m.since, m.update_seq,
                         m.processed_seq, m.applied_count)
      .Union();
}

}  // namespace

std::string_view Encoder::Encode(const Header& h, const ModelMsg& m) {
  fbb_.Clear();
  auto x = AsVector(Vector(m.x));
  return Finish(h, Type(fb::Message::Model), ModelBody(fbb_, m, x));
}

std::string_view Encoder::Encode(const Header& h, const ModelMsg& m,
                                 std::span<const int32_t> entries) {
  fbb_.Clear();
  auto x = AsVector(Vector(m.x.value, m.x.dim, entries));
  return Finish(h, Type(fb::Message::Model), ModelBody(fbb_, m, x));
}

namespace {

Status Decode(PayloadReader& r, const fb::Model& t, ModelMsg* m) {
  EDGETRAIN_RETURN_IF_ERROR(EpochAndVersion(t, "Model", &m->epoch, &m->version));
  m->since = t.since();
  if (m->since < -1 || m->since > m->version) {
    return Refuse("Model.since", std::to_string(m->since) + " (-1, or 0 to the version " +
                                     std::to_string(m->version) + ")");
  }
  bool increasing;
  EDGETRAIN_RETURN_IF_ERROR(r.Vector(t.x(), "Model.x", true, &m->x, &increasing));
  EDGETRAIN_RETURN_IF_ERROR(r.Distinct(m->x, increasing, "Model.x"));
  m->applied = t.applied();
  m->inner_done = t.inner_done();
  m->update_seq = t.update_seq();
  m->processed_seq = t.processed_seq();
  m->applied_count = t.applied_count();
  EDGETRAIN_RETURN_IF_ERROR(NonNegative(m->applied_count, "Model.applied_count"));
  return Status::Ok();
}

}  // namespace

// ---- Heartbeat, Bye, Stop ---------------------------------------------------------------------

std::string_view Encoder::Encode(const Header& h, const HeartbeatMsg& m) {
  fbb_.Clear();
  return Finish(
      h, Type(fb::Message::Heartbeat),
      fb::CreateHeartbeat(fbb_, m.epoch, m.version, m.rtt_us, m.rows, m.model_round).Union());
}

std::string_view Encoder::Encode(const Header& h, const ByeMsg& m) {
  fbb_.Clear();
  auto text = String(fbb_, m.text);
  return Finish(h, Type(fb::Message::Bye), fb::CreateBye(fbb_, text).Union());
}

std::string_view Encoder::Encode(const Header& h, const StopMsg& m) {
  fbb_.Clear();
  auto reason = String(fbb_, m.reason);
  return Finish(h, Type(fb::Message::Stop),
                fb::CreateStop(fbb_, reason, m.epoch, m.objective, m.applied_count).Union());
}

std::string_view Encoder::Encode(const Header& h, const RoundEndMsg& m) {
  fbb_.Clear();
  auto model = fbb_.CreateVector(reinterpret_cast<const uint8_t*>(m.model.data()), m.model.size());
  auto text = String(fbb_, m.text);
  return Finish(
      h, Type(fb::Message::RoundEnd),
      fb::CreateRoundEnd(fbb_, m.round, m.model_round, model, text, m.heartbeat_ms).Union());
}

std::string_view Encoder::Encode(const Header& h, const RoundBeginMsg& m) {
  fbb_.Clear();
  return Finish(h, Type(fb::Message::RoundBegin), fb::CreateRoundBegin(fbb_, m.round).Union());
}

namespace {

Status Decode(PayloadReader&, const fb::Heartbeat& t, HeartbeatMsg* m) {
  m->rtt_us = t.rtt_us();
  m->rows = t.rows();
  m->model_round = t.model_round();
  EDGETRAIN_RETURN_IF_ERROR(NonNegative(m->rows, "Heartbeat.rows"));
  EDGETRAIN_RETURN_IF_ERROR(NonNegative(m->model_round, "Heartbeat.model_round"));
  return EpochAndVersion(t, "Heartbeat", &m->epoch, &m->version);
}

Status Decode(PayloadReader&, const fb::RoundEnd& t, RoundEndMsg* m) {
  m->round = t.round();
  m->model_round = t.model_round();
  EDGETRAIN_RETURN_IF_ERROR(NonNegative(m->round, "RoundEnd.round"));
  EDGETRAIN_RETURN_IF_ERROR(NonNegative(m->model_round, "RoundEnd.model_round"));
  if (t.model() != nullptr) {
    m->model =
        std::string_view(reinterpret_cast<const char*>(t.model()->data()), t.model()->size());
  }
  if ((m->model_round == 0) != m->model.empty()) {
    return Refuse("RoundEnd.model", "a model needs its round, and a round its model");
  }
  m->heartbeat_ms = t.heartbeat_ms();
  if (m->heartbeat_ms < 1 || m->heartbeat_ms > kMaxHeartbeatMs) {
    return Refuse("RoundEnd.heartbeat_ms", std::to_string(m->heartbeat_ms) + " (1 to " +
                                               std::to_string(kMaxHeartbeatMs) + ")");
  }
  return ReadString(t.text(), "RoundEnd.text", kMaxTextBytes, false, &m->text);
}

Status Decode(PayloadReader&, const fb::RoundBegin& t, RoundBeginMsg* m) {
  m->round = t.round();
  if (m->round < 1) return Refuse("RoundBegin.round", std::to_string(m->round) + " (must be >= 1)");
  return Status::Ok();
}

Status Decode(PayloadReader&, const fb::Bye& t, ByeMsg* m) {
  return ReadString(t.text(), "Bye.text", kMaxTextBytes, false, &m->text);
}

Status Decode(PayloadReader&, const fb::Stop& t, StopMsg* m) {
  m->epoch = t.epoch();
  m->objective = t.objective();  // informational (the agent prints it)
  m->applied_count = t.applied_count();
  EDGETRAIN_RETURN_IF_ERROR(NonNegative(m->applied_count, "Stop.applied_count"));
  return ReadString(t.reason(), "Stop.reason", kMaxTextBytes, false, &m->reason);
}

// The union member `T` of `e` decoded into a `M`.
template <typename M, typename T>
Result<Message> DecodeBody(PayloadReader& r, const Header& h, const fb::Envelope& e) {
  M body;
  EDGETRAIN_RETURN_IF_ERROR(Decode(r, *static_cast<const T*>(e.message()), &body));
  return Message{h, body};
}

}  // namespace

// ---- Decoder ----------------------------------------------------------------------------------

Result<Message> Decoder::Decode(const void* data, size_t size) {
  if (size > max_bytes_)
    return Status::OutOfRange("message of " + std::to_string(size) + " bytes exceeds the limit");
  if (size < 8)
    return Status::Corrupt("message of " + std::to_string(size) + " bytes is too short");
  const uint8_t* buf = static_cast<const uint8_t*>(data);
  if (reinterpret_cast<uintptr_t>(buf) % alignof(double) != 0) {
    aligned_.resize((size + 7) / 8);  // grows once to the largest message, then reused
    std::memcpy(aligned_.data(), buf, size);
    buf = reinterpret_cast<const uint8_t*>(aligned_.data());
  }
  if (!fb::EnvelopeBufferHasIdentifier(buf))
    return Status::Corrupt("not an edgetrain message (identifier)");
  flatbuffers::Verifier verifier(buf, size, /*max_depth=*/8, /*max_tables=*/64);
  const bool verified = fb::VerifyEnvelopeBuffer(verifier);
  const fb::Envelope* e = fb::GetEnvelope(buf);
  if (!verified) {
    // Another protocol version's tables may not verify as ours; its envelope must.
    flatbuffers::Verifier head(buf, size, 8, 64);
    if (!head.VerifyBuffer<EnvelopeHead>(fb::EnvelopeIdentifier()) ||
        e->protocol() == kProtocolVersion) {
      return Status::Corrupt("FlatBuffers verification failed");
    }
  }
  Header h;
  EDGETRAIN_RETURN_IF_ERROR(
      ReadString(e->agent_id(), "Envelope.agent_id", kMaxAgentIdBytes, true, &h.agent_id));
  if (h.agent_id.empty()) return Refuse("Envelope.agent_id", "empty");
  h.session = e->session();
  h.seq = e->seq();
  h.protocol = e->protocol();
  PayloadReader r(this);
  if (h.protocol != kProtocolVersion) {
    if (e->message_type() == fb::Message::Reject && e->message() != nullptr) {
      const auto* reject = static_cast<const fb::Reject*>(e->message());
      flatbuffers::Verifier body(buf, size, 8, 64);
      if (!verified && !body.VerifyTable(reject))
        return Status::Corrupt("FlatBuffers verification failed (Reject)");
      return DecodeBody<RejectMsg, fb::Reject>(r, h, *e);
    }
    return Message{h, OtherProtocolMsg{e->message_type() == fb::Message::Hello}};
  }
  if (e->message() == nullptr) return Refuse("Envelope.message", "empty");
  switch (e->message_type()) {
    case fb::Message::Hello:
      return DecodeBody<HelloMsg, fb::Hello>(r, h, *e);
    case fb::Message::Welcome:
      return DecodeBody<WelcomeMsg, fb::Welcome>(r, h, *e);
    case fb::Message::Reject:
      return DecodeBody<RejectMsg, fb::Reject>(r, h, *e);
    case fb::Message::EpochBegin:
      return DecodeBody<EpochBeginMsg, fb::EpochBegin>(r, h, *e);
    case fb::Message::GradSum:
      return DecodeBody<GradSumMsg, fb::GradSum>(r, h, *e);
    case fb::Message::InnerLoop:
      return DecodeBody<InnerLoopMsg, fb::InnerLoop>(r, h, *e);
    case fb::Message::CurvatureRequest:
      return DecodeBody<CurvatureRequestMsg, fb::CurvatureRequest>(r, h, *e);
    case fb::Message::Curvature:
      return DecodeBody<CurvatureMsg, fb::Curvature>(r, h, *e);
    case fb::Message::Update:
      return DecodeBody<UpdateMsg, fb::Update>(r, h, *e);
    case fb::Message::Model:
      return DecodeBody<ModelMsg, fb::Model>(r, h, *e);
    case fb::Message::Heartbeat:
      return DecodeBody<HeartbeatMsg, fb::Heartbeat>(r, h, *e);
    case fb::Message::Bye:
      return DecodeBody<ByeMsg, fb::Bye>(r, h, *e);
    case fb::Message::Stop:
      return DecodeBody<StopMsg, fb::Stop>(r, h, *e);
    case fb::Message::RoundEnd:
      return DecodeBody<RoundEndMsg, fb::RoundEnd>(r, h, *e);
    case fb::Message::RoundBegin:
      return DecodeBody<RoundBeginMsg, fb::RoundBegin>(r, h, *e);
    case fb::Message::NONE:
      break;
  }
  return Refuse("Envelope.message",
                "unknown type " + std::to_string(static_cast<int>(e->message_type())));
}

}  // namespace edgetrain::wire
