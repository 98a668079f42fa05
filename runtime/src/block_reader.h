// BlockReader: streams a text file as chunks of whole lines (internal header).
//
// Each chunk ends at a newline, except the last one of a file that does not end with one. The
// reader keeps one buffer (grown only for a line longer than it), so reading a file of any size
// costs a few MB of memory, not the file's size.
#ifndef EDGETRAIN_RUNTIME_BLOCK_READER_H_
#define EDGETRAIN_RUNTIME_BLOCK_READER_H_

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "edgetrain/status.h"

namespace edgetrain::internal {

class BlockReader {
 public:
  static constexpr size_t kBlockBytes = 1 << 20;  // 1 MB: loads as fast as 4 MB, 3 MB less peak RSS

  BlockReader() = default;
  BlockReader(const BlockReader&) = delete;
  BlockReader& operator=(const BlockReader&) = delete;
  ~BlockReader() {
    if (file_ != nullptr) std::fclose(file_);
  }

  Status Open(const std::string& path);
  // Sets *chunk to the next run of whole lines; an empty chunk means end of file.
  Status Next(std::string_view* chunk);

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  std::vector<char> buffer_;
  size_t begin_ = 0;  // start of the unconsumed bytes in buffer_
  size_t end_ = 0;    // end of valid bytes in buffer_
  bool eof_ = false;
};

}  // namespace edgetrain::internal

#endif  // EDGETRAIN_RUNTIME_BLOCK_READER_H_
