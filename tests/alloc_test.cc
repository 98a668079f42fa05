// No heap allocation in the steady-state loops of agent and coordinator (issue 6), counted with
// the test binaries' counting operator new (alloc_counter.cc): agents' SvrgWorker::Step and the
// encoding of their Update; the coordinator's decode (duplicate-index stamps included) and its
// UpdateAnswerer::AnswerUpdate (apply, change set, the encoding of the answer); the agent's decode
// of the answer and AdoptAnswer -- the functions the coordinator and the agent call. Two agents
// take turns, so updates are stale by one version, answers carry the other agent's changes, and
// some updates are not applied exactly (stopped at zero): every path of the incremental answer is
// exercised, and each answer must bring the agent's copy to the coordinator's model bit for bit.
#include <cstring>
#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "edgetrain/coordinator_state.h"
#include "edgetrain/model_replica.h"
#include "edgetrain/scorer.h"
#include "edgetrain/svrg_worker.h"
#include "edgetrain/update_answer.h"
#include "edgetrain/wire.h"
#include "test_util.h"

namespace edgetrain {
namespace {

struct SimAgent {
  SvrgWorker* worker;
  std::string id;
  wire::Encoder encoder;
  wire::Decoder decoder;
  ModelReplica model;
  ModelUpdate update;
  int64_t version = 0;
  uint64_t seq = 0;
};

struct Counts {
  int64_t applied = 0, incremental = 0, whole = 0, own_exact = 0, not_exact = 0, copies_checked = 0;
};

// One update from agent a through the coordinator's end of the exchange (UpdateAnswerer, as the
// coordinator calls it) and back through the agent's (AdoptAnswer, as the agent calls it).
// Returns false on a failure (reported by the caller, outside the counted region).
bool RoundTrip(SimAgent& a, CoordinatorState& state, wire::Decoder& coordinator_decoder,
               wire::Encoder& coordinator_encoder, UpdateAnswerer& answerer, Counts& counts,
               bool check_copy) {
  a.worker->Step(a.model.View(), &a.update);
  const std::string_view sent = a.encoder.Encode(
      {a.id, 1, ++a.seq},
      wire::UpdateMsg{state.epoch(), a.version, a.update.delta.View(), a.update.guarded.View()});

  Result<wire::Message> m = coordinator_decoder.Decode(sent.data(), sent.size());
  if (!m.ok()) return false;
  const auto* u = std::get_if<wire::UpdateMsg>(&m->body);
  if (u == nullptr) return false;
  const UpdateAnswer answer = answerer.AnswerUpdate(
      &state, *u, {{a.id, 1, m->header.seq}, m->header.seq, /*incremental=*/true}, 4,
      &coordinator_encoder);
  const bool applied = answer.verdict == UpdateVerdict::kApplied;
  counts.applied += applied;
  counts.incremental += answer.incremental;
  counts.whole += !answer.incremental;

  Result<wire::Message> r = a.decoder.Decode(answer.bytes.data(), answer.bytes.size());
  if (!r.ok()) return false;
  const auto* model = std::get_if<wire::ModelMsg>(&r->body);
  if (model == nullptr || model->update_seq != a.seq || model->applied != applied) return false;
  if (answer.incremental) {  // applied but not exact: the stop-at-zero path
    counts.own_exact += model->own_exact;
    counts.not_exact += applied && !model->own_exact;
  }
  if (!AdoptAnswer(*model, {true, a.seq, &a.update}, &a.model, &a.version)) return false;
  if (check_copy) {
    ++counts.copies_checked;
    const auto& x = state.x();
    if (a.version != state.version() ||
        std::memcmp(a.model.x().data(), x.data(), x.size() * sizeof(double)) != 0) {
      return false;
    }
  }
  return true;
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
  for (SimAgent& a : agents) {
    a.decoder.set_model_size(p);
    a.model.Reset(p);
    a.update.Reset(p);
  }
  std::vector<double> g(p), g1(p);
  Counts counts;
  constexpr int kSteps = 1500;
  for (int epoch = 0; epoch < 3; ++epoch) {
    state.BeginEpoch();
    double loss0 = 0, loss1 = 0;
    w0.ComputeSnapshot(state.snapshot().data(), g.data(), &loss0);
    w1.ComputeSnapshot(state.snapshot().data(), g1.data(), &loss1);
    state.AddGradSum(VectorView::Dense(g.data(), p), loss0, data.rows());
    state.AddGradSum(VectorView::Dense(g1.data(), p), loss1, data.rows());
    state.FinishGradientPhase();
    state.BeginInnerPhase(2 * kSteps);
    for (SimAgent& a : agents) {
      a.worker->BeginEpoch(state.mu().data(), 4.0, 2);
      a.model.Assign(VectorView::Dense(state.x().data(), p));  // EpochBegin carries the whole model
      a.version = state.version();
    }
    // Warm-up (the first epoch, and the first steps of every epoch): buffers reach their size.
    const int warm = epoch == 0 ? 2 * kSteps : 50;
    bool ok = true;
    for (int t = 0; t < warm && ok; ++t) {
      ok = RoundTrip(agents[t % 2], state, coordinator_decoder, coordinator_encoder, answerer,
                     counts, true);
    }
    REQUIRE(ok);
    if (epoch == 0) continue;
    const long before = testing::AllocationCount();
    int failed_at = -1;
    for (int t = warm; t < 2 * kSteps; ++t) {
      if (!RoundTrip(agents[t % 2], state, coordinator_decoder, coordinator_encoder, answerer,
                     counts, t % 97 == 0)) {
        failed_at = t;
        break;
      }
    }
    const long allocations = testing::AllocationCount() - before;
    CHECK(failed_at == -1);
    CHECK(allocations == 0);
  }
  INFO("applied " << counts.applied << ", incremental " << counts.incremental << ", whole "
                  << counts.whole << ", own exact " << counts.own_exact << ", not exact "
                  << counts.not_exact);
  CHECK(counts.incremental > counts.whole);
  CHECK(counts.own_exact > 0);
  CHECK(counts.not_exact > 0);  // the stop-at-zero path was taken too
  CHECK(counts.copies_checked > 0);
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
