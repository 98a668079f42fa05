// AgentSession's data measures and its part in training rounds (agent_session.h): what the
// Hello says about the rows, the session between rounds, the published models it hands over.
#include <algorithm>
#include <optional>

#include "agent_session.h"
#include "edgetrain/crc32c.h"
#include "edgetrain/text.h"

namespace edgetrain::agent {

void AgentSession::Measure() {
  row_norm_sq_max_ = 0;
  // Fingerprint: the shard's content and the options that change what the agent computes.
  uint32_t a = Crc32c(data_->row_ptr().data(), data_->row_ptr().size() * sizeof(int64_t));
  a = Crc32c(data_->index().data(), data_->index().size() * sizeof(int32_t), a);
  a = Crc32c(data_->value().data(), data_->value().size() * sizeof(double), a);
  uint32_t b = Crc32c(data_->y().data(), data_->y().size() * sizeof(double));
  for (const std::string& l : data_->raw_labels()) b = Crc32c(l.data(), l.size(), b);
  const uint8_t sampling = static_cast<uint8_t>(options_.sampling);
  b = Crc32c(&sampling, 1, b);
  fingerprint_ = (static_cast<uint64_t>(a) << 32) | b;
  double sum = 0;
  for (int64_t i = 0; i < data_->rows(); ++i) {
    const RowView row = data_->Row(i);
    double sq = 0;
    for (int32_t k = 0; k < row.nnz; ++k) sq += row.value[k] * row.value[k];
    row_norm_sq_max_ = std::max(row_norm_sq_max_, sq);
    sum += sq;
  }
  row_norm_sq_mean_ = sum / static_cast<double>(std::max<int64_t>(data_->rows(), 1));
  column_stats_ = ColumnStats::Compute(*data_);
}

void AgentSession::RestoreRaw() {
  // The owner is about to re-read the rows: they must be the rows as read (a Welcome may have
  // scaled them in place), so that new rows join rows in the same units; the next Welcome scales
  // them all again.
  RestoreValues();
  if (raw_ == nullptr) return;
  std::optional<LabelMap> labels = data_->labels();
  const int32_t dim = data_->dim();
  *data_ = std::move(*raw_);
  raw_.reset();
  applied_.clear();
  // The same map was applied to these very rows before: it cannot fail now.
  if (labels && !data_->ApplyLabelMap(*labels).ok()) labels.reset();
  data_->set_dim(std::max(data_->dim(), dim));
}

void AgentSession::RestoreValues() {
  if (!values_scaled_) return;
  data_->mutable_value().swap(raw_values_);  // the scaled buffer stays, for the next Welcome
  values_scaled_ = false;
  applied_.clear();
}

void AgentSession::Rehello() {
  Measure();
  rows_available_ = data_->rows();
  SayHello();
}

std::optional<ReceivedModel> AgentSession::TakeModel() {
  std::optional<ReceivedModel> out;
  out.swap(received_);
  return out;
}

void AgentSession::ModelSaved(int64_t round) {
  model_round_ = std::max(model_round_, round);
  if (session_ != 0) SendHeartbeat();
}

void AgentSession::SendHeartbeat() {
  wire::HeartbeatMsg hb{epoch_, replica_.version(), RttMicros(), rows_available_, model_round_};
  Send(encoder_.Encode(NextHeader(), hb));
}

void AgentSession::OnRoundEnd(const wire::Header& h, const wire::RoundEndMsg& m) {
  if (state_ == State::kHello) {  // admitted between rounds: a session without a Welcome
    session_ = h.session;
    ++summary_.sessions;
  }
  seq_in_ = h.seq;
  heartbeat_ = std::max(0.001, m.heartbeat_ms / 1000.0);
  state_ = State::kBetween;
  round_ = std::max(round_, m.round);
  ++summary_.rounds;
  if (worker_) replica_.TakePending(&outgoing_);  // steps of the ended round are not sent
  if (m.model_round > 0 && m.model_round != model_round_) {
    received_ = ReceivedModel{m.model_round, std::string(m.model)};
  }
  Log("between rounds: " + Printable(m.text));
}

}  // namespace edgetrain::agent
