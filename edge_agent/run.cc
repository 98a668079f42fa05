// edgetrain-agent run: join a coordinator and train on this device's data (DAP-SVRG).
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <optional>

#include "agent.h"
#include "commands.h"
#include "edgetrain/cli/flags.h"
#include "edgetrain/cli/keygen.h"
#include "edgetrain/readers.h"
#include "edgetrain/scaler.h"
#include "edgetrain/text.h"
#include "edgetrain/transport/curve.h"

namespace edgetrain::agent {
namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

std::string HostName() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "agent";
  return buf;
}

class RunCommand : public Command {
 public:
  explicit RunCommand(CLI::App* app) {
    sub_ = app->add_subcommand("run", "Join a coordinator and train on this device's data");
    sub_->add_option("--coordinator", options_.coordinator, "The coordinator's agent endpoint")
        ->capture_default_str();
    sub_->add_option("--data", data_path_,
                     "This device's data: libsvm/svmlight, or CSV with a header (.csv); a file "
                     "that grows by appends or a directory of rotated files, re-read at every "
                     "training round ('-': stdin, read once)")
        ->required()
        ->check(CLI::Validator(
            [](std::string& path) -> std::string {
              struct stat st;
              return path == "-" || ::stat(path.c_str(), &st) == 0
                         ? ""
                         : "File or directory does not exist: " + path;
            },
            "FILE|DIR|-"));
    sub_->add_option("--model-dir", options_.model_dir,
                     "Save every model the coordinator publishes here (model-NNNNNN.etm and a "
                     "'latest' link that 'score --model DIR' follows)")
        ->type_name("DIR");
    sub_->add_option("--keep-models", options_.keep_models,
                     "Model files kept in --model-dir (0: all)")
        ->check(cli::kNonNegative)
        ->capture_default_str();
    sub_->add_option("--agent-id", options_.agent_id,
                     "This device's name, unique among the agents (default: the host name, plus "
                     "'-KofN' with --shard)");
    sub_->add_option("--shard", shard_,
                     "Use only shard K of N of the file, as K/N (1-based; for demos and tests)");
    sub_->add_option("--sampling", sampling_, "Mini-batch sampling: auto, uniform or importance")
        ->check(CLI::IsMember({"auto", "uniform", "importance"}))
        ->capture_default_str();
    sub_->add_option("--hello-retry-max", options_.hello_retry_max,
                     "Longest pause between connection attempts, seconds")
        ->check(cli::InRange(0.01, 3600, "seconds"))
        ->capture_default_str();
    sub_->add_option("--heartbeat-patience", options_.heartbeat_patience,
                     "Coordinator heartbeats missed before the agent reconnects")
        ->check(cli::InRange(2, 10000))
        ->capture_default_str();
    sub_->add_option("--throttle", options_.throttle,
                     "Run this many times slower than the CPU allows (pausing after each step), to "
                     "leave CPU to "
                     "the device's other work")
        ->check(cli::InRange(1, 1000))
        ->capture_default_str();
    sub_->add_flag("--quiet", quiet_, "Print only errors and the final line");
    const std::string sec = "Security";
    sub_->add_option("--key", key_path_,
                     "This agent's secret key file (from 'edgetrain-agent keygen')")
        ->type_name("FILE")
        ->group(sec);
    sub_->add_option("--server-key", server_key_path_, "The coordinator's public key file (pinned)")
        ->type_name("FILE")
        ->group(sec);
    sub_->add_flag("--insecure", insecure_,
                   "Plain text: no authentication, no encryption (trusted networks only)")
        ->group(sec);
    // Tests only (hidden, not in config files): the protocol version written in Hello, to play an
    // agent of another version against a real coordinator.
    sub_->add_option("--protocol-version", options_.protocol_version)
        ->group("")
        ->configurable(false);
    cli::AddDataFlags(sub_, &data_);
    cli::AddScaleFlag(sub_, &scale_,
                      "Feature scaling, fitted by the coordinator on all agents' column statistics "
                      "(the same for every agent): none, standard, minmax, maxabs, or auto (no "
                      "request: the run's). The run's scaler is the coordinator's --scale, or "
                      "else what the agents ask; an agent that asks another is refused",
                      /*with_auto=*/true)
        ->capture_default_str();
    cli::AddFaultFlags(sub_, &options_.channel.faults, /*latency=*/true);
    cli::AddConfigFlags(sub_);
  }

  bool Selected() const override { return sub_->parsed(); }

