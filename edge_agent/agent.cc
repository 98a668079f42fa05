#include "agent.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "edgetrain/crc32c.h"

namespace edgetrain::agent {

namespace fb = wire::fb;

// A distributed Newton epoch saves many round-trip-bound inner-loop epochs, so an agent accepts a
// Hessian block up to about 100 passes' worth of scattered multiply-adds over its shard (on
// Fashion-MNIST, 35 000 rows and |S| = 727: 0.9e9 equivalent, 1.3 s measured).
constexpr double kMaxCurvatureWork = 100.0;

EdgeAgent::EdgeAgent(const AgentOptions& options, Dataset data, zmq::context_t* context,
                     const Clock* clock)
    : options_(options),
      data_(std::move(data)),
      clock_(clock),
      channel_(context, options.channel),
      decoder_(static_cast<size_t>(options.channel.max_message_bytes)) {
  // Fingerprint: the shard's content and the options that change what the agent computes.
  uint32_t a = Crc32c(data_.row_ptr().data(), data_.row_ptr().size() * sizeof(int64_t));
  a = Crc32c(data_.index().data(), data_.index().size() * sizeof(int32_t), a);
  a = Crc32c(data_.value().data(), data_.value().size() * sizeof(double), a);
  uint32_t b = Crc32c(data_.y().data(), data_.y().size() * sizeof(double));
  for (const std::string& l : data_.raw_labels()) b = Crc32c(l.data(), l.size(), b);
  const uint8_t sampling = static_cast<uint8_t>(options_.sampling);
  b = Crc32c(&sampling, 1, b);
  fingerprint_ = (static_cast<uint64_t>(a) << 32) | b;
  double sum = 0;
  for (int64_t i = 0; i < data_.rows(); ++i) {
    const RowView row = data_.Row(i);
    double sq = 0;
    for (int32_t k = 0; k < row.nnz; ++k) sq += row.value[k] * row.value[k];
    row_norm_sq_max_ = std::max(row_norm_sq_max_, sq);
    sum += sq;
  }
  row_norm_sq_mean_ = data_.rows() > 0 ? sum / static_cast<double>(data_.rows()) : 0;
}

EdgeAgent::~EdgeAgent() = default;

void EdgeAgent::Log(const std::string& line) const {
  if (!options_.verbose) return;
  std::printf("agent %s: %s\n", options_.agent_id.c_str(), line.c_str());
  std::fflush(stdout);
}

void EdgeAgent::Send(std::string_view bytes) {
  if (channel_.Send(bytes)) last_sent_ = clock_->Now();
}

void EdgeAgent::SendHello() {
  wire::HelloInfo info;
  info.rows = data_.rows();
  info.dimension = data_.dim();
  info.task = data_.task();
  if (data_.task() == Task::kClassification) {
    if (data_.labels()) {
      bool has[2] = {false, false};
      for (double y : data_.y()) has[y > 0] = true;
      if (has[0]) info.labels.push_back(data_.labels()->negative);
      if (has[1]) info.labels.push_back(data_.labels()->positive);
    } else {
      info.labels = data_.raw_labels();
    }
  }
  info.row_norm_sq_max = row_norm_sq_max_;
  info.row_norm_sq_mean = row_norm_sq_mean_;
  info.data_fingerprint = fingerprint_;
  info.incremental_models = true;  // answers carry only what changed (OnModel)
  info.newton = true;  // Newton epochs: answers a Snapshot's newton_support (SendCurvature)
  info.software_version = EDGETRAIN_VERSION " " EDGETRAIN_TARGET_ARCH;
  session_ = 0;
  seq_out_ = 0;
  Send(encoder_.Hello(NextHeader(), info));
}

Status EdgeAgent::OnWelcome(const wire::DecodedMessage& m) {
  const auto* w = m.As<fb::Welcome>();
  const auto* p = w->problem();
  ProblemSpec spec;
  if (p->loss() < 0 || p->loss() > 2)
    return Status::InvalidArgument("the coordinator sent an unknown loss");
  spec.loss = static_cast<LossKind>(p->loss());
  spec.reg.l1 = p->l1();
  spec.reg.l2 = p->l2();
  spec.reg.lower = p->lower();
  spec.reg.upper = p->upper();
  spec.intercept = p->intercept();
  EDGETRAIN_RETURN_IF_ERROR(spec.Validate(data_.task()).WithContext("the coordinator's problem"));
  if (w->dimension() < data_.dim()) {
    return Status::InvalidArgument("the coordinator's model has " + std::to_string(w->dimension()) +
                                   " features, fewer than this shard's " +
                                   std::to_string(data_.dim()));
  }
  data_.set_dim(w->dimension());
  if (data_.task() == Task::kClassification) {
    if (!w->label_negative() || !w->label_positive())
      return Status::InvalidArgument("the coordinator sent no labels");
    EDGETRAIN_RETURN_IF_ERROR(
        data_.ApplyLabelMap({w->label_negative()->str(), w->label_positive()->str()}));
  }
  spec_ = spec;
  const int64_t p_size = spec_.ModelSize(data_.dim());
  decoder_.set_model_size(p_size);
  if (w->model()->dim() != p_size)
    return Status::InvalidArgument("the coordinator's model has the wrong size");
  worker_ = std::make_unique<SvrgWorker>(&data_, spec_, w->seed(), options_.sampling);
  model_.Reset(p_size);
  model_.Assign(wire::ViewOf(w->model()));
  version_ = w->version();
  epoch_ = w->epoch();
  grad_.assign(p_size, 0.0);
  mu_.assign(p_size, 0.0);
  update_.Reset(p_size);
  pos_.assign(p_size, -1);
  curvature_epoch_ = -1;
  heartbeat_ = std::max(0.01, w->heartbeat_ms() / 1000.0);
  session_ = m.session;
  seq_in_ = m.seq;
  state_ = State::kIdle;
  ++summary_.sessions;
  const Smoothness& s = worker_->smoothness();
  char buf[200];
  std::snprintf(
      buf, sizeof buf,
      "welcomed (session %llu): %lld rows, model of %d features; L_max %.4g, L_Q %.4g, %s sampling",
      static_cast<unsigned long long>(session_), static_cast<long long>(data_.rows()), data_.dim(),
      s.l_max, s.l_q, s.importance ? "importance" : "uniform");
  Log(buf);
  return Status::Ok();
}

void EdgeAgent::OnEpochBegin(const wire::DecodedMessage& m) {
  const auto* e = m.As<fb::EpochBegin>();
  if (e->epoch() < epoch_) return;  // a late duplicate
  if (e->epoch() == epoch_ && state_ != State::kIdle) {
    // Repeated by the coordinator: our gradient sum was lost (or is late). Send it again.
    if (state_ == State::kWaitSnapshot) SendGradSum();
    return;
  }
  model_.Assign(wire::ViewOf(e->snapshot()));
  version_ = e->version();
  epoch_ = e->epoch();
  awaiting_reply_ = false;
  SendGradSum();
  ++summary_.epochs;
  state_ = State::kWaitSnapshot;
}

void EdgeAgent::SendGradSum() {
  double loss_sum = 0;
  worker_->ComputeSnapshot(model_.x().data(), grad_.data(), &loss_sum);
  Send(encoder_.GradSum(NextHeader(), epoch_, {grad_.data(), model_.p(), nullptr, 0}, loss_sum,
                        data_.rows(), worker_->smoothness()));
}

void EdgeAgent::OnSnapshot(const wire::DecodedMessage& m) {
  const auto* s = m.As<fb::Snapshot>();
  if (s->epoch() != epoch_ || state_ != State::kWaitSnapshot) return;
  if (s->newton_support() != nullptr && s->newton_support()->size() > 0) {
    SendCurvature(*s);  // stays in kWaitSnapshot: next comes an EpochBegin, or a plain Snapshot
    return;
  }
  const VectorView mu = wire::ViewOf(s->mu());
  if (mu.dense()) {
    std::copy(mu.value, mu.value + mu.count, mu_.begin());
  } else {
    std::fill(mu_.begin(), mu_.end(), 0.0);
    for (int64_t k = 0; k < mu.count; ++k) mu_[mu.index[k]] = mu.value[k];
  }
  worker_->BeginEpoch(mu_.data(), s->eta(), s->batch());
  state_ = State::kInner;
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "epoch %lld: gradient sent; inner loop with eta %.4g, m %lld, batch %d",
                static_cast<long long>(epoch_ - 1), s->eta(),
                static_cast<long long>(s->inner_steps()), s->batch());
  Log(buf);
  Step();
}

