// Ingest as plants store data: gzip, FIFOs, delimiters, missing values, binary input, huge
// indices, format sniffing, unlabeled rows, id columns; column statistics that merge; model
// fields that carry the reading rules to predict.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <thread>

#include "doctest/doctest.h"
#include "edgetrain/input.h"
#include "edgetrain/model.h"
#include "edgetrain/readers.h"
#include "edgetrain/scaler.h"
#include "test_util.h"

namespace edgetrain {
namespace {

using testing::SourcePath;
using testing::TempDir;
using testing::WriteText;

void Gzip(const std::string& path) {
  REQUIRE(std::system(("gzip -f -n '" + path + "'").c_str()) == 0);
}

void ExpectError(const Result<Dataset>& r, const std::string& what) {
  REQUIRE_FALSE(r.ok());
  INFO(r.status().message());
  CHECK(r.status().message().find(what) != std::string::npos);
}

ReadOptions CsvOptions(const std::string& label, char delimiter = ',') {
  ReadOptions o;
  o.label_column = label;
  o.csv_delimiter = delimiter;
  return o;
}

void CheckSameData(const Dataset& a, const Dataset& b) {
  CHECK(a.rows() == b.rows());
  CHECK(a.dim() == b.dim());
  CHECK(a.row_ptr() == b.row_ptr());
  CHECK(a.index() == b.index());
  CHECK(a.value() == b.value());
  CHECK(a.y() == b.y());
  CHECK(a.labels() == b.labels());
}

TEST_CASE(
    "gzip data is read by its magic bytes, whatever the name, and truncated or corrupt is an "
    "error") {
  TempDir dir;
  const std::string plain = SourcePath("data/heart_scale.svm");
  Result<Dataset> want = ReadDataFile(plain, {});
  REQUIRE(want.ok());
  const std::string gz = dir.File("heart.svm");
  REQUIRE(std::system(("cp '" + plain + "' '" + gz + "'").c_str()) == 0);
  Gzip(gz);  // heart.svm.gz
  Result<Dataset> got = ReadDataFile(gz + ".gz", {});
  REQUIRE_MESSAGE(got.ok(), got.status().ToString());
  CheckSameData(*want, *got);
  // The same bytes under a name without .gz.
  REQUIRE(std::rename((gz + ".gz").c_str(), dir.File("noext").c_str()) == 0);
  got = ReadDataFile(dir.File("noext"), {});
  REQUIRE(got.ok());
  CheckSameData(*want, *got);

  // Two gzip members one after the other (cat a.gz b.gz) are one stream of rows.
  const std::string text = testing::ReadText(plain);
  const size_t half = text.find('\n', text.size() / 2) + 1;
  WriteText(dir.File("a"), text.substr(0, half));
  WriteText(dir.File("b"), text.substr(half));
  Gzip(dir.File("a"));
  Gzip(dir.File("b"));
  REQUIRE(std::system(("cat '" + dir.File("a.gz") + "' '" + dir.File("b.gz") + "' > '" +
                       dir.File("ab.gz") + "'")
                          .c_str()) == 0);
  got = ReadDataFile(dir.File("ab.gz"), {});
  REQUIRE_MESSAGE(got.ok(), got.status().ToString());
  CheckSameData(*want, *got);

  // Truncated: the stream ends inside the member.
  std::string bytes = testing::ReadText(dir.File("noext"));
  WriteText(dir.File("cut.gz"), bytes.substr(0, bytes.size() / 2));
  ExpectError(ReadDataFile(dir.File("cut.gz"), {}), "truncated gzip data");
  // Corrupt: a flipped byte in the deflate data.
  std::string bad = bytes;
  bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 0x55);
  WriteText(dir.File("bad.gz"), bad);
  Result<Dataset> r = ReadDataFile(dir.File("bad.gz"), {});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("bad.gz") != std::string::npos);
  CHECK(r.status().message().find("gzip") != std::string::npos);
}

