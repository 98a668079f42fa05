#include "edgetrain/checkpoint.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>

#include "checksummed_nest.h"
#include "edgetrain/fb/checkpoint_generated.h"
#include "edgetrain/file_util.h"

namespace edgetrain {
namespace {

constexpr const char* kPrefix = "checkpoint-";
constexpr const char* kSuffix = ".etck";

// The sequence number of a checkpoint file name, or 0.
uint64_t SequenceOf(const std::string& name) {
  const size_t p = std::strlen(kPrefix), s = std::strlen(kSuffix);
  if (name.size() <= p + s || name.compare(0, p, kPrefix) != 0 ||
      name.compare(name.size() - s, s, kSuffix) != 0) {
    return 0;
  }
  uint64_t v = 0;
  for (size_t i = p; i < name.size() - s; ++i) {
    if (name[i] < '0' || name[i] > '9') return 0;
    v = v * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  return v;
}

}  // namespace

std::string SerializeCheckpoint(const Checkpoint& c) {
  flatbuffers::FlatBufferBuilder fbb(1024 + c.x.size() * 8);
  auto neg = fbb.CreateString(c.labels ? c.labels->negative : "");
  auto pos = fbb.CreateString(c.labels ? c.labels->positive : "");
  auto x = fbb.CreateVector(c.x);
  std::vector<flatbuffers::Offset<flatbuffers::String>> roster;
  for (const std::string& r : c.roster) roster.push_back(fbb.CreateString(r));
  auto roster_off = fbb.CreateVector(roster);
  fb::CheckpointBuilder b(fbb);
  b.add_fingerprint(c.fingerprint);
  b.add_dimension(c.dimension);
  if (c.labels) {
    b.add_label_negative(neg);
    b.add_label_positive(pos);
  }
  b.add_epoch(c.epoch);
  b.add_version(c.version);
  b.add_x(x);
  b.add_step_factor(c.step_factor);
  b.add_next_session(c.next_session);
  b.add_roster(roster_off);
  b.add_updates_applied(c.updates_applied);
  b.add_created_unix(c.created_unix);
  b.add_round(c.round);
  fbb.Finish(b.Finish());
  flatbuffers::FlatBufferBuilder outer(fbb.GetSize() + 64);
  uint32_t crc = 0;
  auto nested = NestBuffer(&outer, fbb, &crc);
  fb::FinishCheckpointFileBuffer(outer, fb::CreateCheckpointFile(outer, crc, nested));
  return std::string(reinterpret_cast<const char*>(outer.GetBufferPointer()), outer.GetSize());
}

Result<Checkpoint> ParseCheckpoint(std::string_view bytes, const std::string& source) {
  auto corrupt = [&](const std::string& why) {
    return Status::Corrupt(source + ": not a usable checkpoint: " + why);
  };
  if (bytes.size() < 8) return corrupt("only " + std::to_string(bytes.size()) + " bytes");
  std::vector<uint64_t> aligned, nested_aligned;
  const uint8_t* buf = AlignedCopy(bytes, &aligned);
  if (!fb::CheckpointFileBufferHasIdentifier(buf)) return corrupt("missing the 'ETCK' identifier");
  flatbuffers::Verifier verifier(buf, bytes.size(), 16, 1000);
  if (!fb::VerifyCheckpointFileBuffer(verifier))
    return corrupt("FlatBuffers verification failed (truncated or damaged)");
  const fb::CheckpointFile* file = fb::GetCheckpointFile(buf);
  if (file->checkpoint() == nullptr) return corrupt("empty");
  const uint8_t* nested = ChecksummedNested(file->checkpoint(), file->crc32c(), &nested_aligned);
  if (nested == nullptr) return corrupt("checksum mismatch");
  const fb::Checkpoint* f = flatbuffers::GetRoot<fb::Checkpoint>(nested);
  if (f->format_version() != 1)
    return corrupt("format version " + std::to_string(f->format_version()));
  Checkpoint c;
  c.fingerprint = f->fingerprint();
  c.dimension = f->dimension();
  if (f->label_negative() && f->label_positive())
    c.labels = LabelMap{f->label_negative()->str(), f->label_positive()->str()};
  c.epoch = f->epoch();
  c.version = f->version();
  if (f->x()) c.x.assign(f->x()->begin(), f->x()->end());
  c.step_factor = f->step_factor();
  c.next_session = f->next_session();
  if (f->roster()) {
    for (const auto* r : *f->roster()) c.roster.push_back(r->str());
  }
  c.updates_applied = f->updates_applied();
  c.created_unix = f->created_unix();
  c.round = f->round();
  if (c.dimension <= 0 || c.x.size() < static_cast<size_t>(c.dimension) ||
      c.x.size() > static_cast<size_t>(c.dimension) + 1) {
    return corrupt("inconsistent sizes");
  }
  for (double v : c.x) {
    if (!std::isfinite(v)) return corrupt("non-finite model value");
  }
  if (!(c.step_factor > 0) || c.epoch < 0 || c.version < 0) return corrupt("bad counters");
  return c;
}

std::vector<std::string> CheckpointStore::Files() const {
  std::vector<std::pair<uint64_t, std::string>> found;
  if (DIR* d = ::opendir(directory_.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      if (const uint64_t seq = SequenceOf(e->d_name); seq > 0) found.emplace_back(seq, e->d_name);
    }
    ::closedir(d);
  }
  std::sort(found.rbegin(), found.rend());
  std::vector<std::string> out;
  for (const auto& [seq, name] : found) out.push_back(directory_ + "/" + name);
  return out;
}

Result<std::string> CheckpointStore::Save(const Checkpoint& checkpoint) {
  if (::mkdir(directory_.c_str(), 0750) != 0 && errno != EEXIST) {
    return Status::IoError(directory_ +
                           ": cannot create the checkpoint directory: " + std::strerror(errno));
  }
  std::vector<std::string> files = Files();
  if (last_sequence_ == 0 && !files.empty()) {
    const std::string name = files.front().substr(directory_.size() + 1);
    last_sequence_ = SequenceOf(name);
  }
  char name[64];
  std::snprintf(name, sizeof name, "%s%012llu%s", kPrefix,
                static_cast<unsigned long long>(last_sequence_ + 1), kSuffix);
  const std::string path = directory_ + "/" + name;
  EDGETRAIN_RETURN_IF_ERROR(WriteFileAtomically(path, SerializeCheckpoint(checkpoint)));
  ++last_sequence_;
  // Only now that the new one is durable do the old ones go, with temp files of crashed writes.
  files = Files();
  for (size_t i = static_cast<size_t>(keep_); i < files.size(); ++i) ::unlink(files[i].c_str());
  if (DIR* d = ::opendir(directory_.c_str())) {
    std::vector<std::string> stale;
    while (const dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n.rfind(kPrefix, 0) == 0 && n.find(std::string(kSuffix) + ".tmp.") != std::string::npos)
        stale.push_back(n);
    }
    ::closedir(d);
    for (const std::string& n : stale) ::unlink((directory_ + "/" + n).c_str());
  }
  return path;
}

Result<Checkpoint> CheckpointStore::LoadLatest(std::vector<std::string>* skipped) const {
  const std::vector<std::string> files = Files();
  if (files.empty()) return Status::NotFound(directory_ + ": no checkpoint");
  for (const std::string& path : files) {
    Result<std::string> bytes = ReadFile(path);
    Result<Checkpoint> c =
        bytes.ok() ? ParseCheckpoint(*bytes, path) : Result<Checkpoint>(bytes.status());
    if (c.ok()) return c;
    if (skipped != nullptr) skipped->push_back(c.status().message());
  }
  return Status::Corrupt(directory_ + ": no loadable checkpoint among " +
                         std::to_string(files.size()) + " files");
}

}  // namespace edgetrain
