// edgetrain-agent score: predictions for rows as they arrive (stdin, a FIFO, a growing file), on
// the newest published model.
//
// Rows are read in blocks and scored as whole lines (runtime StreamScorer); the output is
// buffered and flushed whenever the input has nothing more right now, so a live consumer sees
// each prediction without delay while a fast producer gets full blocks. The model path (a file
// replaced atomically, a `latest` symlink, or a model directory) is checked with one stat at
// most every --check-every seconds and whenever the input is idle; a changed file is loaded and
// verified, and used from the next row on. A damaged new file keeps the old model (said once).
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "commands.h"
#include "edgetrain/cli/flags.h"
#include "edgetrain/input.h"
#include "edgetrain/model.h"
#include "edgetrain/scorer.h"
#include "edgetrain/text.h"

namespace edgetrain::agent {
namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

struct FileId {
  uint64_t dev = 0, ino = 0;
  int64_t size = -1, mtime_ns = 0;
  bool operator==(const FileId&) const = default;
};

bool Identify(const std::string& path, FileId* id) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return false;
  *id = {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
         static_cast<int64_t>(st.st_size),
         static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  return true;
}

class Output {
 public:
  Status Open(const std::string& path) {
    if (path == "-") return Status::Ok();
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) return Status::IoError(path + ": cannot create: " + std::strerror(errno));
    path_ = path;
    return Status::Ok();
  }
  ~Output() {
    if (fd_ != STDOUT_FILENO) ::close(fd_);
  }
  Status Flush(std::string* buf) {
    size_t done = 0;
    while (done < buf->size()) {
      const ssize_t n = ::write(fd_, buf->data() + done, buf->size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::IoError(path_ + ": write failed: " + std::strerror(errno));
      }
      done += static_cast<size_t>(n);
    }
    buf->clear();
    return Status::Ok();
  }

 private:
  int fd_ = STDOUT_FILENO;
  std::string path_ = "standard output";
};

class ScoreCommand : public Command {
 public:
  explicit ScoreCommand(CLI::App* app) {
    sub_ = app->add_subcommand(
        "score",
        "Score rows as they arrive (stdin, a FIFO, a growing file), one prediction per row, "
        "switching to a newly published model between two rows");
    sub_->add_option("--model", model_path_,
                     "Model file, or a model directory (its 'latest' link), or the link itself; "
                     "re-checked while scoring and switched to when it changes and verifies")
        ->required();
    sub_->add_option("--data", data_path_,
                     "Rows to score: - (standard input, the default), a FIFO or a file (libsvm "
                     "with or without labels, or CSV with the model's columns; gzip read too)")
        ->check(cli::kDataSource)
        ->capture_default_str();
    sub_->add_option("--output", output_path_,
                     "Where the predictions go (- is standard output): the id columns, then label, "
                     "decision and (logistic) probability, or the regression prediction")
        ->capture_default_str();
    sub_->add_flag("--follow", follow_,
                   "Keep reading a file as it grows, like tail -f (a truncated or rotated file is "
                   "read again from its start); stop with SIGINT or SIGTERM");
    sub_->add_flag("--no-header", no_header_, "Do not write the header line");
    sub_->add_option("--check-every", check_every_,
                     "Seconds between two checks of the model path (also checked when the input "
                     "is idle)")
        ->check(cli::InRange(0.001, 3600, "seconds"))
        ->capture_default_str();
    sub_->add_option("--label-column", data_.label_column,
                     "CSV: name of the label column (default: the model's; rows may lack it)");
    sub_->add_option("--id-column", id_columns_,
                     "CSV: columns copied to the output before the prediction (repeat, or a "
                     "comma list)")
        ->delimiter(',');
    data_.missing.clear();  // the model's policy unless given
    cli::AddInputFlags(
        sub_, &data_, "default: the model's policy and fill values (skip, zero, mean override it)");
  }

  bool Selected() const override { return sub_->parsed(); }

  int Run(const cli::Console& console) override {
    console_ = &console;
    if (Status st = cli::CheckWritableFile("--output", output_path_, /*dash_is_stdout=*/true);
        !st.ok()) {
      return console.UsageError(prog_, st.message());
    }
    struct stat st;
    if (::stat(model_path_.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) model_path_ += "/latest";
    Result<Model> first = ReadModelFile(model_path_);
    if (!first.ok()) return console.Fail(prog_, first.status());
    Identify(model_path_, &model_id_);
    ReadOptions base = data_.ToReadOptions();
    base.id_columns = id_columns_;
    Result<std::unique_ptr<InputStream>> in = InputStream::Open(data_path_);
    if (!in.ok()) return console.Fail(prog_, in.status());
    in_ = std::move(in).value();
    scorer_ = std::make_unique<StreamScorer>(in_->name(), base,
                                             std::make_shared<const Model>(std::move(*first)));
    if (Status s = output_.Open(output_path_); !s.ok()) return console.Fail(prog_, s);

    struct sigaction sa {};
    sa.sa_handler = OnSignal;  // no SA_RESTART: a blocking read returns EINTR
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);

    Status s = Loop();
    if (s.ok()) s = output_.Flush(&out_);
    Note(cli::Priority::kNotice, StringPrintf("%" PRId64 " rows scored", scorer_->rows()));
    if (!s.ok()) return console.Fail(prog_, s);
    return cli::kExitOk;
  }

