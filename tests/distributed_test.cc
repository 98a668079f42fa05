// Distributed DAP-SVRG in one process: a Coordinator and EdgeAgents on threads, talking over real
// ZeroMQ TCP sockets on 127.0.0.1 (ephemeral ports read back), on bundled real data. Checked
// against the serial optimum (TrainLocal) and through the coordinator's own log stream.
#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "agent.h"
#include "coordinator.h"
#include "doctest/doctest.h"
#include "edgetrain/json.h"
#include "edgetrain/local_trainer.h"
#include "edgetrain/readers.h"
#include "edgetrain/wire.h"
#include "test_util.h"

namespace edgetrain {
namespace {

using agent::AgentOptions;
using agent::AgentSummary;
using agent::EdgeAgent;
using coordinator::Coordinator;
using coordinator::CoordinatorOptions;
using coordinator::RunSummary;

constexpr double kL1 = 1e-3;

const std::string& SpamPath() {
  static const std::string path = testing::SourcePath("data/spam/train.svm");
  return path;
}

ProblemSpec Spec() {
  ProblemSpec spec;
  spec.reg.l1 = kL1;
  return spec;
}

// The serial optimum on the whole file (computed once).
double LocalOptimum() {
  static const double value = [] {
    const Dataset data = testing::LoadLibsvm(SpamPath());
    TrainOptions o;
    o.kkt_tolerance = 1e-10;
    o.max_epochs = 200;
    Result<TrainResult> r = TrainLocal(data, Spec(), o, nullptr);
    REQUIRE(r.ok());
    return r->last.objective;
  }();
  return value;
}

// Shard k of n, read the way `edgetrain-agent run` reads it.
Dataset ShardOf(int k, int n) {
  ReadOptions o;
  o.defer_label_map = true;
  Result<Dataset> data = ReadLibsvmFile(SpamPath(), o);
  REQUIRE(data.ok());
  return data->Shard(k, n);
}

// Collects the log stream's events on a thread until run_finished.
class LogCollector {
 public:
  LogCollector(zmq::context_t* context, const std::string& endpoint)
      : socket_(*context, zmq::socket_type::sub) {
    socket_.set(zmq::sockopt::subscribe, "");
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect(endpoint);
    thread_ = std::thread([this] { Loop(); });
  }
  ~LogCollector() {
    done_ = true;
    thread_.join();
  }

  std::vector<JsonValue> Events(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<JsonValue> out;
    for (const JsonValue& e : events_) {
      if (e["event"].string == name) out.push_back(e);
    }
    return out;
  }
  // Waits until an event satisfies `pred` (or the timeout).
  template <typename Pred>
  bool WaitFor(Pred pred, double seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (const JsonValue& e : events_) {
          if (pred(e)) return true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

 private:
  void Loop() {
    zmq::message_t topic, body;
    while (!done_) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, std::chrono::milliseconds(50)) == 0) continue;
      if (!socket_.recv(topic) || !socket_.recv(body)) continue;
      Result<JsonValue> v = ParseJson(body.to_string_view());
      if (!v.ok()) continue;
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(std::move(v).value());
      if (events_.back()["event"].string == "run_finished") done_ = true;
    }
  }

  zmq::socket_t socket_;
  std::thread thread_;
  std::atomic<bool> done_{false};
  std::mutex mu_;
  std::vector<JsonValue> events_;
};

// A coordinator on a thread plus agents on threads.
class Cluster {
 public:
  explicit Cluster(CoordinatorOptions options) {
    options.bind = "tcp://127.0.0.1:0";
    options.log_bind = "tcp://127.0.0.1:0";
    options.quiet = true;
    options.problem = Spec();
    coordinator_ = std::make_unique<Coordinator>(options, &context_, &clock_);
    REQUIRE(coordinator_->Bind().ok());
    log_ = std::make_unique<LogCollector>(&context_, coordinator_->log_endpoint());
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the SUB connect
    coordinator_thread_ = std::thread([this] { result_ = coordinator_->Run(&stop_coordinator_); });
  }
  ~Cluster() {
    stop_coordinator_ = true;
    if (coordinator_thread_.joinable()) coordinator_thread_.join();
    for (auto& a : agents_) {
      a->stop = true;
      if (a->thread.joinable()) a->thread.join();
    }
  }

