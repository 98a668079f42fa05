#include "agent_session.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

#include "edgetrain/crc32c.h"
#include "edgetrain/support_newton.h"
#include "edgetrain/text.h"

namespace edgetrain::agent {

// A distributed Newton epoch saves many inner-loop epochs, so an agent accepts a Hessian block up
// to about 100 passes' worth of scattered multiply-adds over its shard (on Fashion-MNIST, 35 000
// rows and |S| = 727: 0.9e9 equivalent, 1.3 s measured).
constexpr double kMaxCurvatureWork = 100.0;

// How often in its share of an epoch an agent's lazy steps bring every coordinate up to date (a
// dense Update, as every eager step would be while the model is dense).
constexpr int64_t kLazyFlushesPerShare = 128;

Pipeline Pipeline::Choose(double step_seconds, double rtt, int64_t max_steps) {
  Pipeline p;
  // At least kMinUpdateSeconds of compute and a quarter of the round trip per Update, and enough
  // in flight to cover 1.5 round trips: with more Updates up to kDepthForLatency, then with
  // larger ones (fewer versions for the others to be stale by).
  const double per_update = std::max({kMinUpdateSeconds, rtt / 4, 1.5 * rtt / kDepthForLatency});
  p.steps = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(per_update / step_seconds)), 1,
                                std::max<int64_t>(max_steps, 1));
  const double update_seconds = static_cast<double>(p.steps) * step_seconds;
  p.depth = rtt > 0 ? std::clamp(static_cast<int>(std::ceil(1.5 * rtt / update_seconds)) + 1, 2,
                                 kMaxDepth)
                    : 2;
  return p;
}

AgentSession::AgentSession(const SessionOptions& options, Dataset* data, const Clock* clock,
                           AgentLink* link)
    : options_(options), data_(data), clock_(clock), link_(link) {
  Measure();
}

AgentSession::~AgentSession() = default;

std::vector<std::string> AgentSession::TakeLog() {
  std::vector<std::string> out;
  out.swap(log_);
  return out;
}

void AgentSession::Send(std::string_view bytes) {
  if (link_->Send(bytes)) last_sent_ = clock_->Now();
}

std::vector<std::string> AgentSession::HelloLabels() const {
  std::vector<std::string> labels;
  if (data_->task() == Task::kClassification) {
    if (data_->labels()) {
      bool has[2] = {false, false};
      for (double y : data_->y()) has[y > 0] = true;
      if (has[0]) labels.push_back(data_->labels()->negative);
      if (has[1]) labels.push_back(data_->labels()->positive);
    } else {
      labels = data_->raw_labels();
    }
  }
  return labels;
}

Status AgentSession::CheckHelloStrings() const {
  // The coordinator's decoder refuses a Hello whose strings break these rules, and would never
  // answer it: say so here, once.
  const std::string& id = options_.agent_id;
  if (id.empty() || id.size() > wire::kMaxAgentIdBytes || !IsValidUtf8(id)) {
    return Status::InvalidArgument("--agent-id '" + Printable(id, 160) +
                                   "': 1 to 128 bytes of UTF-8, please");
  }
  for (const std::string& label : HelloLabels()) {
    if (label.size() > wire::kMaxLabelBytes || !IsValidUtf8(label)) {
      return Status::InvalidArgument("the class label '" + Printable(label, 80) +
                                     "' is not up to 256 bytes of UTF-8, which the wire protocol "
                                     "needs (recode the data file as UTF-8)");
    }
  }
  return Status::Ok();
}