TEST_CASE("a named FIFO is read in one pass (a writer thread feeds it)") {
  TempDir dir;
  const std::string fifo = dir.File("feed");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const std::string text = testing::ReadText(SourcePath("data/heart_scale.svm"));
  std::thread writer([&] {
    const int fd = ::open(fifo.c_str(), O_WRONLY);
    size_t done = 0;
    while (fd >= 0 && done < text.size()) {  // small writes: the reader sees many short reads
      const ssize_t n = ::write(fd, text.data() + done, std::min<size_t>(777, text.size() - done));
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ::close(fd);
  });
  Result<Dataset> got = ReadDataFile(fifo, {});
  writer.join();
  REQUIRE_MESSAGE(got.ok(), got.status().ToString());
  CHECK(got->rows() == 270);
  CHECK(got->dim() == 13);
}

TEST_CASE("CSV delimiters: comma, semicolon, tab and pipe read the same rows") {
  TempDir dir;
  const std::string rows = "a#b#label\n1#2.5#yes\n3#-4#no\n\"5\"#6#yes\n";
  for (char d : {',', ';', '\t', '|'}) {
    std::string t = rows;
    for (char& c : t) c = c == '#' ? d : c;
    WriteText(dir.File("t.csv"), t);
    Result<Dataset> r = ReadDataFile(dir.File("t.csv"), CsvOptions("label", d));
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    CHECK(r->rows() == 3);
    CHECK(r->feature_names() == std::vector<std::string>{"a", "b"});
    CHECK(r->value() == std::vector<double>{1, 2.5, 3, -4, 5, 6});
  }
  // The wrong delimiter: one column named "a;b;label", no label column.
  WriteText(dir.File("s.csv"), "a;b;label\n1;2;yes\n");
  ExpectError(ReadDataFile(dir.File("s.csv"), CsvOptions("label")), "no column named 'label'");
}

TEST_CASE("missing values: error names file:line:column and the column, skip, zero, mean") {
  TempDir dir;
  const std::string path = dir.File("m.csv");
  WriteText(path,
            "t,a,b,y\n"
            "t1,1,NA,0\n"
            "t2,2,4,1\n"
            "t3,,6,1\n"
            "t4,7,?,0\n"
            "t5,null,8,1\n");
  ReadOptions o = CsvOptions("y");
  o.id_columns = {"t"};
  ExpectError(ReadDataFile(path, o), "m.csv:2:6: column 'b' holds 'NA' (a missing value)");

  o.missing = MissingPolicy::kSkip;
  Result<Dataset> r = ReadDataFile(path, o);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(r->rows() == 1);
  CHECK(r->missing().skipped_rows == 4);
  CHECK(r->row_tags() == std::vector<std::string>{"t2"});

  o.missing = MissingPolicy::kZero;
  r = ReadDataFile(path, o);
  REQUIRE(r.ok());
  CHECK(r->rows() == 5);
  CHECK(r->missing().cells == 4);
  CHECK(r->Row(0).nnz == 1);  // a = 1, b missing -> 0 (not stored)
  CHECK(r->Row(2).nnz == 1);

  o.missing = MissingPolicy::kMean;
  r = ReadDataFile(path, o);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  // a: present 1, 2, 7 -> mean 10/3; b: present 4, 6, 8 -> mean 6.
  REQUIRE(r->missing().fill_values.size() == 2);
  CHECK(r->missing().fill_values[0] == doctest::Approx(10.0 / 3).epsilon(1e-15));
  CHECK(r->missing().fill_values[1] == 6.0);
  CHECK(r->Row(0).value[1] == 6.0);
  CHECK(r->Row(2).value[0] == r->missing().fill_values[0]);
  CHECK(r->Row(4).value[0] == r->missing().fill_values[0]);
  CHECK(r->row_tags() == std::vector<std::string>{"t1", "t2", "t3", "t4", "t5"});

  // Given fill values (a model's) are used as they are; a fill of 0 stores nothing.
  o.fill_values = {0.0, -1.5};
  r = ReadDataFile(path, o);
  REQUIRE(r.ok());
  CHECK(r->Row(0).nnz == 2);
  CHECK(r->Row(0).value[1] == -1.5);
  CHECK(r->Row(2).nnz == 1);
  CHECK(r->missing().fill_values == o.fill_values);

  // A mean of 0 is not stored either.
  WriteText(path, "a,y\n-1,0\nNA,1\n1,0\n");
  ReadOptions z = CsvOptions("y");
  z.missing = MissingPolicy::kMean;
  r = ReadDataFile(path, z);
  REQUIRE(r.ok());
  CHECK(r->nnz() == 2);
  CHECK(r->missing().fill_values == std::vector<double>{0.0});
}

TEST_CASE("binary input is one clear line, never raw bytes, a model file points to show-model") {
  TempDir dir;
  Model m;
  m.task = Task::kRegression;
  m.dim = 2;
  m.weights = {1, 2};
  REQUIRE(WriteModelFile(dir.File("m.etm"), m).ok());
  Result<Dataset> r = ReadDataFile(dir.File("m.etm"), {});
  ExpectError(r, "an edgetrain model file, not data");
  ExpectError(r, "show-model");
  WriteText(dir.File("bin"), std::string("\x7f"
                                         "ELF\x02\x01\x01\0\0\0\x1b[2J",
                                         14));
  r = ReadDataFile(dir.File("bin"), {});
  ExpectError(r, "binary data");
  CHECK(r.status().message().find('\x1b') == std::string::npos);
  // Control bytes quoted from a text file come out escaped.
  r = ParseLibsvm("1 1:1\n1 2:\x1b[2Jx\n", "x.svm", {});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find('\x1b') == std::string::npos);
  CHECK(r.status().message().find("\\x1b") != std::string::npos);
  r = ParseCsv("a,y\n\x1b]0;title\x07,1\n", "x.csv", CsvOptions("y"));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find('\x07') == std::string::npos);
}

