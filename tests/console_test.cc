// The programs' output lines (cli/log.h): the sd-daemon "<N>" priority prefix exactly when a
// stream is the journal stream $JOURNAL_STREAM names, checked on real file descriptors and through
// the real programs with the variable set to the device:inode of the file their output goes to.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "edgetrain/cli/log.h"
#include "test_util.h"

namespace edgetrain {
namespace {

// "DEVICE:INODE" of an open descriptor, as systemd writes $JOURNAL_STREAM.
std::string StreamId(int fd) {
  struct stat st;
  REQUIRE(::fstat(fd, &st) == 0);
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}
std::string StreamId(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  REQUIRE(fd >= 0);
  const std::string id = StreamId(fd);
  ::close(fd);
  return id;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Everything written to a FILE (a real temporary file) through `write`.
template <typename F>
std::string Written(F write) {
  std::FILE* file = std::tmpfile();
  REQUIRE(file != nullptr);
  write(file);
  std::rewind(file);
  std::string text;
  for (int c; (c = std::fgetc(file)) != EOF;) text += static_cast<char>(c);
  std::fclose(file);
  return text;
}

TEST_CASE("IsJournalStream: the device and inode of this very descriptor, nothing else") {
  testing::TempDir dir;
  testing::WriteText(dir.File("a"), "");
  testing::WriteText(dir.File("b"), "");
  const int a = ::open(dir.File("a").c_str(), O_WRONLY);
  const int b = ::open(dir.File("b").c_str(), O_WRONLY);
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  const std::string id = StreamId(a);
  CHECK(cli::IsJournalStream(a, id.c_str()));
  CHECK_FALSE(cli::IsJournalStream(b, id.c_str()));            // same device, another inode
  CHECK_FALSE(cli::IsJournalStream(pipe_fds[1], id.c_str()));  // a pipe (another file system)
  CHECK(cli::IsJournalStream(pipe_fds[1], StreamId(pipe_fds[1]).c_str()));
  const std::string device = id.substr(0, id.find(':')), inode = id.substr(id.find(':') + 1);
  for (const std::string& bad : {std::string(""), ":" + inode, device + ":", device, device + inode,
                                 id + ":1", "-" + id, id + " ", " " + id, "0x" + id}) {
    INFO("'" << bad << "'");
    CHECK_FALSE(cli::IsJournalStream(a, bad.c_str()));
  }
  CHECK_FALSE(cli::IsJournalStream(a, nullptr));
  CHECK_FALSE(cli::IsJournalStream(-1, id.c_str()));  // a closed descriptor
  for (int fd : {a, b, pipe_fds[0], pipe_fds[1]}) ::close(fd);
}

TEST_CASE("LineSink: the <N> prefix on every line for the journal, plain lines otherwise") {
  const auto write_all = [](bool journal) {
    return Written([journal](std::FILE* f) {
      const cli::LineSink sink(f, journal);
      sink.Write(cli::Priority::kError, "e");
      sink.Write(cli::Priority::kWarning, "w");
      sink.Write(cli::Priority::kNotice, "n");
      sink.Write(cli::Priority::kInfo, "i");
      sink.Write(cli::Priority::kDebug, "d");
      sink.Write(cli::Priority::kInfo, "two\nlines\n");  // one journal entry per line
      sink.Write(cli::Priority::kInfo, "");
    });
  };
  CHECK(write_all(true) == "<3>e\n<4>w\n<5>n\n<6>i\n<7>d\n<6>two\n<6>lines\n<6>\n");
  CHECK(write_all(false) == "e\nw\nn\ni\nd\ntwo\nlines\n\n");
}

TEST_CASE("Console: errors and warnings to err, the rest to out") {
  std::string err_text;
  const std::string out_text = Written([&](std::FILE* out) {
    err_text = Written([&](std::FILE* err) {
      const cli::Console console(cli::LineSink(out, false), cli::LineSink(err, true));
      console.Write(cli::Priority::kInfo, "progress");
      console.Write(cli::Priority::kWarning, "careful");
      console.Write(cli::Priority::kNotice, "done");
      CHECK(console.Fail("prog", Status::IoError("x.etm: gone")) == 1);
      CHECK(console.UsageError("prog sub", "--l1: must be >= 0") == 2);
    });
  });
  CHECK(out_text == "progress\ndone\n");
  CHECK(err_text ==
        "<4>careful\n<3>prog: error: x.etm: gone\n"
        "<3>prog sub: error: --l1: must be >= 0; run 'prog sub --help'\n");
}

// Runs a program with stdout and stderr to files; JOURNAL_STREAM names one of them (or neither).
struct JournalRun {
  testing::TempDir dir;
  int exit_code = -1;
  std::string out, err;

  // journal: "out", "err" or "" (JOURNAL_STREAM set to a stream that is neither).
  JournalRun(const std::string& program, std::vector<std::string> args,
             const std::string& journal) {
    testing::WriteText(dir.File("out"), "");
    testing::WriteText(dir.File("err"), "");
    testing::WriteText(dir.File("other"), "");
    std::vector<std::string> cmd = testing::ProgramCommand(program);
    cmd.insert(cmd.end(), args.begin(), args.end());
    const std::string id = StreamId(dir.File(journal.empty() ? "other" : journal));
    exit_code =
        testing::RunToFiles(cmd, dir.File("out"), dir.File("err"), {"JOURNAL_STREAM=" + id});
    out = testing::ReadText(dir.File("out"));
    err = testing::ReadText(dir.File("err"));
  }
};

void CheckAllPrefixed(const std::string& text, const std::string& prefix) {
  INFO(text);
  const std::vector<std::string> lines = Lines(text);
  CHECK(!lines.empty());
  for (const std::string& line : lines) CHECK(line.rfind(prefix, 0) == 0);
}
void CheckNoPrefix(const std::string& text) {
  INFO(text);
  for (const std::string& line : Lines(text)) CHECK(line.rfind("<", 0) != 0);
}

TEST_CASE("a program writing to the journal stream prefixes its lines with their priorities") {
  const std::string heart = testing::SourcePath("data/heart_scale.svm");
  // inspect's report: results (notice) on stdout.
  JournalRun r("edge_agent/edgetrain-agent", {"inspect", "--data", heart}, "out");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CheckAllPrefixed(r.out, "<5>");
  CHECK(r.out.find("<5>rows 270\n") != std::string::npos);

  // The same variable, but stdout goes elsewhere (a child that inherited JOURNAL_STREAM).
  JournalRun other("edge_agent/edgetrain-agent", {"inspect", "--data", heart}, "");
  REQUIRE(other.exit_code == 0);
  CHECK(other.out.rfind("file ", 0) == 0);
  CheckNoPrefix(other.out);

  // train-local: the epoch table is progress (info), the summary a result (notice).
  JournalRun train("edge_agent/edgetrain-agent",
                   {"train-local", "--data", heart, "--l1", "0.01", "--max-epochs", "2", "--model",
                    "/dev/null/../m.etm"},
                   "err");
  CHECK(train.exit_code == 2);  // --model's directory is not one: refused at start, at <3>
  CHECK(train.err.rfind("<3>edgetrain-agent train-local: error: --model: ", 0) == 0);
  testing::TempDir dir;
  JournalRun trained("edge_agent/edgetrain-agent",
                     {"train-local", "--data", heart, "--l1", "0.01", "--max-epochs", "2",
                      "--model", dir.File("m.etm")},
                     "out");
  REQUIRE_MESSAGE(trained.exit_code == 0, trained.err);
  CHECK(trained.out.find("<6>     1  ") != std::string::npos);
  CHECK(trained.out.find("<5>stopped: max-epochs after 2 epochs") != std::string::npos);
  CHECK(trained.out.find("<5>model written to " + dir.File("m.etm") + "\n") != std::string::npos);

  // A data error: one line at <3> on stderr, stdout untouched.
  testing::WriteText(dir.File("bad.svm"), "1 1:1\n-1 2:x\n");
  JournalRun bad("edge_agent/edgetrain-agent", {"inspect", "--data", dir.File("bad.svm")}, "err");
  CHECK(bad.exit_code == 1);
  CHECK(Lines(bad.err).size() == 1);
  CHECK(bad.err.rfind("<3>edgetrain-agent inspect: error: " + dir.File("bad.svm") + ":2:", 0) == 0);

  // The monitor's notes and its --timeout error on stderr.
  JournalRun monitor("monitor/edgetrain-monitor",
                     {"--connect", "tcp://127.0.0.1:1", "--timeout", "0.2"}, "err");
  CHECK(monitor.exit_code == 1);
  CHECK(monitor.err.find("<5>edgetrain-monitor: listening to tcp://127.0.0.1:1\n") !=
        std::string::npos);
  CHECK(monitor.err.find("<3>edgetrain-monitor: nothing received from tcp://127.0.0.1:1") !=
        std::string::npos);
  CheckAllPrefixed(monitor.err, "<");

  // A usage error of the coordinator.
  JournalRun coordinator("coordinator/edgetrain-coordinator", {"--insecure", "--heartbeat", "0"},
                         "err");
  CHECK(coordinator.exit_code == 2);
  CHECK(coordinator.err.rfind("<3>edgetrain-coordinator: error: --heartbeat: ", 0) == 0);
}

}  // namespace
}  // namespace edgetrain