void AgentSession::SayHello() {
  const std::vector<std::string> labels = HelloLabels();
  std::array<std::string_view, 2> label_views;
  const size_t label_count = std::min<size_t>(labels.size(), 2);
  for (size_t k = 0; k < label_count; ++k) label_views[k] = labels[k];
  wire::HelloMsg hello;
  hello.rows = data_->rows();
  hello.dimension = data_->dim();
  hello.task = data_->task();
  hello.labels = std::span<const std::string_view>(label_views.data(), label_count);
  hello.row_norm_sq_max = row_norm_sq_max_;
  hello.row_norm_sq_mean = row_norm_sq_mean_;
  hello.data_fingerprint = fingerprint_;
  hello.software_version = options_.software_version;
  hello.incremental_models = true;  // answers carry changes to add (PipelineReplica)
  hello.newton = true;              // Newton epochs: answers a CurvatureRequest (SendCurvature)
  hello.column_stats = wire::ColumnStatsView::Of(column_stats_);
  hello.scale = options_.scale_request;
  state_ = State::kHello;
  session_ = 0;
  seq_out_ = 0;
  wire::Header h = NextHeader();
  h.protocol = options_.protocol_version;
  Send(encoder_.Encode(h, hello));
}

void AgentSession::SayBye(std::string_view why) {
  if (session_ == 0) return;
  Send(encoder_.Encode(NextHeader(), wire::ByeMsg{why}));
}

Status AgentSession::ApplyTransform(const wire::WelcomeMsg& w) {
  if (options_.scale_request >= 0 && static_cast<int8_t>(w.scaler.kind) != options_.scale_request) {
    return Status::InvalidArgument(std::string("this agent was asked to --scale ") +
                                   ScalerName(static_cast<ScalerKind>(options_.scale_request)) +
                                   " but the run scales with " + ScalerName(w.scaler.kind) +
                                   " (the coordinator's --scale decides)");
  }
  Result<ColumnScales> scales = ColumnScales::FromValues(
      std::vector<double>(w.column_scales.begin(), w.column_scales.end()),
      std::vector<double>(w.column_offsets.begin(), w.column_offsets.end()));
  if (!scales.ok()) return scales.status().WithContext("the coordinator's Welcome");
  // What the Welcome asks for, flattened: compared with what the shard holds already.
  std::vector<double> transform;
  if (w.scaler.kind != ScalerKind::kNone || !scales->empty()) {
    transform.push_back(static_cast<double>(w.scaler.kind));
    transform.push_back(static_cast<double>(w.scaler.offset.size()));
    transform.insert(transform.end(), w.scaler.offset.begin(), w.scaler.offset.end());
    transform.insert(transform.end(), w.scaler.factor.begin(), w.scaler.factor.end());
    transform.push_back(static_cast<double>(w.column_scales.size()));
    transform.insert(transform.end(), w.column_scales.begin(), w.column_scales.end());
    transform.insert(transform.end(), w.column_offsets.begin(), w.column_offsets.end());
  }
  spec_.scales = *scales;
  if (transform == applied_) return Status::Ok();
  if (raw_ == nullptr && w.scaler.kind == ScalerKind::kNone && !spec_.scales.centred()) {
    if (!values_scaled_) data_->mutable_value().swap(raw_values_);
    values_scaled_ = true;
    std::vector<double>& value = data_->mutable_value();
    if (value.capacity() < raw_values_.size()) {  // room for the rows a few rounds will append
      value.reserve(raw_values_.size() + raw_values_.size() / 4);
    }
    ScaleColumnValues(raw_values_, spec_.scales, data_);
    applied_ = transform;
    return Status::Ok();
  }
  RestoreValues();
  applied_ = transform;
  if (raw_ != nullptr) {
    // Back to the shard as read, with this run's labels and width.
    std::optional<LabelMap> labels = data_->labels();
    *data_ = *raw_;
    if (labels) EDGETRAIN_RETURN_IF_ERROR(data_->ApplyLabelMap(*labels));
    data_->set_dim(std::max(data_->dim(), w.dimension));
  } else {
    raw_ = std::make_unique<Dataset>(*data_);
  }
  if (w.scaler.kind != ScalerKind::kNone) {
    Dataset scaled = w.scaler.ToScaler().Apply(*data_);
    scaled.set_raw_labels(data_->raw_labels());
    *data_ = std::move(scaled);
  }
  ApplyColumnScales(data_, spec_.scales);
  return Status::Ok();
}

