// Errors end to end, as real processes: an agent exits 2 with the reason, and does not retry, on
// errors a restart cannot fix -- an id or a class label the wire cannot carry, a bad --coordinator
// endpoint, the wrong --server-key, a key not on the allow-list, plain text against CURVE, another
// protocol version, a plan from a hostile coordinator it cannot carry out; the coordinator exits 2
// on a bad --bind/--log-bind (1 on an address in use) and answers a Hello of another protocol
// version with a Reject that version reads. Every wait has a deadline and ends on the event, not on
// a sleep.
#include <chrono>
#include <climits>
#include <memory>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "doctest/doctest.h"
#include "edgetrain/transport/curve.h"
#include "edgetrain/wire.h"
#include "test_util.h"

namespace edgetrain {
namespace {

using testing::ChildProcess;

const std::string kHeart = testing::SourcePath("data/heart_scale.svm");  // 270 rows, 13 features

std::vector<std::string> Cmd(const std::string& program, std::vector<std::string> args) {
  std::vector<std::string> cmd = testing::ProgramCommand(program);
  cmd.insert(cmd.end(), args.begin(), args.end());
  return cmd;
}

std::vector<std::string> Agent(std::vector<std::string> args) {
  std::vector<std::string> all = {
      "run", "--data", kHeart, "--agent-id", "press-7", "--hello-retry-max", "1"};
  all.insert(all.end(), args.begin(), args.end());
  return Cmd("edge_agent/edgetrain-agent", all);
}

bool Contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A coordinator process on an ephemeral port; its agent endpoint once it has bound.
struct CoordinatorProcess {
  std::unique_ptr<ChildProcess> process;
  std::string endpoint;

