// Coordinator checkpoints: the model, its version and epoch, the divergence safeguard's step
// factor, the label mapping, the session counter and the roster — what a restarted coordinator
// needs to continue a run (edgetrain-coordinator --resume). A resumed run evaluates its first
// snapshot afresh, so the best-snapshot memory is not kept.
//
// CheckpointStore keeps them in a directory as checkpoint-<sequence>.etck. Save() writes the next
// sequence atomically (temp file, fsync, rename, fsync of the directory) and then removes all but
// the newest `keep` files (and temp files left by a crash), so a crash at any point leaves the
// previous checkpoint intact.
// LoadLatest() returns the newest file that passes the CRC32C and the FlatBuffers verifier and
// reports the ones it skipped (truncated, damaged).
//
// Thread-safety: one store per directory and process. Ownership: values.
#ifndef EDGETRAIN_CHECKPOINT_H_
#define EDGETRAIN_CHECKPOINT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "edgetrain/dataset.h"
#include "edgetrain/status.h"

namespace edgetrain {

struct Checkpoint {
  uint64_t fingerprint = 0;
  int32_t dimension = 0;
  std::optional<LabelMap> labels;
  int64_t epoch = 0;
  int64_t version = 0;
  std::vector<double> x;
  double step_factor = 1;
  uint64_t next_session = 1;
  std::vector<std::string> roster;
  int64_t updates_applied = 0;
  int64_t created_unix = 0;
  int64_t round = 0;  // the coordinator's training round (0: a one-shot run without rounds)
};

std::string SerializeCheckpoint(const Checkpoint& c);
Result<Checkpoint> ParseCheckpoint(std::string_view bytes, const std::string& source);

class CheckpointStore {
 public:
  // REQUIRES: keep >= 2.
  explicit CheckpointStore(std::string directory, int keep = 2)
      : directory_(std::move(directory)), keep_(keep) {}

  // Creates the directory if needed. Returns the path written.
  Result<std::string> Save(const Checkpoint& checkpoint);
  // The newest loadable checkpoint; NotFound when the directory holds none. `skipped` (optional)
  // receives "path: why" for every newer file that could not be used.
  Result<Checkpoint> LoadLatest(std::vector<std::string>* skipped = nullptr) const;
  // Checkpoint files present, newest first.
  std::vector<std::string> Files() const;

 private:
  std::string directory_;
  int keep_;
  uint64_t last_sequence_ = 0;
};

}  // namespace edgetrain

#endif  // EDGETRAIN_CHECKPOINT_H_
