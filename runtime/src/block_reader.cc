#include "block_reader.h"

#include <cstring>

namespace edgetrain::internal {

Status BlockReader::Open(const std::string& path, int64_t offset) {
  Result<std::unique_ptr<InputStream>> in = InputStream::Open(path, offset);
  if (!in.ok()) return in.status();
  in_ = std::move(in).value();
  checked_text_ = offset > 0;  // a resumed file was checked when it was first read
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
  eof_ = false;  // a follower asks again later: the input may have grown
  while (true) {
    if (!eof_ && end_ < buffer_.size()) {
      Result<size_t> got = in_->Read(buffer_.data() + end_, buffer_.size() - end_);
      if (!got.ok()) return got.status();
      if (*got == 0) eof_ = true;
      end_ += *got;
    }
    if (!checked_text_ && (eof_ || end_ >= 4096)) {
      checked_text_ = true;
      EDGETRAIN_RETURN_IF_ERROR(CheckTextStart(
          std::string_view(buffer_.data(), std::min<size_t>(end_, 65536)), in_->name()));
    }
    if (!checked_text_) continue;
    // Hand out everything up to the last newline (or all of it at the end of the input).
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
      consumed_ += static_cast<int64_t>(len);
      return Status::Ok();
    }
    if (eof_) {
      if (in_->InsideGzipMember() && !hold_partial_line_) {
        return Status::Corrupt(in_->name() +
                               ": truncated gzip data (the input ends inside a gzip member, "
                               "before its end marker)");
      }
      if (hold_partial_line_) {
        *chunk = std::string_view();
        return Status::Ok();
      }
      *chunk = std::string_view(base, end_);
      begin_ = end_;
      consumed_ += static_cast<int64_t>(end_);
      return Status::Ok();
    }
    if (end_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);  // a line longer than a block
  }
}

}  // namespace edgetrain::internal