Status AgentSession::CheckWelcome(const wire::WelcomeMsg& w) {
  // The decoder checked the problem, the labels' text and that the model has the problem's size
  // for w.dimension; what remains is whether this shard fits the run.
  EDGETRAIN_RETURN_IF_ERROR(
      w.problem.Validate(data_->task()).WithContext("the coordinator's problem"));
  if (w.dimension > options_.max_dimension) {
    return Status::InvalidArgument(
        "the coordinator's model has " + std::to_string(w.dimension) +
        " features, more than this agent's --max-dim " + std::to_string(options_.max_dimension) +
        " (start the coordinator with --dim, or raise --max-dim if the model is meant to be so "
        "wide)");
  }
  if (w.dimension < data_->dim()) {
    return Status::InvalidArgument(
        "the coordinator's model has " + std::to_string(w.dimension) +
        " features, fewer than this shard's " + std::to_string(data_->dim()) +
        " (start the coordinator with --dim " + std::to_string(data_->dim()) + ")");
  }
  if (data_->task() == Task::kClassification) {
    if (w.label_negative.empty() || w.label_positive.empty())
      return Status::InvalidArgument("the coordinator sent no labels for a classification run");
    EDGETRAIN_RETURN_IF_ERROR(
        data_->ApplyLabelMap({std::string(w.label_negative), std::string(w.label_positive)}));
  }
  return Status::Ok();
}

Status AgentSession::OnWelcome(const wire::Header& h, const wire::WelcomeMsg& w) {
  Status st = CheckWelcome(w);
  if (st.ok()) {
    data_->set_dim(w.dimension);
    spec_ = w.problem;
    st = ApplyTransform(w);
  }
  if (!st.ok()) {
    // Say so in the session offered, so that the coordinator drops this agent at once.
    Send(encoder_.Encode(wire::Header{options_.agent_id, h.session, 1},
                         wire::ByeMsg{"leaving: " + Printable(st.message(), 256)}));
    return st;
  }
  const int64_t p = spec_.ModelSize(data_->dim());
  decoder_.set_model_size(p);
  // The power iteration starts from the last session's top vector (a round ago: the same rows).
  worker_ = std::make_unique<SvrgWorker>(data_, spec_, w.seed, options_.sampling, &top_vector_);
  worker_->set_lazy(true);  // steps visit only their rows' non-zeros (with l1, no l2 or box)
  replica_.Reset(p);
  replica_.Assign(w.model, w.version);
  epoch_ = w.epoch;
  grad_.assign(static_cast<size_t>(p), 0.0);
  mu_.assign(static_cast<size_t>(p), 0.0);
  step_.Reset(p);
  outgoing_.Reset(p);
  pos_.assign(static_cast<size_t>(p), -1);
  curvature_epoch_ = -1;
  heartbeat_ = std::max(0.001, w.heartbeat_ms / 1000.0);
  session_ = h.session;
  seq_in_ = h.seq;
  state_ = State::kIdle;
  ++summary_.sessions;
  const Smoothness& s = worker_->smoothness();
  char buf[200];
  std::snprintf(
      buf, sizeof buf,
      "welcomed (session %llu): %lld rows, model of %d features; L_max %.4g, L_Q %.4g, %s sampling",
      static_cast<unsigned long long>(session_), static_cast<long long>(data_->rows()),
      data_->dim(), s.l_max, s.l_q, s.importance ? "importance" : "uniform");
  std::string line = buf;
  if (w.scaler.kind != ScalerKind::kNone)
    line += std::string("; scaler ") + ScalerName(w.scaler.kind);
  if (!spec_.scales.empty()) {
    line += "; preconditioned: " + std::to_string(spec_.scales.scaled_columns()) +
            " columns scaled, " + std::to_string(spec_.scales.centred_columns()) + " centred";
  }
  Log(line);
  return Status::Ok();
}

