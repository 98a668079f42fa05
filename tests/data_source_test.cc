// DataSource: a growing file and a rotated directory re-read incrementally, as an agent will do
// at the start of every training round.
#include "edgetrain/data_source.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "doctest/doctest.h"
#include "edgetrain/readers.h"
#include "test_util.h"

namespace edgetrain {
namespace {

using testing::TempDir;
using testing::WriteText;

void Append(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::app | std::ios::binary);
  f << text;
}

// CSV rows "t,a,y" numbered from `first`: a = t * 0.5, y alternates ok/scrap.
std::string Rows(int first, int count) {
  std::string out;
  for (int t = first; t < first + count; ++t) {
    out +=
        std::to_string(t) + "," + std::to_string(t * 0.5) + "," + (t % 2 ? "scrap" : "ok") + "\n";
  }
  return out;
}

ReadOptions LineOptions() {
  ReadOptions o;
  o.label_column = "y";
  o.defer_label_map = true;
  return o;
}

// The 't' column of every row held (feature 0), to check that each row is there exactly once.
std::vector<int> Times(const Dataset& d) {
  std::vector<int> t;
  for (int64_t i = 0; i < d.rows(); ++i) {
    const RowView r = d.Row(i);
    t.push_back(r.nnz > 0 && r.index[0] == 0 ? static_cast<int>(r.value[0]) : 0);
  }
  return t;
}

std::vector<int> Range(int first, int last) {
  std::vector<int> v;
  for (int t = first; t <= last; ++t) v.push_back(t);
  return v;
}

Result<RefreshReport> Refresh(DataSource* s) {
  Result<RefreshReport> r = s->Refresh();
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return r;
}

TEST_CASE("a file that grows by appends: only new rows, a partial last line waits") {
  TempDir dir;
  const std::string path = dir.File("line.csv");
  WriteText(path, "t,a,y\n" + Rows(1, 5));
  DataSource source(path, LineOptions());
  Result<RefreshReport> r = Refresh(&source);
  CHECK(r->new_rows == 5);
  CHECK(r->total_rows == 5);
  CHECK(source.data().raw_labels() == std::vector<std::string>{"scrap", "ok"});  // deferred
  CHECK(source.data().feature_names() == std::vector<std::string>{"t", "a"});

  r = Refresh(&source);  // nothing new
  CHECK(r->new_rows == 0);
  CHECK(r->files_read == 0);

  Append(path, Rows(6, 3) + "9,4.");  // the logger is in the middle of row 9
  r = Refresh(&source);
  CHECK(r->new_rows == 3);
  CHECK(Times(source.data()) == Range(1, 8));
  Append(path, "5,scrap\n10,5,ok\n");
  r = Refresh(&source);
  CHECK(r->new_rows == 2);
  CHECK(r->total_rows == 10);
  CHECK(Times(source.data()) == Range(1, 10));
  CHECK(source.data().Row(8).value[1] == 4.5);

  // An error in appended rows names the file and its real line; nothing is appended.
  Append(path, "11,x,ok\n");
  Result<RefreshReport> bad = source.Refresh();
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("line.csv:12:4: found 'x'") != std::string::npos);
  CHECK(source.data().rows() == 10);
}

TEST_CASE(
    "a rotated directory: renamed files are not re-read, new ones are, gzip copies are "
    "recognised") {
  TempDir dir;
  const std::string logs = dir.path() + "/logs";
  REQUIRE(::mkdir(logs.c_str(), 0755) == 0);
  const std::string cur = logs + "/line.csv";
  WriteText(cur, "t,a,y\n" + Rows(1, 4));
  DataSource source(logs, LineOptions());
  CHECK(Refresh(&source)->new_rows == 4);

  // Rotation: line.csv -> line.csv.1 (same inode, two more rows written before the rename),
  // and a new line.csv.
  Append(cur, Rows(5, 2));
  REQUIRE(std::rename(cur.c_str(), (cur + ".1").c_str()) == 0);
  WriteText(cur, "t,a,y\n" + Rows(7, 3));
  Result<RefreshReport> r = Refresh(&source);
  CHECK(r->new_rows == 5);
  CHECK(r->notes.empty());
  std::vector<int> t = Times(source.data());
  std::sort(t.begin(), t.end());
  CHECK(t == Range(1, 9));

  // logrotate's compress: line.csv.1 becomes line-2026-11-30.csv.gz (a new inode, the same
  // rows): nothing new.
  REQUIRE(std::system(("gzip -n -c '" + cur + ".1' > '" + logs +
                       "/line-2026-11-30.csv.gz' && rm '" + cur + ".1'")
                          .c_str()) == 0);
  r = Refresh(&source);
  CHECK(r->new_rows == 0);
  CHECK(source.data().rows() == 9);

  // A new gzip file with new rows is read whole; one still being written waits.
  WriteText(logs + "/extra.csv", "t,a,y\n" + Rows(10, 2));
  REQUIRE(std::system(("gzip -n '" + logs + "/extra.csv'").c_str()) == 0);
  const std::string whole = testing::ReadText(logs + "/extra.csv.gz");
  REQUIRE(std::rename((logs + "/extra.csv.gz").c_str(), (dir.path() + "/keep.gz").c_str()) == 0);
  WriteText(logs + "/extra.csv.gz", whole.substr(0, whole.size() - 6));
  r = Refresh(&source);
  CHECK(r->new_rows == 0);
  REQUIRE(r->notes.size() == 1);
  CHECK(r->notes[0].find("still being written") != std::string::npos);
  WriteText(logs + "/extra.csv.gz", whole);
  r = Refresh(&source);
  CHECK(r->new_rows == 2);
  t = Times(source.data());
  std::sort(t.begin(), t.end());
  CHECK(t == Range(1, 11));
}

