// edgetrain-monitor: the operator's view of a training run. Subscribes to the coordinator's log
// stream (docs/log-stream.md, section "Monitor"), shows a live view on a terminal or one line per
// event otherwise (or passes the JSON through with --json), and writes a CSV of the per-epoch
// series and a convergence chart (SVG) when the run ends.
#include <sys/ioctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "edgetrain/cli/flags.h"
#include "edgetrain/json.h"
#include "report_files.h"
#include "run_record.h"
#include "terminal_view.h"

namespace {

constexpr const char* kProgram = "edgetrain-monitor";

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

struct MonitorFlags {
  std::string connect = "tcp://127.0.0.1:5556";
  bool json = false;
  std::string chart;
  std::string csv;
  double timeout = 0;  // seconds without a message before giving up; 0 = wait forever
};

int TerminalWidth() {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

// Redraws the live view in place: erase the previous view, print the event lines that came in
// since (they scroll up like a log), then draw the view again below them.
class LiveTerminal {
 public:
  explicit LiveTerminal(std::string endpoint) : endpoint_(std::move(endpoint)) {
    std::fputs("\x1b[?25l", stdout);  // hide the cursor while redrawing
  }
  ~LiveTerminal() {
    std::fputs("\x1b[?25h", stdout);
    std::fflush(stdout);
  }
  LiveTerminal(const LiveTerminal&) = delete;
  LiveTerminal& operator=(const LiveTerminal&) = delete;

  void AddLine(std::string line) { pending_.push_back(std::move(line)); }

  void Draw(const edgetrain::monitor::RunRecord& record) {
    edgetrain::monitor::LiveViewOptions options;
    options.width = TerminalWidth() - 1;  // never touch the last column (no auto-wrap surprises)
    options.endpoint = endpoint_;
    std::string out;
    if (drawn_lines_ > 0) out += "\x1b[" + std::to_string(drawn_lines_) + "F";  // up, column 1
    out += "\x1b[J";                                                            // clear to the end
    for (const std::string& line : pending_) out += line + "\n";
    pending_.clear();
    const std::vector<std::string> view = edgetrain::monitor::RenderLiveView(record, options);
    for (const std::string& line : view) out += line + "\n";
    drawn_lines_ = static_cast<int>(view.size());
    std::fputs(out.c_str(), stdout);
    std::fflush(stdout);
  }

 private:
  std::string endpoint_;
  std::vector<std::string> pending_;
  int drawn_lines_ = 0;
};

enum class Outcome { kFinished, kSignalled, kTimedOut };

}  // namespace

int main(int argc, char** argv) {
  namespace cli = edgetrain::cli;
  namespace monitor = edgetrain::monitor;
  CLI::App app{
      "edgetrain-monitor: watches a training run on the coordinator's log stream; live view, "
      "JSON pass-through, convergence chart and CSV when the run ends",
      kProgram};
  app.set_version_flag("--version", cli::SoftwareVersion());
  MonitorFlags flags;
  app.add_option("--connect", flags.connect,
                 "The coordinator's log stream (its --log-bind), e.g. tcp://HOST:5556")
      ->capture_default_str();
  app.add_flag("--json", flags.json,
               "Print every event as one JSON object per line on stdout (for jq), nothing else")
      ->capture_default_str();
  app.add_option("--chart", flags.chart,
                 "When the run ends, write a convergence chart (SVG) to this file (empty: none)")
      ->capture_default_str();
  app.add_option("--csv", flags.csv,
                 "When the run ends, write the per-epoch series (CSV) to this file (empty: none)")
      ->capture_default_str();
  app.add_option("--timeout", flags.timeout,
                 "Exit with code 1 when nothing arrives for this many seconds (0 = wait forever)")
      ->check(cli::kNonNegative)
      ->capture_default_str();
  if (int rc = cli::Parse(app, argc, argv); rc >= 0) return rc;

  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::sub);
  try {
    socket.set(zmq::sockopt::linger, 0);
    socket.set(zmq::sockopt::rcvhwm, 100000);
    socket.set(zmq::sockopt::subscribe, "");
    socket.connect(flags.connect);
  } catch (const zmq::error_t& e) {
    std::fprintf(stderr, "%s: error: --connect: cannot connect to '%s': %s; run '%s --help'\n",
                 kProgram, flags.connect.c_str(), e.what(), kProgram);
    return cli::kExitUsage;
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);