Status AgentSession::OnReject(const wire::RejectMsg& r) {
  const std::string text = Printable(r.text);
  switch (r.reason) {
    case wire::RejectReason::kNotWelcome:
      Log("the coordinator does not know this session (" + text + "): saying Hello again");
      state_ = State::kHello;
      session_ = 0;
      return Status::Ok();
    case wire::RejectReason::kShuttingDown:
      summary_.stop_reason = "stop: " + text;
      state_ = State::kDone;
      return Status::Ok();
    case wire::RejectReason::kProtocolMismatch:
      return Status::InvalidArgument(
          "the coordinator speaks another protocol version than this agent (protocol version " +
          std::to_string(options_.protocol_version) + ", " + options_.software_version +
          "): " + text);
    default:
      return Status::InvalidArgument(std::string("the coordinator refused this agent (") +
                                     wire::RejectReasonName(r.reason) + "): " + text);
  }
}

void AgentSession::OnEpochBegin(const wire::EpochBeginMsg& e) {
  if (e.epoch < epoch_) return;  // a late duplicate
  if (e.epoch == epoch_ && state_ != State::kIdle) {
    // Repeated by the coordinator: our gradient sum was lost (or is late). Send it again.
    if (state_ == State::kWaitPlan) SendGradSum();
    return;
  }
  replica_.Assign(e.snapshot, e.version);
  epoch_ = e.epoch;
  SendGradSum();
  ++summary_.epochs;
  state_ = State::kWaitPlan;
}

void AgentSession::SendGradSum() {
  wire::GradSumMsg g;
  g.epoch = epoch_;
  worker_->ComputeSnapshot(replica_.x().data(), grad_.data(), &g.loss_sum, &dual_);
  const int64_t p = replica_.p();
  g.smoothness = worker_->smoothness();
  g.smoothness.rows = data_->rows();
  bool finite = std::isfinite(g.loss_sum);
  for (int64_t j = 0; j < p && finite; ++j) finite = std::isfinite(grad_[j]);
  if (finite) {
    // With the duality certificate's sums (duality.h), so the coordinator can certify the gap.
    g.grad = VectorView::Dense(grad_.data(), p);
    g.certified = true;
    g.dual = dual_.scalars;
    if (!dual_.aux.empty()) g.aux = VectorView::Dense(dual_.aux.data(), p);
  } else {
    // x~ is too far out for this shard (a margin overflowed): say so, and the coordinator's
    // safeguard rolls back, rather than sending numbers the decoder must refuse.
    g.loss_sum = 0;
    g.grad = VectorView{nullptr, nullptr, 0, p};
    g.diverged = true;
  }
  Send(encoder_.Encode(NextHeader(), g));
}

Status AgentSession::OnInnerLoop(const wire::InnerLoopMsg& l) {
  if (l.epoch != epoch_ || state_ != State::kWaitPlan) return Status::Ok();
  // The plan must be one this agent can carry out: a step costs `batch` rows (up to one pass over
  // the shard); the coordinator counts the steps of all agents towards inner_steps.
  if (l.batch > data_->rows()) {
    return Status::InvalidArgument("the coordinator's mini-batch of " + std::to_string(l.batch) +
                                   " rows is larger than this shard's " +
                                   std::to_string(data_->rows()) +
                                   " rows (lower --batch on the coordinator)");
  }
  const VectorView& mu = l.mu;
  if (mu.dense()) {
    std::copy(mu.value, mu.value + mu.count, mu_.begin());
  } else {
    std::fill(mu_.begin(), mu_.end(), 0.0);
    for (int64_t k = 0; k < mu.count; ++k) mu_[mu.index[k]] = mu.value[k];
  }
  inner_steps_ = l.inner_steps;
  participants_ = l.participants;
  // Lazy steps bring every coordinate up to date kLazyFlushesPerShare times in this agent's share
  // of the epoch's steps: the others see its drift (the -eta mu~ on coordinates no row of it
  // touched) at most that late, and steps taken after the epoch's end lose no more than that. But
  // a flush (the drift set and the support) costs no more than the steps between two flushes, in
  // time and bytes: while the drift set is wide (the first epochs) flushes are rarer.
  const int64_t share_flush =
      l.inner_steps / (kLazyFlushesPerShare * std::max<int64_t>(1, participants_));
  worker_->BeginEpoch(mu_.data(), l.eta, l.batch, SvrgWorker::kUnknownSteps,
                      std::max<int64_t>(1, share_flush));
  const double row_nnz = std::max(
      1.0, l.batch * static_cast<double>(data_->nnz()) / static_cast<double>(data_->rows()));
  const double flush_entries =
      static_cast<double>(worker_->drift_size() + replica_.View().support_size);
  worker_->set_flush_every(
      std::max<int64_t>({1, share_flush, std::llround(flush_entries / row_nnz)}));
  state_ = State::kInner;
  char buf[160];
  std::snprintf(
      buf, sizeof buf, "epoch %lld: gradient sent; inner loop with eta %.4g, m %lld, batch %d",
      static_cast<long long>(epoch_ - 1), l.eta, static_cast<long long>(l.inner_steps), l.batch);
  Log(buf);
  return Status::Ok();
}

