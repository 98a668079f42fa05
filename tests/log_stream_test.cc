// The coordinator's log stream (coordinator/log_stream.h) on real ZeroMQ sockets: late subscribers
// get the state at once (last-value cache), subscriptions to no topic cannot make it hold memory
// (ignored, then the socket is bound anew and honest subscribers come back by themselves), and a
// subscriber key removed from --log-allow stops receiving once the stream is bound anew.
#include "../coordinator/log_stream.h"

#include <chrono>
#include <string>
#include <thread>
#include <zmq.hpp>

#include "doctest/doctest.h"
#include "edgetrain/transport/curve.h"
#include "test_util.h"

namespace edgetrain {
namespace {

using coordinator::LogStream;
using Clock = std::chrono::steady_clock;

// Services the stream (and a ZAP handler) until `sub` delivers a message whose body contains
// `needle`, writing `line` on `topic` every 20 ms meanwhile (empty topic: write nothing).
bool ReceiveContaining(LogStream* stream, zmq::socket_t* sub, const std::string& needle,
                       double seconds, transport::ZapHandler* zap = nullptr,
                       const std::string& topic = "", const std::string& line = "") {
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  auto next_write = Clock::now();
  while (Clock::now() < deadline) {
    stream->Service();
    if (zap != nullptr) {
      zmq::pollitem_t item{zap->socket().handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, std::chrono::milliseconds(0)) > 0) zap->HandleRequest();
    }
    if (!topic.empty() && Clock::now() >= next_write) {
      stream->Write(topic, line);
      next_write = Clock::now() + std::chrono::milliseconds(20);
    }
    zmq::message_t t, body;
    if (sub->recv(t, zmq::recv_flags::dontwait)) {
      REQUIRE(t.more());
      REQUIRE(sub->recv(body, zmq::recv_flags::none));
      if (body.to_string().find(needle) != std::string::npos) return true;
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

zmq::socket_t Subscriber(zmq::context_t* ctx, const std::string& endpoint,
                         const std::string& topic) {
  zmq::socket_t sub(*ctx, zmq::socket_type::sub);
  sub.set(zmq::sockopt::linger, 0);
  sub.set(zmq::sockopt::reconnect_ivl, 20);
  sub.set(zmq::sockopt::subscribe, topic);
  sub.connect(endpoint);
  return sub;
}

TEST_CASE("log stream: only prefixes of the four topics are subscriptions") {
  for (const char* ok : {"", "r", "run", "e", "epoch", "a", "agent", "s", "status"})
    CHECK(coordinator::IsTopicPrefix(ok));
  for (const char* bad : {"runs", "x", "statusx", "epoch ", "\x01"})
    CHECK_FALSE(coordinator::IsTopicPrefix(bad));
}

TEST_CASE("log stream: a late subscriber gets the run's settings and the current status at once") {
  zmq::context_t ctx;
  LogStream stream(&ctx);
  Result<std::string> endpoint = stream.Bind("tcp://127.0.0.1:*", {});
  REQUIRE(endpoint.ok());
  stream.Write("run", R"({"event":"run_started","run_id":"r1","agents":2})");
  stream.Write("status", R"({"event":"status","run_id":"r1","state":"waiting"})");
  stream.Write("status", R"({"event":"status","run_id":"r1","state":"running","epoch":3})");
  // Nothing is written after it connects: what it sees is the cache.
  zmq::socket_t all = Subscriber(&ctx, *endpoint, "");
  CHECK(ReceiveContaining(&stream, &all, R"({"replay":true,"event":"run_started")", 10));
  zmq::socket_t status = Subscriber(&ctx, *endpoint, "status");
  CHECK(ReceiveContaining(
      &stream, &status, R"({"replay":true,"event":"status","run_id":"r1","state":"running")", 10));
  // A subscriber to "epoch" gets no replay, and then the live lines.
  zmq::socket_t epoch = Subscriber(&ctx, *endpoint, "epoch");
  CHECK(ReceiveContaining(&stream, &epoch, R"("event":"epoch_begin")", 10, nullptr, "epoch",
                          R"({"event":"epoch_begin","epoch":4})"));
  CHECK(stream.ignored_subscriptions() == 0);
  CHECK(stream.rebinds() == 0);
}

TEST_CASE("log stream: subscriptions to no topic are ignored, then the socket is bound anew") {
  zmq::context_t ctx;
  LogStream stream(&ctx);
  Result<std::string> endpoint = stream.Bind("tcp://127.0.0.1:*", {});
  REQUIRE(endpoint.ok());
  zmq::socket_t honest = Subscriber(&ctx, *endpoint, "status");
  REQUIRE(ReceiveContaining(&stream, &honest, "hello", 10, nullptr, "status",
                            R"({"event":"status","n":"hello"})"));
  // The attack of issue 15.7: many distinct subscriptions from one connection.
  zmq::socket_t flood(ctx, zmq::socket_type::sub);
  flood.set(zmq::sockopt::linger, 0);
  flood.set(zmq::sockopt::sndhwm, 0);  // no limit: every subscription is sent
  flood.connect(*endpoint);
  for (int k = 0; k <= LogStream::kMaxIgnored + 10; ++k) {
    flood.set(zmq::sockopt::subscribe, "q" + std::to_string(k));
  }
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (stream.rebinds() == 0 && Clock::now() < deadline) {
    stream.Service();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  CHECK(stream.rebinds() == 1);
  CHECK(stream.ignored_subscriptions() > LogStream::kMaxIgnored);
  // The honest subscriber reconnects by itself, subscribes again and gets the cached state.
  CHECK(ReceiveContaining(&stream, &honest, R"({"replay":true,"event":"status","n":"hello"})", 20));
  CHECK(ReceiveContaining(&stream, &honest, "after", 10, nullptr, "status",
                          R"({"event":"status","n":"after"})"));
}

TEST_CASE("log stream: a subscriber key removed from the list hears nothing once bound anew") {
  testing::TempDir dir;
  Result<transport::CurveKeyPair> server = transport::GenerateKeyFiles(dir.File("coord"), "c");
  Result<transport::CurveKeyPair> kept = transport::GenerateKeyFiles(dir.File("kept"), "kept");
  Result<transport::CurveKeyPair> gone = transport::GenerateKeyFiles(dir.File("gone"), "gone");
  REQUIRE((server.ok() && kept.ok() && gone.ok()));
  testing::WriteText(dir.File("allow"),
                     kept->public_key + " kept\n" + gone->public_key + " gone\n");
  transport::AllowList list;
  REQUIRE(list.Load(dir.File("allow")).ok());
  zmq::context_t ctx;
  transport::ZapHandler zap(&ctx);
  zap.SetAllowList("log", &list);
  LogStream stream(&ctx);
  Result<std::string> endpoint =
      stream.Bind("tcp://127.0.0.1:*", {transport::CurveConfig::Mode::kServer, *server, "", "log"});
  REQUIRE(endpoint.ok());
  auto secured = [&](const transport::CurveKeyPair& keys) {
    zmq::socket_t sub(ctx, zmq::socket_type::sub);
    sub.set(zmq::sockopt::linger, 0);
    sub.set(zmq::sockopt::reconnect_ivl, 20);
    transport::ApplyCurve(sub,
                          {transport::CurveConfig::Mode::kClient, keys, server->public_key, ""});
    sub.set(zmq::sockopt::subscribe, "");
    sub.connect(*endpoint);
    return sub;
  };
  zmq::socket_t a = secured(*kept), b = secured(*gone);
  REQUIRE(ReceiveContaining(&stream, &a, "one", 10, &zap, "run", R"({"event":"note","n":"one"})"));
  REQUIRE(ReceiveContaining(&stream, &b, "one", 10, &zap, "run", R"({"event":"note","n":"one"})"));
  testing::WriteText(dir.File("allow"), kept->public_key + " kept\n");
  transport::AllowList reloaded;
  REQUIRE(reloaded.Load(dir.File("allow")).ok());
  CHECK_FALSE(reloaded.Includes(list));
  CHECK(list.Includes(reloaded));
  list = reloaded;
  REQUIRE(stream.Rebind().ok());
  CHECK(ReceiveContaining(&stream, &a, "two", 10, &zap, "run", R"({"event":"note","n":"two"})"));
  // The removed key is refused at every reconnection: it hears nothing more.
  CHECK_FALSE(
      ReceiveContaining(&stream, &b, "two", 1.5, &zap, "run", R"({"event":"note","n":"two"})"));
}

}  // namespace
}  // namespace edgetrain
