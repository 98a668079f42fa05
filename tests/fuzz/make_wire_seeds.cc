// Writes the wire_decoder seed corpus: one message of every type, as wire::Encoder writes them,
// with small dense and sparse vectors. Run once (the output is committed):
//   build/fuzz/tests/fuzz/edgetrain_make_wire_seeds tests/fuzz/corpus/wire_decoder
#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "edgetrain/wire.h"

namespace {

using namespace edgetrain;

bool Write(const std::string& dir, const std::string& name, std::string_view bytes) {
  std::ofstream out(dir + "/" + name, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  wire::Encoder enc;
  const wire::Header agent{"line-1", 7, 3};
  const wire::Header coord{"line-1", 7, 4};
  // p = 9: 8 features and an intercept.
  const std::vector<double> dense = {0.5, -1.25, 0, 3, 0, 0, 1e-3, -2, 0.75};
  const std::vector<double> sparse = {0, 0, 0, 0.25, 0, 0, 0, 0, -4};
  const wire::DenseWithSupport dense_vec{dense.data(), 9, nullptr, 0};
  const wire::DenseWithSupport sparse_vec{sparse.data(), 9, nullptr, 0};
  bool ok = true;

  wire::HelloInfo hello;
  hello.rows = 1600;
  hello.dimension = 8;
  hello.labels = {"-1", "1"};
  hello.row_norm_sq_max = 1;
  hello.row_norm_sq_mean = 0.5;
  hello.data_fingerprint = 0x1234abcd;
  hello.software_version = "0.1.0";
  ok &= Write(dir, "hello", enc.Hello({"line-1", 0, 1}, hello));

  wire::WelcomeInfo welcome;
  welcome.problem.reg.l1 = 1e-3;
  welcome.problem.intercept = true;
  welcome.dimension = 8;
  welcome.label_negative = "-1";
  welcome.label_positive = "1";
  welcome.heartbeat_ms = 1000;
  welcome.epoch = 2;
  welcome.version = 40;
  welcome.seed = 99;
  ok &= Write(dir, "welcome-dense", enc.Welcome(coord, welcome, dense_vec));
  welcome.problem.reg.lower = 0;
  welcome.problem.reg.upper = 5;
  ok &= Write(dir, "welcome-sparse-box", enc.Welcome(coord, welcome, sparse_vec));
  ok &= Write(dir, "reject",
              enc.Reject(coord, wire::fb::RejectReason::LabelsConflict,
                         "label '3' is not one of the run's"));
  ok &= Write(dir, "epoch-begin", enc.EpochBegin(coord, 3, 41, dense_vec));
  Smoothness smooth;
  smooth.rows = 1600;
  smooth.l_max = 0.25;
  smooth.l_avg = 0.125;
  smooth.l_full = 0.1;
  smooth.l_q = 0.2;
  ok &= Write(dir, "grad-sum", enc.GradSum(agent, 3, dense_vec, 812.5, 1600, smooth));
  ok &= Write(dir, "snapshot", enc.Snapshot(coord, 3, 41, sparse_vec, 0.5, 3200, 4));
  ok &= Write(dir, "snapshot-newton",
              enc.Snapshot(coord, 3, 41, sparse_vec, 0.5, 3200, 4, {1, 4, 8}));
  const std::vector<double> block = {2.0,  -0.5,  1.5,
                                     0.25, 0.125, 3.0};  // |S| = 3, packed lower triangle
  ok &= Write(dir, "curvature", enc.Curvature(agent, 3, 3, block.data(), 1600, false));
  ok &= Write(dir, "curvature-declined", enc.Curvature(agent, 3, 3, nullptr, 1600, true));

  ModelUpdate update;
  update.Reset(9);
  update.delta.Push(1, 0.125);
  update.delta.Push(8, -0.5);
  update.guarded.Push(3, -0.25);
  ok &= Write(dir, "update-guarded", enc.Update(agent, 3, 41, update));
  update.Reset(9);
  for (int32_t j = 0; j < 9; ++j) update.delta.Push(j, 0.01 * (j + 1));
  ok &= Write(dir, "update-dense", enc.Update(agent, 3, 41, update));
  update.Reset(9);  // nothing to change: empty index and value vectors
  ok &= Write(dir, "update-empty", enc.Update(agent, 3, 41, update));

  ok &= Write(dir, "model", enc.Model(coord, 3, 42, sparse_vec, true, false));
  ok &= Write(dir, "model-inner-done", enc.Model(coord, 3, 43, dense_vec, false, true));
  const std::vector<double> zeros(9, 0.0);
  ok &=
      Write(dir, "model-zero", enc.Model(coord, 3, 44, {zeros.data(), 9, nullptr, 0}, true, false));
  ok &= Write(dir, "heartbeat", enc.Heartbeat(agent, 3, 43));
  ok &= Write(dir, "bye", enc.Bye(agent, "SIGTERM"));
  ok &= Write(dir, "stop", enc.Stop(coord, "kkt", 9, 0.3125));
  if (!ok) {
    std::fprintf(stderr, "could not write into %s\n", dir.c_str());
    return 1;
  }
  return 0;
}