void AgentSession::SendCurvature(const wire::CurvatureRequestMsg& c) {
  if (c.epoch != epoch_ || state_ != State::kWaitPlan) return;
  if (curvature_epoch_ == epoch_) {  // a repeated request: our answer was lost (or is late)
    Send(last_curvature_);
    return;
  }
  NewtonSupport support;  // the decoder checked: increasing coordinates < p
  support.index.assign(c.support.begin(), c.support.end());
  support.sign.assign(c.support.size(), 0.0);  // the block does not depend on the orthant
  const int64_t m = support.size();
  // Past kMaxCurvatureWork scattered multiply-adds per non-zero of the shard (a Hessian block that
  // would take several seconds), decline: the coordinator runs an inner loop instead.
  wire::CurvatureMsg answer;
  answer.epoch = epoch_;
  answer.support_size = m;
  answer.rows = data_->rows();
  answer.declined = SupportHessianWork(*data_, spec_, support, &pos_) >
                    kMaxCurvatureWork * static_cast<double>(std::max<int64_t>(data_->nnz(), 1));
  // The block is accumulated straight into the message (on a small device it is the largest thing
  // the agent allocates besides its data: |S|(|S|+1)/2 doubles, 263 kB at the first |S| = 256).
  const std::string_view bytes = encoder_.Encode(NextHeader(), answer, [&](double* packed) {
    AccumulateSupportHessian(*data_, spec_, replica_.x().data(), support, &pos_, packed);
  });
  last_curvature_.assign(bytes.data(), bytes.size());
  curvature_epoch_ = epoch_;
  Send(last_curvature_);
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "epoch %lld: gradient sent; Newton epoch, curvature on %lld coordinates %s",
                static_cast<long long>(epoch_ - 1), static_cast<long long>(m),
                answer.declined ? "declined (too costly)" : "sent");
  Log(buf);
}

void AgentSession::MeasureRoundTrip(double rtt) {
  if (srtt_ == 0) {
    srtt_ = rtt;
    rttvar_ = rtt / 2;
  } else {
    rttvar_ = 0.75 * rttvar_ + 0.25 * std::fabs(srtt_ - rtt);
    srtt_ = 0.875 * srtt_ + 0.125 * rtt;
  }
  summary_.srtt = srtt_;
}

double AgentSession::RetransmitTimeout() const {
  const double base = srtt_ == 0 ? heartbeat_ : std::clamp(srtt_ + 4 * rttvar_, 0.005, heartbeat_);
  return std::min(base * backoff_, 4 * heartbeat_);
}

void AgentSession::OnModel(const wire::ModelMsg& m) {
  if (m.epoch != epoch_ || (state_ != State::kInner && state_ != State::kIdle)) return;
  const PipelineReplica::Adoption adoption = replica_.Adopt(m);
  summary_.updates_applied = std::max(summary_.updates_applied, m.applied_count);
  if (adoption == PipelineReplica::Adoption::kIgnored) {
    ++summary_.answers_ignored;
    return;
  }
  if (adoption == PipelineReplica::Adoption::kBuffered) ++summary_.answers_out_of_order;
  if (adoption == PipelineReplica::Adoption::kWhole) ++summary_.whole_answers;
  if (replica_.acked_seq() != 0) {
    // Karn: a repeated Update's answer says nothing about the round trip.
    if (!replica_.acked().resent) {
      MeasureRoundTrip(clock_->Now() - replica_.acked().sent_at);
      backoff_ = 1;  // a clean round trip: the link is healthy again
    }
  }
  if (m.inner_done && state_ == State::kInner) {
    state_ = State::kIdle;             // the epoch's steps are all in: wait for the next EpochBegin
    replica_.TakePending(&outgoing_);  // steps taken after the end are not sent
  }
}

