#include "block_reader.h"

#include <cerrno>
#include <cstring>

namespace edgetrain::internal {

Status BlockReader::Open(const std::string& path) {
  path_ = path;
  file_ = std::fopen(path.c_str(), "rb");
  if (file_ == nullptr) {
    const int err = errno;
    std::string what = path + ": cannot open: " + std::strerror(err);
    return err == ENOENT ? Status::NotFound(what) : Status::IoError(what);
  }
  buffer_.resize(kBlockBytes);
  return Status::Ok();
}

Status BlockReader::Next(std::string_view* chunk) {
  // Drop what the previous chunk handed out; keep the unfinished tail at the front.
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  while (true) {
    if (!eof_ && end_ < buffer_.size()) {
      const size_t got = std::fread(buffer_.data() + end_, 1, buffer_.size() - end_, file_);
      if (got == 0) {
        if (std::ferror(file_))
          return Status::IoError(path_ + ": read failed: " + std::strerror(errno));
        eof_ = true;
      }
      end_ += got;
    }
    // Hand out everything up to the last newline (or all of it at end of file).
    const char* base = buffer_.data();
    const void* last_nl = nullptr;
    for (size_t i = end_; i > 0; --i) {
      if (base[i - 1] == '\n') {
        last_nl = base + i - 1;
        break;
      }
    }
    if (last_nl != nullptr) {
      const size_t len = static_cast<const char*>(last_nl) - base + 1;
      if (!eof_ && len < buffer_.size() / 2 && end_ < buffer_.size()) continue;  // fill more first
      *chunk = std::string_view(base, len);
      begin_ = len;
      return Status::Ok();
    }
    if (eof_) {
      *chunk = std::string_view(base, end_);
      begin_ = end_;
      return Status::Ok();
    }
    if (end_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);  // a line longer than a block
  }
}

}  // namespace edgetrain::internal