  int Run(const cli::Console& console) override {
    const char* prog = "edgetrain-agent run";
    int k = 1, n = 1;
    if (!shard_.empty()) {
      char rest = 0;
      if (std::sscanf(shard_.c_str(), "%d/%d%c", &k, &n, &rest) != 2 || n < 1 || k < 1 || k > n)
        return console.UsageError(prog, "--shard wants K/N with 1 <= K <= N, got '" + shard_ + "'");
    }
    if (options_.agent_id.empty()) {
      options_.agent_id = HostName();
      if (!shard_.empty()) options_.agent_id += "-" + std::to_string(k) + "of" + std::to_string(n);
    }
    if (insecure_ == !key_path_.empty() || key_path_.empty() != server_key_path_.empty()) {
      return console.UsageError(prog,
                                "give --key and --server-key (see 'edgetrain-agent keygen'), or "
                                "--insecure on a network you trust");
    }
    if (!insecure_) {
      Result<transport::CurveKeyPair> keys = transport::ReadSecretKeyFile(key_path_);
      if (!keys.ok()) return console.Fail(prog, keys.status());
      Result<std::string> server = transport::ReadPublicKeyFile(server_key_path_);
      if (!server.ok()) return console.Fail(prog, server.status());
      options_.channel.curve = {transport::CurveConfig::Mode::kClient, *keys, *server, ""};
    }
    if (Status st = cli::CheckCreatableDirectory("--model-dir", options_.model_dir); !st.ok())
      return console.UsageError(prog, st.message());
    ReadOptions read = data_.ToReadOptions();
    read.defer_label_map = read.task == Task::kClassification;
    read.positive_label.reset();  // the coordinator decides the mapping
    // stdin and pipes are read once; so are rows whose missing cells take their column's mean (the
    // mean of a growing source would change the rows already read). Everything else grows between
    // rounds.
    std::optional<AgentData> data;
    struct stat st;
    const bool regrowable = data_path_ != "-" && ::stat(data_path_.c_str(), &st) == 0 &&
                            (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode));
    if (!regrowable || read.missing == MissingPolicy::kMean) {
      Result<Dataset> once = ReadDataFile(data_path_, read);
      if (!once.ok()) return console.Fail(prog, once.status());
      data.emplace(shard_.empty() ? std::move(once).value() : once->Shard(k - 1, n));
    } else {
      data.emplace(data_path_, read, k - 1, n);
    }
    if (Result<RefreshReport> first = data->Refresh(); !first.ok())
      return console.Fail(prog, first.status());
    if (data->data()->rows() == 0) {
      return console.Fail(
          prog, Status::InvalidArgument(shard_.empty() ? data_path_ + ": found no rows"
                                                       : "shard " + shard_ + " has no rows"));
    }
    options_.sampling = sampling_ == "uniform"      ? SvrgWorker::Sampling::kUniform
                        : sampling_ == "importance" ? SvrgWorker::Sampling::kImportance
                                                    : SvrgWorker::Sampling::kAuto;
    options_.verbose = !quiet_;
    options_.journal = console.out().journal();
    options_.max_dimension = data_.max_dim;
    if (scale_ != "auto") options_.scale_request = static_cast<int8_t>(*ParseScalerName(scale_));
    std::signal(SIGINT, OnSignal);
    std::signal(SIGTERM, OnSignal);
    zmq::context_t context(1);
    SteadyClock clock;
    EdgeAgent agent(options_, std::move(*data), &context, &clock);
    Result<AgentSummary> r = agent.Run(&g_stop);
    if (!r.ok()) {
      // InvalidArgument: the options or the run's setup are wrong (a bad endpoint, keys the
      // coordinator refuses, another protocol version, a task/labels/dimension conflict); a
      // restart cannot help, so exit 2 (a service manager should not retry).
      console.Fail(prog, r.status());
      return r.status().code() == StatusCode::kInvalidArgument ? cli::kExitUsage
                                                               : cli::kExitFailure;
    }
    console.Write(cli::Priority::kNotice,
                  StringPrintf("agent %s: %s; %" PRId64 " epochs, %" PRId64
                               " updates sent, %" PRId64 " applied",
                               options_.agent_id.c_str(), r->stop_reason.c_str(), r->epochs,
                               r->updates_sent, r->updates_applied));
    return cli::kExitOk;
  }

 private:
  CLI::App* sub_;
  AgentOptions options_;
  std::string data_path_, shard_, sampling_ = "auto";
  std::string scale_ = "auto";  // no request (the coordinator's --scale, or none)
  std::string key_path_, server_key_path_;
  bool insecure_ = false;
  bool quiet_ = false;
  cli::DataFlags data_;
};

}  // namespace

std::unique_ptr<Command> RegisterRun(CLI::App* app) { return std::make_unique<RunCommand>(app); }

namespace {

class KeygenCommand : public Command {
 public:
  explicit KeygenCommand(CLI::App* app)
      : keygen_(app, "edgetrain agent", "/etc/edgetrain/keys/agent",
                "add it to the coordinator's --allow file") {}
  bool Selected() const override { return keygen_.Selected(); }
  int Run(const cli::Console& console) override { return keygen_.Run(console); }

 private:
  cli::KeygenCommand keygen_;
};

}  // namespace

std::unique_ptr<Command> RegisterKeygen(CLI::App* app) {
  return std::make_unique<KeygenCommand>(app);
}

}  // namespace edgetrain::agent
