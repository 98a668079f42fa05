#include "edgetrain/data_source.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "block_reader.h"
#include "edgetrain/input.h"
#include "edgetrain/text.h"
#include "row_parser.h"

namespace edgetrain {
namespace {

constexpr size_t kHeadBytes = 4096;
constexpr size_t kGoneKept = 64;

struct Entry {
  std::string path;
  struct stat st;
};

Result<std::vector<Entry>> ListFiles(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return Status::NotFound(path + ": cannot stat: " + std::strerror(errno));
  }
  std::vector<Entry> out;
  if (!S_ISDIR(st.st_mode)) {
    out.push_back({path, st});
    return out;
  }
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return Status::IoError(path + ": cannot list: " + std::strerror(errno));
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    Entry entry{path + "/" + e->d_name, {}};
    if (::stat(entry.path.c_str(), &entry.st) == 0 && S_ISREG(entry.st.st_mode)) {
      out.push_back(std::move(entry));
    }
  }
  ::closedir(dir);
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
    if (a.st.st_mtim.tv_sec != b.st.st_mtim.tv_sec)
      return a.st.st_mtim.tv_sec < b.st.st_mtim.tv_sec;
    if (a.st.st_mtim.tv_nsec != b.st.st_mtim.tv_nsec)
      return a.st.st_mtim.tv_nsec < b.st.st_mtim.tv_nsec;
    return a.path < b.path;
  });
  return out;
}

// The first (decompressed) bytes of a file, up to kHeadBytes.
Result<std::string> ReadHead(const std::string& path, bool* gzip) {
  Result<std::unique_ptr<InputStream>> in = InputStream::Open(path);
  if (!in.ok()) return in.status();
  std::string head(kHeadBytes, '\0');
  size_t got = 0;
  while (got < head.size()) {
    Result<size_t> n = (*in)->Read(head.data() + got, head.size() - got);
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    got += *n;
  }
  head.resize(got);
  *gzip = (*in)->compressed();
  return head;
}

// The part of `head` usable to recognise copies: whole lines, at least `min_lines` of them.
std::string Fingerprint(const std::string& head, int min_lines) {
  const size_t last = head.rfind('\n');
  if (last == std::string::npos) return "";
  std::string whole = head.substr(0, last + 1);
  if (std::count(whole.begin(), whole.end(), '\n') < min_lines) return "";
  return whole;
}

bool SameFile(const DataSource::FileState& f, const struct stat& st) {
  return f.device == static_cast<uint64_t>(st.st_dev) &&
         f.inode == static_cast<uint64_t>(st.st_ino);
}

}  // namespace

DataSource::DataSource(std::string path, ReadOptions options)
    : path_(std::move(path)), options_(std::move(options)) {
  if (options_.task == Task::kClassification && !options_.labels) options_.defer_label_map = true;
}

