// The wire codec: every message round-trips; vectors travel sparse when smaller; malformed,
// truncated, misaligned, wrong-dimension and non-finite buffers are refused with a reason.
#include "edgetrain/wire.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "edgetrain/rng.h"

namespace edgetrain::wire {
namespace {

const Header kHeader{"plant-3/press-7", 42, 9};

// Decodes a copy placed at an 8-byte aligned address plus `offset`.
Result<DecodedMessage> DecodeAt(Decoder& d, std::string_view bytes, size_t offset,
                                std::vector<uint64_t>* storage) {
  storage->assign(bytes.size() / 8 + 2, 0);
  char* base = reinterpret_cast<char*>(storage->data()) + offset;
  std::memcpy(base, bytes.data(), bytes.size());
  return d.Decode(base, bytes.size());
}

TEST_CASE("every message round-trips with its header") {
  Encoder e;
  Decoder d;
  d.set_model_size(5);
  std::vector<uint64_t> storage;
  const std::vector<double> x = {0, 1.5, 0, 0, -2};
  const std::vector<int32_t> support = {1, 4};
  const DenseWithSupport xs{x.data(), 5, support.data(), 2};

  Result<DecodedMessage> m = DecodeAt(d, e.Model(kHeader, 3, 17, xs, true, false), 0, &storage);
  REQUIRE_MESSAGE(m.ok(), m.status().ToString());
  CHECK(m->type == fb::Message::Model);
  CHECK(m->agent_id == "plant-3/press-7");
  CHECK(m->session == 42);
  CHECK(m->seq == 9);
  const auto* model = m->As<fb::Model>();
  CHECK(model->epoch() == 3);
  CHECK(model->version() == 17);
  CHECK(model->applied());
  const VectorView v = ViewOf(model->x());
  CHECK_FALSE(v.dense());  // 2 of 5 non-zero: sparse is smaller
  REQUIRE(v.count == 2);
  CHECK(v.index[1] == 4);
  CHECK(v.value[1] == -2);

  HelloInfo hello;
  hello.rows = 800;
  hello.dimension = 10445;
  hello.labels = {"-1", "1"};
  hello.row_norm_sq_max = 1.0;
  hello.software_version = "0.1.0";
  Decoder fresh;  // no model size yet
  m = DecodeAt(fresh, e.Hello({"a", 0, 1}, hello), 0, &storage);
  REQUIRE(m.ok());
  CHECK(m->As<fb::Hello>()->rows() == 800);
  CHECK(m->As<fb::Hello>()->labels()->size() == 2);

  ModelUpdate u;
  u.Reset(5);
  u.delta.Push(1, 0.25);
  u.guarded.Push(4, 2.0);
  m = DecodeAt(d, e.Update(kHeader, 3, 16, u), 0, &storage);
  REQUIRE(m.ok());
  CHECK(ViewOf(m->As<fb::Update>()->delta()).count == 1);
  CHECK(ViewOf(m->As<fb::Update>()->guarded()).value[0] == 2.0);

  const std::vector<double> dense = {1, 2, 3, 4, 5};
  m = DecodeAt(d, e.Snapshot(kHeader, 3, 16, {dense.data(), 5, nullptr, 0}, 0.5, 100, 4), 0,
               &storage);
  REQUIRE(m.ok());
  CHECK(ViewOf(m->As<fb::Snapshot>()->mu()).dense());
  CHECK(m->As<fb::Snapshot>()->inner_steps() == 100);

  // (Each encoded view lives until the encoder's next call, so decode one at a time.)
  CHECK(DecodeAt(d, e.Heartbeat(kHeader, 1, 2), 0, &storage).ok());
  CHECK(DecodeAt(d, e.Bye(kHeader, "bye"), 0, &storage).ok());
  CHECK(DecodeAt(d, e.Stop(kHeader, "kkt", 4, 0.3), 0, &storage).ok());
  CHECK(DecodeAt(d, e.Reject(kHeader, fb::RejectReason::TaskMismatch, "no"), 0, &storage).ok());
  CHECK(DecodeAt(d, e.EpochBegin(kHeader, 4, 20, xs), 0, &storage).ok());
}

TEST_CASE("sparse when smaller: 12 bytes an entry against 8 dense") {
  Encoder e;
  const int64_t p = 3000;
  std::vector<double> x(p, 0.0);
  for (int64_t j = 0; j < 1999; ++j) x[j] = 1.0;  // 1999 * 12 < 3000 * 8: sparse
  const size_t sparse = e.Model(kHeader, 1, 1, {x.data(), p, nullptr, 0}, true, false).size();
  x[1999] = 1.0;  // 2000 * 12 == 3000 * 8: dense
  const size_t dense = e.Model(kHeader, 1, 1, {x.data(), p, nullptr, 0}, true, false).size();
  CHECK(sparse < 1999 * 12 + 200);
  CHECK(dense < 3000 * 8 + 200);
  CHECK(dense >= 3000 * 8);
  Decoder d;
  d.set_model_size(p);
  std::vector<uint64_t> storage;
  Result<DecodedMessage> m =
      DecodeAt(d, e.Model(kHeader, 1, 1, {x.data(), p, nullptr, 0}, true, false), 0, &storage);
  REQUIRE(m.ok());
  CHECK(ViewOf(m->As<fb::Model>()->x()).dense());
}

TEST_CASE("a misaligned buffer (as ZeroMQ gives on 32-bit ARM) decodes the same") {
  Encoder e;
  Decoder d;
  d.set_model_size(4);
  const std::vector<double> g = {0.5, -1, 2, 0.25};
  const std::string bytes(
      e.GradSum(kHeader, 2, {g.data(), 4, nullptr, 0}, 1.5, 10, Smoothness{10, 1, 1, 1, 1, false}));
  std::vector<uint64_t> storage;
  for (size_t offset : {1, 2, 3, 4, 5, 7}) {
    Result<DecodedMessage> m = DecodeAt(d, bytes, offset, &storage);
    REQUIRE_MESSAGE(m.ok(), "offset ", offset, ": ", m.status().ToString());
    const VectorView v = ViewOf(m->As<fb::GradSum>()->grad());
    CHECK(v.value[2] == 2.0);
    CHECK(reinterpret_cast<uintptr_t>(v.value) % alignof(double) == 0);
  }
}

TEST_CASE(
    "malformed, truncated, wrong-dimension and non-finite messages are refused with a reason") {
  Encoder e;
  Decoder d;
  d.set_model_size(4);
  std::vector<uint64_t> storage;
  ModelUpdate u;
  u.Reset(4);
  u.delta.Push(0, 1.0);
  const std::string good(e.Update(kHeader, 1, 1, u));
  REQUIRE(DecodeAt(d, good, 0, &storage).ok());

  // Every truncation fails cleanly.
  for (size_t len = 0; len < good.size(); ++len)
    CHECK_FALSE(DecodeAt(d, good.substr(0, len), 0, &storage).ok());
  // Random garbage, and every single-byte corruption, is refused or still self-consistent.
  Rng rng(11);
  std::string garbage(200, '\0');
  for (char& c : garbage) c = static_cast<char>(rng.Uniform(256));
  CHECK_FALSE(DecodeAt(d, garbage, 0, &storage).ok());
  for (size_t pos = 0; pos < good.size(); ++pos) {
    std::string bad = good;
    bad[pos] = static_cast<char>(bad[pos] ^ 0xFF);
    Result<DecodedMessage> m = DecodeAt(d, bad, 0, &storage);
    if (m.ok() && m->type == fb::Message::Update) {
      const VectorView v = ViewOf(m->As<fb::Update>()->delta());
      CHECK(v.dim == 4);  // whatever got through satisfies the checks
      for (int64_t k = 0; k < v.count; ++k) CHECK(std::isfinite(v.value[k]));
    }
  }
  // Wrong dimension.
  ModelUpdate wide;
  wide.Reset(5);
  wide.delta.Push(4, 1.0);
  Result<DecodedMessage> m = DecodeAt(d, e.Update(kHeader, 1, 1, wide), 0, &storage);
  REQUIRE_FALSE(m.ok());
  CHECK(m.status().message().find("dimension 5, expected 4") != std::string::npos);
  // NaN and infinity.
  for (double bad :
       {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    ModelUpdate n;
    n.Reset(4);
    n.delta.Push(2, bad);
    m = DecodeAt(d, e.Update(kHeader, 1, 1, n), 0, &storage);
    REQUIRE_FALSE(m.ok());
    CHECK(m.status().message().find("non-finite") != std::string::npos);
  }
  const std::vector<double> g = {0, 0, 0, 0};
  m = DecodeAt(d, e.GradSum(kHeader, 1, {g.data(), 4, nullptr, 0}, std::nan(""), 3, Smoothness{}),
               0, &storage);
  REQUIRE_FALSE(m.ok());
  CHECK(m.status().message().find("loss_sum") != std::string::npos);
  // Oversized.
  Decoder small(64);
  CHECK(small.Decode(good.data(), good.size()).status().code() == StatusCode::kOutOfRange);
}

TEST_CASE(
    "Newton epochs: a Snapshot names S, a Curvature carries the packed block, bad ones are "
    "refused") {
  Encoder e;
  Decoder d;
  d.set_model_size(6);
  std::vector<uint64_t> storage;
  const std::vector<double> mu = {1, 2, 3, 4, 5, 6};
  const std::vector<int32_t> support = {0, 3, 5};
  Result<DecodedMessage> m = DecodeAt(
      d, e.Snapshot(kHeader, 3, 16, {mu.data(), 6, nullptr, 0}, 0.5, 100, 4, support), 0, &storage);
  REQUIRE_MESSAGE(m.ok(), m.status().ToString());
  REQUIRE(m->As<fb::Snapshot>()->newton_support() != nullptr);
  CHECK(m->As<fb::Snapshot>()->newton_support()->size() == 3);
  CHECK(m->As<fb::Snapshot>()->newton_support()->Get(2) == 5);
  // A plain Snapshot has none.
  m = DecodeAt(d, e.Snapshot(kHeader, 3, 16, {mu.data(), 6, nullptr, 0}, 0.5, 100, 4), 0, &storage);
  REQUIRE(m.ok());
  CHECK(m->As<fb::Snapshot>()->newton_support() == nullptr);
  // Not increasing, or beyond the model: refused.
  for (const std::vector<int32_t>& bad :
       {std::vector<int32_t>{3, 0}, std::vector<int32_t>{1, 1}, std::vector<int32_t>{6}}) {
    m = DecodeAt(d, e.Snapshot(kHeader, 3, 16, {mu.data(), 6, nullptr, 0}, 0.5, 100, 4, bad), 0,
                 &storage);
    REQUIRE_FALSE(m.ok());
    CHECK(m.status().message().find("Newton support") != std::string::npos);
  }

  const std::vector<double> packed = {4, 1, 3, 0.5, 0.25, 2};  // |S| = 3: 6 entries
  m = DecodeAt(d, e.Curvature(kHeader, 3, 3, packed.data(), 800, false), 0, &storage);
  REQUIRE_MESSAGE(m.ok(), m.status().ToString());
  const auto* c = m->As<fb::Curvature>();
  CHECK(c->epoch() == 3);
  CHECK(c->support_size() == 3);
  CHECK(c->rows() == 800);
  REQUIRE(c->hessian()->size() == 6);
  CHECK(c->hessian()->Get(5) == 2.0);
  m = DecodeAt(d, e.Curvature(kHeader, 3, 3, nullptr, 800, true), 0, &storage);
  REQUIRE(m.ok());
  CHECK(m->As<fb::Curvature>()->declined());
  // The wrong length for the support, a non-finite entry, no rows: refused.
  {
    flatbuffers::FlatBufferBuilder fbb;
    auto h = fbb.CreateVector(packed);  // 6 entries, but |S| = 4 needs 10
    auto curvature = fb::CreateCurvature(fbb, 3, 4, h, 800, false);
    auto id = fbb.CreateString(std::string(kHeader.agent_id));
    fb::FinishEnvelopeBuffer(
        fbb, fb::CreateEnvelope(fbb, kProtocolVersion, id, kHeader.session, kHeader.seq,
                                fb::Message::Curvature, curvature.Union()));
    const std::string bytes(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
    m = DecodeAt(d, bytes, 0, &storage);
    REQUIRE_FALSE(m.ok());
    CHECK(m.status().message().find("packed lower triangle") != std::string::npos);
  }
  std::vector<double> nan = packed;
  nan[4] = std::numeric_limits<double>::quiet_NaN();
  m = DecodeAt(d, e.Curvature(kHeader, 3, 3, nan.data(), 800, false), 0, &storage);
  REQUIRE_FALSE(m.ok());
  CHECK(m.status().message().find("non-finite") != std::string::npos);
  m = DecodeAt(d, e.Curvature(kHeader, 3, 3, packed.data(), 0, false), 0, &storage);
  CHECK_FALSE(m.ok());
}

}  // namespace
}  // namespace edgetrain::wire
