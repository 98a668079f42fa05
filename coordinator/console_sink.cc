#include "console_sink.h"

#include <cinttypes>
#include <cmath>
#include <type_traits>

#include "edgetrain/text.h"

namespace edgetrain::coordinator {
namespace {

constexpr size_t kMaxShown = 200;  // bytes of an outside string shown on one line

std::string Safe(const std::string& s) { return Printable(s, kMaxShown); }

std::string Fixed(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string Text(const RunInsecure&) {
  return "WARNING: --insecure: agents are not authenticated and traffic is not encrypted";
}
std::string Text(const RunStarted& e) {
  return "training starts: " + std::to_string(e.agents) + " agents, " +
         std::to_string(e.dimension) + " features, loss " + LossName(e.problem.loss);
}
std::string Text(const RunResumed& e) {
  return "resuming from a checkpoint: epoch " + std::to_string(e.epoch - 1) + ", model version " +
         std::to_string(e.version);
}
std::string Text(const WaitingForAgents& e) {
  return "waiting for agents: " + std::to_string(e.agents) + " of " + std::to_string(e.needed) +
         (e.why.empty() ? "" : " (" + e.why + ")");
}
std::string Text(const CheckpointError& e) { return "checkpoint not written: " + Safe(e.detail); }
std::string Text(const RunFinished&) { return ""; }  // main prints the summary
std::string Text(const RoundBegan& e) {
  return "round " + std::to_string(e.round) + " starts (" + e.trigger +
         "): " + std::to_string(e.agents) + " agents, " + std::to_string(e.new_rows) +
         " new rows, " +
         (e.warm_start_round > 0 ? "from the model of round " + std::to_string(e.warm_start_round)
                                 : std::string("from zero"));
}
std::string Text(const RoundEnded& e) {
  std::string text = "round " + std::to_string(e.round) + " ended (" + e.reason + ", " +
                     Fixed("%.2f s", e.seconds) + "): ";
  text += e.published
              ? "model published to " + Safe(e.model_path)
              : "not published: " + Safe(e.detail) +
                    (e.model_round > 0 ? "; the model of round " + std::to_string(e.model_round) +
                                             " stays in service"
                                       : std::string("; no model in service yet"));
  return text + (e.next.empty() ? "" : "; " + e.next);
}
std::string Text(const ModelDelivered&) { return ""; }  // the stream's
std::string Text(const AgentJoined& e) {
  return "agent " + Safe(e.agent) + " joined from " + (e.peer.empty() ? "?" : Safe(e.peer)) + ": " +
         std::to_string(e.rows) + " rows, " + std::to_string(e.dimension) + " features (" +
         std::to_string(e.agents) + " agents)";
}
std::string Text(const AgentLeft& e) {
  return "agent " + Safe(e.agent) + " left: " + Safe(e.reason) + " (" + std::to_string(e.agents) +
         " agents)";
}
std::string Text(const AgentRefused& e) {
  return "refused agent " + Safe(e.agent) + (e.peer.empty() ? "" : " (" + Safe(e.peer) + ")") +
         ": " + Safe(e.detail);
}
std::string Text(const MessageRefused& e) {
  return "refused a message from " + Safe(e.agent) +
         (e.peer.empty() ? "" : " (" + Safe(e.peer) + ")") + ": " + e.reason + ": " +
         Safe(e.detail);
}
std::string Text(const KeyRefused& e) {
  if (e.count > 1) {
    return "refused " + std::to_string(e.count) + " more connections (" + e.domain +
           ") whose key is not on the allow-list (not shown: rate limit)";
  }
  return "refused a connection from " + Safe(e.peer) + " (" + e.domain + "): key " +
         (e.key.empty() ? "(none)" : Safe(e.key)) + " is not on the allow-list";
}
std::string Text(const HandshakeFailed& e) {
  return e.count == 1 ? "a connection failed its handshake: " + Safe(e.detail)
                      : std::to_string(e.count) +
                            " connections failed their handshake (last: " + Safe(e.detail) + ")";
}
std::string Text(const AllowListReloaded& e) {
  return "allow-list reloaded: " + std::to_string(e.keys) + " agent keys" +
         (e.subscriber_keys > 0 ? ", " + std::to_string(e.subscriber_keys) + " subscriber keys"
                                : "");
}
std::string Text(const AllowListError& e) { return "allow-list not reloaded: " + Safe(e.detail); }
std::string Text(const GradientTimeout& e) {
  return "agent " + Safe(e.agent) +
         " sent no gradient sum in time: the epoch proceeds without its " + std::to_string(e.rows) +
         " rows" + (e.in_a_row > 1 ? " (" + std::to_string(e.in_a_row) + " epochs in a row)" : "");
}
std::string Text(const EpochBegan&) { return ""; }  // a table row
std::string Text(const NewtonTrial& e) {
  return e.rejected ? "the Newton step did not lower P (" + Fixed("%.16g", e.objective) +
                          "): back to the best snapshot"
                    : "";
}
std::string Text(const NewtonSolved&) { return ""; }
std::string Text(const Progress&) { return ""; }
std::string Text(const EpochEnded& e) {
  return e.stalled ? "no update applied for a while (--stall-timeout): the epoch ended early" : "";
}
std::string Text(const RunStatus&) { return ""; }  // the stream's; the table says enough
std::string Text(const LogStreamRebound& e) {
  if (e.reason == "failed") return "the log stream is closed: " + Safe(e.detail);
  if (e.reason == "subscriber_key_removed") {
    return "a subscriber key was removed: the log stream was bound anew (subscribers authenticate "
           "again)";
  }
  return "the log stream was bound anew: " + std::to_string(e.ignored_subscriptions) +
         " subscriptions to no topic (a subscriber floods it; see docs/security.md)";
}
std::string Text(const Note& e) { return Printable(e.text, 4 * kMaxShown); }

}  // namespace

using cli::Priority;

Priority PriorityOf(const Event& e) {
  // A round that keeps the previous model in service is worth a look.
  if (const auto* r = std::get_if<RoundEnded>(&e)) {
    return r->published ? Priority::kNotice : Priority::kWarning;
  }
  return std::visit(
      [](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, CheckpointError> || std::is_same_v<T, AllowListError>) {
          return Priority::kError;
        } else if constexpr (std::is_same_v<T, RunInsecure> || std::is_same_v<T, AgentRefused> ||
                             std::is_same_v<T, MessageRefused> || std::is_same_v<T, KeyRefused> ||
                             std::is_same_v<T, HandshakeFailed> ||
                             std::is_same_v<T, GradientTimeout> || std::is_same_v<T, AgentLeft> ||
                             std::is_same_v<T, LogStreamRebound>) {
          return Priority::kWarning;
        } else if constexpr (std::is_same_v<T, RunStarted> || std::is_same_v<T, RunResumed> ||
                             std::is_same_v<T, RunFinished> || std::is_same_v<T, AgentJoined> ||
                             std::is_same_v<T, AllowListReloaded> ||
                             std::is_same_v<T, RoundBegan>) {
          return Priority::kNotice;
        } else {
          return Priority::kInfo;
        }
      },
      e);
}

void ConsoleSink::Row(const EpochBegan& e) {
  const SnapshotReport& r = e.report;
  using Verdict = EpochDecision::Verdict;
  std::string notes;
  switch (e.decision.verdict) {
    case Verdict::kProbation:
      notes = "worse than the best (probation)";
      break;
    case Verdict::kRolledBack:
      notes = "worse again: rolled back, step halved";
      break;
    case Verdict::kBaseline:
      if (r.epoch > 1) notes = "other rows than before: a new baseline";
      break;
    default:
      break;
  }
  if (e.decision.newton_alpha > 0)
    notes += "Newton step, alpha " + Fixed("%g", e.decision.newton_alpha);
  char row[512];
  std::snprintf(
      row, sizeof row,
      "%6" PRId64 "  %-22.16g  %-10.3e  %-10.3e  %8" PRId64 "  %9.3f  %6" PRId64 "  %9s  %s",
      r.epoch - 1, r.objective, r.kkt, r.relative_gap, r.nnz, e.seconds, e.agents,
      e.updates_per_second > 0 ? Fixed("%.0f", e.updates_per_second).c_str() : "-", notes.c_str());
  out_->Write(e.decision.verdict == Verdict::kRolledBack ? Priority::kWarning : Priority::kInfo,
              row);
}

void ConsoleSink::Emit(const Event& e) {
  if (const auto* began = std::get_if<EpochBegan>(&e)) {
    Row(*began);
    return;
  }
  const std::string text = std::visit([](const auto& v) { return Text(v); }, e);
  if (!text.empty()) out_->Write(PriorityOf(e), text);
  if (std::holds_alternative<RunStarted>(e)) {
    char header[256];
    std::snprintf(header, sizeof header, "%6s  %-22s  %-10s  %-10s  %8s  %9s  %6s  %9s  %s",
                  "epoch", "objective", "kkt", "rel_gap", "nnz", "seconds", "agents", "updates/s",
                  "notes");
    out_->Write(Priority::kInfo, header);
  }
}

}  // namespace edgetrain::coordinator
