// No heap allocation in the steady-state loops of agent and coordinator (issue 6), counted with
// the test binaries' counting operator new (alloc_counter.cc): agents' SvrgWorker::Step, their
// PipelineReplica (own steps applied and summed, answers merged) and the encoding of their
// Update; the coordinator's decode (duplicate-index stamps included) and its
// UpdateAnswerer::AnswerUpdate (apply, the changes since the agent's last answer, the encoding of
// the answer); the agent's decode of the answer -- the functions the coordinator and the agent
// call. Two agents take turns with several Updates in flight each (answers arrive two turns
// late), so every answer carries the other agent's changes and some updates are not applied
// exactly (stopped at zero): every path of the incremental answer is exercised, and once all
// answers are in each agent's copy must equal the coordinator's model.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "edgetrain/coordinator_state.h"
#include "edgetrain/scorer.h"
#include "edgetrain/svrg_worker.h"
#include "edgetrain/update_answer.h"
#include "edgetrain/wire.h"
#include "test_util.h"

namespace edgetrain {
namespace {

constexpr int kLag = 2;             // answers arrive this many turns after their Update
constexpr int kStepsPerUpdate = 3;  // inner steps summed into one Update

struct SimAgent {
  SvrgWorker* worker;
  std::string id;
  wire::Encoder encoder;
  wire::Decoder decoder;
  PipelineReplica copy;
  ModelUpdate step, sent;
  uint64_t seq = 0;
  uint64_t session = 0;
  int64_t answered_to = 0;        // the coordinator's side of the agent (its Agent record)
  std::string answers[kLag + 1];  // a ring of answers in transit, capacity reserved once
  int head = 0, count = 0;
};

struct Counts {
  int64_t applied = 0, incremental = 0, whole = 0, not_exact = 0, copies_checked = 0;
};

// The oldest answer in transit to a, adopted as the agent adopts it. False on a failure.
bool Deliver(SimAgent& a, Counts& counts) {
  std::string& bytes = a.answers[(a.head + kLag + 1 - a.count) % (kLag + 1)];
  --a.count;
  Result<wire::Message> r = a.decoder.Decode(bytes.data(), bytes.size());
  if (!r.ok()) return false;
  const auto* model = std::get_if<wire::ModelMsg>(&r->body);
  if (model == nullptr) return false;
  const PipelineReplica::Adoption how = a.copy.Adopt(*model);
  counts.whole += how == PipelineReplica::Adoption::kWhole;
  return how == PipelineReplica::Adoption::kApplied || how == PipelineReplica::Adoption::kWhole;
}

// One Update of kStepsPerUpdate steps from agent a through the coordinator's end of the exchange
// (UpdateAnswerer, as the coordinator's driver calls it); its answer joins a's transit ring.
bool Turn(SimAgent& a, CoordinatorState& state, wire::Decoder& coordinator_decoder,
          wire::Encoder& coordinator_encoder, UpdateAnswerer& answerer, Counts& counts) {
  for (int s = 0; s < kStepsPerUpdate; ++s) {
    a.worker->Step(a.copy.View(), &a.step);
    a.copy.ApplyStep(a.step);
  }
  const int64_t steps = a.copy.TakePending(&a.sent);
  const std::string_view sent =
      a.encoder.Encode({a.id, a.session, ++a.seq},
                       wire::UpdateMsg{state.epoch(), a.copy.version(), a.sent.delta.View(),
                                       a.sent.guarded.View(), steps});
  a.copy.InFlight(a.seq, steps, a.sent, sent, 0);
  Result<wire::Message> m = coordinator_decoder.Decode(sent.data(), sent.size());
  if (!m.ok()) return false;
  const auto* u = std::get_if<wire::UpdateMsg>(&m->body);
  if (u == nullptr) return false;
  const UpdateAnswer answer = answerer.AnswerUpdate(
      &state, *u, {{a.id, a.session, m->header.seq}, m->header.seq, true, a.session, a.answered_to},
      16, &coordinator_encoder);
  a.answered_to = answer.version;
  const bool applied = answer.verdict == UpdateVerdict::kApplied;
  counts.applied += applied;
  counts.incremental += answer.incremental;
  counts.not_exact += applied && !state.last_update_exact();
  a.answers[a.head].assign(answer.bytes.data(), answer.bytes.size());
  a.head = (a.head + 1) % (kLag + 1);
  ++a.count;
  return a.count <= kLag || Deliver(a, counts);
}

// Once every answer is in, the copy is the coordinator's model (up to rounding: the agent adds
// the same changes in another order).
bool SameModel(const SimAgent& a, const CoordinatorState& state) {
  const auto& x = state.x();
  for (size_t j = 0; j < x.size(); ++j) {
    if (std::fabs(a.copy.x()[j] - x[j]) > 1e-12 * (1 + std::fabs(x[j]))) return false;
  }
  return a.copy.version() == state.version();
}

TEST_CASE("agent steps and coordinator update applications do not allocate once warm") {
  const Dataset data = testing::LoadLibsvm(testing::SourcePath("data/spam/train.svm"));
  ProblemSpec spec;
  spec.reg.l1 = 1e-3;
  SvrgWorker w0(&data, spec, 11), w1(&data, spec, 12);
  CoordinatorState state(spec, data.dim());
  const int64_t p = state.model_size();
  SimAgent agents[2];
  agents[0].worker = &w0;
  agents[1].worker = &w1;
  agents[0].id = "line-0-with-a-long-device-name";  // longer than std::string's inline buffer
  agents[1].id = "line-1-with-a-long-device-name";
  wire::Decoder coordinator_decoder;
  coordinator_decoder.set_model_size(p);
  wire::Encoder coordinator_encoder;
  UpdateAnswerer answerer(p);
  for (int k = 0; k < 2; ++k) {
    SimAgent& a = agents[k];
    a.session = static_cast<uint64_t>(k + 1);
    a.decoder.set_model_size(p);
    a.copy.Reset(p);
    a.step.Reset(p);
    a.sent.Reset(p);
    for (std::string& s : a.answers) s.reserve(static_cast<size_t>(16 * p + 4096));
  }
  std::vector<double> g(p), g1(p);
  Counts counts;
  constexpr int kTurns = 1000;
  for (int epoch = 0; epoch < 4; ++epoch) {
    state.BeginEpoch();
    double loss0 = 0, loss1 = 0;
    w0.ComputeSnapshot(state.snapshot().data(), g.data(), &loss0);
    w1.ComputeSnapshot(state.snapshot().data(), g1.data(), &loss1);
    state.AddGradSum(VectorView::Dense(g.data(), p), loss0, data.rows());
    state.AddGradSum(VectorView::Dense(g1.data(), p), loss1, data.rows());
    state.FinishGradientPhase();
    state.BeginInnerPhase(2 * kTurns * kStepsPerUpdate);
    for (SimAgent& a : agents) {
      a.worker->BeginEpoch(state.mu().data(), 4.0, 2);
      // EpochBegin carries the whole model.
      a.copy.Assign(VectorView::Dense(state.x().data(), p), state.version());
      a.answered_to = state.version();
    }
    // Warm-up (the first two epochs, and the first turns of every epoch): buffers reach their
    // size (an epoch's first updates are its largest: the drift set is widest there).
    const int warm = epoch < 2 ? 2 * kTurns : 50;
    bool ok = true;
    for (int t = 0; t < warm && ok; ++t) {
      ok = Turn(agents[t % 2], state, coordinator_decoder, coordinator_encoder, answerer, counts);
    }
    REQUIRE(ok);
    if (epoch >= 2) {
      const long before = testing::AllocationCount();
      int failed_at = -1;
      for (int t = warm; t < 2 * kTurns; ++t) {
        if (!Turn(agents[t % 2], state, coordinator_decoder, coordinator_encoder, answerer,
                  counts)) {
          failed_at = t;
          break;
        }
      }
      const long allocations = testing::AllocationCount() - before;
      CHECK(failed_at == -1);
      CHECK(allocations == 0);
    }
    // The epoch's last answers arrive; then every copy is the coordinator's model.
    for (SimAgent& a : agents) {
      while (a.count > 0) REQUIRE(Deliver(a, counts));
    }
    // The first agent's last answer predates the second agent's last update: one more answer
    // (an empty update) brings it up to date.
    for (SimAgent& a : agents) {
      a.copy.TakePending(&a.sent);
      REQUIRE(Turn(a, state, coordinator_decoder, coordinator_encoder, answerer, counts));
      while (a.count > 0) REQUIRE(Deliver(a, counts));
    }
    REQUIRE(Turn(agents[0], state, coordinator_decoder, coordinator_encoder, answerer, counts));
    while (agents[0].count > 0) REQUIRE(Deliver(agents[0], counts));
    CHECK(SameModel(agents[0], state));
    ++counts.copies_checked;
  }
  INFO("applied " << counts.applied << ", incremental " << counts.incremental << ", whole "
                  << counts.whole << ", not exact " << counts.not_exact);
  CHECK(counts.incremental > 0);
  CHECK(counts.whole > 0);      // the other agent's changes outgrew a sparse answer now and then
  CHECK(counts.not_exact > 0);  // the stop-at-zero path was taken too
  CHECK(counts.copies_checked == 4);
}

}  // namespace
}  // namespace edgetrain