TEST_CASE("indices the trainer cannot hold are refused with their place before any allocation") {
  const long before = testing::AllocationCount();
  Result<Dataset> r = ParseLibsvm("1 1:1\n-1 2147483647:1\n", "x.svm", {});
  ExpectError(r, "x.svm:2:4: found '2147483647:1', expected an index of at most 67108864");
  CHECK(testing::AllocationCount() - before < 100);  // nothing proportional to the index
  ExpectError(ParseLibsvm("1 67108865:1\n", "x.svm", {}), "x.svm:1:3:");
  REQUIRE(ParseLibsvm("1 67108864:1\n-1 1:1\n", "x.svm", {}).ok());  // the largest that fits
  ReadOptions o;
  o.max_dim = 10;
  ExpectError(ParseLibsvm("1 1:1\n-1 11:1\n", "x.svm", o),
              "x.svm:2:4: found '11:1', expected an "
              "index of at most 10 (--max-dim)");
  o = CsvOptions("y");
  o.max_dim = 1;
  ExpectError(ParseCsv("a,b,y\n1,2,0\n", "x.csv", o), "x.csv:1: found 2 feature columns");
}

TEST_CASE("format: the name, then the first line decides, --format overrides") {
  CHECK(SniffFormat("1 1:0.5 3:1\n") == DataFormat::kLibsvm);
  CHECK(SniffFormat("# comment\n\n-1\t4:2\n") == DataFormat::kLibsvm);
  CHECK(SniffFormat("3:1 4:2\n") == DataFormat::kLibsvm);  // unlabeled row
  CHECK(SniffFormat("+1\n") == DataFormat::kLibsvm);       // a label alone
  CHECK(SniffFormat("a,b,label\n1,2,3\n") == DataFormat::kCsv);
  CHECK(SniffFormat("time;temp;ok\n") == DataFormat::kCsv);
  CHECK(SniffFormat("time stamp,x:1\n") == DataFormat::kCsv);
  TempDir dir;
  WriteText(dir.File("rows.txt"), "y,a\n1,2\n0,3\n");
  Result<Dataset> r = ReadDataFile(dir.File("rows.txt"), CsvOptions("y"));
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(r->feature_names() == std::vector<std::string>{"a"});
  ReadOptions o = CsvOptions("y");
  o.format = DataFormat::kLibsvm;
  ExpectError(ReadDataFile(dir.File("rows.txt"), o), "rows.txt:3:1: found a third label '0,3'");
  WriteText(dir.File("rows.csv"), "1 1:2\n");
  o.format = DataFormat::kLibsvm;
  o.task = Task::kRegression;
  CHECK(ReadDataFile(dir.File("rows.csv"), o).ok());
}

TEST_CASE(
    "rows without labels (labels_optional): libsvm rows that start with a pair, CSV without the "
    "label column") {
  ReadOptions o;
  o.labels_optional = true;
  o.labels = LabelMap{"-1", "1"};
  Result<Dataset> r = ParseLibsvm("1:0.5 3:2\n2:1\n", "u.svm", o);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK_FALSE(r->labeled());
  CHECK(r->rows() == 2);
  CHECK(r->dim() == 3);
  r = ParseLibsvm("1 1:0.5\n-1 2:1\n", "l.svm", o);
  REQUIRE(r.ok());
  CHECK(r->labeled());
  ExpectError(ParseLibsvm("1:0.5\n-1 2:1\n", "m.svm", o), "m.svm:2:1: found a label");
  ExpectError(ParseLibsvm("1 1:0.5\n2:1\n", "m.svm", o), "m.svm:2:1: found a row without a label");
  ExpectError(ParseLibsvm("1:0.5\n", "n.svm", {}), "expected a label before the first");

  o = CsvOptions("y");
  o.labels_optional = true;
  o.labels = LabelMap{"0", "1"};
  o.feature_columns = {"a", "b"};
  o.id_columns = {"id", "time"};
  r = ParseCsv("time,b,id,a\n10:00,2,p7,1\n10:01,4,p8,3\n", "u.csv", o);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK_FALSE(r->labeled());
  CHECK(r->value() == std::vector<double>{1, 2, 3, 4});
  CHECK(r->row_tags() == std::vector<std::string>{"p7\t10:00", "p8\t10:01"});
  r = ParseCsv("id,time,a,b,y\np7,10:00,1,2,1\n", "l.csv", o);
  REQUIRE(r.ok());
  CHECK(r->labeled());
  CHECK(r->y() == std::vector<double>{1});
  o.id_columns = {"serial"};
  ExpectError(ParseCsv("a,b\n1,2\n", "u.csv", o), "no column named 'serial' for --id-column");
}

