#include "sim_cluster.h"

#include <algorithm>

#include "doctest/doctest.h"

namespace edgetrain::testing {

class SimCluster::AgentEnd : public agent::AgentLink {
 public:
  AgentEnd(SimCluster* cluster, size_t index) : cluster_(cluster), index_(index) {}
  bool Send(std::string_view bytes) override {
    cluster_->Post(index_, true, bytes);
    return true;
  }

 private:
  SimCluster* cluster_;
  size_t index_;
};

class SimCluster::CoordinatorEnd : public coordinator::Outbox {
 public:
  explicit CoordinatorEnd(SimCluster* cluster) : cluster_(cluster) {}
  bool Send(std::string_view identity, std::string_view bytes) override {
    for (size_t i = 0; i < cluster_->agents_.size(); ++i) {
      if (cluster_->agents_[i]->identity == identity) {
        cluster_->Post(i, false, bytes);
        return true;
      }
    }
    return false;
  }

 private:
  SimCluster* cluster_;
};

SimCluster::SimCluster(coordinator::CoordinatorOptions options, LinkFaults faults, uint64_t seed,
                       const std::function<void(coordinator::Driver&)>& before_begin)
    : faults_(faults), rng_(seed), coordinator_end_(std::make_unique<CoordinatorEnd>(this)) {
  options.quiet = true;
  driver_ =
      std::make_unique<coordinator::Driver>(options, &clock_, coordinator_end_.get(), &events_);
  if (before_begin) before_begin(*driver_);
  driver_->Begin();
}

void SimCluster::GrowData(size_t i, Dataset more) { agents_[i]->grown.push_back(std::move(more)); }

void SimCluster::Refresh(AgentRun& a) {
  a.session->RestoreRaw();  // as EdgeAgent does before it re-reads
  for (Dataset& more : a.grown) {
    // What DataSource::Refresh does with new rows of a dataset whose labels are mapped.
    if (a.data.labels() && !more.labels()) REQUIRE(more.ApplyLabelMap(*a.data.labels()).ok());
    REQUIRE(a.data.Append(more).ok());
  }
  a.grown.clear();
  a.session->set_rows_available(a.data.rows());
}

SimCluster::~SimCluster() = default;

void SimCluster::AddAgent(Dataset data, const std::string& id, agent::SessionOptions session) {
  auto run = std::make_unique<AgentRun>();
  run->data = std::move(data);
  run->identity = "sim-" + id;
  run->link = std::make_unique<AgentEnd>(this, agents_.size());
  session.agent_id = id;
  if (session.software_version.empty()) session.software_version = "sim";
  run->session =
      std::make_unique<agent::AgentSession>(session, &run->data, &clock_, run->link.get());
  agents_.push_back(std::move(run));
}

void SimCluster::Post(size_t agent, bool to_coordinator, std::string_view bytes) {
  if (faults_.drop > 0 && rng_.UniformDouble() < faults_.drop) return;
  const int copies = faults_.duplicate > 0 && rng_.UniformDouble() < faults_.duplicate ? 2 : 1;
  for (int c = 0; c < copies; ++c) {
    const double delay = faults_.latency + faults_.jitter * rng_.UniformDouble();
    wire_.push(Message{clock_.Now() + delay, order_++, agent, to_coordinator, std::string(bytes)});
  }
}

void SimCluster::Deliver(double now) {
  while (!wire_.empty() && wire_.top().due <= now) {
    Message m = wire_.top();
    wire_.pop();
    AgentRun& a = *agents_[m.agent];
    if (m.to_coordinator) {
      driver_->Receive({a.identity, "10.0.0." + std::to_string(m.agent + 1), ""}, m.bytes.data(),
                       m.bytes.size());
    } else {
      (void)a.session->Receive(m.bytes.data(), m.bytes.size());
      if (std::optional<agent::ReceivedModel> r = a.session->TakeModel()) {
        Result<Model> model = ParseModel(r->bytes, "RoundEnd");
        REQUIRE_MESSAGE(model.ok(), model.status().ToString());
        a.model = *model;
        a.saved.push_back(r->round);
        a.session->ModelSaved(r->round);
      }
    }
  }
}

bool SimCluster::Run(double seconds, double step) {
  return RunUntil([] { return false; }, seconds, step) || driver_->done();
}

bool SimCluster::RunUntil(const std::function<bool()>& done, double seconds, double step) {
  const double end = clock_.Now() + seconds;
  bool busy = true;
  while (!driver_->done() && !done() && clock_.Now() < end) {
    // Nothing to compute: jump to the next thing that happens (a message due, a timer).
    double next = clock_.Now() + step;
    if (!busy) {
      next = std::max(
          next, std::min({wire_.empty() ? end : wire_.top().due, driver_->NextDeadline(), end}));
      for (auto& a : agents_) {
        next = std::min(next, std::max(clock_.Now() + step, a->session->NextDeadline()));
        if (a->session->state() == agent::AgentSession::State::kHello) {
          next = std::min(next, std::max(clock_.Now() + step, a->next_hello));
        }
      }
    }
    clock_.Set(next);
    const double now = clock_.Now();
    Deliver(now);
    driver_->Tick();
    for (auto& a : agents_) {
      agent::AgentSession& s = *a->session;
      if (s.state() == agent::AgentSession::State::kRefresh) {
        Refresh(*a);
        s.Rehello();
        a->next_hello = now + 0.5;
      } else if (s.state() == agent::AgentSession::State::kBetween && !a->grown.empty()) {
        Refresh(*a);
      }
      if (s.state() == agent::AgentSession::State::kHello && now >= a->next_hello) {
        s.SayHello();
        a->next_hello = now + 0.5;
      }
      s.Tick();
      if (s.has_work()) s.Work(step);
      s.TakeLog();
    }
    busy = false;
    for (auto& a : agents_) busy |= a->session->has_work();
  }
  return done();
}

}  // namespace edgetrain::testing