namespace edgetrain {
namespace {

// score's steady state: rows fed in pieces that split lines anywhere, parsed, scored and
// formatted into an output buffer that is flushed (cleared) as the command does: once warm, no
// heap allocation per row, for libsvm and for CSV with an id column and missing cells.
TEST_CASE("StreamScorer scores warm rows without allocating") {
  struct Case {
    std::string header, row;
    ReadOptions read;
    Model model;
  };
  Model m;
  m.task = Task::kClassification;
  m.labels = LabelMap{"-1", "1"};
  m.dim = 3;
  m.weights = {0.5, -1, 2};
  Model csv = m;
  csv.feature_names = {"a", "b", "c"};
  csv.label_column = "y";
  csv.missing = MissingPolicy::kMean;
  csv.fill_values = {1, 2, 3};
  ReadOptions with_id;
  with_id.id_columns = {"id"};
  with_id.format = DataFormat::kCsv;
  const std::vector<Case> cases = {
      {"", "1 1:0.25 3:-2\n-1 2:1.5\n+1 2:1 3:0.5\n", ReadOptions{}, m},
      {"id,a,b,c\n", "p1,0.5,NA,2\np2,,1,\"3\"\n", with_id, csv}};
  for (const Case& c : cases) {
    StreamScorer scorer("rows", c.read, std::make_shared<const Model>(c.model));
    std::string text = c.header;
    for (int k = 0; k < 200; ++k) text += c.row;
    std::string out;
    out.reserve(1 << 16);
    // Warm up: the header, and capacity for every buffer.
    REQUIRE(scorer.Feed(text, &out).ok());
    out.clear();
    std::string body;
    for (int k = 0; k < 200; ++k) body += c.row;
    const long before = testing::AllocationCount();
    for (int round = 0; round < 20; ++round) {
      // Pieces of 7 bytes: lines are split everywhere.
      for (size_t at = 0; at < body.size(); at += 7) {
        if (!scorer.Feed(std::string_view(body).substr(at, 7), &out).ok()) break;
      }
      out.clear();
    }
    const long allocations = testing::AllocationCount() - before;
    CHECK(allocations == 0);
    CHECK(scorer.rows() > 4000);
  }
}

}  // namespace
}  // namespace edgetrain
