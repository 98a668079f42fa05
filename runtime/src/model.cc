#include "edgetrain/model.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "checksummed_nest.h"
#include "edgetrain/fb/model_generated.h"
#include "edgetrain/file_util.h"
#include "parse_number.h"

namespace edgetrain {

Model Model::FromVector(const std::vector<double>& x, int32_t dim, Task task,
                        const ProblemSpec& spec) {
  Model m;
  m.task = task;
  m.spec = spec;
  m.dim = dim;
  m.weights.assign(x.begin(), x.begin() + dim);
  m.intercept = spec.intercept ? x[dim] : 0.0;
  return m;
}

std::vector<double> Model::ToVector() const {
  std::vector<double> x(weights);
  if (spec.intercept) x.push_back(intercept);
  return x;
}

int64_t Model::NonZeros() const {
  int64_t nnz = 0;
  for (double w : weights) nnz += (w != 0.0);
  return nnz;
}

void Model::EffectiveWeights(std::vector<double>* w, double* b) const {
  *w = weights;
  *b = intercept;
  if (scaler.kind == ScalerKind::kNone) return;
  for (int32_t j = 0; j < dim; ++j) {
    (*w)[j] = weights[j] * scaler.factor[j];
    *b -= (*w)[j] * scaler.offset[j];
  }
}

std::string SerializeModel(const Model& m) {
  flatbuffers::FlatBufferBuilder fbb(1024 + m.weights.size() * 4);
  std::vector<int32_t> idx;
  std::vector<double> val;
  for (int32_t j = 0; j < m.dim; ++j) {
    if (m.weights[j] != 0.0) {
      idx.push_back(j);
      val.push_back(m.weights[j]);
    }
  }
  auto index_off = fbb.CreateVector(idx);
  auto value_off = fbb.CreateVector(val);
  // Strings go in with their sizes (not as C strings): labels and names may hold NUL bytes.
  flatbuffers::Offset<fb::LabelMap> labels_off = 0;
  if (m.labels) {
    auto negative = fbb.CreateString(m.labels->negative);
    auto positive = fbb.CreateString(m.labels->positive);
    labels_off = fb::CreateLabelMap(fbb, negative, positive);
  }
  flatbuffers::Offset<fb::Scaler> scaler_off = 0;
  if (m.scaler.kind != ScalerKind::kNone) {
    scaler_off = fb::CreateScalerDirect(fbb, static_cast<fb::ScalerKind>(m.scaler.kind),
                                        &m.scaler.offset, &m.scaler.factor);
  }
  std::vector<flatbuffers::Offset<flatbuffers::String>> names;
  for (const std::string& n : m.feature_names) names.push_back(fbb.CreateString(n));
  auto names_off = fbb.CreateVector(names);
  const TrainingSummary& s = m.summary;
  auto mode = fbb.CreateString(s.mode);
  auto stop_reason = fbb.CreateString(s.stop_reason);
  auto software_version = fbb.CreateString(s.software_version);
  std::vector<flatbuffers::Offset<flatbuffers::String>> agent_ids;
  std::vector<int64_t> agent_rows;
  for (const auto& [id, rows] : s.agent_rows) {
    agent_ids.push_back(fbb.CreateString(id));
    agent_rows.push_back(rows);
  }
  auto agent_ids_off = fbb.CreateVector(agent_ids);
  auto agent_rows_off = fbb.CreateVector(agent_rows);
  auto summary_off = fb::CreateTrainingSummary(
      fbb, mode, s.epochs, s.updates, s.rows, s.agents, s.objective, s.kkt_violation, s.seconds,
      s.step_size, s.inner_steps, s.batch_size, stop_reason, s.created_unix, software_version,
      s.round, s.relative_gap, agent_ids_off, agent_rows_off);
  flatbuffers::Offset<flatbuffers::Vector<double>> fill_off;
  if (!m.fill_values.empty()) fill_off = fbb.CreateVector(m.fill_values);
  flatbuffers::Offset<flatbuffers::String> label_column_off;
  if (!m.label_column.empty()) label_column_off = fbb.CreateString(m.label_column);
  auto reg_off = fb::CreateRegularization(fbb, m.spec.reg.l1, m.spec.reg.l2, m.spec.reg.lower,
                                          m.spec.reg.upper);
  fb::ModelBuilder b(fbb);
  b.add_task(static_cast<fb::Task>(m.task));
  b.add_loss(static_cast<fb::Loss>(m.spec.loss));
  b.add_regularization(reg_off);
  b.add_dimension(m.dim);
  b.add_fit_intercept(m.spec.intercept);
  b.add_intercept(m.intercept);
  b.add_weight_index(index_off);
  b.add_weight_value(value_off);
  if (m.labels) b.add_labels(labels_off);
  if (m.scaler.kind != ScalerKind::kNone) b.add_scaler(scaler_off);
  b.add_feature_names(names_off);
  b.add_summary(summary_off);
  b.add_missing_policy(static_cast<fb::MissingPolicy>(m.missing));
  if (!m.fill_values.empty()) b.add_fill_values(fill_off);
  if (!m.label_column.empty()) b.add_label_column(label_column_off);
  fbb.Finish(b.Finish());

  // Envelope: CRC32C over the nested Model buffer (8-byte aligned inside the file).
  flatbuffers::FlatBufferBuilder outer(fbb.GetSize() + 64);
  uint32_t crc = 0;
  auto nested = NestBuffer(&outer, fbb, &crc);
  fb::FinishModelFileBuffer(outer, fb::CreateModelFile(outer, crc, nested));
  return std::string(reinterpret_cast<const char*>(outer.GetBufferPointer()), outer.GetSize());
}

Result<Model> ParseModel(std::string_view bytes, const std::string& source) {
  auto corrupt = [&](const std::string& why) {
    return Status::Corrupt(source + ": not a valid edgetrain model file: " + why);
  };
  if (bytes.size() < 8) return corrupt("only " + std::to_string(bytes.size()) + " bytes");
  // FlatBuffers reads scalars in place, so give it 8-byte aligned memory.
  std::vector<uint64_t> aligned, nested_aligned;
  const uint8_t* buf = AlignedCopy(bytes, &aligned);
  if (!fb::ModelFileBufferHasIdentifier(buf)) {
    return corrupt("missing the 'ETMD' file identifier");
  }
  flatbuffers::Verifier verifier(buf, bytes.size(), /*max_depth=*/16, /*max_tables=*/1000);
  if (!fb::VerifyModelFileBuffer(verifier))
    return corrupt("FlatBuffers verification failed (truncated or damaged)");
  const fb::ModelFile* file = fb::GetModelFile(buf);
  if (file->model() == nullptr) return corrupt("no model inside");
  const uint8_t* nested = ChecksummedNested(file->model(), file->crc32c(), &nested_aligned);
  if (nested == nullptr)
    return corrupt("checksum mismatch (the file was damaged after it was written)");
  const fb::Model* f = flatbuffers::GetRoot<fb::Model>(nested);
  if (f->format_version() != 1) {
    return corrupt("format version " + std::to_string(f->format_version()) + ", expected 1");
  }
  Model m;
  if (f->task() != fb::Task::Classification && f->task() != fb::Task::Regression)
    return corrupt("unknown task");
  m.task = static_cast<Task>(f->task());
  if (static_cast<int>(f->loss()) < 0 || static_cast<int>(f->loss()) > 2)
    return corrupt("unknown loss");
  m.spec.loss = static_cast<LossKind>(f->loss());
  if (const auto* r = f->regularization()) {
    m.spec.reg.l1 = r->l1();
    m.spec.reg.l2 = r->l2();
    m.spec.reg.lower = r->lower();
    m.spec.reg.upper = r->upper();
  }
  if (Status st = m.spec.reg.Validate(); !st.ok()) return corrupt(st.message());
  m.spec.intercept = f->fit_intercept();
  if (f->dimension() < 0) return corrupt("negative dimension");
  if (f->dimension() > kMaxModelDimension) {
    return corrupt("dimension " + std::to_string(f->dimension()) + " above the maximum " +
                   std::to_string(kMaxModelDimension));
  }
  m.dim = f->dimension();
  m.intercept = f->intercept();
  if (!std::isfinite(m.intercept)) return corrupt("non-finite intercept");
  m.weights.assign(m.dim, 0.0);
  const auto* idx = f->weight_index();
  const auto* val = f->weight_value();
  const uint32_t count = idx ? idx->size() : 0;
  if ((val ? val->size() : 0) != count)
    return corrupt("weight_index and weight_value differ in length");
  int64_t prev = -1;
  for (uint32_t k = 0; k < count; ++k) {
    const int32_t j = idx->Get(k);
    const double v = val->Get(k);
    if (j <= prev || j >= m.dim)
      return corrupt("weight index " + std::to_string(j) + " out of order or range");
    if (!std::isfinite(v)) return corrupt("non-finite weight at index " + std::to_string(j));
    m.weights[j] = v;
    prev = j;
  }
  if (const auto* l = f->labels()) {
    if (!l->negative() || !l->positive()) return corrupt("label map without both labels");
    m.labels = LabelMap{l->negative()->str(), l->positive()->str()};
    if (SameLabel(m.labels->negative, m.labels->positive)) {
      return corrupt("the labels '" + m.labels->negative + "' and '" + m.labels->positive +
                     "' are the same value");
    }
  }
  if (m.task == Task::kClassification && !m.labels)
    return corrupt("classification model without labels");
  if (const auto* s = f->scaler()) {
    const int kind = static_cast<int>(s->kind());
    if (kind < 0 || kind > 3) return corrupt("unknown scaler kind");
    m.scaler.kind = static_cast<ScalerKind>(kind);
    if (!s->offset() || !s->factor() || s->offset()->size() != static_cast<uint32_t>(m.dim) ||
        s->factor()->size() != static_cast<uint32_t>(m.dim)) {
      return corrupt("scaler vectors do not have one entry per feature");
    }
    m.scaler.offset.assign(s->offset()->begin(), s->offset()->end());
    m.scaler.factor.assign(s->factor()->begin(), s->factor()->end());
    for (int32_t j = 0; j < m.dim; ++j) {
      if (!std::isfinite(m.scaler.offset[j]) || !std::isfinite(m.scaler.factor[j])) {
        return corrupt("non-finite scaler entry");
      }
    }
    // Prediction folds the scaler into the weights: finite parts can still overflow there.
    std::vector<double> w;
    double b;
    m.EffectiveWeights(&w, &b);
    bool finite = std::isfinite(b);
    for (double v : w) finite = finite && std::isfinite(v);
    if (!finite) return corrupt("the weights overflow when the scaler is folded into them");
  }
  if (const auto* names = f->feature_names()) {
    for (const auto* n : *names) m.feature_names.push_back(n ? n->str() : "");
    if (!m.feature_names.empty() && m.feature_names.size() != static_cast<size_t>(m.dim)) {
      return corrupt("feature_names does not have one name per feature");
    }
  }
  const int missing = static_cast<int>(f->missing_policy());
  if (missing < 0 || missing > 3) return corrupt("unknown missing-value policy");
  m.missing = static_cast<MissingPolicy>(missing);
  if (const auto* fill = f->fill_values()) {
    if (fill->size() != static_cast<uint32_t>(m.dim))
      return corrupt("fill_values does not have one value per feature");
    m.fill_values.assign(fill->begin(), fill->end());
    for (double v : m.fill_values) {
      if (!std::isfinite(v)) return corrupt("non-finite fill value");
    }
  }
  if (m.missing == MissingPolicy::kMean && m.fill_values.empty() && m.dim > 0)
    return corrupt("missing-value policy 'mean' without fill values");
  if (f->label_column()) m.label_column = f->label_column()->str();
  if (const auto* s = f->summary()) {
    TrainingSummary& t = m.summary;
    t.mode = s->mode() ? s->mode()->str() : "";
    t.epochs = s->epochs();
    t.updates = s->updates();
    t.rows = s->rows();
    t.agents = s->agents();
    t.objective = s->objective();
    t.kkt_violation = s->kkt_violation();
    t.seconds = s->seconds();
    t.step_size = s->step_size();
    t.inner_steps = s->inner_steps();
    t.batch_size = s->batch_size();
    t.stop_reason = s->stop_reason() ? s->stop_reason()->str() : "";
    t.created_unix = s->created_unix();
    t.software_version = s->software_version() ? s->software_version()->str() : "";
    t.round = s->round();
    t.relative_gap = s->relative_gap();
    if (s->agent_ids() != nullptr && s->agent_rows() != nullptr) {
      if (s->agent_ids()->size() != s->agent_rows()->size())
        return corrupt("the summary's agent ids and row counts differ in length");
      for (flatbuffers::uoffset_t k = 0; k < s->agent_ids()->size(); ++k) {
        t.agent_rows.emplace_back(s->agent_ids()->Get(k)->str(), s->agent_rows()->Get(k));
      }
    }
  }
  return m;
}

Status WriteModelFile(const std::string& path, const Model& model) {
  return WriteFileAtomically(path, SerializeModel(model));
}

Result<Model> ReadModelFile(const std::string& path) {
  Result<std::string> bytes = ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  return ParseModel(*bytes, path);
}

namespace {

bool IntegerLabel(const std::string& text, long* out) {
  double v;
  if (!internal::ParseDouble(text, &v) || v != std::floor(v) || std::fabs(v) > 1e9) return false;
  *out = static_cast<long>(v);
  return true;
}

std::string Format17(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

std::string ToLiblinearText(const Model& m) {
  std::vector<double> w;
  double b;
  m.EffectiveWeights(&w, &b);
  const bool l1 = m.spec.reg.l1 > 0;
  std::string solver;
  switch (m.spec.loss) {
    case LossKind::kLogistic:
      solver = l1 ? "L1R_LR" : "L2R_LR";
      break;
    case LossKind::kSquaredHinge:
      solver = l1 ? "L1R_L2LOSS_SVC" : "L2R_L2LOSS_SVC";
      break;
    case LossKind::kSquared:
      solver = "L2R_L2LOSS_SVR";
      break;
  }
  std::string out = "solver_type " + solver + "\nnr_class 2\n";
  if (m.task == Task::kClassification && m.labels) {
    long pos = 1, neg = -1;
    if (!IntegerLabel(m.labels->positive, &pos) || !IntegerLabel(m.labels->negative, &neg)) {
      pos = 1;
      neg = -1;
    }
    out += "label " + std::to_string(pos) + " " + std::to_string(neg) + "\n";
  }
  const bool bias = b != 0.0;
  out += "nr_feature " + std::to_string(m.dim) + "\n";
  out += std::string("bias ") + (bias ? "1" : "-1") + "\nw\n";
  for (double v : w) out += Format17(v) + " \n";
  if (bias) out += Format17(b) + " \n";
  return out;
}

Status WriteLiblinearModelFile(const std::string& path, const Model& model) {
  return WriteFileAtomically(path, ToLiblinearText(model));
}

}  // namespace edgetrain
