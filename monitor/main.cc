// edgetrain-monitor: the operator's view of a training run. Subscribes to the coordinator's log
// stream (docs/log-stream.md, section "Monitor"), shows a live view on a terminal or one line per
// event otherwise (or passes the JSON through with --json), and writes a CSV of the per-epoch
// series and a convergence chart (SVG) when the run ends. With --key/--server-key it is a CURVE
// client of a coordinator that runs with --log-secure (docs/security.md). With --http it also
// serves the operators' view: a live page, /state.json, Prometheus /metrics and /healthz
// (docs/operations.md), from the same single-threaded event loop.
#include <sys/ioctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "edgetrain/cli/flags.h"
#include "edgetrain/cli/keygen.h"
#include "edgetrain/text.h"
#include "edgetrain/transport/curve.h"
#include "event_json.h"
#include "http_server.h"
#include "report_files.h"
#include "run_record.h"
#include "terminal_view.h"
#include "web_views.h"

namespace {

constexpr const char* kProgram = "edgetrain-monitor";

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

namespace cli = edgetrain::cli;

struct MonitorFlags {
  std::string connect = "tcp://127.0.0.1:5556";
  bool json = false;
  std::string chart;
  std::string csv;
  double timeout = 0;           // seconds without a message before giving up; 0 = wait forever
  std::string key_path;         // this subscriber's secret key (CURVE client)
  std::string server_key_path;  // the coordinator's public key (pinned)
  std::string http;             // ADDR:PORT of the operators' page and /metrics ("" = none)
};

// Why nothing arrives when the handshake with the log stream fails (ZeroMQ reports it only to a
// socket monitor). libzmq 4.3.4 gives up by itself after the coordinator refuses the key (ZAP
// status 400, or another status) or after a mechanism mismatch (CURVE against plain text), and
// retries a handshake the coordinator closes (a wrong --server-key) every 0.1-0.2 s forever
// (docs/security.md). So the first two end the monitor at once, and so do kClosesToGiveUp closes
// in a row over at least kSecondsToGiveUp with no handshake completed in between: the rule the
// agent applies to its own connection (edge_agent/agent.h), since a coordinator stopped in the
// middle of a handshake closes one too.
class HandshakeWatch : public zmq::monitor_t {
 public:
  static constexpr int kClosesToGiveUp = 5;
  static constexpr double kSecondsToGiveUp = 2.0;

  explicit HandshakeWatch(bool curve) : curve_(curve) {}

  // "" while a handshake may still succeed, else why none ever will.
  const std::string& verdict() const { return verdict_; }

  void on_event_handshake_succeeded(const zmq_event_t&, const char*) override { closes_ = 0; }
  void on_event_handshake_failed_no_detail(const zmq_event_t&, const char*) override {
    const auto now = std::chrono::steady_clock::now();
    if (closes_++ == 0) first_close_ = now;
    const double seconds = std::chrono::duration<double>(now - first_close_).count();
    if (closes_ >= kClosesToGiveUp && seconds >= kSecondsToGiveUp) {
      Give(edgetrain::StringPrintf(
          "the coordinator closed the connection during the handshake %d times in %.1f s and "
          "never completed one: %s",
          closes_, seconds,
          curve_ ? "--server-key is not the coordinator's public key (or --connect is not its "
                   "--log-bind)"
                 : "the log stream requires CURVE keys (the coordinator runs with --log-secure): "
                   "give --key and --server-key"));
    }
  }
  void on_event_handshake_failed_protocol(const zmq_event_t& e, const char*) override {
    if (e.value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
      Give(curve_ ? "the log stream is plain text: drop --key and --server-key"
                  : "the log stream requires CURVE keys (the coordinator runs with --log-secure): "
                    "give --key and --server-key");
    } else {
      Give("the CURVE handshake failed (is --server-key the coordinator's public key?)");
    }
  }
  void on_event_handshake_failed_auth(const zmq_event_t& e, const char*) override {
    Give("the coordinator refused this monitor's key (ZAP status " + std::to_string(e.value) +
         "): is its public key on the coordinator's --log-allow list?");
  }

 private:
  void Give(std::string why) {
    if (verdict_.empty()) verdict_ = std::move(why);
  }