void AgentSession::OnStop(const wire::StopMsg& s) {
  summary_.stop_reason = "stop: " + Printable(s.reason);
  summary_.final_objective = s.objective;
  summary_.updates_applied = std::max(summary_.updates_applied, s.applied_count);
  state_ = State::kDone;
  // The coordinator waits for this Bye (and repeats Stop to agents that stay quiet).
  Send(encoder_.Encode(NextHeader(), wire::ByeMsg{"stopped by the coordinator"}));
}

Status AgentSession::Receive(const void* data, size_t size) {
  Result<wire::Message> m = decoder_.Decode(data, size);
  if (!m.ok()) {
    ++summary_.messages_refused;
    Log("refused a message from the coordinator: " + Printable(m.status().message()));
    return Status::Ok();
  }
  const wire::Header& h = m->header;
  const wire::Body& body = m->body;
  if (h.agent_id != options_.agent_id) {
    ++summary_.messages_refused;
    Log("refused a message addressed to '" + Printable(h.agent_id) + "'");
    return Status::Ok();
  }
  last_heard_ = clock_->Now();
  if (state_ == State::kDone) return Status::Ok();  // stopped: a repeated Stop, a late Reject
  if (const auto* r = std::get_if<wire::RejectMsg>(&body)) return OnReject(*r);
  if (std::holds_alternative<wire::OtherProtocolMsg>(body)) {
    ++summary_.messages_refused;  // a coordinator of another version answers with a Reject
    Log("refused a message of protocol version " + std::to_string(h.protocol) +
        " (this agent speaks " + std::to_string(wire::kProtocolVersion) + ")");
    return Status::Ok();
  }
  if (const auto* w = std::get_if<wire::WelcomeMsg>(&body)) {
    // A Welcome of a newer session answers a repeated Hello that crossed the first Welcome: the
    // coordinator replaced the session this agent holds, so the newer one is the live one.
    if (state_ != State::kHello && h.session <= session_) return Status::Ok();  // a duplicate
    return OnWelcome(h, *w);
  }
  if (const auto* r = std::get_if<wire::RoundEndMsg>(&body);
      r != nullptr && (state_ == State::kHello || (h.session == session_ && h.seq > seq_in_))) {
    OnRoundEnd(h, *r);
    return Status::Ok();
  }
  if (state_ == State::kHello || h.session != session_ || h.seq <= seq_in_) {
    ++summary_.messages_refused;  // from an earlier session, or a repeat
    return Status::Ok();
  }
  seq_in_ = h.seq;
  if (const auto* e = std::get_if<wire::EpochBeginMsg>(&body)) {
    OnEpochBegin(*e);
  } else if (const auto* l = std::get_if<wire::InnerLoopMsg>(&body)) {
    return OnInnerLoop(*l);
  } else if (const auto* c = std::get_if<wire::CurvatureRequestMsg>(&body)) {
    SendCurvature(*c);
  } else if (const auto* x = std::get_if<wire::ModelMsg>(&body)) {
    OnModel(*x);
  } else if (const auto* s = std::get_if<wire::StopMsg>(&body)) {
    OnStop(*s);
  } else if (const auto* b = std::get_if<wire::RoundBeginMsg>(&body)) {
    if (state_ != State::kRefresh) Log("round " + std::to_string(b->round) + " begins");
    round_ = b->round;
    state_ = State::kRefresh;  // the owner re-reads the data and calls Rehello
  } else if (!std::holds_alternative<wire::HeartbeatMsg>(body)) {
    ++summary_.messages_refused;
    Log(std::string("refused an unexpected ") + wire::MessageName(body));
  }
  return Status::Ok();
}

