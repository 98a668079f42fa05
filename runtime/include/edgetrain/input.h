// InputStream: the bytes of one data source, read once from front to back.
//
// A source is a file, standard input ("-"), a pipe or a named FIFO. Nothing is opened twice and
// nothing seeks, so a pipe is read in one pass. Data that starts with the gzip magic bytes
// (1f 8b) is decompressed on the fly (zlib; concatenated gzip members are read one after the
// other), whatever the name says. Binary input that is neither text nor gzip is refused by
// CheckTextStart() before a reader quotes any of it.
//
// End of input: Read() returns 0 when no more bytes are available *now*. For a whole-file read
// that is the end; a caller that follows a growing file (DataSource, `score --follow`) calls
// Read() again later. InsideGzipMember() tells whether the raw bytes stopped inside a gzip member:
// a truncated .gz for a whole-file read, or one still being written for a follower.
//
// Thread-safety: one thread at a time. Ownership: the stream owns its file descriptor (standard
// input is not closed) and its zlib state.
#ifndef EDGETRAIN_INPUT_H_
#define EDGETRAIN_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "edgetrain/status.h"

namespace edgetrain {

class InputStream {
 public:
  // Opens `path` ("-" is standard input) and, for a regular file, starts at raw byte `offset`.
  // REQUIRES: offset == 0 unless path names a regular file.
  static Result<std::unique_ptr<InputStream>> Open(const std::string& path, int64_t offset = 0);
  ~InputStream();
  InputStream(const InputStream&) = delete;
  InputStream& operator=(const InputStream&) = delete;

  // Reads up to `n` bytes of (decompressed) data into `buf`; blocks on an empty pipe until a
  // writer writes or closes. Returns 0 when the input has no more bytes now. Corrupt gzip data
  // is an error naming the source.
  Result<size_t> Read(char* buf, size_t n);

  // The name used in messages: the path, or "stdin".
  const std::string& name() const { return name_; }
  // The file descriptor (for poll(2) by a follower).
  int fd() const { return fd_; }
  // Whether the data is gzip (known after the first bytes arrived).
  bool compressed() const { return mode_ == Mode::kGzip; }
  // Whether decompressed bytes or raw bytes are held in memory, so Read() returns data without
  // touching the descriptor.
  bool HasBufferedData() const;
  // True when the raw bytes so far end inside a gzip member (truncated, or still being written).
  bool InsideGzipMember() const;
  // Raw bytes consumed from the descriptor, counted from the start of the file.
  int64_t raw_offset() const { return raw_offset_; }

  struct Impl;

 private:
  enum class Mode { kUnknown, kPlain, kGzip };
  InputStream() = default;
  Status FillRaw();
  Result<size_t> Inflate(char* buf, size_t n);

  std::string name_;
  int fd_ = -1;
  bool own_fd_ = true;
  Mode mode_ = Mode::kUnknown;
  bool raw_eof_ = false;
  int64_t raw_offset_ = 0;
  std::unique_ptr<char[]> raw_;
  size_t raw_begin_ = 0, raw_end_ = 0;
  std::unique_ptr<Impl> z_;
  bool member_open_ = false;
};

// Whether the first bytes of a source are binary rather than text: a NUL byte, or the model
// file's identifier. Returns the error for the source (naming `show-model` for a model file),
// or OK for text.
Status CheckTextStart(std::string_view head, const std::string& source);

}  // namespace edgetrain

#endif  // EDGETRAIN_INPUT_H_