  CoordinatorProcess(const testing::TempDir& dir, std::vector<std::string> security) {
    std::vector<std::string> args = {"--bind",           "tcp://127.0.0.1:0",
                                     "--log-bind",       "",
                                     "--endpoints-file", dir.File("endpoints"),
                                     "--min-agents",     "5"};  // stays waiting: nobody joins
    args.insert(args.end(), security.begin(), security.end());
    process = std::make_unique<ChildProcess>(Cmd("coordinator/edgetrain-coordinator", args),
                                             dir.File("coordinator.out"));
    REQUIRE(testing::WaitForFile(dir.File("endpoints"), 10));
    endpoint = testing::ReadEndpoints(dir.File("endpoints"))["agents"];
  }
};

TEST_CASE("bad endpoints are one line and exit 2, an address in use exits 1") {
  for (const char* endpoint : {"foo://bar", "tcp://nohost:x"}) {
    INFO(endpoint);
    const testing::CommandResult r = testing::Run(Agent({"--insecure", "--coordinator", endpoint}));
    CHECK(r.exit_code == 2);
    CHECK(Count(r.err, "\n") == 1);
    CHECK(Contains(r.err, std::string("--coordinator: cannot connect to '") + endpoint + "'"));
  }
  for (const char* option : {"--bind", "--log-bind"}) {
    for (const char* endpoint : {"foo://bar", "tcp://256.1.1.1:1"}) {
      INFO(option << " " << endpoint);
      const testing::CommandResult r =
          testing::Run(Cmd("coordinator/edgetrain-coordinator", {"--insecure", option, endpoint}));
      CHECK(r.exit_code == 2);
      CHECK(Count(r.err, "\n") == 1);
      CHECK(Contains(r.err, std::string(option) + ": cannot bind '" + endpoint + "'"));
    }
  }
  zmq::context_t context;
  zmq::socket_t holder(context, zmq::socket_type::router);  // holds the port while we try it
  holder.set(zmq::sockopt::linger, 0);
  holder.bind("tcp://127.0.0.1:0");
  const std::string taken = holder.get(zmq::sockopt::last_endpoint);
  const testing::CommandResult busy = testing::Run(
      Cmd("coordinator/edgetrain-coordinator", {"--insecure", "--bind", taken, "--log-bind", ""}));
  CHECK(busy.exit_code == 1);
  CHECK(Contains(busy.err, "--bind: cannot bind '" + taken + "': Address already in use"));
}

TEST_CASE("an agent id or a class label the wire cannot carry: exit 2 before connecting") {
  testing::TempDir dir;
  testing::WriteText(dir.File("latin1.svm"),
                     "d\xe9"
                     "faut 1:1\nbon 2:1\n");  // ISO-8859-1 label
  auto agent = [&](const std::string& data, const std::string& id) {
    return testing::Run(
        Cmd("edge_agent/edgetrain-agent", {"run", "--insecure", "--coordinator",
                                           "tcp://127.0.0.1:1", "--data", data, "--agent-id", id}));
  };
  const testing::CommandResult label = agent(dir.File("latin1.svm"), "press-7");
  CHECK(label.exit_code == 2);
  CHECK(Contains(label.err, "the class label 'd\\xe9faut' is not up to 256 bytes of UTF-8"));
  for (const std::string& id : {std::string("press-\xe9"), std::string(129, 'p')}) {
    const testing::CommandResult r = agent(kHeart, id);
    CHECK(r.exit_code == 2);
    CHECK(Contains(r.err, "--agent-id '"));
  }
}

TEST_CASE(
    "against a CURVE coordinator, keys no retry can fix make the agent exit 2 with the reason") {
  testing::TempDir dir;
  for (const char* name : {"coordinator", "good", "other", "stranger"}) {
    REQUIRE(transport::GenerateKeyFiles(dir.File(name), name).ok());
  }
  testing::WriteText(dir.File("allowed"), testing::ReadText(dir.File("good.pub")) +
                                              testing::ReadText(dir.File("other.pub")));
  CoordinatorProcess coordinator(
      dir, {"--key", dir.File("coordinator.key"), "--allow", dir.File("allowed")});
  struct Case {
    std::string name;
    std::vector<std::string> security;
    std::string reason;
  };
  const std::vector<Case> cases = {
      // The server cannot open the client's HELLO and hangs up, every time (libzmq 4.3.4):
      {"wrong-server-key",
       {"--key", dir.File("good.key"), "--server-key", dir.File("other.pub")},
       "--server-key is not the coordinator's public key"},
      {"not-allowed",
       {"--key", dir.File("stranger.key"), "--server-key", dir.File("coordinator.pub")},
       "not on the coordinator's allow-list"},
      {"plain-text", {"--insecure"}, "one side uses CURVE keys and the other does not"},
  };
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<ChildProcess>> agents;
  for (const Case& c : cases) {
    std::vector<std::string> args = {"--coordinator", coordinator.endpoint};
    args.insert(args.end(), c.security.begin(), c.security.end());
    agents.push_back(std::make_unique<ChildProcess>(Agent(args), dir.File(c.name + ".out")));
  }
  for (size_t k = 0; k < cases.size(); ++k) {
    INFO(cases[k].name);
    const int code = agents[k]->Wait(20);
    const std::string out = testing::ReadText(agents[k]->output_path());
    INFO(out);
    CHECK(code == 2);
    CHECK(Contains(out, "edgetrain-agent run: error: "));
    CHECK(Contains(out, cases[k].reason));
    // Repeated handshake failures print one line (then a count a minute), not one each.
    CHECK(Count(out, "closed the connection during the handshake (") <= 1);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(seconds < 15);  // the ambiguous case (the wrong server key) gives up after about 2 s
  CHECK(coordinator.process->Wait(0) == -1);  // and the coordinator is still waiting for agents
}

TEST_CASE("another protocol version: the coordinator's Reject reaches it, the agent exits 2") {
  testing::TempDir dir;
  CoordinatorProcess coordinator(dir, {"--insecure"});
  // A client of protocol version 1: its Hello is answered in its own version with a Reject
  // (the envelope and the Reject are laid out alike in every version: schemas/wire.fbs).
  {
    zmq::context_t context;
    zmq::socket_t client(context, zmq::socket_type::dealer);
    client.set(zmq::sockopt::linger, 0);
    client.connect(coordinator.endpoint);
    wire::Encoder encoder;
    wire::HelloMsg hello;
    hello.rows = 10;
    hello.dimension = 13;
    const std::string_view bytes = encoder.Encode({"old-press", 0, 1, 1}, hello);
    client.send(zmq::buffer(bytes.data(), bytes.size()), zmq::send_flags::none);
    zmq::pollitem_t item{client.handle(), 0, ZMQ_POLLIN, 0};
    REQUIRE(zmq::poll(&item, 1, std::chrono::milliseconds(10000)) == 1);
    zmq::message_t answer;
    REQUIRE(client.recv(answer, zmq::recv_flags::dontwait));
    wire::Decoder decoder;
    Result<wire::Message> m = decoder.Decode(answer.data(), answer.size());
    REQUIRE_MESSAGE(m.ok(), m.status().ToString());
    CHECK(m->header.protocol == 1);
    CHECK(m->header.agent_id == "old-press");
    REQUIRE(std::holds_alternative<wire::RejectMsg>(m->body));
    const wire::RejectMsg& reject = std::get<wire::RejectMsg>(m->body);
    CHECK(reject.reason == wire::RejectReason::kProtocolMismatch);
    CHECK(Contains(std::string(reject.text), "protocol version 2"));
    CHECK(Contains(std::string(reject.text), "protocol version 1"));
  }
  // The agent program playing version 1.
  ChildProcess agent(
      Agent({"--insecure", "--coordinator", coordinator.endpoint, "--protocol-version", "1"}),
      dir.File("agent.out"));
  CHECK(agent.Wait(20) == 2);
  const std::string out = testing::ReadText(dir.File("agent.out"));
  INFO(out);
  CHECK(Contains(out, "another protocol version than this agent (protocol version 1"));
  CHECK(Contains(out, "this coordinator speaks protocol version 2"));
}

// Plays the coordinator on a ROUTER socket: the agent's messages decoded, ours encoded.
struct FakeCoordinator {
  zmq::context_t context;
  zmq::socket_t router{context, zmq::socket_type::router};
  wire::Encoder encoder;
  wire::Decoder decoder;
  std::string identity;
  std::chrono::steady_clock::time_point deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(20);

  FakeCoordinator() {
    router.set(zmq::sockopt::linger, 0);
    router.bind("tcp://127.0.0.1:0");
  }
  std::string endpoint() { return router.get(zmq::sockopt::last_endpoint); }
  // The agent's next message (fails the test after the deadline).
  wire::Message Receive() {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    zmq::pollitem_t item{router.handle(), 0, ZMQ_POLLIN, 0};
    REQUIRE(zmq::poll(&item, 1, std::chrono::milliseconds(10000)) == 1);
    zmq::message_t frame;
    REQUIRE(router.recv(frame, zmq::recv_flags::dontwait));
    identity = frame.to_string();
    REQUIRE(router.recv(payload, zmq::recv_flags::dontwait));
    Result<wire::Message> m = decoder.Decode(payload.data(), payload.size());
    REQUIRE_MESSAGE(m.ok(), m.status().ToString());
    return *m;
  }
  void Send(std::string_view bytes) {
    router.send(zmq::buffer(identity), zmq::send_flags::sndmore);
    router.send(zmq::buffer(bytes.data(), bytes.size()), zmq::send_flags::none);
  }
  // Waits for the Hello and welcomes the agent to a model of `dimension` features (0: the
  // shard's) at zero; returns the dimension.
  int32_t Welcome(int32_t dimension = 0) {
    wire::Message hello = Receive();
    REQUIRE(std::holds_alternative<wire::HelloMsg>(hello.body));
    const wire::HelloMsg& h = std::get<wire::HelloMsg>(hello.body);
    REQUIRE(h.labels.size() == 2);
    labels = {std::string(h.labels[0]), std::string(h.labels[1])};
    if (dimension == 0) dimension = h.dimension;
    zeros.assign(static_cast<size_t>(dimension), 0.0);
    wire::WelcomeMsg welcome;
    welcome.problem.reg.l1 = 1e-3;
    welcome.dimension = dimension;
    welcome.label_negative = labels[0];
    welcome.label_positive = labels[1];
    welcome.heartbeat_ms = 1000;
    welcome.model = x();
    decoder.set_model_size(dimension);
    Send(encoder.Encode({"press-7", 1, 1}, welcome));
    return dimension;
  }
  VectorView x() const {
    return VectorView::Dense(zeros.data(), static_cast<int32_t>(zeros.size()));
  }
  // Reads until the agent's Bye; returns its text.
  std::string ByeText() {
    for (;;) {
      const wire::Message m = Receive();
      if (const auto* bye = std::get_if<wire::ByeMsg>(&m.body)) return std::string(bye->text);
    }
  }

  zmq::message_t payload;
  std::vector<std::string> labels;
  std::vector<double> zeros;
};

TEST_CASE("a hostile coordinator's mini-batch of 2^31-1 rows: the agent refuses it and exits 2") {
  testing::TempDir dir;
  FakeCoordinator coordinator;
  ChildProcess agent(Agent({"--insecure", "--coordinator", coordinator.endpoint()}),
                     dir.File("agent.out"));
  coordinator.Welcome();
  coordinator.Send(
      coordinator.encoder.Encode({"press-7", 1, 2}, wire::EpochBeginMsg{1, 0, coordinator.x()}));
  for (;;) {  // its gradient sum (heartbeats may come first)
    const wire::Message m = coordinator.Receive();
    if (std::holds_alternative<wire::GradSumMsg>(m.body)) break;
  }
  coordinator.Send(coordinator.encoder.Encode(
      {"press-7", 1, 3}, wire::InnerLoopMsg{1, 0, coordinator.x(), 0.1, 100, INT_MAX}));
  CHECK(agent.Wait(10) == 2);
  const std::string out = testing::ReadText(dir.File("agent.out"));
  INFO(out);
  CHECK(Contains(out,
                 "the coordinator's mini-batch of 2147483647 rows is larger than this "
                 "shard's 270 rows"));
  CHECK(Contains(coordinator.ByeText(), "leaving: the coordinator's mini-batch"));
}

TEST_CASE("a Welcome wider than the agent's --max-dim: the agent refuses it and exits 2") {
  // Issue 15 case 6: one rogue Hello at the wire's cap became the run's dimension, and every
  // agent welcomed with it allocated gigabytes. The agent's own bound stops that.
  testing::TempDir dir;
  FakeCoordinator coordinator;
  ChildProcess agent(
      Agent({"--insecure", "--coordinator", coordinator.endpoint(), "--max-dim", "100"}),
      dir.File("agent.out"));
  coordinator.Welcome(101);
  CHECK(agent.Wait(10) == 2);
  const std::string out = testing::ReadText(dir.File("agent.out"));
  INFO(out);
  CHECK(Contains(out,
                 "the coordinator's model has 101 features, more than this agent's "
                 "--max-dim 100"));
  CHECK(Contains(coordinator.ByeText(), "leaving: the coordinator's model has 101 features"));
}

}  // namespace
}  // namespace edgetrain
