// Model directory: where published models live, versioned, with a `latest` pointer.
//
// Layout (the coordinator publishes into it after each training round; agents keep a copy):
//   DIR/model-000001.etm, DIR/model-000002.etm, ...   one model file per round (6 digits)
//   DIR/latest -> model-000002.etm                      a relative symlink to the current one
// PublishModel writes the round's file atomically (temp file, fsync, rename, fsync of DIR), then
// re-points `latest` atomically (a temp symlink renamed over it, fsync of DIR), then deletes the
// oldest model files beyond `keep` (never the one `latest` points to). A crash at any point
// leaves `latest` pointing at a complete, verified-when-read model: the previous or the new one.
// Readers (score --model DIR/latest, ReadLatestModel) follow the link at each check.
// Every model file carries its metadata in its TrainingSummary (model.h): the round, the rows per
// agent, the objective, the certified gap and KKT violation, the time, the agents. PointLatest
// re-points `latest` at a model file already there (a rollback: docs/deploy.md).
//
// Thread-safety: reentrant; one publisher per directory. Ownership: none.
#ifndef EDGETRAIN_MODEL_DIR_H_
#define EDGETRAIN_MODEL_DIR_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "edgetrain/model.h"
#include "edgetrain/status.h"

namespace edgetrain {

// "model-000042.etm". REQUIRES: 0 <= round <= 999999 (wider rounds get more digits).
std::string ModelFileName(int64_t round);

// The rounds of the model files present in `dir`, increasing.
Result<std::vector<int64_t>> ListModelRounds(const std::string& dir);

// Writes `model` as round `round` into `dir` (created if missing), re-points `latest` at it and
// keeps the newest `keep` model files (0: keep all). Returns the path of the new file.
// REQUIRES: round >= 0.
Result<std::string> PublishModel(const std::string& dir, int64_t round, const Model& model,
                                 int keep);

struct PublishOptions {
  int keep = 0;  // model files kept (0: all)
  // Tests: called after each durable step ("model written", "link made", "latest re-pointed",
  // "pruned"), e.g. to kill the process there and check what a reader finds.
  std::function<void(std::string_view step)> after_step;
};
Result<std::string> PublishModel(const std::string& dir, int64_t round, const Model& model,
                                 const PublishOptions& options);

// Re-points `latest` at the model file of `round`, which must be present and load (verified).
// REQUIRES: round >= 0.
Status PointLatest(const std::string& dir, int64_t round,
                   const std::function<void(std::string_view step)>& after_step = {});

// The path of the model file `dir/latest` points to (NotFound when there is none yet).
Result<std::string> ResolveLatest(const std::string& dir);

// Reads and verifies the model `dir/latest` points to; *path (optional) receives its path.
Result<Model> ReadLatestModel(const std::string& dir, std::string* path = nullptr);

}  // namespace edgetrain

#endif  // EDGETRAIN_MODEL_DIR_H_
