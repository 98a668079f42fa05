// Whole-file helpers with crash safety.
//
// WriteFileAtomically writes `path` so that after a crash the file is either the old content or
// the new one, never a mix: write to "<path>.tmp.<pid>", fsync it, rename over path, fsync the
// directory. ReadFile reads a whole file (for model files and checkpoints, not datasets).
//
// Thread-safety: reentrant; concurrent writers of one path race on the rename (last one wins).
#ifndef EDGETRAIN_FILE_UTIL_H_
#define EDGETRAIN_FILE_UTIL_H_

#include <string>
#include <string_view>

#include "edgetrain/status.h"

namespace edgetrain {

Status WriteFileAtomically(const std::string& path, std::string_view bytes);
Result<std::string> ReadFile(const std::string& path);

}  // namespace edgetrain

#endif  // EDGETRAIN_FILE_UTIL_H_