void EdgeAgent::SendCurvature(const fb::Snapshot& s) {
  if (curvature_epoch_ == epoch_) {  // a repeated Snapshot: our answer was lost (or is late)
    Send(last_curvature_);
    return;
  }
  const int64_t p = model_.p();
  NewtonSupport support;
  for (uint32_t j : *s.newton_support()) {
    if (static_cast<int64_t>(j) >= p) return;  // the decoder checked the range against p already
    support.index.push_back(static_cast<int32_t>(j));
    support.sign.push_back(0.0);  // the block does not depend on the orthant
  }
  const int64_t m = support.size();
  // Past kMaxCurvatureWork scattered multiply-adds per non-zero of the shard (a Hessian block that
  // would take several seconds), decline: the coordinator runs an inner loop instead.
  const bool declined = SupportHessianWork(data_, spec_, support, &pos_) >
                        kMaxCurvatureWork * static_cast<double>(std::max<int64_t>(data_.nnz(), 1));
  // The block is accumulated straight into the message (on a small device it is the largest thing
  // the agent allocates besides its data: |S|(|S|+1)/2 doubles, 263 kB at the first |S| = 256).
  const std::string_view bytes =
      encoder_.Curvature(NextHeader(), epoch_, m, data_.rows(), declined, [&](double* packed) {
        AccumulateSupportHessian(data_, spec_, model_.x().data(), support, &pos_, packed);
      });
  last_curvature_.assign(bytes.data(), bytes.size());
  curvature_epoch_ = epoch_;
  Send(last_curvature_);
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "epoch %lld: gradient sent; Newton epoch, curvature on %lld coordinates %s",
                static_cast<long long>(epoch_ - 1), static_cast<long long>(m),
                declined ? "declined (too costly)" : "sent");
  Log(buf);
}

