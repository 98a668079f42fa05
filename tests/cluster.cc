#include "cluster.h"

#include "doctest/doctest.h"
#include "edgetrain/local_trainer.h"
#include "edgetrain/readers.h"
#include "test_util.h"

namespace edgetrain::testing {

const std::string& SpamTrainPath() {
  static const std::string path = SourcePath("data/spam/train.svm");
  return path;
}

ProblemSpec SpamSpec() {
  ProblemSpec spec;
  spec.reg.l1 = 1e-3;
  return spec;
}

double SpamSerialOptimum() {
  static const double value = [] {
    const Dataset data = LoadLibsvm(SpamTrainPath());
    TrainOptions o;
    o.policy.stop.kkt_tolerance = 1e-10;
    o.policy.stop.tolerance = 0;  // stop on the KKT violation alone
    o.policy.stop.max_epochs = 200;
    Result<TrainResult> r = TrainLocal(data, SpamSpec(), o, nullptr);
    REQUIRE(r.ok());
    return r->last.objective;
  }();
  return value;
}

Dataset SpamShard(int k, int n) {
  ReadOptions o;
  o.defer_label_map = true;
  Result<Dataset> data = ReadLibsvmFile(SpamTrainPath(), o);
  REQUIRE(data.ok());
  return data->Shard(k, n);
}

double SpamObjective(const std::vector<double>& x) {
  static const Dataset data = LoadLibsvm(SpamTrainPath());
  return Objective(data, SpamSpec(), x.data());
}

LogCollector::LogCollector(zmq::context_t* context, const std::string& endpoint)
    : socket_(*context, zmq::socket_type::sub) {
  socket_.set(zmq::sockopt::subscribe, "");
  socket_.set(zmq::sockopt::linger, 0);
  socket_.connect(endpoint);
  thread_ = std::thread([this] { Loop(); });
}

LogCollector::~LogCollector() {
  done_ = true;
  thread_.join();
}

std::vector<testing::Json> LogCollector::Events(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<testing::Json> out;
  for (const testing::Json& e : events_) {
    if (testing::Str(e, "event") == name) out.push_back(e);
  }
  return out;
}

void LogCollector::Loop() {
  zmq::message_t topic, body;
  while (!done_) {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(50)) == 0) continue;
    if (!socket_.recv(topic) || !socket_.recv(body)) continue;
    Result<testing::Json> v = testing::ParseJson(body.to_string_view());
    if (!v.ok()) continue;
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(v).value());
    if (Str(events_.back(), "event") == "run_finished") done_ = true;
  }
}

Cluster::Cluster(coordinator::CoordinatorOptions options) {
  options.bind = "tcp://127.0.0.1:0";
  options.log_bind = "tcp://127.0.0.1:0";
  options.quiet = true;
  if (options.problem.reg.l1 == 0 && options.problem.reg.l2 == 0) options.problem = SpamSpec();
  coordinator_ = std::make_unique<coordinator::Coordinator>(options, &context_, &clock_);
  const Status bound = coordinator_->Bind();
  REQUIRE_MESSAGE(bound.ok(), bound.ToString());
  log_ = std::make_unique<LogCollector>(&context_, coordinator_->log_endpoint());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the SUB connect
  coordinator_thread_ =
      std::thread([this] { result_ = coordinator_->Run(&stop_coordinator_, &reload_); });
}

Cluster::~Cluster() {
  stop_coordinator_ = true;
  if (coordinator_thread_.joinable()) coordinator_thread_.join();
  for (auto& a : agents_) {
    a->stop = true;
    if (a->thread.joinable()) a->thread.join();
  }
}

size_t Cluster::AddAgent(const AgentSpec& spec) {
  auto a = std::make_unique<AgentRun>();
  agent::AgentOptions o;
  o.coordinator = coordinator_->agent_endpoint();
  o.agent_id = spec.agent_id.empty()
                   ? "agent-" + std::to_string(spec.shard) + "of" + std::to_string(spec.shards)
                   : spec.agent_id;
  o.verbose = false;
  o.say_bye = spec.say_bye;
  o.channel.curve = spec.curve;
  o.channel.faults = spec.faults;
  o.throttle = spec.throttle;
  AgentRun* raw = a.get();
  raw->agent = std::make_unique<agent::EdgeAgent>(
      o, agent::AgentData(SpamShard(spec.shard, spec.shards)), &context_, &clock_);
  raw->thread = std::thread([raw] {
    raw->result = raw->agent->Run(&raw->stop);
    raw->done = true;
  });
  agents_.push_back(std::move(a));
  return agents_.size() - 1;
}

void Cluster::StopAgent(size_t i) {
  agents_[i]->stop = true;
  agents_[i]->thread.join();
}

const coordinator::RunSummary& Cluster::Wait(double grace) {
  coordinator_thread_.join();
  REQUIRE_MESSAGE(result_.ok(), result_.status().ToString());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(grace);
  for (auto& a : agents_) {
    while (!a->done && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    a->stop = true;
    if (a->thread.joinable()) a->thread.join();
  }
  return *result_;
}

}  // namespace edgetrain::testing
