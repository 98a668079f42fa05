#include "fuzz_checks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "edgetrain/crc32c.h"
#include "edgetrain/dataset.h"
#include "edgetrain/fb/model_generated.h"
#include "edgetrain/model.h"
#include "edgetrain/model_replica.h"
#include "edgetrain/readers.h"
#include "edgetrain/text.h"
#include "edgetrain/wire.h"

namespace edgetrain::fuzz {
namespace {

void DefaultFailure(const std::string& what) {
  std::fprintf(stderr, "fuzz invariant violated: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

FailureHandler g_failure = DefaultFailure;

}  // namespace

void Fail(const std::string& what) {
  g_failure(what);
  std::abort();  // a handler that returns is a bug of the caller; stop anyway
}

namespace {

// The harness itself allocates per coordinate (replicas, liblinear text) only up to this size.
constexpr int64_t kMaxHarnessDim = int64_t{1} << 16;
const std::string kSource = "fuzz-input";

bool SameDouble(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

// Every error names the place (docs/data.md): messages start with the source name.
void CheckError(const Status& s, const char* what) {
  FUZZ_CHECK(!s.ok(), what);
  FUZZ_CHECK(s.message().rfind(kSource, 0) == 0, std::string(what) + ": " + s.message());
}

// ---- datasets ------------------------------------------------------------------------------

// The CSR structure of a Dataset (dataset.h): row_ptr monotone from 0 to nnz, indices in
// [0, dim) and strictly increasing per row, values finite and non-zero (zeros are not stored).
void CheckCsr(const Dataset& d, const ReadOptions& o, const char* mode) {
  const std::vector<int64_t>& rp = d.row_ptr();
  const std::vector<int32_t>& idx = d.index();
  const std::vector<double>& val = d.value();
  const std::string ctx = std::string("mode ") + mode;
  FUZZ_CHECK(rp.size() == d.y().size() + 1, ctx);
  FUZZ_CHECK(rp.front() == 0, ctx);
  FUZZ_CHECK(rp.back() == static_cast<int64_t>(idx.size()), ctx);
  FUZZ_CHECK(idx.size() == val.size(), ctx);
  FUZZ_CHECK(d.dim() >= 0 && d.dim() >= o.min_dim, ctx);
  for (size_t i = 0; i + 1 < rp.size(); ++i) {
    FUZZ_CHECK(rp[i] <= rp[i + 1], ctx + ", row " + std::to_string(i));
    for (int64_t k = rp[i]; k < rp[i + 1]; ++k) {
      FUZZ_CHECK(idx[k] >= 0 && idx[k] < d.dim(), ctx + ", row " + std::to_string(i));
      FUZZ_CHECK(k == rp[i] || idx[k - 1] < idx[k], ctx + ", row " + std::to_string(i));
      FUZZ_CHECK(std::isfinite(val[k]) && val[k] != 0.0, ctx + ", row " + std::to_string(i));
    }
  }
}

// Targets and label mappings for the mode the data was read in.
void CheckTargets(const Dataset& d, const ReadOptions& o, const char* mode) {
  const std::string ctx = std::string("mode ") + mode;
  FUZZ_CHECK(d.task() == o.task, ctx);
  if (o.task == Task::kRegression) {
    FUZZ_CHECK(!d.labels().has_value(), ctx);
    for (double y : d.y()) FUZZ_CHECK(std::isfinite(y), ctx);
    return;
  }
  if (o.defer_label_map && !o.labels) {
    const std::vector<std::string>& raw = d.raw_labels();
    FUZZ_CHECK(!d.labels().has_value(), ctx);
    FUZZ_CHECK(raw.size() == 1 || raw.size() == 2, ctx);
    FUZZ_CHECK(d.rows() > 0, ctx);
    if (raw.size() == 2)
      FUZZ_CHECK(!SameLabel(raw[0], raw[1]), ctx + ": '" + raw[0] + "', '" + raw[1] + "'");
    for (double y : d.y())
      FUZZ_CHECK((y == 0.0 || y == 1.0) && y < static_cast<double>(raw.size()), ctx);
    return;
  }
  FUZZ_CHECK(d.labels().has_value(), ctx);
  const LabelMap& map = *d.labels();
  FUZZ_CHECK(!SameLabel(map.negative, map.positive),
             ctx + ": '" + map.negative + "', '" + map.positive + "'");
  FUZZ_CHECK(map.Map(map.negative) == std::optional<double>(-1.0),
             ctx + ": label '" + map.negative + "'");
  FUZZ_CHECK(map.Map(map.positive) == std::optional<double>(1.0),
             ctx + ": label '" + map.positive + "'");
  if (o.labels) FUZZ_CHECK(map == *o.labels, ctx);
  bool seen[2] = {false, false};
  for (double y : d.y()) {
    FUZZ_CHECK(y == -1.0 || y == 1.0, ctx);
    seen[y > 0] = true;
  }
  // A mapping chosen from the data needs both labels in it.
  if (!o.labels) FUZZ_CHECK(seen[0] && seen[1], ctx);
}

void CheckDataset(const Dataset& d, const ReadOptions& o, const char* mode) {
  CheckCsr(d, o, mode);
  CheckTargets(d, o, mode);
}

// The features (not the targets) of two reads of the same text.
void CheckSameFeatures(const Dataset& a, const Dataset& b, const char* what) {
  FUZZ_CHECK(a.dim() == b.dim(), what);
  FUZZ_CHECK(a.row_ptr() == b.row_ptr(), what);
  FUZZ_CHECK(a.index() == b.index(), what);
  FUZZ_CHECK(a.value() == b.value(), what);
  FUZZ_CHECK(a.feature_names() == b.feature_names(), what);
}

using ParseFn = Result<Dataset> (*)(std::string_view, const std::string&, const ReadOptions&);

Result<Dataset> Parse(ParseFn parse, std::string_view text, const ReadOptions& o,
                      const char* mode) {
  Result<Dataset> r = parse(text, kSource, o);
  if (r.ok()) {
    CheckDataset(*r, o, mode);
  } else {
    CheckError(r.status(), mode);
  }
  return r;
}

// Every mode of a reader on one text, and how the modes must agree.
void CheckReader(ParseFn parse, std::string_view text, const ReadOptions& base) {
  ReadOptions cls = base;
  cls.task = Task::kClassification;
  Result<Dataset> rc = Parse(parse, text, cls, "classification");
  if (rc.ok()) {
    // Read again with its own mapping (how test data is read against a model): same targets.
    ReadOptions own = cls;
    own.labels = rc->labels();
    Result<Dataset> again = Parse(parse, text, own, "classification with its own labels");
    FUZZ_CHECK(again.ok(), again.status().ToString());
    CheckSameFeatures(*rc, *again, "own labels");
    FUZZ_CHECK(again->y() == rc->y(), "own labels");
    // The other label as the positive one: every target flips.
    ReadOptions flip = cls;
    flip.positive_label = rc->labels()->negative;
    Result<Dataset> flipped =
        Parse(parse, text, flip, "classification with the other positive label");
    FUZZ_CHECK(flipped.ok(), flipped.status().ToString());
    CheckSameFeatures(*rc, *flipped, "flipped labels");
    FUZZ_CHECK(flipped->labels()->positive == rc->labels()->negative, "flipped labels");
    FUZZ_CHECK(flipped->labels()->negative == rc->labels()->positive, "flipped labels");
    for (int64_t i = 0; i < rc->rows(); ++i)
      FUZZ_CHECK(flipped->y()[i] == -rc->y()[i], "flipped labels");
  }

  ReadOptions deferred = cls;
  deferred.defer_label_map = true;
  Result<Dataset> rd = Parse(parse, text, deferred, "classification, label map deferred");
  FUZZ_CHECK(rd.ok() || !rc.ok(),
             "deferring the label map refused a file that reads: " + rd.status().ToString());
  if (rd.ok()) {
    if (rc.ok()) CheckSameFeatures(*rc, *rd, "deferred");
    // What the agent does after the coordinator's Welcome: apply the run's mapping.
    const std::vector<std::string>& raw = rd->raw_labels();
    Dataset mapped = *rd;
    if (raw.size() == 2) {
      FUZZ_CHECK(rc.ok(),
                 "two distinct labels deferred but not readable: " + rc.status().ToString());
      Result<LabelMap> map = ChooseLabelMap(raw[0], raw[1], std::nullopt);
      FUZZ_CHECK(map.ok(), map.status().ToString());
      Status st = mapped.ApplyLabelMap(*map);
      FUZZ_CHECK(st.ok(), st.ToString());
      FUZZ_CHECK(*map == *rc->labels(), "deferred mapping differs");
      FUZZ_CHECK(mapped.y() == rc->y(), "deferred then mapped targets differ");
    } else {
      const LabelMap map{raw[0], raw[0] + "x"};  // the shard's label negative, another positive
      Status st = mapped.ApplyLabelMap(map);
      FUZZ_CHECK(st.ok(), st.ToString());
      for (double y : mapped.y()) FUZZ_CHECK(y == -1.0, "one deferred label mapped");
    }
  }

  ReadOptions reg = base;
  reg.task = Task::kRegression;
  Result<Dataset> rr = Parse(parse, text, reg, "regression");
  if (rr.ok()) {
    if (rc.ok()) CheckSameFeatures(*rc, *rr, "regression");
    if (rr->dim() <= INT32_MAX - 3) {
      ReadOptions wider = reg;
      wider.min_dim = rr->dim() + 3;
      Result<Dataset> rw = Parse(parse, text, wider, "regression, min_dim");
      FUZZ_CHECK(rw.ok(), rw.status().ToString());
      FUZZ_CHECK(rw->dim() == rr->dim() + 3, "min_dim");
      FUZZ_CHECK(rw->row_ptr() == rr->row_ptr() && rw->index() == rr->index() &&
                     rw->value() == rr->value(),
                 "min_dim");
    }
  }
}

// Line ends: the same text with "\r\n" for "\n" reads the same (files from Windows tools).
void CheckCrlf(ParseFn parse, std::string_view text, const ReadOptions& base) {
  if (text.find('\r') != std::string_view::npos || text.find('\n') == std::string_view::npos)
    return;
  std::string crlf;
  crlf.reserve(text.size() * 2);
  for (char c : text) {
    if (c == '\n') crlf.push_back('\r');
    crlf.push_back(c);
  }
  for (Task task : {Task::kClassification, Task::kRegression}) {
    ReadOptions o = base;
    o.task = task;
    Result<Dataset> lf = parse(text, kSource, o);
    Result<Dataset> cr = parse(crlf, kSource, o);
    FUZZ_CHECK(lf.ok() == cr.ok(), std::string("CRLF changes the verdict: LF ") +
                                       lf.status().ToString() + ", CRLF " + cr.status().ToString());
    if (!lf.ok()) continue;
    CheckSameFeatures(*lf, *cr, "CRLF");
    FUZZ_CHECK(lf->y() == cr->y(), "CRLF");
    FUZZ_CHECK(lf->labels() == cr->labels(), "CRLF");
  }
}

// ---- wire ----------------------------------------------------------------------------------

struct WireVector {
  VectorView v;
  const char* field;
};

std::vector<WireVector> VectorsOf(const wire::Message& m) {
  if (const auto* w = std::get_if<wire::WelcomeMsg>(&m.body)) return {{w->model, "model"}};
  if (const auto* e = std::get_if<wire::EpochBeginMsg>(&m.body)) return {{e->snapshot, "snapshot"}};
  if (const auto* g = std::get_if<wire::GradSumMsg>(&m.body)) return {{g->grad, "grad"}};
  if (const auto* l = std::get_if<wire::InnerLoopMsg>(&m.body)) return {{l->mu, "mu"}};
  if (const auto* u = std::get_if<wire::UpdateMsg>(&m.body))
    return {{u->delta, "delta"}, {u->guarded, "guarded"}};
  if (const auto* x = std::get_if<wire::ModelMsg>(&m.body)) return {{x->x, "x"}};
  return {};
}

// A string the receiver prints or keeps: valid UTF-8 within its limit.
void CheckText(std::string_view s, size_t max_bytes, const std::string& ctx) {
  FUZZ_CHECK(s.size() <= max_bytes, ctx + ": " + std::to_string(s.size()) + " bytes");
  FUZZ_CHECK(IsValidUtf8(s), ctx + ": not UTF-8");
}

// An agent's ModelReplica takes the vector: x holds it, the support lists exactly the non-zeros.
void CheckReplica(const VectorView& view, const std::string& ctx) {
  ModelReplica replica(view.dim);
  replica.Assign(view);
  std::vector<double> expect(view.dim, 0.0);
  for (int64_t k = 0; k < view.count; ++k) expect[view.dense() ? k : view.index[k]] = view.value[k];
  FUZZ_CHECK(replica.x() == expect, ctx);
  const ModelView mv = replica.View();
  std::vector<char> in_support(view.dim, 0);
  for (int64_t s = 0; s < mv.support_size; ++s) {
    const int32_t j = mv.support[s];
    FUZZ_CHECK(j >= 0 && j < view.dim, ctx);
    FUZZ_CHECK(in_support[j] == 0, ctx + ": support lists " + std::to_string(j) + " twice");
    FUZZ_CHECK(replica.x()[j] != 0.0, ctx);
    in_support[j] = 1;
  }
  for (int64_t j = 0; j < view.dim; ++j) FUZZ_CHECK(replica.x()[j] == 0.0 || in_support[j], ctx);
  // The next (empty) vector clears every coordinate of the previous support.
  const int32_t none = 0;
  replica.Assign(VectorView{&none, nullptr, 0, view.dim});
  FUZZ_CHECK(replica.View().support_size == 0, ctx);
  for (double x : replica.x()) FUZZ_CHECK(x == 0.0, ctx);
}

// A decoded message meets every check docs/protocol.md lists (envelope and payload); walks every
// vector entry and every string.
void CheckDecoded(const wire::Message& m, int64_t model_size) {
  const std::string ctx =
      std::string(wire::MessageName(m.body)) + ", model size " + std::to_string(model_size);
  CheckText(m.header.agent_id, wire::kMaxAgentIdBytes, ctx + ", agent id");
  FUZZ_CHECK(!m.header.agent_id.empty(), ctx);
  const bool foreign = m.header.protocol != wire::kProtocolVersion;
  FUZZ_CHECK(!foreign || std::holds_alternative<wire::RejectMsg>(m.body) ||
                 std::holds_alternative<wire::OtherProtocolMsg>(m.body),
             ctx + ": another version's message read");
  FUZZ_CHECK(foreign || !std::holds_alternative<wire::OtherProtocolMsg>(m.body), ctx);
  const int64_t limit = model_size > 0 ? model_size : int64_t{kMaxModelDimension} + 1;
  if (const auto* h = std::get_if<wire::HelloMsg>(&m.body)) {
    FUZZ_CHECK(h->rows > 0 && h->dimension >= 0, ctx);
    FUZZ_CHECK(h->task == Task::kClassification || h->task == Task::kRegression, ctx);
    FUZZ_CHECK(std::isfinite(h->row_norm_sq_max) && h->row_norm_sq_max >= 0, ctx);
    FUZZ_CHECK(std::isfinite(h->row_norm_sq_mean) && h->row_norm_sq_mean >= 0, ctx);
    FUZZ_CHECK(h->labels.size() <= 2, ctx);
    for (std::string_view l : h->labels) CheckText(l, wire::kMaxLabelBytes, ctx + ", label");
    CheckText(h->software_version, wire::kMaxVersionBytes, ctx + ", version");
  } else if (const auto* w = std::get_if<wire::WelcomeMsg>(&m.body)) {
    FUZZ_CHECK(w->dimension > 0 && w->dimension <= kMaxModelDimension, ctx);
    FUZZ_CHECK(w->problem.reg.Validate().ok(), ctx);
    FUZZ_CHECK(w->model.dim == w->problem.ModelSize(w->dimension), ctx);
    FUZZ_CHECK(w->heartbeat_ms >= 1 && w->heartbeat_ms <= wire::kMaxHeartbeatMs, ctx);
    CheckText(w->label_negative, wire::kMaxLabelBytes, ctx + ", label");
    CheckText(w->label_positive, wire::kMaxLabelBytes, ctx + ", label");
  } else if (const auto* r = std::get_if<wire::RejectMsg>(&m.body)) {
    CheckText(r->text, wire::kMaxTextBytes, ctx + ", text");
  } else if (const auto* g = std::get_if<wire::GradSumMsg>(&m.body)) {
    FUZZ_CHECK(std::isfinite(g->loss_sum) && g->loss_sum >= 0 && g->smoothness.rows > 0, ctx);
    const Smoothness& s = g->smoothness;
    for (double v : {s.l_max, s.l_avg, s.l_full, s.l_q})
      FUZZ_CHECK(std::isfinite(v) && v >= 0, ctx);
  } else if (const auto* l = std::get_if<wire::InnerLoopMsg>(&m.body)) {
    FUZZ_CHECK(std::isfinite(l->eta) && l->eta > 0 && l->inner_steps > 0 && l->batch > 0, ctx);
  } else if (const auto* c = std::get_if<wire::CurvatureRequestMsg>(&m.body)) {  // what an agent
    FUZZ_CHECK(!c->support.empty() &&                                            // indexes with
                   static_cast<int64_t>(c->support.size()) <= wire::kMaxNewtonSupport,
               ctx);
    int64_t previous = -1;
    for (int32_t j : c->support) {
      FUZZ_CHECK(j > previous, ctx + ": support not increasing");
      FUZZ_CHECK(j < limit, ctx + ": support out of range");
      previous = j;
    }
  } else if (const auto* k = std::get_if<wire::CurvatureMsg>(&m.body)) {
    // What the coordinator adds into its |S|(|S|+1)/2 sum.
    FUZZ_CHECK(k->support_size > 0 && k->support_size <= wire::kMaxNewtonSupport && k->rows > 0,
               ctx);
    if (k->declined) {
      FUZZ_CHECK(k->hessian.empty(), ctx);
    } else {
      FUZZ_CHECK(
          static_cast<int64_t>(k->hessian.size()) == k->support_size * (k->support_size + 1) / 2,
          ctx);
      FUZZ_CHECK(reinterpret_cast<uintptr_t>(k->hessian.data()) % alignof(double) == 0, ctx);
      for (double v : k->hessian) FUZZ_CHECK(std::isfinite(v), ctx);
    }
  } else if (const auto* x = std::get_if<wire::ModelMsg>(&m.body)) {
    FUZZ_CHECK(x->since >= -1 && x->since <= x->version, ctx);
  } else if (const auto* b = std::get_if<wire::ByeMsg>(&m.body)) {
    CheckText(b->text, wire::kMaxTextBytes, ctx + ", text");
  } else if (const auto* s = std::get_if<wire::StopMsg>(&m.body)) {
    CheckText(s->reason, wire::kMaxTextBytes, ctx + ", reason");
  } else if (const auto* end = std::get_if<wire::RoundEndMsg>(&m.body)) {
    // What the agent saves and logs: a model only with its round, a heartbeat it can keep.
    CheckText(end->text, wire::kMaxTextBytes, ctx + ", text");
    FUZZ_CHECK(end->round >= 0 && end->model_round >= 0, ctx);
    FUZZ_CHECK((end->model_round == 0) == end->model.empty(), ctx);
    FUZZ_CHECK(end->heartbeat_ms >= 1 && end->heartbeat_ms <= wire::kMaxHeartbeatMs, ctx);
  } else if (const auto* begin = std::get_if<wire::RoundBeginMsg>(&m.body)) {
    FUZZ_CHECK(begin->round >= 1, ctx);
  } else if (const auto* beat = std::get_if<wire::HeartbeatMsg>(&m.body)) {
    FUZZ_CHECK(beat->rows >= 0 && beat->model_round >= 0, ctx);  // counted towards --round-new-rows
  }
  // Every index of the message's sparse vectors once (an Update's two parts together).
  std::vector<int32_t> indices;
  for (const WireVector& w : VectorsOf(m)) {
    const std::string vctx = ctx + ", vector " + w.field;
    const VectorView& view = w.v;
    FUZZ_CHECK(view.dim > 0 && view.dim <= int64_t{kMaxModelDimension} + 1, vctx);
    if (model_size > 0) FUZZ_CHECK(view.dim == model_size, vctx);
    if (view.index != nullptr) {
      FUZZ_CHECK(!view.dense() && view.count <= view.dim, vctx);
      for (int64_t k = 0; k < view.count; ++k) {
        FUZZ_CHECK(view.index[k] >= 0 && view.index[k] < view.dim, vctx);
        indices.push_back(view.index[k]);
      }
    } else {
      FUZZ_CHECK(view.count == 0 || (view.dense() && view.count == view.dim), vctx);
    }
    // Read in place by the receiver: the doubles must be aligned (check before reading them).
    FUZZ_CHECK(view.count == 0 || reinterpret_cast<uintptr_t>(view.value) % alignof(double) == 0,
               vctx);
    for (int64_t k = 0; k < view.count; ++k) FUZZ_CHECK(std::isfinite(view.value[k]), vctx);
    if (view.dim <= kMaxHarnessDim) CheckReplica(view, vctx);
  }
  std::sort(indices.begin(), indices.end());
  FUZZ_CHECK(std::adjacent_find(indices.begin(), indices.end()) == indices.end(),
             ctx + ": an index twice");
}

// ---- model files ---------------------------------------------------------------------------

// A ModelFile laid out by hand around `nested` with its correct CRC32C: root offset, "ETMD",
// vtable, table {crc32c, model}, then the [ubyte] vector. The nested bytes start 8-byte aligned
// (as SerializeModel writes them) or, with `misalign`, at 4 mod 8 (valid FlatBuffers all the same).
std::string WrapNestedModel(std::string_view nested, bool misalign) {
  std::string out;
  auto put16 = [&](uint16_t v) { out.append(reinterpret_cast<const char*>(&v), 2); };
  auto put32 = [&](uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  put32(16);      // the root table is at 16
  out += "ETMD";  // file identifier
  put16(8);       // vtable at 8: 8 bytes,
  put16(12);      //   table of 12 bytes,
  put16(4);       //   crc32c at +4,
  put16(8);       //   model at +8
  put32(8);       // table at 16: its vtable is 8 bytes before
  put32(Crc32c(nested.data(), nested.size()));
  const uint32_t vector_at = misalign ? 32 : 28;  // the bytes follow the 4-byte length
  put32(vector_at - 24);
  out.resize(vector_at, '\0');
  put32(static_cast<uint32_t>(nested.size()));
  out.append(nested);
  return out;
}

// The nested Model bytes of a ModelFile (whatever its checksum), or nullopt when `bytes` is not
// one.
std::optional<std::string> NestedModelBytes(std::string_view bytes) {
  if (bytes.size() < 8) return std::nullopt;
  std::vector<uint64_t> aligned((bytes.size() + 7) / 8);
  std::memcpy(aligned.data(), bytes.data(), bytes.size());
  const auto* buf = reinterpret_cast<const uint8_t*>(aligned.data());
  if (!fb::ModelFileBufferHasIdentifier(buf)) return std::nullopt;
  flatbuffers::Verifier::Options opts;
  opts.check_nested_flatbuffers = false;
  flatbuffers::Verifier verifier(buf, bytes.size(), opts);
  if (!fb::VerifyModelFileBuffer(verifier)) return std::nullopt;
  const auto* model = fb::GetModelFile(buf)->model();
  if (model == nullptr) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(model->data()), model->size());
}

// What a parsed model promises its users (predict, the liblinear export).
void CheckModel(const Model& m, const std::string& ctx) {
  FUZZ_CHECK(m.task == Task::kClassification || m.task == Task::kRegression, ctx);
  FUZZ_CHECK(m.spec.loss == LossKind::kLogistic || m.spec.loss == LossKind::kSquared ||
                 m.spec.loss == LossKind::kSquaredHinge,
             ctx);
  FUZZ_CHECK(m.spec.reg.Validate().ok(), ctx);
  FUZZ_CHECK(m.dim >= 0 && m.weights.size() == static_cast<size_t>(m.dim), ctx);
  for (double w : m.weights) FUZZ_CHECK(std::isfinite(w), ctx);
  FUZZ_CHECK(std::isfinite(m.intercept), ctx);
  if (m.task == Task::kClassification) FUZZ_CHECK(m.labels.has_value(), ctx);
  if (m.labels) {
    FUZZ_CHECK(!SameLabel(m.labels->negative, m.labels->positive),
               ctx + ": labels '" + m.labels->negative + "', '" + m.labels->positive + "'");
    FUZZ_CHECK(m.labels->Map(m.labels->negative) == std::optional<double>(-1.0),
               ctx + ": label '" + m.labels->negative + "'");
    FUZZ_CHECK(m.labels->Map(m.labels->positive) == std::optional<double>(1.0),
               ctx + ": label '" + m.labels->positive + "'");
  }
  if (m.scaler.kind != ScalerKind::kNone) {
    FUZZ_CHECK(m.scaler.offset.size() == static_cast<size_t>(m.dim) &&
                   m.scaler.factor.size() == static_cast<size_t>(m.dim),
               ctx);
  }
  for (double v : m.scaler.offset) FUZZ_CHECK(std::isfinite(v), ctx);
  for (double v : m.scaler.factor) FUZZ_CHECK(std::isfinite(v), ctx);
  FUZZ_CHECK(m.feature_names.empty() || m.feature_names.size() == static_cast<size_t>(m.dim), ctx);
  FUZZ_CHECK(m.dim <= kMaxModelDimension, ctx);
  if (m.dim > kMaxHarnessDim) return;  // the model is fine; spare the harness the dense copies
  // Prediction folds the scaler into the weights: the result must be usable.
  std::vector<double> w;
  double b = 0;
  m.EffectiveWeights(&w, &b);
  FUZZ_CHECK(w.size() == static_cast<size_t>(m.dim), ctx);
  for (double v : w) FUZZ_CHECK(std::isfinite(v), ctx + ": effective weight not finite");
  FUZZ_CHECK(std::isfinite(b), ctx + ": effective intercept not finite");
  FUZZ_CHECK(ToLiblinearText(m).rfind("solver_type ", 0) == 0, ctx);
}

void CheckSameModel(const Model& a, const Model& b, const std::string& ctx) {
  FUZZ_CHECK(a.task == b.task && a.spec.loss == b.spec.loss && a.spec.intercept == b.spec.intercept,
             ctx);
  FUZZ_CHECK(a.spec.reg.l1 == b.spec.reg.l1 && a.spec.reg.l2 == b.spec.reg.l2, ctx);
  FUZZ_CHECK(a.spec.reg.lower == b.spec.reg.lower && a.spec.reg.upper == b.spec.reg.upper, ctx);
  FUZZ_CHECK(a.dim == b.dim && a.weights == b.weights && a.intercept == b.intercept, ctx);
  FUZZ_CHECK(a.labels == b.labels, ctx + ": labels");
  FUZZ_CHECK(a.scaler.kind == b.scaler.kind, ctx);
  if (a.scaler.kind != ScalerKind::kNone) {
    FUZZ_CHECK(a.scaler.offset == b.scaler.offset && a.scaler.factor == b.scaler.factor, ctx);
  }
  FUZZ_CHECK(a.feature_names == b.feature_names, ctx + ": feature names");
  const TrainingSummary& s = a.summary;
  const TrainingSummary& t = b.summary;
  FUZZ_CHECK(s.mode == t.mode && s.stop_reason == t.stop_reason &&
                 s.software_version == t.software_version,
             ctx + ": summary strings");
  FUZZ_CHECK(s.epochs == t.epochs && s.updates == t.updates && s.rows == t.rows &&
                 s.agents == t.agents && s.inner_steps == t.inner_steps &&
                 s.batch_size == t.batch_size && s.created_unix == t.created_unix,
             ctx + ": summary counts");
  FUZZ_CHECK(SameDouble(s.objective, t.objective) && SameDouble(s.kkt_violation, t.kkt_violation) &&
                 SameDouble(s.seconds, t.seconds) && SameDouble(s.step_size, t.step_size),
             ctx + ": summary numbers");
}

void CheckModelBytes(std::string_view bytes, const char* variant) {
  const std::string ctx = std::string("model file ") + variant;
  Result<Model> r = ParseModel(bytes, kSource);
  if (!r.ok()) {
    FUZZ_CHECK(r.status().code() == StatusCode::kCorrupt, ctx + ": " + r.status().ToString());
    CheckError(r.status(), ctx.c_str());
    return;
  }
  CheckModel(*r, ctx);
  // A few hundred bytes may declare 2^26 features (legal, up to kMaxModelDimension): parsing
  // them is checked above; the round trip of such a model (half a GB, twice) only costs the
  // harness time -- the same code runs on every smaller model.
  if (r->dim > kMaxHarnessDim) return;
  // Round trip: what we write we read back, and writing that again gives the same bytes.
  const std::string written = SerializeModel(*r);
  Result<Model> back = ParseModel(written, kSource);
  FUZZ_CHECK(back.ok(), ctx + ": the serialized model does not parse: " + back.status().ToString());
  CheckSameModel(*r, *back, ctx + ", round trip");
  FUZZ_CHECK(SerializeModel(*back) == written, ctx + ": serialization is not stable");
}

}  // namespace

void SetFailureHandler(FailureHandler handler) {
  g_failure = handler != nullptr ? handler : DefaultFailure;
}

void FeedWireMessage(const uint8_t* data, size_t size) {
  // Model size unknown (a coordinator before the run starts, an agent before its Welcome).
  wire::Decoder decoder;
  bool ok = false;
  std::vector<int64_t> dims;
  int64_t support_limit = 0;  // a CurvatureRequest needs a model larger than its last index
  {
    Result<wire::Message> r = decoder.Decode(data, size);
    if (r.ok()) {
      ok = true;
      CheckDecoded(*r, 0);
      for (const WireVector& w : VectorsOf(*r)) dims.push_back(w.v.dim);
      if (const auto* c = std::get_if<wire::CurvatureRequestMsg>(&r->body))
        support_limit = int64_t{c->support.back()} + 1;
    } else {
      FUZZ_CHECK(!r.status().message().empty(), "refusal without a reason");
    }
  }
  // The same bytes at a misaligned address (as ZeroMQ may hand them out): the same verdict.
  {
    std::vector<uint8_t> shifted(size + 1);
    if (size > 0) std::memcpy(shifted.data() + 1, data, size);
    Result<wire::Message> r = decoder.Decode(shifted.data() + 1, size);
    FUZZ_CHECK(r.ok() == ok, "misaligned copy decodes differently: " + r.status().ToString());
    if (r.ok()) CheckDecoded(*r, 0);
  }
  // A model size from the first byte (repeats then found by stamps, not by sorting): only ever
  // refuses more.
  if (size > 0 && data[0] != 0) {
    wire::Decoder sized;
    sized.set_model_size(data[0]);
    Result<wire::Message> r = sized.Decode(data, size);
    if (r.ok()) {
      FUZZ_CHECK(ok, "a model size made a refused message acceptable");
      CheckDecoded(*r, data[0]);
    }
  }
  // The model size the message's own vectors have: accepted; any other size: refused. (A sized
  // decoder allocates its stamps, 4 bytes a coordinate: larger sizes run the same code, slowly.)
  if (ok && !dims.empty() && dims[0] <= kMaxHarnessDim) {
    bool same = true;
    for (int64_t d : dims) same &= d == dims[0];
    wire::Decoder sized;
    sized.set_model_size(dims[0]);
    Result<wire::Message> r = sized.Decode(data, size);
    FUZZ_CHECK(r.ok() == same,
               "model size " + std::to_string(dims[0]) + ": " + r.status().ToString());
    if (r.ok()) CheckDecoded(*r, dims[0]);
    sized.set_model_size(dims[0] + 1);
    FUZZ_CHECK(!sized.Decode(data, size).ok(), "a vector of the wrong dimension passed");
  }
  // A curvature request: accepted by a model that holds its support, refused by a smaller one.
  if (ok && support_limit > 0 && support_limit <= kMaxHarnessDim) {
    wire::Decoder sized;
    sized.set_model_size(support_limit);
    Result<wire::Message> r = sized.Decode(data, size);
    FUZZ_CHECK(r.ok(), "support within the model refused: " + r.status().ToString());
    CheckDecoded(*r, support_limit);
    if (support_limit > 1) {
      sized.set_model_size(support_limit - 1);
      FUZZ_CHECK(!sized.Decode(data, size).ok(), "a support beyond the model passed");
    }
  }
  // The size limit.
  if (size > 0) {
    wire::Decoder small(size - 1);
    Result<wire::Message> r = small.Decode(data, size);
    FUZZ_CHECK(!r.ok() && r.status().code() == StatusCode::kOutOfRange, "size limit");
  }
}

void FeedLibsvm(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  CheckReader(ParseLibsvm, text, ReadOptions{});
  CheckCrlf(ParseLibsvm, text, ReadOptions{});
}

void FeedCsv(const uint8_t* data, size_t size) {
  std::string_view all(reinterpret_cast<const char*>(data), size);
  const size_t nl = all.find('\n');
  std::string_view options_line = all.substr(0, nl);
  const std::string_view text =
      nl == std::string_view::npos ? std::string_view() : all.substr(nl + 1);
  ReadOptions base;
  size_t bar = options_line.find('|');
  base.label_column = std::string(options_line.substr(0, bar));
  while (bar != std::string_view::npos) {
    options_line.remove_prefix(bar + 1);
    bar = options_line.find('|');
    base.feature_columns.emplace_back(options_line.substr(0, bar));
  }
  CheckReader(ParseCsv, text, base);
  CheckCrlf(ParseCsv, text, base);
  // Feature names: one per feature column, in order (dim == their number, min_dim being 0).
  ReadOptions reg = base;
  reg.task = Task::kRegression;
  Result<Dataset> r = ParseCsv(text, kSource, reg);
  if (r.ok()) {
    FUZZ_CHECK(r->feature_names().size() == static_cast<size_t>(r->dim()), "feature names");
    if (!base.feature_columns.empty())
      FUZZ_CHECK(r->feature_names() == base.feature_columns, "feature names");
    for (const std::string& name : r->feature_names())
      FUZZ_CHECK(name != base.label_column, "label as feature");
  }
}

void FeedModelFile(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  CheckModelBytes(bytes, "as given");
  // Past the checksum: the nested Model (of the input's ModelFile, or the whole input) wrapped
  // with its correct CRC32C, so mutations reach the semantic checks.
  const std::optional<std::string> nested = NestedModelBytes(bytes);
  const std::string_view inner = nested ? std::string_view(*nested) : bytes;
  CheckModelBytes(WrapNestedModel(inner, false), "re-checksummed");
  CheckModelBytes(WrapNestedModel(inner, true), "re-checksummed, nested buffer misaligned");
}

const std::vector<Target>& Targets() {
  static const std::vector<Target> targets = {
      {"wire_decoder", FeedWireMessage}, {"libsvm", FeedLibsvm},           {"csv", FeedCsv},
      {"model_file", FeedModelFile},     {"coordinator", FeedCoordinator},
  };
  return targets;
}

}  // namespace edgetrain::fuzz
