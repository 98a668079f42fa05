#include "edgetrain/wire.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace edgetrain::wire {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "wire vectors are read in place; big-endian hosts would need byte swapping");

const char* MessageName(fb::Message type) {
  const char* name = fb::EnumNameMessage(type);
  return (name != nullptr && *name != '\0') ? name : "Unknown";
}

VectorView ViewOf(const fb::Vector* v) {
  VectorView view;
  if (v == nullptr) return view;
  view.dim = v->dim();
  view.value = v->value() != nullptr ? v->value()->data() : nullptr;
  view.count = v->value() != nullptr ? v->value()->size() : 0;
  view.index =
      v->index() != nullptr ? reinterpret_cast<const int32_t*>(v->index()->data()) : nullptr;
  return view;
}

// ---- Encoder -----------------------------------------------------------------------------

flatbuffers::Offset<fb::Vector> Encoder::BuildVector(const DenseWithSupport& v) {
  const int32_t* support = v.support;
  int64_t nnz = v.support_size;
  if (support == nullptr) {
    scratch_index_.clear();
    for (int64_t j = 0; j < v.dim; ++j) {
      if (v.value[j] != 0.0) scratch_index_.push_back(static_cast<int32_t>(j));
    }
    support = scratch_index_.data();
    nnz = static_cast<int64_t>(scratch_index_.size());
  }
  if (SparseBytes(nnz) < DenseBytes(v.dim)) {
    uint32_t* idx;
    double* val;
    auto index_off = fbb_.CreateUninitializedVector(static_cast<size_t>(nnz), &idx);
    if (nnz > 0) std::memcpy(idx, support, static_cast<size_t>(nnz) * sizeof(uint32_t));
    auto value_off = fbb_.CreateUninitializedVector(static_cast<size_t>(nnz), &val);
    for (int64_t k = 0; k < nnz; ++k) val[k] = v.value[support[k]];
    return fb::CreateVector(fbb_, v.dim, index_off, value_off);
  }
  auto value_off = fbb_.CreateVector(v.value, static_cast<size_t>(v.dim));
  return fb::CreateVector(fbb_, v.dim, 0, value_off);
}

flatbuffers::Offset<fb::Vector> Encoder::BuildVector(const SparseVector& v) {
  const int64_t nnz = v.nnz();
  if (SparseBytes(nnz) < DenseBytes(v.dim())) {
    auto index_off = fbb_.CreateVector(reinterpret_cast<const uint32_t*>(v.index().data()),
                                       static_cast<size_t>(nnz));
    auto value_off = fbb_.CreateVector(v.value().data(), static_cast<size_t>(nnz));
    return fb::CreateVector(fbb_, v.dim(), index_off, value_off);
  }
  double* val;
  auto value_off = fbb_.CreateUninitializedVector(static_cast<size_t>(v.dim()), &val);
  std::memset(val, 0, static_cast<size_t>(v.dim()) * sizeof(double));
  for (int64_t k = 0; k < nnz; ++k) val[v.index()[k]] = v.value()[k];
  return fb::CreateVector(fbb_, v.dim(), 0, value_off);
}

std::string_view Encoder::Finish(const Header& h, fb::Message type,
                                 flatbuffers::Offset<void> message) {
  auto id = fbb_.CreateString(h.agent_id.data(), h.agent_id.size());
  fb::EnvelopeBuilder e(fbb_);
  e.add_protocol(kProtocolVersion);
  e.add_agent_id(id);
  e.add_session(h.session);
  e.add_seq(h.seq);
  e.add_message_type(type);
  e.add_message(message);
  fb::FinishEnvelopeBuffer(fbb_, e.Finish());
  return std::string_view(reinterpret_cast<const char*>(fbb_.GetBufferPointer()), fbb_.GetSize());
}

