#include "coordinator.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "edgetrain/crc32c.h"
#include "edgetrain/file_util.h"
#include "edgetrain/model_dir.h"
#include "edgetrain/rng.h"

namespace edgetrain::coordinator {

std::string NewRunId(const Clock* clock) {
  const double wall = clock->WallTime();
  const uint64_t a = static_cast<uint64_t>(wall * 1e6);
  const uint64_t b = static_cast<uint64_t>(::getpid());
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  const uint64_t id = DeriveSeed(a, b, Crc32c(host, std::char_traits<char>::length(host)));
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
  return buf;
}

// The driver's outbox: the ROUTER socket.
class Coordinator::RouterOutbox : public Outbox {
 public:
  explicit RouterOutbox(transport::RouterChannel* router) : router_(router) {}
  bool Send(std::string_view identity, std::string_view bytes) override {
    identity_.assign(identity.data(), identity.size());  // routing ids fit the small buffer
    return router_->Send(identity_, bytes);
  }

 private:
  transport::RouterChannel* router_;
  std::string identity_;
};

// The JSON sink's lines: the log stream (PUB socket, --log-json file).
class Coordinator::StreamWriter : public LineWriter {
 public:
  explicit StreamWriter(LogStream* log) : log_(log) {}
  void Write(std::string_view topic, std::string_view line) override { log_->Write(topic, line); }

