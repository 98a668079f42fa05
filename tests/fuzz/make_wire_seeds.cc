// Writes the wire_decoder seed corpus: one message of every type, as wire::Encoder writes them,
// with small dense and sparse vectors. Run once (the output is committed):
//   build/fuzz/tests/fuzz/edgetrain_make_wire_seeds tests/fuzz/corpus/wire_decoder
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "edgetrain/wire.h"
#include "seed_file.h"

namespace {

using namespace edgetrain;

bool Write(const std::string& dir, const std::string& name, std::string_view bytes) {
  return fuzz::WriteSeed(dir, name, bytes);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = fuzz::SeedFolder(argc, argv);
  if (dir.empty()) return 2;
  wire::Encoder enc;
  const wire::Header agent{"line-1", 7, 3};
  const wire::Header coord{"line-1", 7, 4};
  // p = 9: 8 features and an intercept.
  const std::vector<double> dense = {0.5, -1.25, 0, 3, 0, 0, 1e-3, -2, 0.75};
  const std::vector<double> sparse = {0, 0, 0, 0.25, 0, 0, 0, 0, -4};
  const VectorView dense_vec = VectorView::Dense(dense.data(), 9);
  const VectorView sparse_vec = VectorView::Dense(sparse.data(), 9);  // written sparse
  bool ok = true;

  const std::string_view labels[] = {"-1", "1"};
  wire::HelloMsg hello;
  hello.rows = 1600;
  hello.dimension = 8;
  hello.labels = labels;
  hello.row_norm_sq_max = 1;
  hello.row_norm_sq_mean = 0.5;
  hello.data_fingerprint = 0x1234abcd;
  hello.software_version = "0.1.0";
  hello.incremental_models = true;
  hello.newton = true;
  ok &= Write(dir, "hello", enc.Encode({"line-1", 0, 1}, hello));
  // A Hello of another protocol version (the coordinator answers it with a Reject of that version).
  ok &= Write(dir, "hello-protocol-1", enc.Encode({"line-1", 0, 1, 1}, hello));

  wire::WelcomeMsg welcome;
  welcome.problem.reg.l1 = 1e-3;
  welcome.problem.intercept = true;
  welcome.dimension = 8;
  welcome.label_negative = "-1";
  welcome.label_positive = "1";
  welcome.heartbeat_ms = 1000;
  welcome.epoch = 2;
  welcome.version = 40;
  welcome.seed = 99;
  welcome.model = dense_vec;
  ok &= Write(dir, "welcome-dense", enc.Encode(coord, welcome));
  welcome.problem.reg.lower = 0;
  welcome.problem.reg.upper = 5;
  welcome.model = sparse_vec;
  ok &= Write(dir, "welcome-sparse-box", enc.Encode(coord, welcome));
  ok &= Write(dir, "reject",
              enc.Encode(coord, wire::RejectMsg{wire::RejectReason::kLabelsConflict,
                                                "label '3' is not one of the run's"}));
  ok &= Write(dir, "reject-protocol-1",
              enc.Encode({"line-1", 0, 0, 1},
                         wire::RejectMsg{wire::RejectReason::kProtocolMismatch,
                                         "this coordinator speaks protocol version 2"}));
  ok &= Write(dir, "epoch-begin", enc.Encode(coord, wire::EpochBeginMsg{3, 41, dense_vec}));
  wire::GradSumMsg grad_sum;
  grad_sum.epoch = 3;
  grad_sum.grad = dense_vec;
  grad_sum.loss_sum = 812.5;
  grad_sum.smoothness = Smoothness{1600, 0.25, 0.125, 0.1, 0.2, false};
  grad_sum.certified = true;
  grad_sum.dual.conj[0] = -300;
  grad_sum.dual.conj[1] = -250;
  grad_sum.dual.theta_z[0] = 12;
  grad_sum.dual.remainder[0] = 40;
  ok &= Write(dir, "grad-sum", enc.Encode(agent, grad_sum));
  ok &= Write(dir, "inner-loop",
              enc.Encode(coord, wire::InnerLoopMsg{3, 41, sparse_vec, 0.5, 3200, 4}));
  const std::vector<int32_t> support = {1, 4, 8};
  ok &=
      Write(dir, "curvature-request", enc.Encode(coord, wire::CurvatureRequestMsg{3, 41, support}));
  const std::vector<double> block = {2.0,  -0.5,  1.5,
                                     0.25, 0.125, 3.0};  // |S| = 3, packed lower triangle
  ok &= Write(dir, "curvature", enc.Encode(agent, wire::CurvatureMsg{3, 3, block, 1600, false}));
  ok &=
      Write(dir, "curvature-declined", enc.Encode(agent, wire::CurvatureMsg{3, 3, {}, 1600, true}));

  ModelUpdate update;
  auto encode_update = [&] {
    return enc.Encode(agent,
                      wire::UpdateMsg{3, 41, update.delta.View(), update.guarded.View(), 24});
  };
  update.Reset(9);
  update.delta.Push(8, -0.5);  // any order
  update.delta.Push(1, 0.125);
  update.guarded.Push(3, -0.25);
  ok &= Write(dir, "update-guarded", encode_update());
  update.Reset(9);
  for (int32_t j = 0; j < 9; ++j) update.delta.Push(j, 0.01 * (j + 1));
  ok &= Write(dir, "update-dense", encode_update());
  update.Reset(9);  // nothing to change: empty index and value vectors
  ok &= Write(dir, "update-empty", encode_update());

  ok &= Write(dir, "model", enc.Encode(coord, wire::ModelMsg{3, 42, sparse_vec, true, false}));
  ok &= Write(dir, "model-inner-done",
              enc.Encode(coord, wire::ModelMsg{3, 43, dense_vec, false, true}));
  const std::vector<double> zeros(9, 0.0);
  ok &= Write(dir, "model-zero",
              enc.Encode(coord, wire::ModelMsg{3, 44, VectorView::Dense(zeros.data(), 9), true}));
  const std::vector<int32_t> changed = {3, 0};  // an incremental answer: zeros included
  ok &= Write(
      dir, "model-incremental",
      enc.Encode(coord, wire::ModelMsg{3, 45, dense_vec, true, false, 43, 3, 0, 17}, changed));
  ok &= Write(dir, "heartbeat", enc.Encode(agent, wire::HeartbeatMsg{3, 43}));
  ok &= Write(dir, "bye", enc.Encode(agent, wire::ByeMsg{"SIGTERM"}));
  ok &= Write(dir, "stop", enc.Encode(coord, wire::StopMsg{"kkt", 9, 0.3125, 1200}));
  ok &= Write(dir, "heartbeat-between-rounds",
              enc.Encode(agent, wire::HeartbeatMsg{3, 43, 0, 1600, 2}));
  ok &= Write(dir, "round-begin", enc.Encode(coord, wire::RoundBeginMsg{3}));
  ok &= Write(dir, "round-end-no-model",
              enc.Encode(coord, wire::RoundEndMsg{2, 0, {}, "round 2 not published", 1000}));
  // A model file's bytes (the decoder only carries them; the agent's ParseModel checks them).
  ok &= Write(
      dir, "round-end",
      enc.Encode(coord, wire::RoundEndMsg{2, 2, "ETMD model bytes", "round 2 published", 200}));
  if (!ok) {
    std::fprintf(stderr, "could not write into %s\n", dir.c_str());
    return 1;
  }
  return 0;
}
