// edgetrain-coordinator: the on-prem process that sums the agents' updates into the model and
// broadcasts snapshots; operators watch its log stream with edgetrain-monitor.
#include <CLI/CLI.hpp>
#include <atomic>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "coordinator.h"
#include "edgetrain/cli/flags.h"
#include "edgetrain/cli/keygen.h"
#include "edgetrain/model.h"
#include "edgetrain/model_dir.h"
#include "edgetrain/text.h"
#include "edgetrain/wire.h"

namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};
std::atomic<bool> g_trigger{false};
void OnSignal(int) { g_stop.store(true); }
void OnHangup(int) { g_reload.store(true); }
void OnTrigger(int) { g_trigger.store(true); }

namespace cli = edgetrain::cli;
constexpr const char* kProgram = "edgetrain-coordinator";

// --max-message-mb: at least room for a Snapshot of a model with 130 000 dense coordinates, at
// most 2 GiB (what ZMQ_MAXMSGSIZE, a size_t on a 32-bit board and the decoder can all take).
constexpr double kMinMessageMb = 1;
constexpr double kMaxMessageMb = 2048;

// "90", "90s", "15m", "6h", "1d": seconds, or an error.
std::string ParseDuration(const std::string& text, double* seconds) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  const std::string unit = end == nullptr ? "" : std::string(end);
  const double scale = unit.empty() || unit == "s" ? 1
                       : unit == "m"               ? 60
                       : unit == "h"               ? 3600
                       : unit == "d"               ? 86400
                                                   : 0;
  if (end == text.c_str() || scale == 0 || !(v > 0) || v * scale > 365.0 * 86400) {
    return "--round-every wants a duration such as 90s, 15m, 6h or 1d (up to a year), got '" +
           text + "'";
  }
  *seconds = v * scale;
  return "";
}