bool AgentSession::has_work() const {
  if (state_ != State::kInner) return false;
  // Blocked when the pipeline is full and the next Update has filled up as well.
  return replica_.in_flight() < pipeline_.depth || replica_.pending_steps() < pipeline_.steps;
  // (pipeline_.depth <= Pipeline::kMaxDepth == PipelineReplica::kMaxInFlight)
}

uint32_t AgentSession::RttMicros() const {
  return static_cast<uint32_t>(std::clamp(srtt_ * 1e6, 0.0, 4e9));
}

void AgentSession::Flush() {
  const int64_t steps = replica_.TakePending(&outgoing_);
  const wire::Header header = NextHeader();
  const std::string_view bytes =
      encoder_.Encode(header, wire::UpdateMsg{epoch_, replica_.version(), outgoing_.delta.View(),
                                              outgoing_.guarded.View(), steps, RttMicros()});
  const double now = clock_->Now();
  replica_.InFlight(header.seq, steps, outgoing_, bytes, now);
  Send(bytes);
  ++summary_.updates_sent;
}

bool AgentSession::Work(double seconds) {
  if (!has_work()) return false;
  const double start = clock_->Now();
  int64_t taken = 0;
  double now = start;
  // Check the clock every few steps: a step costs microseconds, a clock read tens of nanoseconds.
  constexpr int kStepsPerClockRead = 16;
  while (has_work()) {
    for (int k = 0; k < kStepsPerClockRead && has_work(); ++k) {
      worker_->Step(replica_.View(), &step_);
      replica_.ApplyStep(step_);
      ++taken;
      if (replica_.pending_steps() >= pipeline_.steps && replica_.in_flight() < pipeline_.depth) {
        Flush();
      }
    }
    now = clock_->Now();
    if (now - start >= seconds) break;
  }
  summary_.steps += taken;
  if (taken > 0 && now > start) {
    const double per_step = (now - start) / static_cast<double>(taken);
    step_seconds_ = step_seconds_ == 0 ? per_step : 0.8 * step_seconds_ + 0.2 * per_step;
  }
  // The pipeline follows the measured costs (the fixed options win when given).
  // What this agent keeps in flight stays within a quarter of its share of the epoch: steps
  // still in flight when the epoch ends are wasted.
  const int64_t budget = std::max<int64_t>(1, inner_steps_ / (4 * participants_));
  pipeline_ = Pipeline::Choose(std::max(step_seconds_, 1e-9), srtt_, budget);
  pipeline_.depth =
      static_cast<int>(std::clamp<int64_t>(budget / pipeline_.steps, 1, pipeline_.depth));
  if (options_.steps_per_update > 0) pipeline_.steps = options_.steps_per_update;
  if (options_.max_in_flight > 0) pipeline_.depth = options_.max_in_flight;
  summary_.steps_per_update = pipeline_.steps;
  summary_.depth = pipeline_.depth;
  return has_work();
}

void AgentSession::Tick() {
  const double now = clock_->Now();
  if (state_ == State::kInner) {  // after the epoch's end its Updates are refused anyway
    PipelineReplica::Flight* oldest = replica_.oldest();
    if (oldest != nullptr && now - oldest->sent_at > RetransmitTimeout()) {
      // Unchanged, same sequence number: applied at most once; the repeat brings the whole model.
      Send(oldest->bytes);
      oldest->sent_at = now;
      oldest->resent = true;
      // Back off while it stays quiet (RFC 6298 5.5-5.7): an overloaded coordinator must not be
      // flooded with copies.
      backoff_ = std::min(2 * backoff_, 64.0);
      ++summary_.updates_resent;
    }
  }
  if (session_ != 0 && now - last_sent_ >= heartbeat_) SendHeartbeat();
}

double AgentSession::NextDeadline() const {
  double next = session_ != 0 ? last_sent_ + heartbeat_ : clock_->Now() + 0.1;
  const PipelineReplica::Flight* oldest = replica_.oldest();
  if (state_ == State::kInner && oldest != nullptr)
    next = std::min(next, oldest->sent_at + RetransmitTimeout());
  return next;
}

}  // namespace edgetrain::agent