  // Starts an agent on shard k of n; returns its index.
  size_t AddAgent(int k, int n, bool say_bye = true) {
    auto a = std::make_unique<AgentRun>();
    AgentOptions o;
    o.coordinator = coordinator_->agent_endpoint();
    o.agent_id = "agent-" + std::to_string(k) + "of" + std::to_string(n);
    o.verbose = false;
    o.say_bye = say_bye;
    AgentRun* raw = a.get();
    raw->agent = std::make_unique<EdgeAgent>(o, ShardOf(k, n), &context_, &clock_);
    raw->thread = std::thread([raw] { raw->result = raw->agent->Run(&raw->stop); });
    agents_.push_back(std::move(a));
    return agents_.size() - 1;
  }
  // Stops an agent now (a crash when it was added with say_bye = false).
  void StopAgent(size_t i) {
    agents_[i]->stop = true;
    agents_[i]->thread.join();
  }

  const RunSummary& Wait() {
    coordinator_thread_.join();
    REQUIRE_MESSAGE(result_.ok(), result_.status().ToString());
    for (auto& a : agents_) {
      if (a->thread.joinable()) a->thread.join();
    }
    return *result_;
  }
  const Result<AgentSummary>& agent_result(size_t i) const { return agents_[i]->result; }
  LogCollector& log() { return *log_; }
  zmq::context_t& context() { return context_; }
  const std::string& endpoint() const { return coordinator_->agent_endpoint(); }

 private:
  struct AgentRun {
    std::unique_ptr<EdgeAgent> agent;
    std::thread thread;
    std::atomic<bool> stop{false};
    Result<AgentSummary> result = Status::Internal("not run");
  };

  zmq::context_t context_{1};
  SteadyClock clock_;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<LogCollector> log_;
  std::thread coordinator_thread_;
  std::atomic<bool> stop_coordinator_{false};
  Result<RunSummary> result_ = Status::Internal("not run");
  std::vector<std::unique_ptr<AgentRun>> agents_;
};

// The objective of the returned model, recomputed from the data.
double ObjectiveOnData(const RunSummary& r) {
  static const Dataset data = testing::LoadLibsvm(SpamPath());
  return Objective(data, Spec(), r.x.data());
}

void CheckOptimum(const RunSummary& r) {
  const double reference = LocalOptimum();
  INFO("distributed ", r.objective, " serial ", reference, " stop ", r.stop_reason);
  CHECK(r.stop_reason == "kkt");
  CHECK(r.kkt <= 1e-8);
  CHECK(std::fabs(r.objective - reference) <= 1e-6 * std::fabs(reference));
  CHECK(ObjectiveOnData(r) == doctest::Approx(r.objective).epsilon(1e-12));
}

CoordinatorOptions Options(int min_agents) {
  CoordinatorOptions o;
  o.min_agents = min_agents;
  o.max_epochs = 100;
  o.kkt_tolerance = 1e-8;
  o.heartbeat_interval = 0.2;
  o.heartbeat_patience = 10;
  o.gradient_timeout = 2;
  return o;
}

void RunWithAgents(int k) {
  Cluster cluster(Options(k));
  for (int i = 0; i < k; ++i) cluster.AddAgent(i, k);
  const RunSummary& r = cluster.Wait();
  CheckOptimum(r);
  CHECK(r.agents_joined == k);
  // Every applied update was acknowledged to its agent as applied, and no other.
  int64_t acknowledged = 0;
  for (int i = 0; i < k; ++i) {
    REQUIRE(cluster.agent_result(i).ok());
    CHECK(cluster.agent_result(i)->stop_reason == "stop: kkt");
    acknowledged += cluster.agent_result(i)->updates_applied;
  }
  CHECK(acknowledged == r.updates_applied);
  CHECK(r.messages_refused == 0);
  // The log stream told the same story.
  CHECK(cluster.log().WaitFor([](const JsonValue& e) { return e["event"].string == "run_finished"; }, 5));
  const auto finished = cluster.log().Events("run_finished");
  REQUIRE(finished.size() == 1);
  CHECK(finished[0]["updates_applied"].number == static_cast<double>(r.updates_applied));
  int64_t applied_by_epoch = 0;
  for (const JsonValue& e : cluster.log().Events("epoch_end")) applied_by_epoch += static_cast<int64_t>(e["updates_applied"].number);
  CHECK(applied_by_epoch == r.updates_applied);
}

TEST_CASE("1 agent reaches the serial optimum") { RunWithAgents(1); }
TEST_CASE("2 agents reach the serial optimum") { RunWithAgents(2); }
TEST_CASE("4 agents reach the serial optimum") { RunWithAgents(4); }
TEST_CASE("8 agents reach the serial optimum") { RunWithAgents(8); }

TEST_CASE("a late joiner is welcomed with the current model and takes part") {
  Cluster cluster(Options(2));
  cluster.AddAgent(0, 3);
  cluster.AddAgent(1, 3);
  REQUIRE(cluster.log().WaitFor([](const JsonValue& e) { return e["event"].string == "epoch_begin" && e["epoch"].number >= 2; }, 30));
  const size_t late = cluster.AddAgent(2, 3);
  const RunSummary& r = cluster.Wait();
  CheckOptimum(r);
  CHECK(r.agents_joined == 3);
  REQUIRE(cluster.agent_result(late).ok());
  CHECK(cluster.agent_result(late)->epochs > 0);
  CHECK(cluster.agent_result(late)->updates_applied > 0);
  // Once it had joined, epochs had three agents and all the rows.
  bool three = false;
  for (const JsonValue& e : cluster.log().Events("epoch_begin")) three = three || (e["agents"].number == 3 && e["rows"].number == 1600);
  CHECK(three);
}

TEST_CASE("an agent that dies mid-epoch does not stall the run beyond the timeout") {
  Cluster cluster(Options(3));
  cluster.AddAgent(0, 3);
  const size_t victim = cluster.AddAgent(1, 3, /*say_bye=*/false);
  cluster.AddAgent(2, 3);
  // epoch_begin is published as the inner phase starts: the agent dies mid-epoch.
  REQUIRE(cluster.log().WaitFor([](const JsonValue& e) { return e["event"].string == "epoch_begin" && e["epoch"].number >= 2; }, 30));
  const auto died = std::chrono::steady_clock::now();
  cluster.StopAgent(victim);  // no Bye: the coordinator must notice by itself
  REQUIRE(cluster.log().WaitFor([](const JsonValue& e) {
    return e["event"].string == "gradient_timeout" || (e["event"].string == "agent_left" && e["agent"].string == "agent-1of3");
  }, 10));
  // Noticed within the gradient timeout (2 s) or the heartbeat patience (0.2 s x 10), plus slack.
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - died).count() < 6.0);
  const RunSummary& r = cluster.Wait();
  // The optimum of the rows still present, certified.
  CHECK(r.stop_reason == "kkt");
  CHECK(r.kkt <= 1e-8);
  CHECK(r.rows < 1600);
}