std::string_view Encoder::Hello(const Header& h, const HelloInfo& info) {
  fbb_.Clear();
  std::vector<flatbuffers::Offset<flatbuffers::String>> labels;
  for (const std::string& l : info.labels) labels.push_back(fbb_.CreateString(l));
  auto labels_off = fbb_.CreateVector(labels);
  auto version = fbb_.CreateString(info.software_version);
  auto m = fb::CreateHello(fbb_, info.rows, info.dimension, static_cast<int8_t>(info.task),
                           labels_off, info.row_norm_sq_max, info.row_norm_sq_mean,
                           info.data_fingerprint, version, info.incremental_models, info.newton);
  return Finish(h, fb::Message::Hello, m.Union());
}

std::string_view Encoder::Welcome(const Header& h, const WelcomeInfo& info,
                                  const DenseWithSupport& model) {
  fbb_.Clear();
  const ProblemSpec& p = info.problem;
  auto problem = fb::CreateProblem(fbb_, static_cast<int8_t>(p.loss), p.reg.l1, p.reg.l2,
                                   p.reg.lower, p.reg.upper, p.intercept);
  auto neg = fbb_.CreateString(info.label_negative);
  auto pos = fbb_.CreateString(info.label_positive);
  auto x = BuildVector(model);
  auto m = fb::CreateWelcome(fbb_, problem, info.dimension, neg, pos, info.heartbeat_ms, info.epoch,
                             info.version, x, info.seed);
  return Finish(h, fb::Message::Welcome, m.Union());
}

std::string_view Encoder::Reject(const Header& h, fb::RejectReason reason, std::string_view text) {
  fbb_.Clear();
  auto t = fbb_.CreateString(text.data(), text.size());
  return Finish(h, fb::Message::Reject, fb::CreateReject(fbb_, reason, t).Union());
}

std::string_view Encoder::EpochBegin(const Header& h, int64_t epoch, int64_t version,
                                     const DenseWithSupport& snapshot) {
  fbb_.Clear();
  auto x = BuildVector(snapshot);
  return Finish(h, fb::Message::EpochBegin, fb::CreateEpochBegin(fbb_, epoch, version, x).Union());
}

std::string_view Encoder::GradSum(const Header& h, int64_t epoch, const DenseWithSupport& grad,
                                  double loss_sum, int64_t rows, const Smoothness& s) {
  fbb_.Clear();
  auto g = BuildVector(grad);
  auto m = fb::CreateGradSum(fbb_, epoch, g, loss_sum, rows, s.l_max, s.l_avg, s.l_full, s.l_q);
  return Finish(h, fb::Message::GradSum, m.Union());
}

std::string_view Encoder::Snapshot(const Header& h, int64_t epoch, int64_t version,
                                   const DenseWithSupport& mu, double eta, int64_t inner_steps,
                                   int32_t batch, const std::vector<int32_t>& newton_support) {
  fbb_.Clear();
  auto v = BuildVector(mu);
  flatbuffers::Offset<flatbuffers::Vector<uint32_t>> s = 0;
  if (!newton_support.empty()) {
    s = fbb_.CreateVector(reinterpret_cast<const uint32_t*>(newton_support.data()),
                          newton_support.size());
  }
  auto m = fb::CreateSnapshot(fbb_, epoch, version, v, eta, inner_steps, batch, s);
  return Finish(h, fb::Message::Snapshot, m.Union());
}

std::string_view Encoder::Curvature(const Header& h, int64_t epoch, int64_t support_size,
                                    const double* packed, int64_t rows, bool declined) {
  const size_t count = static_cast<size_t>(support_size * (support_size + 1) / 2);
  return Curvature(h, epoch, support_size, rows, declined,
                   [&](double* out) { std::memcpy(out, packed, count * sizeof(double)); });
}

std::string_view Encoder::Curvature(const Header& h, int64_t epoch, int64_t support_size,
                                    int64_t rows, bool declined,
                                    const std::function<void(double* packed)>& fill) {
  fbb_.Clear();
  flatbuffers::Offset<flatbuffers::Vector<double>> v = 0;
  if (!declined) {
    const size_t count = static_cast<size_t>(support_size * (support_size + 1) / 2);
    double* out = nullptr;
    v = fbb_.CreateUninitializedVector(count, &out);
    std::memset(out, 0, count * sizeof(double));
    fill(out);  // before any other builder call: `out` points into the builder's buffer
  }
  auto m = fb::CreateCurvature(fbb_, epoch, static_cast<uint32_t>(support_size), v, rows, declined);
  return Finish(h, fb::Message::Curvature, m.Union());
}