 private:
  Status Loop() {
    if (!no_header_) out_ = scorer_->Header();
    std::vector<char> buf(kReadBytes);
    auto last_check = std::chrono::steady_clock::now();
    const auto period = std::chrono::duration<double>(check_every_);
    while (!g_stop.load()) {
      if (std::chrono::steady_clock::now() - last_check >= period) {
        CheckModel();
        last_check = std::chrono::steady_clock::now();
      }
      if (!in_->HasBufferedData() && !Ready(0)) {
        // Nothing right now: the consumer gets everything scored so far, then we wait.
        EDGETRAIN_RETURN_IF_ERROR(output_.Flush(&out_));
        CheckModel();
        last_check = std::chrono::steady_clock::now();
        if (!Ready(static_cast<int>(check_every_ * 1000))) continue;
      }
      Result<size_t> n = in_->Read(buf.data(), buf.size());
      if (!n.ok()) {
        if (g_stop.load()) break;
        return n.status();
      }
      if (*n == 0) {
        if (!follow_ || data_path_ == "-") break;
        EDGETRAIN_RETURN_IF_ERROR(output_.Flush(&out_));
        CheckModel();
        last_check = std::chrono::steady_clock::now();
        EDGETRAIN_RETURN_IF_ERROR(Reopen());
        std::this_thread::sleep_for(std::chrono::duration<double>(std::min(check_every_, 0.1)));
        continue;
      }
      EDGETRAIN_RETURN_IF_ERROR(scorer_->Feed(std::string_view(buf.data(), *n), &out_));
      if (out_.size() >= kFlushBytes) EDGETRAIN_RETURN_IF_ERROR(output_.Flush(&out_));
    }
    if (g_stop.load()) {
      // Stopped by a signal: a row still being written is not scored half-way.
      if (scorer_->pending_bytes() > 0) {
        Note(cli::Priority::kWarning,
             StringPrintf("stopped with an unfinished last line (%zu bytes) not scored",
                          scorer_->pending_bytes()));
      }
      return Status::Ok();
    }
    if (in_->InsideGzipMember()) {
      return Status::Corrupt(in_->name() +
                             ": truncated gzip data (the input ends inside a gzip "
                             "member, before its end marker)");
    }
    return scorer_->Finish(&out_);
  }

  // Whether the input descriptor has data (or an end) within `ms` milliseconds.
  bool Ready(int ms) {
    pollfd p{in_->fd(), POLLIN, 0};
    const int rc = ::poll(&p, 1, ms);
    return rc != 0;  // an error or EINTR: let the read report it
  }

  // --follow at the end of a file: a rotated file (another inode at the path) or a truncated one
  // is read again from its start.
  Status Reopen() {
    struct stat now, open_st;
    if (::stat(data_path_.c_str(), &now) != 0 || ::fstat(in_->fd(), &open_st) != 0) {
      return Status::Ok();
    }
    const bool rotated = now.st_ino != open_st.st_ino || now.st_dev != open_st.st_dev;
    const bool truncated = !rotated && now.st_size < in_->raw_offset();
    if (!rotated && !truncated) return Status::Ok();
    Note(cli::Priority::kNotice, Printable(data_path_) +
                                     (rotated ? " was rotated" : " was truncated") +
                                     ", reading it from its start");
    Result<std::unique_ptr<InputStream>> in = InputStream::Open(data_path_);
    if (!in.ok()) return in.status();
    in_ = std::move(in).value();
    return Status::Ok();
  }

  void CheckModel() {
    FileId id;
    if (!Identify(model_path_, &id) || id == model_id_ || id == failed_id_) return;
    Result<Model> next = ReadModelFile(model_path_);
    Status s = next.ok() ? scorer_->SetModel(std::make_shared<const Model>(std::move(*next)))
                         : next.status();
    if (!s.ok()) {
      failed_id_ = id;
      Note(cli::Priority::kWarning, Printable(s.message()) + "; keeping the model in use");
      return;
    }
    model_id_ = id;
    char real[PATH_MAX];
    const char* name =
        ::realpath(model_path_.c_str(), real) != nullptr ? real : model_path_.c_str();
    Note(cli::Priority::kNotice, StringPrintf("switched to %s after %" PRId64 " rows",
                                              Printable(name).c_str(), scorer_->rows()));
  }

  // "<program>: <text>" on stderr (standard output carries the predictions).
  void Note(cli::Priority priority, const std::string& text) const {
    console_->err().Write(priority, std::string(prog_) + ": " + text);
  }

  static constexpr size_t kReadBytes = 1 << 16;
  static constexpr size_t kFlushBytes = 1 << 16;
  const char* prog_ = "edgetrain-agent score";
  const cli::Console* console_ = nullptr;  // Run's
  CLI::App* sub_;
  std::string model_path_, data_path_ = "-", output_path_ = "-";
  bool follow_ = false, no_header_ = false;
  double check_every_ = 0.1;
  std::vector<std::string> id_columns_;
  cli::DataFlags data_;
  FileId model_id_, failed_id_;
  std::unique_ptr<InputStream> in_;
  std::unique_ptr<StreamScorer> scorer_;
  Output output_;
  std::string out_;
};

}  // namespace

std::unique_ptr<Command> RegisterScore(CLI::App* app) {
  return std::make_unique<ScoreCommand>(app);
}

}  // namespace edgetrain::agent
