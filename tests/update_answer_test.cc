// UpdateAnswerer's answers, message by message (update_answer.h): what an agent is sent back for
// a dense Update, the shape of its lazy steps' flushes and of every update while a model is dense.
#include "edgetrain/update_answer.h"

#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "edgetrain/coordinator_state.h"
#include "edgetrain/wire.h"

namespace edgetrain {
namespace {

constexpr int32_t kDim = 1000;

struct Rig {
  Rig() : state(ProblemSpec{}, kDim), answerer(kDim) {
    std::vector<double> g(kDim, 0.0);
    state.BeginEpoch();
    state.AddGradSum(VectorView::Dense(g.data(), kDim), 0.0, 10);
    state.FinishGradientPhase();
    state.BeginInnerPhase(1000);
  }
  // An Update from `owner` (its previous answer brought it to `since`); the decoded answer.
  wire::ModelMsg Send(uint64_t owner, int64_t since, const VectorView& delta, UpdateAnswer* out) {
    wire::UpdateMsg u{state.epoch(), since, delta, VectorView{}, 1};
    *out = answerer.AnswerUpdate(&state, u, {{"a", owner, 1}, ++seq, true, owner, since, 0}, 64,
                                 &encoder);
    decoder.set_model_size(kDim);
    Result<wire::Message> m = decoder.Decode(out->bytes.data(), out->bytes.size());
    REQUIRE(m.ok());
    const auto* model = std::get_if<wire::ModelMsg>(&m->body);
    REQUIRE(model != nullptr);
    return *model;
  }
  CoordinatorState state;
  UpdateAnswerer answerer;
  wire::Encoder encoder;
  wire::Decoder decoder;
  uint64_t seq = 0;
};

TEST_CASE("a dense Update applied exactly is answered with the others' changes, not the model") {
  Rig rig;
  std::vector<double> dense(kDim, 0.25);
  UpdateAnswer answer;
  // Agent 1's dense update, nothing else happened: an empty incremental answer.
  wire::ModelMsg m = rig.Send(1, 0, VectorView::Dense(dense.data(), kDim), &answer);
  CHECK(answer.verdict == UpdateVerdict::kApplied);
  CHECK(answer.incremental);
  CHECK(m.since == 0);
  CHECK(m.x.count == 0);
  CHECK(answer.bytes.size() < 400);  // the whole model would be 8 kB
  // Agent 2 changes three coordinates; agent 1's next dense update gets exactly those back.
  const int32_t index[] = {3, 500, 999};
  const double value[] = {1.0, -2.0, 0.5};
  const VectorView sparse{index, value, 3, kDim};
  UpdateAnswer second;
  rig.Send(2, 0, sparse, &second);
  CHECK(!second.incremental);  // agent 2's range holds agent 1's dense update: the whole model
  m = rig.Send(1, answer.version, VectorView::Dense(dense.data(), kDim), &answer);
  REQUIRE(answer.incremental);
  REQUIRE(m.x.count == 3);
  for (int k = 0; k < 3; ++k) {
    CHECK(m.x.index[k] == index[k]);
    CHECK(m.x.value[k] == value[k]);
  }
}

TEST_CASE("a dense Update that was not applied as sent gets the whole model") {
  Rig rig;
  std::vector<double> dense(kDim, 0.25);
  UpdateAnswer answer;
  rig.Send(1, 0, VectorView::Dense(dense.data(), kDim), &answer);
  // Agent 2's dense update, stale by agent 1's: damped or stopped at zero it would need a
  // correction the change log cannot give; refused as too stale here (64 versions allowed).
  for (int k = 0; k < 70; ++k)
    rig.Send(1, answer.version, VectorView::Dense(dense.data(), kDim), &answer);
  UpdateAnswer stale;
  wire::ModelMsg m = rig.Send(2, 0, VectorView::Dense(dense.data(), kDim), &stale);
  CHECK(stale.verdict == UpdateVerdict::kTooStale);
  CHECK(!stale.incremental);
  CHECK(m.since == -1);
  CHECK(m.x.count == kDim);
}

}  // namespace
}  // namespace edgetrain