std::string_view Encoder::Update(const Header& h, int64_t epoch, int64_t base_version,
                                 const ModelUpdate& update) {
  fbb_.Clear();
  auto d = BuildVector(update.delta);
  flatbuffers::Offset<fb::Vector> g = 0;
  if (update.guarded.nnz() > 0) g = BuildVector(update.guarded);
  return Finish(h, fb::Message::Update, fb::CreateUpdate(fbb_, epoch, base_version, d, g).Union());
}

std::string_view Encoder::Model(const Header& h, int64_t epoch, int64_t version,
                                const DenseWithSupport& x, bool applied, bool inner_done,
                                int64_t since, bool own_exact, uint64_t update_seq) {
  fbb_.Clear();
  auto v = BuildVector(x);
  return Finish(
      h, fb::Message::Model,
      fb::CreateModel(fbb_, epoch, version, v, applied, inner_done, since, own_exact, update_seq)
          .Union());
}

std::string_view Encoder::Heartbeat(const Header& h, int64_t epoch, int64_t version) {
  fbb_.Clear();
  return Finish(h, fb::Message::Heartbeat, fb::CreateHeartbeat(fbb_, epoch, version).Union());
}

std::string_view Encoder::Bye(const Header& h, std::string_view text) {
  fbb_.Clear();
  auto t = fbb_.CreateString(text.data(), text.size());
  return Finish(h, fb::Message::Bye, fb::CreateBye(fbb_, t).Union());
}

std::string_view Encoder::Stop(const Header& h, std::string_view reason, int64_t epoch,
                               double objective) {
  fbb_.Clear();
  auto r = fbb_.CreateString(reason.data(), reason.size());
  return Finish(h, fb::Message::Stop, fb::CreateStop(fbb_, r, epoch, objective).Union());
}

// ---- Decoder -----------------------------------------------------------------------------

namespace {

// Non-finite doubles have all exponent bits set: (bits & exponent) + 2^52 carries into bit 63
// exactly for them. One branch-free pass of 64-bit and/add/or (SSE2-vectorisable: this reads
// every value of every inbound vector).
bool AllFinite(const double* val, uint32_t count) {
  constexpr uint64_t kExponent = 0x7ff0000000000000ull, kOne = uint64_t{1} << 52;
  uint64_t carry = 0;
  for (uint32_t k = 0; k < count; ++k) {
    uint64_t bits;
    std::memcpy(&bits, val + k, sizeof bits);
    carry |= (bits & kExponent) + kOne;
  }
  return (carry >> 63) == 0;
}

}  // namespace

Result<DecodedMessage> Decoder::Decode(const void* data, size_t size) {
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
  if (!fb::VerifyEnvelopeBuffer(verifier))
    return Status::Corrupt("FlatBuffers verification failed");
  const fb::Envelope* e = fb::GetEnvelope(buf);
  if (e->protocol() != kProtocolVersion) {
    return Status::InvalidArgument("protocol version " + std::to_string(e->protocol()) +
                                   ", expected " + std::to_string(kProtocolVersion));
  }
  if (e->agent_id() == nullptr || e->agent_id()->size() == 0 || e->agent_id()->size() > 128) {
    return Status::InvalidArgument("missing or overlong agent id");
  }
  if (e->message() == nullptr || e->message_type() == fb::Message::NONE) {
    return Status::InvalidArgument("empty envelope");
  }
  DecodedMessage m;
  m.type = e->message_type();
  m.agent_id = std::string_view(e->agent_id()->data(), e->agent_id()->size());
  m.session = e->session();
  m.seq = e->seq();
  m.envelope = e;
  EDGETRAIN_RETURN_IF_ERROR(CheckPayload(m));
  return m;
}