TEST_CASE("ColumnStats of three shards of a real file merge into the scalers of the whole file") {
  for (const char* file : {"data/wdbc.csv", "data/heart_scale.svm", "data/spam/train.svm"}) {
    INFO(file);
    ReadOptions o = CsvOptions("diagnosis");
    Result<Dataset> all = ReadDataFile(SourcePath(file), o);
    REQUIRE_MESSAGE(all.ok(), all.status().ToString());
    // Shards of different widths: the last features may be missing from a shard.
    ColumnStats merged;
    for (int k = 0; k < 3; ++k) {
      Dataset shard = all->Shard(k, 3);
      ColumnStats s = ColumnStats::Compute(shard);
      if (k == 1) s.Merge(ColumnStats());  // merging empty stats changes nothing
      merged.Merge(s);
    }
    REQUIRE(merged.rows == all->rows());
    REQUIRE(merged.dim() == all->dim());
    for (ScalerKind kind : {ScalerKind::kStandard, ScalerKind::kMinMax, ScalerKind::kMaxAbs}) {
      const Scaler whole = Scaler::Fit(*all, kind);
      const Scaler from = Scaler::FromStats(merged, kind);
      REQUIRE(from.offset.size() == whole.offset.size());
      for (size_t j = 0; j < whole.offset.size(); ++j) {
        CHECK(std::fabs(from.offset[j] - whole.offset[j]) <=
              1e-12 * (1 + std::fabs(whole.offset[j])));
        CHECK(std::fabs(from.factor[j] - whole.factor[j]) <=
              1e-12 * (1 + std::fabs(whole.factor[j])));
      }
    }
    // Against the definition, column by column (implicit zeros included).
    for (int32_t j = 0; j < all->dim(); j += 7) {
      double lo = 0, hi = 0, sum = 0;
      bool first = true;
      for (int64_t i = 0; i < all->rows(); ++i) {
        const RowView row = all->Row(i);
        double v = 0;
        for (int32_t k = 0; k < row.nnz; ++k) {
          if (row.index[k] == j) v = row.value[k];
        }
        lo = first ? v : std::min(lo, v);
        hi = first ? v : std::max(hi, v);
        first = false;
        sum += v;
      }
      CHECK(merged.Min(j) == lo);
      CHECK(merged.Max(j) == hi);
      CHECK(merged.sum[j] == doctest::Approx(sum).epsilon(1e-12));
    }
  }
}

TEST_CASE(
    "the model records label column, missing policy and fills, files without them still load") {
  TempDir dir;
  Model m;
  m.task = Task::kClassification;
  m.labels = LabelMap{"ok", "scrap"};
  m.dim = 2;
  m.weights = {0.5, -1};
  m.feature_names = {"temp", "pressure"};
  m.label_column = "quality";
  m.missing = MissingPolicy::kMean;
  m.fill_values = {21.5, 1013.25};
  REQUIRE(WriteModelFile(dir.File("m.etm"), m).ok());
  Result<Model> back = ReadModelFile(dir.File("m.etm"));
  REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  CHECK(back->label_column == "quality");
  CHECK(back->missing == MissingPolicy::kMean);
  CHECK(back->fill_values == m.fill_values);
  // Written before these fields existed (the fuzz seed corpus): defaults.
  Result<Model> old = ReadModelFile(SourcePath("tests/fuzz/corpus/model_file/wdbc-standard.etm"));
  REQUIRE_MESSAGE(old.ok(), old.status().ToString());
  CHECK(old->label_column.empty());
  CHECK(old->missing == MissingPolicy::kError);
  CHECK(old->fill_values.empty());
}

}  // namespace
}  // namespace edgetrain