TEST_CASE("a truncated or replaced file is reported and read again from its start") {
  TempDir dir;
  const std::string path = dir.File("line.csv");
  WriteText(path, "t,a,y\n" + Rows(1, 6));
  DataSource source(path, LineOptions());
  CHECK(Refresh(&source)->new_rows == 6);
  // Truncated in place (copytruncate without the copy): new rows from the start.
  {
    std::ofstream f(path, std::ios::trunc);
    f << "t,a,y\n" << Rows(20, 2);
  }
  Result<RefreshReport> r = Refresh(&source);
  CHECK(r->new_rows == 2);
  REQUIRE(r->notes.size() == 1);
  CHECK(r->notes[0].find("truncated") != std::string::npos);
  // Replaced: another inode under the same name.
  WriteText(dir.File("next"), "t,a,y\n" + Rows(30, 3));
  REQUIRE(std::rename(dir.File("next").c_str(), path.c_str()) == 0);
  r = Refresh(&source);
  CHECK(r->new_rows == 3);
  REQUIRE(r->notes.size() == 1);
  CHECK(r->notes[0].find("replaced") != std::string::npos);
  CHECK(source.data().rows() == 11);
}

TEST_CASE("CSV files must share the first file's header, libsvm directories and labels merge") {
  TempDir dir;
  const std::string logs = dir.path() + "/logs";
  REQUIRE(::mkdir(logs.c_str(), 0755) == 0);
  WriteText(logs + "/a.csv", "t,a,y\n" + Rows(1, 2));
  DataSource source(logs, LineOptions());
  CHECK(Refresh(&source)->new_rows == 2);
  WriteText(logs + "/b.csv", "t,b,y\n" + Rows(3, 2));
  Result<RefreshReport> bad = source.Refresh();
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("b.csv:1: found the header 't,b,y'") != std::string::npos);
  CHECK(source.data().rows() == 2);

  // libsvm shards: the labels found in different files merge into one deferred pair; a third
  // is refused.
  const std::string svm = dir.path() + "/svm";
  REQUIRE(::mkdir(svm.c_str(), 0755) == 0);
  WriteText(svm + "/1.svm", "7 1:1\n7 2:1\n");
  DataSource labels(svm, ReadOptions{});
  CHECK(Refresh(&labels)->new_rows == 2);
  CHECK(labels.data().raw_labels() == std::vector<std::string>{"7"});
  WriteText(svm + "/2.svm", "3 1:2\n7 3:1\n");
  CHECK(Refresh(&labels)->new_rows == 2);
  CHECK(labels.data().raw_labels() == std::vector<std::string>{"7", "3"});
  CHECK(labels.data().y() == std::vector<double>{0, 0, 1, 0});
  CHECK(labels.data().dim() == 3);
  WriteText(svm + "/3.svm", "5 1:2\n5 1:1\n");
  Result<RefreshReport> third = labels.Refresh();
  REQUIRE_FALSE(third.ok());
  CHECK(third.status().message().find("third label '5'") != std::string::npos);
  REQUIRE(std::remove((svm + "/3.svm").c_str()) == 0);
  // After the coordinator's mapping the next rows come mapped too.
  REQUIRE(labels.mutable_data().ApplyLabelMap(LabelMap{"3", "7"}).ok());
  WriteText(svm + "/4.svm", "3 2:2\n");
  CHECK(Refresh(&labels)->new_rows == 1);
  CHECK(labels.data().y() == std::vector<double>{1, 1, -1, 1, -1});
}

}  // namespace
}  // namespace edgetrain
