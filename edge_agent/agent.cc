#include "agent.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "edgetrain/model_dir.h"
#include "edgetrain/text.h"

namespace edgetrain::agent {

// Compute per turn of the loop between two polls of the socket: short enough that answers are
// merged promptly, long enough that a poll (a few microseconds) is noise.
constexpr double kWorkQuantum = 200e-6;

class EdgeAgent::ChannelLink : public AgentLink {
 public:
  explicit ChannelLink(transport::DealerChannel* channel) : channel_(channel) {}
  bool Send(std::string_view bytes) override { return channel_->Send(bytes); }

 private:
  transport::DealerChannel* channel_;
};

AgentData::AgentData(std::string path, ReadOptions options, int shard, int shards)
    : source_(std::make_unique<DataSource>(std::move(path), std::move(options))),
      shard_(shard),
      shards_(shards) {}

AgentData::AgentData(Dataset fixed) : fixed_(std::move(fixed)) {}

Result<RefreshReport> AgentData::Refresh() {
  if (!source_) return RefreshReport{0, fixed_.rows(), 0, {}};
  Result<RefreshReport> r = source_->Refresh();
  if (!r.ok()) return r;
  if (shards_ > 1 && (r->new_rows > 0 || shard_data_.rows() == 0)) {
    shard_data_ = source_->data().Shard(shard_, shards_);
    r->new_rows = shard_data_.rows();  // a shard is cut again: its rows, all of them
    r->total_rows = shard_data_.rows();
  }
  return r;
}

EdgeAgent::EdgeAgent(const AgentOptions& options, AgentData data, zmq::context_t* context,
                     const Clock* clock)
    : options_(options),
      data_(std::move(data)),
      clock_(clock),
      channel_(context, options.channel),
      link_(std::make_unique<ChannelLink>(&channel_)) {
  SessionOptions s;
  s.agent_id = options_.agent_id;
  s.sampling = options_.sampling;
  s.protocol_version = options_.protocol_version;
  s.steps_per_update = options_.steps_per_update;
  s.max_in_flight = options_.max_in_flight;
  s.max_dimension = options_.max_dimension;
  s.scale_request = options_.scale_request;
  s.software_version = EDGETRAIN_VERSION " " EDGETRAIN_TARGET_ARCH;
  session_ = std::make_unique<AgentSession>(s, data_.data(), clock_, link_.get());
}

void EdgeAgent::RefreshData() {
  Result<RefreshReport> r = data_.Refresh();
  if (!r.ok()) {
    Log("re-reading the data failed (the rows held stay): " + Printable(r.status().message()),
        cli::Priority::kWarning);
    return;
  }
  for (const std::string& note : r->notes) Log(Printable(note), cli::Priority::kWarning);
  session_->set_rows_available(data_.data()->rows());
}

void EdgeAgent::SaveModel(const ReceivedModel& m) {
  if (options_.model_dir.empty()) return;
  // Verified (CRC, every field) before it replaces the model in service.
  Result<Model> model = ParseModel(m.bytes, "the model of round " + std::to_string(m.round));
  if (!model.ok()) {
    Log("refused the published model: " + Printable(model.status().message()),
        cli::Priority::kError);
    return;
  }
  PublishOptions publish;
  publish.keep = options_.keep_models;
  Result<std::string> path = PublishModel(options_.model_dir, m.round, *model, publish);
  if (!path.ok()) {
    Log("cannot save the published model: " + Printable(path.status().message()),
        cli::Priority::kError);
    return;
  }
  Log("saved the model of round " + std::to_string(m.round) + " to " + *path,
      cli::Priority::kNotice);
  session_->ModelSaved(m.round);
}

EdgeAgent::~EdgeAgent() = default;

void EdgeAgent::Log(const std::string& line, cli::Priority priority) const {
  if (!options_.verbose) return;
  cli::LineSink(stdout, options_.journal)
      .Write(priority, "agent " + Printable(options_.agent_id) + ": " + line);
}

void EdgeAgent::PrintSessionLog() {
  for (const std::string& line : session_->TakeLog()) Log(line);
}

AgentSummary EdgeAgent::Summary() const {
  const SessionSummary& s = session_->summary();
  AgentSummary a;
  a.stop_reason = stop_reason_.empty() ? s.stop_reason : stop_reason_;
  a.epochs = s.epochs;
  a.updates_sent = s.updates_sent;
  a.updates_applied = s.updates_applied;
  a.sessions = s.sessions;
  a.messages_refused = s.messages_refused;
  a.updates_resent = s.updates_resent;
  a.steps = s.steps;
  a.final_objective = s.final_objective;
  a.srtt = s.srtt;
  a.steps_per_update = s.steps_per_update;
  a.depth = s.depth;
  return a;
}

void EdgeAgent::Repeated(RepeatedLine* line, const std::string& text, double now) {
  if (!text.empty()) {
    if (line->next == 0) {
      Log(text, cli::Priority::kWarning);
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
      Log(buf + line->last, cli::Priority::kWarning);
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
        // A Hello sent before the connection was up went nowhere (the socket queues only to a
        // completed connection): say it now rather than at the next retry.
        if (session_->state() == AgentSession::State::kHello) {
          next_hello_ = now;
          hello_backoff_ = options_.hello_retry;
        }
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
  EDGETRAIN_RETURN_IF_ERROR(session_->CheckHelloStrings());
  if (Status st = channel_.Connect(options_.coordinator); !st.ok())
    return st.WithContext("--coordinator");
  hello_backoff_ = options_.hello_retry;
  next_hello_ = 0;
  zmq::message_t payload;
  Log("connecting to " + options_.coordinator + " with " + std::to_string(data_.data()->rows()) +
      " rows");
  // Ends the run on an error no retry can fix; a welcomed agent says why it leaves.
  auto give_up = [&](const Status& why) -> Status {
    PrintSessionLog();
    if (session_->welcomed()) {
      session_->SayBye("leaving: " + Printable(why.message(), 256));
      channel_.LingerOnClose(1000);
    }
    return why;
  };
  using State = AgentSession::State;
  while (session_->state() != State::kDone) {
    if (stop_requested != nullptr && stop_requested->load()) {
      if (options_.say_bye) {
        session_->SayBye("stopped by a signal");
        channel_.LingerOnClose(1000);  // let the Bye out before the socket closes
      }
      stop_reason_ = "interrupted";
      break;
    }
    const double now = clock_->Now();
    if (Status st = CheckHandshakes(now); !st.ok()) return give_up(st);
    if (session_->state() == State::kHello && now >= next_hello_) {
      if (reconnect_before_hello_) {  // libzmq stopped trying after an authentication error
        channel_.Reconnect();
        reconnect_before_hello_ = false;
      }
      session_->SayHello();
      next_hello_ = now + hello_backoff_;
      hello_backoff_ = std::min(hello_backoff_ * 2, options_.hello_retry_max);
    }
    if (session_->state() != State::kHello &&
        now - session_->last_heard() > session_->heartbeat() * options_.heartbeat_patience) {
      Log("the coordinator is silent: reconnecting", cli::Priority::kWarning);
      channel_.Reconnect();
      session_->SayHello();
      hello_backoff_ = options_.hello_retry;
      next_hello_ = now + hello_backoff_;
      continue;
    }
    if (session_->state() == State::kRefresh) {  // a round begins: the rows held now, then Hello
      session_->RestoreRaw();
      RefreshData();
      session_->Rehello();
      hello_backoff_ = options_.hello_retry;
      next_hello_ = now + hello_backoff_;
    } else if (session_->state() == State::kBetween && now >= next_refresh_) {
      session_->RestoreRaw();
      RefreshData();  // the coordinator counts new rows towards --round-new-rows
      next_refresh_ = now + session_->heartbeat();
    }
    session_->Tick();
    // Busy: poll the socket without waiting and compute between polls. Idle: wait for a message
    // until the next timer.
    const bool busy = session_->has_work();
    int timeout_ms = 0;
    if (!busy) {
      double wait = std::min(session_->NextDeadline(), next_hello_) - now;
      if (session_->state() != State::kHello) wait = session_->NextDeadline() - now;
      timeout_ms = static_cast<int>(std::clamp(wait * 1000.0, 0.0, 100.0));
    }
    for (int k = 0; k < 64 && session_->state() != State::kDone &&
                    channel_.Receive(k == 0 ? timeout_ms : 0, &payload);
         ++k) {
      const bool was_hello = session_->state() == State::kHello;
      if (Status st = session_->Receive(payload.data(), payload.size()); !st.ok()) {
        return give_up(st);
      }
      if (was_hello && session_->welcomed()) hello_backoff_ = options_.hello_retry;
      // A published model is saved at once (the last round's comes just before the Stop).
      if (std::optional<ReceivedModel> m = session_->TakeModel()) SaveModel(*m);
    }
    if (busy || session_->has_work()) {
      const double start = clock_->Now();
      session_->Work(kWorkQuantum);
      if (options_.throttle > 1) {
        const double spent = clock_->Now() - start;
        std::this_thread::sleep_for(std::chrono::duration<double>(spent * (options_.throttle - 1)));
      }
    }
    PrintSessionLog();
  }
  if (session_->state() == State::kDone) channel_.LingerOnClose(1000);  // the Bye must get out
  const AgentSummary summary = Summary();
  if (!summary.stop_reason.empty()) Log("finished: " + summary.stop_reason, cli::Priority::kNotice);
  const SessionSummary& s = session_->summary();
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "%lld inner steps in %lld updates (%lld resent); answers: %lld whole, %lld out of "
                "order, %lld superseded; round trip %.3g ms, pipeline %lld steps x %d in flight",
                static_cast<long long>(s.steps), static_cast<long long>(s.updates_sent),
                static_cast<long long>(s.updates_resent), static_cast<long long>(s.whole_answers),
                static_cast<long long>(s.answers_out_of_order),
                static_cast<long long>(s.answers_ignored), 1e3 * s.srtt,
                static_cast<long long>(s.steps_per_update), s.depth);
  Log(buf);
  return summary;
}

}  // namespace edgetrain::agent
