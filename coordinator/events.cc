#include "events.h"

namespace edgetrain::coordinator {
namespace {

struct Naming {
  const char* name;
  const char* topic;
};

Naming Name(const RunInsecure&) { return {"insecure", "run"}; }
Naming Name(const RunStarted&) { return {"run_started", "run"}; }
Naming Name(const RunResumed&) { return {"run_resumed", "run"}; }
Naming Name(const WaitingForAgents&) { return {"waiting_for_agents", "run"}; }
Naming Name(const CheckpointError&) { return {"checkpoint_error", "run"}; }
Naming Name(const RunFinished&) { return {"run_finished", "run"}; }
Naming Name(const RoundBegan&) { return {"round_started", "run"}; }
Naming Name(const RoundEnded&) { return {"round_finished", "run"}; }
Naming Name(const ModelDelivered&) { return {"model_delivered", "agent"}; }
Naming Name(const AgentJoined&) { return {"agent_joined", "agent"}; }
Naming Name(const AgentLeft&) { return {"agent_left", "agent"}; }
Naming Name(const AgentRefused&) { return {"agent_refused", "agent"}; }
Naming Name(const MessageRefused&) { return {"message_refused", "agent"}; }
Naming Name(const KeyRefused&) { return {"key_refused", "agent"}; }
Naming Name(const HandshakeFailed&) { return {"handshake_failed", "agent"}; }
Naming Name(const AllowListReloaded&) { return {"allow_list_reloaded", "agent"}; }
Naming Name(const AllowListError&) { return {"allow_list_error", "agent"}; }
Naming Name(const GradientTimeout&) { return {"gradient_timeout", "agent"}; }
Naming Name(const EpochBegan&) { return {"epoch_begin", "epoch"}; }
Naming Name(const NewtonTrial& e) {
  return {e.rejected ? "newton_rejected" : "newton_backtrack", "epoch"};
}
Naming Name(const NewtonSolved&) { return {"newton", "epoch"}; }
Naming Name(const Progress&) { return {"progress", "epoch"}; }
Naming Name(const EpochEnded&) { return {"epoch_end", "epoch"}; }
Naming Name(const RunStatus&) { return {"status", "status"}; }
Naming Name(const LogStreamRebound&) { return {"log_stream_rebound", "run"}; }
Naming Name(const Note&) { return {"note", "run"}; }

Naming NamingOf(const Event& e) {
  return std::visit([](const auto& v) { return Name(v); }, e);
}

}  // namespace

const char* EventName(const Event& e) { return NamingOf(e).name; }
const char* EventTopic(const Event& e) { return NamingOf(e).topic; }

}  // namespace edgetrain::coordinator
