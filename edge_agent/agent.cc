#include "agent.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "edgetrain/crc32c.h"
#include "edgetrain/text.h"

namespace edgetrain::agent {

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

std::vector<std::string> EdgeAgent::HelloLabels() const {
  std::vector<std::string> labels;
  if (data_.task() == Task::kClassification) {
    if (data_.labels()) {
      bool has[2] = {false, false};
      for (double y : data_.y()) has[y > 0] = true;
      if (has[0]) labels.push_back(data_.labels()->negative);
      if (has[1]) labels.push_back(data_.labels()->positive);
    } else {
      labels = data_.raw_labels();
    }
  }
  return labels;
}

Status EdgeAgent::CheckHelloStrings() const {
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

void EdgeAgent::SendHello() {
  if (reconnect_before_hello_) {  // libzmq stopped trying after an authentication error
    channel_.Reconnect();
    reconnect_before_hello_ = false;
  }
  const std::vector<std::string> labels = HelloLabels();
  std::array<std::string_view, 2> label_views;
  const size_t label_count = std::min<size_t>(labels.size(), 2);
  for (size_t k = 0; k < label_count; ++k) label_views[k] = labels[k];
  const std::string version = EDGETRAIN_VERSION " " EDGETRAIN_TARGET_ARCH;
  wire::HelloMsg hello;
  hello.rows = data_.rows();
  hello.dimension = data_.dim();
  hello.task = data_.task();
  hello.labels = std::span<const std::string_view>(label_views.data(), label_count);
  hello.row_norm_sq_max = row_norm_sq_max_;
  hello.row_norm_sq_mean = row_norm_sq_mean_;
  hello.data_fingerprint = fingerprint_;
  hello.software_version = version;
  hello.incremental_models = true;  // answers carry only what changed (AdoptAnswer)
  hello.newton = true;              // Newton epochs: answers a CurvatureRequest (SendCurvature)
  session_ = 0;
  seq_out_ = 0;
  wire::Header h = NextHeader();
  h.protocol = options_.protocol_version;
  Send(encoder_.Encode(h, hello));
}

Status EdgeAgent::OnWelcome(const wire::Header& h, const wire::WelcomeMsg& w) {
  // The decoder checked the problem, the labels' text and that the model has the problem's size
  // for w.dimension; what remains is whether this shard fits the run.
  EDGETRAIN_RETURN_IF_ERROR(
      w.problem.Validate(data_.task()).WithContext("the coordinator's problem"));
  if (w.dimension < data_.dim()) {
    return Status::InvalidArgument(
        "the coordinator's model has " + std::to_string(w.dimension) +
        " features, fewer than this shard's " + std::to_string(data_.dim()) +
        " (start the coordinator with --dim " + std::to_string(data_.dim()) + ")");
  }
  if (data_.task() == Task::kClassification) {
    if (w.label_negative.empty() || w.label_positive.empty())
      return Status::InvalidArgument("the coordinator sent no labels for a classification run");
    EDGETRAIN_RETURN_IF_ERROR(
        data_.ApplyLabelMap({std::string(w.label_negative), std::string(w.label_positive)}));
  }
  data_.set_dim(w.dimension);
  spec_ = w.problem;
  const int64_t p_size = spec_.ModelSize(data_.dim());
  decoder_.set_model_size(p_size);
  worker_ = std::make_unique<SvrgWorker>(&data_, spec_, w.seed, options_.sampling);
  model_.Reset(p_size);
  model_.Assign(w.model);
  version_ = w.version;
  epoch_ = w.epoch;
  grad_.assign(p_size, 0.0);
  mu_.assign(p_size, 0.0);
  update_.Reset(p_size);
  pos_.assign(p_size, -1);
  curvature_epoch_ = -1;
  heartbeat_ = std::max(0.01, w.heartbeat_ms / 1000.0);
  session_ = h.session;
  seq_in_ = h.seq;
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

Status EdgeAgent::OnReject(const wire::RejectMsg& r) {
  const std::string text = Printable(r.text);
  switch (r.reason) {
    case wire::RejectReason::kNotWelcome:
      Log("the coordinator does not know this session (" + text + "): saying Hello again");
      state_ = State::kHello;
      next_hello_ = 0;
      return Status::Ok();
    case wire::RejectReason::kShuttingDown:
      summary_.stop_reason = "stop: " + text;
      state_ = State::kDone;
      return Status::Ok();
    case wire::RejectReason::kProtocolMismatch:
      return Status::InvalidArgument(
          "the coordinator speaks another protocol version than this agent (protocol version " +
          std::to_string(options_.protocol_version) +
          ", edgetrain " EDGETRAIN_VERSION "): " + text);
    default:
      return Status::InvalidArgument(std::string("the coordinator refused this agent (") +
                                     wire::RejectReasonName(r.reason) + "): " + text);
  }
}

void EdgeAgent::OnEpochBegin(const wire::EpochBeginMsg& e) {
  if (e.epoch < epoch_) return;  // a late duplicate
  if (e.epoch == epoch_ && state_ != State::kIdle) {
    // Repeated by the coordinator: our gradient sum was lost (or is late). Send it again.
    if (state_ == State::kWaitPlan) SendGradSum();
    return;
  }
  model_.Assign(e.snapshot);
  version_ = e.version;
  epoch_ = e.epoch;
  awaiting_reply_ = false;
  SendGradSum();
  ++summary_.epochs;
  state_ = State::kWaitPlan;
}

void EdgeAgent::SendGradSum() {
  wire::GradSumMsg g;
  g.epoch = epoch_;
  worker_->ComputeSnapshot(model_.x().data(), grad_.data(), &g.loss_sum, &dual_);
  const int64_t p = model_.p();
  g.smoothness = worker_->smoothness();
  g.smoothness.rows = data_.rows();
  // With the duality certificate's sums (duality.h), so the coordinator can certify the gap.
  g.certified = true;
  g.dual = dual_.scalars;
  if (!dual_.aux.empty()) g.aux = VectorView::Dense(dual_.aux.data(), p);
  bool finite = std::isfinite(g.loss_sum);
  for (int64_t j = 0; j < p && finite; ++j) finite = std::isfinite(grad_[j]);
  if (finite) {
    g.grad = VectorView::Dense(grad_.data(), p);
  } else {
    // x~ is too far out for this shard (a margin overflowed): say so, and the coordinator's
    // safeguard rolls back, rather than sending numbers the decoder must refuse.
    g = wire::GradSumMsg{};
    g.epoch = epoch_;
    g.grad = VectorView{nullptr, nullptr, 0, p};
    g.smoothness = worker_->smoothness();
    g.smoothness.rows = data_.rows();
    g.diverged = true;
  }
  Send(encoder_.Encode(NextHeader(), g));
}

Status EdgeAgent::OnInnerLoop(const wire::InnerLoopMsg& l) {
  if (l.epoch != epoch_ || state_ != State::kWaitPlan) return Status::Ok();
  // The plan must be one this agent can carry out: a step costs `batch` rows (up to one pass over
  // the shard), and the agent never loops over inner_steps itself (the coordinator counts them).
  if (l.batch > data_.rows()) {
    return Status::InvalidArgument("the coordinator's mini-batch of " + std::to_string(l.batch) +
                                   " rows is larger than this shard's " +
                                   std::to_string(data_.rows()) +
                                   " rows (lower --batch on the coordinator)");
  }
  const VectorView& mu = l.mu;
  if (mu.dense()) {
    std::copy(mu.value, mu.value + mu.count, mu_.begin());
  } else {
    std::fill(mu_.begin(), mu_.end(), 0.0);
    for (int64_t k = 0; k < mu.count; ++k) mu_[mu.index[k]] = mu.value[k];
  }
  worker_->BeginEpoch(mu_.data(), l.eta, l.batch);
  state_ = State::kInner;
  char buf[160];
  std::snprintf(
      buf, sizeof buf, "epoch %lld: gradient sent; inner loop with eta %.4g, m %lld, batch %d",
      static_cast<long long>(epoch_ - 1), l.eta, static_cast<long long>(l.inner_steps), l.batch);
  Log(buf);
  Step();
  return Status::Ok();
}

void EdgeAgent::SendCurvature(const wire::CurvatureRequestMsg& c) {
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
  answer.rows = data_.rows();
  answer.declined = SupportHessianWork(data_, spec_, support, &pos_) >
                    kMaxCurvatureWork * static_cast<double>(std::max<int64_t>(data_.nnz(), 1));
  // The block is accumulated straight into the message (on a small device it is the largest thing
  // the agent allocates besides its data: |S|(|S|+1)/2 doubles, 263 kB at the first |S| = 256).
  const std::string_view bytes = encoder_.Encode(NextHeader(), answer, [&](double* packed) {
    AccumulateSupportHessian(data_, spec_, model_.x().data(), support, &pos_, packed);
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

void EdgeAgent::OnModel(const wire::ModelMsg& x) {
  if (x.epoch != epoch_ || state_ != State::kInner) return;
  if (x.applied) ++summary_.updates_applied;
  if (!AdoptAnswer(x, {awaiting_reply_, update_seq_, &update_}, &model_, &version_)) return;
  // Only the answer to the Update in flight brings a step. An answer to an earlier (repeated)
  // Update still refreshes the model, but stepping on it would put a second Update in flight,
  // and every lost answer would deepen the pipeline (staleness, queues) for good.
  if (!awaiting_reply_ || x.update_seq != update_seq_) return;
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
  if (x.inner_done) {
    state_ = State::kIdle;  // the epoch is complete: wait for the next EpochBegin
    return;
  }
  Step();
}

void EdgeAgent::OnStop(const wire::StopMsg& s) {
  summary_.stop_reason = "stop: " + Printable(s.reason);
  summary_.final_objective = s.objective;
  state_ = State::kDone;
  // The coordinator waits for this Bye (and repeats Stop to agents that stay quiet).
  Send(encoder_.Encode(NextHeader(), wire::ByeMsg{"stopped by the coordinator"}));
  channel_.LingerOnClose(1000);
}

void EdgeAgent::Step() {
  const double start = options_.throttle > 1 ? clock_->Now() : 0;
  worker_->Step(model_.View(), &update_);
  const wire::Header header = NextHeader();
  update_seq_ = header.seq;
  const std::string_view bytes = encoder_.Encode(
      header, wire::UpdateMsg{epoch_, version_, update_.delta.View(), update_.guarded.View()});
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
  Result<wire::Message> m = decoder_.Decode(payload.data(), payload.size());
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
  if (const auto* r = std::get_if<wire::RejectMsg>(&body)) return OnReject(*r);
  if (std::holds_alternative<wire::OtherProtocolMsg>(body)) {
    ++summary_.messages_refused;  // a coordinator of another version answers with a Reject
    Log("refused a message of protocol version " + std::to_string(h.protocol) +
        " (this agent speaks " + std::to_string(wire::kProtocolVersion) + ")");
    return Status::Ok();
  }
  if (const auto* w = std::get_if<wire::WelcomeMsg>(&body)) {
    if (state_ != State::kHello) return Status::Ok();  // a duplicate answer to a repeated Hello
    return OnWelcome(h, *w);
  }
  if (state_ == State::kHello || h.session != session_) {
    ++summary_.messages_refused;  // from an earlier session
    return Status::Ok();
  }
  if (h.seq <= seq_in_) {
    ++summary_.messages_refused;
    Log("refused a repeated message (sequence " + std::to_string(h.seq) + ")");
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
  } else if (!std::holds_alternative<wire::HeartbeatMsg>(body)) {
    ++summary_.messages_refused;
    Log(std::string("refused an unexpected ") + wire::MessageName(body));
  }
  return Status::Ok();
}

void EdgeAgent::Repeated(RepeatedLine* line, const std::string& text, double now) {
  if (!text.empty()) {
    if (line->next == 0) {
      Log(text);
      line->next = now + kRepeatedLinePeriod;
      return;
    }
    ++line->count;
    line->last = text;
  }
  if (line->next > 0 && now >= line->next) {
    if (line->count > 0) {
      char buf[96];
      std::snprintf(buf, sizeof buf,
                    "%lld more in the last %.0f s; the last: ", static_cast<long long>(line->count),
                    kRepeatedLinePeriod);
      Log(buf + line->last);
      line->count = 0;
      line->next = now + kRepeatedLinePeriod;
    } else {
      line->next = 0;  // quiet for a period: the next one is printed again at once
    }
  }
}

Status EdgeAgent::CheckHandshakes(double now) {
  using Kind = transport::HandshakeEvent::Kind;
  for (const transport::HandshakeEvent& e : channel_.TakeHandshakeEvents()) {
    switch (e.kind) {
      case Kind::kSucceeded:
        handshake_failures_ = 0;
        break;
      case Kind::kRefused:   // the coordinator refused our key: only the operator can change that
      case Kind::kProtocol:  // CURVE against plain text, or a broken peer (libzmq gives up too)
        return Status::InvalidArgument(e.detail);
      case Kind::kAuthError:  // the coordinator's authentication had a problem: try again
        reconnect_before_hello_ = true;
        Repeated(&handshake_line_, e.detail, now);
        break;
      case Kind::kClosed:
        if (handshake_failures_++ == 0) handshake_failing_since_ = now;
        Repeated(&handshake_line_, e.detail, now);
        if (handshake_failures_ >= kHandshakeFailuresToGiveUp &&
            now - handshake_failing_since_ >= kHandshakeSecondsToGiveUp) {
          char buf[256];
          std::snprintf(buf, sizeof buf,
                        "the coordinator closed the connection during the CURVE handshake %d "
                        "times in %.1f s and never completed one: --server-key is not the "
                        "coordinator's public key (or --coordinator is not its endpoint)",
                        handshake_failures_, now - handshake_failing_since_);
          return Status::InvalidArgument(buf);
        }
        break;
    }
  }
  Repeated(&handshake_line_, "", now);
  return Status::Ok();
}

Result<AgentSummary> EdgeAgent::Run(const std::atomic<bool>* stop_requested) {
  EDGETRAIN_RETURN_IF_ERROR(CheckHelloStrings());
  if (Status st = channel_.Connect(options_.coordinator); !st.ok())
    return st.WithContext("--coordinator");
  hello_backoff_ = options_.hello_retry;
  next_hello_ = 0;
  zmq::message_t payload;
  Log("connecting to " + options_.coordinator + " with " + std::to_string(data_.rows()) + " rows");
  // Ends the run on an error no retry can fix; a welcomed agent says why it leaves.
  auto give_up = [&](const Status& why) -> Status {
    if (session_ != 0) {
      Send(
          encoder_.Encode(NextHeader(), wire::ByeMsg{"leaving: " + Printable(why.message(), 256)}));
      channel_.LingerOnClose(1000);
    }
    return why;
  };
  while (state_ != State::kDone) {
    if (stop_requested != nullptr && stop_requested->load()) {
      if (session_ != 0 && options_.say_bye) {
        Send(encoder_.Encode(NextHeader(), wire::ByeMsg{"stopped by a signal"}));
        channel_.LingerOnClose(1000);  // let the Bye out before the socket closes
      }
      summary_.stop_reason = "interrupted";
      break;
    }
    const double now = clock_->Now();
    if (Status st = CheckHandshakes(now); !st.ok()) return give_up(st);
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
      if (now - last_sent_ >= heartbeat_)
        Send(encoder_.Encode(NextHeader(), wire::HeartbeatMsg{epoch_, version_}));
    }
    double wait = state_ == State::kHello ? next_hello_ - now : heartbeat_ / 2;
    if (state_ == State::kInner && awaiting_reply_)
      wait = std::min(wait, update_sent_at_ + resend_timeout_ - now);
    const int timeout_ms = static_cast<int>(std::clamp(wait * 1000.0, 0.0, 100.0));
    if (channel_.Receive(timeout_ms, &payload)) {
      const State before = state_;
      if (Status st = Handle(payload); !st.ok()) return give_up(st);
      if (before == State::kHello && state_ == State::kIdle) hello_backoff_ = options_.hello_retry;
    }
  }
  if (!summary_.stop_reason.empty()) Log("finished: " + summary_.stop_reason);
  return summary_;
}

}  // namespace edgetrain::agent