  bool curve_;
  int closes_ = 0;
  std::chrono::steady_clock::time_point first_close_;
  std::string verdict_;
};

// Where a plain event line belongs in the journal.
cli::Priority EventPriority(const edgetrain::monitor::Json& event) {
  const std::string name = edgetrain::monitor::EventName(event);
  for (const char* warning :
       {"insecure", "agent_refused", "message_refused", "key_refused", "handshake_failed",
        "allow_list_error", "gradient_timeout", "checkpoint_error", "waiting_for_agents"}) {
    if (name == warning) return cli::Priority::kWarning;
  }
  for (const char* notice : {"run_started", "run_finished", "run_resumed", "agent_joined",
                             "agent_left", "allow_list_reloaded"}) {
    if (name == notice) return cli::Priority::kNotice;
  }
  return cli::Priority::kInfo;
}

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

enum class Outcome { kFinished, kSignalled, kTimedOut, kRefused };

int Main(int argc, char** argv, const cli::Console& console) {
  namespace monitor = edgetrain::monitor;
  CLI::App app{
      "edgetrain-monitor: watches a training run on the coordinator's log stream; live view, "
      "JSON pass-through, convergence chart and CSV when the run ends, and with --http a live "
      "page and Prometheus metrics for operators",
      kProgram};
  app.set_version_flag("--version", cli::VersionLine(kProgram));
  const cli::KeygenCommand keygen(&app, "edgetrain log subscriber", "~/.config/edgetrain/monitor",
                                  "add it to the coordinator's --log-allow file");
  app.require_subcommand(0, 1);
  MonitorFlags flags;
  app.add_option("--connect", flags.connect,
                 "The coordinator's log stream (its --log-bind), e.g. tcp://HOST:5556")
      ->capture_default_str();
  app.add_flag("--json", flags.json,
               "Print every event as one JSON object per line on stdout (for jq), nothing else")
      ->capture_default_str();
  app.add_option("--chart", flags.chart,
                 "When the run ends, write a convergence chart (SVG) to this file (empty: none)")
      ->type_name("FILE")
      ->capture_default_str();
  app.add_option("--csv", flags.csv,
                 "When the run ends, write the per-epoch series (CSV) to this file (empty: none)")
      ->type_name("FILE")
      ->capture_default_str();
  app.add_option("--timeout", flags.timeout,
                 "Exit with code 1 after this many seconds in which nothing arrived, counted from "
                 "the start and from every event; the coordinator publishes a status every second "
                 "(0 = wait forever)")
      ->check(cli::kNonNegative)
      ->capture_default_str();
  app.add_option("--http", flags.http,
                 "Serve the operators' view on [ADDR:]PORT: a live page at /, /state.json, "
                 "Prometheus /metrics, /healthz. ADDR defaults to 127.0.0.1 (loopback); name an "
                 "address (0.0.0.0, [::]) to expose it. The monitor then keeps serving after the "
                 "run finishes, until stopped (empty: no HTTP)")
      ->type_name("[ADDR:]PORT")
      ->capture_default_str();
  const std::string sec = "Security";
  app.add_option("--key", flags.key_path,
                 "This monitor's secret key file (from 'edgetrain-monitor keygen'), for a "
                 "coordinator with --log-secure; its .pub goes on the coordinator's --log-allow")
      ->type_name("FILE")
      ->group(sec);
  app.add_option("--server-key", flags.server_key_path,
                 "The coordinator's public key file (pinned), with --key")
      ->type_name("FILE")
      ->group(sec);
  cli::AddConfigFlags(&app);
  if (int rc = cli::Parse(app, argc, argv, console); rc >= 0) return rc;
  if (keygen.Selected()) return keygen.Run(console);
  if (flags.key_path.empty() != flags.server_key_path.empty())
    return console.UsageError(kProgram, "--key and --server-key go together");
  for (const edgetrain::Status& st : {cli::CheckWritableFile("--chart", flags.chart),
                                      cli::CheckWritableFile("--csv", flags.csv)}) {
    if (!st.ok()) return console.UsageError(kProgram, st.message());
  }
  edgetrain::transport::CurveConfig curve;
  if (!flags.key_path.empty()) {
    edgetrain::Result<edgetrain::transport::CurveKeyPair> keys =
        edgetrain::transport::ReadSecretKeyFile(flags.key_path);
    if (!keys.ok()) return console.Fail(kProgram, keys.status());
    edgetrain::Result<std::string> server =
        edgetrain::transport::ReadPublicKeyFile(flags.server_key_path);
    if (!server.ok()) return console.Fail(kProgram, server.status());
    curve = {edgetrain::transport::CurveConfig::Mode::kClient, *keys, *server, ""};
  }

  // What the views read: the run, the recent events, the monitor itself. One thread: the HTTP
  // handler runs inside HttpServer::Service, between two receives.
  using Clock = std::chrono::steady_clock;
  const Clock::time_point started = Clock::now();
  monitor::RunRecord record;
  monitor::EventLog event_log;
  monitor::MonitorInfo info;
  info.endpoint = flags.connect;
  info.version = cli::VersionLine(kProgram);
  info.curve = curve.mode != edgetrain::transport::CurveConfig::Mode::kNone;
  std::unique_ptr<monitor::HttpServer> http;
  if (!flags.http.empty()) {
    edgetrain::Result<std::unique_ptr<monitor::HttpServer>> server =
        monitor::HttpServer::Listen(flags.http, [&](const monitor::HttpRequest& request) {
          return monitor::ServeMonitor(request, record, event_log, info);
        });
    if (!server.ok()) return console.UsageError(kProgram, "--http: " + server.status().message());
    http = std::move(*server);
  }

  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::sub);
  HandshakeWatch watch(info.curve);
  try {
    socket.set(zmq::sockopt::linger, 0);
    socket.set(zmq::sockopt::rcvhwm, 100000);
    socket.set(zmq::sockopt::subscribe, "");
    edgetrain::transport::ApplyCurve(socket, curve);
    watch.init(socket, "inproc://edgetrain-monitor-handshake",
               ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                   ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
    socket.connect(flags.connect);
  } catch (const zmq::error_t& e) {
    return console.UsageError(kProgram,
                              "--connect: cannot connect to '" + flags.connect + "': " + e.what());
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);

  const bool live = !flags.json && ::isatty(STDOUT_FILENO) == 1;
  std::unique_ptr<LiveTerminal> terminal;
  if (live) terminal = std::make_unique<LiveTerminal>(flags.connect);
  const auto note = [&](cli::Priority priority, const std::string& text) {
    console.err().Write(priority, std::string(kProgram) + ": " + text);
  };
  if (!flags.json && !live) {
    note(cli::Priority::kNotice, "listening to " + flags.connect + (info.curve ? " (CURVE)" : ""));
  }
  if (http) {
    note(cli::Priority::kNotice,
         "serving " + http->url() + " (the page; /state.json, /metrics, /healthz)" +
             (http->loopback() ? "" : " on a non-loopback address: reachable from the network"));
  }
  // The files, written when a run finishes (each run, with --http) and when the monitor stops.
  const auto write_files = [&]() -> edgetrain::Status {
    if (!flags.csv.empty()) {
      if (edgetrain::Status st = monitor::WriteCsv(flags.csv, record); !st.ok()) return st;
      note(cli::Priority::kNotice, "per-epoch series written to " + flags.csv);
    }
    if (!flags.chart.empty()) {
      if (edgetrain::Status st = monitor::WriteSvgChart(flags.chart, record); !st.ok()) return st;
      note(cli::Priority::kNotice, "convergence chart written to " + flags.chart);
    }
    return edgetrain::Status::Ok();
  };

  Clock::time_point last_heard = started;
  Clock::time_point last_draw = last_heard - std::chrono::seconds(1);
  bool dirty = true;
  bool heard_any = false;
  Outcome outcome = Outcome::kSignalled;
  std::vector<zmq::pollitem_t> items;
  while (true) {
    if (g_stop.load()) {
      outcome = Outcome::kSignalled;
      break;
    }
    while (watch.check_event(0)) {
    }
    if (!watch.verdict().empty()) {
      outcome = Outcome::kRefused;
      break;
    }
    items.assign(1, {socket.handle(), 0, ZMQ_POLLIN, 0});
    if (http) {
      for (const monitor::HttpServer::Interest& i : http->Interests()) {
        items.push_back({nullptr, i.fd, static_cast<short>(i.write ? ZMQ_POLLOUT : ZMQ_POLLIN), 0});
      }
    }
    try {
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds(100));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      return console.Fail(kProgram, edgetrain::Status::Unavailable(
                                        "receiving from " + flags.connect + ": " + e.what()));
    }
    const bool was_finished = record.finished();
    // At most this many messages between two turns of the HTTP server, so a busy stream cannot
    // starve the page.
    for (int budget = 1000; budget > 0 && (items[0].revents & ZMQ_POLLIN) != 0; --budget) {
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
        return console.Fail(kProgram, edgetrain::Status::Unavailable(
                                          "receiving from " + flags.connect + ": " + e.what()));
      }
      if (!got) break;
      last_heard = Clock::now();
      heard_any = true;
      ++info.messages;
      edgetrain::Result<monitor::Json> event = monitor::ParseEvent(body);
      if (!event.ok()) {
        if (++info.refused <= 10) {
          note(cli::Priority::kWarning, "ignoring a message that is not a log-stream event: " +
                                            edgetrain::Printable(event.status().message(), 300));
        }
        continue;
      }
      if (edgetrain::Status st = record.ConsumeEvent(*event); !st.ok()) continue;  // (cannot fail)
      if (flags.json) {  // every event as it came, replays included ("replay": true)
        std::fwrite(body.data(), 1, body.size(), stdout);
        std::fputc('\n', stdout);
        std::fflush(stdout);
      }
      if (record.repeated()) continue;  // a replay of what the views show already
      event_log.Add(*event, record);
      dirty = true;
      std::optional<std::string> line;
      if (!flags.json) line = monitor::DescribeEvent(*event, record);
      if (line && live) {
        terminal->AddLine(*line);
      } else if (line) {
        console.out().Write(EventPriority(*event), *line);
      }
      if (record.finished() && !http) break;  // the files are written below, after the loop
    }
    const Clock::time_point now = Clock::now();
    if (http) {
      info.seconds_running = std::chrono::duration<double>(now - started).count();
      info.seconds_since_message =
          heard_any ? std::chrono::duration<double>(now - last_heard).count() : monitor::kMissing;
      http->Service(now);
    }
    const bool finished = record.finished();
    if (live && dirty && (finished || now - last_draw >= std::chrono::milliseconds(100))) {
      terminal->Draw(record);
      last_draw = now;
      dirty = false;
    }
    if (finished && !http) {
      outcome = Outcome::kFinished;
      break;
    }
    if (finished && !was_finished) {  // --http: write this run's files, serve on
      if (edgetrain::Status st = write_files(); !st.ok()) return console.Fail(kProgram, st);
    }
    // Silence counts while a run may still be going: after run_finished (--http) the coordinator
    // may well be gone until the next run.
    if (flags.timeout > 0 && !finished &&
        std::chrono::duration<double>(now - last_heard).count() >= flags.timeout) {
      outcome = Outcome::kTimedOut;
      break;
    }
  }
  if (live) {
    if (dirty) terminal->Draw(record);
    terminal.reset();  // shows the cursor again
  }

  // A refused handshake is the options' fault (keys, endpoint): exit 2, as for a bad option.
  int rc = outcome == Outcome::kTimedOut  ? cli::kExitFailure
           : outcome == Outcome::kRefused ? cli::kExitUsage
                                          : cli::kExitOk;
  if (outcome == Outcome::kRefused) {
    note(cli::Priority::kError, "error: no events from " + flags.connect + ": " + watch.verdict());
  } else if (outcome == Outcome::kTimedOut) {
    note(cli::Priority::kError,
         edgetrain::StringPrintf("nothing received from %s for %g s (--timeout)",
                                 flags.connect.c_str(), flags.timeout));
  } else if (outcome == Outcome::kSignalled && !record.finished()) {
    note(cli::Priority::kNotice,
         edgetrain::StringPrintf("stopped before the run finished (%zu epochs seen)",
                                 record.epochs().size()));
  }
  if (edgetrain::Status st = write_files(); !st.ok()) return console.Fail(kProgram, st);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  // The only place that reads the environment: is stdout or stderr the journal (cli/log.h)?
  return cli::RunMain(kProgram, std::getenv("JOURNAL_STREAM"),
                      [&](const cli::Console& console) { return Main(argc, argv, console); });
}
