// Checkpoint files and their store: round trip, rotation, damaged files skipped for the previous
// good one, leftovers of a crashed write cleaned up.
#include "edgetrain/checkpoint.h"

#include <sys/stat.h>

#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "test_util.h"

namespace edgetrain {
namespace {

Checkpoint Sample(int64_t epoch) {
  Checkpoint c;
  c.fingerprint = 0xfeedfacecafebeefull;
  c.dimension = 4;
  c.labels = LabelMap{"ham", "spam"};
  c.epoch = epoch;
  c.version = 100 * epoch;
  c.x = {0.5, 0, -1.25, 3, 0.125};
  c.step_factor = 0.5;
  c.next_session = 17;
  c.roster = {"press-1", "press-2"};
  c.updates_applied = 12345;
  return c;
}

TEST_CASE("checkpoint round trip keeps every field") {
  Result<Checkpoint> r = ParseCheckpoint(SerializeCheckpoint(Sample(3)), "c");
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  const Checkpoint want = Sample(3);
  CHECK(r->fingerprint == want.fingerprint);
  CHECK(r->dimension == 4);
  CHECK(*r->labels == *want.labels);
  CHECK(r->epoch == 3);
  CHECK(r->version == 300);
  CHECK(r->x == want.x);
  CHECK(r->step_factor == 0.5);
  CHECK(r->next_session == 17);
  CHECK(r->roster == want.roster);
  CHECK(r->updates_applied == 12345);
}

TEST_CASE("every truncation and bit flip of a checkpoint is detected") {
  const std::string good = SerializeCheckpoint(Sample(1));
  for (size_t len = 0; len < good.size(); len += 3)
    CHECK_FALSE(ParseCheckpoint(good.substr(0, len), "c").ok());
  for (size_t pos = 0; pos < good.size(); ++pos) {
    std::string bad = good;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x04);
    Result<Checkpoint> r = ParseCheckpoint(bad, "c");
    if (r.ok()) CHECK(r->x == Sample(1).x);  // only padding may flip unnoticed
  }
}

TEST_CASE("the store keeps the newest two and falls back past damaged ones") {
  testing::TempDir dir;
  CheckpointStore store(dir.File("state"));
  CHECK(store.LoadLatest().status().code() == StatusCode::kNotFound);
  for (int64_t e = 1; e <= 5; ++e) REQUIRE(store.Save(Sample(e)).ok());
  std::vector<std::string> files = store.Files();
  REQUIRE(files.size() == 2);
  CHECK(store.LoadLatest()->epoch == 5);
  // The newest is damaged (a disk error after it was written): the previous one is used.
  std::string bytes = testing::ReadText(files[0]);
  bytes[bytes.size() / 2] ^= 0x40;
  testing::WriteText(files[0], bytes);
  std::vector<std::string> skipped;
  Result<Checkpoint> r = store.LoadLatest(&skipped);
  REQUIRE(r.ok());
  CHECK(r->epoch == 4);
  REQUIRE(skipped.size() == 1);
  CHECK(skipped[0].find("checksum mismatch") != std::string::npos);
  // Truncated to nothing as well: no loadable checkpoint, said clearly.
  testing::WriteText(files[1], "");
  CHECK(store.LoadLatest().status().code() == StatusCode::kCorrupt);
  // A crash in the middle of a write leaves a temp file; the next save removes it.
  testing::WriteText(files[0] + ".tmp.12345", "partial");
  CheckpointStore again(dir.File("state"));
  REQUIRE(again.Save(Sample(6)).ok());
  CHECK(again.LoadLatest()->epoch == 6);
  const testing::CommandResult ls = testing::Run({"ls", dir.File("state")});
  CHECK(ls.out.find(".tmp.") == std::string::npos);
}

}  // namespace
}  // namespace edgetrain