int Main(int argc, char** argv, const cli::Console& console) {
  using edgetrain::coordinator::CoordinatorOptions;
  // Installed first: a trigger that comes early must not end the process (SIGUSR1's default).
  std::signal(SIGUSR1, OnTrigger);
  CLI::App app{"edgetrain-coordinator: sums the edge agents' updates into one model (DAP-SVRG)",
               kProgram};
  app.set_version_flag("--version", cli::VersionLine(kProgram));
  CoordinatorOptions o;
  const cli::KeygenCommand keygen(&app, "edgetrain coordinator", "/etc/edgetrain/keys/coordinator",
                                  "agents pin it with --server-key; log subscribers too");
  std::string control_dir;
  int64_t rollback_round = 0;
  CLI::App* trigger = app.add_subcommand(
      "trigger", "Start the next training round now (signals the coordinator of --model-dir)");
  trigger->add_option("--model-dir", control_dir, "The running coordinator's --model-dir")
      ->required()
      ->type_name("DIR");
  CLI::App* rollback = app.add_subcommand(
      "rollback",
      "Put the model of an earlier round back in service: re-point MODEL_DIR/latest (restart the "
      "coordinator to send it to the agents)");
  rollback->add_option("--model-dir", control_dir, "The coordinator's --model-dir")
      ->required()
      ->type_name("DIR");
  rollback->add_option("--round", rollback_round, "The round whose model goes back in service")
      ->required()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 50));
  app.require_subcommand(0, 1);
  const std::string sec = "Security";
  app.add_option("--key", o.key_path,
                 "This coordinator's secret key file (from 'keygen'); agents pin its .pub")
      ->type_name("FILE")
      ->group(sec);
  app.add_option("--allow", o.allow_path,
                 "Allow-list: the agents' public keys, one per line (re-read on SIGHUP)")
      ->type_name("FILE")
      ->group(sec);
  app.add_flag("--insecure", o.insecure,
               "Plain text: no authentication, no encryption (trusted networks only)")
      ->group(sec);
  app.add_flag("--log-secure", o.secure_log,
               "The log stream requires CURVE too: subscribers need a key on --log-allow")
      ->group(sec);
  app.add_option("--log-allow", o.log_allow_path,
                 "With --log-secure (and required by it): the log subscribers' public keys, one "
                 "per line (re-read on SIGHUP; 'edgetrain-monitor keygen' makes them)")
      ->type_name("FILE")
      ->group(sec);
  cli::ProblemFlags problem;
  std::string task = "classification", labels, positive_label, scale = "auto";
  bool no_precondition = false;
  double max_message_mb = static_cast<double>(o.channel.max_message_bytes) / (1 << 20);
  const std::string net = "Network", run = "Run";
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
      ->type_name("FILE")
      ->group(net);
  app.add_option("--max-message-mb", max_message_mb,
                 "Largest message accepted, MB (ZMQ_MAXMSGSIZE)")
      ->check(cli::InRange(kMinMessageMb, kMaxMessageMb, "MB"))
      ->capture_default_str()
      ->group(net);
  app.add_option("--heartbeat", o.heartbeat_interval, "Heartbeat interval, seconds")
      ->check(cli::InRange(0.01, 3600, "seconds"))
      ->capture_default_str()
      ->group(net);
  app.add_option("--heartbeat-patience", o.heartbeat_patience,
                 "Intervals of silence before an agent is declared gone")
      ->check(cli::InRange(2, 10000))
      ->capture_default_str()
      ->group(net);
  app.add_option("--model", o.model_path,
                 "Model file written when training stops (same format as train-local); its "
                 "directory is checked at start")
      ->type_name("FILE")
      ->capture_default_str()
      ->group(run);
  std::string round_every;
  app.add_option("--rounds", o.rounds.rounds,
                 "Training rounds to run: 1 is one run (then the agents are stopped); 0 runs "
                 "rounds for ever, the agents staying connected between them")
      ->check(cli::kNonNegative)
      ->capture_default_str()
      ->group(run);
  app.add_option("--round-every", round_every,
                 "Start a round this long after the last one ended (90s, 15m, 6h, 1d)")
      ->type_name("DURATION")
      ->group(run);
  app.add_option("--round-new-rows", o.rounds.new_rows,
                 "Start a round when the agents hold this many rows more than in the last one "
                 "(0: not on new rows)")
      ->check(cli::kNonNegative)
      ->capture_default_str()
      ->group(run);
  app.add_option("--model-dir", o.rounds.model_dir,
                 "Publish each round's model here (model-NNNNNN.etm and a 'latest' link) when it "
                 "passed the stop rule; rounds continue from its latest model")
      ->type_name("DIR")
      ->group(run);
  app.add_option("--keep-models", o.rounds.keep_models, "Model files kept in --model-dir (0: all)")
      ->check(cli::kNonNegative)
      ->capture_default_str()
      ->group(run);
  app.add_option("--log-json", o.log_json,
                 "Also write the log stream as JSON lines to this file ('-': stdout instead of the "
                 "table); emptied at start (one file, one run)")
      ->type_name("FILE")
      ->group(run);
  app.add_flag("--quiet", o.quiet, "No progress table on stdout")->group(run);
  cli::AddProblemFlags(&app, &problem);
  app.add_option("--task", task, "classification or regression (must match the agents)")
      ->check(CLI::IsMember({"classification", "regression"}))
      ->capture_default_str()
      ->group("Problem");
  app.add_option(
         "--labels", labels,
         "Fixed label mapping NEGATIVE,POSITIVE (default: the two labels the agents report)")
      ->group("Problem");
  cli::AddScaleFlag(&app, &scale,
                    "Feature scaling fitted on all agents' column statistics, the same for every "
                    "agent, stored in the model: none, standard, minmax, maxabs, or auto (what "
                    "the agents ask with run --scale, else none)",
                    /*with_auto=*/true)
      ->capture_default_str();
  app.add_flag("--no-precondition", no_precondition,
               "Train on the columns as they are, without the solver's per-column scaling "
               "(docs/algorithm.md, the preconditioner; for comparisons)")
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
      ->check(cli::InRange(1, 100000))
      ->capture_default_str()
      ->group(run);
  app.add_option("--max-agents", o.max_agents,
                 "Agents admitted at once; further Hellos are told to try again later")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str()
      ->group(run);
  cli::AddPolicyFlags(&app, &o.policy, edgetrain::wire::kMaxNewtonSupport);
  app.add_option("--max-staleness", o.max_staleness,
                 "Refuse updates computed more than this many versions ago")
      ->check(cli::kNonNegative)
      ->capture_default_str()
      ->group(run);
  app.add_option("--gradient-timeout", o.gradient_timeout,
                 "Seconds a gradient phase waits for a silent agent")
      ->check(cli::InRange(0.1, 86400, "seconds"))
      ->capture_default_str()
      ->group(run);
  app.add_option("--gradient-timeouts-to-drop", o.gradient_timeouts_to_drop,
                 "Drop an agent that sends no gradient sum in this many epochs in a row")
      ->check(cli::InRange(1, 1000000))
      ->capture_default_str()
      ->group(run);
  app.add_option("--stall-timeout", o.stall_timeout,
                 "Seconds without an applied update before an epoch ends early")
      ->check(cli::InRange(0.1, 86400, "seconds"))
      ->capture_default_str()
      ->group(run);
  app.add_option("--checkpoint-dir", o.checkpoint_dir,
                 "Write checkpoints here (every epoch and every --checkpoint-interval s); created "
                 "if missing, checked at start")
      ->type_name("DIR")
      ->group(run);
  app.add_option("--checkpoint-interval", o.checkpoint_interval,
                 "Seconds between checkpoints within an epoch")
      ->check(cli::InRange(0.01, 86400, "seconds"))
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
      ->check(cli::kFinite)
      ->group(run);
  cli::AddFaultFlags(&app, &o.channel.faults);
  cli::AddConfigFlags(&app);
  if (int rc = cli::Parse(app, argc, argv, console); rc >= 0) return rc;
  if (keygen.Selected()) return keygen.Run(console);
  if (trigger->parsed() || rollback->parsed()) {
    if (rollback->parsed()) {
      if (edgetrain::Status st = edgetrain::PointLatest(control_dir, rollback_round); !st.ok())
        return console.Fail(kProgram, st);
      console.Write(cli::Priority::kNotice,
                    "the model of round " + std::to_string(rollback_round) + " is in service in " +
                        control_dir + "; restart the coordinator to send it to the agents");
      return cli::kExitOk;
    }
    if (edgetrain::Status st = edgetrain::coordinator::SignalCoordinator(control_dir, SIGUSR1);
        !st.ok()) {
      return console.Fail(kProgram, st);
    }
    console.Write(cli::Priority::kNotice, "asked the coordinator of " + control_dir +
                                              " for a round (it starts now when idle)");
    return cli::kExitOk;
  }
  if (!round_every.empty()) {
    if (std::string why = ParseDuration(round_every, &o.rounds.every); !why.empty())
      return console.UsageError(kProgram, why);
  }
  if (o.rounds.rounds != 1 && o.rounds.model_dir.empty()) {
    return console.UsageError(kProgram,
                              "--rounds other than 1 needs --model-dir (where rounds publish)");
  }
  if (o.rounds.rounds == 1 && (o.rounds.every > 0 || o.rounds.new_rows > 0)) {
    return console.UsageError(kProgram,
                              "--round-every and --round-new-rows need --rounds 0 or more than 1");
  }

  if (o.insecure == !o.key_path.empty() || (!o.key_path.empty() && o.allow_path.empty())) {
    return console.UsageError(kProgram,
                              "give --key and --allow (see 'edgetrain-coordinator keygen'), or "
                              "--insecure on a network you trust");
  }
  // Log subscribers are not agents: their keys have a list of their own, never the agents'.
  if (o.secure_log && (o.key_path.empty() || o.log_allow_path.empty())) {
    return console.UsageError(kProgram,
                              "--log-secure needs --key and --log-allow FILE, the log subscribers' "
                              "public keys (make them with 'edgetrain-monitor keygen')");
  }
  if (!o.secure_log && !o.log_allow_path.empty()) {
    return console.UsageError(kProgram, "--log-allow is used only with --log-secure");
  }
  edgetrain::Result<edgetrain::ProblemSpec> spec = problem.ToSpec();
  if (!spec.ok()) return console.UsageError(kProgram, spec.status().message());
  o.problem = *spec;
  o.task = task == "regression" ? edgetrain::Task::kRegression : edgetrain::Task::kClassification;
  if (edgetrain::Status st = o.problem.Validate(o.task); !st.ok())
    return console.UsageError(kProgram, st.message());
  if (!labels.empty()) {
    const size_t comma = labels.find(',');
    if (comma == std::string::npos || comma == 0 || comma + 1 == labels.size())
      return console.UsageError(kProgram, "--labels wants NEGATIVE,POSITIVE, got '" + labels + "'");
    o.labels = edgetrain::LabelMap{labels.substr(0, comma), labels.substr(comma + 1)};
  }
  if (!positive_label.empty()) o.positive_label = positive_label;
  if (scale != "auto") o.scale = edgetrain::ParseScalerName(scale);
  o.precondition = !no_precondition;
  o.channel.max_message_bytes = static_cast<int64_t>(max_message_mb * (1 << 20));
  // What the run will write must be writable now, not when it ends.
  for (const edgetrain::Status& st :
       {cli::CheckWritableFile("--model", o.model_path),
        cli::CheckWritableFile("--endpoints-file", o.endpoints_file),
        cli::CheckWritableFile("--log-json", o.log_json, /*dash_is_stdout=*/true),
        cli::CheckCreatableDirectory("--checkpoint-dir", o.checkpoint_dir),
        cli::CheckCreatableDirectory("--model-dir", o.rounds.model_dir)}) {
    if (!st.ok()) return console.UsageError(kProgram, st.message());
  }

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGHUP, OnHangup);
  zmq::context_t context(1);
  edgetrain::SteadyClock clock;
  o.console_journal = console.out().journal();
  edgetrain::coordinator::Coordinator coordinator(o, &context, &clock);
  if (edgetrain::Status st = coordinator.Bind(); !st.ok()) {
    console.Fail(kProgram, st);
    // InvalidArgument: the options are wrong (an endpoint ZeroMQ cannot use, settings that do not
    // go together, a key or allow-list file that is not one): exit 2 like any bad option.
    return st.code() == edgetrain::StatusCode::kInvalidArgument ? cli::kExitUsage
                                                                : cli::kExitFailure;
  }
  if (!o.quiet && o.log_json != "-") {
    console.Write(
        cli::Priority::kNotice,
        edgetrain::StringPrintf(
            "coordinator: agents connect to %s, log stream on %s; waiting for %d agent(s)",
            coordinator.agent_endpoint().c_str(),
            coordinator.log_endpoint().empty() ? "(none)" : coordinator.log_endpoint().c_str(),
            o.min_agents));
  }
  edgetrain::Result<edgetrain::coordinator::RunSummary> r =
      coordinator.Run(&g_stop, &g_reload, &g_trigger);
  if (!r.ok()) return console.Fail(kProgram, r.status());
  if (!o.quiet && o.log_json != "-") {
    if (!r->evaluated) {
      // Stopped before any epoch ran: there is no model and nothing converged.
      console.Write(cli::Priority::kNotice,
                    edgetrain::StringPrintf(
                        "stopped: %s before training started (%d agents joined); no model written",
                        r->stop_reason.c_str(), r->agents_joined));
    } else {
      console.Write(
          cli::Priority::kNotice,
          edgetrain::StringPrintf(
              "stopped: %s; best snapshot: epoch %" PRId64
              ", objective %.15g, KKT violation %.3e, relative duality gap %.3e, %" PRId64
              " non-zeros; %" PRId64 " updates applied, %" PRId64 " refused, %" PRId64
              " malformed/unexpected messages; %" PRId64 " Newton steps; %d agents joined; %.2f s",
              r->stop_reason.c_str(), r->epochs, r->objective, r->kkt, r->relative_gap, r->nnz,
              r->updates_applied, r->updates_refused, r->messages_refused, r->newton_steps,
              r->agents_joined, r->seconds));
      if (!o.model_path.empty())
        console.Write(cli::Priority::kNotice, "model written to " + o.model_path);
    }
  }
  // A service running rounds that was stopped between them (or interrupted) ends well.
  return r->evaluated || o.rounds.rounds != 1 ? cli::kExitOk : cli::kExitFailure;
}

}  // namespace

int main(int argc, char** argv) {
  // The only place that reads the environment: is stdout or stderr the journal (cli/log.h)?
  return cli::RunMain(kProgram, std::getenv("JOURNAL_STREAM"),
                      [&](const cli::Console& console) { return Main(argc, argv, console); });
}
