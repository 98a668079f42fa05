// ReadDataFile and what the two parsers share: format choice, the finish of a Dataset, names.
#include "edgetrain/readers.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <string>

#include "block_reader.h"
#include "parse_number.h"
#include "row_parser.h"

namespace edgetrain {

const char* DataFormatName(DataFormat format) {
  switch (format) {
    case DataFormat::kAuto:
      return "auto";
    case DataFormat::kCsv:
      return "csv";
    case DataFormat::kLibsvm:
      return "libsvm";
  }
  return "unknown";
}

std::optional<DataFormat> ParseDataFormatName(std::string_view name) {
  for (DataFormat f : {DataFormat::kAuto, DataFormat::kCsv, DataFormat::kLibsvm}) {
    if (name == DataFormatName(f)) return f;
  }
  return std::nullopt;
}

const char* MissingPolicyName(MissingPolicy policy) {
  switch (policy) {
    case MissingPolicy::kError:
      return "error";
    case MissingPolicy::kSkip:
      return "skip";
    case MissingPolicy::kZero:
      return "zero";
    case MissingPolicy::kMean:
      return "mean";
  }
  return "unknown";
}

std::optional<MissingPolicy> ParseMissingPolicyName(std::string_view name) {
  for (MissingPolicy p :
       {MissingPolicy::kError, MissingPolicy::kSkip, MissingPolicy::kZero, MissingPolicy::kMean}) {
    if (name == MissingPolicyName(p)) return p;
  }
  return std::nullopt;
}

bool IsMissingCell(std::string_view cell) {
  while (!cell.empty() && cell.front() == ' ') cell.remove_prefix(1);
  while (!cell.empty() && (cell.back() == ' ' || cell.back() == '\r')) cell.remove_suffix(1);
  if (cell.empty()) return true;
  for (std::string_view token : {"NA", "N/A", "NaN", "nan", "NAN", "null", "NULL", "?"}) {
    if (cell == token) return true;
  }
  return false;
}

namespace {

bool IsLibsvmPair(std::string_view token) {
  size_t i = 0;
  while (i < token.size() && std::isdigit(static_cast<unsigned char>(token[i]))) ++i;
  return i > 0 && i < token.size() && token[i] == ':';
}

// A regular file that is not gzip can be read twice (a counting pass, then the parse).
bool Rereadable(const std::string& path) {
  if (path == "-") return false;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  unsigned char magic[2] = {0, 0};
  const ssize_t got = ::read(fd, magic, 2);
  ::close(fd);
  return !(got == 2 && magic[0] == 0x1f && magic[1] == 0x8b);
}

}  // namespace

DataFormat SniffFormat(std::string_view head) {
  size_t pos = 0;
  while (pos < head.size()) {
    size_t eol = head.find('\n', pos);
    if (eol == std::string_view::npos) eol = head.size();
    std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 1;
    size_t i = 0;
    auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
    while (i < line.size() && blank(line[i])) ++i;
    if (i == line.size() || line[i] == '#') continue;
    std::string_view tokens[2];
    for (int t = 0; t < 2 && i < line.size(); ++t) {
      size_t j = i;
      while (j < line.size() && !blank(line[j])) ++j;
      tokens[t] = line.substr(i, j - i);
      i = j;
      while (i < line.size() && blank(line[i])) ++i;
    }
    if (IsLibsvmPair(tokens[0]) || IsLibsvmPair(tokens[1])) return DataFormat::kLibsvm;
    if (tokens[1].empty() && line.find_first_of(",;\t|") == std::string_view::npos) {
      return DataFormat::kLibsvm;  // a label alone: a row of zeros
    }
    return DataFormat::kCsv;
  }
  return DataFormat::kLibsvm;
}

namespace internal {

void CountBounds(std::string_view text, int64_t* lines, int64_t* colons) {
  const char* p = text.data();
  const char* end = p + text.size();
  int64_t nl = 0, co = 0;
  for (; p < end; ++p) {
    nl += (*p == '\n');
    co += (*p == ':');
  }
  *lines += nl;
  *colons += co;
}

DataFormat ResolveFormat(const std::string& path, DataFormat requested, std::string_view head) {
  if (requested != DataFormat::kAuto) return requested;
  std::string lower;
  for (char c : path)
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  auto ends_with = [&](std::string_view suffix) {
    return lower.size() >= suffix.size() &&
           lower.compare(lower.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(".csv") || ends_with(".csv.gz")) return DataFormat::kCsv;
  return SniffFormat(head);
}

Result<Dataset> RowParser::Finish() {
  std::optional<LabelMap> map = options_.labels;
  if (labeled()) {
    Result<std::optional<LabelMap>> found = labels_.Finish(&y_, source_);
    if (!found.ok()) return found.status();
    map = std::move(*found);
  } else if (options_.task == Task::kRegression) {
    map.reset();
  }
  Dataset data(std::move(row_ptr_), std::move(index_), std::move(value_), std::move(y_),
               Dimension(), options_.task, std::move(map));
  if (options_.defer_label_map && labeled()) data.set_raw_labels(labels_.seen());
  data.set_labeled(labeled());
  if (!tag_end_.empty()) {
    std::vector<std::string> tags;
    tags.reserve(tag_end_.size());
    for (int64_t i = 0; i < static_cast<int64_t>(tag_end_.size()); ++i) tags.emplace_back(Tag(i));
    data.set_row_tags(std::move(tags));
  }
  EDGETRAIN_RETURN_IF_ERROR(Complete(&data));
  data.set_missing(std::move(missing_));
  return data;
}

}  // namespace internal

Result<Dataset> ReadDataFile(const std::string& path, const ReadOptions& options) {
  internal::BlockReader reader;
  EDGETRAIN_RETURN_IF_ERROR(reader.Open(path));
  std::string_view chunk;
  EDGETRAIN_RETURN_IF_ERROR(reader.Next(&chunk));
  const DataFormat format = internal::ResolveFormat(path, options.format, chunk);
  const std::string source = reader.stream().name();
  std::unique_ptr<internal::RowParser> parser = internal::NewParser(format, source, options);
  if (format == DataFormat::kLibsvm && Rereadable(path)) {
    // Count rows and non-zeros first, so the CSR arrays are allocated once and never regrown.
    int64_t lines = 1, colons = 0;
    internal::BlockReader counter;
    EDGETRAIN_RETURN_IF_ERROR(counter.Open(path));
    std::string_view c;
    do {
      EDGETRAIN_RETURN_IF_ERROR(counter.Next(&c));
      internal::CountBounds(c, &lines, &colons);
    } while (!c.empty());
    parser->Reserve(lines, colons);
  }
  while (!chunk.empty()) {
    EDGETRAIN_RETURN_IF_ERROR(parser->ParseChunk(chunk));
    EDGETRAIN_RETURN_IF_ERROR(reader.Next(&chunk));
  }
  return parser->Finish();
}

Result<Dataset> ReadLibsvmFile(const std::string& path, const ReadOptions& options) {
  ReadOptions o = options;
  o.format = DataFormat::kLibsvm;
  return ReadDataFile(path, o);
}

Result<Dataset> ReadCsvFile(const std::string& path, const ReadOptions& options) {
  ReadOptions o = options;
  o.format = DataFormat::kCsv;
  return ReadDataFile(path, o);
}

Result<Dataset> ParseLibsvm(std::string_view text, const std::string& source,
                            const ReadOptions& options) {
  int64_t lines = 1, colons = 0;
  internal::CountBounds(text, &lines, &colons);
  std::unique_ptr<internal::RowParser> parser = internal::NewLibsvmParser(source, options);
  parser->Reserve(lines, colons);
  EDGETRAIN_RETURN_IF_ERROR(parser->ParseChunk(text));
  return parser->Finish();
}

Result<Dataset> ParseCsv(std::string_view text, const std::string& source,
                         const ReadOptions& options) {
  std::unique_ptr<internal::RowParser> parser = internal::NewCsvParser(source, options);
  EDGETRAIN_RETURN_IF_ERROR(parser->ParseChunk(text));
  return parser->Finish();
}

}  // namespace edgetrain