Result<RefreshReport> DataSource::Refresh() {
  if (options_.missing == MissingPolicy::kMean && options_.fill_values.empty()) {
    return Status::InvalidArgument(path_ +
                                   ": missing-value policy 'mean' needs fill values for a "
                                   "growing source (the mean would change rows already read)");
  }
  Result<std::vector<Entry>> listed = ListFiles(path_);
  if (!listed.ok()) return listed.status();

  RefreshReport report;
  DataFormat format = format_;
  std::vector<std::string> header = header_;
  std::vector<FileState> now;
  std::vector<FileState> gone = gone_;
  std::unique_ptr<Dataset> fresh;
  auto add_piece = [&](Dataset piece) -> Status {
    if (piece.rows() == 0) return Status::Ok();
    if (fresh == nullptr) {
      fresh = std::make_unique<Dataset>(std::move(piece));
      return Status::Ok();
    }
    return fresh->Append(piece);
  };

  // Parses `file` from raw byte `offset`, skipping `skip` decompressed bytes first; resumes
  // after `lines` lines (CSV: with the known header). Sets *consumed to the bytes of complete
  // lines parsed (beyond offset + skip) and *lines_out to the lines then consumed; *incomplete
  // when a gzip stream ends inside a member.
  auto read_part = [&](const std::string& file, int64_t offset, int64_t skip, int64_t lines,
                       int64_t* consumed, int64_t* lines_out, bool* incomplete) -> Status {
    internal::BlockReader reader;
    EDGETRAIN_RETURN_IF_ERROR(reader.Open(file, offset));
    reader.set_hold_partial_line(true);
    std::unique_ptr<internal::RowParser> parser;
    const bool resumed = offset > 0 || skip > 0;
    std::string_view chunk;
    while (true) {
      EDGETRAIN_RETURN_IF_ERROR(reader.Next(&chunk));
      if (chunk.empty() && reader.stream().compressed() && !reader.stream().InsideGzipMember() &&
          reader.held() > 0) {
        reader.TakeHeld(&chunk);  // a finished gzip stream whose last line has no newline
      }
      if (chunk.empty()) break;
      if (skip > 0) {
        const int64_t drop = std::min<int64_t>(skip, static_cast<int64_t>(chunk.size()));
        chunk.remove_prefix(static_cast<size_t>(drop));
        skip -= drop;
        if (chunk.empty()) continue;
      }
      if (parser == nullptr) {
        if (format == DataFormat::kAuto) {
          format = internal::ResolveFormat(file, options_.format, chunk);
        }
        parser = internal::NewParser(format, file, options_);
        if (resumed && format == DataFormat::kCsv) {
          EDGETRAIN_RETURN_IF_ERROR(parser->SetHeader(header));
        }
        parser->set_line(lines);
      }
      EDGETRAIN_RETURN_IF_ERROR(parser->ParseChunk(chunk));
    }
    *incomplete = reader.stream().InsideGzipMember();
    *consumed = reader.consumed();
    *lines_out = parser != nullptr ? parser->line() : lines;
    if (parser == nullptr || *incomplete) return Status::Ok();
    if (format == DataFormat::kCsv && !resumed) {
      if (header.empty()) {
        header = parser->header();
      } else if (parser->header() != header) {
        std::string a, b;
        for (const std::string& n : parser->header()) a += (a.empty() ? "" : ",") + n;
        for (const std::string& n : header) b += (b.empty() ? "" : ",") + n;
        return Status::InvalidArgument(file + ":1: found the header '" + Printable(a, 200) +
                                       "', expected the header of the files read before: '" +
                                       Printable(b, 200) + "'");
      }
    }
    if (parser->rows() == 0) return Status::Ok();
    Result<Dataset> piece = parser->Finish();
    if (!piece.ok()) return piece.status();
    return add_piece(std::move(piece).value());
  };

  for (const Entry& e : *listed) {
    const int64_t size = static_cast<int64_t>(e.st.st_size);
    auto known = std::find_if(files_.begin(), files_.end(),
                              [&](const FileState& f) { return SameFile(f, e.st); });
    if (known != files_.end()) {
      FileState st = *known;
      if (st.path != e.path) st.path = e.path;  // rotated: renamed, same inode
      const bool shrank = size < st.size || (!st.gzip && size < st.consumed);
      const bool changed_gz = st.gzip && size != st.size;
      if (!shrank && !changed_gz) {
        if (!st.gzip && size > st.consumed) {
          int64_t consumed = 0, lines = 0;
          bool incomplete = false;
          EDGETRAIN_RETURN_IF_ERROR(
              read_part(e.path, st.consumed, 0, st.lines, &consumed, &lines, &incomplete));
          if (consumed > 0) ++report.files_read;
          st.consumed += consumed;
          st.lines = lines;
          if (st.head.size() < kHeadBytes && st.consumed > static_cast<int64_t>(st.head.size())) {
            bool gz = false;
            Result<std::string> head = ReadHead(e.path, &gz);
            if (head.ok()) st.head = Fingerprint(*head, format == DataFormat::kCsv ? 3 : 2);
          }
        }
        st.size = size;
        now.push_back(std::move(st));
        continue;
      }
      report.notes.push_back(e.path + (shrank ? ": truncated (" + std::to_string(size) +
                                                    " bytes, " + std::to_string(st.size) +
                                                    " before), read again from its start"
                                              : ": the gzip file changed, read again whole"));
      gone.push_back(st);
    } else {
      auto by_name = std::find_if(files_.begin(), files_.end(),
                                  [&](const FileState& f) { return f.path == e.path; });
      const bool rotated = by_name != files_.end() &&
                           std::any_of(listed->begin(), listed->end(),
                                       [&](const Entry& x) { return SameFile(*by_name, x.st); });
      if (by_name != files_.end() && !rotated) {
        report.notes.push_back(e.path + ": replaced by another file, read as a new file");
      }
    }
    // A new file (or one to read again): is it a copy of a file read before?
    bool gzip = false;
    Result<std::string> head = ReadHead(e.path, &gzip);
    if (!head.ok()) return head.status();
    const FileState* origin = nullptr;
    for (const std::vector<FileState>* list : {&files_, &gone}) {
      for (const FileState& f : *list) {
        if (SameFile(f, e.st)) continue;  // itself, truncated: not a copy
        if (!f.head.empty() && head->compare(0, f.head.size(), f.head) == 0 &&
            (origin == nullptr || f.consumed > origin->consumed)) {
          origin = &f;
        }
      }
    }
    FileState st;
    st.path = e.path;
    st.device = static_cast<uint64_t>(e.st.st_dev);
    st.inode = static_cast<uint64_t>(e.st.st_ino);
    st.size = size;
    st.gzip = gzip;
    const int64_t skip = origin != nullptr ? origin->consumed : 0;
    const int64_t skip_lines = origin != nullptr ? origin->lines : 0;
    int64_t consumed = 0, lines = 0;
    bool incomplete = false;
    EDGETRAIN_RETURN_IF_ERROR(
        read_part(e.path, 0, skip, skip_lines, &consumed, &lines, &incomplete));
    if (incomplete) {
      report.notes.push_back(e.path +
                             ": gzip data still being written (or truncated), read at the next "
                             "refresh");
      continue;  // not recorded: read as new next time
    }
    if (consumed > skip) ++report.files_read;
    st.consumed = consumed;  // counted from the file's start, the skipped part included
    st.lines = lines;
    st.head = Fingerprint(*head, format == DataFormat::kCsv ? 3 : 2);
    now.push_back(std::move(st));
  }
  for (const FileState& f : files_) {
    const bool present = std::any_of(now.begin(), now.end(), [&](const FileState& n) {
      return n.inode == f.inode && n.device == f.device;
    });
    const bool recorded = std::any_of(gone.begin(), gone.end(), [&](const FileState& g) {
      return g.inode == f.inode && g.device == f.device && g.consumed == f.consumed;
    });
    if (!present && !recorded) gone.push_back(f);
  }
  if (gone.size() > kGoneKept) gone.erase(gone.begin(), gone.end() - kGoneKept);

  // Commit: append the new rows (all or nothing), then the file states.
  if (fresh != nullptr) {
    if (data_.labels() && !fresh->labels() && fresh->task() == Task::kClassification) {
      EDGETRAIN_RETURN_IF_ERROR(fresh->ApplyLabelMap(*data_.labels()).WithContext(path_));
    }
    report.new_rows = fresh->rows();
    if (data_.rows() == 0 && data_.raw_labels().empty()) {
      data_ = std::move(*fresh);
    } else {
      EDGETRAIN_RETURN_IF_ERROR(data_.Append(*fresh).WithContext(path_));
    }
  }
  format_ = format;
  header_ = std::move(header);
  files_ = std::move(now);
  gone_ = std::move(gone);
  report.total_rows = data_.rows();
  return report;
}

}  // namespace edgetrain