void EdgeAgent::OnModel(const wire::DecodedMessage& m) {
  const auto* x = m.As<fb::Model>();
  if (x->epoch() != epoch_ || state_ != State::kInner) return;
  if (x->applied()) ++summary_.updates_applied;
  if (x->since() >= 0) {
    // Incremental: the changes since the version our Update was computed at. It applies to our
    // copy only as the answer to the Update in flight (whose Delta we hold) computed at our copy's
    // version; otherwise (our copy moved on after a duplicate's full answer) keep waiting: the
    // repeated Update is answered with the whole model.
    if (!awaiting_reply_ || x->update_seq() != update_seq_ || x->since() != version_) return;
    if (x->own_exact()) model_.Add(update_);
    model_.Overwrite(wire::ViewOf(x->x()));
  } else {
    model_.Assign(wire::ViewOf(x->x()));
  }
  version_ = x->version();
  // Only the answer to the Update in flight brings a step. An answer to an earlier (repeated)
  // Update still refreshes the model, but stepping on it would put a second Update in flight,
  // and every lost answer would deepen the pipeline (staleness, queues) for good.
  if (!awaiting_reply_ || x->update_seq() != update_seq_) return;
  awaiting_reply_ = false;
  if (!update_resent_) {
    backoff_ = 1;  // a clean round trip: the link is healthy again
    const double rtt = clock_->Now() - update_sent_at_;
    if (srtt_ == 0) {
      srtt_ = rtt;
      rttvar_ = rtt / 2;
    } else {
      rttvar_ = 0.75 * rttvar_ + 0.25 * std::fabs(srtt_ - rtt);
      srtt_ = 0.875 * srtt_ + 0.125 * rtt;
    }
  }
  if (x->inner_done()) {
    state_ = State::kIdle;  // the epoch is complete: wait for the next EpochBegin
    return;
  }
  Step();
}

void EdgeAgent::Step() {
  const double start = options_.throttle > 1 ? clock_->Now() : 0;
  worker_->Step(model_.View(), &update_);
  const wire::Header header = NextHeader();
  update_seq_ = header.seq;
  const std::string_view bytes = encoder_.Update(header, epoch_, version_, update_);
  last_update_.assign(bytes.data(), bytes.size());  // capacity reused: no allocation once warm
  if (options_.throttle > 1) {
    const double spent = clock_->Now() - start;
    std::this_thread::sleep_for(std::chrono::duration<double>(spent * (options_.throttle - 1)));
  }
  Send(last_update_);
  awaiting_reply_ = true;
  update_resent_ = false;
  resend_timeout_ = std::min(ResendAfter() * backoff_, heartbeat_);
  update_sent_at_ = clock_->Now();
  ++summary_.updates_sent;
}

double EdgeAgent::ResendAfter() const {
  if (srtt_ == 0) return heartbeat_;
  return std::clamp(srtt_ + 4 * rttvar_, 0.005, heartbeat_);
}