Status Decoder::CheckVector(const fb::Vector* v, const char* field, bool required) const {
  if (v == nullptr) {
    return required ? Status::InvalidArgument(std::string("missing vector '") + field + "'")
                    : Status::Ok();
  }
  const int64_t dim = v->dim();
  if (dim <= 0 || dim > (int64_t{1} << 31)) {
    return Status::InvalidArgument(std::string("vector '") + field + "' has dimension " +
                                   std::to_string(dim));
  }
  if (model_size_ > 0 && dim != model_size_) {
    return Status::InvalidArgument(std::string("vector '") + field + "' has dimension " +
                                   std::to_string(dim) + ", expected " +
                                   std::to_string(model_size_));
  }
  const auto* value = v->value();
  const uint32_t count = value != nullptr ? value->size() : 0;
  if (v->index() != nullptr) {
    if (v->index()->size() != count) {
      return Status::InvalidArgument(std::string("vector '") + field +
                                     "': index and value lengths differ");
    }
    if (count > static_cast<uint64_t>(dim)) {
      return Status::InvalidArgument(std::string("vector '") + field +
                                     "' has more entries than its dimension");
    }
    const uint32_t* idx = v->index()->data();
    // One branch-free pass (SSE2-vectorisable: 32-bit signed compares); 0 < dim <= 2^31, so an
    // index is valid exactly when, read as int32, it is >= 0 and < dim.
    const int32_t* sidx = reinterpret_cast<const int32_t*>(idx);
    const int32_t limit = static_cast<int32_t>(std::min<int64_t>(dim, INT32_MAX));
    int32_t out_of_range = 0;
    for (uint32_t k = 0; k < count; ++k)
      out_of_range |= static_cast<int32_t>(sidx[k] < 0) | static_cast<int32_t>(sidx[k] >= limit);
    if (out_of_range != 0) {
      uint32_t bad = 0;
      for (uint32_t k = 0; k < count && bad == 0; ++k) {
        if (idx[k] >= static_cast<uint64_t>(dim)) bad = idx[k];
      }
      return Status::InvalidArgument(std::string("vector '") + field + "': index " +
                                     std::to_string(bad) + " out of range");
    }
  } else if (count != static_cast<uint64_t>(dim)) {
    return Status::InvalidArgument(std::string("dense vector '") + field + "' has " +
                                   std::to_string(count) + " values for dimension " +
                                   std::to_string(dim));
  }
  const double* val = value != nullptr ? value->data() : nullptr;
  // Values are read in place: the verifier only checks a vector's 4-byte length, so a crafted
  // message can place the doubles at 4 mod 8 (the Encoder aligns them to 8; FlatBuffers leaves an
  // empty vector unpadded, which is harmless since nothing is read).
  if (count > 0 && reinterpret_cast<uintptr_t>(val) % alignof(double) != 0) {
    return Status::InvalidArgument(std::string("vector '") + field +
                                   "': values not 8-byte aligned");
  }
  if (!AllFinite(val, count)) {
    return Status::InvalidArgument(std::string("vector '") + field + "' holds a non-finite value");
  }
  return Status::Ok();
}

namespace {

Status Finite(double v, const char* field) {
  return std::isfinite(v) ? Status::Ok()
                          : Status::InvalidArgument(std::string(field) + " is not finite");
}

}  // namespace

