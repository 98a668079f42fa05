#include "edgetrain/input.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>

namespace edgetrain {
namespace {

constexpr size_t kRawBytes = 256 << 10;

bool IsGzipMagic(const char* p) {
  return static_cast<unsigned char>(p[0]) == 0x1f && static_cast<unsigned char>(p[1]) == 0x8b;
}

}  // namespace

struct InputStream::Impl {
  z_stream strm{};
  bool initialised = false;
  bool output_pending = false;  // the last inflate filled its whole output: more may be held
  ~Impl() {
    if (initialised) inflateEnd(&strm);
  }
};

Result<std::unique_ptr<InputStream>> InputStream::Open(const std::string& path, int64_t offset) {
  std::unique_ptr<InputStream> in(new InputStream());
  if (path == "-") {
    in->name_ = "stdin";
    in->fd_ = STDIN_FILENO;
    in->own_fd_ = false;
  } else {
    in->name_ = path;
    in->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (in->fd_ < 0) {
      const int err = errno;
      std::string what = path + ": cannot open: " + std::strerror(err);
      return err == ENOENT ? Status::NotFound(what) : Status::IoError(what);
    }
  }
  struct stat st;
  if (::fstat(in->fd_, &st) == 0 && S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument(in->name_ + ": is a directory, expected a data file");
  }
  if (offset > 0) {
    if (::lseek(in->fd_, offset, SEEK_SET) != offset) {
      return Status::IoError(in->name_ + ": cannot seek to byte " + std::to_string(offset) + ": " +
                             std::strerror(errno));
    }
    in->raw_offset_ = offset;
  }
  in->raw_.reset(new char[kRawBytes]);
  return in;
}

InputStream::~InputStream() {
  if (own_fd_ && fd_ >= 0) ::close(fd_);
}

bool InputStream::HasBufferedData() const {
  return raw_end_ > raw_begin_ || (z_ != nullptr && z_->output_pending);
}

bool InputStream::InsideGzipMember() const {
  return mode_ == Mode::kGzip && (member_open_ || raw_end_ > raw_begin_);
}

Status InputStream::FillRaw() {
  if (raw_begin_ > 0) {
    std::memmove(raw_.get(), raw_.get() + raw_begin_, raw_end_ - raw_begin_);
    raw_end_ -= raw_begin_;
    raw_begin_ = 0;
  }
  while (true) {
    const ssize_t got = ::read(fd_, raw_.get() + raw_end_, kRawBytes - raw_end_);
    if (got < 0) {
      if (errno == EINTR) continue;
      return Status::IoError(name_ + ": read failed: " + std::strerror(errno));
    }
    raw_end_ += static_cast<size_t>(got);
    raw_offset_ += got;
    return Status::Ok();
  }
}

Result<size_t> InputStream::Read(char* buf, size_t n) {
  if (n == 0) return size_t{0};
  if (mode_ == Mode::kUnknown) {
    if (raw_end_ - raw_begin_ < 2) EDGETRAIN_RETURN_IF_ERROR(FillRaw());
    const size_t avail = raw_end_ - raw_begin_;
    if (avail >= 2) {
      mode_ = IsGzipMagic(raw_.get() + raw_begin_) ? Mode::kGzip : Mode::kPlain;
    } else if (avail == 1 && static_cast<unsigned char>(raw_[raw_begin_]) != 0x1f) {
      mode_ = Mode::kPlain;
    } else {
      return size_t{0};  // nothing yet (or a lone 0x1f byte: wait for the second)
    }
  }
  if (mode_ == Mode::kGzip) return Inflate(buf, n);
  if (raw_end_ > raw_begin_) {
    const size_t take = std::min(n, raw_end_ - raw_begin_);
    std::memcpy(buf, raw_.get() + raw_begin_, take);
    raw_begin_ += take;
    return take;
  }
  while (true) {  // plain data with nothing buffered: read straight into the caller's buffer
    const ssize_t got = ::read(fd_, buf, n);
    if (got < 0) {
      if (errno == EINTR) continue;
      return Status::IoError(name_ + ": read failed: " + std::strerror(errno));
    }
    raw_offset_ += got;
    return static_cast<size_t>(got);
  }
}

Result<size_t> InputStream::Inflate(char* buf, size_t n) {
  if (z_ == nullptr) z_ = std::make_unique<Impl>();
  z_stream& s = z_->strm;
  while (true) {
    if (raw_end_ == raw_begin_ && !z_->output_pending) {
      EDGETRAIN_RETURN_IF_ERROR(FillRaw());
      if (raw_end_ == raw_begin_) return size_t{0};
    }
    if (!member_open_) {
      // The start of a gzip member: the first one, or one concatenated after the previous.
      if (raw_end_ - raw_begin_ < 2) {
        EDGETRAIN_RETURN_IF_ERROR(FillRaw());
        if (raw_end_ - raw_begin_ < 2) return size_t{0};
      }
      if (!IsGzipMagic(raw_.get() + raw_begin_)) {
        return Status::Corrupt(name_ + ": found bytes that are not gzip after the end of a gzip " +
                               "member (at raw byte " +
                               std::to_string(raw_offset_ - (raw_end_ - raw_begin_)) +
                               "), expected another member or the end of the file");
      }
      const int rc = z_->initialised ? inflateReset(&s) : inflateInit2(&s, 15 + 16);
      if (rc != Z_OK) return Status::Internal(name_ + ": zlib could not start inflating");
      z_->initialised = true;
      member_open_ = true;
    }
    s.next_in = reinterpret_cast<Bytef*>(raw_.get() + raw_begin_);
    s.avail_in = static_cast<uInt>(raw_end_ - raw_begin_);
    s.next_out = reinterpret_cast<Bytef*>(buf);
    s.avail_out = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    const uInt out_before = s.avail_out;
    const int rc = inflate(&s, Z_NO_FLUSH);
    raw_begin_ = raw_end_ - s.avail_in;
    const size_t produced = out_before - s.avail_out;
    z_->output_pending = (s.avail_out == 0);
    if (rc == Z_STREAM_END) {
      member_open_ = false;
      z_->output_pending = false;
    } else if (rc == Z_BUF_ERROR) {
      z_->output_pending = false;  // no progress possible without more input
      if (produced == 0) {
        EDGETRAIN_RETURN_IF_ERROR(FillRaw());
        if (raw_end_ == raw_begin_) return size_t{0};
        continue;
      }
    } else if (rc != Z_OK) {
      return Status::Corrupt(name_ + ": corrupt gzip data near raw byte " +
                             std::to_string(raw_offset_ - (raw_end_ - raw_begin_)) + ": " +
                             (s.msg != nullptr ? s.msg : "inflate failed"));
    }
    if (produced > 0) return produced;
  }
}

Status CheckTextStart(std::string_view head, const std::string& source) {
  const size_t nul = head.find('\0');
  if (nul == std::string_view::npos) return Status::Ok();
  if (head.size() >= 8 && head.compare(4, 4, "ETMD") == 0) {
    return Status::InvalidArgument(source +
                                   ": an edgetrain model file, not data; look at it with "
                                   "'edgetrain-agent show-model " +
                                   source + "'");
  }
  if (head.size() >= 8 && head.compare(4, 4, "ETCK") == 0) {
    return Status::InvalidArgument(source + ": an edgetrain checkpoint file, not data");
  }
  return Status::InvalidArgument(source + ": binary data (a NUL byte at byte " +
                                 std::to_string(nul + 1) +
                                 "), expected text: libsvm or CSV, optionally gzip-compressed");
}

}  // namespace edgetrain