  const bool live = !flags.json && ::isatty(STDOUT_FILENO) == 1;
  std::unique_ptr<LiveTerminal> terminal;
  if (live) terminal = std::make_unique<LiveTerminal>(flags.connect);
  if (!flags.json && !live)
    std::fprintf(stderr, "%s: listening to %s\n", kProgram, flags.connect.c_str());

  using Clock = std::chrono::steady_clock;
  monitor::RunRecord record;
  Clock::time_point last_heard = Clock::now();
  Clock::time_point last_draw = last_heard - std::chrono::seconds(1);
  bool dirty = true;
  int64_t rejected = 0;
  Outcome outcome = Outcome::kSignalled;
  while (true) {
    if (g_stop.load()) {
      outcome = Outcome::kSignalled;
      break;
    }
    zmq::pollitem_t items[] = {{socket.handle(), 0, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, 1, std::chrono::milliseconds(100));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      std::fprintf(stderr, "%s: error: receiving from %s: %s\n", kProgram, flags.connect.c_str(),
                   e.what());
      return cli::kExitFailure;
    }
    bool finished = false;
    while (!finished && (items[0].revents & ZMQ_POLLIN) != 0) {
      // One event = topic frame + JSON frame; take the last frame of whatever arrives as the body.
      zmq::message_t frame;
      std::string body;
      bool got = false;
      try {
        while (socket.recv(frame, zmq::recv_flags::dontwait)) {
          got = true;
          body.assign(static_cast<const char*>(frame.data()), frame.size());
          if (!frame.more()) break;
        }
      } catch (const zmq::error_t& e) {
        if (e.num() == EINTR) break;
        std::fprintf(stderr, "%s: error: receiving from %s: %s\n", kProgram, flags.connect.c_str(),
                     e.what());
        return cli::kExitFailure;
      }
      if (!got) break;
      last_heard = Clock::now();
      edgetrain::Result<edgetrain::JsonValue> event = edgetrain::ParseJson(body);
      edgetrain::Status status = event.ok() ? record.Consume(*event) : event.status();
      if (!status.ok()) {
        if (++rejected <= 10) {
          std::fprintf(stderr, "%s: ignoring a message that is not a log-stream event: %s\n",
                       kProgram, status.message().c_str());
        }
        continue;
      }
      dirty = true;
      if (flags.json) {
        std::fwrite(body.data(), 1, body.size(), stdout);
        std::fputc('\n', stdout);
        std::fflush(stdout);
      } else if (std::optional<std::string> line = monitor::DescribeEvent(*event, record)) {
        if (live) {
          terminal->AddLine(*line);
        } else {
          std::printf("%s\n", line->c_str());
          std::fflush(stdout);
        }
      }
      finished = record.finished();
    }
    if (live && dirty && (finished || Clock::now() - last_draw >= std::chrono::milliseconds(100))) {
      terminal->Draw(record);
      last_draw = Clock::now();
      dirty = false;
    }
    if (finished) {
      outcome = Outcome::kFinished;
      break;
    }
    if (flags.timeout > 0 &&
        std::chrono::duration<double>(Clock::now() - last_heard).count() >= flags.timeout) {
      outcome = Outcome::kTimedOut;
      break;
    }
  }
  if (live) {
    if (dirty) terminal->Draw(record);
    terminal.reset();  // shows the cursor again
  }

  int rc = outcome == Outcome::kTimedOut ? cli::kExitFailure : cli::kExitOk;
  if (outcome == Outcome::kTimedOut) {
    std::fprintf(stderr, "%s: nothing received from %s for %g s (--timeout)\n", kProgram,
                 flags.connect.c_str(), flags.timeout);
  } else if (outcome == Outcome::kSignalled && !record.finished()) {
    std::fprintf(stderr, "%s: stopped before the run finished (%zu epochs seen)\n", kProgram,
                 record.epochs().size());
  }
  if (!flags.csv.empty()) {
    if (edgetrain::Status st = monitor::WriteCsv(flags.csv, record); !st.ok())
      return cli::Fail(kProgram, st);
    std::fprintf(stderr, "%s: per-epoch series written to %s\n", kProgram, flags.csv.c_str());
  }
  if (!flags.chart.empty()) {
    if (edgetrain::Status st = monitor::WriteSvgChart(flags.chart, record); !st.ok())
      return cli::Fail(kProgram, st);
    std::fprintf(stderr, "%s: convergence chart written to %s\n", kProgram, flags.chart.c_str());
  }
  return rc;
}