Status EdgeAgent::Handle(const zmq::message_t& payload) {
  Result<wire::DecodedMessage> m = decoder_.Decode(payload.data(), payload.size());
  if (!m.ok()) {
    ++summary_.messages_refused;
    Log("refused a message from the coordinator: " + m.status().message());
    return Status::Ok();
  }
  if (m->agent_id != options_.agent_id) {
    ++summary_.messages_refused;
    Log("refused a message addressed to '" + std::string(m->agent_id) + "'");
    return Status::Ok();
  }
  last_heard_ = clock_->Now();
  if (m->type == fb::Message::Welcome) {
    if (state_ != State::kHello) return Status::Ok();  // a duplicate answer to a repeated Hello
    return OnWelcome(*m);
  }
  if (m->type == fb::Message::Reject) {
    const auto* r = m->As<fb::Reject>();
    const std::string text = r->text() ? r->text()->str() : "";
    switch (r->reason()) {
      case fb::RejectReason::NotWelcome:
        Log("the coordinator does not know this session (" + text + "): saying Hello again");
        state_ = State::kHello;
        next_hello_ = 0;
        return Status::Ok();
      case fb::RejectReason::ShuttingDown:
        summary_.stop_reason = "stop: " + text;
        state_ = State::kDone;
        return Status::Ok();
      default:
        return Status::InvalidArgument("the coordinator refused this agent: " + text);
    }
  }
  if (state_ == State::kHello || m->session != session_) {
    ++summary_.messages_refused;  // from an earlier session
    return Status::Ok();
  }
  if (m->seq <= seq_in_) {
    ++summary_.messages_refused;
    Log("refused a repeated message (sequence " + std::to_string(m->seq) + ")");
    return Status::Ok();
  }
  seq_in_ = m->seq;
  switch (m->type) {
    case fb::Message::EpochBegin:
      OnEpochBegin(*m);
      break;
    case fb::Message::Snapshot:
      OnSnapshot(*m);
      break;
    case fb::Message::Model:
      OnModel(*m);
      break;
    case fb::Message::Heartbeat:
      break;
    case fb::Message::Stop: {
      const auto* s = m->As<fb::Stop>();
      summary_.stop_reason = "stop: " + (s->reason() ? s->reason()->str() : std::string());
      summary_.final_objective = s->objective();
      state_ = State::kDone;
      // The coordinator waits for this Bye (and repeats Stop to agents that stay quiet).
      Send(encoder_.Bye(NextHeader(), "stopped by the coordinator"));
      channel_.LingerOnClose(1000);
      break;
    }
    default:
      ++summary_.messages_refused;
      Log(std::string("refused an unexpected ") + wire::MessageName(m->type));
  }
  return Status::Ok();
}

Result<AgentSummary> EdgeAgent::Run(const std::atomic<bool>* stop_requested) {
  channel_.Connect(options_.coordinator);
  hello_backoff_ = options_.hello_retry;
  next_hello_ = 0;
  zmq::message_t payload;
  Log("connecting to " + options_.coordinator + " with " + std::to_string(data_.rows()) + " rows");
  while (state_ != State::kDone) {
    if (stop_requested != nullptr && stop_requested->load()) {
      if (session_ != 0 && options_.say_bye) {
        Send(encoder_.Bye(NextHeader(), "stopped by a signal"));
        channel_.LingerOnClose(1000);  // let the Bye out before the socket closes
      }
      summary_.stop_reason = "interrupted";
      break;
    }
    const double now = clock_->Now();
    if (state_ == State::kHello && now >= next_hello_) {
      SendHello();
      next_hello_ = now + hello_backoff_;
      hello_backoff_ = std::min(hello_backoff_ * 2, options_.hello_retry_max);
    }
    if (state_ == State::kInner && awaiting_reply_ && now - update_sent_at_ > resend_timeout_) {
      Send(last_update_);  // unchanged, same sequence number: applied at most once
      update_sent_at_ = now;
      update_resent_ = true;
      // Back off while it stays quiet, and keep the backoff for the next Updates until one is
      // answered without a repeat (RFC 6298 5.5-5.7): an overloaded coordinator must not be
      // flooded with copies of every update.
      resend_timeout_ = std::min(2 * resend_timeout_, heartbeat_);
      backoff_ = std::min(2 * backoff_, 1024.0);
      ++summary_.updates_resent;
    }
    if (state_ != State::kHello) {
      if (now - last_heard_ > heartbeat_ * options_.heartbeat_patience) {
        Log("the coordinator is silent: reconnecting");
        channel_.Reconnect();
        state_ = State::kHello;
        hello_backoff_ = options_.hello_retry;
        next_hello_ = 0;
        continue;
      }
      if (now - last_sent_ >= heartbeat_) Send(encoder_.Heartbeat(NextHeader(), epoch_, version_));
    }
    if (std::string why = channel_.TakeHandshakeError();
        !why.empty() && why != last_handshake_error_) {
      Log(why);  // ZeroMQ retries silently; the operator needs to see this once
      last_handshake_error_ = why;
    }
    double wait = state_ == State::kHello ? next_hello_ - now : heartbeat_ / 2;
    if (state_ == State::kInner && awaiting_reply_)
      wait = std::min(wait, update_sent_at_ + resend_timeout_ - now);
    const int timeout_ms = static_cast<int>(std::clamp(wait * 1000.0, 0.0, 100.0));
    if (channel_.Receive(timeout_ms, &payload)) {
      const State before = state_;
      if (Status st = Handle(payload); !st.ok()) return st;
      if (before == State::kHello && state_ == State::kIdle) hello_backoff_ = options_.hello_retry;
    }
  }
  if (!summary_.stop_reason.empty()) Log("finished: " + summary_.stop_reason);
  return summary_;
}

}  // namespace edgetrain::agent
