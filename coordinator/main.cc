// edgetrain-coordinator: the on-prem process that sums the agents' updates into the model and
// broadcasts snapshots; operators watch its log stream with edgetrain-monitor.
#include <CLI/CLI.hpp>
#include <atomic>
#include <cinttypes>
#include <csignal>
#include <cstdio>

#include "coordinator.h"
#include "edgetrain/cli/flags.h"
#include "edgetrain/model.h"
#include "edgetrain/transport/curve.h"

namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};
void OnSignal(int) { g_stop.store(true); }
void OnHangup(int) { g_reload.store(true); }

}  // namespace

int main(int argc, char** argv) {
  using edgetrain::coordinator::CoordinatorOptions;
  CLI::App app{"edgetrain-coordinator: sums the edge agents' updates into one model (DAP-SVRG)",
               "edgetrain-coordinator"};
  app.set_version_flag("--version", edgetrain::cli::SoftwareVersion());
  CoordinatorOptions o;
  std::string keygen_prefix;
  CLI::App* keygen = app.add_subcommand(
      "keygen", "Write a CURVE key pair: PREFIX.key (secret, mode 0600) and PREFIX.pub");
  keygen
      ->add_option("--out", keygen_prefix,
                   "Path prefix of the key files, e.g. /etc/edgetrain/coordinator")
      ->required();
  app.require_subcommand(0, 1);
  const std::string sec = "Security";
  app.add_option("--key", o.key_path,
                 "This coordinator's secret key file (from 'keygen'); agents pin its .pub")
      ->group(sec);
  app.add_option("--allow", o.allow_path,
                 "Allow-list: the agents' public keys, one per line (re-read on SIGHUP)")
      ->group(sec);
  app.add_flag("--insecure", o.insecure,
               "Plain text: no authentication, no encryption (trusted networks only)")
      ->group(sec);
  app.add_flag("--log-secure", o.secure_log,
               "The log stream requires CURVE too (subscribers' keys: --log-allow)")
      ->group(sec);
  app.add_option("--log-allow", o.log_allow_path,
                 "Allow-list of the log subscribers' public keys (required with --log-secure)")
      ->group(sec);
  edgetrain::cli::ProblemFlags problem;
  std::string task = "classification", labels, positive_label;
  double max_message_mb = static_cast<double>(o.channel.max_message_bytes) / (1 << 20);
  const std::string net = "Network", run = "Run", stop = "Stopping";
  app.add_option("--bind", o.bind, "ROUTER endpoint the agents connect to")
      ->capture_default_str()
      ->group(net);
  app.add_option("--log-bind", o.log_bind,
                 "PUB endpoint of the log stream (empty: none; loopback unless you name an "
                 "address, e.g. tcp://*:5556)")
      ->capture_default_str()
      ->group(net);
  app.add_option("--endpoints-file", o.endpoints_file,
                 "Write the bound endpoints (with the ports chosen for :0) to this file")
      ->group(net);
  app.add_option("--max-message-mb", max_message_mb,
                 "Largest message accepted, MB (ZMQ_MAXMSGSIZE)")
      ->check(edgetrain::cli::kPositive)
      ->capture_default_str()
      ->group(net);
  app.add_option("--heartbeat", o.heartbeat_interval, "Heartbeat interval, seconds")
      ->check(edgetrain::cli::kPositive)
      ->capture_default_str()
      ->group(net);
  app.add_option("--heartbeat-patience", o.heartbeat_patience,
                 "Intervals of silence before an agent is declared gone")
      ->check(edgetrain::cli::kPositive)
      ->capture_default_str()
      ->group(net);
  app.add_option("--model", o.model_path,
                 "Model file written when training stops (same format as train-local)")
      ->capture_default_str()
      ->group(run);
  app.add_option(
         "--log-json", o.log_json,
         "Also write the log stream as JSON lines to this file ('-': stdout instead of the table)")
      ->group(run);
  app.add_flag("--quiet", o.quiet, "No progress table on stdout")->group(run);
  edgetrain::cli::AddProblemFlags(&app, &problem);
  app.add_option("--task", task, "classification or regression (must match the agents)")
      ->check(CLI::IsMember({"classification", "regression"}))
      ->capture_default_str()
      ->group("Problem");
  app.add_option(
         "--labels", labels,
         "Fixed label mapping NEGATIVE,POSITIVE (default: the two labels the agents report)")
      ->group("Problem");
  app.add_option("--positive-label", positive_label,
                 "Which of the agents' two labels becomes +1 (default: the larger)")
      ->group("Problem");
  app.add_option("--dim", o.dimension,
                 "Model dimension (default: the largest among the agents present at start)")
      ->check(CLI::Range(0, static_cast<int>(edgetrain::kMaxModelDimension)))
      ->capture_default_str()
      ->group("Problem");
  app.add_option("--max-dim", o.max_dimension,
                 "Refuse agents whose data has more features than this (the model is held dense)")
      ->check(CLI::Range(1, static_cast<int>(edgetrain::kMaxModelDimension)))
      ->capture_default_str()
      ->group("Problem");
  app.add_option("--min-agents", o.min_agents, "Start training when this many agents have joined")
      ->check(edgetrain::cli::kPositive)
      ->capture_default_str()
      ->group(run);
  app.add_option("--max-agents", o.max_agents,
                 "Agents admitted at once; further Hellos are told to try again later")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str()
      ->group(run);
  edgetrain::cli::AddPolicyFlags(&app, &o.policy);
  app.add_option("--max-staleness", o.max_staleness,
                 "Refuse updates computed more than this many versions ago")
      ->check(edgetrain::cli::kNonNegative)
      ->capture_default_str()
      ->group(run);
  app.add_option("--gradient-timeout", o.gradient_timeout,
                 "Seconds a gradient phase waits for a silent agent")
      ->check(edgetrain::cli::kPositive)
      ->capture_default_str()
      ->group(run);
  app.add_option("--gradient-timeouts-to-drop", o.gradient_timeouts_to_drop,
                 "Drop an agent that sends no gradient sum in this many epochs in a row")
      ->check(edgetrain::cli::kPositive)
      ->capture_default_str()
      ->group(run);
  app.add_option("--stall-timeout", o.stall_timeout,
                 "Seconds without an applied update before an epoch ends early")
      ->check(edgetrain::cli::kPositive)
      ->capture_default_str()
      ->group(run);
  app.add_option("--checkpoint-dir", o.checkpoint_dir,
                 "Write checkpoints here (every epoch and every --checkpoint-interval s)")
      ->group(run);
  app.add_option("--checkpoint-interval", o.checkpoint_interval,
                 "Seconds between checkpoints within an epoch")
      ->check(edgetrain::cli::kPositive)
      ->capture_default_str()
      ->group(run);
  app.add_flag("--resume", o.resume,
               "Continue from the newest loadable checkpoint in --checkpoint-dir (if any)")
      ->group(run);
  app.add_option("--seed", o.seed, "Seed from which every agent's sampler seed is derived")
      ->capture_default_str()
      ->group(run);
  app.add_option("--reference-objective", o.reference_objective,
                 "Known optimum P*: the log stream reports (P-P*)/|P*|")
      ->group(run);
  edgetrain::cli::AddFaultFlags(&app, &o.channel.faults);
  edgetrain::cli::AddConfigFlags(&app);
  if (int rc = edgetrain::cli::Parse(app, argc, argv); rc >= 0) return rc;
  if (keygen->parsed()) {
    edgetrain::Result<edgetrain::transport::CurveKeyPair> keys =
        edgetrain::transport::GenerateKeyFiles(keygen_prefix, "edgetrain coordinator");
    if (!keys.ok()) return edgetrain::cli::Fail("edgetrain-coordinator keygen", keys.status());
    std::printf("wrote %s.key (secret, mode 0600) and %s.pub\npublic key %s\n",
                keygen_prefix.c_str(), keygen_prefix.c_str(), keys->public_key.c_str());
    return edgetrain::cli::kExitOk;
  }

  if (o.insecure == !o.key_path.empty() || (!o.key_path.empty() && o.allow_path.empty())) {
    std::fprintf(stderr,
                 "edgetrain-coordinator: error: give --key and --allow (see 'edgetrain-coordinator "
                 "keygen'), or "
                 "--insecure on a network you trust; run 'edgetrain-coordinator --help'\n");
    return edgetrain::cli::kExitUsage;
  }
  edgetrain::Result<edgetrain::ProblemSpec> spec = problem.ToSpec();
  if (!spec.ok()) return edgetrain::cli::Fail("edgetrain-coordinator", spec.status());
  o.problem = *spec;
  o.task = task == "regression" ? edgetrain::Task::kRegression : edgetrain::Task::kClassification;
  if (edgetrain::Status st = o.problem.Validate(o.task); !st.ok())
    return edgetrain::cli::Fail("edgetrain-coordinator", st);
  if (!labels.empty()) {
    const size_t comma = labels.find(',');
    if (comma == std::string::npos || comma == 0 || comma + 1 == labels.size()) {
      std::fprintf(stderr,
                   "edgetrain-coordinator: error: --labels wants NEGATIVE,POSITIVE, got '%s'; run "
                   "'edgetrain-coordinator --help'\n",
                   labels.c_str());
      return edgetrain::cli::kExitUsage;
    }
    o.labels = edgetrain::LabelMap{labels.substr(0, comma), labels.substr(comma + 1)};
  }
  if (!positive_label.empty()) o.positive_label = positive_label;
  o.channel.max_message_bytes = static_cast<int64_t>(max_message_mb * (1 << 20));

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGHUP, OnHangup);
  zmq::context_t context(1);
  edgetrain::SteadyClock clock;
  edgetrain::coordinator::Coordinator coordinator(o, &context, &clock);
  if (edgetrain::Status st = coordinator.Bind(); !st.ok()) {
    edgetrain::cli::Fail("edgetrain-coordinator", st);
    // InvalidArgument: the options are wrong (an endpoint ZeroMQ cannot use, settings that do not
    // go together, a key or allow-list file that is not one): exit 2 like any bad option.
    return st.code() == edgetrain::StatusCode::kInvalidArgument ? edgetrain::cli::kExitUsage
                                                                : edgetrain::cli::kExitFailure;
  }
  if (!o.quiet && o.log_json != "-") {
    std::printf("coordinator: agents connect to %s, log stream on %s; waiting for %d agent(s)\n",
                coordinator.agent_endpoint().c_str(),
                coordinator.log_endpoint().empty() ? "(none)" : coordinator.log_endpoint().c_str(),
                o.min_agents);
    std::fflush(stdout);
  }
  edgetrain::Result<edgetrain::coordinator::RunSummary> r = coordinator.Run(&g_stop, &g_reload);
  if (!r.ok()) return edgetrain::cli::Fail("edgetrain-coordinator", r.status());
  if (!o.quiet && o.log_json != "-") {
    if (!r->evaluated) {
      // Stopped before any epoch ran: there is no model and nothing converged.
      std::printf("stopped: %s before training started (%d agents joined); no model written\n",
                  r->stop_reason.c_str(), r->agents_joined);
    } else {
      std::printf("stopped: %s; best snapshot: epoch %" PRId64
                  ", objective %.15g, KKT violation %.3e, relative duality gap %.3e, %" PRId64
                  " non-zeros; %" PRId64 " updates applied, %" PRId64 " refused, %" PRId64
                  " malformed/unexpected messages; %" PRId64
                  " Newton steps; %d agents joined; %.2f s\n",
                  r->stop_reason.c_str(), r->epochs, r->objective, r->kkt, r->relative_gap, r->nnz,
                  r->updates_applied, r->updates_refused, r->messages_refused, r->newton_steps,
                  r->agents_joined, r->seconds);
      if (!o.model_path.empty()) std::printf("model written to %s\n", o.model_path.c_str());
    }
  }
  return r->evaluated ? edgetrain::cli::kExitOk : edgetrain::cli::kExitFailure;
}