 private:
  LogStream* log_;
};

Coordinator::Coordinator(const CoordinatorOptions& options, zmq::context_t* context,
                         const Clock* clock)
    : options_(options),
      context_(context),
      clock_(clock),
      run_id_(NewRunId(clock)),
      router_(context, options.channel),
      log_(context),
      console_out_(stdout, options.console_journal) {
  outbox_ = std::make_unique<RouterOutbox>(&router_);
  writer_ = std::make_unique<StreamWriter>(&log_);
  json_ = std::make_unique<JsonEventSink>(clock, run_id_, writer_.get());
  events_.Add(json_.get());
  if (!options_.quiet && options_.log_json != "-") {
    console_ = std::make_unique<ConsoleSink>(&console_out_);
    events_.Add(console_.get());
  }
}

Coordinator::~Coordinator() {
  if (!pid_file_.empty()) ::unlink(pid_file_.c_str());
}

std::string PidFilePath(const std::string& model_dir) { return model_dir + "/coordinator.pid"; }

Status SignalCoordinator(const std::string& model_dir, int signal) {
  const std::string path = PidFilePath(model_dir);
  std::ifstream in(path);
  long long pid = 0;
  if (!in || !(in >> pid) || pid <= 1) {
    return Status::NotFound(path + ": no coordinator runs with --model-dir " + model_dir);
  }
  // A pid file left by a killed process may name another program now: only an
  // edgetrain-coordinator is signalled.
  std::ifstream cmdline("/proc/" + std::to_string(pid) + "/cmdline");
  std::string argv0;
  std::getline(cmdline, argv0, '\0');
  if (argv0.find("edgetrain-coordinator") == std::string::npos) {
    return Status::NotFound(path + ": process " + std::to_string(pid) +
                            " is not an edgetrain-coordinator (a stale pid file)");
  }
  if (::kill(static_cast<pid_t>(pid), signal) != 0) {
    return Status::IoError("cannot signal process " + std::to_string(pid) + ": " +
                           std::strerror(errno));
  }
  return Status::Ok();
}

Status Coordinator::RestorePublished() {
  const std::string& dir = options_.rounds.model_dir;
  if (dir.empty()) return Status::Ok();
  Result<std::vector<int64_t>> rounds = ListModelRounds(dir);
  if (!rounds.ok() && rounds.status().code() != StatusCode::kNotFound) return rounds.status();
  Result<Model> latest = ReadLatestModel(dir);
  if (!latest.ok()) {
    if (latest.status().code() == StatusCode::kNotFound) return Status::Ok();
    return latest.status().WithContext("--model-dir");  // never train over a damaged service
  }
  const int64_t numbered = rounds.ok() && !rounds->empty() ? rounds->back() : 0;
  if (latest->task != options_.task) {
    return Status::InvalidArgument(dir + ": the published model is for " + TaskName(latest->task) +
                                   ", this coordinator trains " + TaskName(options_.task));
  }
  Note("continuing from the published model of round " + std::to_string(latest->summary.round) +
       " in " + dir);
  driver_->RestorePublished(std::move(latest).value(), numbered);
  return Status::Ok();
}

Status Coordinator::LoadAllowLists() {
  EDGETRAIN_RETURN_IF_ERROR(agent_keys_.Load(options_.allow_path));
  if (options_.secure_log) EDGETRAIN_RETURN_IF_ERROR(log_keys_.Load(options_.log_allow_path));
  return Status::Ok();
}

void Coordinator::ReloadAllowLists() {
  if (options_.insecure) return;
  const transport::AllowList old_log_keys = log_keys_;
  if (Status st = LoadAllowLists(); !st.ok()) {
    // Keep the old lists: a typo must not open or close the door.
    events_.Emit(AllowListError{st.message()});
    return;
  }
  events_.Emit(AllowListReloaded{static_cast<int64_t>(agent_keys_.size()),
                                 static_cast<int64_t>(log_keys_.size())});
  driver_->Revoke();
  // A subscriber stays connected after its key is removed: make every subscriber authenticate
  // again (the stream is bound anew, they reconnect by themselves; the removed key is refused).
  if (options_.secure_log && !log_keys_.Includes(old_log_keys)) {
    const Status st = log_.Rebind();
    log_rebinds_ = log_.rebinds();
    events_.Emit(LogStreamRebound{st.ok() ? "subscriber_key_removed" : "failed",
                                  log_.ignored_subscriptions(), st.ok() ? "" : st.message()});
  }
}

void Coordinator::OnHandshakeFailure(const std::string& what) {
  // Garbage connections must not flood the log: one line per 10 s window, then a count.
  last_handshake_ = what;
  const BurstLimit::Verdict v = handshake_limit_.Admit(clock_->Now());
  if (v.hidden > 0) events_.Emit(HandshakeFailed{what, v.hidden});
  if (v.show) events_.Emit(HandshakeFailed{what, 1});
}

void Coordinator::OnKeyRefused(const KeyRefused& refused) {
  // A device with a key nobody allowed retries forever: five lines per 10 s, then a count.
  last_key_refused_ = refused;
  const BurstLimit::Verdict v = key_limit_.Admit(clock_->Now());
  if (v.hidden > 0) events_.Emit(KeyRefused{refused.domain, "", "", v.hidden});
  if (v.show) events_.Emit(refused);
}

void Coordinator::ReportHidden(double now) {
  if (int64_t h = handshake_limit_.Flush(now); h > 0) {
    events_.Emit(HandshakeFailed{last_handshake_, h});
  }
  if (int64_t h = key_limit_.Flush(now); h > 0) {
    events_.Emit(KeyRefused{last_key_refused_.domain, "", "", h});
  }
}

void Coordinator::ServiceLogStream() {
  const bool ok = log_.Service();
  if (log_.rebinds() == log_rebinds_) return;
  log_rebinds_ = log_.rebinds();
  if (!ok) {
    events_.Emit(LogStreamRebound{"failed", log_.ignored_subscriptions(),
                                  "it could not be bound again at " + log_endpoint_});
    return;
  }
  // A flooding subscriber reconnects and floods again: one line a minute, then a count.
  const BurstLimit::Verdict v = rebind_limit_.Admit(clock_->Now());
  if (v.show || v.hidden > 0) {
    events_.Emit(LogStreamRebound{
        "subscription_flood", log_.ignored_subscriptions(),
        v.hidden > 0 ? std::to_string(v.hidden) + " rebinds before this one not shown" : ""});
  }
}

Status Coordinator::SetUpSecurity(transport::CurveConfig* log_curve) {
  if (options_.insecure) {
    if (!options_.key_path.empty() || options_.secure_log) {
      return Status::InvalidArgument("--insecure cannot be combined with --key or --log-secure");
    }
    return Status::Ok();
  }
  if (options_.key_path.empty() || options_.allow_path.empty()) {
    return Status::InvalidArgument(
        "agents must be authenticated: give --key (see 'edgetrain-coordinator keygen') and "
        "--allow (the agents' public keys), or --insecure on a network you trust");
  }
  if (options_.secure_log && options_.log_allow_path.empty()) {
    return Status::InvalidArgument(
        "--log-secure needs --log-allow: the log subscribers' public keys (their own list; see "
        "docs/security.md)");
  }
  Result<transport::CurveKeyPair> keys = transport::ReadSecretKeyFile(options_.key_path);
  if (!keys.ok()) return keys.status();
  EDGETRAIN_RETURN_IF_ERROR(LoadAllowLists());
  zap_ = std::make_unique<transport::ZapHandler>(context_);
  zap_->SetAllowList("agents", &agent_keys_);
  if (options_.secure_log) zap_->SetAllowList("log", &log_keys_);
  zap_->OnDecision([this](const std::string& domain, const std::string& address,
                          const std::string& key, bool ok) {
    if (!ok) OnKeyRefused(KeyRefused{domain, address, key, 1});
  });
  router_.AttachZap(zap_.get());
  transport::ApplyCurve(router_.socket(),
                        {transport::CurveConfig::Mode::kServer, *keys, "", "agents"});
  if (options_.secure_log) *log_curve = {transport::CurveConfig::Mode::kServer, *keys, "", "log"};
  return Status::Ok();
}

Result<std::optional<Checkpoint>> Coordinator::LoadResume() {
  if (options_.checkpoint_dir.empty()) {
    if (options_.resume) return Status::InvalidArgument("--resume needs --checkpoint-dir");
    return std::optional<Checkpoint>();
  }
  checkpoints_ = std::make_unique<CheckpointStore>(options_.checkpoint_dir);
  if (!options_.resume) return std::optional<Checkpoint>();
  std::vector<std::string> skipped;
  Result<Checkpoint> c = checkpoints_->LoadLatest(&skipped);
  for (const std::string& why : skipped) Note("skipping a checkpoint: " + why);
  if (!c.ok()) {
    if (c.status().code() != StatusCode::kNotFound) return c.status();
    Note("no checkpoint in " + options_.checkpoint_dir + ": starting a new run");
    return std::optional<Checkpoint>();
  }
  if (c->fingerprint != CheckpointFingerprint(options_)) {
    return Status::InvalidArgument(
        options_.checkpoint_dir +
        ": the checkpoint was made with other options (loss, penalties, task, labels or "
        "dimension); start without --resume or with the same options");
  }
  return std::optional<Checkpoint>(std::move(c).value());
}

Status Coordinator::Bind() {
  transport::CurveConfig log_curve;
  EDGETRAIN_RETURN_IF_ERROR(SetUpSecurity(&log_curve));
  router_.OnHandshakeFailure([this](const std::string& what) { OnHandshakeFailure(what); });
  Result<std::string> agents = router_.Bind(options_.bind);
  if (!agents.ok()) return agents.status().WithContext("--bind");
  agent_endpoint_ = *agents;
  Result<std::string> logs = log_.Bind(options_.log_bind, log_curve);
  if (!logs.ok()) return logs.status().WithContext("--log-bind");
  log_endpoint_ = *logs;
  if (!options_.log_json.empty()) EDGETRAIN_RETURN_IF_ERROR(log_.OpenFile(options_.log_json));
  Result<std::optional<Checkpoint>> resume = LoadResume();
  if (!resume.ok()) return resume.status();
  driver_ = std::make_unique<Driver>(options_, clock_, outbox_.get(), &events_, checkpoints_.get(),
                                     std::move(resume).value());
  if (!options_.insecure) {
    driver_->set_key_check(
        [this](std::string_view key) { return agent_keys_.Contains(std::string(key)); });
    driver_->set_key_names(
        [this](std::string_view key) { return agent_keys_.NameOf(std::string(key)); });
  }
  json_->set_round_source([this] { return driver_->round(); });
  EDGETRAIN_RETURN_IF_ERROR(RestorePublished());
  if (!options_.rounds.model_dir.empty()) {
    if (::mkdir(options_.rounds.model_dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return Status::IoError("--model-dir " + options_.rounds.model_dir +
                             ": cannot create: " + std::strerror(errno));
    }
    pid_file_ = PidFilePath(options_.rounds.model_dir);
    EDGETRAIN_RETURN_IF_ERROR(WriteFileAtomically(pid_file_, std::to_string(::getpid()) + "\n")
                                  .WithContext("--model-dir"));
  }
  if (!options_.endpoints_file.empty()) {
    EDGETRAIN_RETURN_IF_ERROR(WriteFileAtomically(
        options_.endpoints_file, "agents=" + agent_endpoint_ + "\nlog=" + log_endpoint_ + "\n"));
  }
  return Status::Ok();
}

Result<RunSummary> Coordinator::Run(const std::atomic<bool>* stop_requested,
                                    std::atomic<bool>* reload_requested,
                                    std::atomic<bool>* trigger_requested) {
  driver_->Begin();
  transport::Inbound in;
  auto handle = [&] {
    const Peer peer{in.identity, in.peer_address, in.user_id};
    driver_->Receive(peer, in.payload.data(), in.payload.size());
  };
  while (!driver_->done()) {
    if (stop_requested != nullptr && stop_requested->load()) driver_->RequestStop("interrupted");
    if (reload_requested != nullptr && reload_requested->exchange(false)) ReloadAllowLists();
    if (trigger_requested != nullptr && trigger_requested->exchange(false)) driver_->TriggerRound();
    const double now = clock_->Now();
    // At most 50 ms: the log stream's subscriptions are read between messages.
    const int timeout_ms =
        static_cast<int>(std::clamp((driver_->NextDeadline() - now) * 1000.0, 0.0, 50.0));
    if (router_.Receive(timeout_ms, &in)) {
      handle();
      // Drain what is queued before looking at the timers again.
      for (int k = 0; k < 256 && !driver_->done() && router_.Receive(0, &in); ++k) handle();
    }
    driver_->Tick();
    ServiceLogStream();
    ReportHidden(clock_->Now());
  }
  router_.LingerOnClose(2000);  // the last Stops must reach the agents before the process exits
  if (!driver_->failure().ok()) return driver_->failure();
  return driver_->summary();
}

}  // namespace edgetrain::coordinator