TEST_CASE("malformed, truncated, wrong-dimension and NaN messages are refused and logged while training goes on") {
  Cluster cluster(Options(2));
  cluster.AddAgent(0, 2);
  cluster.AddAgent(1, 2);
  REQUIRE(cluster.log().WaitFor([](const JsonValue& e) { return e["event"].string == "epoch_begin" && e["epoch"].number >= 1; }, 30));
  // A rogue connection, as an attacker or a broken device would be.
  zmq::socket_t rogue(cluster.context(), zmq::socket_type::dealer);
  rogue.set(zmq::sockopt::linger, 0);
  rogue.connect(cluster.endpoint());
  wire::Encoder e;
  const int64_t p = 10445;
  const wire::Header h{"rogue", 1, 1};
  ModelUpdate wide;
  wide.Reset(p + 1);
  wide.delta.Push(static_cast<int32_t>(p), 1.0);
  ModelUpdate nan;
  nan.Reset(p);
  nan.delta.Push(7, std::nan(""));
  ModelUpdate fine;
  fine.Reset(p);
  fine.delta.Push(7, 100.0);
  const std::string wrong_dim(e.Update(h, 1, 0, wide));
  const std::string with_nan(e.Update(h, 1, 0, nan));
  const std::string unknown(e.Update(h, 1, 0, fine));
  const std::string truncated = unknown.substr(0, unknown.size() / 2);
  const std::string garbage = "this is not a FlatBuffer, just bytes on the wire";
  for (const std::string& m : {garbage, truncated, wrong_dim, with_nan, unknown}) {
    rogue.send(zmq::buffer(m), zmq::send_flags::none);
  }
  REQUIRE(cluster.log().WaitFor([](const JsonValue& ev) { return ev["event"].string == "message_refused" && ev["reason"].string == "unknown_sender"; }, 10));
  const RunSummary& r = cluster.Wait();
  CheckOptimum(r);  // none of it was applied
  CHECK(r.messages_refused == 5);
  const auto refused = cluster.log().Events("message_refused");
  REQUIRE(refused.size() == 5);
  int malformed = 0;
  for (const JsonValue& ev : refused) {
    CHECK(ev["peer"].string == "127.0.0.1");
    malformed += ev["reason"].string == "malformed";
  }
  CHECK(malformed == 4);
  bool dimension = false, non_finite = false;
  for (const JsonValue& ev : refused) {
    dimension = dimension || ev["detail"].string.find("dimension 10446, expected 10445") != std::string::npos;
    non_finite = non_finite || ev["detail"].string.find("non-finite") != std::string::npos;
  }
  CHECK(dimension);
  CHECK(non_finite);
}

}  // namespace
}  // namespace edgetrain