Status Decoder::CheckPayload(const DecodedMessage& m) const {
  switch (m.type) {
    case fb::Message::Hello: {
      const auto* h = m.As<fb::Hello>();
      if (h->rows() <= 0) return Status::InvalidArgument("Hello with no rows");
      if (h->dimension() < 0) return Status::InvalidArgument("Hello with a negative dimension");
      if (h->task() != 0 && h->task() != 1)
        return Status::InvalidArgument("Hello with an unknown task");
      if (h->labels() != nullptr && h->labels()->size() > 2)
        return Status::InvalidArgument("Hello with more than two labels");
      EDGETRAIN_RETURN_IF_ERROR(Finite(h->row_norm_sq_max(), "row_norm_sq_max"));
      return Finite(h->row_norm_sq_mean(), "row_norm_sq_mean");
    }
    case fb::Message::Welcome: {
      const auto* w = m.As<fb::Welcome>();
      if (w->problem() == nullptr) return Status::InvalidArgument("Welcome without a problem");
      if (w->dimension() <= 0) return Status::InvalidArgument("Welcome with no dimension");
      return CheckVector(w->model(), "model", true);
    }
    case fb::Message::EpochBegin:
      return CheckVector(m.As<fb::EpochBegin>()->snapshot(), "snapshot", true);
    case fb::Message::GradSum: {
      const auto* g = m.As<fb::GradSum>();
      EDGETRAIN_RETURN_IF_ERROR(CheckVector(g->grad(), "grad", true));
      EDGETRAIN_RETURN_IF_ERROR(Finite(g->loss_sum(), "loss_sum"));
      if (g->rows() <= 0) return Status::InvalidArgument("GradSum with no rows");
      for (double s : {g->l_max(), g->l_avg(), g->l_full(), g->l_q()}) {
        if (!std::isfinite(s) || s < 0)
          return Status::InvalidArgument("GradSum with a bad smoothness value");
      }
      return Status::Ok();
    }
    case fb::Message::Snapshot: {
      const auto* s = m.As<fb::Snapshot>();
      EDGETRAIN_RETURN_IF_ERROR(CheckVector(s->mu(), "mu", true));
      if (!(s->eta() > 0) || !std::isfinite(s->eta()))
        return Status::InvalidArgument("Snapshot with a bad step size");
      if (s->inner_steps() <= 0 || s->batch() <= 0)
        return Status::InvalidArgument("Snapshot with a bad inner loop");
      if (const auto* support = s->newton_support(); support != nullptr) {
        if (static_cast<int64_t>(support->size()) > kMaxNewtonSupport) {
          return Status::InvalidArgument(
              "Snapshot with a Newton support of " + std::to_string(support->size()) +
              " coordinates (at most " + std::to_string(kMaxNewtonSupport) + ")");
        }
        const int64_t limit = model_size_ > 0 ? model_size_ : (int64_t{1} << 31);
        int64_t previous = -1;
        for (uint32_t j : *support) {
          if (static_cast<int64_t>(j) <= previous || static_cast<int64_t>(j) >= limit) {
            return Status::InvalidArgument(
                "Snapshot with a Newton support not increasing or out of range");
          }
          previous = j;
        }
      }
      return Status::Ok();
    }
    case fb::Message::Curvature: {
      const auto* c = m.As<fb::Curvature>();
      const int64_t size = c->support_size();
      if (size <= 0 || size > kMaxNewtonSupport) {
        return Status::InvalidArgument("Curvature with a support of " + std::to_string(size) +
                                       " coordinates");
      }
      if (c->rows() <= 0) return Status::InvalidArgument("Curvature with no rows");
      if (c->declined()) return Status::Ok();
      const auto* h = c->hessian();
      if (h == nullptr || static_cast<int64_t>(h->size()) != size * (size + 1) / 2) {
        return Status::InvalidArgument(
            "Curvature whose Hessian is not the packed lower triangle of its support");
      }
      if (reinterpret_cast<uintptr_t>(h->data()) % alignof(double) != 0) {
        return Status::InvalidArgument("Curvature: values not 8-byte aligned");
      }
      if (!AllFinite(h->data(), h->size()))
        return Status::InvalidArgument("Curvature holds a non-finite value");
      return Status::Ok();
    }
    case fb::Message::Update:
      EDGETRAIN_RETURN_IF_ERROR(CheckVector(m.As<fb::Update>()->delta(), "delta", true));
      return CheckVector(m.As<fb::Update>()->guarded(), "guarded", false);
    case fb::Message::Model: {
      const auto* x = m.As<fb::Model>();
      if (x->since() < -1 || x->since() > x->version())
        return Status::InvalidArgument("Model with a bad 'since' version");
      return CheckVector(x->x(), "x", true);
    }
    case fb::Message::Stop:
      return Status::Ok();
    case fb::Message::Reject:
    case fb::Message::Heartbeat:
    case fb::Message::Bye:
      return Status::Ok();
    case fb::Message::NONE:
      break;
  }
  return Status::InvalidArgument("unknown message type");
}

}  // namespace edgetrain::wire
