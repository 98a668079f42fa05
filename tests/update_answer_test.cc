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

// The coordinator's x_j + v rounds: (1 + 0.001) - 1 is not 0.001. The agent adds v itself, so the
// difference is rounding on both sides and is not sent back: the answer to an update applied as
// sent is empty, not as long as the update.
TEST_CASE("a sparse Update applied as sent gets no rounding corrections back") {
  Rig rig;
  const int32_t index[] = {1, 2, 3, 4};
  const double ones[] = {1.0, 1.0, 1.0, 1.0};
  const double small[] = {1e-3, -1e-3, 3e-7, 0.1};
  REQUIRE((1.0 + 1e-3) - 1.0 != 1e-3);
  UpdateAnswer answer;
  rig.Send(1, 0, VectorView{index, ones, 4, kDim}, &answer);
  wire::ModelMsg m = rig.Send(1, answer.version, VectorView{index, small, 4, kDim}, &answer);
  CHECK(answer.verdict == UpdateVerdict::kApplied);
  REQUIRE(answer.incremental);
  CHECK(m.x.count == 0);
  // A real correction still goes back: a guarded entry at a coordinate already zero is refused.
  const int32_t zero_index[] = {7};
  const double toward_zero[] = {-0.5};
  const VectorView no_delta{nullptr, nullptr, 0, kDim};
  wire::UpdateMsg u{rig.state.epoch(), answer.version, no_delta,
                    VectorView{zero_index, toward_zero, 1, kDim}, 1};
  const UpdateAnswer guarded = rig.answerer.AnswerUpdate(
      &rig.state, u, {{"a", 1, 1}, ++rig.seq, true, 1, answer.version, 0}, 64, &rig.encoder);
  Result<wire::Message> decoded = rig.decoder.Decode(guarded.bytes.data(), guarded.bytes.size());
  REQUIRE(decoded.ok());
  CHECK(guarded.verdict == UpdateVerdict::kApplied);
  CHECK(rig.state.guarded_refused() == 1);
  const auto* back = std::get_if<wire::ModelMsg>(&decoded->body);
  REQUIRE(back != nullptr);
  REQUIRE(back->x.count == 1);
  CHECK(back->x.index[0] == 7);
  CHECK(back->x.value[0] == 0.5);  // undo the agent's own -0.5
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
