#include "driver_harness.h"

#include "doctest/doctest.h"
#include "edgetrain/problem.h"
#include "edgetrain/row_sampler.h"
#include "edgetrain/step_size.h"

namespace edgetrain::testing {

int FakeAgent::next_connection_ = 1;

std::deque<std::string> ScriptedOutbox::Take(const std::string& identity) {
  std::deque<std::string> out;
  out.swap(queues_[identity]);
  return out;
}

FakeAgent::FakeAgent(coordinator::Driver* driver, ScriptedOutbox* outbox, std::string agent_id,
                     std::string address, std::string key)
    : driver_(driver),
      outbox_(outbox),
      identity_("conn-" + std::to_string(next_connection_++)),
      agent_id_(std::move(agent_id)),
      address_(std::move(address)),
      key_(std::move(key)) {}

void FakeAgent::Hello(int64_t rows, int32_t dimension, std::vector<std::string> labels, bool newton,
                      Task task) {
  label_storage_ = std::move(labels);
  labels_.assign(label_storage_.begin(), label_storage_.end());
  wire::HelloMsg h;
  h.rows = rows;
  h.dimension = dimension;
  h.task = task;
  h.labels = labels_;
  h.row_norm_sq_max = 1;
  h.row_norm_sq_mean = 1;
  h.software_version = "test";
  h.incremental_models = true;
  h.newton = newton;
  session_ = 0;
  seq_ = 0;
  Deliver(encoder_.Encode(wire::Header{agent_id_, 0, ++seq_}, h));
}

void FakeAgent::Deliver(std::string_view bytes) {
  last_.assign(bytes.data(), bytes.size());
  const coordinator::Peer peer{identity_, address_, key_};
  driver_->Receive(peer, last_.data(), last_.size());
}

std::vector<Received> FakeAgent::Inbox() {
  std::vector<Received> out;
  for (std::string& bytes : outbox_->Take(identity_)) {
    Received r;
    r.bytes = std::move(bytes);
    // The decoder checks vectors against the model size once the agent knows it.
    Result<wire::Message> m = decoder_.Decode(r.bytes.data(), r.bytes.size());
    REQUIRE_MESSAGE(m.ok(), m.status().ToString());
    if (const auto* w = std::get_if<wire::WelcomeMsg>(&m->body)) {
      session_ = m->header.session;
      decoder_.set_model_size(w->problem.ModelSize(w->dimension));
    }
    out.push_back(std::move(r));
  }
  // Decode again into each entry's own buffer (the first pass may point into decoder scratch).
  for (Received& r : out) {
    Result<wire::Message> m = decoder_.Decode(r.bytes.data(), r.bytes.size());
    REQUIRE(m.ok());
    r.message = *m;
  }
  return out;
}

coordinator::CoordinatorOptions DriverRig::DefaultOptions() {
  coordinator::CoordinatorOptions o;
  o.insecure = true;
  o.quiet = true;
  o.heartbeat_interval = 1;
  o.heartbeat_patience = 10;
  o.gradient_timeout = 5;
  o.stall_timeout = 5;
  o.problem.reg.l1 = 1e-3;
  return o;
}

DriverRig::DriverRig(coordinator::CoordinatorOptions o) : options(std::move(o)) {
  driver = std::make_unique<coordinator::Driver>(options, &clock, &outbox, &events);
  driver->Begin();
}

void DriverRig::Run(double seconds, double step) {
  for (double t = 0; t < seconds && !driver->done(); t += step) {
    clock.Advance(step);
    driver->Tick();
  }
}

std::unique_ptr<FakeAgent> DriverRig::Agent(const std::string& id, const std::string& address,
                                            const std::string& key) {
  return std::make_unique<FakeAgent>(driver.get(), &outbox, id, address, key);
}

wire::GradSumMsg GradSumOf(const Dataset& shard, const ProblemSpec& spec, const VectorView& x,
                           int64_t epoch, std::vector<double>* grad_storage,
                           DualSums* dual_storage) {
  const int64_t p = spec.ModelSize(shard.dim());
  std::vector<double> dense(p, 0.0);
  if (x.dense()) {
    dense.assign(x.value, x.value + p);
  } else {
    for (int64_t k = 0; k < x.count; ++k) dense[x.index[k]] = x.value[k];
  }
  grad_storage->assign(p, 0.0);
  wire::GradSumMsg g;
  g.epoch = epoch;
  LossGradientSum(shard, spec, dense.data(), grad_storage->data(), &g.loss_sum, nullptr,
                  dual_storage);
  g.grad = VectorView::Dense(grad_storage->data(), p);
  g.dual = dual_storage->scalars;
  if (!dual_storage->aux.empty()) g.aux = VectorView::Dense(dual_storage->aux.data(), p);
  g.certified = true;
  const RowSampler sampler = RowSampler::Choose(RowSmoothness(shard, spec));
  g.smoothness = EstimateSmoothness(shard, spec, sampler);
  return g;
}

}  // namespace edgetrain::testing
