// The channels' fault injection on real loopback sockets: --fault-latency holds every message an
// agent sends and receives, so a round trip grows by twice the latency, in order, none lost.
#include <chrono>
#include <string>
#include <zmq.hpp>

#include "doctest/doctest.h"
#include "edgetrain/transport/channel.h"

namespace edgetrain {
namespace {

using Clock = std::chrono::steady_clock;

TEST_CASE("transport: a constant latency holds every message both ways, in order") {
  zmq::context_t ctx;
  transport::ChannelOptions server_options;
  transport::RouterChannel router(&ctx, server_options);
  Result<std::string> endpoint = router.Bind("tcp://127.0.0.1:*");
  REQUIRE(endpoint.ok());
  transport::ChannelOptions agent_options;
  agent_options.faults.latency = 0.02;  // 20 ms one way
  transport::DealerChannel dealer(&ctx, agent_options);
  REQUIRE(dealer.Connect(*endpoint).ok());
  // Echo three messages; each comes back no sooner than two latencies after it was sent.
  for (int round = 0; round < 2; ++round) {  // the first round also waits for the connection
    const auto sent = Clock::now();
    for (int k = 0; k < 3; ++k) REQUIRE(dealer.Send("m" + std::to_string(k)));
    transport::Inbound in;
    int echoed = 0;
    zmq::message_t back;
    std::string order;
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (order.size() < 6 && Clock::now() < deadline) {
      if (router.Receive(1, &in)) {
        router.Send(in.identity, std::string_view(static_cast<const char*>(in.payload.data()),
                                                  in.payload.size()));
        ++echoed;
      }
      if (dealer.Receive(1, &back)) order += back.to_string();
    }
    CHECK(echoed == 3);
    CHECK(order == "m0m1m2");
    const double seconds = std::chrono::duration<double>(Clock::now() - sent).count();
    CHECK(seconds >= 0.04);
    if (round == 1) CHECK(seconds < 0.5);
  }
}

}  // namespace
}  // namespace edgetrain
