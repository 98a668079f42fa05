#include "edgetrain/model_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "edgetrain/file_util.h"

namespace edgetrain {
namespace {

constexpr char kLatest[] = "latest";

Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::IoError(dir + ": cannot open directory: " + std::strerror(errno));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Status::IoError(dir + ": fsync of directory failed: " + std::strerror(errno));
  return Status::Ok();
}

// The round of "model-NNNNNN.etm", or -1.
int64_t RoundOf(const std::string& name) {
  if (name.size() < 11 || name.compare(0, 6, "model-") != 0 ||
      name.compare(name.size() - 4, 4, ".etm") != 0) {
    return -1;
  }
  int64_t round = 0;
  for (size_t i = 6; i < name.size() - 4; ++i) {
    if (name[i] < '0' || name[i] > '9' || round > (int64_t{1} << 50)) return -1;
    round = round * 10 + (name[i] - '0');
  }
  return round;
}

}  // namespace

std::string ModelFileName(int64_t round) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "model-%06lld.etm", static_cast<long long>(round));
  return buf;
}

Result<std::vector<int64_t>> ListModelRounds(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    const int err = errno;
    std::string what = dir + ": cannot list: " + std::strerror(err);
    return err == ENOENT ? Status::NotFound(what) : Status::IoError(what);
  }
  std::vector<int64_t> rounds;
  while (const dirent* e = ::readdir(d)) {
    const int64_t r = RoundOf(e->d_name);
    if (r >= 0) rounds.push_back(r);
  }
  ::closedir(d);
  std::sort(rounds.begin(), rounds.end());
  return rounds;
}

Result<std::string> ResolveLatest(const std::string& dir) {
  const std::string link = dir + "/" + kLatest;
  char target[4096];
  const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
  if (n < 0) {
    const int err = errno;
    std::string what = link + ": cannot read the link: " + std::strerror(err);
    return err == ENOENT ? Status::NotFound(what) : Status::IoError(what);
  }
  std::string t(target, static_cast<size_t>(n));
  return t.empty() || t[0] == '/' ? t : dir + "/" + t;
}

Result<Model> ReadLatestModel(const std::string& dir, std::string* path) {
  Result<std::string> latest = ResolveLatest(dir);
  if (!latest.ok()) return latest.status();
  if (path != nullptr) *path = *latest;
  return ReadModelFile(*latest);
}

Status PointLatest(const std::string& dir, int64_t round,
                   const std::function<void(std::string_view step)>& after_step) {
  const std::string name = ModelFileName(round);
  Result<Model> check = ReadModelFile(dir + "/" + name);
  if (!check.ok()) return check.status();
  // A new symlink under a temporary name, renamed over the old one: readers see one or the other.
  const std::string tmp = dir + "/.latest.tmp." + std::to_string(::getpid());
  ::unlink(tmp.c_str());
  if (::symlink(name.c_str(), tmp.c_str()) != 0) {
    return Status::IoError(tmp + ": cannot create the link: " + std::strerror(errno));
  }
  if (after_step) after_step("link made");
  const std::string link = dir + "/" + kLatest;
  if (::rename(tmp.c_str(), link.c_str()) != 0) {
    Status st = Status::IoError(link + ": cannot re-point: " + std::strerror(errno));
    ::unlink(tmp.c_str());
    return st;
  }
  EDGETRAIN_RETURN_IF_ERROR(SyncDirectory(dir));
  if (after_step) after_step("latest re-pointed");
  return Status::Ok();
}

Result<std::string> PublishModel(const std::string& dir, int64_t round, const Model& model,
                                 int keep) {
  PublishOptions options;
  options.keep = keep;
  return PublishModel(dir, round, model, options);
}

Result<std::string> PublishModel(const std::string& dir, int64_t round, const Model& model,
                                 const PublishOptions& options) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return Status::IoError(dir + ": cannot create: " + std::strerror(errno));
  }
  const std::string path = dir + "/" + ModelFileName(round);
  EDGETRAIN_RETURN_IF_ERROR(WriteModelFile(path, model));  // temp file, fsync, rename
  EDGETRAIN_RETURN_IF_ERROR(SyncDirectory(dir));
  if (options.after_step) options.after_step("model written");
  EDGETRAIN_RETURN_IF_ERROR(PointLatest(dir, round, options.after_step));
  if (options.keep > 0) {
    Result<std::vector<int64_t>> rounds = ListModelRounds(dir);
    if (!rounds.ok()) return rounds.status();
    size_t left = rounds->size();
    for (size_t i = 0; i < rounds->size() && left > static_cast<size_t>(options.keep); ++i) {
      if ((*rounds)[i] == round) continue;  // never the one latest points to
      --left;
      const std::string old = dir + "/" + ModelFileName((*rounds)[i]);
      if (::unlink(old.c_str()) != 0 && errno != ENOENT) {
        return Status::IoError(old + ": cannot delete: " + std::strerror(errno));
      }
    }
    EDGETRAIN_RETURN_IF_ERROR(SyncDirectory(dir));
    if (options.after_step) options.after_step("pruned");
  }
  return path;
}

}  // namespace edgetrain
