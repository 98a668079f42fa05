// libsvm and CSV readers: accepted syntax, label mapping, and that every error names the place.
#include <string>

#include "doctest/doctest.h"
#include "edgetrain/readers.h"
#include "edgetrain/scaler.h"
#include "test_util.h"

namespace edgetrain {
namespace {

Result<Dataset> Libsvm(const std::string& text, ReadOptions options = {}) {
  return ParseLibsvm(text, "src", options);
}

// Expects a failure whose message contains `where` and `what`.
void ExpectError(const Result<Dataset>& r, const std::string& where, const std::string& what) {
  REQUIRE_FALSE(r.ok());
  const std::string& m = r.status().message();
  INFO(m);
  CHECK(m.find(where) != std::string::npos);
  CHECK(m.find(what) != std::string::npos);
}

TEST_CASE("libsvm: rows, indices, comments, qid, blank lines, CRLF") {
  const std::string text =
      "# a comment line\n"
      "\n"
      "+1 1:0.5 3:2 # trailing comment\n"
      "-1 qid:7 2:-1.5e2 4:0\r\n"
      "   \n"
      "1 4:3\n";
  Result<Dataset> r = Libsvm(text);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  const Dataset& d = *r;
  CHECK(d.rows() == 3);
  CHECK(d.dim() == 4);
  CHECK(d.nnz() == 4);  // the explicit 4:0 is not stored
  RowView row = d.Row(0);
  REQUIRE(row.nnz == 2);
  CHECK(row.index[0] == 0);
  CHECK(row.value[0] == 0.5);
  CHECK(row.index[1] == 2);
  CHECK(d.Row(1).value[0] == -150.0);
  CHECK(d.y() == std::vector<double>{1, -1, 1});
  CHECK(d.labels()->positive == "+1");
  CHECK(d.labels()->negative == "-1");
}

TEST_CASE("libsvm: every malformed line is reported as file:line:column with what was expected") {
  ExpectError(Libsvm("1 2:1 2:3\n-1 1:1\n"), "src:1:7:", "duplicate index");
  ExpectError(Libsvm("1 3:1 2:1\n-1 1:1\n"), "src:1:7:", "indices must increase");
  ExpectError(Libsvm("1 2:abc\n"), "src:1:5:", "expected a number after ':'");
  ExpectError(Libsvm("1 0:1\n"), "src:1:3:", "1-based");
  ExpectError(Libsvm("2:1 3:1\n"), "src:1:1:", "expected a label");
  ExpectError(Libsvm("1 2:nan\n"), "src:1:5:", "finite");
  ExpectError(Libsvm("1 2:inf\n"), "src:1:5:", "finite");
  ExpectError(Libsvm("1 2:1e999\n"), "src:1:5:", "finite");
  ExpectError(Libsvm("1 2:1\n-1 2:1\n3 1:1\n"), "src:3:1:", "third label '3'");
  ExpectError(Libsvm("1 2\n"), "src:1:3:", "index:value");
  ExpectError(Libsvm("1 x:1\n"), "src:1:3:", "index:value");
  ExpectError(Libsvm("1 2:1\n1 3:1\n"), "src", "only the label '1'");
  // Line numbers count blank and comment lines.
  ExpectError(Libsvm("# c\n\n1 1:1\n-1 2:1 # t\n  \n+1 qid:3 1:0.5\n1 1:x\n"),
              "src:7:5:", "a number");
}

TEST_CASE("libsvm: regression targets") {
  ReadOptions o;
  o.task = Task::kRegression;
  Result<Dataset> r = Libsvm("1.5 1:1\n-2e3 2:1\n7 1:2\n", o);
  REQUIRE(r.ok());
  CHECK(r->y() == std::vector<double>{1.5, -2000.0, 7.0});
  CHECK_FALSE(r->labels().has_value());
  ExpectError(Libsvm("nan 1:1\n", o), "src:1:1:", "finite target");
  ExpectError(Libsvm("x 1:1\n", o), "src:1:1:", "numeric target");
}

TEST_CASE(
    "label mapping: larger label is +1, --positive-label overrides, a test file uses the model's") {
  Result<Dataset> r = Libsvm("0 1:1\n1 1:2\n0 1:3\n");
  REQUIRE(r.ok());
  CHECK(r->y() == std::vector<double>{-1, 1, -1});
  CHECK(*r->labels() == LabelMap{"0", "1"});
  r = Libsvm("4 1:1\n2 1:2\n");
  REQUIRE(r.ok());
  CHECK(r->y() == std::vector<double>{1, -1});
  ReadOptions o;
  o.positive_label = "2";
  r = Libsvm("4 1:1\n2 1:2\n", o);
  REQUIRE(r.ok());
  CHECK(r->y() == std::vector<double>{-1, 1});
  o.positive_label = "3";
  ExpectError(Libsvm("4 1:1\n2 1:2\n", o), "src", "positive label '3' is not one of");
  // Same number written differently is the same label.
  r = Libsvm("+1 1:1\n1.0 1:2\n-1 1:1\n");
  REQUIRE(r.ok());
  CHECK(r->y() == std::vector<double>{1, 1, -1});
  ReadOptions test;
  test.labels = LabelMap{"0", "1"};
  r = Libsvm("1 1:1\n1 1:1\n", test);  // one class is fine for test data
  REQUIRE(r.ok());
  CHECK(r->y() == std::vector<double>{1, 1});
  ExpectError(Libsvm("1 1:1\n5 1:1\n", test),
              "src:2:1:", "label '5', expected one of the model's labels");
}

TEST_CASE("libsvm: a missing file names the path") {
  Result<Dataset> r = ReadLibsvmFile("/nonexistent/file.svm", {});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kNotFound);
  CHECK(r.status().message().find("/nonexistent/file.svm") != std::string::npos);
}

TEST_CASE("libsvm: streaming in blocks gives the same dataset as parsing in one piece") {
  // Long lines crossing the reader's 4 MB block boundaries, and a last line without newline.
  std::string text;
  int line = 0;
  while (text.size() < 9u << 20) {
    text += (line % 2 ? "1" : "-1");
    for (int j = 1; j <= 300 + (line % 7) * 1000; j += 1 + (line % 3)) {
      text += ' ';
      text += std::to_string(j);
      text += ':';
      text += std::to_string((line * 31 + j) % 97 / 7.0);
    }
    text += "\n";
    ++line;
  }
  text += "1 5:1";
  testing::TempDir dir;
  testing::WriteText(dir.File("big.svm"), text);
  Result<Dataset> streamed = ReadLibsvmFile(dir.File("big.svm"), {});
  Result<Dataset> whole = ParseLibsvm(text, "whole", {});
  REQUIRE(streamed.ok());
  REQUIRE(whole.ok());
  CHECK(streamed->rows() == line + 1);
  CHECK(streamed->row_ptr() == whole->row_ptr());
  CHECK(streamed->index() == whole->index());
  CHECK(streamed->value() == whole->value());
  CHECK(streamed->y() == whole->y());
  // An error deep in the file still names the right line.
  testing::WriteText(dir.File("bad.svm"), text + "\n1 3:2 2:1\n");
  Result<Dataset> bad = ReadLibsvmFile(dir.File("bad.svm"), {});
  REQUIRE_FALSE(bad.ok());
  std::string where = ":";
  where += std::to_string(line + 2);
  where += ":7:";
  CHECK(bad.status().message().find(where) != std::string::npos);
}

TEST_CASE("the bundled datasets load") {
  CHECK(testing::LoadLibsvm(testing::SourcePath("data/heart_scale.svm")).rows() == 270);
  const Dataset spam = testing::LoadLibsvm(testing::SourcePath("data/spam/train.svm"));
  CHECK(spam.rows() == 1600);
  CHECK(spam.dim() > 10000);
}

Result<Dataset> Csv(const std::string& text, ReadOptions o = {}) {
  if (o.label_column.empty()) o.label_column = "label";
  return ParseCsv(text, "t.csv", o);
}

TEST_CASE("CSV: header, label by name, string labels, quoting, feature subset") {
  Result<Dataset> r = Csv("a,\"b,c\",label\n1,2,yes\n0,\"-3\",no\n");
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(r->rows() == 2);
  CHECK(r->dim() == 2);
  CHECK(r->feature_names() == std::vector<std::string>{"a", "b,c"});
  CHECK(r->y() == std::vector<double>{1, -1});  // "yes" > "no"
  CHECK(r->Row(1).nnz == 1);                    // the 0 is not stored
  CHECK(r->Row(1).value[0] == -3);
  ReadOptions o;
  o.feature_columns = {"label2", "a"};
  o.label_column = "b";
  o.task = Task::kRegression;
  r = Csv("a,b,label2\n1,2.5,7\n3,4,8\n", o);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(r->feature_names() == std::vector<std::string>{"label2", "a"});
  CHECK(r->y() == std::vector<double>{2.5, 4});
  CHECK(r->Row(0).value[0] == 7);
  CHECK(r->Row(0).value[1] == 1);
}

TEST_CASE("CSV: errors name the row and the column") {
  ExpectError(Csv("a,b,label\n1,2,yes\n3,,no\n"), "t.csv:3:3:", "column 'b' is empty");
  ExpectError(Csv("a,b,label\n1,x,yes\n"),
              "t.csv:2:3:", "found 'x' in column 'b', expected a number");
  ExpectError(Csv("a,b,label\n1,nan,yes\n"), "t.csv:2:3:", "holds 'nan' (a missing value)");
  ExpectError(Csv("a,b,label\n1,inf,yes\n"), "t.csv:2:3:", "finite");
  ExpectError(Csv("a,b,label\n1,2\n"), "t.csv:2:", "found 2 fields, expected 3");
  ExpectError(Csv("a,b,label\n1,2,\n"), "t.csv:2:5:", "label column 'label' is empty");
  ReadOptions o;
  o.label_column = "y";
  ExpectError(Csv("a,b,label\n1,2,3\n", o), "t.csv:1:", "no column named 'y'");
  o.label_column = "label";
  o.feature_columns = {"zz"};
  ExpectError(Csv("a,b,label\n1,2,3\n", o), "t.csv:1:", "no column named 'zz' for a feature");
  ExpectError(Csv("a,a,label\n1,2,3\n"), "t.csv:1:3:", "twice");
  ExpectError(Csv("a,\"b,label\n1,2,3\n"), "t.csv:1:3:", "unterminated quote");
  ExpectError(Csv("a,b,label\n1,2,x\n3,4,y\n5,6,z\n"), "t.csv:4:5:", "third label 'z'");
}

TEST_CASE("CSV: the bundled Shuttle sensor data with string labels") {
  ReadOptions o;
  o.label_column = "Class";
  o.positive_label = "Rad.Flow";
  Result<Dataset> r = ReadCsvFile(testing::SourcePath("data/shuttle-train.csv"), o);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(r->rows() == 46400);
  CHECK(r->dim() == 9);
  CHECK(r->labels()->positive == "Rad.Flow");
}

TEST_CASE("scaler: standard gives mean 0 / variance 1, maxabs keeps sparsity, decisions fold") {
  Result<Dataset> r = Csv("a,b,label\n1,0,1\n3,4,0\n5,0,1\n7,-8,0\n");
  REQUIRE(r.ok());
  const Scaler st = Scaler::Fit(*r, ScalerKind::kStandard);
  const Dataset s = st.Apply(*r);
  for (int32_t j = 0; j < 2; ++j) {
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < s.rows(); ++i) {
      const RowView row = s.Row(i);
      for (int32_t k = 0; k < row.nnz; ++k) {
        if (row.index[k] == j) {
          sum += row.value[k];
          sq += row.value[k] * row.value[k];
        }
      }
    }
    CHECK(sum / 4 == doctest::Approx(0.0).epsilon(1e-12));
    CHECK(sq / 4 == doctest::Approx(1.0));
  }
  const Scaler ma = Scaler::Fit(*r, ScalerKind::kMaxAbs);
  const Dataset m = ma.Apply(*r);
  CHECK(m.nnz() == r->nnz());
  CHECK(ma.factor[1] == doctest::Approx(1.0 / 8));
  const Scaler mm = Scaler::Fit(*r, ScalerKind::kMinMax);
  CHECK(mm.offset[1] == -8);
  CHECK(mm.factor[1] == doctest::Approx(1.0 / 12));
}

TEST_CASE("shards partition the rows in order") {
  const Dataset data = testing::LoadLibsvm(testing::SourcePath("data/heart_scale.svm"));
  int64_t total = 0;
  for (int k = 0; k < 7; ++k) {
    const Dataset shard = data.Shard(k, 7);
    CHECK(shard.dim() == data.dim());
    for (int64_t i = 0; i < shard.rows(); ++i) {
      CHECK(shard.y()[i] == data.y()[total + i]);
      CHECK(shard.Row(i).nnz == data.Row(total + i).nnz);
    }
    total += shard.rows();
  }
  CHECK(total == data.rows());
}

}  // namespace
}  // namespace edgetrain
