// edgetrain-monitor --http (docs/operations.md): the HTTP server against real sockets and hostile
// clients, the page's data contract (/state.json), the Prometheus metrics (values on a known
// stream; Prometheus's own promtool), the Grafana dashboard against the metrics, and the page in a
// real browser following a real run (tests/browser/monitor_page.py).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "doctest/doctest.h"
#include "event_json.h"
#include "http_server.h"
#include "monitor_streams.h"
#include "report_files.h"
#include "run_record.h"
#include "terminal_view.h"
#include "test_util.h"
#include "web_views.h"

namespace edgetrain {
namespace {

using monitor::HttpServer;
using monitor::Json;
using monitor::RunRecord;

// ---- a plain HTTP client (blocking sockets, the test's own code) --------------------------------

// Connects to 127.0.0.1:port; -1 on failure. Reads time out after 10 s.
int Connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void SendAll(int fd, const std::string& data) {
  for (size_t sent = 0; sent < data.size();) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

// Everything until the server closes (or the read times out).
std::string ReadAll(int fd) {
  std::string out;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

std::string Exchange(int port, const std::string& request) {
  const int fd = Connect(port);
  if (fd < 0) return "";
  SendAll(fd, request);
  std::string response = ReadAll(fd);
  ::close(fd);
  return response;
}

std::string Get(int port, const std::string& path) {
  return Exchange(port, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                            "\r\nUser-Agent: monitor-test\r\n\r\n");
}

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

Response ParseResponse(const std::string& raw) {
  Response r;
  const size_t end = raw.find("\r\n\r\n");
  if (raw.compare(0, 9, "HTTP/1.1 ") != 0 || end == std::string::npos) return r;
  r.status = std::stoi(raw.substr(9, 3));
  size_t pos = raw.find("\r\n") + 2;
  while (pos < end) {
    const size_t eol = raw.find("\r\n", pos);
    const std::string field = raw.substr(pos, eol - pos);
    const size_t colon = field.find(':');
    std::string name = field.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = field.substr(colon + 2);
    pos = eol + 2;
  }
  r.body = raw.substr(end + 4);
  return r;
}

// Runs the server's loop (poll + Service, then `each_turn`) on this thread while `client` runs on
// another.
void Serve(
    HttpServer& server, const std::function<void()>& client,
    const std::function<void()>& each_turn = [] {}) {
  std::atomic<bool> done{false};
  std::thread t([&] {
    client();
    done = true;
  });
  while (!done) {
    std::vector<pollfd> fds;
    for (const HttpServer::Interest& i : server.Interests())
      fds.push_back({i.fd, static_cast<short>(i.write ? POLLOUT : POLLIN), 0});
    ::poll(fds.data(), fds.size(), 10);
    server.Service(HttpServer::Clock::now());
    each_turn();
  }
  t.join();
}

// ---- the HTTP server ----------------------------------------------------------------------------

TEST_CASE("--http addresses: PORT means loopback, an address must be named to expose it") {
  const auto parse = [](const std::string& text) {
    Result<monitor::ListenAddress> a = monitor::ParseListenAddress(text);
    return a.ok() ? a->host + " " + a->port : "error: " + a.status().message();
  };
  CHECK(parse("8080") == "127.0.0.1 8080");
  CHECK(parse(":8080") == "127.0.0.1 8080");
  CHECK(parse("0.0.0.0:9100") == "0.0.0.0 9100");
  CHECK(parse("[::1]:0") == "::1 0");
  CHECK(parse("monitor.plant:80") == "monitor.plant 80");
  CHECK(parse("::1:80").find("[ADDRESS]:PORT") != std::string::npos);
  CHECK(parse("127.0.0.1:65536").find("0 to 65535") != std::string::npos);
  CHECK(parse("127.0.0.1:http").find("0 to 65535") != std::string::npos);
  CHECK(parse("").find("0 to 65535") != std::string::npos);
  CHECK(parse("[::1]80").find("[IPV6]:PORT") != std::string::npos);
}

TEST_CASE("the HTTP server answers GET and HEAD and refuses the rest, closing every connection") {
  int handled = 0;
  Result<std::unique_ptr<HttpServer>> listening =
      HttpServer::Listen("127.0.0.1:0", [&](const monitor::HttpRequest& request) {
        ++handled;
        monitor::HttpResponse r;
        if (request.path == "/hello") {
          r.body = "hello " + request.query + "\n";
        } else {
          r.status = 404;
          r.body = "no\n";
        }
        return r;
      });
  REQUIRE_MESSAGE(listening.ok(), listening.status().ToString());
  HttpServer& server = **listening;
  CHECK(server.loopback());
  CHECK(server.url() == "http://127.0.0.1:" + std::to_string(server.port()) + "/");
  const int port = server.port();
  std::map<std::string, Response> got;
  Serve(server, [&] {
    got["get"] = ParseResponse(Get(port, "/hello?x=1"));
    got["head"] = ParseResponse(Exchange(port, "HEAD /hello HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    got["404"] = ParseResponse(Get(port, "/nothing"));
    got["post"] = ParseResponse(
        Exchange(port, "POST /hello HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nhi"));
    got["garbage"] = ParseResponse(Exchange(port, "HELLO\r\n\r\n"));
    got["absolute"] =
        ParseResponse(Exchange(port, "GET http://evil.example/hello HTTP/1.1\r\n\r\n"));
    got["http2"] = ParseResponse(Exchange(port, "GET /hello HTTP/2.0\r\n\r\n"));
    got["folded"] = ParseResponse(
        Exchange(port, "GET /hello HTTP/1.1\r\nHost: localhost\r\n continued\r\n\r\n"));
    got["two hosts"] = ParseResponse(
        Exchange(port, "GET /hello HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n"));
    got["big"] = ParseResponse(
        Exchange(port, "GET /hello HTTP/1.1\r\nX-Fill: " + std::string(10000, 'a') + "\r\n\r\n"));
    // DNS rebinding: a page elsewhere that resolved its own name to 127.0.0.1.
    got["rebinding"] = ParseResponse(Exchange(
        port, "GET /hello HTTP/1.1\r\nHost: evil.example:" + std::to_string(port) + "\r\n\r\n"));
    got["v6 host"] = ParseResponse(Exchange(port, "GET /hello HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"));
    got["127/8"] = ParseResponse(Exchange(port, "GET /hello HTTP/1.1\r\nHost: 127.1.2.3\r\n\r\n"));
    got["1.0"] = ParseResponse(Exchange(port, "GET /hello HTTP/1.0\r\n\r\n"));
  });
  CHECK(got["get"].status == 200);
  CHECK(got["get"].body == "hello x=1\n");
  CHECK(got["get"].headers["content-length"] == "10");
  CHECK(got["get"].headers["connection"] == "close");
  CHECK(got["get"].headers["cache-control"] == "no-store");
  CHECK(got["get"].headers["x-content-type-options"] == "nosniff");
  CHECK(got["head"].status == 200);
  CHECK(got["head"].headers["content-length"] == "7");
  CHECK(got["head"].body.empty());
  CHECK(got["404"].status == 404);
  CHECK(got["post"].status == 405);
  CHECK(got["post"].headers["allow"] == "GET, HEAD");
  for (const char* bad : {"garbage", "absolute", "http2", "folded", "two hosts"}) {
    INFO(bad);
    CHECK(got[bad].status == 400);
  }
  CHECK(got["big"].status == 431);
  CHECK(got["rebinding"].status == 421);
  CHECK(got["rebinding"].body.find("loopback") != std::string::npos);
  CHECK(got["v6 host"].status == 200);
  CHECK(got["127/8"].status == 200);
  CHECK(got["1.0"].status == 200);
  CHECK(handled == 6);  // get, head, 404 and the three accepted hosts: nothing else reached it
  CHECK(server.connections() == 0);
}

TEST_CASE("the HTTP server drops clients that stall and holds at most max_connections") {
  monitor::HttpServerOptions options;
  options.max_connections = 2;
  options.request_timeout = std::chrono::milliseconds(300);
  Result<std::unique_ptr<HttpServer>> listening = HttpServer::Listen(
      "127.0.0.1:0", [](const monitor::HttpRequest&) { return monitor::HttpResponse(); }, options);
  REQUIRE(listening.ok());
  HttpServer& server = **listening;
  const int port = server.port();
  size_t most = 0;
  std::atomic<size_t> held{0};  // the server's connections, as its loop last saw them
  bool both_held = false;
  std::string slow_got, third;
  double slow_seconds = 0, third_seconds = 0;
  Serve(
      server,
      [&] {
        // Two that send half a request and nothing more, and a third that must wait for a slot.
        const auto start = std::chrono::steady_clock::now();
        const int a = Connect(port), b = Connect(port);
        SendAll(a, "GET / HTTP/1.1\r\nHost: loc");
        SendAll(b, "GET / HTTP/1.1\r\n");
        // The third connects once the server holds both slots (an event, with a deadline).
        both_held = testing::WaitUntil([&] { return held.load() >= 2; }, 5);
        std::thread t([&] {
          third = Get(port, "/");
          third_seconds =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        });
        slow_got = ReadAll(a);  // closed by the server, no answer
        slow_seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        ReadAll(b);
        t.join();
        ::close(a);
        ::close(b);
      },
      [&] {
        held = server.connections();
        most = std::max(most, server.connections());
      });
  CHECK(both_held);
  CHECK(most == 2);
  CHECK(slow_got.empty());
  CHECK(slow_seconds >= 0.25);
  CHECK(slow_seconds < 5);
  CHECK(ParseResponse(third).status == 200);  // served once a stalled client was dropped
  CHECK(third_seconds >= 0.25);
}

TEST_CASE("--http on a port in use or an address that is not ours: the reason, exit code 2") {
  Result<std::unique_ptr<HttpServer>> first = HttpServer::Listen(
      "127.0.0.1:0", [](const monitor::HttpRequest&) { return monitor::HttpResponse(); });
  REQUIRE(first.ok());
  const std::string taken = "127.0.0.1:" + std::to_string((*first)->port());
  Result<std::unique_ptr<HttpServer>> second = HttpServer::Listen(
      taken, [](const monitor::HttpRequest&) { return monitor::HttpResponse(); });
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().message() == "cannot listen on " + taken + ": Address already in use");
  for (const std::string& bad : {taken, std::string("192.0.2.1:8080"), std::string("8080x")}) {
    std::vector<std::string> cmd = testing::ProgramCommand("monitor/edgetrain-monitor");
    cmd.insert(cmd.end(), {"--connect", "tcp://127.0.0.1:1", "--http", bad});
    const testing::CommandResult r = testing::Run(cmd);
    INFO(bad, ": ", r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.rfind("edgetrain-monitor: error: --http: ", 0) == 0);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
}

// ---- the views on a known stream --------------------------------------------------------------

monitor::MonitorInfo Info() {
  monitor::MonitorInfo info;
  info.endpoint = "tcp://10.0.0.1:5556";
  info.version = "edgetrain-monitor 0.1.0 (commit test)";
  info.messages = 24;
  info.refused = 1;
  info.seconds_since_message = 0.25;
  info.seconds_running = 9;
  return info;
}

// Folds the first `count` events of the stream into a record and an event log.
void FoldInto(const testing::Stream& events, size_t count, RunRecord* record,
              monitor::EventLog* log) {
  for (size_t i = 0; i < count && i < events.size(); ++i) {
    const Json e = *monitor::ParseEvent(events[i].second);
    REQUIRE(record->ConsumeEvent(e).ok());
    log->Add(e, *record);
  }
}

TEST_CASE("/state.json is the page's data contract") {
  const testing::Stream events = testing::OperatorsRun();
  RunRecord record;
  monitor::EventLog log;
  FoldInto(events, testing::kOperatorsAgentsBack + 1, &record, &log);
  Json s = Json::parse(monitor::RenderStateJson(record, log, Info()));
  CHECK(s["monitor"]["endpoint"] == "tcp://10.0.0.1:5556");
  CHECK(s["monitor"]["refused"] == 1);
  CHECK(s["run_id"] == testing::kOperatorsRunId);
  CHECK(s["state"] == "running");
  CHECK(s["summary"] == "running epoch 4 (gradient phase)");
  CHECK(s["epoch"] == 4);
  CHECK(s["agents"] == 2);
  CHECK(s["agents_needed"] == 2);
  CHECK(s["seconds"] == 1.7);
  CHECK(s["epoch_eta_seconds"].is_null());
  CHECK(s["run_eta_seconds"] == 2.0);
  CHECK(s["best"]["objective"] == 0.50);
  CHECK(s["best"]["rows"] == 800);
  CHECK(s["stop_measure"] == Json{{"name", "rel_gap"}, {"value", 0.05}, {"tolerance", 1e-6}});
  CHECK(s["settings"]["loss"] == "logistic");
  CHECK(s["settings"]["insecure"] == true);
  CHECK(s["insecure"] == true);
  CHECK(s["finish"].is_null());
  REQUIRE(s["epochs"].size() == 5);
  CHECK(s["epochs"][3]["verdict"] == "baseline");
  CHECK(s["epochs"][3]["segment"] == 1);
  CHECK(s["epochs"][2]["newton_alpha"] == 1);
  CHECK(s["epochs"][0]["newton_alpha"].is_null());
  CHECK(s["epochs"][4]["rolled_back"] == true);
  REQUIRE(s["markers"].size() == 7);
  CHECK(s["markers"][3]["kind"] == "agent_left");
  CHECK(s["markers"][3]["seconds"].get<double>() == doctest::Approx(0.95));
  CHECK(s["markers"][3]["epoch"].is_null());
  CHECK(s["markers"][3]["agent"] == "line-1");
  CHECK(s["markers"][3]["detail"] == "silent for 15.0 s");
  CHECK(s["markers"][4]["kind"] == "baseline");
  CHECK(s["markers"][4]["epoch"] == 3);
  REQUIRE(s["agent_status"].size() == 2);
  // Strings are the stream's own (the page sets them as text): the JSON carries them exactly.
  CHECK(s["agent_status"][0]["agent"] == testing::kHostileAgent);
  CHECK(s["agent_status"][1]["mean_staleness"] == 0.2);
  // The event log: no status, no progress; one-line descriptions, else the other fields.
  std::vector<std::string> names;
  for (const Json& e : s["events"]) names.push_back(e["event"]);
  CHECK(names == std::vector<std::string>{"run_started", "agent_joined", "agent_joined",
                                          "epoch_begin", "epoch_end", "epoch_begin", "newton",
                                          "epoch_begin", "agent_left", "epoch_end", "epoch_begin",
                                          "epoch_begin", "agent_joined"});
  CHECK(s["events"][0]["seq"] == 1);
  CHECK(s["events"][4]["text"] ==
        "epoch 0: inner phase ended, 3200 updates at 8000/s in 0.40 s; refused: late_update 1, "
        "too_stale 2");
  CHECK(s["events"][6]["text"].get<std::string>().find("Newton step on 36 coordinates") == 9);
  // The escape character travels JSON-escaped, never raw.
  const std::string raw = monitor::RenderStateJson(record, log, Info());
  CHECK(raw.find('\x1b') == std::string::npos);
  CHECK(raw.find("press\\u001b[2J<b>&\\\"7\\\\") != std::string::npos);

  // After the run: the finish, and the final state.
  const RunRecord full = testing::Fold(events);
  s = Json::parse(monitor::RenderStateJson(full, monitor::EventLog(), Info()));
  CHECK(s["state"] == "finished");
  CHECK(s["summary"] == "finished (tol) at epoch 5 after 2.0 s");
  CHECK(s["finish"]["evaluated"] == true);
  CHECK(s["finish"]["model"] == "/var/lib/m.etm");
  CHECK(s["run_eta_seconds"].is_null());
  // Everyone said goodbye: the final state keeps each agent's last numbers, marked as gone.
  REQUIRE_FALSE(s["agent_status"].empty());
  for (const Json& a : s["agent_status"]) CHECK(a["role"] == "left");
  CHECK(s["best"]["objective"] == 0.39);

  const RunRecord empty = testing::Fold(testing::RunWithoutEpochs());
  s = Json::parse(monitor::RenderStateJson(empty, monitor::EventLog(), Info()));
  CHECK(s["finish"]["evaluated"] == false);
  CHECK(s["finish"]["objective"].is_null());
  CHECK(s["best"].is_null());
  CHECK(s["summary"] == "finished (interrupted) before any epoch was evaluated: no model");
  CHECK(s["epochs"].empty());
}

TEST_CASE("the event log keeps the last events") {
  monitor::EventLog log;
  RunRecord record;
  for (int i = 0; i < 250; ++i) {
    const Json e = {{"event", "gradient_timeout"}, {"time", i}, {"agent", "a"}, {"epoch", i}};
    REQUIRE(record.ConsumeEvent(e).ok());
    log.Add(e, record);
  }
  REQUIRE(log.entries().size() == monitor::EventLog::kCapacity);
  CHECK(log.entries().front().seq == 51);
  CHECK(log.entries().back().seq == 250);
  CHECK(log.entries().back().text.find("epoch 249 went on without") != std::string::npos);
}

// Samples of a metrics text: "name{labels}" -> value.
std::map<std::string, double> Samples(const std::string& text) {
  std::map<std::string, double> samples;
  for (const std::string& line : testing::Lines(text)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return samples;
}

// The metric families (# TYPE lines) of a metrics text.
std::set<std::string> Families(const std::string& text) {
  std::set<std::string> names;
  for (const std::string& line : testing::Lines(text)) {
    if (line.rfind("# TYPE ", 0) == 0) names.insert(line.substr(7, line.find(' ', 7) - 7));
  }
  return names;
}

TEST_CASE("/metrics: the run's and every agent's numbers, labelled run_id and agent") {
  const testing::Stream events = testing::OperatorsRun();
  RunRecord record;
  monitor::EventLog log;
  FoldInto(events, testing::kOperatorsAgentsBack + 1, &record, &log);
  const std::string text = monitor::RenderMetrics(record, Info());
  std::map<std::string, double> m = Samples(text);
  const std::string run = "run_id=\"00c0ffee00c0ffee\"";
  const std::string hostile = "agent=\"press\x1b[2J<b>&\\\"7\\\\\"";  // quote, backslash escaped
  const std::map<std::string, double> expected = {
      {"edgetrain_monitor_messages_total", 24},
      {"edgetrain_monitor_messages_refused_total", 1},
      {"edgetrain_monitor_silence_seconds", 0.25},
      {"edgetrain_run_state{" + run + ",state=\"waiting\"}", 0},
      {"edgetrain_run_state{" + run + ",state=\"running\"}", 1},
      {"edgetrain_run_state{" + run + ",state=\"stopping\"}", 0},
      {"edgetrain_run_state{" + run + ",state=\"finished\"}", 0},
      {"edgetrain_run_insecure{" + run + "}", 1},
      {"edgetrain_run_epoch{" + run + "}", 4},
      {"edgetrain_run_elapsed_seconds{" + run + "}", 1.7},
      {"edgetrain_run_objective{" + run + "}", 0.5},
      {"edgetrain_run_kkt_violation{" + run + "}", 1e-3},
      {"edgetrain_run_rel_gap{" + run + "}", 0.05},
      {"edgetrain_run_tolerance{" + run + "}", 1e-6},
      {"edgetrain_run_agents{" + run + "}", 2},
      {"edgetrain_run_agents_needed{" + run + "}", 2},
      {"edgetrain_run_updates_per_second{" + run + "}", 9000},
      {"edgetrain_run_eta_seconds{" + run + "}", 2},
      {"edgetrain_run_updates_applied_total{" + run + "}", 2600},
      {"edgetrain_run_updates_refused_total{" + run + "}", 1},
      {"edgetrain_run_refused_total{" + run + ",reason=\"late_update\"}", 3},
      {"edgetrain_run_refused_total{" + run + ",reason=\"too_stale\"}", 2},
      {"edgetrain_agent_info{" + run + "," + hostile +
           ",address=\"10.0.0.8\",software_version=\"0.1.0 x86_64\",arch=\"x86_64\"}",
       1},
      {"edgetrain_agent_info{" + run +
           ",agent=\"line-1\",address=\"10.0.0.8\",software_version=\"0.1.0 x86_64\","
           "arch=\"x86_64\"}",
       1},
      {"edgetrain_agent_rtt_seconds{" + run + ",agent=\"line-1\"}", 0.0042},
      {"edgetrain_agent_rows{" + run + "," + hostile + "}", 800},
      {"edgetrain_agent_updates_applied_total{" + run + "," + hostile + "}", 1700},
      {"edgetrain_agent_updates_applied_total{" + run + ",agent=\"line-1\"}", 100},
      {"edgetrain_agent_updates_refused_total{" + run + "," + hostile + "}", 0},
      {"edgetrain_agent_mean_staleness{" + run + "," + hostile + "}", 0.7},
      {"edgetrain_agent_mean_staleness{" + run + ",agent=\"line-1\"}", 0.2},
      {"edgetrain_agent_silence_seconds{" + run + ",agent=\"line-1\"}", 0.01},
      {"edgetrain_agent_gradient_timeouts_total{" + run + "," + hostile + "}", 1},
      {"edgetrain_agent_messages_total{" + run + ",agent=\"line-1\"}", 103},
  };
  for (const auto& [series, value] : expected) {
    INFO(series);
    REQUIRE(m.count(series) == 1);
    CHECK(m[series] == doctest::Approx(value));
  }
  // Unknown values have no sample: no epoch ETA in a gradient phase.
  CHECK(text.find("edgetrain_run_epoch_eta_seconds") == std::string::npos);
  // Counters end in _total, gauges never do; every family has HELP and TYPE once.
  for (const std::string& line : testing::Lines(text)) {
    if (line.rfind("# TYPE ", 0) != 0) continue;
    const bool counter = line.size() > 8 && line.substr(line.size() - 7) == "counter";
    const std::string name = line.substr(7, line.find(' ', 7) - 7);
    INFO(line);
    CHECK(name.rfind("edgetrain_", 0) == 0);
    CHECK(counter == (name.size() > 6 && name.substr(name.size() - 6) == "_total"));
    CHECK(text.find("# HELP " + name + " ") != std::string::npos);
  }

  // An agent's refusals by reason, where the coordinator sends them (line-1 in epoch 0).
  RunRecord early;
  monitor::EventLog early_log;
  FoldInto(events, 9, &early, &early_log);
  m = Samples(monitor::RenderMetrics(early, Info()));
  CHECK(m["edgetrain_agent_refused_total{" + run + ",agent=\"line-1\",reason=\"too_stale\"}"] == 1);
  const Json agent =
      Json::parse(monitor::RenderStateJson(early, early_log, Info()))["agent_status"][0];
  CHECK(agent["refused_by_reason"] == Json{{"too_stale", 1}});
  CHECK(agent["last_message"] == "Update");
  CHECK(agent["rtt_seconds"] == 0.0042);

  // The end of the run: finished, run_finished's totals, no agents left.
  const RunRecord full = testing::Fold(events);
  m = Samples(monitor::RenderMetrics(full, Info()));
  CHECK(m["edgetrain_run_state{" + run + ",state=\"finished\"}"] == 1);
  CHECK(m["edgetrain_run_state{" + run + ",state=\"running\"}"] == 0);
  CHECK(m["edgetrain_run_updates_applied_total{" + run + "}"] == 2700);
  CHECK(m["edgetrain_run_updates_refused_total{" + run + "}"] == 3);
  CHECK(m["edgetrain_run_refused_total{" + run + ",reason=\"malformed\"}"] == 1);
  CHECK(m["edgetrain_run_eta_seconds{" + run + "}"] == 0);
  CHECK(m["edgetrain_run_rel_gap{" + run + "}"] == 5e-7);

  // Before any event: only the monitor's own.
  monitor::MonitorInfo quiet = Info();
  quiet.messages = 0;
  quiet.seconds_since_message = monitor::kMissing;
  m = Samples(monitor::RenderMetrics(RunRecord(), quiet));
  CHECK(m == std::map<std::string, double>{{"edgetrain_monitor_messages_refused_total", 1},
                                           {"edgetrain_monitor_messages_total", 0},
                                           {"edgetrain_monitor_silence_seconds", 9}});
}

// `promtool check metrics` (Prometheus's linter: format and naming conventions) on `text`.
testing::CommandResult Promtool(const testing::TempDir& dir, const std::string& text) {
  testing::WriteText(dir.File("metrics.txt"), text);
  return testing::Run(
      {"/bin/sh", "-c",
       std::string(EDGETRAIN_PROMTOOL) + " check metrics < " + dir.File("metrics.txt")});
}

TEST_CASE("promtool accepts /metrics at every point of a run") {
  REQUIRE_MESSAGE(std::string(EDGETRAIN_PROMTOOL).size() > 0,
                  "promtool not found (Debian package prometheus; scripts/test installs it)");
  testing::TempDir dir;
  const testing::Stream events = testing::OperatorsRun();
  RunRecord record;
  for (size_t i = 0; i <= events.size(); ++i) {
    if (i > 0) REQUIRE(record.Consume(events[i - 1].second).ok());
    if (i % 4 != 0 && i != events.size() && i != testing::kOperatorsAgentsBack + 1) continue;
    const testing::CommandResult r = Promtool(dir, monitor::RenderMetrics(record, Info()));
    INFO("after event ", i, ": ", r.out, r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.empty());  // no lint warning either
    CHECK(r.err.empty());
  }
  // It is a real check: a gauge named like a counter is reported.
  const testing::CommandResult bad = Promtool(
      dir, "# HELP edgetrain_x_total x\n# TYPE edgetrain_x_total gauge\nedgetrain_x_total 1\n");
  CHECK((bad.exit_code != 0 || !bad.out.empty() || !bad.err.empty()));
}

TEST_CASE("the Grafana dashboard parses and uses only metrics the monitor exports") {
  const Result<Json> parsed = [] {
    try {
      return Result<Json>(
          Json::parse(testing::ReadText(testing::SourcePath("packaging/grafana/edgetrain.json"))));
    } catch (const Json::exception& e) {
      return Result<Json>(Status::InvalidArgument(e.what()));
    }
  }();
  REQUIRE_MESSAGE(parsed.ok(), parsed.status().ToString());
  const Json& dashboard = *parsed;
  CHECK(dashboard["uid"] == "edgetrain-run");
  REQUIRE(dashboard["panels"].is_array());
  CHECK(dashboard["panels"].size() >= 8);
  // Every metric the dashboard queries.
  std::set<std::string> used;
  const std::regex metric("edgetrain_[a-z_]+");
  std::function<void(const Json&)> walk = [&](const Json& j) {
    if (j.is_object()) {
      for (const auto& [key, value] : j.items()) {
        if ((key == "expr" || key == "definition") && value.is_string()) {
          const std::string expr = value.get<std::string>();
          for (auto it = std::sregex_iterator(expr.begin(), expr.end(), metric);
               it != std::sregex_iterator(); ++it)
            used.insert(it->str());
        }
        walk(value);
      }
    } else if (j.is_array()) {
      for (const Json& v : j) walk(v);
    }
  };
  walk(dashboard);
  // Every metric the monitor exports, over the whole known stream.
  std::set<std::string> exported;
  const testing::Stream events = testing::OperatorsRun();
  RunRecord record;
  for (const auto& [topic, body] : events) {
    REQUIRE(record.Consume(body).ok());
    for (const std::string& name : Families(monitor::RenderMetrics(record, Info())))
      exported.insert(name);
  }
  CHECK(exported.size() >= 25);
  CHECK(used.size() >= 15);
  for (const std::string& name : used) {
    INFO(name);
    CHECK(exported.count(name) == 1);
  }
  // The run selector is a label of the metrics.
  CHECK(dashboard["templating"]["list"][1]["definition"] ==
        "label_values(edgetrain_run_state, run_id)");
}

TEST_CASE("the page is one self-contained document whose strings are set as text") {
  const std::string page = monitor::RenderPage("0123abcd");
  CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(page.find("@NONCE@") == std::string::npos);
  CHECK(page.find("<script nonce=\"0123abcd\">") != std::string::npos);
  CHECK(page.find("<style nonce=\"0123abcd\">") != std::string::npos);
  // No other request than state.json: nothing loaded from anywhere (the icon is empty, inline).
  for (const char* outside : {"src=", "href=", "http://", "https://", "@import", "url("}) {
    INFO(outside);
    const size_t at = page.find(outside);
    // the SVG namespace is a name, not a request
    CHECK((at == std::string::npos || page.compare(at, 26, "http://www.w3.org/2000/svg") == 0 ||
           page.compare(at, 13, "href=\"data:,\"") == 0));
    if (at != std::string::npos) CHECK(page.find(outside, at + 1) == std::string::npos);
  }
  // No markup built from strings.
  for (const char* sink :
       {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("})
    CHECK(page.find(sink) == std::string::npos);
  // The routes.
  RunRecord record;
  monitor::EventLog log;
  const auto route = [&](const std::string& path) {
    return monitor::ServeMonitor({"GET", path, ""}, record, log, Info());
  };
  const monitor::HttpResponse index = route("/");
  CHECK(index.content_type == "text/html; charset=utf-8");
  std::string policy;
  for (const auto& [name, value] : index.headers)
    if (name == "Content-Security-Policy") policy = value;
  const size_t nonce_at = index.body.find("<script nonce=\"") + 15;
  const std::string nonce = index.body.substr(nonce_at, index.body.find('"', nonce_at) - nonce_at);
  CHECK(nonce.size() == 32);
  CHECK(policy.find("script-src 'nonce-" + nonce + "'") != std::string::npos);
  CHECK(policy.find("default-src 'none'") != std::string::npos);
  CHECK(route("/").body.find(nonce) == std::string::npos);  // a new nonce every time
  CHECK(route("/state.json").content_type == "application/json");
  CHECK(route("/metrics").content_type == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(route("/healthz").body == "ok\n");
  CHECK(route("/other").status == 404);
}

TEST_CASE("every field of every event may hold any JSON value: the views still render") {
  // The coordinator validates what it publishes, but the monitor trusts no field's type or range:
  // each field of each event of a whole run in turn holds each of these, and the record and every
  // view must take it (no exception, no crash, well-formed output).
  const std::vector<Json> odd = {nullptr,
                                 "text\x1b[2J",
                                 -1,
                                 std::numeric_limits<int64_t>::min(),
                                 std::numeric_limits<uint64_t>::max(),
                                 1e308,
                                 -1e-308,
                                 true,
                                 Json::array({1, "x", nullptr}),
                                 Json{{"a", Json{{"b", 1}}}}};
  const testing::Stream events = testing::OperatorsRun();
  testing::TempDir dir;
  size_t variants = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const Json original = *monitor::ParseEvent(events[i].second);
    for (const auto& [key, unused] : original.items()) {
      if (key == "event") continue;
      for (const Json& value : odd) {
        RunRecord record;
        monitor::EventLog log;
        for (size_t j = 0; j < events.size(); ++j) {
          Json e = *monitor::ParseEvent(events[j].second);
          if (j == i) e[key] = value;
          REQUIRE(record.ConsumeEvent(e).ok());
          log.Add(e, record);
          (void)monitor::DescribeEvent(e, record);
        }
        INFO("event ", i, " field ", key, " = ", value.dump());
        CHECK(Json::accept(monitor::RenderStateJson(record, log, Info())));
        (void)monitor::RenderMetrics(record, Info());
        (void)monitor::RenderLiveView(record, monitor::LiveViewOptions());
        (void)monitor::RenderCsv(record);
        (void)monitor::RenderSvgChart(record);
        ++variants;
      }
    }
  }
  CHECK(variants > 2000);
  // The metrics stay valid for promtool even so (one odd field: a hostile agent id of any type).
  RunRecord record;
  for (const auto& [topic, body] : events) {
    Json e = *monitor::ParseEvent(body);
    if (e.contains("agent_status")) {
      for (Json& a : e["agent_status"]) a["agent"] = "\"}\n# TYPE x counter\nx{a=\"";
    }
    REQUIRE(record.ConsumeEvent(e).ok());
    if (monitor::EventName(e) == "status" && record.status() &&
        !record.status()->agents_health.empty()) {
      const testing::CommandResult r = Promtool(dir, monitor::RenderMetrics(record, Info()));
      INFO(r.out, r.err);
      CHECK(r.exit_code == 0);
      break;
    }
  }
}

// ---- the program -----------------------------------------------------------------------------

TEST_CASE("end to end: a monitor joining a waiting coordinator knows its state at once") {
  testing::TempDir dir;
  std::vector<std::string> coordinator_cmd =
      testing::ProgramCommand("coordinator/edgetrain-coordinator");
  coordinator_cmd.insert(
      coordinator_cmd.end(),
      {"--bind", "tcp://127.0.0.1:0", "--log-bind", "tcp://127.0.0.1:0", "--endpoints-file",
       dir.File("endpoints"), "--min-agents", "2", "--insecure", "--quiet"});
  testing::ChildProcess coordinator(coordinator_cmd, dir.File("coordinator.out"));
  REQUIRE(testing::WaitForFile(dir.File("endpoints"), 20));
  const std::string log = testing::ReadEndpoints(dir.File("endpoints"))["log"];
  std::vector<std::string> monitor_cmd = testing::ProgramCommand("monitor/edgetrain-monitor");
  // --timeout shorter than the wait below: the coordinator's status every second keeps it alive.
  monitor_cmd.insert(monitor_cmd.end(), {"--connect", log, "--http", "127.0.0.1:0", "--timeout",
                                         "2.5", "--csv", dir.File("run.csv")});
  testing::ChildProcess monitor(monitor_cmd, dir.File("monitor.out"), dir.File("monitor.err"));
  REQUIRE_MESSAGE(testing::WaitForText(dir.File("monitor.err"), "serving http://", 20),
                  testing::ReadText(dir.File("monitor.err")));
  const std::string err = testing::ReadText(dir.File("monitor.err"));
  const size_t at = err.find("http://127.0.0.1:") + 17;
  const int port = std::stoi(err.substr(at));
  // The first line: the run's state, from the first status (no run_started needed).
  REQUIRE(
      testing::WaitForText(dir.File("monitor.out"), "waiting for agents (0 of 2 connected)", 20));
  const std::string first = testing::Lines(testing::ReadText(dir.File("monitor.out")))[0];
  CHECK(std::regex_match(
      first, std::regex("run [0-9a-f]{16}: waiting for agents \\(0 of 2 connected\\)")));
  // Statuses keep arriving for longer than --timeout.
  Json state;
  const bool kept = testing::WaitUntil(
      [&] {
        const Response r = ParseResponse(Get(port, "/state.json"));
        if (r.status != 200) return false;
        state = Json::parse(r.body);
        return state["monitor"]["messages"].get<int>() >= 4;
      },
      20);
  REQUIRE_MESSAGE(kept, state.dump());
  CHECK(monitor.Wait(0) == -1);  // still running
  CHECK(state["state"] == "waiting");
  CHECK(state["agents_needed"] == 2);
  CHECK(first.find(state["run_id"].get<std::string>()) != std::string::npos);
  const Response metrics = ParseResponse(Get(port, "/metrics"));
  CHECK(metrics.body.find("state=\"waiting\"} 1") != std::string::npos);
  // The coordinator stopped while waiting: an honest summary; the monitor serves on.
  coordinator.Signal(SIGTERM);
  CHECK(coordinator.Wait(20) != -1);
  REQUIRE(testing::WaitForText(dir.File("monitor.out"), "run finished (interrupted)", 20));
  CHECK(
      testing::ReadText(dir.File("monitor.out")).find("before any epoch was evaluated: no model") !=
      std::string::npos);
  state = Json::parse(ParseResponse(Get(port, "/state.json")).body);
  CHECK(state["state"] == "finished");
  CHECK(state["finish"]["evaluated"] == false);
  CHECK(testing::WaitForFile(dir.File("run.csv"), 10));  // written at run_finished
  CHECK(ParseResponse(Get(port, "/healthz")).status == 200);
  monitor.Signal(SIGTERM);
  CHECK(monitor.Wait(20) == 0);
}

TEST_CASE("the page in a real browser follows a real run to its end") {
  testing::TempDir dir;
  std::vector<std::string> cmd = {EDGETRAIN_PYTHON,
                                  testing::SourcePath("tests/browser/monitor_page.py"),
                                  EDGETRAIN_BINARY_DIR, EDGETRAIN_SOURCE_DIR, dir.path()};
  if (std::string(EDGETRAIN_TEST_EMULATOR).size() > 0) {
    std::istringstream words(EDGETRAIN_TEST_EMULATOR);
    for (std::string w; words >> w;) cmd.push_back(w);
  }
  const auto start = std::chrono::steady_clock::now();
  const testing::CommandResult r = testing::Run(cmd);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO(r.out, r.err);
  CHECK(r.exit_code == 0);
  MESSAGE("browser test: ", r.out, " in ", seconds, " s");
}

}  // namespace
}  // namespace edgetrain
